/* wsgate: parse and check the configuration, then run the gateway (core/gateway.c).
 * Exit status (SPEC.md): 0 clean, 2 bad usage or config (one line on stderr), 1 runtime. */
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/gateway.h"
#include "core/log.h"

/* Settings the configuration accepts (they are in SPEC.md) but this build cannot enforce
 * yet are refused at start with exit 2 and one line, like any other bad setting. */
static int main_refuse(char *err, size_t err_len, const char *what, const char *feature)
{
	snprintf(err, err_len, "wsgate: %s: %s is not supported yet by this build", what, feature);
	return -1;
}

static int main_check_supported(const struct wsg_config *cfg, char *err, size_t err_len)
{
	/* A security setting that is accepted but not enforced would be worse than an error:
	 * an operator who asks for origin checks or tokens must not silently get none. */
	if (cfg->n_tls_listen > 0 || cfg->n_tls_pairs > 0)
		return main_refuse(err, err_len, "--tls-listen", "TLS termination");
	if (cfg->jwt_secret != NULL)
		return main_refuse(err, err_len,
		                   cfg->jwt_secret_file ? "--jwt-secret-file" : "--jwt-secret",
		                   "token authentication");
	if (cfg->jwt_public_key != NULL)
		return main_refuse(err, err_len, "--jwt-public-key", "token authentication");
	if (cfg->jwt_issuer != NULL || cfg->jwt_audience != NULL)
		return main_refuse(err, err_len,
		                   cfg->jwt_issuer ? "--jwt-issuer" : "--jwt-audience",
		                   "token authentication");
	if (cfg->auth == CFG_AUTH_REQUIRED || cfg->auth == CFG_AUTH_OPTIONAL)
		return main_refuse(err, err_len, "--auth", "token authentication");
	for (unsigned i = 0; i < cfg->n_allow_origin; i++)
		if (strcmp(cfg->allow_origin[i], "*") != 0)
			return main_refuse(err, err_len, "--allow-origin", "the Origin allowlist");
	if (cfg->max_conns_per_ip > 0)
		return main_refuse(err, err_len, "--max-conns-per-ip", "a per-IP limit");
	if (cfg->conn_rate.per_sec > 0)
		return main_refuse(err, err_len, "--conn-rate", "connection rate limiting");
	if (cfg->msg_rate.per_sec > 0)
		return main_refuse(err, err_len, "--msg-rate", "message rate limiting");
	if (cfg->lb != RT_LB_ROUND_ROBIN)
		return main_refuse(err, err_len, "--lb",
		                   "a balancing policy other than round-robin");
	if (cfg->access_log != NULL && strcmp(cfg->access_log, "off") != 0)
		return main_refuse(err, err_len, "--access-log", "the access log");
	if (cfg->health_path != NULL)
		return main_refuse(err, err_len, "--health-path", "active health checks");
	for (unsigned i = 0; i < cfg->n_routes; i++) {
		const struct rt_route_def *r = &cfg->routes[i];
		char what[300];
		snprintf(what, sizeof(what), "--route \"%s\"", r->path);
		if (r->has_lb && r->lb != RT_LB_ROUND_ROBIN)
			return main_refuse(err, err_len, what, "lb= other than round-robin");
		if (r->auth == RT_AUTH_REQUIRED || r->auth == RT_AUTH_OPTIONAL)
			return main_refuse(err, err_len, what, "auth=");
		if (r->n_origins > 0)
			return main_refuse(err, err_len, what, "origin=");
		if (r->msg_rate > 0)
			return main_refuse(err, err_len, what, "msg-rate=");
		for (unsigned j = 0; j < r->n_backends; j++)
			if (r->backends[j].tls)
				return main_refuse(err, err_len, what,
				                   "a wss:// backend (no TLS client yet)");
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct wsg_config cfg;
	char err[512];
	memset(&cfg, 0, sizeof(cfg));
	switch (config_parse_args(&cfg, argc, argv, stdout, err, sizeof(err))) {
	case CFG_RC_EXIT:
		config_fini(&cfg);
		return 0;
	case CFG_RC_USAGE:
		fprintf(stderr, "%s\n", err);
		config_fini(&cfg);
		return 2;
	case CFG_RC_OK:
		break;
	}
	if (main_check_supported(&cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		config_fini(&cfg);
		return 2;
	}
	if (cfg.check_config) {
		int rc = config_print_json(&cfg, stdout);
		config_fini(&cfg);
		return rc == 0 ? 0 : 1;
	}
	log_init(cfg.log_level, cfg.log_format);
	if (cfg.n_routes == 0)
		LOG_WARN("no_routes", "why=\"every upgrade will be answered 404\"");
	int status = gateway_run(&cfg, GW_MODE_PROXY, "wsgate");
	config_fini(&cfg);
	return status;
}
