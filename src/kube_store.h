/* kube_store.h - the live cluster's objects as archgate keeps them: the table of kinds it lists
 * and watches (the one place their API paths live; the RBAC manifest must match it), each object
 * pruned to the fields the snapshot builder reads, per kind a map "ns/name" -> pruned object,
 * change detection (an event that changes nothing the decision reads changes nothing here), and
 * building a snapshot from everything stored.
 *
 * A kube_map is single-owner (no lock). A kube_store is thread-safe: apply, replace, build and
 * the counts take its lock. */
#ifndef ARCHGATE_KUBE_STORE_H
#define ARCHGATE_KUBE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>
#include "cluster.h"
#include "result.h"

#define KUBE_MAX_OBJECT     (1024u * 1024)          /* a pruned object larger than this is refused */
#define KUBE_MAX_OBJECTS    (4u * 1024 * 1024)      /* objects of one kind */

/* The kinds, in kube_kinds() order. */
enum kube_kind_id {
    KK_NODE = 0,
    KK_HCO_V1BETA1,
    KK_HCO_V1,
    KK_KUBEVIRT,
    KK_DATASOURCE,
    KK_PVC,
    KK_CLUSTER_PREFERENCE,
    KK_PREFERENCE,
    KK_COUNT
};

struct kube_kind {
    const char *group;          /* "" for the core group */
    const char *version;        /* "v1", "v1beta1" */
    const char *resource;       /* plural, as in RBAC rules: "nodes" */
    const char *kind;           /* "Node" */
    const char *list_kind;      /* "NodeList" */
    const char *api_version;    /* "v1", "cdi.kubevirt.io/v1beta1": stamped into pruned objects */
    const char *path;           /* all-namespaces collection path: "/api/v1/nodes" */
    const char *name;           /* resource.group for messages and metrics: "datasources.cdi.kubevirt.io" */
    bool namespaced;
};

/* The table (KK_COUNT entries, indexed by enum kube_kind_id). */
const struct kube_kind *kube_kinds(size_t *n);

/* Prune `obj` (as a list item or watch event object of `kind`: kind and apiVersion may be
 * absent) to what the snapshot builder reads, with kind and apiVersion set. *out is NULL when
 * the object is not kept (a PVC without the architecture label or annotation). A field of the
 * wrong type is kept as it is, so the builder refuses the object with a message naming it.
 * AG_EINVAL (err says why): no usable metadata.name (or metadata.namespace when namespaced);
 * AG_ETOOBIG: the pruned form is over KUBE_MAX_OBJECT; AG_ENOMEM. */
enum ag_result kube_prune(unsigned kind, const cJSON *obj, cJSON **out, char *err, size_t errlen);

/* ---- maps ----------------------------------------------------------------------------------- */

struct kube_map;

struct kube_map *kube_map_new(void);
void kube_map_free(struct kube_map *m);          /* NULL is fine */
size_t kube_map_count(const struct kube_map *m);
/* Prune `obj` and put it under its key (a later one replaces an earlier one). AG_OK also when
 * the object is not kept. Errors as kube_prune; AG_ETOOBIG also past KUBE_MAX_OBJECTS. */
enum ag_result kube_map_add(struct kube_map *m, unsigned kind, const cJSON *obj, char *err, size_t errlen);
/* The pruned object stored under "ns/name" ("/name" for cluster-scoped), NULL when absent. A
 * Node's labels are not in it when they are well formed: the store keeps them as a shared label
 * map (labelset.h), and kube_store_get puts them back in its copy. */
const cJSON *kube_map_get(const struct kube_map *m, const char *key);

/* ---- the store ------------------------------------------------------------------------------ */

enum kube_event { KUBE_ADDED = 0, KUBE_MODIFIED, KUBE_DELETED };

struct kube_store;

struct kube_store *kube_store_new(void);
void kube_store_free(struct kube_store *s);      /* NULL is fine */

/* One watch event. *changed says whether the stored (pruned) state changed: an update whose
 * pruned form equals the stored one changes nothing; an update that makes an object not kept
 * (a PVC losing its label) deletes it. Errors as kube_prune (the store is then unchanged). */
enum ag_result kube_store_apply(struct kube_store *s, unsigned kind, enum kube_event ev, const cJSON *obj,
                                bool *changed, char *err, size_t errlen);
/* Replace the kind's map with `m` (taken over, also on failure) after a list. Returns whether
 * anything differs from what was stored. */
bool kube_store_replace(struct kube_store *s, unsigned kind, struct kube_map *m);
size_t kube_store_count(struct kube_store *s, unsigned kind);
/* A copy of the stored pruned object (cJSON_Delete it), NULL when absent. */
cJSON *kube_store_get(struct kube_store *s, unsigned kind, const char *key);

/* The image catalog ({"images": {...}}) to add to every snapshot; taken over (also on failure);
 * NULL: none. A catalog the builder refuses is AG_EINVAL (err says why) and the previous one
 * stays. */
enum ag_result kube_store_set_catalog(struct kube_store *s, cJSON *catalog, char *err, size_t errlen);

/* A snapshot (refcount 1) from every stored object and the catalog. An object the builder
 * refuses is skipped (logged once per object version, counted in *refused and in the metrics).
 * When a HyperConverged is served at both versions, the v1 copy is used. NULL on allocation
 * failure or an unusable catalog (err says why). */
struct snapshot *kube_store_build(struct kube_store *s, size_t *refused, char *err, size_t errlen);

/* ---- watch lines ---------------------------------------------------------------------------- */

#define KUBE_RV_MAX 128     /* a resourceVersion this long or longer is not used */

enum kube_line_type {
    KUBE_LINE_BAD = 0,      /* not JSON, or no string "type" with an object "object" */
    KUBE_LINE_CHANGE,       /* ADDED, MODIFIED or DELETED: applied to the store */
    KUBE_LINE_BOOKMARK,
    KUBE_LINE_ERROR,        /* an ERROR event (a Status object) */
    KUBE_LINE_OTHER         /* any other type: ignored (debug log) */
};

/* What one watch line said. */
struct kube_line {
    enum kube_line_type type;
    bool changed;           /* CHANGE: the stored state changed */
    char rv[KUBE_RV_MAX];   /* CHANGE, BOOKMARK: object.metadata.resourceVersion; "" when absent,
                             * not a string, empty or too long */
    bool has_code;          /* ERROR: object.code is a number */
    int code;               /* ERROR: object.code, 0 when not a number */
    char message[512];      /* ERROR: object.message, "(no message)" when not a string;
                             * CHANGE refused: why (as kube_store_apply's err) */
};

/* Parse one line of a watch stream of `kind` ({"type": "ADDED", "object": {...}}) and apply a
 * change event to the store. The caller acts on the rest (resourceVersion, ERROR, BAD).
 * Returns AG_EINVAL for a BAD line (or a kind out of range); for a CHANGE, what
 * kube_store_apply returned (the store is unchanged on failure, `message` says why); AG_OK for
 * the other types. */
enum ag_result kube_store_apply_line(struct kube_store *s, unsigned kind, const char *line, size_t len,
                                     struct kube_line *out);

#endif
