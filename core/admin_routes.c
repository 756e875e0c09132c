/* core/admin_routes.c: GET /routes and PUT /routes (SPEC.md "Admin API").
 *
 * Owns: printing the live route table in the config file's "routes" shape, and replacing it
 * from a body of that shape. Control thread only: the one thread that builds, publishes and
 * reclaims tables, so reading the current one (rt_acquire) cannot race its free.
 *
 * PUT goes through exactly what SIGHUP goes through: config_parse_routes_json (the file's
 * own parser, backends resolved), config_check_enforceable (a route key this build does not
 * enforce is refused, as at start), gateway_table_new (TLS client contexts, admission data,
 * counter slots) and rt_publish. Any failure is a 400 with that one line, and the live table
 * is untouched; success is atomic for new connections, and open tunnels keep the table they
 * hold (rt_table_hold), so open connections are untouched either way. A table put here is
 * replaced by the next SIGHUP with --config (the file stays the source of truth on reload).
 *
 * GET prints from the published table, not from the definitions it was built from: that is
 * what the workers route by (after a PUT or a SIGHUP the start's definitions are stale).
 * Every route key is printed in the form the parser reads back, so a GET's body is a valid
 * PUT; "lb" is always printed (the table knows the policy, not whether it was the default),
 * and "resolved" carries the addresses in use, as --check-config prints them.
 *
 * Rejected: a second parser for the body (config_routes.c explains why there is one); a
 * partial update (PATCH of one route): the spec's call replaces the whole table, and a
 * read-modify-write by the operator with GET then PUT is explicit about what it replaces.
 * Resolution of backend names blocks the control thread like a SIGHUP does (getaddrinfo):
 * IP literals or names in /etc/hosts keep it short; a resolver thread is left for later. */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>

#include "core/admin_api_int.h"
#include "core/cluster.h"
#include "core/config.h"
#include "core/gateway.h"
#include "core/log.h"
#include "router/rt.h"

static void admin_fmt_addr(char *buf, size_t cap, const struct rt_backend *b)
{
	char host[NI_MAXHOST], port[NI_MAXSERV];
	buf[0] = '\0';
	if (b->addr_len == 0 ||
	    getnameinfo((const struct sockaddr *)&b->addr, b->addr_len, host, sizeof(host), port,
	                sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return;
	snprintf(buf, cap, b->addr.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

static bool admin_route_json(cJSON *arr, const struct rt_route *r)
{
	static const char *const auth[] = {"", "required", "optional", "off"};
	char buf[320];
	cJSON *o = cJSON_CreateObject();
	if (o == NULL || !cJSON_AddItemToArray(arr, o))
		return false;
	bool ok = cJSON_AddStringToObject(o, "path", r->path) != NULL;
	cJSON *bs = ok ? cJSON_AddArrayToObject(o, "backends") : NULL;
	cJSON *rs = bs != NULL ? cJSON_AddArrayToObject(o, "resolved") : NULL;
	ok = rs != NULL;
	for (unsigned i = 0; ok && i < r->n_backends; i++) {
		const struct rt_backend *b = &r->backends[i];
		/* A weighted backend prints as the object form, which reads back. */
		cJSON *e = b->weight > 1 ? cJSON_CreateObject() : cJSON_CreateString(b->url);
		ok = e != NULL && cJSON_AddItemToArray(bs, e);
		if (ok && b->weight > 1)
			ok = cJSON_AddStringToObject(e, "url", b->url) != NULL &&
			     cJSON_AddNumberToObject(e, "weight", b->weight) != NULL;
		admin_fmt_addr(buf, sizeof(buf), b);
		cJSON *a = ok ? cJSON_CreateString(buf) : NULL;
		ok = a != NULL && cJSON_AddItemToArray(rs, a);
	}
	ok = ok && cJSON_AddStringToObject(
	               o, "lb", rt_lb_name(r->lb, r->lb_header, buf, sizeof(buf))) != NULL;
	if (ok && r->auth != RT_AUTH_DEFAULT && (unsigned)r->auth < 4)
		ok = cJSON_AddStringToObject(o, "auth", auth[r->auth]) != NULL;
	if (ok && r->n_origins > 0) {
		cJSON *os = cJSON_AddArrayToObject(o, "origin");
		ok = os != NULL;
		for (unsigned i = 0; ok && i < r->n_origins; i++) {
			cJSON *e = cJSON_CreateString(r->origins[i]);
			ok = e != NULL && cJSON_AddItemToArray(os, e);
		}
	}
	if (ok && r->max_message != 0)
		ok = cJSON_AddNumberToObject(o, "max-message", (double)r->max_message) != NULL;
	if (ok && r->msg_rate != 0) {
		snprintf(buf, sizeof(buf), "%u/%u", r->msg_rate, r->msg_burst);
		ok = cJSON_AddStringToObject(o, "msg-rate", buf) != NULL;
	}
	ok = ok && cJSON_AddBoolToObject(o, "strip-prefix", r->strip_prefix) != NULL;
	if (ok && r->tls_no_verify)
		ok = cJSON_AddBoolToObject(o, "tls-verify", false) != NULL;
	if (ok && r->forward_token)
		ok = cJSON_AddBoolToObject(o, "forward-token", true) != NULL;
	if (ok && r->subprotocol != NULL)
		ok = cJSON_AddStringToObject(o, "subprotocol", r->subprotocol) != NULL;
	return ok;
}

/* {"routes": [...]} of t, with a final newline; NULL when out of memory. */
static char *admin_routes_text(const struct rt_table *t)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *arr = root != NULL ? cJSON_AddArrayToObject(root, "routes") : NULL;
	bool ok = arr != NULL;
	unsigned n = t != NULL ? rt_table_route_count(t) : 0;
	for (unsigned i = 0; ok && i < n; i++)
		ok = admin_route_json(arr, rt_table_route(t, i));
	char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
	cJSON_Delete(root);
	if (text == NULL)
		return NULL;
	size_t len = strlen(text);
	char *out = malloc(len + 2);
	if (out != NULL) {
		memcpy(out, text, len);
		memcpy(out + len, "\n", 2);
	}
	cJSON_free(text);
	return out;
}

static void admin_routes_answer(struct admin *a, struct admin_conn *ac, const struct rt_table *t)
{
	char *text = admin_routes_text(t);
	if (text == NULL) {
		admin__answer_error(a, ac, 503, "out of memory");
		return;
	}
	admin__answer(a, ac, 200, text);
	free(text);
}

void admin__routes_get(struct admin *a, struct admin_conn *ac)
{
	admin_routes_answer(a, ac, rt_acquire());
}

void admin__routes_put(struct admin *a, struct admin_conn *ac, const char *body, size_t len)
{
	struct gateway *gw = admin__gw(a);
	struct rt_route_def *defs = NULL;
	unsigned n = 0;
	char err[768];
	if (config_parse_routes_json(body, len, &defs, &n, err, sizeof(err)) != 0) {
		admin__answer_error(a, ac, 400, err);
		return;
	}
	/* What a start or a SIGHUP would refuse (a route key this build does not enforce),
	 * checked on the gateway's settings with these routes in place of its own. */
	struct wsg_config view = *gw->cfg;
	view.routes = defs;
	view.n_routes = n;
	struct rt_table *t = NULL;
	if (config_check_enforceable(&view, err, sizeof(err)) == 0)
		t = gateway_table_new(gw, defs, n, err, sizeof(err));
	config_routes_free(defs, n);
	if (t == NULL) {
		/* The reason quotes the body: it goes to the caller, not to the log. */
		LOG_INFO("routes_put_refused", "routes=%u", n);
		admin__answer_error(a, ac, 400, err);
		return;
	}
	rt_publish(t);
	LOG_INFO("routes_put", "routes=%u", n);
	/* In a cluster every node takes it too (a new version in Redis, announced); with the
	 * engine down it holds here only, and the log says so. */
	if (gw->cluster != NULL && cluster_routes_publish(gw->cluster, body, len) != 0)
		LOG_WARN("cluster_routes_local_only", "why=\"engine down\"");
	admin_routes_answer(a, ac, t);
}
