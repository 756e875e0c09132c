/* core/rbuf.c: per-conn byte ring buffers and the per-worker pool that stores them.
 *
 * Owns: the pool's blocks, cached on one free list per power-of-two size from min_block to
 * max_block (singly linked through each free block's first bytes). malloc runs only when the
 * list for a size is empty; the pool never holds more than limit_bytes (blocks lent out plus
 * blocks cached). When a new block would pass the limit, cached blocks of other sizes are
 * freed first, so a pool that once served many small buffers can still serve a large one.
 *
 * rbuf invariants: _data == NULL <=> _cap == 0 <=> the rbuf owns no storage, and then
 * _head == _tail == 0 (a zeroed struct). Otherwise _cap is a power of two from the pool and
 * 0 < _tail - _head <= _cap, except transiently after rbuf_reserve/before rbuf_commit, when
 * the buffer may hold storage and no data. _head and _tail run free and are masked on access.
 * Growth copies the (possibly wrapped) data to offset 0 of a block at least twice as large.
 *
 * Thread: the owning worker only (pool and rbufs alike).
 *
 * Memory goes back to the system: the free lists hold at most cache_max bytes (a block given
 * back past that is freed), and blocks of RBUF_MMAP_MIN bytes or more are their own anonymous
 * mappings, so freeing one returns its pages at once instead of leaving them in malloc's heap
 * (glibc raises its mmap threshold after the first large free, after which big buffers would
 * stay resident for good). A burst of slow readers therefore costs memory while it lasts,
 * not for the life of the process.
 *
 * Pins: a send in flight reads from the block its submit pointed at, and io_uring may retry a
 * partial send long after the submit (a full socket buffer). Growth moves the data to a new
 * block; the pinned old block must then stay untouched, because returning it to the pool
 * writes the free-list link into its first bytes and hands it to another conn while the
 * kernel still reads from it (that corrupted relayed payload). So a pinned block is parked
 * in _pin and given back by rbuf_unpin, at the send's completion.
 *
 * Rejected: a slab per size class (a fixed count per size is the wrong shape: the mix of
 * buffer sizes moves with load); mirrored (double-mapped) buffers so data is always contiguous
 * (an mmap per buffer and two TLB entries per page; two iovecs are cheap). */
#include "core/rbuf.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/bug.h"

#define RBUF_MAX_CLASSES 32
#define RBUF_MIN_BLOCK   16u           /* a free block must hold the free-list link */
#define RBUF_MMAP_MIN    (16u * 1024u) /* blocks this large are their own mapping */

struct rbuf_block {
	struct rbuf_block *next; /* next cached block of the same size */
};

struct rbuf_pool {
	unsigned min_shift, max_shift;
	uint64_t limit;                            /* bytes lent out plus cached, at most */
	uint64_t held;                             /* bytes lent out plus cached */
	uint64_t in_use_bytes;                     /* bytes lent out */
	uint64_t in_use_blocks;                    /* blocks lent out */
	uint64_t cached;                           /* bytes on the free lists */
	uint64_t cache_max;                        /* at most this many bytes cached */
	struct rbuf_block *free[RBUF_MAX_CLASSES]; /* by shift - min_shift */
	uint32_t n_free[RBUF_MAX_CLASSES];         /* cached blocks per class */
};

static bool rbuf_is_pow2(uint32_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

static unsigned rbuf_shift(uint32_t pow2)
{
	return (unsigned)__builtin_ctz(pow2);
}

struct rbuf_pool *rbuf_pool_new(uint32_t min_block, uint32_t max_block, uint64_t limit_bytes)
{
	if (!rbuf_is_pow2(min_block) || !rbuf_is_pow2(max_block) || min_block < RBUF_MIN_BLOCK ||
	    min_block > max_block)
		return NULL;
	struct rbuf_pool *pool = calloc(1, sizeof(*pool));
	if (pool == NULL)
		return NULL;
	pool->min_shift = rbuf_shift(min_block);
	pool->max_shift = rbuf_shift(max_block);
	pool->limit = limit_bytes;
	pool->cache_max = limit_bytes;
	return pool;
}

static uint8_t *rbuf_block_alloc(uint32_t size)
{
	if (size < RBUF_MMAP_MIN)
		return malloc(size);
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void rbuf_block_free(void *b, uint64_t size)
{
	if (size < RBUF_MMAP_MIN)
		free(b);
	else
		munmap(b, size);
}

void rbuf_pool_set_cache_max(struct rbuf_pool *pool, uint64_t bytes)
{
	pool->cache_max = bytes;
}

uint64_t rbuf_pool_bytes_cached(const struct rbuf_pool *pool)
{
	return pool->cached;
}

/* Frees every cached block of class c (index from min_shift). */
static void rbuf_pool_trim_class(struct rbuf_pool *pool, unsigned c)
{
	uint64_t size = (uint64_t)1 << (c + pool->min_shift);

	while (pool->free[c] != NULL) {
		struct rbuf_block *b = pool->free[c];
		pool->free[c] = b->next;
		rbuf_block_free(b, size);
		pool->n_free[c]--;
		pool->held -= size;
		pool->cached -= size;
	}
}

void rbuf_pool_trim(struct rbuf_pool *pool)
{
	for (unsigned c = 0; c <= pool->max_shift - pool->min_shift; c++)
		rbuf_pool_trim_class(pool, c);
}

void rbuf_pool_free(struct rbuf_pool *pool)
{
	if (pool == NULL)
		return;
	WSG_BUG_ON(pool->in_use_blocks != 0);
	for (unsigned c = 0; c <= pool->max_shift - pool->min_shift; c++)
		rbuf_pool_trim_class(pool, c);
	free(pool);
}

uint64_t rbuf_pool_bytes_in_use(const struct rbuf_pool *pool)
{
	return pool->in_use_bytes;
}

uint64_t rbuf_pool_blocks_in_use(const struct rbuf_pool *pool)
{
	return pool->in_use_blocks;
}

/* A block of exactly size bytes (a power of two within the pool's range), or NULL. */
static uint8_t *rbuf_pool_get(struct rbuf_pool *pool, uint32_t size)
{
	unsigned c = rbuf_shift(size) - pool->min_shift;
	struct rbuf_block *b = pool->free[c];

	if (b != NULL) {
		pool->free[c] = b->next;
		pool->n_free[c]--;
		pool->cached -= size;
	} else {
		/* Cached blocks of other sizes are worth less than serving this request. */
		for (unsigned o = 0; o <= pool->max_shift - pool->min_shift; o++) {
			if (pool->held + size <= pool->limit)
				break;
			if (o != c)
				rbuf_pool_trim_class(pool, o);
		}
		if (pool->held + size > pool->limit)
			return NULL;
		b = (struct rbuf_block *)(void *)rbuf_block_alloc(size);
		if (b == NULL)
			return NULL;
		pool->held += size;
	}
	pool->in_use_bytes += size;
	pool->in_use_blocks++;
	return (uint8_t *)b;
}

static void rbuf_pool_put(struct rbuf_pool *pool, uint8_t *data, uint32_t size)
{
	unsigned c = rbuf_shift(size) - pool->min_shift;
	struct rbuf_block *b = (struct rbuf_block *)(void *)data;

	WSG_BUG_ON(pool->in_use_blocks == 0 || pool->in_use_bytes < size);
	pool->in_use_bytes -= size;
	pool->in_use_blocks--;
	if (pool->cached + size > pool->cache_max) {
		rbuf_block_free(data, size);
		pool->held -= size;
		return;
	}
	b->next = pool->free[c];
	pool->free[c] = b;
	pool->n_free[c]++;
	pool->cached += size;
}

int rbuf_reserve(struct rbuf *rb, struct rbuf_pool *pool, size_t n)
{
	uint32_t len = rbuf_len(rb), max = (uint32_t)1 << pool->max_shift;

	if (n <= (size_t)(rb->_cap - len))
		return 0;
	if (n > (size_t)(max - len))
		return -1;
	uint32_t need = len + (uint32_t)n;
	uint32_t cap = rb->_cap ? rb->_cap * 2 : (uint32_t)1 << pool->min_shift;
	if (cap < ((uint32_t)1 << pool->min_shift))
		cap = (uint32_t)1 << pool->min_shift;
	while (cap < need)
		cap *= 2; /* need <= max <= 2^31, so this stops at or before max */

	uint8_t *data = rbuf_pool_get(pool, cap);
	if (data == NULL)
		return -1;
	if (rb->_data != NULL) {
		size_t got = rbuf_peek(rb, data, len);
		WSG_BUG_ON(got != len);
		/* A pinned block stays where it is (the kernel may still read it); rbuf_unpin
		 * gives it back. */
		if (rb->_data != rb->_pin)
			rbuf_pool_put(pool, rb->_data, rb->_cap);
	}
	rb->_data = data;
	rb->_cap = cap;
	rb->_head = 0;
	rb->_tail = len;
	return 0;
}

int rbuf_append(struct rbuf *rb, struct rbuf_pool *pool, const void *src, size_t n)
{
	if (n == 0)
		return 0;
	if (rbuf_reserve(rb, pool, n) != 0)
		return -1;
	uint32_t mask = rb->_cap - 1, off = rb->_tail & mask;
	size_t first = rb->_cap - off;
	if (first > n)
		first = n;
	memcpy(rb->_data + off, src, first);
	if (n > first)
		memcpy(rb->_data, (const uint8_t *)src + first, n - first);
	rb->_tail += (uint32_t)n;
	return 0;
}

uint8_t *rbuf_contig_data(const struct rbuf *rb, size_t *n)
{
	uint32_t len = rbuf_len(rb);

	if (len == 0) {
		*n = 0;
		return NULL;
	}
	uint32_t off = rb->_head & (rb->_cap - 1);
	uint32_t run = rb->_cap - off;
	*n = run < len ? run : len;
	return rb->_data + off;
}

uint8_t *rbuf_contig_space(const struct rbuf *rb, size_t *n)
{
	uint32_t space = rb->_cap - rbuf_len(rb);

	if (rb->_data == NULL || space == 0) {
		*n = 0;
		return NULL;
	}
	uint32_t off = rb->_tail & (rb->_cap - 1);
	uint32_t run = rb->_cap - off;
	*n = run < space ? run : space;
	return rb->_data + off;
}

int rbuf_data_iov(const struct rbuf *rb, struct iovec iov[2])
{
	size_t first;
	uint8_t *p = rbuf_contig_data(rb, &first);

	if (p == NULL)
		return 0;
	iov[0].iov_base = p;
	iov[0].iov_len = first;
	if (first == rbuf_len(rb))
		return 1;
	iov[1].iov_base = rb->_data;
	iov[1].iov_len = rbuf_len(rb) - first;
	return 2;
}

void rbuf_commit(struct rbuf *rb, size_t n)
{
	WSG_BUG_ON(n > (size_t)(rb->_cap - rbuf_len(rb)));
	rb->_tail += (uint32_t)n;
}

void rbuf_consume(struct rbuf *rb, struct rbuf_pool *pool, size_t n)
{
	WSG_BUG_ON(n > rbuf_len(rb));
	rb->_head += (uint32_t)n;
	if (rbuf_is_empty(rb))
		rbuf_release(rb, pool);
}

void rbuf_truncate(struct rbuf *rb, uint32_t mark)
{
	WSG_BUG_ON(mark - rb->_head > rbuf_len(rb));
	rb->_tail = mark;
}

size_t rbuf_peek(const struct rbuf *rb, void *dst, size_t n)
{
	uint32_t len = rbuf_len(rb);

	if (n > len)
		n = len;
	if (n == 0)
		return 0;
	uint32_t off = rb->_head & (rb->_cap - 1);
	size_t first = rb->_cap - off;
	if (first > n)
		first = n;
	memcpy(dst, rb->_data + off, first);
	if (n > first)
		memcpy((uint8_t *)dst + first, rb->_data, n - first);
	return n;
}

void rbuf_pin(struct rbuf *rb)
{
	WSG_BUG_ON(rb->_pin != NULL || rb->_data == NULL);
	rb->_pin = rb->_data;
	rb->_pin_cap = rb->_cap;
}

void rbuf_unpin(struct rbuf *rb, struct rbuf_pool *pool)
{
	if (rb->_pin != NULL && rb->_pin != rb->_data)
		rbuf_pool_put(pool, rb->_pin, rb->_pin_cap);
	rb->_pin = NULL;
	rb->_pin_cap = 0;
}

void rbuf_release(struct rbuf *rb, struct rbuf_pool *pool)
{
	if (rb->_data != NULL && rb->_data != rb->_pin)
		rbuf_pool_put(pool, rb->_data, rb->_cap);
	rb->_data = NULL;
	rb->_cap = 0;
	rb->_head = 0;
	rb->_tail = 0;
}
