#ifndef WSG_CORE_CLUSTER_INT_H
#define WSG_CORE_CLUSTER_INT_H

/* Shared by cluster.c and cluster_limit.c only. Control thread only. */

#include <stdbool.h>
#include <stdint.h>

#include "auth/iplimit.h"

#define CL_LEASES_MAX 4096u /* addresses with a lease at once; beyond, the share applies */

struct cl_lease_ent {
	uint64_t hi, lo;    /* the address key (iplimit_key) */
	uint32_t allow;     /* live conns this node may hold for it */
	uint64_t synced_ms; /* last sync that set it */
};

void cluster__limit_init(struct iplimit *t);
void cluster__limit_fini(void);
/* The share: each limit divided by nodes (at least 1 where the limit is on). */
void cluster__limit_set_share(uint32_t conns, uint32_t rate, uint32_t burst, unsigned nodes);
uint32_t cluster__limit_share(void);
/* Sets a lease (0, or -1 when the table is full: that address keeps the share). */
int cluster__limit_set(uint64_t hi, uint64_t lo, uint32_t allow, uint64_t now_ms);
void cluster__limit_forget(uint64_t hi, uint64_t lo);
struct cl_lease_ent *cluster__limit_find(uint64_t hi, uint64_t lo);
struct cl_lease_ent *cluster__limit_master(unsigned *n);
/* Engine down: every address falls back to the share. */
void cluster__limit_drop_all(void);
/* Publishes the leases to the workers if they changed since the last call. */
void cluster__limit_publish(void);

#endif
