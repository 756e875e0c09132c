/* Unit tests for core/prom.c: label values and HELP text are escaped as the exposition
 * format wants, histogram buckets are cumulative and end with +Inf equal to _count, numbers
 * read back exactly, and the size bound fails the buffer instead of growing past it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/prom.h"

static void test_label_value_escapes_backslash_quote_newline(void **state)
{
	(void)state;
	struct prom_buf b;
	prom_init(&b, 1 << 20);
	struct prom_label l[2] = {{"route", "/a\"b\\c\nd"}, {"direction", "upstream"}};
	prom_sample_u64(&b, "x_total", l, 2, 7);
	assert_string_equal(b.p, "x_total{route=\"/a\\\"b\\\\c\\nd\",direction=\"upstream\"} 7\n");
	prom_fini(&b);
}

static void test_help_escapes_backslash_newline_not_quote(void **state)
{
	(void)state;
	struct prom_buf b;
	prom_init(&b, 1 << 20);
	prom_family(&b, "x_total", "counter", "say \"hi\" \\ then\nmore");
	assert_string_equal(b.p, "# HELP x_total say \"hi\" \\\\ then\\nmore\n"
	                         "# TYPE x_total counter\n");
	prom_fini(&b);
}

static void test_sample_without_labels_has_no_braces(void **state)
{
	(void)state;
	struct prom_buf b;
	prom_init(&b, 1 << 20);
	prom_sample_u64(&b, "g", NULL, 0, 18446744073709551615ull);
	prom_sample_f64(&b, "f", NULL, 0, 0.25);
	assert_string_equal(b.p, "g 18446744073709551615\nf 0.25\n");
	prom_fini(&b);
}

static void test_histogram_buckets_cumulative_inf_equals_count(void **state)
{
	(void)state;
	struct prom_buf b;
	prom_init(&b, 1 << 20);
	const double bounds[3] = {0.0005, 1, 10};
	const uint64_t counts[4] = {2, 0, 3, 4}; /* per bucket; the last: above 10 */
	struct prom_label l = {"leg", "client"};
	prom_histogram(&b, "h_seconds", &l, 1, bounds, 3, counts, 12.5);
	assert_string_equal(b.p, "h_seconds_bucket{leg=\"client\",le=\"0.0005\"} 2\n"
	                         "h_seconds_bucket{leg=\"client\",le=\"1\"} 2\n"
	                         "h_seconds_bucket{leg=\"client\",le=\"10\"} 5\n"
	                         "h_seconds_bucket{leg=\"client\",le=\"+Inf\"} 9\n"
	                         "h_seconds_sum{leg=\"client\"} 12.5\n"
	                         "h_seconds_count{leg=\"client\"} 9\n");
	prom_fini(&b);
}

static void test_histogram_without_labels_has_only_le(void **state)
{
	(void)state;
	struct prom_buf b;
	prom_init(&b, 1 << 20);
	const double bounds[1] = {16777216};
	const uint64_t counts[2] = {0, 1};
	prom_histogram(&b, "q_bytes", NULL, 0, bounds, 1, counts, 20000000);
	assert_string_equal(b.p, "q_bytes_bucket{le=\"16777216\"} 0\n"
	                         "q_bytes_bucket{le=\"+Inf\"} 1\n"
	                         "q_bytes_sum 20000000\n"
	                         "q_bytes_count 1\n");
	prom_fini(&b);
}

static void test_floats_shortest_text_that_reads_back(void **state)
{
	(void)state;
	char t[40];
	assert_string_equal(prom_format_f64(t, sizeof(t), 0.0005), "0.0005");
	assert_string_equal(prom_format_f64(t, sizeof(t), 2.5), "2.5");
	assert_string_equal(prom_format_f64(t, sizeof(t), 10), "10");
	assert_string_equal(prom_format_f64(t, sizeof(t), 1.0 / 0.0), "+Inf");
	assert_string_equal(prom_format_f64(t, sizeof(t), -1.0 / 0.0), "-Inf");
	const double odd[] = {0.1 + 0.2, 1e-300, 123456.789e10, 1e300};
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
		assert_true(strtod(prom_format_f64(t, sizeof(t), odd[i]), NULL) == odd[i]);
}

static void test_bound_reached_fails_and_stops_growing(void **state)
{
	(void)state;
	struct prom_buf b;
	prom_init(&b, 100);
	for (int i = 0; i < 50 && !b.failed; i++)
		prom_sample_u64(&b, "counter_total", NULL, 0, (uint64_t)i);
	assert_true(b.failed);
	assert_true(b.len < 100);
	size_t len = b.len;
	prom_sample_u64(&b, "more", NULL, 0, 1);
	assert_int_equal(b.len, len);
	prom_fini(&b);
	assert_null(b.p);
	assert_false(b.failed);
}

static void test_long_value_grows_the_buffer(void **state)
{
	(void)state;
	struct prom_buf b;
	prom_init(&b, 1 << 20);
	char *v = malloc(20000);
	assert_non_null(v);
	memset(v, '"', 19999);
	v[19999] = '\0';
	struct prom_label l = {"backend", v};
	prom_sample_u64(&b, "b", &l, 1, 1);
	assert_false(b.failed);
	/* b{backend=" + 2 x 19999 + "} 1\n */
	assert_int_equal(b.len, strlen("b{backend=\"") + 2 * 19999 + strlen("\"} 1\n"));
	assert_int_equal(b.p[b.len], '\0');
	free(v);
	prom_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_label_value_escapes_backslash_quote_newline),
	    cmocka_unit_test(test_help_escapes_backslash_newline_not_quote),
	    cmocka_unit_test(test_sample_without_labels_has_no_braces),
	    cmocka_unit_test(test_histogram_buckets_cumulative_inf_equals_count),
	    cmocka_unit_test(test_histogram_without_labels_has_only_le),
	    cmocka_unit_test(test_floats_shortest_text_that_reads_back),
	    cmocka_unit_test(test_bound_reached_fails_and_stops_growing),
	    cmocka_unit_test(test_long_value_grows_the_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
