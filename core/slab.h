#ifndef WSG_CORE_SLAB_H
#define WSG_CORE_SLAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fixed-size object slabs, one per object type per worker, sized at start-up (from
 * --max-conns). The memory is one anonymous mapping reserved up front and touched only as
 * objects are first used, so a large slab costs address space, not resident memory.
 * Objects are not zeroed (their _init sets every field). Running out is load: slab_alloc
 * returns NULL and the caller refuses the newcomer. Single-threaded. */

struct slab {
	uint8_t *_mem;       /* the mapping */
	size_t _obj_size;    /* rounded up to 16 bytes */
	uint32_t _cap;       /* objects in the mapping */
	uint32_t _used;      /* objects handed out */
	uint32_t _next_new;  /* objects never handed out start here */
	uint32_t _free;      /* head of the free list (index), UINT32_MAX when empty */
	uint32_t *_links;    /* free-list links, one per object, inside the mapping's tail */
	uint64_t _exhausted; /* allocations refused */
};

/* Reserves room for cap objects of obj_size bytes. 0 or -1. */
int slab_init(struct slab *s, size_t obj_size, uint32_t cap);
void slab_fini(struct slab *s);

void *slab_alloc(struct slab *s); /* NULL when all cap objects are in use (_exhausted++) */
/* Takes obj back. NULL is a no-op; a pointer s does not own, a misaligned one or a double free
 * is a bug (WSG_BUG_ON aborts). */
void slab_free(struct slab *s, void *obj);

/* Index of obj (0..cap-1) and back; for user_data tags and the admin API. slab_index of an
 * object s does not own is a bug; slab_at returns NULL for index >= cap. */
uint32_t slab_index(const struct slab *s, const void *obj);
void *slab_at(const struct slab *s, uint32_t index);
bool slab_owns(const struct slab *s, const void *obj);

static inline uint32_t slab_in_use(const struct slab *s)
{
	return s->_used;
}

static inline uint32_t slab_capacity(const struct slab *s)
{
	return s->_cap;
}

/* When no object is live: gives every page objects have touched back to the system
 * (MADV_DONTNEED) and starts handing out from the first object again, so a burst's high-water
 * mark stops costing memory. A no-op while any object is live. Owning worker. */
void slab_trim(struct slab *s);

#endif
