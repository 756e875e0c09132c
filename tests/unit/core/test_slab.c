/* Unit tests for core/slab.c: exhaustion is load (NULL plus a count), freed objects are reused,
 * indices round-trip, and a large slab faults in only the pages it has handed out. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/slab.h"

struct obj {
	uint64_t a;
	uint8_t b[20];
};

static void test_alloc_until_exhausted_returns_null_and_counts(void **state)
{
	(void)state;
	struct slab s;
	void *objs[8];

	assert_int_equal(slab_init(&s, sizeof(struct obj), 8), 0);
	assert_int_equal(slab_capacity(&s), 8);
	for (int i = 0; i < 8; i++) {
		objs[i] = slab_alloc(&s);
		assert_non_null(objs[i]);
		assert_int_equal((uintptr_t)objs[i] % 16, 0);
		memset(objs[i], 0xa5, sizeof(struct obj));
	}
	assert_int_equal(slab_in_use(&s), 8);
	assert_null(slab_alloc(&s));
	assert_null(slab_alloc(&s));
	assert_int_equal(s._exhausted, 2);
	for (int i = 0; i < 8; i++)
		slab_free(&s, objs[i]);
	assert_int_equal(slab_in_use(&s), 0);
	slab_fini(&s);
}

static void test_freed_object_is_reused_first(void **state)
{
	(void)state;
	struct slab s;

	assert_int_equal(slab_init(&s, 24, 100), 0);
	void *a = slab_alloc(&s), *b = slab_alloc(&s), *c = slab_alloc(&s);
	assert_true(a != b && b != c && a != c);
	slab_free(&s, b);
	assert_ptr_equal(slab_alloc(&s), b);
	slab_free(&s, a);
	slab_free(&s, c);
	/* LIFO: the most recently freed (hot in cache) comes back first. */
	assert_ptr_equal(slab_alloc(&s), c);
	assert_ptr_equal(slab_alloc(&s), a);
	void *d = slab_alloc(&s);
	assert_int_equal(slab_index(&s, d), 3);
	slab_free(&s, a);
	slab_free(&s, b);
	slab_free(&s, c);
	slab_free(&s, d);
	slab_free(&s, NULL);
	assert_int_equal(slab_in_use(&s), 0);
	slab_fini(&s);
}

static void test_index_round_trips_and_ownership(void **state)
{
	(void)state;
	struct slab s;
	void *objs[50];

	assert_int_equal(slab_init(&s, 1, 50), 0);
	assert_int_equal(s._obj_size, 16);
	for (uint32_t i = 0; i < 50; i++) {
		objs[i] = slab_alloc(&s);
		assert_int_equal(slab_index(&s, objs[i]), i);
		assert_ptr_equal(slab_at(&s, i), objs[i]);
		assert_true(slab_owns(&s, objs[i]));
	}
	assert_null(slab_at(&s, 50));
	assert_false(slab_owns(&s, (uint8_t *)objs[3] + 1));
	assert_false(slab_owns(&s, (uint8_t *)objs[49] + 16));
	assert_false(slab_owns(&s, &s));
	for (uint32_t i = 0; i < 50; i++)
		slab_free(&s, objs[i]);
	slab_fini(&s);
}

static void test_bad_init_arguments_fail(void **state)
{
	(void)state;
	struct slab s;

	assert_int_equal(slab_init(&s, 0, 10), -1);
	assert_int_equal(slab_init(&s, 16, 0), -1);
	assert_int_equal(slab_init(&s, 16, UINT32_MAX), -1);
	slab_fini(&s); /* safe after a failed init */
}

static void test_untouched_objects_are_not_resident(void **state)
{
	(void)state;
	struct slab s;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint32_t cap = 100000;
	void *objs[10];

	assert_int_equal(slab_init(&s, 1000, cap), 0);
	for (int i = 0; i < 10; i++) {
		objs[i] = slab_alloc(&s);
		memset(objs[i], 1, 1000);
	}
	/* The first pages are resident (written); none past them may be. */
	size_t used_end = (size_t)10 * s._obj_size;
	size_t first_untouched = (used_end + page - 1) / page * page;
	size_t objs_len = (size_t)cap * s._obj_size;
	size_t npages = (objs_len - first_untouched) / page;
	unsigned char *vec = malloc(npages);
	assert_non_null(vec);
	assert_int_equal(mincore(s._mem + first_untouched, npages * page, vec), 0);
	size_t resident = 0;
	for (size_t i = 0; i < npages; i++)
		resident += vec[i] & 1;
	assert_int_equal(resident, 0);

	unsigned char v0;
	assert_int_equal(mincore(s._mem, page, &v0), 0);
	assert_true(v0 & 1);
	free(vec);
	for (int i = 0; i < 10; i++)
		slab_free(&s, objs[i]);
	slab_fini(&s);
}

static size_t resident_pages(const void *p, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t n = (len + page - 1) / page, r = 0;
	unsigned char *vec = malloc(n);
	assert_non_null(vec);
	assert_int_equal(mincore((void *)p, n * page, vec), 0);
	for (size_t i = 0; i < n; i++)
		r += vec[i] & 1;
	free(vec);
	return r;
}

static void test_trim_gives_an_empty_slabs_pages_back(void **state)
{
	(void)state;
	struct slab s;
	void *objs[64];
	assert_int_equal(slab_init(&s, 5000, 1000), 0);
	for (int i = 0; i < 64; i++) {
		objs[i] = slab_alloc(&s);
		memset(objs[i], 0xab, 5000);
	}
	size_t len = (size_t)64 * s._obj_size;
	assert_true(resident_pages(s._mem, len) >= len / (size_t)sysconf(_SC_PAGESIZE));
	slab_trim(&s); /* objects live: nothing happens */
	assert_int_equal(((unsigned char *)objs[63])[4999], 0xab);
	for (int i = 0; i < 64; i++)
		slab_free(&s, objs[i]);
	slab_trim(&s);
	assert_int_equal(resident_pages(s._mem, len), 0);
	/* Handed out from the start again, and frees still catch what they must. */
	void *a = slab_alloc(&s);
	assert_ptr_equal(a, s._mem);
	void *b = slab_alloc(&s);
	assert_ptr_equal(b, s._mem + s._obj_size);
	slab_free(&s, a);
	assert_ptr_equal(slab_alloc(&s), a);
	slab_free(&s, a);
	slab_free(&s, b);
	slab_fini(&s);
}

/* Runs bad(s, obj) in a child with stderr on a pipe; returns true when the child died of
 * SIGABRT after printing a WSG_BUG_ON line. */
static bool child_bugs_out(void (*bad)(struct slab *s))
{
	int fds[2];
	char out[512] = {0};
	int status;

	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct slab s;
		dup2(fds[1], STDERR_FILENO);
		if (slab_init(&s, 32, 4) != 0)
			_exit(3);
		bad(&s);
		_exit(0);
	}
	close(fds[1]);
	size_t got = 0;
	for (int i = 0; i < 100 && got < sizeof(out) - 1; i++) {
		ssize_t n = read(fds[0], out + got, sizeof(out) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT &&
	       strstr(out, "wsgate: BUG at ") != NULL && strstr(out, "slab.c:") != NULL;
}

static void free_misaligned(struct slab *s)
{
	uint8_t *o = slab_alloc(s);
	slab_free(s, o + 8);
}

static void free_foreign(struct slab *s)
{
	static uint8_t elsewhere[64];
	slab_free(s, elsewhere);
}

static void free_twice(struct slab *s)
{
	void *o = slab_alloc(s);
	slab_free(s, o);
	slab_free(s, o);
}

static void test_free_of_misaligned_foreign_or_freed_pointer_aborts(void **state)
{
	(void)state;
	assert_true(child_bugs_out(free_misaligned));
	assert_true(child_bugs_out(free_foreign));
	assert_true(child_bugs_out(free_twice));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_alloc_until_exhausted_returns_null_and_counts),
	    cmocka_unit_test(test_freed_object_is_reused_first),
	    cmocka_unit_test(test_index_round_trips_and_ownership),
	    cmocka_unit_test(test_bad_init_arguments_fail),
	    cmocka_unit_test(test_untouched_objects_are_not_resident),
	    cmocka_unit_test(test_trim_gives_an_empty_slabs_pages_back),
	    cmocka_unit_test(test_free_of_misaligned_foreign_or_freed_pointer_aborts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
