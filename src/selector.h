/* selector.h - Kubernetes label maps, node selector terms (required node affinity), taints and
 * tolerations, with the exact matching rules of the Kubernetes scheduler.
 *
 * Parsing reads cJSON and copies every string and array it keeps into the caller's pool, so
 * the result outlives the JSON. Nothing here frees: the pool owns everything. */
#ifndef ARCHGATE_SELECTOR_H
#define ARCHGATE_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "pool.h"
#include "result.h"

struct kv { const char *key; const char *value; };

/* A label map (node labels, a nodeSelector), sorted by key, keys unique. */
struct labels { const struct kv *items; size_t n; };

enum sel_op { SEL_IN, SEL_NOT_IN, SEL_EXISTS, SEL_DOES_NOT_EXIST, SEL_GT, SEL_LT };

/* One matchExpressions or matchFields requirement. */
struct sel_req {
    const char *key;
    enum sel_op op;
    const char *const *values;
    size_t nvalues;
    bool is_field;     /* from matchFields: key must be metadata.name, matched against the node name */
};

/* One nodeSelectorTerm: its requirements are ANDed. A term with none matches no node. */
struct sel_term { const struct sel_req *reqs; size_t n; };

/* requiredDuringSchedulingIgnoredDuringExecution: its terms are ORed; none matches no node. */
struct node_sel { const struct sel_term *terms; size_t n; };

enum taint_effect { EFFECT_ANY = 0, EFFECT_NO_SCHEDULE, EFFECT_PREFER_NO_SCHEDULE, EFFECT_NO_EXECUTE };

struct taint { const char *key; const char *value; enum taint_effect effect; };

enum tol_op { TOL_EQUAL, TOL_EXISTS };
struct toleration {
    const char *key;        /* "" with TOL_EXISTS tolerates every key */
    enum tol_op op;
    const char *value;      /* "" when absent */
    enum taint_effect effect;   /* EFFECT_ANY when absent or empty */
};

/* Where a workload may go: a nodeSelector, optional required node affinity, tolerations. */
struct placement {
    struct labels node_selector;
    bool has_affinity;          /* required node affinity present (terms may be empty) */
    struct node_sel affinity;
    const struct toleration *tolerations;
    size_t ntolerations;
};

/* Parse a JSON object of string values into a sorted label map. NULL or JSON null gives an
 * empty map. Not an object, or a non-string value: AG_EINVAL with `err` naming the key. */
enum ag_result selector_parse_labels(const cJSON *obj, struct pool *pool, struct labels *out,
                                     char *err, size_t errlen);

/* Parse a core/v1 Affinity object (the value of `affinity`): reads
 * nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms. Sets
 * *has_affinity false when that is absent. Unknown operators, Gt/Lt with other than one
 * integer value, In/NotIn without values, Exists/DoesNotExist with values, matchFields on a
 * key other than metadata.name, wrong JSON types: AG_EINVAL with a reason in `err`. */
enum ag_result selector_parse_affinity(const cJSON *affinity, struct pool *pool, bool *has_affinity,
                                       struct node_sel *out, char *err, size_t errlen);

/* Parse a tolerations array. NULL/null gives none. */
enum ag_result selector_parse_tolerations(const cJSON *arr, struct pool *pool, const struct toleration **out,
                                          size_t *n, char *err, size_t errlen);

/* Parse a node's spec.taints array. NULL/null gives none. */
enum ag_result selector_parse_taints(const cJSON *arr, struct pool *pool, const struct taint **out,
                                     size_t *n, char *err, size_t errlen);

/* Parse a placement object {nodeSelector, affinity, tolerations} (an HCO NodePlacement, or the
 * fields of a VM template spec: pass the spec object itself). */
enum ag_result selector_parse_placement(const cJSON *obj, struct pool *pool, struct placement *out,
                                        char *err, size_t errlen);

/* Matching one placement against many label maps in a row (eligible_census): between begin
 * and end, on this thread, the caller keeps the placement and every label map alive and
 * unchanged, which lets lookups trust pointer identity learned from the previous map. Outside
 * a batch every lookup is fully checked. Batches do not nest. */
void selector_batch_begin(void);
void selector_batch_end(void);

/* Go strconv.ParseInt(s, 10, 64), as Gt/Lt apply it: an optional sign, then one or more decimal
 * digits, nothing else, within int64. */
bool selector_parse_int64(const char *s, int64_t *out);

/* Value of `key` in a label map, NULL when absent (binary search). */
const char *labels_get(const struct labels *l, const char *key);
bool labels_has(const struct labels *l, const char *key);

/* Every key/value of `sel` is present with that value in `node` (an empty selector matches). */
bool selector_match_labels(const struct labels *sel, const struct labels *node);
/* A requirement, a term, a node selector against one node. */
bool selector_match_req(const struct sel_req *r, const char *node_name, const struct labels *node);
bool selector_match_term(const struct sel_term *t, const char *node_name, const struct labels *node);
bool selector_match_node_sel(const struct node_sel *s, const char *node_name, const struct labels *node);
/* nodeSelector and (when present) required affinity. Tolerations are not considered. */
bool selector_match_placement(const struct placement *p, const char *node_name, const struct labels *node);

/* Does one toleration tolerate one taint (Kubernetes ToleratesTaint)? */
bool selector_tolerates(const struct toleration *t, const struct taint *taint);
/* Is the taint tolerated by any of the tolerations? */
bool selector_tolerated(const struct toleration *tols, size_t n, const struct taint *taint);

#endif
