/* core/slab.c: fixed-size object slabs (one per object type per worker).
 *
 * Owns one anonymous mapping per slab, reserved at slab_init with MAP_NORESERVE: cap objects
 * of _obj_size bytes (rounded up to 16) followed by cap uint32_t free-list links. Objects are
 * handed out from the free list first and only then from _next_new, so pages past the
 * high-water mark are never touched and never become resident.
 *
 * Invariants: _used <= _next_new <= cap; every index on the free list is < _next_new; a live
 * object's link holds SLAB_LINK_LIVE, a free object's link holds the next free index (or
 * SLAB_LINK_END), which lets slab_free catch a double free without a separate bitmap.
 *
 * Thread: the owning worker only; no atomics, no locks.
 *
 * Rejected: malloc per object (fragmentation, a syscall under load, no stable index for
 * user_data); a bitmap of live objects (touches another array on every alloc for no gain over
 * the links we already keep); intrusive links inside the freed objects (a use-after-free would
 * then corrupt the free list instead of only the object). */
#include "core/slab.h"

#include <sys/mman.h>
#include <unistd.h>

#include "core/bug.h"

#define SLAB_ALIGN     16u
#define SLAB_LINK_END  UINT32_MAX        /* end of the free list; also _free when empty */
#define SLAB_LINK_LIVE (UINT32_MAX - 1u) /* the object is handed out */

static size_t slab_map_len(const struct slab *s)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t len = (size_t)s->_cap * s->_obj_size + (size_t)s->_cap * sizeof(uint32_t);

	return (len + page - 1) / page * page;
}

int slab_init(struct slab *s, size_t obj_size, uint32_t cap)
{
	s->_mem = NULL;
	s->_links = NULL;
	s->_obj_size = 0;
	s->_cap = 0;
	s->_used = 0;
	s->_next_new = 0;
	s->_free = SLAB_LINK_END;
	s->_exhausted = 0;

	/* cap stays below the link sentinels so any valid index fits in a link. */
	if (obj_size == 0 || cap == 0 || cap >= SLAB_LINK_LIVE)
		return -1;
	if (obj_size > SIZE_MAX - (SLAB_ALIGN - 1))
		return -1;
	size_t size = (obj_size + SLAB_ALIGN - 1) & ~(size_t)(SLAB_ALIGN - 1);
	if (size > (SIZE_MAX / 2) / cap)
		return -1;

	s->_obj_size = size;
	s->_cap = cap;
	void *mem = mmap(NULL, slab_map_len(s), PROT_READ | PROT_WRITE,
	                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED) {
		s->_obj_size = 0;
		s->_cap = 0;
		return -1;
	}
	s->_mem = mem;
	s->_links = (uint32_t *)(s->_mem + (size_t)cap * size);
	return 0;
}

void slab_fini(struct slab *s)
{
	if (s->_mem != NULL)
		munmap(s->_mem, slab_map_len(s));
	s->_mem = NULL;
	s->_links = NULL;
	s->_cap = 0;
	s->_used = 0;
	s->_next_new = 0;
	s->_free = SLAB_LINK_END;
}

void *slab_alloc(struct slab *s)
{
	uint32_t idx;

	if (s->_free != SLAB_LINK_END) {
		idx = s->_free;
		s->_free = s->_links[idx];
		WSG_BUG_ON(s->_free != SLAB_LINK_END && s->_free >= s->_next_new);
	} else if (s->_next_new < s->_cap) {
		idx = s->_next_new++;
	} else {
		s->_exhausted++;
		return NULL;
	}
	s->_links[idx] = SLAB_LINK_LIVE;
	s->_used++;
	return s->_mem + (size_t)idx * s->_obj_size;
}

bool slab_owns(const struct slab *s, const void *obj)
{
	uintptr_t p = (uintptr_t)obj, base = (uintptr_t)s->_mem;

	if (s->_mem == NULL || p < base)
		return false;
	uintptr_t off = p - base;
	return off < (uintptr_t)s->_cap * s->_obj_size && off % s->_obj_size == 0;
}

void slab_free(struct slab *s, void *obj)
{
	if (obj == NULL)
		return;
	WSG_BUG_ON(!slab_owns(s, obj));
	uint32_t idx = slab_index(s, obj);
	WSG_BUG_ON(idx >= s->_next_new || s->_links[idx] != SLAB_LINK_LIVE); /* double free */
	s->_links[idx] = s->_free;
	s->_free = idx;
	s->_used--;
}

uint32_t slab_index(const struct slab *s, const void *obj)
{
	WSG_BUG_ON(!slab_owns(s, obj));
	return (uint32_t)(((uintptr_t)obj - (uintptr_t)s->_mem) / s->_obj_size);
}

void *slab_at(const struct slab *s, uint32_t index)
{
	if (index >= s->_cap)
		return NULL;
	return s->_mem + (size_t)index * s->_obj_size;
}

void slab_trim(struct slab *s)
{
	if (s->_mem == NULL || s->_used != 0 || s->_next_new == 0)
		return;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t len = ((size_t)s->_next_new * s->_obj_size + page - 1) / page * page;
	madvise(s->_mem, len, MADV_DONTNEED);
	/* The links of [0, _next_new) are stale from here: each is written again (LIVE) when
	 * its object is handed out, before slab_free reads it. */
	s->_free = SLAB_LINK_END;
	s->_next_new = 0;
}
