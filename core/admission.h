#ifndef WSG_CORE_ADMISSION_H
#define WSG_CORE_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>

/* The gateway's side of access control: the per-table data auth/ needs (each route's Origin
 * allowlist, built by the control thread with the table and freed with it) and the checks
 * the handshake runs on a parsed request, in SPEC.md's order. */

struct wsg_config;
struct rt_table;
struct rt_route;
struct http_request;

/* Builds the origin lists of t's routes (a route's origin= entries, else --allow-origin) and
 * attaches them to t (rt_table_set_ext). 0, or -1 with one line in err naming the bad
 * entry. Control thread, before t is published. */
int admission_attach(struct rt_table *t, const struct wsg_config *cfg, char *err, size_t err_len);

/* The same lists built from cfg and dropped, for wsgate's start and --check-config: 0, or
 * -1 with one line in err (exit 2). */
int admission_check_config(const struct wsg_config *cfg, char *err, size_t err_len);

struct worker;
struct conn;

/* --max-conns-per-ip and --conn-rate for a client conn whose head is complete: HTTP_REJ_NONE
 * (admitted: c->ip_ref counts it until admission_release), HTTP_REJ_RATE_LIMITED with
 * *retry_after_s, or HTTP_REJ_OVERLOADED (the table is full of live entries). A no-op
 * admission when neither limit is set. */
int admission_limits(struct worker *w, struct conn *c, unsigned *retry_after_s);
/* The conn is going away: its per-IP count is given back (once; a no-op otherwise). */
void admission_release(struct worker *w, struct conn *c);

/* SPEC.md: a request without Origin passes (not a browser); otherwise the route's list (or
 * the global one) decides; no list at all allows every origin. */
bool admission_origin_allowed(const struct rt_table *t, const struct rt_route *r,
                              const struct http_request *req);

#endif
