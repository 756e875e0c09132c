/* Which settings this build can enforce.
 *
 * A setting that is accepted but not enforced would be worse than an error: an operator who
 * asks for origin checks must not silently get an open gateway. So a setting whose feature is
 * not built is refused, at start (exit 2, one line naming the flag: "wsgate: --x: ... is not
 * supported yet by this build") and on SIGHUP (the reload is rejected), like any other bad
 * setting. Every setting the parser accepts today is enforced (the cluster's flags too, since
 * core/cluster.c), so nothing is refused here. The hook stays: the start, SIGHUP and /stats's
 * feature list call it, and a feature that is parsed before it is built gets its refusal here. */
#include "core/config.h"

int config_check_enforceable(const struct wsg_config *cfg, char *err, size_t err_len)
{
	(void)cfg;
	(void)err;
	(void)err_len;
	return 0;
}
