/* wsgate: parse and check the configuration, then run the gateway (core/gateway.c).
 * Exit status (SPEC.md): 0 clean, 2 bad usage or config (one line on stderr), 1 runtime. */
#include <stdio.h>
#include <string.h>

#include "core/access_log.h"
#include "core/admission.h"
#include "core/admission_token.h"
#include "core/config.h"
#include "core/conn_tls.h"
#include "core/gateway.h"
#include "core/handshake.h"
#include "core/log.h"
#include "core/tunnel.h"
#include "core/tunnel_admin.h"
#include "tls/tls.h"

static const struct gateway_app wsgate_app = {
    .prog = "wsgate",
    .on_accept = handshake_on_accept,
    .on_drain = handshake_drain,
    .on_cmd = tunnel_admin_on_cmd,
    .fds_per_client = 2,
    .owner_size = sizeof(struct tunnel),
    .handshake_size = sizeof(struct tunnel_dial),
    .routes = true,
    .admin = true,
    .drain_log = true,
};

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
	if (config_check_enforceable(&cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		config_fini(&cfg);
		return 2;
	}
	/* The certificate and key files: readable, parseable, each key matching its
	 * certificate (exit 2 with one line naming the file otherwise). */
	bool tls_failed;
	tls_ctx_free(conn_tls_server_ctx_new(&cfg, &tls_failed, err, sizeof(err)));
	if (tls_failed) {
		fprintf(stderr, "%s\n", err);
		config_fini(&cfg);
		return 2;
	}
	if (admission_check_config(&cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		config_fini(&cfg);
		return 2;
	}
	/* The JWT keys: every file read and parsed now, so that --check-config and a start
	 * fail with one line naming the bad one (the gateway builds its own set again). */
	bool auth_failed;
	admission_auth_free(admission_auth_new(&cfg, &auth_failed, err, sizeof(err)));
	if (auth_failed) {
		fprintf(stderr, "%s\n", err);
		config_fini(&cfg);
		return 2;
	}
	/* The CA bundle wss:// backends are verified against, when one is named or needed. */
	bool wss = cfg.backend_ca != NULL;
	for (unsigned i = 0; i < cfg.n_routes && !wss; i++)
		for (unsigned j = 0; j < cfg.routes[i].n_backends; j++)
			wss =
			    wss || (cfg.routes[i].backends[j].tls && !cfg.routes[i].tls_no_verify);
	if (wss) {
		char why[400];
		struct tls_ctx *c = tls_client_ctx_new(cfg.backend_ca, true, why, sizeof(why));
		if (c == NULL) {
			fprintf(stderr, "wsgate: %s: %s\n",
			        cfg.backend_ca ? "--backend-ca" : "wss://", why);
			config_fini(&cfg);
			return 2;
		}
		tls_ctx_free(c);
	}
	if (cfg.check_config) {
		int rc = config_print_json(&cfg, stdout);
		config_fini(&cfg);
		return rc == 0 ? 0 : 1;
	}
	log_init(cfg.log_level, cfg.log_format);
	if (cfg.access_log != NULL && strcmp(cfg.access_log, "off") != 0 &&
	    access_log_open(cfg.access_log, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		config_fini(&cfg);
		return 2;
	}
	if (cfg.n_tls_pairs > 0 && cfg.n_tls_listen == 0)
		LOG_WARN("tls_cert_unused", "why=\"--tls-cert/--tls-key without --tls-listen\"");
	if (cfg.n_routes == 0)
		LOG_WARN("no_routes", "why=\"every upgrade will be answered 404\"");
	int status = gateway_run(&cfg, &wsgate_app);
	access_log_close();
	config_fini(&cfg);
	return status;
}
