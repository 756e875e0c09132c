#include "bench/bench_report.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* Design note. Formatting only: every figure is computed once here from the merged stats and
 * histogram, so the human summary and the JSON object cannot disagree. Messages/s and MB/s
 * count echoes received inside the measured window (after the warm-up, before the end), and
 * MB is 10^6 bytes of echoed payload (one direction, frame headers excluded). Runs on the main
 * thread after every loop has been joined. */

const char *bench_report_fmt_ns(char *buf, size_t cap, uint64_t ns)
{
	if (ns < 1000000ull)
		snprintf(buf, cap, "%.1fus", (double)ns / 1e3);
	else if (ns < 1000000000ull)
		snprintf(buf, cap, "%.2fms", (double)ns / 1e6);
	else
		snprintf(buf, cap, "%.2fs", (double)ns / 1e9);
	return buf;
}

static const char *bench_report_mode(const struct bench_args *a)
{
	return a->idle ? "idle" : a->churn ? "churn" : a->rate > 0 ? "open" : "closed";
}

static double bench_report_per_s(uint64_t n, double s)
{
	return s > 0 ? (double)n / s : 0.0;
}

static void bench_report_codes(FILE *out, const struct bench_code_count *t, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (t[i].code == 0)
			fprintf(out, " other:%llu", (unsigned long long)t[i].count);
		else
			fprintf(out, " %u:%llu", t[i].code, (unsigned long long)t[i].count);
	}
}

void bench_report_print(FILE *out, const struct bench_result *res)
{
	const struct bench_args *a = res->args;
	const struct bench_stats *st = &res->st;
	char b[6][32];

	fprintf(out, "wsgate-bench %s%s%s%s\n", a->url.tls ? "wss://" : "ws://", a->url.authority,
	        a->url.path, res->interrupted ? " (interrupted)" : "");
	fprintf(out, "  %u connections, %u threads, %.2f s", a->conns, res->threads,
	        res->duration_s);
	if (a->warmup_ns)
		fprintf(out, " after %.2f s warm-up", (double)a->warmup_ns / 1e9);
	if (a->idle)
		fprintf(out, ", idle\n");
	else if (a->rate > 0)
		fprintf(out, ", open loop at %.0f msgs/s, %llu B %s\n", a->rate,
		        (unsigned long long)a->size, a->text ? "text" : "binary");
	else if (a->churn)
		fprintf(out, ", churn, %llu B %s\n", (unsigned long long)a->size,
		        a->text ? "text" : "binary");
	else
		fprintf(out, ", closed loop, pipeline %u, %llu B %s\n", a->pipeline,
		        (unsigned long long)a->size, a->text ? "text" : "binary");
	if (!a->idle) {
		fprintf(
		    out,
		    "  messages   %.0f msgs/s, %.2f MB/s echoed (%llu in the window; %llu sent, "
		    "%llu echoed in all)\n",
		    bench_report_per_s(st->win_msgs, res->duration_s),
		    bench_report_per_s(st->win_bytes, res->duration_s) / 1e6,
		    (unsigned long long)st->win_msgs, (unsigned long long)st->msgs_sent,
		    (unsigned long long)st->msgs_rcvd);
		const struct bench_hist *h = res->h;
		fprintf(out,
		        "  latency    p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (mean %s, %llu "
		        "timed)\n",
		        bench_report_fmt_ns(b[0], 32, bench_hist_percentile(h, 50)),
		        bench_report_fmt_ns(b[1], 32, bench_hist_percentile(h, 90)),
		        bench_report_fmt_ns(b[2], 32, bench_hist_percentile(h, 99)),
		        bench_report_fmt_ns(b[3], 32, bench_hist_percentile(h, 99.9)),
		        bench_report_fmt_ns(b[4], 32, bench_hist_max(h)),
		        bench_report_fmt_ns(b[5], 32, (uint64_t)bench_hist_mean(h)),
		        (unsigned long long)bench_hist_count(h));
		if (a->churn)
			fprintf(out,
			        "  churn      %.0f connections/s (upgrade, one message, close)\n",
			        bench_report_per_s(st->win_conns, res->duration_s));
		if (st->unanswered || st->bad_echoes)
			fprintf(out, "  lost       %llu never echoed, %llu echoes not as sent\n",
			        (unsigned long long)st->unanswered,
			        (unsigned long long)st->bad_echoes);
	}
	fprintf(out,
	        a->churn ? "  conns      %llu upgrades over %u connection slots;"
	                 : "  conns      %llu of %u opened; errors: %llu connect, %llu TLS, %llu "
	                   "handshake",
	        (unsigned long long)st->conns_opened, a->conns,
	        (unsigned long long)st->connect_errors, (unsigned long long)st->tls_errors,
	        (unsigned long long)st->handshake_errors);
	if (st->n_statuses) {
		fprintf(out, " (HTTP");
		bench_report_codes(out, st->statuses, st->n_statuses);
		fprintf(out, ")");
	}
	if (a->url.tls)
		fprintf(out, "\n  tls        %llu handshakes, %llu resumed",
		        (unsigned long long)st->tls_handshakes,
		        (unsigned long long)st->tls_resumed);
	fprintf(out, "\n  closes     %llu unexpected", (unsigned long long)st->unexpected_closes);
	if (st->n_close_codes) {
		fprintf(out, " (code:count");
		bench_report_codes(out, st->close_codes, st->n_close_codes);
		fprintf(out, ")");
	}
	fprintf(out, ", %llu protocol errors, %llu close timeouts\n",
	        (unsigned long long)st->proto_errors, (unsigned long long)st->close_timeouts);
}

static cJSON *bench_report_codes_json(const struct bench_code_count *t, unsigned n)
{
	cJSON *o = cJSON_CreateObject();
	for (unsigned i = 0; o && i < n; i++) {
		char k[16];
		if (t[i].code == 0)
			snprintf(k, sizeof(k), "other");
		else
			snprintf(k, sizeof(k), "%u", t[i].code);
		cJSON_AddNumberToObject(o, k, (double)t[i].count);
	}
	return o;
}

static double bench_report_us(uint64_t ns)
{
	return (double)ns / 1e3;
}

int bench_report_json(FILE *out, const struct bench_result *res)
{
	const struct bench_args *a = res->args;
	const struct bench_stats *st = &res->st;
	const struct bench_hist *h = res->h;
	char url[BENCH_HOST_MAX + BENCH_PATH_MAX + 32];
	int rc = -1;

	snprintf(url, sizeof(url), "%s%s%s", a->url.tls ? "wss://" : "ws://", a->url.authority,
	         a->url.path);
	cJSON *o = cJSON_CreateObject();
	if (o == NULL)
		return -1;
	cJSON_AddStringToObject(o, "url", url);
	cJSON_AddStringToObject(o, "mode", bench_report_mode(a));
	cJSON_AddNumberToObject(o, "connections", a->conns);
	cJSON_AddNumberToObject(o, "threads", res->threads);
	cJSON_AddNumberToObject(o, "duration_s", res->duration_s);
	cJSON_AddNumberToObject(o, "warmup_s", (double)a->warmup_ns / 1e9);
	cJSON_AddNumberToObject(o, "size", (double)a->size);
	cJSON_AddStringToObject(o, "payload", a->text ? "text" : "binary");
	cJSON_AddNumberToObject(o, "pipeline", a->rate > 0 || a->idle ? 0 : a->pipeline);
	cJSON_AddNumberToObject(o, "rate", a->rate);
	/* -H: the names only; values are often credentials (Authorization, Cookie). */
	cJSON *hn = cJSON_AddArrayToObject(o, "extra_headers");
	for (unsigned i = 0; hn != NULL && i < a->n_headers; i++) {
		char name[128];
		size_t n = strcspn(a->headers[i], ":");
		snprintf(name, sizeof(name), "%.*s", (int)(n < 127 ? n : 127), a->headers[i]);
		cJSON_AddItemToArray(hn, cJSON_CreateString(name));
	}
	cJSON_AddBoolToObject(o, "interrupted", res->interrupted);
	cJSON_AddBoolToObject(o, "completed", res->completed);

	cJSON *m = cJSON_AddObjectToObject(o, "messages");
	if (m != NULL) {
		cJSON_AddNumberToObject(m, "per_s",
		                        bench_report_per_s(st->win_msgs, res->duration_s));
		cJSON_AddNumberToObject(m, "received", (double)st->win_msgs);
		cJSON_AddNumberToObject(m, "sent", (double)st->win_sent);
		cJSON_AddNumberToObject(m, "received_total", (double)st->msgs_rcvd);
		cJSON_AddNumberToObject(m, "sent_total", (double)st->msgs_sent);
		cJSON_AddNumberToObject(m, "unanswered", (double)st->unanswered);
		cJSON_AddNumberToObject(m, "bad_echoes", (double)st->bad_echoes);
		cJSON_AddNumberToObject(m, "pings_answered", (double)st->pings);
	}
	cJSON *by = cJSON_AddObjectToObject(o, "bytes");
	if (by != NULL) {
		cJSON_AddNumberToObject(by, "received", (double)st->win_bytes);
		cJSON_AddNumberToObject(by, "mb_per_s",
		                        bench_report_per_s(st->win_bytes, res->duration_s) / 1e6);
	}
	cJSON *l = cJSON_AddObjectToObject(o, "latency_us");
	if (l != NULL) {
		cJSON_AddNumberToObject(l, "count", (double)bench_hist_count(h));
		cJSON_AddNumberToObject(l, "min", bench_report_us(bench_hist_min(h)));
		cJSON_AddNumberToObject(l, "mean", bench_hist_mean(h) / 1e3);
		cJSON_AddNumberToObject(l, "p50", bench_report_us(bench_hist_percentile(h, 50)));
		cJSON_AddNumberToObject(l, "p90", bench_report_us(bench_hist_percentile(h, 90)));
		cJSON_AddNumberToObject(l, "p99", bench_report_us(bench_hist_percentile(h, 99)));
		cJSON_AddNumberToObject(l, "p99_9",
		                        bench_report_us(bench_hist_percentile(h, 99.9)));
		cJSON_AddNumberToObject(l, "max", bench_report_us(bench_hist_max(h)));
		cJSON_AddNumberToObject(l, "clamped_below_1us",
		                        (double)bench_hist_clamped_below(h));
		cJSON_AddNumberToObject(l, "clamped_above_60s",
		                        (double)bench_hist_clamped_above(h));
	}
	cJSON *c = cJSON_AddObjectToObject(o, "conns");
	if (c != NULL) {
		cJSON_AddNumberToObject(c, "requested", a->conns);
		cJSON_AddNumberToObject(c, "opened", (double)st->conns_opened);
		cJSON_AddNumberToObject(c, "opened_in_window", (double)st->win_conns);
		cJSON_AddNumberToObject(c, "opened_per_s",
		                        bench_report_per_s(st->win_conns, res->duration_s));
		cJSON_AddNumberToObject(c, "failed", res->conns_failed);
		cJSON_AddNumberToObject(c, "connect_errors", (double)st->connect_errors);
		cJSON_AddNumberToObject(c, "tls_errors", (double)st->tls_errors);
		cJSON_AddNumberToObject(c, "tls_handshakes", (double)st->tls_handshakes);
		cJSON_AddNumberToObject(c, "tls_resumed", (double)st->tls_resumed);
		cJSON_AddNumberToObject(c, "handshake_errors", (double)st->handshake_errors);
		cJSON_AddItemToObject(c, "handshake_statuses",
		                      bench_report_codes_json(st->statuses, st->n_statuses));
		cJSON_AddNumberToObject(c, "unexpected_closes", (double)st->unexpected_closes);
		cJSON_AddItemToObject(c, "close_codes",
		                      bench_report_codes_json(st->close_codes, st->n_close_codes));
		cJSON_AddNumberToObject(c, "protocol_errors", (double)st->proto_errors);
		cJSON_AddNumberToObject(c, "close_timeouts", (double)st->close_timeouts);
	}
	char *s = cJSON_PrintUnformatted(o);
	if (s != NULL) {
		rc = fprintf(out, "%s\n", s) < 0 || fflush(out) != 0 ? -1 : 0;
		cJSON_free(s);
	}
	cJSON_Delete(o);
	return rc;
}
