/* core/bug.c: storage for the WSG_WARN_ONCE counter (the macros live in bug.h).
 * Any thread may bump it (relaxed, at most once per warn site); the metrics exporter reads it.
 * Nothing else lives here: the checks must stay inline so they cost a compare when quiet. */
#include "core/bug.h"

_Atomic uint64_t wsg_warn_total;
