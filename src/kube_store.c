/* kube_store.c - the live cluster's objects: the table of listed/watched kinds, pruning an object
 * to the fields cluster.c's builder reads, per-kind hash maps of pruned objects with change
 * detection, and building a snapshot from all of them (plus the image catalog). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kube_store.h"
#include "labelset.h"
#include "hash.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"

/* ---- the kinds ------------------------------------------------------------------------------ */

static const struct kube_kind kinds[KK_COUNT] = {
    [KK_NODE] = { "", "v1", "nodes", "Node", "NodeList", "v1", "/api/v1/nodes", "nodes", false },
    [KK_HCO_V1BETA1] = { "hco.kubevirt.io", "v1beta1", "hyperconvergeds", "HyperConverged", "HyperConvergedList",
                         "hco.kubevirt.io/v1beta1", "/apis/hco.kubevirt.io/v1beta1/hyperconvergeds",
                         "hyperconvergeds.hco.kubevirt.io", true },
    [KK_HCO_V1] = { "hco.kubevirt.io", "v1", "hyperconvergeds", "HyperConverged", "HyperConvergedList",
                    "hco.kubevirt.io/v1", "/apis/hco.kubevirt.io/v1/hyperconvergeds",
                    "hyperconvergeds.hco.kubevirt.io", true },
    [KK_KUBEVIRT] = { "kubevirt.io", "v1", "kubevirts", "KubeVirt", "KubeVirtList", "kubevirt.io/v1",
                      "/apis/kubevirt.io/v1/kubevirts", "kubevirts.kubevirt.io", true },
    [KK_DATASOURCE] = { "cdi.kubevirt.io", "v1beta1", "datasources", "DataSource", "DataSourceList",
                        "cdi.kubevirt.io/v1beta1", "/apis/cdi.kubevirt.io/v1beta1/datasources",
                        "datasources.cdi.kubevirt.io", true },
    [KK_PVC] = { "", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", "PersistentVolumeClaimList", "v1",
                 "/api/v1/persistentvolumeclaims", "persistentvolumeclaims", true },
    [KK_CLUSTER_PREFERENCE] = { "instancetype.kubevirt.io", "v1beta1", "virtualmachineclusterpreferences",
                                "VirtualMachineClusterPreference", "VirtualMachineClusterPreferenceList",
                                "instancetype.kubevirt.io/v1beta1",
                                "/apis/instancetype.kubevirt.io/v1beta1/virtualmachineclusterpreferences",
                                "virtualmachineclusterpreferences.instancetype.kubevirt.io", false },
    [KK_PREFERENCE] = { "instancetype.kubevirt.io", "v1beta1", "virtualmachinepreferences",
                        "VirtualMachinePreference", "VirtualMachinePreferenceList", "instancetype.kubevirt.io/v1beta1",
                        "/apis/instancetype.kubevirt.io/v1beta1/virtualmachinepreferences",
                        "virtualmachinepreferences.instancetype.kubevirt.io", true },
};

const struct kube_kind *kube_kinds(size_t *n)
{
    if (n)
        *n = KK_COUNT;
    return kinds;
}

/* ---- pruning -------------------------------------------------------------------------------- */

/* The fields each kind keeps besides metadata.name/namespace, as paths from the object's root
 * (NULL-terminated segment lists). Only what cluster.c reads. */
#define P(...) ((const char *const[]){ __VA_ARGS__, NULL })
static const char *const *const node_paths[] = {
    P("metadata", "labels"), P("spec", "taints"), P("spec", "unschedulable"),
    P("status", "nodeInfo", "architecture"), NULL,
};
static const char *const *const hco_paths[] = {
    P("spec", "featureGates", "enableMultiArchBootImageImport"),
    P("spec", "workloadSources", "enableMultiArchBootImageImport"),
    P("spec", "workloads", "nodePlacement"),
    P("spec", "deployment", "nodePlacements", "workload"),
    P("status", "nodeInfo", "defaultWorkloadArchitecture"), NULL,
};
static const char *const *const kubevirt_paths[] = {
    P("spec", "configuration", "developerConfiguration", "featureGates"),
    P("status", "defaultArchitecture"), NULL,
};
static const char *const *const datasource_paths[] = {
    P("metadata", "labels", LABEL_IMAGE_ARCH), P("spec", "source", "dataSource"), NULL,
};
static const char *const *const pvc_paths[] = {
    P("metadata", "labels", LABEL_IMAGE_ARCH), P("metadata", "annotations", ANNOT_CDI_IMAGE_ARCH), NULL,
};
static const char *const *const preference_paths[] = {
    P("spec", "requirements", "architecture"), P("spec", "preferredArchitecture"), NULL,
};
#undef P

static const char *const *const *kind_paths(unsigned kind)
{
    switch (kind) {
    case KK_NODE: return node_paths;
    case KK_HCO_V1BETA1:
    case KK_HCO_V1: return hco_paths;
    case KK_KUBEVIRT: return kubevirt_paths;
    case KK_DATASOURCE: return datasource_paths;
    case KK_PVC: return pvc_paths;
    default: return preference_paths;
    }
}

/* A member that is present and not JSON null. */
static const cJSON *member(const cJSON *obj, const char *key)
{
    const cJSON *m = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    return cJSON_IsNull(m) ? NULL : m;
}

/* The object member `key` of `dst`, made when absent. NULL on allocation failure. */
static cJSON *child_object(cJSON *dst, const char *key)
{
    cJSON *c = cJSON_GetObjectItemCaseSensitive(dst, key);
    if (c)
        return c;
    c = cJSON_CreateObject();
    if (c && !cJSON_AddItemToObject(dst, key, c)) {
        cJSON_Delete(c);
        return NULL;
    }
    return c;
}

/* Copy the value at `path` of `src` into `dst` at the same path, making intermediate objects.
 * An intermediate that is not an object is copied whole (so the builder sees and refuses it);
 * an absent or null value copies nothing. Sets *copied when something was copied. */
static enum ag_result copy_path(const cJSON *src, cJSON *dst, const char *const *path, bool *copied)
{
    const cJSON *v = member(src, path[0]);
    if (!v)
        return AG_OK;
    if (path[1] && cJSON_IsObject(v)) {
        /* make the intermediate only once something below it is copied */
        bool below = false;
        cJSON *existing = cJSON_GetObjectItemCaseSensitive(dst, path[0]);
        cJSON *tmp = existing ? existing : cJSON_CreateObject();
        if (!tmp)
            return AG_ENOMEM;
        enum ag_result r = copy_path(v, tmp, path + 1, &below);
        if (r != AG_OK || !below) {
            if (!existing)
                cJSON_Delete(tmp);
            return r;
        }
        if (!existing && !cJSON_AddItemToObject(dst, path[0], tmp)) {
            cJSON_Delete(tmp);
            return AG_ENOMEM;
        }
        *copied = true;
        return AG_OK;
    }
    if (cJSON_GetObjectItemCaseSensitive(dst, path[0]))
        return AG_OK;   /* already copied whole by an earlier path */
    cJSON *dup = cJSON_Duplicate(v, true);
    if (!dup)
        return AG_ENOMEM;
    if (!cJSON_AddItemToObject(dst, path[0], dup)) {
        cJSON_Delete(dup);
        return AG_ENOMEM;
    }
    *copied = true;
    return AG_OK;
}

/* An estimate of the memory a JSON value holds; stops counting past `limit`. */
static size_t json_size(const cJSON *j, size_t limit)
{
    size_t n = 0;
    for (const cJSON *c = j; c && n <= limit; c = c->next) {
        n += sizeof *c;
        if (c->string)
            n += strlen(c->string) + 1;
        if (c->valuestring)
            n += strlen(c->valuestring) + 1;
        if (c->child)
            n += json_size(c->child, limit - (n < limit ? n : limit));
    }
    return n;
}

static enum ag_result prune_fail(char *err, size_t errlen, const struct kube_kind *k, const char *ns,
                                 const char *name, const char *why)
{
    if (err && errlen)
        snprintf(err, errlen, "%s %s%s%s: %s", k->kind, ns ? ns : "", ns ? "/" : "", name ? name : "(unnamed)",
                 why);
    return AG_EINVAL;
}

static enum ag_result prune(unsigned kind, const cJSON *obj, cJSON **out, char *err, size_t errlen);

/* The pruned object outlives the watch line it came from: it is made outside the request arena
 * that the line is parsed in. */
enum ag_result kube_prune(unsigned kind, const cJSON *obj, cJSON **out, char *err, size_t errlen)
{
    int depth = mem_arena_pause();
    enum ag_result r = prune(kind, obj, out, err, errlen);
    mem_arena_resume(depth);
    return r;
}

static enum ag_result prune(unsigned kind, const cJSON *obj, cJSON **out, char *err, size_t errlen)
{
    enum ag_result r = AG_ENOMEM;
    cJSON *p = NULL, *meta;
    bool copied = false;

    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (kind >= KK_COUNT)
        return AG_EINVAL;
    const struct kube_kind *k = &kinds[kind];
    if (!cJSON_IsObject(obj))
        return prune_fail(err, errlen, k, NULL, NULL, "not a JSON object");
    const cJSON *jmeta = member(obj, "metadata");
    const cJSON *jname = member(jmeta, "name"), *jns = member(jmeta, "namespace");
    const char *name = cJSON_IsString(jname) ? jname->valuestring : NULL;
    const char *ns = cJSON_IsString(jns) ? jns->valuestring : NULL;
    if (!cJSON_IsObject(jmeta))
        return prune_fail(err, errlen, k, NULL, NULL, "metadata: missing or not an object");
    if (!name || !*name)
        return prune_fail(err, errlen, k, ns, NULL, "metadata.name: missing or not a string");
    if (k->namespaced && (!ns || !*ns))
        return prune_fail(err, errlen, k, NULL, name, "metadata.namespace: missing or not a string");

    if (kind == KK_PVC) {
        /* a label or annotation map of the wrong type is kept, for the builder to refuse */
        const cJSON *labels = member(jmeta, "labels"), *annots = member(jmeta, "annotations");
        bool by_label = labels && (!cJSON_IsObject(labels) || member(labels, LABEL_IMAGE_ARCH));
        bool by_annot = annots && (!cJSON_IsObject(annots) || member(annots, ANNOT_CDI_IMAGE_ARCH));
        if (!by_label && !by_annot)
            return AG_OK;   /* says nothing about its image: not kept */
    }

    if (!(p = cJSON_CreateObject()) || !cJSON_AddStringToObject(p, "apiVersion", k->api_version) ||
        !cJSON_AddStringToObject(p, "kind", k->kind) || !(meta = child_object(p, "metadata")) ||
        !cJSON_AddStringToObject(meta, "name", name) ||
        (k->namespaced && !cJSON_AddStringToObject(meta, "namespace", ns)))
        goto out;
    for (const char *const *const *path = kind_paths(kind); *path; path++)
        if ((r = copy_path(obj, p, *path, &copied)) != AG_OK)
            goto out;
    if (json_size(p, KUBE_MAX_OBJECT) > KUBE_MAX_OBJECT) {
        if (err && errlen)
            snprintf(err, errlen, "%s %s%s%s: larger than %u bytes after pruning", k->kind, ns ? ns : "",
                     ns ? "/" : "", name, KUBE_MAX_OBJECT);
        r = AG_ETOOBIG;
        goto out;
    }
    *out = p;
    p = NULL;
    r = AG_OK;
out:
    if (r == AG_ENOMEM && err && errlen)
        snprintf(err, errlen, "%s %s: out of memory", k->kind, name);
    cJSON_Delete(p);
    return r;
}

/* ---- maps ----------------------------------------------------------------------------------- */

struct entry {
    struct entry *next;
    uint64_t hash;
    cJSON *obj;
    struct labelset *labels;  /* a Node's labels, taken out of obj; NULL for other kinds (and for
                               * a Node whose labels the builder must refuse: they stay in obj) */
    bool refused;           /* the builder refused this version (logged once) */
    char key[];             /* "ns/name" */
};

struct kube_map {
    struct entry **slots;
    size_t cap, n;          /* cap: a power of two, or 0 */
};

struct kube_map *kube_map_new(void)
{
    return mem_calloc(1, sizeof(struct kube_map));
}

void kube_map_free(struct kube_map *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++) {
        struct entry *e = m->slots[i];
        while (e) {
            struct entry *nx = e->next;
            cJSON_Delete(e->obj);
            labelset_release(e->labels);
            mem_free(e);
            e = nx;
        }
    }
    mem_free(m->slots);
    mem_free(m);
}

size_t kube_map_count(const struct kube_map *m)
{
    return m ? m->n : 0;
}

static struct entry **map_find(const struct kube_map *m, const char *key, uint64_t h)
{
    if (!m->cap)
        return NULL;
    struct entry **pp = &m->slots[h & (m->cap - 1)];
    while (*pp && ((*pp)->hash != h || strcmp((*pp)->key, key) != 0))
        pp = &(*pp)->next;
    return *pp ? pp : NULL;
}

static bool map_grow(struct kube_map *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 64;
    struct entry **ns = mem_calloc(ncap, sizeof *ns);
    if (!ns)
        return false;
    for (size_t i = 0; i < m->cap; i++) {
        struct entry *e = m->slots[i];
        while (e) {
            struct entry *nx = e->next;
            size_t j = (size_t)e->hash & (ncap - 1);
            e->next = ns[j];
            ns[j] = e;
            e = nx;
        }
    }
    mem_free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return true;
}

struct member_ref {
    const char *name;
    size_t pos;
    const cJSON *item;
};

static int member_ref_cmp(const void *pa, const void *pb)
{
    const struct member_ref *a = pa, *b = pb;
    int c = strcmp(a->name, b->name);
    return c ? c : (a->pos > b->pos) - (a->pos < b->pos);
}

static bool same_json(const cJSON *a, const cJSON *b);

/* Members of `o` (n of them) sorted by name, then by position; NULL when out of memory. */
static struct member_ref *sorted_members(const cJSON *o, size_t n)
{
    struct member_ref *r = mem_malloc(n * sizeof *r);
    if (!r)
        return NULL;
    size_t i = 0;
    for (const cJSON *c = o->child; c; c = c->next, i++)
        r[i] = (struct member_ref){ c->string ? c->string : "", i, c };
    qsort(r, n, sizeof *r, member_ref_cmp);
    return r;
}

/* Objects whose members are not in the same order: equal when, name by name, the k-th member
 * of a name in one equals the k-th of that name in the other. Out of memory counts as unequal
 * (at worst one needless rebuild). */
static bool same_members_reordered(const cJSON *a, const cJSON *b, size_t n)
{
    struct member_ref *ra = sorted_members(a, n), *rb = ra ? sorted_members(b, n) : NULL;
    bool same = ra && rb;
    for (size_t i = 0; same && i < n; i++)
        same = !strcmp(ra[i].name, rb[i].name) && same_json(ra[i].item, rb[i].item);
    mem_free(ra);
    mem_free(rb);
    return same;
}

/* Whether a and b hold the same JSON; member order in objects does not matter. Unlike
 * cJSON_Compare, which looks members up by name, this is also right for an object that repeats
 * a member name (the k-th occurrence is matched with the k-th), so applying such an object twice
 * changes nothing. Depth is bounded by the nesting limit every stored object passed. */
static bool same_json(const cJSON *a, const cJSON *b)
{
    if (a == b)
        return true;
    if (!a || !b || (a->type & 0xFF) != (b->type & 0xFF))
        return false;
    switch (a->type & 0xFF) {
    case cJSON_Number:
        return a->valuedouble == b->valuedouble;
    case cJSON_String:
    case cJSON_Raw:
        return a->valuestring && b->valuestring ? !strcmp(a->valuestring, b->valuestring)
                                                : a->valuestring == b->valuestring;
    case cJSON_Array:
    case cJSON_Object: {
        const cJSON *x = a->child, *y = b->child;
        size_t n = 0;
        bool in_order = true;
        for (; x && y; x = x->next, y = y->next, n++) {
            if (cJSON_IsObject(a) && in_order &&
                strcmp(x->string ? x->string : "", y->string ? y->string : ""))
                in_order = false;
            if (in_order && !same_json(x, y))
                return false;
        }
        if (x || y)
            return false;
        return in_order || same_members_reordered(a, b, n);
    }
    default:
        return true; /* false, true, null: the type says it all */
    }
}

static bool same_entry(const cJSON *obj_a, const struct labelset *ls_a, const cJSON *obj_b,
                       const struct labelset *ls_b)
{
    return labelset_equal(ls_a, ls_b) && same_json(obj_a, obj_b);
}

/* Put `obj` and `labels` (both taken over, also on failure) under `key`; *changed: differs from
 * what was there. */
static enum ag_result map_put(struct kube_map *m, const char *key, cJSON *obj, struct labelset *labels,
                              bool *changed)
{
    uint64_t h = hash_str(key);
    struct entry **pp = map_find(m, key, h);
    if (pp) {
        struct entry *e = *pp;
        if (same_entry(e->obj, e->labels, obj, labels)) {
            cJSON_Delete(obj);
            labelset_release(labels);
            *changed = false;
            return AG_OK;
        }
        cJSON_Delete(e->obj);
        labelset_release(e->labels);
        e->obj = obj;
        e->labels = labels;
        e->refused = false;
        *changed = true;
        return AG_OK;
    }
    enum ag_result r = AG_ETOOBIG;
    struct entry *e = NULL;
    if (m->n >= KUBE_MAX_OBJECTS)
        goto fail;
    r = AG_ENOMEM;
    if ((m->n + 1) * 4 > m->cap * 3 && !map_grow(m))
        goto fail;
    size_t klen = strlen(key);
    if (!(e = mem_malloc(sizeof *e + klen + 1)))
        goto fail;
    memcpy(e->key, key, klen + 1);
    e->hash = h;
    e->obj = obj;
    e->labels = labels;
    e->refused = false;
    size_t j = (size_t)h & (m->cap - 1);
    e->next = m->slots[j];
    m->slots[j] = e;
    m->n++;
    *changed = true;
    return AG_OK;
fail:
    cJSON_Delete(obj);
    labelset_release(labels);
    return r;
}

static bool map_del(struct kube_map *m, const char *key)
{
    struct entry **pp = map_find(m, key, hash_str(key));
    if (!pp)
        return false;
    struct entry *e = *pp;
    *pp = e->next;
    cJSON_Delete(e->obj);
    labelset_release(e->labels);
    mem_free(e);
    m->n--;
    return true;
}

/* "ns/name" of an object of `kind` ("/name" when cluster-scoped); false when it has no usable
 * name (or namespace) or the key does not fit. */
static bool object_key(unsigned kind, const cJSON *obj, char *key, size_t keylen)
{
    const cJSON *meta = member(obj, "metadata");
    const cJSON *jname = member(meta, "name"), *jns = member(meta, "namespace");
    if (!cJSON_IsString(jname) || !*jname->valuestring)
        return false;
    const char *ns = "";
    if (kinds[kind].namespaced) {
        if (!cJSON_IsString(jns) || !*jns->valuestring)
            return false;
        ns = jns->valuestring;
    }
    int n = snprintf(key, keylen, "%s/%s", ns, jname->valuestring);
    return n > 0 && (size_t)n < keylen;
}

#define KEY_MAX 512     /* namespace (63) + "/" + name (253) fit with room */

/* Prune `obj` for storing: a Node's labels, when the builder would take them, leave the pruned
 * JSON for a shared label map (*labels; NULL for other kinds and for labels the builder must
 * refuse, which stay in the JSON so it does, naming them). */
static enum ag_result prune_store(unsigned kind, const cJSON *obj, cJSON **out, struct labelset **labels, char *err,
                                  size_t errlen)
{
    *labels = NULL;
    enum ag_result r = kube_prune(kind, obj, out, err, errlen);
    if (r != AG_OK || !*out || kind != KK_NODE)
        return r;
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(*out, "metadata");
    cJSON *jlabels = cJSON_GetObjectItemCaseSensitive(meta, "labels");
    struct pool *scratch = pool_new(4096);
    struct labels lab;
    char perr[256];
    r = AG_ENOMEM;
    if (!scratch)
        goto out;
    r = selector_parse_labels(jlabels, scratch, &lab, perr, sizeof perr);
    if (r == AG_EINVAL) {
        r = AG_OK;      /* left in the JSON, for the builder to refuse */
        goto out;
    }
    if (r != AG_OK || (r = labelset_make(&lab, labels)) != AG_OK)
        goto out;
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "labels");
out:
    pool_free(scratch);
    if (r != AG_OK) {
        cJSON_Delete(*out);
        *out = NULL;
        if (err && errlen)
            snprintf(err, errlen, "%s: out of memory", kinds[kind].kind);
    }
    return r;
}

/* A copy of a stored object, with a Node's labels put back in. NULL on allocation failure. */
static cJSON *stored_copy(const cJSON *obj, const struct labelset *ls)
{
    cJSON *d = cJSON_Duplicate(obj, true);
    if (!d || !ls)
        return d;
    const struct labels *l = labelset_labels(ls);
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(d, "metadata");
    cJSON *jl = l->n ? cJSON_AddObjectToObject(meta, "labels") : meta;
    for (size_t i = 0; jl && i < l->n; i++)
        if (!cJSON_AddStringToObject(jl, l->items[i].key, l->items[i].value))
            jl = NULL;
    if (!jl) {
        cJSON_Delete(d);
        return NULL;
    }
    return d;
}

enum ag_result kube_map_add(struct kube_map *m, unsigned kind, const cJSON *obj, char *err, size_t errlen)
{
    cJSON *p = NULL;
    struct labelset *ls = NULL;
    char key[KEY_MAX];
    bool changed;
    enum ag_result r = prune_store(kind, obj, &p, &ls, err, errlen);
    if (r != AG_OK || !p)
        return r;
    if (!object_key(kind, p, key, sizeof key)) {
        cJSON_Delete(p);
        labelset_release(ls);
        if (err && errlen)
            snprintf(err, errlen, "%s: name or namespace too long", kinds[kind].kind);
        return AG_EINVAL;
    }
    r = map_put(m, key, p, ls, &changed);
    if (r != AG_OK && err && errlen)
        snprintf(err, errlen, "%s %s: %s", kinds[kind].kind, key,
                 r == AG_ENOMEM ? "out of memory" : "too many objects");
    return r;
}

const cJSON *kube_map_get(const struct kube_map *m, const char *key)
{
    if (!m || !key)
        return NULL;
    struct entry **pp = map_find(m, key, hash_str(key));
    return pp ? (*pp)->obj : NULL;
}

/* ---- the store ------------------------------------------------------------------------------ */

struct kube_store {
    pthread_mutex_t lock;
    struct kube_map *maps[KK_COUNT];
    cJSON *catalog;
};

struct kube_store *kube_store_new(void)
{
    struct kube_store *s = mem_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    for (unsigned i = 0; i < KK_COUNT; i++) {
        if (!(s->maps[i] = kube_map_new())) {
            for (unsigned j = 0; j < i; j++)
                kube_map_free(s->maps[j]);
            mem_free(s);
            return NULL;
        }
    }
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

void kube_store_free(struct kube_store *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < KK_COUNT; i++)
        kube_map_free(s->maps[i]);
    cJSON_Delete(s->catalog);
    pthread_mutex_destroy(&s->lock);
    mem_free(s);
}

enum ag_result kube_store_apply(struct kube_store *s, unsigned kind, enum kube_event ev, const cJSON *obj,
                                bool *changed, char *err, size_t errlen)
{
    char key[KEY_MAX];
    cJSON *p = NULL;
    struct labelset *ls = NULL;
    enum ag_result r = AG_OK;

    *changed = false;
    if (err && errlen)
        err[0] = '\0';
    if (!s || kind >= KK_COUNT)
        return AG_EINVAL;
    if (ev != KUBE_DELETED && (r = prune_store(kind, obj, &p, &ls, err, errlen)) != AG_OK)
        return r;   /* pruning (the costly part) happens outside the lock */
    /* a deleted object's last state may be anything: only its key matters */
    if (!object_key(kind, p ? p : obj, key, sizeof key)) {
        cJSON_Delete(p);
        labelset_release(ls);
        if (err && errlen)
            snprintf(err, errlen, "%s: no usable metadata.name%s, or too long", kinds[kind].kind,
                     kinds[kind].namespaced ? " and metadata.namespace" : "");
        return AG_EINVAL;
    }
    pthread_mutex_lock(&s->lock);
    if (p) {
        r = map_put(s->maps[kind], key, p, ls, changed);
        if (r != AG_OK && err && errlen)
            snprintf(err, errlen, "%s %s: %s", kinds[kind].kind, key,
                     r == AG_ENOMEM ? "out of memory" : "too many objects");
    } else {
        *changed = map_del(s->maps[kind], key);
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}

/* The object's metadata.resourceVersion into rv ("" when unusable). */
static void line_rv(const cJSON *obj, char *rv, size_t rvlen)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *jrv = cJSON_IsObject(meta) ? cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion") : NULL;
    rv[0] = '\0';
    if (cJSON_IsString(jrv) && *jrv->valuestring && strlen(jrv->valuestring) < rvlen)
        snprintf(rv, rvlen, "%s", jrv->valuestring);
}

static enum ag_result apply_line(struct kube_store *s, unsigned kind, const char *line, size_t len,
                                 struct kube_line *out);

enum ag_result kube_store_apply_line(struct kube_store *s, unsigned kind, const char *line, size_t len,
                                     struct kube_line *out)
{
    enum ag_result r;

    memset(out, 0, sizeof *out);
    out->type = KUBE_LINE_BAD;
    if (kind >= KK_COUNT || !line)
        return AG_EINVAL;
    /* The event's tree lives in this thread's request arena, freed at once at the end: a node
     * heartbeat parses thousands of small values, which would otherwise leave the heap in
     * fragments between the objects the store keeps. */
    mem_arena_begin();
    r = apply_line(s, kind, line, len, out);
    mem_arena_end();
    return r;
}

static enum ag_result apply_line(struct kube_store *s, unsigned kind, const char *line, size_t len,
                                 struct kube_line *out)
{
    const char *end = NULL;
    enum ag_result r = AG_OK;
    cJSON *j = cJSON_ParseWithLengthOpts(line, len, &end, 0);
    const cJSON *jt = j ? cJSON_GetObjectItemCaseSensitive(j, "type") : NULL;
    const cJSON *obj = j ? cJSON_GetObjectItemCaseSensitive(j, "object") : NULL;
    if (!cJSON_IsString(jt) || !cJSON_IsObject(obj)) {
        cJSON_Delete(j);
        return AG_EINVAL;
    }
    const char *type = jt->valuestring;
    enum kube_event ev = KUBE_ADDED;
    out->type = KUBE_LINE_CHANGE;
    if (strcmp(type, "ADDED") == 0)
        ev = KUBE_ADDED;
    else if (strcmp(type, "MODIFIED") == 0)
        ev = KUBE_MODIFIED;
    else if (strcmp(type, "DELETED") == 0)
        ev = KUBE_DELETED;
    else if (strcmp(type, "BOOKMARK") == 0)
        out->type = KUBE_LINE_BOOKMARK;
    else if (strcmp(type, "ERROR") == 0)
        out->type = KUBE_LINE_ERROR;
    else
        out->type = KUBE_LINE_OTHER;

    switch (out->type) {
    case KUBE_LINE_CHANGE:
        r = kube_store_apply(s, kind, ev, obj, &out->changed, out->message, sizeof out->message);
        line_rv(obj, out->rv, sizeof out->rv);
        break;
    case KUBE_LINE_BOOKMARK:
        line_rv(obj, out->rv, sizeof out->rv);
        break;
    case KUBE_LINE_ERROR: {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "code");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "message");
        out->has_code = cJSON_IsNumber(code);
        out->code = out->has_code ? code->valueint : 0;
        snprintf(out->message, sizeof out->message, "%s", cJSON_IsString(m) ? m->valuestring : "(no message)");
        break;
    }
    default:
        log_debug("kube: watch of %s: ignoring an event of type %s", kinds[kind].name, type);
        break;
    }
    cJSON_Delete(j);
    return r;
}

/* Whether maps a and b hold equal objects under equal keys. */
static bool maps_equal(const struct kube_map *a, const struct kube_map *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < b->cap; i++)
        for (const struct entry *e = b->slots[i]; e; e = e->next) {
            struct entry **pp = map_find(a, e->key, e->hash);
            if (!pp || !same_entry((*pp)->obj, (*pp)->labels, e->obj, e->labels))
                return false;
        }
    return true;
}

/* Carry the "refused" marks of unchanged objects over to the new map, so a malformed object
 * that did not change is not logged again after a relist. */
static void carry_refused(const struct kube_map *old, struct kube_map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        for (struct entry *e = m->slots[i]; e; e = e->next) {
            struct entry **pp = map_find(old, e->key, e->hash);
            if (pp && (*pp)->refused && same_entry((*pp)->obj, (*pp)->labels, e->obj, e->labels))
                e->refused = true;
        }
}

bool kube_store_replace(struct kube_store *s, unsigned kind, struct kube_map *m)
{
    if (!s || kind >= KK_COUNT || !m) {
        kube_map_free(m);
        return false;
    }
    pthread_mutex_lock(&s->lock);
    struct kube_map *old = s->maps[kind];
    bool changed = !maps_equal(old, m);
    carry_refused(old, m);
    s->maps[kind] = m;
    pthread_mutex_unlock(&s->lock);
    kube_map_free(old);
    return changed;
}

size_t kube_store_count(struct kube_store *s, unsigned kind)
{
    if (!s || kind >= KK_COUNT)
        return 0;
    pthread_mutex_lock(&s->lock);
    size_t n = s->maps[kind]->n;
    pthread_mutex_unlock(&s->lock);
    return n;
}

cJSON *kube_store_get(struct kube_store *s, unsigned kind, const char *key)
{
    if (!s || kind >= KK_COUNT || !key)
        return NULL;
    pthread_mutex_lock(&s->lock);
    struct entry **pp = map_find(s->maps[kind], key, hash_str(key));
    cJSON *d = pp ? stored_copy((*pp)->obj, (*pp)->labels) : NULL;
    pthread_mutex_unlock(&s->lock);
    return d;
}

enum ag_result kube_store_set_catalog(struct kube_store *s, cJSON *catalog, char *err, size_t errlen)
{
    char dummy[1];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    if (!s) {
        cJSON_Delete(catalog);
        return AG_EINVAL;
    }
    if (catalog) {
        /* refuse it whole here, so a build never adds half a catalog */
        struct cluster_builder *b = cluster_builder_new();
        enum ag_result r = b ? cluster_builder_add_catalog(b, catalog, err, errlen) : AG_ENOMEM;
        cluster_builder_free(b);
        if (r != AG_OK) {
            if (r == AG_ENOMEM)
                snprintf(err, errlen, "image catalog: out of memory");
            cJSON_Delete(catalog);
            return r;
        }
    }
    pthread_mutex_lock(&s->lock);
    cJSON *old = s->catalog;
    s->catalog = catalog;
    pthread_mutex_unlock(&s->lock);
    cJSON_Delete(old);
    return AG_OK;
}

/* Feed every object of one map to the builder. AG_OK unless memory ran out. */
static enum ag_result feed_map(struct cluster_builder *b, unsigned kind, struct kube_map *m,
                               const struct kube_map *skip, size_t *refused, char *err, size_t errlen)
{
    char berr[512];
    for (size_t i = 0; i < m->cap; i++)
        for (struct entry *e = m->slots[i]; e; e = e->next) {
            if (skip && map_find(skip, e->key, e->hash))
                continue;
            enum ag_result r = e->labels ? cluster_builder_add_node(b, e->obj, e->labels, berr, sizeof berr)
                                         : cluster_builder_add(b, e->obj, berr, sizeof berr);
            if (r == AG_OK)
                continue;
            if (r == AG_ENOMEM) {
                snprintf(err, errlen, "%s", berr);
                return r;
            }
            (*refused)++;
            if (!e->refused) {
                e->refused = true;
                metrics_kube_count(kind, KC_REFUSED);
                log_warn("cluster: skipping %s from kube-apiserver: %s", kinds[kind].kind, berr);
            }
        }
    return AG_OK;
}

struct snapshot *kube_store_build(struct kube_store *s, size_t *refused, char *err, size_t errlen)
{
    char dummy[1];
    size_t nref = 0;
    enum ag_result r = AG_OK;
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    if (refused)
        *refused = 0;
    if (!s) {
        snprintf(err, errlen, "no store");
        return NULL;
    }
    struct cluster_builder *b = cluster_builder_new();
    if (!b) {
        snprintf(err, errlen, "out of memory building the snapshot");
        return NULL;
    }
    pthread_mutex_lock(&s->lock);
    for (unsigned k = 0; k < KK_COUNT && r == AG_OK; k++)
        r = feed_map(b, k, s->maps[k], k == KK_HCO_V1BETA1 ? s->maps[KK_HCO_V1] : NULL, &nref, err, errlen);
    if (r == AG_OK && s->catalog) {
        char berr[512] = "";
        /* checked by kube_store_set_catalog: only memory can fail here */
        if (cluster_builder_add_catalog(b, s->catalog, berr, sizeof berr) != AG_OK) {
            snprintf(err, errlen, "%s", berr);
            r = AG_ENOMEM;
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (refused)
        *refused = nref;
    if (r != AG_OK) {
        cluster_builder_free(b);
        return NULL;
    }
    struct snapshot *snap = cluster_builder_finish(b);
    if (!snap)
        snprintf(err, errlen, "out of memory building the snapshot");
    return snap;
}
