/* Which settings this build can enforce.
 *
 * Every setting of SPEC.md is parsed and validated by config.c, but some features behind them
 * are not built yet (tokens, origin checks, rate limits, ...). A security setting that is
 * accepted but not enforced would be worse than an error: an operator who asks for origin
 * checks must not silently get an open gateway. So they are refused, at start (exit 2, one
 * line naming the flag) and on SIGHUP (the reload is rejected), like any other bad setting.
 * This file shrinks as the features land. */
#include "core/config.h"

#include <stdio.h>
#include <string.h>

static int config_refuse(char *err, size_t err_len, const char *what, const char *feature)
{
	snprintf(err, err_len, "wsgate: %s: %s is not supported yet by this build", what, feature);
	return -1;
}

int config_check_enforceable(const struct wsg_config *cfg, char *err, size_t err_len)
{
	/* A security setting that is accepted but not enforced would be worse than an error:
	 * an operator who asks for origin checks or tokens must not silently get none. */
	if (cfg->jwt_secret != NULL)
		return config_refuse(err, err_len,
		                     cfg->jwt_secret_file ? "--jwt-secret-file" : "--jwt-secret",
		                     "token authentication");
	if (cfg->jwt_public_key != NULL)
		return config_refuse(err, err_len, "--jwt-public-key", "token authentication");
	if (cfg->jwt_issuer != NULL || cfg->jwt_audience != NULL)
		return config_refuse(err, err_len,
		                     cfg->jwt_issuer ? "--jwt-issuer" : "--jwt-audience",
		                     "token authentication");
	if (cfg->auth == CFG_AUTH_REQUIRED || cfg->auth == CFG_AUTH_OPTIONAL)
		return config_refuse(err, err_len, "--auth", "token authentication");
	if (cfg->access_log != NULL && strcmp(cfg->access_log, "off") != 0)
		return config_refuse(err, err_len, "--access-log", "the access log");
	for (unsigned i = 0; i < cfg->n_routes; i++) {
		const struct rt_route_def *r = &cfg->routes[i];
		char what[300];
		snprintf(what, sizeof(what), "--route \"%s\"", r->path);
		if (r->auth == RT_AUTH_REQUIRED || r->auth == RT_AUTH_OPTIONAL)
			return config_refuse(err, err_len, what, "auth=");
	}
	return 0;
}
