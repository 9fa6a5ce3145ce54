/* cluster.h - the cluster snapshot: everything the decision reads about the cluster, built once
 * from Kubernetes objects, then immutable and shared by request threads through a reference
 * count.
 *
 * Build: cluster_builder_new, cluster_builder_add (any number of objects or Lists, in any order),
 * cluster_builder_finish -> a snapshot with refcount 1 owned by the caller.
 * Publish: snapshot_publish hands one reference to the process-wide "current" slot;
 * snapshot_acquire takes a new reference to whatever is current (NULL before the first publish);
 * snapshot_release drops one. A request acquires once, decides, releases: it sees one snapshot,
 * never a mix, and never waits for a rebuild. */
#ifndef ARCHGATE_CLUSTER_H
#define ARCHGATE_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cjson/cJSON.h>
#include "arch.h"
#include "selector.h"
#include "pool.h"
#include "result.h"

#define LABEL_ARCH          "kubernetes.io/arch"
#define LABEL_IMAGE_ARCH    "template.kubevirt.io/architecture"
#define ANNOT_CDI_IMAGE_ARCH "cdi.kubevirt.io/storage.import.registryImageArchitecture"
#define LABEL_SCHEDULABLE   "kubevirt.io/schedulable"
#define LABEL_ROLE_WORKER   "node-role.kubernetes.io/worker"
#define LABEL_ROLE_CP       "node-role.kubernetes.io/control-plane"
#define LABEL_ROLE_MASTER   "node-role.kubernetes.io/master"
#define TAINT_UNSCHEDULABLE "node.kubernetes.io/unschedulable"

/* Why a node cannot take a VM, in the order reasons are printed in messages. Classification
 * checks them in the order: placement, kubevirt, selector, affinity, taint, then cordoned,
 * not ready; the first that applies wins. */
enum node_reason {
    NR_ELIGIBLE = 0,
    NR_CORDONED,        /* spec.unschedulable (with or without the unschedulable taint) */
    NR_NOT_READY,       /* held back only by untolerated not-ready/unreachable/pressure taints */
    NR_PLACEMENT,       /* outside the workload node placement (or the worker-label rule) */
    NR_NOT_KUBEVIRT,    /* KubeVirt labels nodes, and this one lacks kubevirt.io/schedulable=true */
    NR_SELECTOR,        /* the VM's nodeSelector */
    NR_AFFINITY,        /* the VM's required node affinity */
    NR_TAINT,           /* a NoSchedule/NoExecute taint the VM does not tolerate */
    NR_COUNT
};

struct node {
    const char *name;
    struct labels labels;
    int arch;                   /* arch_id: the kubernetes.io/arch label, else status.nodeInfo.architecture; ARCH_NONE if neither parses */
    const struct taint *taints; /* spec.taints */
    size_t ntaints;
    bool unschedulable;         /* spec.unschedulable, or the node.kubernetes.io/unschedulable taint */
    bool workload;              /* matches the workload node placement (or worker rule / all) */
    bool control_plane;         /* control-plane or master role label */
    bool kubevirt_ok;           /* passes the kubevirt.io/schedulable rule */
};

/* Node counts per reason and architecture; column ARCH_COUNT holds nodes of unknown architecture. */
struct census { unsigned n[NR_COUNT][ARCH_COUNT + 1]; };

struct datasource {
    const char *ns, *name;
    int label_arch;             /* template.kubevirt.io/architecture, ARCH_NONE when absent/unknown */
    bool has_label;             /* the label is present (even if unparseable) */
    const char *ptr_ns, *ptr_name;  /* spec.source.dataSource, NULL when none (ptr_ns defaults to ns) */
};

struct pvc {
    const char *ns, *name;
    archset archs;              /* from the label, else the CDI annotation; 0 when neither */
};

struct preference {
    const char *ns;             /* NULL for a VirtualMachineClusterPreference */
    const char *name;
    int required_arch;          /* spec.requirements.architecture, ARCH_NONE when absent */
    int preferred_arch;         /* spec.preferredArchitecture, ARCH_NONE when absent */
};

struct catalog_entry {
    const char *ref;            /* image reference or prefix, as written in the catalog */
    bool prefix;                /* entry ends with a slash (or slash-star): matches everything below it */
    archset archs;
};

/* Multi-architecture boot images as the HyperConverged CR says: */
enum hco_multiarch { HCO_MULTIARCH_ABSENT = 0, HCO_MULTIARCH_OFF, HCO_MULTIARCH_ON };

struct node_index;

/* What a HyperConverged object says (either version): multi-architecture boot images (the v1
 * workloadSources field, else the feature gate), the workload node placement (counted only with
 * a nodeSelector or required affinity), status.nodeInfo.defaultWorkloadArchitecture. */
struct hco_settings {
    enum hco_multiarch multiarch;
    bool has_placement;
    struct placement placement;
    int default_arch;                  /* ARCH_NONE when absent */
};

struct snapshot {
    /* Nodes, sorted by name. */
    const struct node *nodes;
    size_t nnodes;
    bool kubevirt_labels_nodes;     /* some node carries the kubevirt.io/schedulable key */

    /* HyperConverged */
    bool has_hco;
    enum hco_multiarch hco_multiarch;  /* effective: v1 workloadSources field, else the gate */
    bool has_workload_placement;       /* placement with a nodeSelector or required affinity */
    struct placement workload_placement;
    int hco_default_arch;              /* status.nodeInfo.defaultWorkloadArchitecture, ARCH_NONE */

    /* KubeVirt */
    bool has_kubevirt;
    int kubevirt_default_arch;         /* status.defaultArchitecture, ARCH_NONE */
    bool cross_arch_gate;              /* CrossArchitectureVirtualization feature gate on */

    /* Derived */
    int default_arch;                  /* KubeVirt status, else HCO status, else HCO's rule; ARCH_NONE if no nodes */
    archset workload_archs;            /* architectures of workload nodes */
    bool heterogeneous;                /* workload_archs has more than one member */
    struct census base;                /* census for a VM with no nodeSelector, affinity or tolerations */

    /* Objects, each array sorted by (ns, name) for binary search. */
    const struct datasource *datasources; size_t ndatasources;
    const struct pvc *pvcs; size_t npvcs;
    const struct preference *preferences; size_t npreferences;
    const struct catalog_entry *catalog; size_t ncatalog;

    time_t built_at;
    size_t bytes;                      /* memory held by this snapshot */

    /* private */
    struct pool *pool;
    struct labelset **lsets;           /* the nodes' label maps: one reference each (mem_malloc'd array) */
    size_t nlsets;
    struct snapshot *derived_from;     /* snapshot_with_hco: the base, referenced, whose nodes' memory is used */
    int refs;                          /* atomic */

    /* Label index for the census (eligible.c builds it in `pool`); NULL: node by node. */
    const struct node_index *index;
};

struct cluster_builder;

struct cluster_builder *cluster_builder_new(void);
void cluster_builder_free(struct cluster_builder *b);     /* NULL is fine */
/* Add one object, or every item of a List (kind List or *List). Kinds archgate does not read
 * are skipped (debug log). A read kind with a malformed field: AG_EINVAL with `err` naming
 * the object and the field. The builder copies what it keeps; `obj` stays the caller's. */
enum ag_result cluster_builder_add(struct cluster_builder *b, const cJSON *obj, char *err, size_t errlen);
/* Add a Node whose labels are the shared map `labels` (the live store's; the snapshot takes a
 * reference); metadata.labels of `obj` is not read. Errors as cluster_builder_add. */
struct labelset;
enum ag_result cluster_builder_add_node(struct cluster_builder *b, const cJSON *obj, struct labelset *labels,
                                        char *err, size_t errlen);
/* Load an image catalog (see docs/reference.md: {"images": {"<ref or prefix>": ["amd64", ...]}}). */
enum ag_result cluster_builder_add_catalog(struct cluster_builder *b, const cJSON *catalog, char *err, size_t errlen);
/* Compute the derived fields and return the snapshot (refcount 1). Frees the builder in all
 * cases. NULL on allocation failure. */
struct snapshot *cluster_builder_finish(struct cluster_builder *b);

/* Read a HyperConverged object as the builder does (its strings and arrays in `pool`). AG_EINVAL
 * with `err` naming the field when one is malformed. */
enum ag_result cluster_read_hco(const cJSON *obj, struct pool *pool, struct hco_settings *out, char *err,
                                size_t errlen);
/* The architectures of the snapshot's nodes that would be workload nodes under `h` (NULL: no
 * HyperConverged): the placement when it has one, else the worker label rule. *nworkload
 * (optional) is their count. */
archset cluster_workload_archs(const struct snapshot *s, const struct hco_settings *h, unsigned *nworkload);

/* Look-ups (binary search; ns NULL for cluster-scoped). NULL when absent. */
const struct datasource *snapshot_find_datasource(const struct snapshot *s, const char *ns, const char *name);
const struct pvc *snapshot_find_pvc(const struct snapshot *s, const char *ns, const char *name);
const struct preference *snapshot_find_preference(const struct snapshot *s, const char *ns, const char *name);
/* Architectures of a containerDisk image from the catalog: exact match first, then the
 * repository without tag/digest, then the longest prefix entry; 0 when none. */
archset snapshot_catalog_lookup(const struct snapshot *s, const char *image);

/* The snapshot `base` would be with the HyperConverged settings `h` (its workload placement and
 * multi-architecture setting): the same nodes and objects, the derived fields computed again. For
 * judging an edit before it takes effect. Refcount 1; it holds a reference to `base`; the strings
 * of h's placement must outlive it. NULL on allocation failure. */
struct snapshot *snapshot_with_hco(struct snapshot *base, const struct hco_settings *h);

void snapshot_ref(struct snapshot *s);
void snapshot_release(struct snapshot *s);        /* NULL is fine; frees at zero */

/* The process-wide current snapshot. publish takes over the caller's reference (NULL empties
 * the slot, e.g. at shutdown) and releases the previous one. */
void snapshot_publish(struct snapshot *s);
struct snapshot *snapshot_acquire(void);          /* new reference, or NULL before the first publish */
uint64_t snapshot_generation(void);               /* bumps on every publish */

#endif
