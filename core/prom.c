/* core/prom.c: the Prometheus text exposition format 0.0.4 (see prom.h).
 *
 * Owns: one growable text buffer per scrape and the format's rules: a family is "# HELP"
 * then "# TYPE" then its samples; label values escape backslash, double quote and newline,
 * HELP text backslash and newline; histogram buckets are cumulative, end with le="+Inf", and
 * _count equals that last bucket. Numbers: integers as decimal, floats in the shortest text
 * that reads back as the same double, so a bound of 0.0005 is written "0.0005" and not
 * "0.00050000000000000001".
 *
 * Bounded: the buffer doubles up to prom_init's max and then fails (b->failed, every later
 * write a no-op), so a registry with thousands of routes cannot make one scrape take
 * unbounded memory; the caller answers 500 then. Runs on the control thread (it mallocs);
 * the values it is given are plain numbers summed beforehand, never live counters.
 *
 * Rejected: writing straight into the admin client's socket as the text is produced (a slow
 * scraper would hold the sum half-written; the answer needs its Content-Length first
 * anyway); a fixed-size buffer (the text grows with configured routes and backends);
 * libprom / prometheus-client-c (threads, a registry of its own, a dependency for ~200 lines
 * of formatting). */
#include "core/prom.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROM_FIRST_CAP 4096u

void prom_init(struct prom_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void prom_fini(struct prom_buf *b)
{
	free(b->p);
	size_t max = b->max;
	prom_init(b, max);
}

/* Room for n more bytes plus the NUL; false (and failed) when that would pass max. */
static bool prom_reserve(struct prom_buf *b, size_t n)
{
	if (b->failed)
		return false;
	size_t need = b->len + n + 1;
	if (need <= b->cap)
		return true;
	if (need > b->max) {
		b->failed = true;
		return false;
	}
	size_t cap = b->cap ? b->cap : PROM_FIRST_CAP;
	while (cap < need)
		cap *= 2;
	if (cap > b->max)
		cap = b->max;
	char *p = realloc(b->p, cap);
	if (p == NULL) {
		b->failed = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

static void prom_put(struct prom_buf *b, const char *s, size_t n)
{
	if (!prom_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void prom_puts(struct prom_buf *b, const char *s)
{
	prom_put(b, s, strlen(s));
}

void prom_put_escaped(struct prom_buf *b, const char *s, bool quote)
{
	/* Runs of plain bytes are copied at once; only the three specials are expanded. */
	const char *run = s;
	for (; *s != '\0'; s++) {
		const char *esc = NULL;
		if (*s == '\\')
			esc = "\\\\";
		else if (*s == '\n')
			esc = "\\n";
		else if (*s == '"' && quote)
			esc = "\\\"";
		if (esc == NULL)
			continue;
		prom_put(b, run, (size_t)(s - run));
		prom_put(b, esc, 2);
		run = s + 1;
	}
	prom_put(b, run, (size_t)(s - run));
}

const char *prom_format_f64(char *buf, size_t cap, double v)
{
	if (isnan(v)) {
		snprintf(buf, cap, "NaN");
		return buf;
	}
	if (isinf(v)) {
		snprintf(buf, cap, v > 0 ? "+Inf" : "-Inf");
		return buf;
	}
	/* Whole numbers as integers ("10", "16777216", not "1e+01"): what client libraries
	 * print, and what a reader of le= expects. */
	if (v > -9007199254740992.0 && v < 9007199254740992.0 && (double)(long long)v == v) {
		snprintf(buf, cap, "%.0f", v);
		return buf;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, cap, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return buf;
}

void prom_family(struct prom_buf *b, const char *name, const char *type, const char *help)
{
	prom_puts(b, "# HELP ");
	prom_puts(b, name);
	prom_put(b, " ", 1);
	prom_put_escaped(b, help, false);
	prom_puts(b, "\n# TYPE ");
	prom_puts(b, name);
	prom_put(b, " ", 1);
	prom_puts(b, type);
	prom_put(b, "\n", 1);
}

/* name{a="x",b="y"} with an optional last label (le) given apart, so histogram lines need
 * no copy of the caller's labels. Writes no braces when there are no labels at all. */
static void prom_series(struct prom_buf *b, const char *name, const char *suffix,
                        const struct prom_label *labels, unsigned n, const char *le)
{
	prom_puts(b, name);
	if (suffix != NULL)
		prom_puts(b, suffix);
	if (n == 0 && le == NULL)
		return;
	prom_put(b, "{", 1);
	for (unsigned i = 0; i < n; i++) {
		if (i > 0)
			prom_put(b, ",", 1);
		prom_puts(b, labels[i].name);
		prom_put(b, "=\"", 2);
		prom_put_escaped(b, labels[i].value, true);
		prom_put(b, "\"", 1);
	}
	if (le != NULL) {
		if (n > 0)
			prom_put(b, ",", 1);
		prom_puts(b, "le=\"");
		prom_puts(b, le);
		prom_put(b, "\"", 1);
	}
	prom_put(b, "}", 1);
}

static void prom_value_u64(struct prom_buf *b, uint64_t v)
{
	char num[32];
	int k = snprintf(num, sizeof(num), " %llu\n", (unsigned long long)v);
	prom_put(b, num, (size_t)k);
}

static void prom_value_f64(struct prom_buf *b, double v)
{
	char num[40];
	prom_put(b, " ", 1);
	prom_puts(b, prom_format_f64(num, sizeof(num), v));
	prom_put(b, "\n", 1);
}

void prom_sample_u64(struct prom_buf *b, const char *name, const struct prom_label *labels,
                     unsigned n, uint64_t v)
{
	prom_series(b, name, NULL, labels, n, NULL);
	prom_value_u64(b, v);
}

void prom_sample_f64(struct prom_buf *b, const char *name, const struct prom_label *labels,
                     unsigned n, double v)
{
	prom_series(b, name, NULL, labels, n, NULL);
	prom_value_f64(b, v);
}

void prom_histogram(struct prom_buf *b, const char *name, const struct prom_label *labels,
                    unsigned n, const double *bounds, unsigned n_bounds, const uint64_t *counts,
                    double sum)
{
	uint64_t cum = 0;
	char le[40];
	for (unsigned i = 0; i < n_bounds; i++) {
		cum += counts[i];
		prom_series(b, name, "_bucket", labels, n,
		            prom_format_f64(le, sizeof(le), bounds[i]));
		prom_value_u64(b, cum);
	}
	cum += counts[n_bounds];
	prom_series(b, name, "_bucket", labels, n, "+Inf");
	prom_value_u64(b, cum);
	prom_series(b, name, "_sum", labels, n, NULL);
	prom_value_f64(b, sum);
	prom_series(b, name, "_count", labels, n, NULL);
	prom_value_u64(b, cum);
}
