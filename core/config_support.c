/* Which settings this build can enforce.
 *
 * Every setting of SPEC.md is parsed and validated by config.c, but some features behind them
 * are not built yet (the access log). A setting that is accepted but not enforced would be
 * worse than an error: an operator who asks for a feature must not silently get none. So they are
 * refused, at start (exit 2, one line naming the flag) and on SIGHUP (the reload is rejected), like
 * any other bad setting. This file shrinks as the features land. */
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
	/* A setting that is accepted but not enforced would be worse than an error: an
	 * operator who asks for a feature must not silently get none. */
	if (cfg->access_log != NULL && strcmp(cfg->access_log, "off") != 0)
		return config_refuse(err, err_len, "--access-log", "the access log");
	return 0;
}
