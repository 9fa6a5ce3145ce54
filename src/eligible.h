/* eligible.h - which nodes can take a VM, and why the others cannot.
 *
 * Pure functions over a snapshot and a VM's placement; used by decide.c per request and by
 * cluster.c to precompute the census of a VM without placement constraints. */
#ifndef ARCHGATE_ELIGIBLE_H
#define ARCHGATE_ELIGIBLE_H

#include "cluster.h"
#include "selector.h"

/* Is the taint one that Kubernetes puts on an unhealthy node (not-ready, unreachable,
 * memory/disk/pid-pressure, network-unavailable)? */
bool eligible_taint_is_transient(const struct taint *t);

/* Classify one node for a VM placement (NULL: no nodeSelector, affinity or tolerations).
 * `kubevirt_labels_nodes` is the snapshot flag of the same name. */
enum node_reason eligible_classify(const struct node *n, bool kubevirt_labels_nodes, const struct placement *vm);

/* Census of every node of the snapshot for the placement (NULL: use the precomputed base). */
void eligible_census(const struct snapshot *s, const struct placement *vm, struct census *out);

/* Build s->index from s->nodes in s->pool (cluster_builder_finish calls it once the node flags
 * and kubevirt_labels_nodes are final). Needs the snapshot's interning: equal label strings
 * share one pointer; when they do not, no index is built (s->index NULL) and AG_OK is
 * returned. AG_ENOMEM on allocation failure. */
enum ag_result eligible_index_build(struct snapshot *s);

/* The census through s->index: what eligible_census computes, without per-node string work.
 * False (and *out unspecified) when there is no index or the placement is larger than the
 * fixed per-request plan; eligible_census then classifies node by node. */
bool eligible_census_indexed(const struct snapshot *s, const struct placement *vm, struct census *out);

/* Number of eligible nodes of an architecture. */
unsigned eligible_count(const struct census *c, int arch);
/* Architectures with at least one eligible node; with only cordoned/not-ready nodes. */
archset eligible_archs(const struct census *c);
archset eligible_held_archs(const struct census *c);

/* "eligible: 3 amd64, 1 arm64; 1 amd64 cordoned; 2 arm64 excluded by the workload node
 * placement" (every non-zero count; "eligible: none" when none). Truncates safely. */
void eligible_describe(const struct census *c, char *buf, size_t len);

#endif
