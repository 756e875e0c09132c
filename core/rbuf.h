#ifndef WSG_CORE_RBUF_H
#define WSG_CORE_RBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Per-conn byte ring buffers. An empty rbuf owns no storage (a zeroed struct is a valid,
 * unallocated rbuf); storage comes from the worker's rbuf_pool on first need and goes back
 * when drained, so an idle conn costs only its struct. Capacity is a power of two; head and
 * tail run free as uint32_t and are masked on access. A full buffer can grow (by moving into
 * a block twice the size) up to the pool's max block: that happens only under backpressure,
 * never per message. Single-threaded: the owning worker only. */

struct rbuf_pool;

struct rbuf {
	uint8_t *_data; /* NULL when empty and unallocated */
	uint32_t _cap;  /* power of two, 0 when unallocated */
	uint32_t _head; /* read position, free running */
	uint32_t _tail; /* write position, free running */
};

/* A per-worker pool of storage blocks from min_block to max_block bytes (powers of two,
 * min_block >= 16), with a free list per size so steady state does no malloc. limit_bytes caps
 * what the pool may hold in total (blocks in use plus cached); at the limit, cached blocks of
 * other sizes are freed to make room, and past it allocations fail (load, not a bug).
 * NULL on bad arguments or no memory. */
struct rbuf_pool *rbuf_pool_new(uint32_t min_block, uint32_t max_block, uint64_t limit_bytes);
void rbuf_pool_free(struct rbuf_pool *pool); /* every rbuf must have been released */
uint64_t rbuf_pool_bytes_in_use(const struct rbuf_pool *pool);
uint64_t rbuf_pool_blocks_in_use(const struct rbuf_pool *pool);

static inline uint32_t rbuf_len(const struct rbuf *rb)
{
	return rb->_tail - rb->_head;
}

static inline bool rbuf_is_empty(const struct rbuf *rb)
{
	return rb->_tail == rb->_head;
}

/* Appends n bytes, taking or growing storage as needed. Returns 0, or -1 when the pool cannot
 * supply a block large enough (nothing is appended then). */
int rbuf_append(struct rbuf *rb, struct rbuf_pool *pool, const void *src, size_t n);

/* Makes room for at least n more bytes without writing them (storage as for rbuf_append).
 * 0 or -1. Storage taken for an empty buffer stays until data is committed and consumed, or
 * rbuf_consume(rb, pool, 0) / rbuf_release gives it back (e.g. after a receive of 0 bytes). */
int rbuf_reserve(struct rbuf *rb, struct rbuf_pool *pool, size_t n);

/* The longest contiguous run of data at the head (for a send) or of free space at the tail
 * (for a receive into it); *n is 0 when there is none. */
uint8_t *rbuf_contig_data(const struct rbuf *rb, size_t *n);
uint8_t *rbuf_contig_space(const struct rbuf *rb, size_t *n);
/* Up to two iovecs covering all data (for writev/sendmsg when it wraps); returns the count. */
int rbuf_data_iov(const struct rbuf *rb, struct iovec iov[2]);

/* Marks n bytes written at the tail (after rbuf_contig_space) or consumed at the head. When
 * consuming empties the buffer its storage goes back to the pool. */
void rbuf_commit(struct rbuf *rb, size_t n);
void rbuf_consume(struct rbuf *rb, struct rbuf_pool *pool, size_t n);

/* Copies up to n bytes from the head without consuming them; returns the count copied. */
size_t rbuf_peek(const struct rbuf *rb, void *dst, size_t n);

/* Gives the storage back whatever it holds (conn teardown). */
void rbuf_release(struct rbuf *rb, struct rbuf_pool *pool);

#endif
