#ifndef WSG_TESTS_UNIT_GUARD_H
#define WSG_TESTS_UNIT_GUARD_H

/* Guard-page buffers for parser tests: guard_copy() places len bytes so that the byte after
 * the last one is the first byte of a PROT_NONE page. Any read past buf + len faults at once,
 * so an over-read is a crash in the test, not a silent pass. One buffer at a time per test. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct guard_area {
	uint8_t *base;  /* start of the mapping */
	size_t map_len; /* data pages + one guard page */
};

static inline uint8_t *guard_copy(struct guard_area *g, const void *src, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t data_pages = (len + page - 1) / page + 1;

	g->map_len = (data_pages + 1) * page;
	g->base =
	    mmap(NULL, g->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g->base == MAP_FAILED)
		abort();
	if (mprotect(g->base + data_pages * page, page, PROT_NONE) != 0)
		abort();
	uint8_t *buf = g->base + data_pages * page - len;
	if (len)
		memcpy(buf, src, len);
	return buf;
}

static inline void guard_release(struct guard_area *g)
{
	munmap(g->base, g->map_len);
	g->base = NULL;
}

#endif
