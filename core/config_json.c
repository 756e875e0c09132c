/* core/config_json.c: the --config file, a JSON object whose keys are the long flag names.
 *
 * Owns: reading the file, the JSON syntax error (line and column), the walk over the top-level
 * keys (unknown and repeated keys are errors), and turning each JSON value into the string its
 * flag would take, so that config__set (config_opts.c) validates file and flags alike. The
 * "routes" key is handed to config__routes_json (config_routes.c). Main thread only.
 *
 * Rejected: a schema-driven walk (typed fields in the option table). Every value already has
 * a string form for the command line; mapping JSON to that one form keeps one validator per
 * setting, where a typed walk would have needed a second one per type. */
#include "core/config.h"

#include <stdlib.h>
#include <string.h>

#include "core/config_int.h"

/* A JSON scalar as the string the flag would take: strings as is, integral non-negative
 * numbers in decimal, booleans only for bool_ok ("true"/"false"). */
const char *config__json_str(const cJSON *j, char *buf, size_t cap, bool bool_ok)
{
	if (cJSON_IsString(j))
		return j->valuestring;
	if (cJSON_IsNumber(j)) {
		double d = j->valuedouble;
		if (d >= 0 && d <= 9007199254740992.0 && (double)(unsigned long long)d == d) {
			snprintf(buf, cap, "%llu", (unsigned long long)d);
			return buf;
		}
		snprintf(buf, cap, "%g", d); /* fails the value's own check, and names it */
		return buf;
	}
	if (bool_ok && cJSON_IsBool(j))
		return cJSON_IsTrue(j) ? "true" : "false";
	return NULL;
}

const char *config__json_type(const cJSON *j)
{
	if (cJSON_IsNull(j))
		return "null";
	if (cJSON_IsBool(j))
		return "a boolean";
	if (cJSON_IsNumber(j))
		return "a number";
	if (cJSON_IsString(j))
		return "a string";
	if (cJSON_IsArray(j))
		return "an array";
	return "an object";
}

void config__json_pos(const char *buf, size_t len, const char *end, unsigned *line, unsigned *col)
{
	if (end == NULL || end < buf || end > buf + len)
		end = buf + len;
	*line = 1;
	*col = 1;
	for (const char *p = buf; p < end; p++) {
		if (*p == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

static int cfg_json_apply(struct cfg_parse *ps, const cJSON *root)
{
	char why[768], num[64];
	const cJSON *m;

	if (!cJSON_IsObject(root)) {
		char fq[512];
		config__errf(ps->err, ps->err_len, "wsgate: %s: expected a JSON object, got %s",
		             config__q(fq, sizeof(fq), ps->file), config__json_type(root));
		return -1;
	}
	cJSON_ArrayForEach(m, root)
	{
		const char *k = m->string ? m->string : "";
		for (const cJSON *p = root->child; p != m; p = p->next) {
			if (p->string != NULL && strcmp(p->string, k) == 0) {
				config__fail_key(ps, k, "given twice");
				return -1;
			}
		}
		if (strcmp(k, "routes") == 0) {
			char key[160];
			config__list_clear(ps, CFG_O_ROUTE);
			if (config__routes_json(m, &ps->cfg->routes, &ps->cfg->n_routes, key,
			                        sizeof(key), why, sizeof(why)) != 0) {
				config__fail_key(ps, key, why);
				return -1;
			}
			continue;
		}
		int id = config__find_opt(k, true);
		if (id < 0 || id == CFG_O_ROUTE) {
			config__fail_key(ps, k, "unknown key");
			return -1;
		}
		const struct cfg_opt_def *o = &config__opts[id];
		if (o->kind == CFG_K_FLAG) {
			if (!cJSON_IsBool(m)) {
				config__errf(why, sizeof(why), "expected true or false, got %s",
				             config__json_type(m));
				config__fail_key(ps, k, why);
				return -1;
			}
			if (id == CFG_O_TRUST_FORWARDED)
				ps->cfg->trust_forwarded = cJSON_IsTrue(m);
			else if (id == CFG_O_ADMIN_REUSE_PORT)
				ps->cfg->admin_reuse_port = cJSON_IsTrue(m);
			continue;
		}
		if (o->kind == CFG_K_LIST) {
			config__list_clear(ps, (enum cfg_opt)id);
			if (id == CFG_O_LISTEN)
				ps->listen_set = true;
			if (cJSON_IsArray(m)) {
				const cJSON *e;
				unsigned i = 0;
				cJSON_ArrayForEach(e, m)
				{
					char ek[160];
					const char *v =
					    config__json_str(e, num, sizeof(num), false);
					snprintf(ek, sizeof(ek), "%s[%u]", k, i++);
					if (v == NULL) {
						config__errf(why, sizeof(why),
						             "expected a string, got %s",
						             config__json_type(e));
						config__fail_key(ps, ek, why);
						return -1;
					}
					if (config__set(ps, (enum cfg_opt)id, v, why,
					                sizeof(why)) != 0) {
						config__fail_key(ps, ek, why);
						return -1;
					}
				}
				continue;
			}
		}
		const char *v = config__json_str(m, num, sizeof(num), false);
		if (v == NULL) {
			config__errf(why, sizeof(why), "expected %s, got %s",
			             o->kind == CFG_K_LIST ? "a string or an array of strings"
			                                   : "a string or a number",
			             config__json_type(m));
			config__fail_key(ps, k, why);
			return -1;
		}
		if (config__set(ps, (enum cfg_opt)id, v, why, sizeof(why)) != 0) {
			config__fail_key(ps, k, why);
			return -1;
		}
	}
	return 0;
}

int config__load_file(struct cfg_parse *ps, const char *path)
{
	char fq[512];
	const char *reason, *end = NULL;
	size_t len;
	char *buf = config__read_file(path, &len, &reason);
	int rc;

	if (buf == NULL) {
		config__errf(ps->err, ps->err_len, "wsgate: --config \"%s\": cannot read: %s",
		             config__q(fq, sizeof(fq), path), reason);
		return -1;
	}
	cJSON *root = cJSON_ParseWithLengthOpts(buf, len + 1, &end, true);
	if (root == NULL) {
		unsigned line, col;
		config__json_pos(buf, len, end, &line, &col);
		config__errf(ps->err, ps->err_len, "wsgate: %s: invalid JSON at line %u, column %u",
		             config__q(fq, sizeof(fq), path), line, col);
		free(buf);
		return -1;
	}
	ps->file = path;
	rc = cfg_json_apply(ps, root);
	ps->file = NULL;
	cJSON_Delete(root);
	free(buf);
	return rc;
}
