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
	uint8_t *_data;    /* NULL when empty and unallocated */
	uint32_t _cap;     /* power of two, 0 when unallocated */
	uint32_t _head;    /* read position, free running */
	uint32_t _tail;    /* write position, free running */
	uint32_t _pin_cap; /* capacity of _pin */
	uint8_t *_pin;     /* block an I/O in flight reads from (rbuf_pin), or NULL */
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
/* Bytes of free blocks the pool keeps for reuse (at most the cache ceiling). */
uint64_t rbuf_pool_bytes_cached(const struct rbuf_pool *pool);
/* Caps the bytes of free blocks kept for reuse: a block given back while the cache holds
 * that much is returned to the system instead (default: limit_bytes, i.e. keep all). */
void rbuf_pool_set_cache_max(struct rbuf_pool *pool, uint64_t bytes);
/* Frees every cached block now (an idle worker gives its reserve back to the system). */
void rbuf_pool_trim(struct rbuf_pool *pool);

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

/* The write position (free running): a mark for rbuf_truncate. */
static inline uint32_t rbuf_tail_pos(const struct rbuf *rb)
{
	return rb->_tail;
}

/* The read position (free running), in the same space as rbuf_tail_pos. */
static inline uint32_t rbuf_head_pos(const struct rbuf *rb)
{
	return rb->_head;
}

/* Drops the bytes appended since the write position was `mark` (rbuf_tail_pos); mark must lie
 * between the read and the write position. Storage is kept (the next append reuses it). */
void rbuf_truncate(struct rbuf *rb, uint32_t mark);

/* Copies up to n bytes from the head without consuming them; returns the count copied. */
size_t rbuf_peek(const struct rbuf *rb, void *dst, size_t n);

/* Gives the storage back whatever it holds (conn teardown). A pinned block is kept until
 * rbuf_unpin. */
void rbuf_release(struct rbuf *rb, struct rbuf_pool *pool);

/* An I/O that reads from the buffer's storage (a send in flight, which the kernel may retry
 * long after the submit) pins it: until rbuf_unpin, that block is never moved, reused or
 * returned to the pool, even if a later append grows the buffer into a new block (the data
 * is copied, the old block stays where the kernel reads it). One pin at a time. */
void rbuf_pin(struct rbuf *rb);
/* The I/O completed: a block left behind by growth goes back to the pool now. */
void rbuf_unpin(struct rbuf *rb, struct rbuf_pool *pool);
static inline bool rbuf_is_pinned(const struct rbuf *rb)
{
	return rb->_pin != NULL;
}

#endif
