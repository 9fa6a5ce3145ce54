/* inventory.c - the VM and VMI inventory: compact facts per object (vm_extract into a small
 * pool of the object's own, strings copied out of the JSON), a sorted array of entries keyed by
 * namespace/name, change detection by fingerprint, and loading from a cluster-state folder. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "audit/inventory.h"
#include "source_file.h"
#include "hash.h"
#include "mem.h"

#define INV_SCRATCH_CHUNK 4096      /* the first read of an object, to size its pool */

struct inventory {
    pthread_mutex_t mu;
    struct inv_entry **items;   /* sorted by (ns, name) */
    size_t n, cap;
    size_t nvm, nvmi;
    size_t bytes;
    uint64_t generation;
    unsigned epoch[2];          /* per kind (VM, VMI): bumped by inventory_sync_begin */
    uint64_t sync_from[2];      /* the generation at the begin */
};

struct inventory *inventory_new(void)
{
    struct inventory *inv = mem_calloc(1, sizeof *inv);
    if (!inv)
        return NULL;
    pthread_mutex_init(&inv->mu, NULL);
    return inv;
}

static size_t obj_bytes(const struct inv_obj *o)
{
    return o ? sizeof *o + pool_bytes(o->pool) : 0;
}

static void obj_free(struct inv_obj *o)
{
    if (!o)
        return;
    pool_free(o->pool);
    mem_free(o);
}

static void entry_free(struct inv_entry *e)
{
    if (!e)
        return;
    obj_free(e->vm);
    obj_free(e->vmi);
    mem_free(e);
}

void inventory_free(struct inventory *inv)
{
    if (!inv)
        return;
    for (size_t i = 0; i < inv->n; i++)
        entry_free(inv->items[i]);
    mem_free(inv->items);
    pthread_mutex_destroy(&inv->mu);
    mem_free(inv);
}

/* ---- compact facts ------------------------------------------------------------------------ */

static uint64_t h_str(uint64_t h, const char *s)
{
    if (!s)
        return hash_fnv1a(h, "\x01", 1);
    return hash_fnv1a(h, s, strlen(s) + 1);
}

static uint64_t h_int(uint64_t h, long long v)
{
    return hash_fnv1a(h, &v, sizeof v);
}

static uint64_t fingerprint(const struct inv_obj *o)
{
    uint64_t h = HASH_FNV1A_START;
    h = h_int(h, o->readable);
    h = h_str(h, o->err);
    h = h_int(h, o->running);
    h = h_str(h, o->node);
    h = h_str(h, o->uid);
    if (!o->readable)
        return h;
    const struct vm_facts *f = &o->facts;
    h = h_str(h, f->arch);
    h = h_str(h, f->pref_name);
    h = h_int(h, f->pref_cluster);
    h = h_int(h, f->has_node_selector);
    h = h_int(h, f->has_constraints);
    h = h_str(h, f->annot_archs);
    const struct placement *p = &f->placement;
    h = h_int(h, (long long)p->node_selector.n);
    for (size_t i = 0; i < p->node_selector.n; i++) {
        h = h_str(h, p->node_selector.items[i].key);
        h = h_str(h, p->node_selector.items[i].value);
    }
    h = h_int(h, p->has_affinity);
    h = h_int(h, (long long)p->affinity.n);
    for (size_t t = 0; t < p->affinity.n; t++) {
        const struct sel_term *term = &p->affinity.terms[t];
        h = h_int(h, (long long)term->n);
        for (size_t r = 0; r < term->n; r++) {
            const struct sel_req *q = &term->reqs[r];
            h = h_str(h, q->key);
            h = h_int(h, q->op);
            h = h_int(h, q->is_field);
            h = h_int(h, (long long)q->nvalues);
            for (size_t v = 0; v < q->nvalues; v++)
                h = h_str(h, q->values[v]);
        }
    }
    h = h_int(h, (long long)p->ntolerations);
    for (size_t i = 0; i < p->ntolerations; i++) {
        h = h_str(h, p->tolerations[i].key);
        h = h_int(h, p->tolerations[i].op);
        h = h_str(h, p->tolerations[i].value);
        h = h_int(h, p->tolerations[i].effect);
    }
    h = h_int(h, (long long)f->nimages);
    for (size_t i = 0; i < f->nimages; i++) {
        const struct vm_image *im = &f->images[i];
        h = h_int(h, im->kind);
        h = h_str(h, im->ns);
        h = h_str(h, im->name);
        h = h_str(h, im->arch_str);
        h = h_int(h, im->dvt_index);
        h = h_int(h, im->volume_index);
    }
    return h;
}

/* Copy a borrowed string into the pool; false on allocation failure. */
static bool own(struct pool *pool, const char **s)
{
    if (!*s)
        return true;
    *s = pool_strdup(pool, *s);
    return *s != NULL;
}

/* vm_extract leaves strings pointing into the JSON: copy them (placement and the image array
 * are already in the pool). */
static bool own_facts(struct pool *pool, struct vm_facts *f)
{
    const char *old_ns = f->ns;
    if (!own(pool, &f->ns) || !own(pool, &f->name) || !own(pool, &f->arch) || !own(pool, &f->pref_name) ||
        !own(pool, &f->sel_arch) || !own(pool, &f->annot_archs))
        return false;
    struct vm_image *imgs = (struct vm_image *)f->images;
    for (size_t i = 0; i < f->nimages; i++) {
        if (imgs[i].ns == old_ns)
            imgs[i].ns = f->ns;
        else if (!own(pool, &imgs[i].ns))
            return false;
        if (!own(pool, &imgs[i].name) || !own(pool, &imgs[i].arch_str))
            return false;
    }
    return true;
}

static const cJSON *member(const cJSON *obj, const char *key)
{
    if (!cJSON_IsObject(obj))
        return NULL;
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    return j && !cJSON_IsNull(j) ? j : NULL;
}

/* A status string field: NULL when absent; *bad set when present and not a string. */
static const char *status_string(const cJSON *status, const char *key, bool *bad)
{
    const cJSON *j = member(status, key);
    if (!j)
        return NULL;
    if (!cJSON_IsString(j) || !j->valuestring) {
        *bad = true;
        return NULL;
    }
    return j->valuestring;
}

/* Read one object into `o` with its strings in `pool`. false only on allocation failure. */
static bool fill(struct inv_obj *o, struct pool *pool, const cJSON *obj, bool is_vmi, const char *ns)
{
    memset(o, 0, sizeof *o);
    char err[INVENTORY_ERR_MAX];
    err[0] = '\0';
    enum ag_result r = vm_extract(obj, is_vmi, ns, pool, &o->facts, err, sizeof err);
    if (r == AG_OK) {
        o->readable = true;
        if (!own_facts(pool, &o->facts))
            return false;
    } else if (r == AG_EINVAL) {
        /* forget whatever the failed extraction allocated */
        pool_reset(pool);
        memset(&o->facts, 0, sizeof o->facts);
        o->facts.is_vmi = is_vmi;
        err[sizeof err - 1] = '\0';
        if (!(o->err = pool_strdup(pool, err[0] ? err : "unreadable")))
            return false;
    } else {
        return false;
    }
    const cJSON *status = member(obj, "status");
    if (status && !cJSON_IsObject(status)) {
        if (o->readable) {
            o->readable = false;
            o->err = "status: must be an object";
        }
    } else {
        bool bad = false;
        const char *phase = status_string(status, is_vmi ? "phase" : "printableStatus", &bad);
        const char *node = is_vmi ? status_string(status, "nodeName", &bad) : NULL;
        if (bad && o->readable) {
            o->readable = false;
            o->err = is_vmi ? "status.phase and status.nodeName: must be strings"
                            : "status.printableStatus: must be a string";
        }
        o->running = phase && strcmp(phase, "Running") == 0;
        if (node && *node && !(o->node = pool_strdup(pool, node)))
            return false;
    }
    const cJSON *uid = member(member(obj, "metadata"), "uid");
    if (cJSON_IsString(uid) && uid->valuestring && uid->valuestring[0] && strlen(uid->valuestring) < 128 &&
        !(o->uid = pool_strdup(pool, uid->valuestring)))
        return false;
    return true;
}

/* Read the facts once into a scratch pool: their fingerprint, and the size of the pool that holds
 * them (the same allocations in the same order fit it). False only on allocation failure. */
static bool obj_probe(const cJSON *obj, bool is_vmi, const char *ns, uint64_t *fp, size_t *need)
{
    struct inv_obj t;
    struct pool *scratch = pool_new(INV_SCRATCH_CHUNK);
    bool ok = scratch && fill(&t, scratch, obj, is_vmi, ns);
    if (ok) {
        *fp = fingerprint(&t);
        *need = pool_used(scratch);
    }
    pool_free(scratch);
    return ok;
}

/* The compact form of one object in a pool of exactly `need` bytes (NULL only on allocation
 * failure). */
static struct inv_obj *obj_make(const cJSON *obj, bool is_vmi, const char *ns, size_t need)
{
    struct inv_obj *o = mem_calloc(1, sizeof *o);
    struct pool *pool = o ? pool_new(need ? need : 16) : NULL;
    if (!pool || !fill(o, pool, obj, is_vmi, ns)) {
        pool_free(pool);
        mem_free(o);
        return NULL;
    }
    o->pool = pool;
    o->fingerprint = fingerprint(o);
    return o;
}

/* ---- the sorted array ----------------------------------------------------------------------- */

static int key_cmp(const char *ns1, const char *n1, const char *ns2, const char *n2)
{
    int c = strcmp(ns1, ns2);
    return c ? c : strcmp(n1, n2);
}

/* Index of the entry, or where it would go (*found false). */
static size_t find(const struct inventory *inv, const char *ns, const char *name, bool *found)
{
    size_t lo = 0, hi = inv->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = key_cmp(inv->items[mid]->ns, inv->items[mid]->name, ns, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static struct inv_entry *entry_new(const char *ns, const char *name)
{
    size_t a = strlen(ns) + 1, b = strlen(name) + 1;
    struct inv_entry *e = mem_malloc(sizeof *e + a + b);
    if (!e)
        return NULL;
    char *s = (char *)(e + 1);
    memcpy(s, ns, a);
    memcpy(s + a, name, b);
    e->ns = s;
    e->name = s + a;
    e->vm = e->vmi = NULL;
    return e;
}

/* Put `o` (taken over) as the VM or VMI of ns/name. Lock held. */
static enum ag_result put_locked(struct inventory *inv, bool is_vmi, const char *ns, const char *name,
                                 struct inv_obj *o, bool *changed)
{
    bool found;
    size_t at = find(inv, ns, name, &found);
    struct inv_entry *e;
    if (found) {
        e = inv->items[at];
    } else {
        if (inv->n >= INVENTORY_MAX_ENTRIES) {
            obj_free(o);
            return AG_ETOOBIG;
        }
        if (inv->n == inv->cap) {
            size_t ncap = inv->cap ? inv->cap * 2 : 64;
            struct inv_entry **ni = mem_realloc(inv->items, ncap * sizeof *ni);
            if (!ni) {
                obj_free(o);
                return AG_ENOMEM;
            }
            inv->items = ni;
            inv->cap = ncap;
        }
        if (!(e = entry_new(ns, name))) {
            obj_free(o);
            return AG_ENOMEM;
        }
        memmove(&inv->items[at + 1], &inv->items[at], (inv->n - at) * sizeof *inv->items);
        inv->items[at] = e;
        inv->n++;
        inv->bytes += sizeof *e + strlen(ns) + strlen(name) + 2;
    }
    struct inv_obj **slot = is_vmi ? &e->vmi : &e->vm;
    bool differs = !*slot || (*slot)->fingerprint != o->fingerprint;
    if (changed)
        *changed = differs;
    if (!differs) {
        /* the same facts: keep the object already in place (long-lived objects never move) */
        (*slot)->seen = inv->epoch[is_vmi];
        obj_free(o);
        return AG_OK;
    }
    o->seen = inv->epoch[is_vmi];
    if (!*slot)
        (*(is_vmi ? &inv->nvmi : &inv->nvm))++;
    inv->bytes -= obj_bytes(*slot);
    obj_free(*slot);
    *slot = o;
    inv->bytes += obj_bytes(o);
    inv->generation++;
    return AG_OK;
}

/* Free the VM or VMI of `e` (which holds one); frees `e` too and returns true when it is left
 * holding neither (the caller takes it out of the array). Lock held. */
static bool forget_locked(struct inventory *inv, struct inv_entry *e, bool is_vmi)
{
    struct inv_obj **slot = is_vmi ? &e->vmi : &e->vm;
    inv->bytes -= obj_bytes(*slot);
    obj_free(*slot);
    *slot = NULL;
    (*(is_vmi ? &inv->nvmi : &inv->nvm))--;
    inv->generation++;
    if (e->vm || e->vmi)
        return false;
    inv->bytes -= sizeof *e + strlen(e->ns) + strlen(e->name) + 2;
    mem_free(e);
    return true;
}

/* Remove the VM or VMI of entry `at`; drops the entry when it holds neither. Lock held. */
static bool delete_locked(struct inventory *inv, bool is_vmi, size_t at)
{
    struct inv_entry *e = inv->items[at];
    if (!(is_vmi ? e->vmi : e->vm))
        return false;
    if (forget_locked(inv, e, is_vmi)) {
        memmove(&inv->items[at], &inv->items[at + 1], (inv->n - at - 1) * sizeof *inv->items);
        inv->n--;
    }
    return true;
}

static bool key_of(const cJSON *obj, const char **ns, const char **name, char *err, size_t errlen)
{
    const cJSON *meta = member(obj, "metadata");
    const cJSON *jn = member(meta, "name"), *js = member(meta, "namespace");
    if (!cJSON_IsObject(obj) || !cJSON_IsObject(meta)) {
        snprintf(err, errlen, "metadata: must be an object");
        return false;
    }
    if (!cJSON_IsString(jn) || !jn->valuestring || !jn->valuestring[0]) {
        snprintf(err, errlen, "metadata.name: must be a non-empty string");
        return false;
    }
    if (!cJSON_IsString(js) || !js->valuestring || !js->valuestring[0]) {
        snprintf(err, errlen, "metadata.namespace: must be a non-empty string");
        return false;
    }
    if (strlen(jn->valuestring) > 253 || strlen(js->valuestring) > 253) {
        snprintf(err, errlen, "metadata: name or namespace longer than 253 bytes");
        return false;
    }
    *ns = js->valuestring;
    *name = jn->valuestring;
    return true;
}

enum ag_result inventory_put(struct inventory *inv, bool is_vmi, const cJSON *obj, bool *changed,
                             char *err, size_t errlen)
{
    const char *ns, *name;
    char dummy[1];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    if (changed)
        *changed = false;
    if (!key_of(obj, &ns, &name, err, errlen))
        return AG_EINVAL;
    uint64_t fp;
    size_t need;
    if (!obj_probe(obj, is_vmi, ns, &fp, &need)) {
        snprintf(err, errlen, "out of memory");
        return AG_ENOMEM;
    }
    /* the same facts as the object in place (most updates, every unchanged item of a relist or
     * a re-read): mark it seen and allocate nothing */
    pthread_mutex_lock(&inv->mu);
    bool found;
    size_t at = find(inv, ns, name, &found);
    struct inv_obj *cur = found ? (is_vmi ? inv->items[at]->vmi : inv->items[at]->vm) : NULL;
    if (cur && cur->fingerprint == fp) {
        cur->seen = inv->epoch[is_vmi];
        pthread_mutex_unlock(&inv->mu);
        return AG_OK;
    }
    pthread_mutex_unlock(&inv->mu);
    struct inv_obj *o = obj_make(obj, is_vmi, ns, need);
    if (!o) {
        snprintf(err, errlen, "out of memory");
        return AG_ENOMEM;
    }
    pthread_mutex_lock(&inv->mu);
    enum ag_result r = put_locked(inv, is_vmi, ns, name, o, changed);
    pthread_mutex_unlock(&inv->mu);
    if (r == AG_ETOOBIG)
        snprintf(err, errlen, "more than %u VMs and VMIs", INVENTORY_MAX_ENTRIES);
    else if (r == AG_ENOMEM)
        snprintf(err, errlen, "out of memory");
    return r;
}

void inventory_delete(struct inventory *inv, bool is_vmi, const char *ns, const char *name, bool *changed)
{
    bool found, did = false;
    pthread_mutex_lock(&inv->mu);
    size_t at = find(inv, ns ? ns : "", name ? name : "", &found);
    if (found)
        did = delete_locked(inv, is_vmi, at);
    pthread_mutex_unlock(&inv->mu);
    if (changed)
        *changed = did;
}

void inventory_sync_begin(struct inventory *inv, bool is_vmi)
{
    pthread_mutex_lock(&inv->mu);
    inv->epoch[is_vmi]++;
    inv->sync_from[is_vmi] = inv->generation;
    pthread_mutex_unlock(&inv->mu);
}

bool inventory_sync_end(struct inventory *inv, bool is_vmi, bool commit)
{
    pthread_mutex_lock(&inv->mu);
    if (commit) {
        /* one pass that keeps the order: forget the unseen objects, drop the entries left empty */
        size_t m = 0;
        for (size_t i = 0; i < inv->n; i++) {
            struct inv_entry *e = inv->items[i];
            struct inv_obj *o = is_vmi ? e->vmi : e->vm;
            if (o && o->seen != inv->epoch[is_vmi] && forget_locked(inv, e, is_vmi))
                continue;
            inv->items[m++] = e;
        }
        inv->n = m;
    }
    bool changed = inv->generation != inv->sync_from[is_vmi];
    pthread_mutex_unlock(&inv->mu);
    return changed;
}

/* ---- folders and lists ---------------------------------------------------------------------- */

bool inventory_kind_of(const cJSON *obj, bool *is_vmi)
{
    const cJSON *k = member(obj, "kind");
    const cJSON *a = member(obj, "apiVersion");
    if (!cJSON_IsString(k) || !k->valuestring)
        return false;
    if (a && (!cJSON_IsString(a) || !a->valuestring || strncmp(a->valuestring, "kubevirt.io/", 12) != 0))
        return false;
    if (strcmp(k->valuestring, "VirtualMachine") == 0) {
        *is_vmi = false;
        return true;
    }
    if (strcmp(k->valuestring, "VirtualMachineInstance") == 0) {
        *is_vmi = true;
        return true;
    }
    return false;
}

static enum ag_result add_unkeyed(struct inventory *inv, bool is_vmi, const char *where, int index,
                                  const char *why, char *err, size_t errlen)
{
    char name[300];
    snprintf(name, sizeof name, "%.200s[%d]", where ? where : "input", index);
    struct inv_obj *o = mem_calloc(1, sizeof *o);
    if (!o || !(o->pool = pool_new(256))) {
        mem_free(o);
        snprintf(err, errlen, "out of memory");
        return AG_ENOMEM;
    }
    o->facts.is_vmi = is_vmi;
    if (!(o->err = pool_strdup(o->pool, why))) {
        obj_free(o);
        snprintf(err, errlen, "out of memory");
        return AG_ENOMEM;
    }
    o->fingerprint = fingerprint(o);
    pthread_mutex_lock(&inv->mu);
    enum ag_result r = put_locked(inv, is_vmi, "", name, o, NULL);
    pthread_mutex_unlock(&inv->mu);
    if (r != AG_OK)
        snprintf(err, errlen, r == AG_ETOOBIG ? "more than %u VMs and VMIs" : "out of memory",
                 INVENTORY_MAX_ENTRIES);
    return r;
}

static enum ag_result add_one(struct inventory *inv, const cJSON *obj, const char *where, int index,
                              char *err, size_t errlen)
{
    bool is_vmi;
    if (!inventory_kind_of(obj, &is_vmi))
        return AG_OK;
    char why[INVENTORY_ERR_MAX];
    enum ag_result r = inventory_put(inv, is_vmi, obj, NULL, why, sizeof why);
    if (r == AG_EINVAL)
        return add_unkeyed(inv, is_vmi, where, index, why, err, errlen);
    if (r != AG_OK)
        snprintf(err, errlen, "%s", why);
    return r;
}

enum ag_result inventory_add_value(struct inventory *inv, const cJSON *value, const char *where,
                                   char *err, size_t errlen)
{
    char dummy[1];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    const cJSON *items = NULL;
    if (cJSON_IsArray(value)) {
        items = value;
    } else if (cJSON_IsObject(value)) {
        const cJSON *k = member(value, "kind");
        const cJSON *it = member(value, "items");
        size_t kl = cJSON_IsString(k) && k->valuestring ? strlen(k->valuestring) : 0;
        if (kl >= 4 && strcmp(k->valuestring + kl - 4, "List") == 0 && cJSON_IsArray(it))
            items = it;
        else
            return add_one(inv, value, where, 0, err, errlen);
    } else {
        return AG_OK;
    }
    int i = 0;
    for (const cJSON *o = items->child; o; o = o->next, i++) {
        enum ag_result r = add_one(inv, o, where, i, err, errlen);
        if (r != AG_OK)
            return r;
    }
    return AG_OK;
}

static enum ag_result add_object(const cJSON *obj, const char *file, void *ctx, char *err, size_t errlen)
{
    return inventory_add_value(ctx, obj, file, err, errlen);
}

enum ag_result inventory_load_dir(struct inventory *inv, const char *dir, char *err, size_t errlen)
{
    /* the folder read as the cluster source reads it: item by item, never a whole-file tree */
    return source_file_each(dir, add_object, inv, err, errlen);
}

/* ---- reading -------------------------------------------------------------------------------- */

size_t inventory_count(struct inventory *inv)
{
    pthread_mutex_lock(&inv->mu);
    size_t n = inv->n;
    pthread_mutex_unlock(&inv->mu);
    return n;
}

size_t inventory_count_kind(struct inventory *inv, bool is_vmi)
{
    pthread_mutex_lock(&inv->mu);
    size_t n = is_vmi ? inv->nvmi : inv->nvm;
    pthread_mutex_unlock(&inv->mu);
    return n;
}

size_t inventory_bytes(struct inventory *inv)
{
    pthread_mutex_lock(&inv->mu);
    size_t n = inv->bytes + inv->cap * sizeof *inv->items + sizeof *inv;
    pthread_mutex_unlock(&inv->mu);
    return n;
}

uint64_t inventory_generation(struct inventory *inv)
{
    pthread_mutex_lock(&inv->mu);
    uint64_t g = inv->generation;
    pthread_mutex_unlock(&inv->mu);
    return g;
}

bool inventory_has(struct inventory *inv, bool is_vmi, const char *ns, const char *name)
{
    bool found;
    pthread_mutex_lock(&inv->mu);
    size_t at = find(inv, ns, name, &found);
    bool has = found && (is_vmi ? inv->items[at]->vmi : inv->items[at]->vm) != NULL;
    pthread_mutex_unlock(&inv->mu);
    return has;
}

void inventory_each(struct inventory *inv, void (*fn)(void *arg, const struct inv_entry *e), void *arg)
{
    pthread_mutex_lock(&inv->mu);
    for (size_t i = 0; i < inv->n; i++)
        fn(arg, inv->items[i]);
    pthread_mutex_unlock(&inv->mu);
}
