#ifndef WSG_CORE_PROM_H
#define WSG_CORE_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A writer of the Prometheus text exposition format 0.0.4 into a growable buffer with a hard
 * size bound: family headers (# HELP, # TYPE), counter and gauge samples with escaped labels,
 * and histograms (cumulative _bucket{le=...} through +Inf, _sum, _count) from non-cumulative
 * bucket counts. It knows nothing of wsgate's metrics; the admin code (admin_metrics.c)
 * drives it. Control thread only: it allocates. */

struct prom_buf {
	char *p;     /* the text so far (NUL-terminated while not failed); NULL until first write */
	size_t len;  /* bytes in p, without the NUL */
	size_t cap;  /* allocated bytes */
	size_t max;  /* never grows past this many bytes */
	bool failed; /* out of memory or over max: later writes are no-ops */
};

struct prom_label {
	const char *name;  /* a valid label name (ours: a literal) */
	const char *value; /* any bytes up to the NUL; escaped on output */
};

/* An empty buffer that will never hold more than max bytes. */
void prom_init(struct prom_buf *b, size_t max);
/* Frees the text; b is empty again (prom_init's max kept). */
void prom_fini(struct prom_buf *b);

/* "# HELP name help\n# TYPE name type\n": once per family, before its samples. type is
 * "counter", "gauge" or "histogram"; help is escaped (backslash, newline). */
void prom_family(struct prom_buf *b, const char *name, const char *type, const char *help);
/* One sample line: name{labels} value. n may be 0 (labels is then not read). */
void prom_sample_u64(struct prom_buf *b, const char *name, const struct prom_label *labels,
                     unsigned n, uint64_t v);
void prom_sample_f64(struct prom_buf *b, const char *name, const struct prom_label *labels,
                     unsigned n, double v);
/* One histogram series: for each of the n_bounds upper bounds (ascending) a cumulative
 * name_bucket{labels,le="bound"}, then le="+Inf", name_sum (sum) and name_count. counts has
 * n_bounds + 1 entries, each the observations that fell in that bucket alone (the last one:
 * above every bound), so _count equals the +Inf bucket by construction. */
void prom_histogram(struct prom_buf *b, const char *name, const struct prom_label *labels,
                    unsigned n, const double *bounds, unsigned n_bounds, const uint64_t *counts,
                    double sum);

/* Appends a label value escaped as the format wants (\\, \", \n); exposed for tests. */
void prom_put_escaped(struct prom_buf *b, const char *s, bool quote);
/* Text that reads back as v: whole numbers below 2^53 as integers, others in the shortest
 * %.{1..17}g; "+Inf", "-Inf", "NaN". Into buf (cap >= 32); returns buf. */
const char *prom_format_f64(char *buf, size_t cap, double v);

#endif
