/* cluster.c - the cluster snapshot: reads Nodes, HyperConverged, KubeVirt, DataSources, PVCs,
 * preferences and the image catalog into one immutable, pool-backed snapshot; derives what the
 * decision needs (workload nodes, default architecture, base census, the label index that
 * eligible.c builds); looks objects up; and owns the process-wide "current snapshot" slot with
 * its reference counting. */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cluster.h"
#include "labelset.h"
#include "hash.h"
#include "eligible.h"
#include "log.h"
#include "mem.h"

#define CLUSTER_MAX_ITEMS   (4u * 1024 * 1024)   /* objects of one kind in one snapshot */
#define CLUSTER_MAX_STRINGS (16u * 1024 * 1024)  /* distinct interned strings */
#define CLUSTER_MAX_DEPTH   4                     /* Lists nested in Lists */
#define FEATURE_MULTIARCH   "enableMultiArchBootImageImport"
#define GATE_CROSS_ARCH     "CrossArchitectureVirtualization"

/* A warning about the cluster's objects, logged once while it stays the same: a live cluster
 * rebuilds snapshots up to ten times a second, and the same fact must not flood the log. */
static void warn_once(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warn_once(const char *fmt, ...)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static char seen[8][512];   /* the latest distinct warnings, oldest replaced first */
    static unsigned next;
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&lock);
    bool repeat = false;
    for (size_t i = 0; i < sizeof seen / sizeof seen[0] && !repeat; i++)
        repeat = strcmp(text, seen[i]) == 0;
    if (!repeat)
        snprintf(seen[next++ % (sizeof seen / sizeof seen[0])], sizeof seen[0], "%s", text);
    pthread_mutex_unlock(&lock);
    if (repeat)
        log_debug("%s", text);
    else
        log_warn("%s", text);
}

/* ---- growing arrays (builder only) ------------------------------------------------------- */

struct vec {
    unsigned char *data;
    size_t n, cap, size;
};

/* Every element type starts with its insertion number, so a later duplicate can win. */
struct w_node { size_t seq; struct node v; };
struct w_ds { size_t seq; struct datasource v; };
struct w_pvc { size_t seq; struct pvc v; };
struct w_pref { size_t seq; struct preference v; };
struct w_cat { size_t seq; struct catalog_entry v; };

static enum ag_result vec_push(struct vec *v, void **slot)
{
    if (v->n == v->cap) {
        if (v->cap >= CLUSTER_MAX_ITEMS)
            return AG_ETOOBIG;
        size_t ncap = v->cap ? v->cap * 2 : 64;
        unsigned char *nd = mem_realloc(v->data, ncap * v->size);
        if (!nd)
            return AG_ENOMEM;
        v->data = nd;
        v->cap = ncap;
    }
    *slot = v->data + v->n * v->size;
    memset(*slot, 0, v->size);
    v->n++;
    return AG_OK;
}

/* ---- string interning: label keys and values repeat across nodes -------------------------- */

struct intern {
    const char **slots;
    size_t cap, n;
};

static bool intern_grow(struct intern *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 1024;
    const char **ns = mem_calloc(ncap, sizeof *ns);
    if (!ns)
        return false;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->slots[i])
            continue;
        size_t j = (size_t)hash_str(t->slots[i]) & (ncap - 1);
        while (ns[j])
            j = (j + 1) & (ncap - 1);
        ns[j] = t->slots[i];
    }
    mem_free(t->slots);
    t->slots = ns;
    t->cap = ncap;
    return true;
}

/* The pool copy of `s` shared by every caller with an equal string; NULL on failure. */
static const char *intern_str(struct intern *t, struct pool *pool, const char *s)
{
    if (!s)
        return NULL;
    if ((t->n + 1) * 2 > t->cap) {
        if (t->n >= CLUSTER_MAX_STRINGS || !intern_grow(t))
            return NULL;
    }
    size_t j = (size_t)hash_str(s) & (t->cap - 1);
    while (t->slots[j]) {
        if (strcmp(t->slots[j], s) == 0)
            return t->slots[j];
        j = (j + 1) & (t->cap - 1);
    }
    char *d = pool_strdup(pool, s);
    if (!d)
        return NULL;
    t->slots[j] = d;
    t->n++;
    return d;
}

/* ---- the builder ------------------------------------------------------------------------- */

struct cluster_builder {
    struct pool *pool;      /* becomes the snapshot's */
    struct pool *scratch;   /* per-object parsing, reset after each */
    struct intern strings;
    struct vec nodes, dss, pvcs, prefs, cat;
    struct vec lsets;       /* struct labelset *: one reference each, handed to the snapshot */
    size_t seq;
    struct snapshot s;      /* HCO and KubeVirt settings as read so far */
    size_t arch_mismatch;   /* nodes whose label and status disagree */
    char mismatch_node[128];
    int mismatch_label, mismatch_status;
};

struct cluster_builder *cluster_builder_new(void)
{
    struct cluster_builder *b = mem_calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->pool = pool_new(64 * 1024);
    b->scratch = pool_new(16 * 1024);
    if (!b->pool || !b->scratch) {
        cluster_builder_free(b);
        return NULL;
    }
    b->nodes.size = sizeof(struct w_node);
    b->dss.size = sizeof(struct w_ds);
    b->pvcs.size = sizeof(struct w_pvc);
    b->prefs.size = sizeof(struct w_pref);
    b->cat.size = sizeof(struct w_cat);
    b->lsets.size = sizeof(struct labelset *);
    b->s.hco_default_arch = ARCH_NONE;
    b->s.kubevirt_default_arch = ARCH_NONE;
    b->s.default_arch = ARCH_NONE;
    return b;
}

void cluster_builder_free(struct cluster_builder *b)
{
    if (!b)
        return;
    pool_free(b->pool);
    pool_free(b->scratch);
    for (size_t i = 0; i < b->lsets.n; i++)
        labelset_release(((struct labelset **)(void *)b->lsets.data)[i]);
    mem_free(b->lsets.data);
    mem_free(b->strings.slots);
    mem_free(b->nodes.data);
    mem_free(b->dss.data);
    mem_free(b->pvcs.data);
    mem_free(b->prefs.data);
    mem_free(b->cat.data);
    mem_free(b);
}

/* ---- JSON access with messages that name the object and field ----------------------------- */

struct objctx {
    const char *kind;
    const char *ns;
    const char *name;
    char *err;
    size_t errlen;
};

static enum ag_result bad(const struct objctx *c, const char *field, const char *why)
{
    if (c->err && c->errlen)
        snprintf(c->err, c->errlen, "%s %s%s%s: %s: %s", c->kind, c->ns ? c->ns : "", c->ns ? "/" : "",
                 c->name ? c->name : "(unnamed)", field, why);
    return AG_EINVAL;
}

/* A member of `obj`, NULL when `obj` is NULL, the member absent, or JSON null. */
static const cJSON *member(const cJSON *obj, const char *key)
{
    const cJSON *m = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    return cJSON_IsNull(m) ? NULL : m;
}

static enum ag_result get_obj(const struct objctx *c, const cJSON *obj, const char *key, const char *path,
                              const cJSON **out)
{
    const cJSON *m = member(obj, key);
    if (m && !cJSON_IsObject(m))
        return bad(c, path, "not an object");
    *out = m;
    return AG_OK;
}

static enum ag_result get_arr(const struct objctx *c, const cJSON *obj, const char *key, const char *path,
                              const cJSON **out)
{
    const cJSON *m = member(obj, key);
    if (m && !cJSON_IsArray(m))
        return bad(c, path, "not an array");
    *out = m;
    return AG_OK;
}

static enum ag_result get_str(const struct objctx *c, const cJSON *obj, const char *key, const char *path,
                              const char **out)
{
    const cJSON *m = member(obj, key);
    if (m && !cJSON_IsString(m))
        return bad(c, path, "not a string");
    *out = m ? m->valuestring : NULL;
    return AG_OK;
}

/* *out: -1 absent, 0 false, 1 true. */
static enum ag_result get_bool(const struct objctx *c, const cJSON *obj, const char *key, const char *path,
                               int *out)
{
    const cJSON *m = member(obj, key);
    if (m && !cJSON_IsBool(m))
        return bad(c, path, "not a boolean");
    *out = m ? (cJSON_IsTrue(m) ? 1 : 0) : -1;
    return AG_OK;
}

/* metadata: name (required), namespace (required when namespaced), labels, annotations. */
static enum ag_result read_meta(struct objctx *c, const cJSON *obj, bool namespaced, const cJSON **labels,
                                const cJSON **annotations)
{
    const cJSON *meta;
    const char *name = NULL, *ns = NULL;
    enum ag_result r = get_obj(c, obj, "metadata", "metadata", &meta);
    if (r != AG_OK)
        return r;
    if (!meta)
        return bad(c, "metadata", "missing");
    if ((r = get_str(c, meta, "name", "metadata.name", &name)) != AG_OK)
        return r;
    if (namespaced && (r = get_str(c, meta, "namespace", "metadata.namespace", &ns)) != AG_OK)
        return r;
    c->name = name;
    c->ns = ns;
    if (!name || !*name)
        return bad(c, "metadata.name", "missing");
    if (namespaced && (!ns || !*ns))
        return bad(c, "metadata.namespace", "missing");
    if ((r = get_obj(c, meta, "labels", "metadata.labels", labels)) != AG_OK)
        return r;
    if (annotations && (r = get_obj(c, meta, "annotations", "metadata.annotations", annotations)) != AG_OK)
        return r;
    return AG_OK;
}

/* ---- kinds ------------------------------------------------------------------------------- */

/* The node's label map: `given` (shared, one more reference) or one made from `in`. The builder
 * holds the reference until the snapshot takes it over. */
static enum ag_result keep_labels(struct cluster_builder *b, const struct labels *in, struct labelset *given,
                                  struct labels *out)
{
    struct labelset **slot;
    enum ag_result r = vec_push(&b->lsets, (void **)&slot);
    if (r != AG_OK)
        return r;
    if (given) {
        labelset_ref(given);
        *slot = given;
    } else if ((r = labelset_make(in, slot)) != AG_OK) {
        b->lsets.n--;
        return r;
    }
    *out = *labelset_labels(*slot);
    return AG_OK;
}

static enum ag_result keep_taints(struct cluster_builder *b, const struct taint *in, size_t n,
                                  const struct taint **out)
{
    *out = NULL;
    if (n == 0)
        return AG_OK;
    struct taint *t = pool_alloc(b->pool, n * sizeof *t);
    if (!t)
        return AG_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        t[i].key = intern_str(&b->strings, b->pool, in[i].key ? in[i].key : "");
        t[i].value = intern_str(&b->strings, b->pool, in[i].value ? in[i].value : "");
        t[i].effect = in[i].effect;
        if (!t[i].key || !t[i].value)
            return AG_ENOMEM;
    }
    *out = t;
    return AG_OK;
}

/* A Node; with `given`, its labels are that map (metadata.labels of obj is not read). */
static enum ag_result add_node(struct cluster_builder *b, struct objctx *c, const cJSON *obj, struct labelset *given)
{
    const cJSON *jlabels = NULL, *spec = NULL, *status = NULL, *info = NULL, *jtaints = NULL;
    const char *status_arch = NULL;
    int unsched = -1;
    char perr[256] = "";
    struct labels lab;
    const struct taint *taints = NULL;
    size_t ntaints = 0;
    enum ag_result r;

    pool_reset(b->scratch);
    if ((r = read_meta(c, obj, false, &jlabels, NULL)) != AG_OK)
        return r;
    if ((r = get_obj(c, obj, "spec", "spec", &spec)) != AG_OK ||
        (r = get_arr(c, spec, "taints", "spec.taints", &jtaints)) != AG_OK ||
        (r = get_bool(c, spec, "unschedulable", "spec.unschedulable", &unsched)) != AG_OK ||
        (r = get_obj(c, obj, "status", "status", &status)) != AG_OK ||
        (r = get_obj(c, status, "nodeInfo", "status.nodeInfo", &info)) != AG_OK ||
        (r = get_str(c, info, "architecture", "status.nodeInfo.architecture", &status_arch)) != AG_OK)
        return r;
    r = given ? AG_OK : selector_parse_labels(jlabels, b->scratch, &lab, perr, sizeof perr);
    if (r != AG_OK)
        return r == AG_EINVAL ? bad(c, "metadata", perr) : r;
    r = selector_parse_taints(jtaints, b->scratch, &taints, &ntaints, perr, sizeof perr);
    if (r != AG_OK)
        return r == AG_EINVAL ? bad(c, "spec", perr) : r;

    struct w_node *w;
    if ((r = vec_push(&b->nodes, (void **)&w)) != AG_OK)
        return r;
    w->seq = b->seq++;
    struct node *n = &w->v;
    r = AG_ENOMEM;
    if (!(n->name = pool_strdup(b->pool, c->name)))
        goto fail;
    if (keep_labels(b, given ? NULL : &lab, given, &n->labels) != AG_OK ||
        keep_taints(b, taints, ntaints, &n->taints) != AG_OK)
        goto fail;
    n->ntaints = ntaints;

    int la = arch_parse(labels_get(&n->labels, LABEL_ARCH));
    int sa = arch_parse(status_arch);
    n->arch = la != ARCH_NONE ? la : sa;
    if (la != ARCH_NONE && sa != ARCH_NONE && la != sa) {
        if (b->arch_mismatch++ == 0) {
            snprintf(b->mismatch_node, sizeof b->mismatch_node, "%s", n->name);
            b->mismatch_label = la;
            b->mismatch_status = sa;
        }
    }
    n->unschedulable = unsched == 1;
    for (size_t i = 0; i < ntaints; i++)
        if (strcmp(n->taints[i].key, TAINT_UNSCHEDULABLE) == 0)
            n->unschedulable = true;
    n->control_plane = labels_has(&n->labels, LABEL_ROLE_CP) || labels_has(&n->labels, LABEL_ROLE_MASTER);
    return AG_OK;
fail:
    b->nodes.n--;   /* drop the half-filled slot */
    return r;
}

/* The multi-arch setting of a v1 feature-gate list ([{name, state}]): -1 when not listed. */
static enum ag_result hco_gate_list(const struct objctx *c, const cJSON *arr, int *out)
{
    const cJSON *it;
    *out = -1;
    cJSON_ArrayForEach(it, arr) {
        const char *name = NULL, *state = NULL;
        enum ag_result r;
        if (!cJSON_IsObject(it))
            return bad(c, "spec.featureGates", "list entry is not an object");
        if ((r = get_str(c, it, "name", "spec.featureGates[].name", &name)) != AG_OK ||
            (r = get_str(c, it, "state", "spec.featureGates[].state", &state)) != AG_OK)
            return r;
        if (!name || strcmp(name, FEATURE_MULTIARCH) != 0)
            continue;
        if (!state || strcmp(state, "Enabled") == 0)
            *out = 1;
        else if (strcmp(state, "Disabled") == 0)
            *out = 0;
        else
            return bad(c, "spec.featureGates[].state", "neither Enabled nor Disabled");
    }
    return AG_OK;
}

/* The settings of a HyperConverged object (either version), strings and arrays in `pool`. */
static enum ag_result read_hco(struct objctx *c, const cJSON *obj, struct pool *pool, struct hco_settings *out)
{
    const cJSON *jlabels = NULL, *spec = NULL, *ws = NULL, *gates, *dep = NULL, *nps = NULL, *wl = NULL;
    const cJSON *wls = NULL, *np = NULL, *status = NULL, *info = NULL;
    const char *def = NULL;
    int field = -1, gate = -1;
    enum ag_result r;
    char perr[256] = "";

    memset(out, 0, sizeof *out);
    if ((r = read_meta(c, obj, true, &jlabels, NULL)) != AG_OK)
        return r;
    if ((r = get_obj(c, obj, "spec", "spec", &spec)) != AG_OK ||
        (r = get_obj(c, spec, "workloadSources", "spec.workloadSources", &ws)) != AG_OK ||
        (r = get_bool(c, ws, FEATURE_MULTIARCH, "spec.workloadSources." FEATURE_MULTIARCH, &field)) != AG_OK)
        return r;
    gates = member(spec, "featureGates");
    if (cJSON_IsObject(gates)) {
        if ((r = get_bool(c, gates, FEATURE_MULTIARCH, "spec.featureGates." FEATURE_MULTIARCH, &gate)) != AG_OK)
            return r;
    } else if (cJSON_IsArray(gates)) {
        if ((r = hco_gate_list(c, gates, &gate)) != AG_OK)
            return r;
    } else if (gates) {
        return bad(c, "spec.featureGates", "neither an object nor a list");
    }
    if ((r = get_obj(c, spec, "deployment", "spec.deployment", &dep)) != AG_OK ||
        (r = get_obj(c, dep, "nodePlacements", "spec.deployment.nodePlacements", &nps)) != AG_OK ||
        (r = get_obj(c, nps, "workload", "spec.deployment.nodePlacements.workload", &wl)) != AG_OK ||
        (r = get_obj(c, spec, "workloads", "spec.workloads", &wls)) != AG_OK)
        return r;
    const char *np_path = "spec.deployment.nodePlacements.workload";
    np = wl;
    if (!np) {
        np_path = "spec.workloads.nodePlacement";
        if ((r = get_obj(c, wls, "nodePlacement", np_path, &np)) != AG_OK)
            return r;
    }
    if ((r = get_obj(c, obj, "status", "status", &status)) != AG_OK ||
        (r = get_obj(c, status, "nodeInfo", "status.nodeInfo", &info)) != AG_OK ||
        (r = get_str(c, info, "defaultWorkloadArchitecture", "status.nodeInfo.defaultWorkloadArchitecture",
                     &def)) != AG_OK)
        return r;
    if (np) {
        r = selector_parse_placement(np, pool, &out->placement, perr, sizeof perr);
        if (r != AG_OK)
            return r == AG_EINVAL ? bad(c, np_path, perr) : r;
    }
    out->multiarch = (field >= 0 ? field : gate) == 1 ? HCO_MULTIARCH_ON : HCO_MULTIARCH_OFF;
    out->has_placement = out->placement.node_selector.n > 0 || out->placement.has_affinity;
    out->default_arch = arch_parse(def);
    return AG_OK;
}

static enum ag_result add_hco(struct cluster_builder *b, struct objctx *c, const cJSON *obj)
{
    struct hco_settings h;
    enum ag_result r = read_hco(c, obj, b->pool, &h);
    if (r != AG_OK)
        return r;
    if (b->s.has_hco)
        warn_once("cluster: more than one HyperConverged; using %s/%s", c->ns, c->name);
    b->s.has_hco = true;
    b->s.hco_multiarch = h.multiarch;
    b->s.workload_placement = h.placement;
    b->s.has_workload_placement = h.has_placement;
    b->s.hco_default_arch = h.default_arch;
    return AG_OK;
}

enum ag_result cluster_read_hco(const cJSON *obj, struct pool *pool, struct hco_settings *out, char *err,
                                size_t errlen)
{
    char dummy[1];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(obj)) {
        snprintf(err, errlen, "not a JSON object");
        return AG_EINVAL;
    }
    struct objctx c = { "HyperConverged", NULL, NULL, err, errlen };
    return read_hco(&c, obj, pool, out);
}

/* HCO's workload rule for one node: the workload placement when there is one, else the worker
 * role when any node has it, else every node. */
static bool node_is_workload(const struct node *n, const struct placement *p, bool any_worker)
{
    if (p)
        return selector_match_placement(p, n->name, &n->labels);
    return any_worker ? labels_has(&n->labels, LABEL_ROLE_WORKER) : true;
}

archset cluster_workload_archs(const struct snapshot *s, const struct hco_settings *h, unsigned *nworkload)
{
    archset a = 0;
    bool any_worker = false;
    unsigned n = 0;
    for (size_t i = 0; i < s->nnodes && !any_worker; i++)
        any_worker = labels_has(&s->nodes[i].labels, LABEL_ROLE_WORKER);
    for (size_t i = 0; i < s->nnodes; i++) {
        const struct node *nd = &s->nodes[i];
        if (node_is_workload(nd, h && h->has_placement ? &h->placement : NULL, any_worker) && nd->arch >= 0 &&
            nd->arch < ARCH_COUNT) {
            a |= arch_bit(nd->arch);
            n++;
        }
    }
    if (nworkload)
        *nworkload = n;
    return a;
}

static enum ag_result add_kubevirt(struct cluster_builder *b, struct objctx *c, const cJSON *obj)
{
    const cJSON *jlabels = NULL, *spec = NULL, *conf = NULL, *dev = NULL, *gates = NULL, *status = NULL, *it;
    const char *def = NULL;
    bool cross = false;
    enum ag_result r;

    if ((r = read_meta(c, obj, true, &jlabels, NULL)) != AG_OK)
        return r;
    if ((r = get_obj(c, obj, "spec", "spec", &spec)) != AG_OK ||
        (r = get_obj(c, spec, "configuration", "spec.configuration", &conf)) != AG_OK ||
        (r = get_obj(c, conf, "developerConfiguration", "spec.configuration.developerConfiguration",
                     &dev)) != AG_OK ||
        (r = get_arr(c, dev, "featureGates", "spec.configuration.developerConfiguration.featureGates",
                     &gates)) != AG_OK ||
        (r = get_obj(c, obj, "status", "status", &status)) != AG_OK ||
        (r = get_str(c, status, "defaultArchitecture", "status.defaultArchitecture", &def)) != AG_OK)
        return r;
    cJSON_ArrayForEach(it, gates) {
        if (!cJSON_IsString(it))
            return bad(c, "spec.configuration.developerConfiguration.featureGates", "entry is not a string");
        if (strcmp(it->valuestring, GATE_CROSS_ARCH) == 0)
            cross = true;
    }
    if (b->s.has_kubevirt)
        warn_once("cluster: more than one KubeVirt; using %s/%s", c->ns, c->name);
    b->s.has_kubevirt = true;
    b->s.cross_arch_gate = cross;
    b->s.kubevirt_default_arch = arch_parse(def);
    return AG_OK;
}

static enum ag_result add_datasource(struct cluster_builder *b, struct objctx *c, const cJSON *obj)
{
    const cJSON *jlabels = NULL, *spec = NULL, *src = NULL, *ptr = NULL;
    const char *arch = NULL, *pname = NULL, *pns = NULL;
    enum ag_result r;

    if ((r = read_meta(c, obj, true, &jlabels, NULL)) != AG_OK)
        return r;
    if ((r = get_str(c, jlabels, LABEL_IMAGE_ARCH, "metadata.labels." LABEL_IMAGE_ARCH, &arch)) != AG_OK ||
        (r = get_obj(c, obj, "spec", "spec", &spec)) != AG_OK ||
        (r = get_obj(c, spec, "source", "spec.source", &src)) != AG_OK ||
        (r = get_obj(c, src, "dataSource", "spec.source.dataSource", &ptr)) != AG_OK ||
        (r = get_str(c, ptr, "name", "spec.source.dataSource.name", &pname)) != AG_OK ||
        (r = get_str(c, ptr, "namespace", "spec.source.dataSource.namespace", &pns)) != AG_OK)
        return r;
    if (ptr && (!pname || !*pname))
        return bad(c, "spec.source.dataSource.name", "missing");

    struct w_ds *w;
    if ((r = vec_push(&b->dss, (void **)&w)) != AG_OK)
        return r;
    w->seq = b->seq++;
    struct datasource *d = &w->v;
    d->ns = intern_str(&b->strings, b->pool, c->ns);
    d->name = pool_strdup(b->pool, c->name);
    d->has_label = arch != NULL;
    d->label_arch = arch_parse(arch);
    if (ptr) {
        d->ptr_ns = (pns && *pns) ? intern_str(&b->strings, b->pool, pns) : d->ns;
        d->ptr_name = pool_strdup(b->pool, pname);
    }
    if (!d->ns || !d->name || (ptr && (!d->ptr_ns || !d->ptr_name))) {
        b->dss.n--;
        return AG_ENOMEM;
    }
    return AG_OK;
}

static enum ag_result add_pvc(struct cluster_builder *b, struct objctx *c, const cJSON *obj)
{
    const cJSON *jlabels = NULL, *annots = NULL;
    const char *label = NULL, *annot = NULL;
    enum ag_result r;

    if ((r = read_meta(c, obj, true, &jlabels, &annots)) != AG_OK)
        return r;
    if ((r = get_str(c, jlabels, LABEL_IMAGE_ARCH, "metadata.labels." LABEL_IMAGE_ARCH, &label)) != AG_OK ||
        (r = get_str(c, annots, ANNOT_CDI_IMAGE_ARCH, "metadata.annotations." ANNOT_CDI_IMAGE_ARCH,
                     &annot)) != AG_OK)
        return r;
    if (!label && !annot)
        return AG_OK;   /* says nothing about its image: not kept */
    archset archs = 0;
    if (!arch_set_parse_list(label ? label : annot, &archs))
        archs = 0;

    struct w_pvc *w;
    if ((r = vec_push(&b->pvcs, (void **)&w)) != AG_OK)
        return r;
    w->seq = b->seq++;
    w->v.ns = intern_str(&b->strings, b->pool, c->ns);
    w->v.name = pool_strdup(b->pool, c->name);
    w->v.archs = archs;
    if (!w->v.ns || !w->v.name) {
        b->pvcs.n--;
        return AG_ENOMEM;
    }
    return AG_OK;
}

static enum ag_result add_preference(struct cluster_builder *b, struct objctx *c, const cJSON *obj,
                                     bool namespaced)
{
    const cJSON *jlabels = NULL, *spec = NULL, *req = NULL;
    const char *required = NULL, *preferred = NULL;
    enum ag_result r;

    if ((r = read_meta(c, obj, namespaced, &jlabels, NULL)) != AG_OK)
        return r;
    if ((r = get_obj(c, obj, "spec", "spec", &spec)) != AG_OK ||
        (r = get_obj(c, spec, "requirements", "spec.requirements", &req)) != AG_OK ||
        (r = get_str(c, req, "architecture", "spec.requirements.architecture", &required)) != AG_OK ||
        (r = get_str(c, spec, "preferredArchitecture", "spec.preferredArchitecture", &preferred)) != AG_OK)
        return r;

    struct w_pref *w;
    if ((r = vec_push(&b->prefs, (void **)&w)) != AG_OK)
        return r;
    w->seq = b->seq++;
    w->v.ns = namespaced ? intern_str(&b->strings, b->pool, c->ns) : NULL;
    w->v.name = pool_strdup(b->pool, c->name);
    w->v.required_arch = arch_parse(required);
    w->v.preferred_arch = arch_parse(preferred);
    if ((namespaced && !w->v.ns) || !w->v.name) {
        b->prefs.n--;
        return AG_ENOMEM;
    }
    return AG_OK;
}

/* Group of an apiVersion ("" for the core group "v1"), compared against `group`. */
static bool api_group_is(const char *api_version, const char *group)
{
    if (!api_version)
        return false;
    const char *slash = strrchr(api_version, '/');
    if (!slash)
        return *group == '\0';
    size_t n = (size_t)(slash - api_version);
    return strlen(group) == n && memcmp(api_version, group, n) == 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

static enum ag_result add_any(struct cluster_builder *b, const cJSON *obj, const char *dkind,
                              const char *dapi, int depth, char *err, size_t errlen);

/* Items of a List. A typed list (NodeList) from the API server may leave kind and apiVersion
 * out of its items: they default to the list's. */
static enum ag_result add_list(struct cluster_builder *b, const cJSON *obj, const char *kind, const char *api,
                               int depth, char *err, size_t errlen)
{
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(obj, "items");
    const cJSON *it;
    size_t i = 0;
    char dkind[128] = "";

    if (cJSON_IsNull(items))
        return AG_OK;
    if (!cJSON_IsArray(items)) {
        snprintf(err, errlen, "%s: items is not an array", kind);
        return AG_EINVAL;
    }
    if (depth >= CLUSTER_MAX_DEPTH) {
        snprintf(err, errlen, "%s: Lists nested too deeply", kind);
        return AG_EINVAL;
    }
    if (strcmp(kind, "List") != 0) {
        size_t n = strlen(kind) - 4;
        if (n < sizeof dkind) {
            memcpy(dkind, kind, n);
            dkind[n] = '\0';
        }
    }
    cJSON_ArrayForEach(it, items) {
        if (!cJSON_IsObject(it)) {
            snprintf(err, errlen, "%s: item %zu is not an object", kind, i);
            return AG_EINVAL;
        }
        enum ag_result r = add_any(b, it, dkind[0] ? dkind : NULL, dkind[0] ? api : NULL, depth + 1, err, errlen);
        if (r != AG_OK)
            return r;
        i++;
    }
    return AG_OK;
}

static enum ag_result add_any(struct cluster_builder *b, const cJSON *obj, const char *dkind,
                              const char *dapi, int depth, char *err, size_t errlen)
{
    const cJSON *jk = cJSON_GetObjectItemCaseSensitive(obj, "kind");
    const cJSON *ja = cJSON_GetObjectItemCaseSensitive(obj, "apiVersion");
    const char *kind = cJSON_IsString(jk) ? jk->valuestring : dkind;
    const char *api = cJSON_IsString(ja) ? ja->valuestring : dapi;

    if (!kind) {
        log_debug("cluster: skipping an object without kind");
        return AG_OK;
    }
    if (ends_with(kind, "List") && cJSON_GetObjectItemCaseSensitive(obj, "items"))
        return add_list(b, obj, kind, api, depth, err, errlen);

    struct objctx c = { kind, NULL, NULL, err, errlen };
    enum ag_result r;
    bool known = true;
    if (strcmp(kind, "Node") == 0 && api_group_is(api, ""))
        r = add_node(b, &c, obj, NULL);
    else if (strcmp(kind, "HyperConverged") == 0 && api &&
             (strcmp(api, "hco.kubevirt.io/v1beta1") == 0 || strcmp(api, "hco.kubevirt.io/v1") == 0))
        r = add_hco(b, &c, obj);
    else if (strcmp(kind, "KubeVirt") == 0 && api_group_is(api, "kubevirt.io"))
        r = add_kubevirt(b, &c, obj);
    else if (strcmp(kind, "DataSource") == 0 && api_group_is(api, "cdi.kubevirt.io"))
        r = add_datasource(b, &c, obj);
    else if (strcmp(kind, "PersistentVolumeClaim") == 0 && api_group_is(api, ""))
        r = add_pvc(b, &c, obj);
    else if (strcmp(kind, "VirtualMachineClusterPreference") == 0 && api_group_is(api, "instancetype.kubevirt.io"))
        r = add_preference(b, &c, obj, false);
    else if (strcmp(kind, "VirtualMachinePreference") == 0 && api_group_is(api, "instancetype.kubevirt.io"))
        r = add_preference(b, &c, obj, true);
    else {
        known = false;
        r = AG_OK;
    }
    if (!known)
        log_debug("cluster: skipping %s (%s)", kind, api ? api : "no apiVersion");
    else if (r == AG_ENOMEM)
        snprintf(err, errlen, "%s: out of memory", kind);
    else if (r == AG_ETOOBIG)
        snprintf(err, errlen, "%s: more than %u objects", kind, CLUSTER_MAX_ITEMS);
    return r;
}

enum ag_result cluster_builder_add(struct cluster_builder *b, const cJSON *obj, char *err, size_t errlen)
{
    char dummy[1];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    if (!b || !cJSON_IsObject(obj)) {
        snprintf(err, errlen, "not a JSON object");
        return AG_EINVAL;
    }
    return add_any(b, obj, NULL, NULL, 0, err, errlen);
}

enum ag_result cluster_builder_add_node(struct cluster_builder *b, const cJSON *obj, struct labelset *labels,
                                        char *err, size_t errlen)
{
    char dummy[1];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    if (!b || !cJSON_IsObject(obj) || !labels) {
        snprintf(err, errlen, labels ? "not a JSON object" : "no label map");
        return AG_EINVAL;
    }
    struct objctx c = { "Node", NULL, NULL, err, errlen };
    enum ag_result r = add_node(b, &c, obj, labels);
    if (r == AG_ENOMEM)
        snprintf(err, errlen, "Node %s: out of memory", c.name ? c.name : "(unnamed)");
    return r;
}

enum ag_result cluster_builder_add_catalog(struct cluster_builder *b, const cJSON *catalog, char *err,
                                           size_t errlen)
{
    char dummy[1];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    const cJSON *images = cJSON_IsObject(catalog) ? cJSON_GetObjectItemCaseSensitive(catalog, "images") : NULL;
    if (!b || !cJSON_IsObject(images)) {
        snprintf(err, errlen, "image catalog: expected {\"images\": {...}}");
        return AG_EINVAL;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, images) {
        const char *key = e->string;
        archset archs = 0;
        const cJSON *a;
        if (!key || !*key) {
            snprintf(err, errlen, "image catalog: empty image reference");
            return AG_EINVAL;
        }
        if (!cJSON_IsArray(e)) {
            snprintf(err, errlen, "image catalog: %s: not a list of architectures", key);
            return AG_EINVAL;
        }
        cJSON_ArrayForEach(a, e) {
            if (!cJSON_IsString(a)) {
                snprintf(err, errlen, "image catalog: %s: an architecture is not a string", key);
                return AG_EINVAL;
            }
            int id = arch_parse(a->valuestring);
            if (id == ARCH_NONE) {
                snprintf(err, errlen, "image catalog: %s: \"%s\" is not an architecture", key, a->valuestring);
                return AG_EINVAL;
            }
            archs |= arch_bit(id);
        }
        if (!archs) {
            snprintf(err, errlen, "image catalog: %s: no architectures", key);
            return AG_EINVAL;
        }
        struct w_cat *w;
        enum ag_result r = vec_push(&b->cat, (void **)&w);
        if (r != AG_OK) {
            snprintf(err, errlen, "image catalog: %s", r == AG_ENOMEM ? "out of memory" : "too many entries");
            return r;
        }
        w->seq = b->seq++;
        w->v.ref = pool_strdup(b->pool, key);
        w->v.prefix = ends_with(key, "/") || ends_with(key, "/*");
        w->v.archs = archs;
        if (!w->v.ref) {
            b->cat.n--;
            snprintf(err, errlen, "image catalog: out of memory");
            return AG_ENOMEM;
        }
    }
    return AG_OK;
}

/* ---- finish: sort, derive ------------------------------------------------------------------ */

static int cmp_str(const char *a, const char *b)
{
    if (!a || !b)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

static int cmp_nsname(const char *ans, const char *an, const char *bns, const char *bn)
{
    int c = cmp_str(ans, bns);
    return c ? c : cmp_str(an, bn);
}

static int cmp_seq(size_t a, size_t b)
{
    return (a > b) - (a < b);
}

static int cmp_w_node(const void *x, const void *y)
{
    const struct w_node *a = x, *b = y;
    int c = strcmp(a->v.name, b->v.name);
    return c ? c : cmp_seq(a->seq, b->seq);
}

static int cmp_w_ds(const void *x, const void *y)
{
    const struct w_ds *a = x, *b = y;
    int c = cmp_nsname(a->v.ns, a->v.name, b->v.ns, b->v.name);
    return c ? c : cmp_seq(a->seq, b->seq);
}

static int cmp_w_pvc(const void *x, const void *y)
{
    const struct w_pvc *a = x, *b = y;
    int c = cmp_nsname(a->v.ns, a->v.name, b->v.ns, b->v.name);
    return c ? c : cmp_seq(a->seq, b->seq);
}

static int cmp_w_pref(const void *x, const void *y)
{
    const struct w_pref *a = x, *b = y;
    int c = cmp_nsname(a->v.ns, a->v.name, b->v.ns, b->v.name);
    return c ? c : cmp_seq(a->seq, b->seq);
}

static int cmp_w_cat(const void *x, const void *y)
{
    const struct w_cat *a = x, *b = y;
    int c = strcmp(a->v.ref, b->v.ref);
    return c ? c : cmp_seq(a->seq, b->seq);
}

/* Sort `v` (elements: seq then value), keep the last-added of equal keys, and copy the values
 * into a pool array. `same` says whether two neighbours have equal keys. */
static void *sorted_copy(struct pool *pool, struct vec *v, size_t voff, size_t valsize,
                         int (*cmp)(const void *, const void *), bool (*same)(const void *, const void *),
                         size_t *nout, const char *what)
{
    *nout = 0;
    if (v->n == 0)
        return NULL;
    qsort(v->data, v->n, v->size, cmp);
    unsigned char *out = pool_alloc(pool, v->n * valsize);
    if (!out)
        return NULL;
    size_t k = 0, dups = 0;
    for (size_t i = 0; i < v->n; i++) {
        const unsigned char *e = v->data + i * v->size;
        if (i + 1 < v->n && same(e, e + v->size)) {
            dups++;
            continue;   /* a later one with the same key follows */
        }
        memcpy(out + k * valsize, e + voff, valsize);
        k++;
    }
    if (dups)
        log_debug("cluster: %zu duplicate %s replaced by later ones", dups, what);
    *nout = k;
    return out;
}

static bool same_node(const void *x, const void *y)
{
    return strcmp(((const struct w_node *)x)->v.name, ((const struct w_node *)y)->v.name) == 0;
}
static bool same_ds(const void *x, const void *y)
{
    const struct w_ds *a = x, *b = y;
    return cmp_nsname(a->v.ns, a->v.name, b->v.ns, b->v.name) == 0;
}
static bool same_pvc(const void *x, const void *y)
{
    const struct w_pvc *a = x, *b = y;
    return cmp_nsname(a->v.ns, a->v.name, b->v.ns, b->v.name) == 0;
}
static bool same_pref(const void *x, const void *y)
{
    const struct w_pref *a = x, *b = y;
    return cmp_nsname(a->v.ns, a->v.name, b->v.ns, b->v.name) == 0;
}
static bool same_cat(const void *x, const void *y)
{
    return strcmp(((const struct w_cat *)x)->v.ref, ((const struct w_cat *)y)->v.ref) == 0;
}

/* The architecture whose name sorts first among `s`, ARCH_NONE for an empty set. */
static int arch_first_by_name(archset s)
{
    int best = ARCH_NONE;
    for (int i = 0; i < ARCH_COUNT; i++)
        if (arch_in(s, i) && (best == ARCH_NONE || strcmp(arch_name(i), arch_name(best)) < 0))
            best = i;
    return best;
}

/* HCO's rule: the first control-plane architecture by name if workload nodes have it, else the
 * workload architecture with the most nodes (ties: first by name). */
static int hco_rule_default(const struct snapshot *s)
{
    archset cp = 0;
    unsigned count[ARCH_COUNT] = { 0 };
    for (size_t i = 0; i < s->nnodes; i++) {
        const struct node *n = &s->nodes[i];
        if (n->arch < 0 || n->arch >= ARCH_COUNT)
            continue;
        if (n->control_plane)
            cp |= arch_bit(n->arch);
        if (n->workload)
            count[n->arch]++;
    }
    int first_cp = arch_first_by_name(cp);
    if (first_cp != ARCH_NONE && count[first_cp] > 0)
        return first_cp;
    int best = ARCH_NONE;
    for (int a = 0; a < ARCH_COUNT; a++) {
        if (count[a] == 0)
            continue;
        if (best == ARCH_NONE || count[a] > count[best] ||
            (count[a] == count[best] && strcmp(arch_name(a), arch_name(best)) < 0))
            best = a;
    }
    return best;
}

/* The fields computed from the nodes and the settings: which nodes are workload nodes and pass
 * the KubeVirt rule, the workload architectures, the default architecture, the label index (in
 * s->pool) and the census of a VM without constraints. */
static enum ag_result derive(struct snapshot *s)
{
    struct node *nodes = (struct node *)s->nodes;
    bool any_worker = false;
    s->kubevirt_labels_nodes = false;
    for (size_t i = 0; i < s->nnodes; i++) {
        if (labels_has(&nodes[i].labels, LABEL_SCHEDULABLE))
            s->kubevirt_labels_nodes = true;
        if (labels_has(&nodes[i].labels, LABEL_ROLE_WORKER))
            any_worker = true;
    }
    s->workload_archs = 0;
    for (size_t i = 0; i < s->nnodes; i++) {
        struct node *n = &nodes[i];
        const char *kv = labels_get(&n->labels, LABEL_SCHEDULABLE);
        n->kubevirt_ok = kv && strcmp(kv, "true") == 0;
        n->workload = node_is_workload(n, s->has_workload_placement ? &s->workload_placement : NULL, any_worker);
        if (n->workload)
            s->workload_archs |= arch_bit(n->arch);
    }
    s->heterogeneous = arch_set_count(s->workload_archs) > 1;

    if (s->has_kubevirt && s->kubevirt_default_arch != ARCH_NONE)
        s->default_arch = s->kubevirt_default_arch;
    else if (s->has_hco && s->hco_default_arch != ARCH_NONE)
        s->default_arch = s->hco_default_arch;
    else
        s->default_arch = hco_rule_default(s);

    if (eligible_index_build(s) != AG_OK)
        return AG_ENOMEM;

    memset(&s->base, 0, sizeof s->base);
    for (size_t i = 0; i < s->nnodes; i++) {
        enum node_reason r = eligible_classify(&nodes[i], s->kubevirt_labels_nodes, NULL);
        int col = (nodes[i].arch >= 0 && nodes[i].arch < ARCH_COUNT) ? nodes[i].arch : ARCH_COUNT;
        if ((int)r >= 0 && r < NR_COUNT)
            s->base.n[r][col]++;
    }

    return AG_OK;
}

struct snapshot *cluster_builder_finish(struct cluster_builder *b)
{
    struct snapshot *s = NULL;
    if (!b)
        return NULL;
    s = mem_malloc(sizeof *s);
    if (!s)
        goto fail;
    *s = b->s;
    s->pool = b->pool;

#define SORTED(vecname, wtype, vtype, cmp, same, count, what) \
    sorted_copy(b->pool, &b->vecname, offsetof(struct wtype, v), sizeof(struct vtype), cmp, same, count, what)
    struct node *nodes = SORTED(nodes, w_node, node, cmp_w_node, same_node, &s->nnodes, "nodes");
    s->nodes = nodes;
    s->datasources = SORTED(dss, w_ds, datasource, cmp_w_ds, same_ds, &s->ndatasources, "DataSources");
    s->pvcs = SORTED(pvcs, w_pvc, pvc, cmp_w_pvc, same_pvc, &s->npvcs, "PVCs");
    s->preferences = SORTED(prefs, w_pref, preference, cmp_w_pref, same_pref, &s->npreferences, "preferences");
    s->catalog = SORTED(cat, w_cat, catalog_entry, cmp_w_cat, same_cat, &s->ncatalog, "catalog entries");
#undef SORTED
    if ((b->nodes.n && !s->nodes) || (b->dss.n && !s->datasources) || (b->pvcs.n && !s->pvcs) ||
        (b->prefs.n && !s->preferences) || (b->cat.n && !s->catalog))
        goto fail;

    if (derive(s) != AG_OK)
        goto fail;

    if (b->arch_mismatch)
        warn_once("cluster: %zu node(s) have a kubernetes.io/arch label that differs from "
                 "status.nodeInfo.architecture (first: %s, label %s, status %s); using the label",
                 b->arch_mismatch, b->mismatch_node, arch_name(b->mismatch_label),
                 arch_name(b->mismatch_status));

    s->built_at = time(NULL);
    s->bytes = pool_bytes(b->pool) + sizeof *s;
    s->lsets = (struct labelset **)(void *)b->lsets.data;     /* the references go with it */
    s->nlsets = b->lsets.n;
    b->lsets.data = NULL;
    b->lsets.n = 0;
    __atomic_store_n(&s->refs, 1, __ATOMIC_RELEASE);
    b->pool = NULL;     /* now the snapshot's */
    cluster_builder_free(b);
    return s;
fail:
    mem_free(s);
    cluster_builder_free(b);
    return NULL;
}

/* ---- look-ups ------------------------------------------------------------------------------ */

#define BSEARCH_NSNAME(arr, n, ns, name)                                              \
    do {                                                                               \
        size_t lo_ = 0, hi_ = (n);                                                     \
        while (lo_ < hi_) {                                                            \
            size_t mid_ = lo_ + (hi_ - lo_) / 2;                                       \
            int c_ = cmp_nsname((ns), (name), (arr)[mid_].ns, (arr)[mid_].name);       \
            if (c_ == 0)                                                               \
                return &(arr)[mid_];                                                   \
            if (c_ < 0)                                                                \
                hi_ = mid_;                                                            \
            else                                                                       \
                lo_ = mid_ + 1;                                                        \
        }                                                                              \
        return NULL;                                                                   \
    } while (0)

const struct datasource *snapshot_find_datasource(const struct snapshot *s, const char *ns, const char *name)
{
    if (!s || !name)
        return NULL;
    BSEARCH_NSNAME(s->datasources, s->ndatasources, ns, name);
}

const struct pvc *snapshot_find_pvc(const struct snapshot *s, const char *ns, const char *name)
{
    if (!s || !name)
        return NULL;
    BSEARCH_NSNAME(s->pvcs, s->npvcs, ns, name);
}

const struct preference *snapshot_find_preference(const struct snapshot *s, const char *ns, const char *name)
{
    if (!s || !name)
        return NULL;
    BSEARCH_NSNAME(s->preferences, s->npreferences, ns, name);
}

/* Exact (non-prefix) catalog entry for the first `len` bytes of `ref`. */
static const struct catalog_entry *catalog_exact(const struct snapshot *s, const char *ref, size_t len)
{
    size_t lo = 0, hi = s->ncatalog;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *e = s->catalog[mid].ref;
        int c = strncmp(ref, e, len);
        if (c == 0 && e[len] != '\0')
            c = -1;     /* the entry is longer: ref sorts first */
        if (c == 0)
            return s->catalog[mid].prefix ? NULL : &s->catalog[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

archset snapshot_catalog_lookup(const struct snapshot *s, const char *image)
{
    if (!s || !image || !*image || s->ncatalog == 0)
        return 0;
    size_t len = strlen(image);
    const struct catalog_entry *e = catalog_exact(s, image, len);
    if (e)
        return e->archs;
    const char *at = strchr(image, '@');
    size_t nodigest = at ? (size_t)(at - image) : len;
    if (nodigest < len && (e = catalog_exact(s, image, nodigest)) != NULL)
        return e->archs;
    /* a tag is a ':' after the last '/' (a ':' before it belongs to a registry port) */
    size_t slash = 0;
    for (size_t i = 0; i < nodigest; i++)
        if (image[i] == '/')
            slash = i + 1;
    const char *colon = memchr(image + slash, ':', nodigest - slash);
    size_t repo = colon ? (size_t)(colon - image) : nodigest;
    if (repo < nodigest && (e = catalog_exact(s, image, repo)) != NULL)
        return e->archs;
    size_t best_len = 0;
    archset best = 0;
    for (size_t i = 0; i < s->ncatalog; i++) {
        const struct catalog_entry *c = &s->catalog[i];
        if (!c->prefix)
            continue;
        size_t pl = strlen(c->ref);
        if (pl > 0 && c->ref[pl - 1] == '*')
            pl--;
        if (pl <= len && pl > best_len && memcmp(image, c->ref, pl) == 0) {
            best_len = pl;
            best = c->archs;
        }
    }
    return best;
}

/* ---- reference counting and the current snapshot ------------------------------------------ */

struct snapshot *snapshot_with_hco(struct snapshot *base, const struct hco_settings *h)
{
    struct snapshot *s = mem_malloc(sizeof *s);
    struct pool *pool = pool_new(16 * 1024);
    struct node *nodes = NULL;
    if (!s || !pool || (base->nnodes && !(nodes = pool_alloc(pool, base->nnodes * sizeof *nodes))))
        goto fail;
    *s = *base;
    s->pool = pool;
    s->lsets = NULL;                   /* the label maps stay the base's, which is kept alive */
    s->nlsets = 0;
    s->index = NULL;
    if (base->nnodes)
        memcpy(nodes, base->nodes, base->nnodes * sizeof *nodes);
    s->nodes = nodes;
    s->has_hco = true;
    s->hco_multiarch = h->multiarch;
    s->workload_placement = h->placement;
    s->has_workload_placement = h->has_placement;
    if (derive(s) != AG_OK)
        goto fail;
    s->bytes = pool_bytes(pool) + sizeof *s;
    snapshot_ref(base);
    s->derived_from = base;
    __atomic_store_n(&s->refs, 1, __ATOMIC_RELEASE);
    return s;
fail:
    pool_free(pool);
    mem_free(s);
    return NULL;
}

/* `refs` is a plain int in the header; the GCC/Clang __atomic builtins make every access to it
 * atomic without changing its declared type. */
void snapshot_ref(struct snapshot *s)
{
    if (s)
        __atomic_fetch_add(&s->refs, 1, __ATOMIC_RELAXED);
}

void snapshot_release(struct snapshot *s)
{
    if (!s)
        return;
    if (__atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        for (size_t i = 0; i < s->nlsets; i++)
            labelset_release(s->lsets[i]);
        mem_free(s->lsets);
        pool_free(s->pool);
        snapshot_release(s->derived_from);
        mem_free(s);
    }
}

static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static struct snapshot *current;
static atomic_uint_fast64_t generation;

void snapshot_publish(struct snapshot *s)
{
    pthread_mutex_lock(&current_lock);
    struct snapshot *old = current;
    current = s;
    atomic_fetch_add(&generation, 1);
    pthread_mutex_unlock(&current_lock);
    snapshot_release(old);
}

struct snapshot *snapshot_acquire(void)
{
    pthread_mutex_lock(&current_lock);
    struct snapshot *s = current;
    snapshot_ref(s);
    pthread_mutex_unlock(&current_lock);
    return s;
}

uint64_t snapshot_generation(void)
{
    return (uint64_t)atomic_load(&generation);
}
