/* Unit tests for core/rbuf.c: storage is taken on first need and returned when drained; data
 * survives wrap-around and growth at every offset; the pool limit refuses without side
 * effects; and a seeded random workload matches a plain FIFO byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/rbuf.h"

#define MIN_BLOCK 16u
#define MAX_BLOCK 4096u

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static void test_empty_rbuf_owns_no_storage(void **state)
{
	(void)state;
	struct rbuf rb = {0};
	struct rbuf_pool *pool = rbuf_pool_new(MIN_BLOCK, MAX_BLOCK, 1 << 20);
	struct iovec iov[2];
	size_t n = 99;

	assert_non_null(pool);
	assert_true(rbuf_is_empty(&rb));
	assert_null(rbuf_contig_data(&rb, &n));
	assert_int_equal(n, 0);
	n = 99;
	assert_null(rbuf_contig_space(&rb, &n));
	assert_int_equal(n, 0);
	assert_int_equal(rbuf_data_iov(&rb, iov), 0);
	assert_int_equal(rbuf_append(&rb, pool, "", 0), 0);
	assert_int_equal(rbuf_reserve(&rb, pool, 0), 0);
	assert_null(rb._data);
	assert_int_equal(rbuf_pool_blocks_in_use(pool), 0);

	assert_int_equal(rbuf_append(&rb, pool, "abc", 3), 0);
	assert_int_equal(rb._cap, MIN_BLOCK);
	assert_int_equal(rbuf_pool_blocks_in_use(pool), 1);
	assert_int_equal(rbuf_pool_bytes_in_use(pool), MIN_BLOCK);
	rbuf_consume(&rb, pool, 3);
	assert_null(rb._data);
	assert_int_equal(rb._cap, 0);
	assert_int_equal(rbuf_pool_blocks_in_use(pool), 0);
	assert_int_equal(rbuf_pool_bytes_in_use(pool), 0);
	rbuf_pool_free(pool);
}

static void test_bad_pool_arguments_fail(void **state)
{
	(void)state;
	assert_null(rbuf_pool_new(24, 4096, 1 << 20));
	assert_null(rbuf_pool_new(16, 1000, 1 << 20));
	assert_null(rbuf_pool_new(4096, 16, 1 << 20));
	assert_null(rbuf_pool_new(4, 16, 1 << 20));
	rbuf_pool_free(NULL);
}

/* For every start offset in a 16-byte block and every length that fits, the bytes written
 * across the wrap come back in order, and the views describe the two runs exactly. */
static void test_round_trip_with_wrap_at_every_offset(void **state)
{
	(void)state;
	struct rbuf_pool *pool = rbuf_pool_new(MIN_BLOCK, MIN_BLOCK, 1 << 20);
	uint8_t in[MIN_BLOCK], out[MIN_BLOCK], pad[MIN_BLOCK] = {0};

	for (uint32_t off = 0; off < MIN_BLOCK; off++) {
		for (uint32_t len = 1; len <= MIN_BLOCK; len++) {
			struct rbuf rb = {0};
			struct iovec iov[2];
			size_t n;

			/* Move head and tail to off: one byte stays so storage is kept. */
			assert_int_equal(rbuf_append(&rb, pool, pad, 1), 0);
			if (off > 0) {
				assert_int_equal(rbuf_append(&rb, pool, pad, off),
				                 off >= MIN_BLOCK ? -1 : 0);
				rbuf_consume(&rb, pool, off);
			}
			fill(in, len, (uint8_t)(off * 31 + len));
			/* The held byte leaves room for MIN_BLOCK - 1; the last byte of a full
			 * buffer goes in after the held byte is consumed. */
			size_t now = len < MIN_BLOCK ? len : MIN_BLOCK - 1;
			assert_int_equal(rbuf_append(&rb, pool, in, now), 0);
			assert_int_equal(rbuf_len(&rb), now + 1);
			assert_int_equal(rbuf_append(&rb, pool, in, MIN_BLOCK),
			                 -1); /* no bigger block */
			rbuf_consume(&rb, pool, 1);
			if (now < len)
				assert_int_equal(rbuf_append(&rb, pool, in + now, len - now), 0);
			assert_int_equal(rb._cap, MIN_BLOCK);

			uint32_t start = (off + 1) % MIN_BLOCK;
			size_t first = MIN_BLOCK - start < len ? MIN_BLOCK - start : len;
			uint8_t *p = rbuf_contig_data(&rb, &n);
			assert_ptr_equal(p, rb._data + start);
			assert_int_equal(n, first);
			int cnt = rbuf_data_iov(&rb, iov);
			assert_int_equal(cnt, first == len ? 1 : 2);
			assert_int_equal(iov[0].iov_len, first);
			if (cnt == 2) {
				assert_ptr_equal(iov[1].iov_base, rb._data);
				assert_int_equal(iov[1].iov_len, len - first);
			}
			uint8_t *sp = rbuf_contig_space(&rb, &n);
			uint32_t tail = (start + len) % MIN_BLOCK;
			if (len == MIN_BLOCK) {
				assert_null(sp);
				assert_int_equal(n, 0);
			} else {
				assert_ptr_equal(sp, rb._data + tail);
				size_t space = MIN_BLOCK - len;
				size_t run = MIN_BLOCK - tail;
				assert_int_equal(n, run < space ? run : space);
			}
			assert_int_equal(rbuf_peek(&rb, out, sizeof(out)), len);
			assert_memory_equal(out, in, len);
			rbuf_consume(&rb, pool, len);
			assert_null(rb._data);
		}
	}
	assert_int_equal(rbuf_pool_blocks_in_use(pool), 0);
	rbuf_pool_free(pool);
}

static void test_growth_preserves_wrapped_data(void **state)
{
	(void)state;
	struct rbuf_pool *pool = rbuf_pool_new(MIN_BLOCK, MAX_BLOCK, 1 << 20);
	struct rbuf rb = {0};
	uint8_t in[200], out[200];

	fill(in, sizeof(in), 3);
	assert_int_equal(rbuf_append(&rb, pool, in, 12), 0);
	rbuf_consume(&rb, pool, 10);                              /* head at 10 */
	assert_int_equal(rbuf_append(&rb, pool, in + 12, 12), 0); /* wraps: 14 bytes held */
	assert_int_equal(rb._cap, 16);
	struct iovec iov[2];
	assert_int_equal(rbuf_data_iov(&rb, iov), 2);

	assert_int_equal(rbuf_append(&rb, pool, in + 24, 10), 0); /* 24 > 16: grows to 32 */
	assert_int_equal(rb._cap, 32);
	assert_int_equal(rbuf_len(&rb), 24);
	assert_int_equal(rbuf_pool_blocks_in_use(pool), 1);
	assert_int_equal(rbuf_peek(&rb, out, sizeof(out)), 24);
	assert_memory_equal(out, in + 10, 24);

	assert_int_equal(rbuf_append(&rb, pool, in + 34, 166), 0); /* 190 bytes: jumps to 256 */
	assert_int_equal(rb._cap, 256);
	assert_int_equal(rbuf_peek(&rb, out, sizeof(out)), 190);
	assert_memory_equal(out, in + 10, 190);
	assert_int_equal(rbuf_pool_bytes_in_use(pool), 256);

	assert_int_equal(rbuf_reserve(&rb, pool, 66), 0);
	assert_int_equal(rb._cap, 256);
	assert_int_equal(rbuf_reserve(&rb, pool, 67), 0);
	assert_int_equal(rb._cap, 512);
	assert_int_equal(rbuf_reserve(&rb, pool, MAX_BLOCK), -1);
	assert_int_equal(rb._cap, 512);
	rbuf_release(&rb, pool);
	assert_int_equal(rbuf_pool_blocks_in_use(pool), 0);
	rbuf_pool_free(pool);
}

static void test_receive_into_contig_space_then_commit(void **state)
{
	(void)state;
	struct rbuf_pool *pool = rbuf_pool_new(MIN_BLOCK, MAX_BLOCK, 1 << 20);
	struct rbuf rb = {0};
	size_t n;
	uint8_t out[16];

	assert_int_equal(rbuf_reserve(&rb, pool, 10), 0);
	uint8_t *sp = rbuf_contig_space(&rb, &n);
	assert_non_null(sp);
	assert_int_equal(n, 16);
	memcpy(sp, "hello", 5);
	rbuf_commit(&rb, 5);
	assert_int_equal(rbuf_len(&rb), 5);
	assert_int_equal(rbuf_peek(&rb, out, 3), 3);
	assert_memory_equal(out, "hel", 3);
	rbuf_consume(&rb, pool, 5);
	assert_int_equal(rbuf_pool_blocks_in_use(pool), 0);
	rbuf_pool_free(pool);
}

static void test_pool_limit_refuses_append_without_changing_buffer(void **state)
{
	(void)state;
	/* Room for one 64-byte block plus one 32: a second buffer's growth past that is refused. */
	struct rbuf_pool *pool = rbuf_pool_new(MIN_BLOCK, MAX_BLOCK, 96);
	struct rbuf a = {0}, b = {0};
	uint8_t in[64], out[64];

	fill(in, sizeof(in), 9);
	assert_int_equal(rbuf_append(&a, pool, in, 64), 0);
	assert_int_equal(rbuf_append(&b, pool, in, 20), 0); /* 32-byte block */
	rbuf_consume(&b, pool, 15);
	struct rbuf before = b;
	assert_int_equal(rbuf_append(&b, pool, in, 40), -1); /* needs 64 more: over the limit */
	assert_memory_equal(&before, &b, sizeof(b));
	assert_int_equal(rbuf_peek(&b, out, sizeof(out)), 5);
	assert_memory_equal(out, in + 15, 5);
	assert_int_equal(rbuf_reserve(&b, pool, 100), -1);
	assert_memory_equal(&before, &b, sizeof(b));
	assert_int_equal(rbuf_pool_blocks_in_use(pool), 2);

	/* Freed storage is cached, and cached blocks of other sizes give way to a new size. */
	rbuf_release(&a, pool);
	assert_int_equal(rbuf_append(&b, pool, in, 40), 0);
	assert_int_equal(b._cap, 64);
	assert_int_equal(rbuf_peek(&b, out, sizeof(out)), 45);
	assert_memory_equal(out, in + 15, 5);
	assert_memory_equal(out + 5, in, 40);
	rbuf_release(&b, pool);
	assert_int_equal(rbuf_pool_blocks_in_use(pool), 0);
	assert_int_equal(rbuf_pool_bytes_in_use(pool), 0);
	rbuf_pool_free(pool);
}

static void test_drained_storage_is_reused_from_the_pool(void **state)
{
	(void)state;
	struct rbuf_pool *pool = rbuf_pool_new(MIN_BLOCK, MAX_BLOCK, 1 << 20);
	struct rbuf rb = {0};

	assert_int_equal(rbuf_append(&rb, pool, "0123456789", 10), 0);
	uint8_t *first = rb._data;
	rbuf_consume(&rb, pool, 10);
	assert_int_equal(rbuf_append(&rb, pool, "ab", 2), 0);
	assert_ptr_equal(rb._data, first);
	rbuf_release(&rb, pool);
	rbuf_release(&rb, pool); /* twice is harmless */
	assert_int_equal(rbuf_pool_blocks_in_use(pool), 0);
	rbuf_pool_free(pool);
}

/* Random appends, reserve+commit receives, consumes and peeks against a flat reference FIFO. */
static void test_random_operations_match_reference_fifo(void **state)
{
	(void)state;
	enum { REF_CAP = 1 << 16, ROUNDS = 20000 };
	struct rbuf_pool *pool = rbuf_pool_new(MIN_BLOCK, MAX_BLOCK, 1 << 20);
	struct rbuf rb = {0};
	uint8_t *ref = malloc(REF_CAP);
	uint8_t src[600], out[MAX_BLOCK];
	size_t ref_head = 0, ref_tail = 0; /* ref holds [ref_head, ref_tail); compacted */

	assert_non_null(ref);
	srand(20240601);
	for (int round = 0; round < ROUNDS; round++) {
		int op = rand() % 4;
		size_t len = ref_tail - ref_head;

		if (op == 0) { /* append */
			size_t n = (size_t)(rand() % 300);
			fill(src, n, (uint8_t)round);
			int rc = rbuf_append(&rb, pool, src, n);
			assert_int_equal(rc, len + n > MAX_BLOCK ? -1 : 0);
			if (rc == 0) {
				memcpy(ref + ref_tail, src, n);
				ref_tail += n;
			}
		} else if (op == 1) { /* receive: reserve, write into contig space, commit */
			size_t want = 1 + (size_t)(rand() % 200), n;
			if (rbuf_reserve(&rb, pool, want) != 0) {
				assert_true(len + want > MAX_BLOCK);
				continue;
			}
			uint8_t *sp = rbuf_contig_space(&rb, &n);
			assert_non_null(sp);
			assert_true(n >= 1);
			if (n > want)
				n = want;
			fill(sp, n, (uint8_t)(round * 3));
			memcpy(ref + ref_tail, sp, n);
			ref_tail += n;
			rbuf_commit(&rb, n);
		} else if (op == 2) { /* consume, checking the bytes on the way out */
			size_t n = len ? (size_t)rand() % (len + 1) : 0;
			struct iovec iov[2];
			int cnt = rbuf_data_iov(&rb, iov);
			size_t total = 0;
			for (int i = 0; i < cnt; i++) {
				assert_memory_equal(iov[i].iov_base, ref + ref_head + total,
				                    iov[i].iov_len);
				total += iov[i].iov_len;
			}
			assert_int_equal(total, len);
			rbuf_consume(&rb, pool, n);
			ref_head += n;
		} else { /* peek */
			size_t n = (size_t)(rand() % MAX_BLOCK);
			size_t got = rbuf_peek(&rb, out, n);
			assert_int_equal(got, n < len ? n : len);
			assert_memory_equal(out, ref + ref_head, got);
		}
		assert_int_equal(rbuf_len(&rb), ref_tail - ref_head);
		if (rbuf_is_empty(&rb) && op == 2)
			assert_null(rb._data);
		if (ref_tail > REF_CAP / 2) {
			memmove(ref, ref + ref_head, ref_tail - ref_head);
			ref_tail -= ref_head;
			ref_head = 0;
		}
	}
	rbuf_release(&rb, pool);
	assert_int_equal(rbuf_pool_blocks_in_use(pool), 0);
	rbuf_pool_free(pool);
	free(ref);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty_rbuf_owns_no_storage),
	    cmocka_unit_test(test_bad_pool_arguments_fail),
	    cmocka_unit_test(test_round_trip_with_wrap_at_every_offset),
	    cmocka_unit_test(test_growth_preserves_wrapped_data),
	    cmocka_unit_test(test_receive_into_contig_space_then_commit),
	    cmocka_unit_test(test_pool_limit_refuses_append_without_changing_buffer),
	    cmocka_unit_test(test_drained_storage_is_reused_from_the_pool),
	    cmocka_unit_test(test_random_operations_match_reference_fifo),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
