/* selector.c - Kubernetes label maps, node selector terms (required node affinity), taints and
 * tolerations: parsing from cJSON into pool memory, and matching with the scheduler's rules
 * (labels.Requirement, component-helpers nodeaffinity, Toleration.ToleratesTaint).
 *
 * Parse errors name the field relative to the object given: "nodeSelector[foo]: must be a
 * string", "affinity.nodeAffinity...nodeSelectorTerms[0].matchExpressions[1].operator: ...",
 * "tolerations[2].effect: ...", "taints[0].key: ...", "labels[foo]: ...". */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "selector.h"
#include "mem.h"

#define FIELD_NODE_NAME "metadata.name"
#define REQUIRED_TERMS_PATH \
    "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"

/* ---- error paths ---- */

/* A field path built while descending; truncated (never overflowed) when very deep or long. */
struct path { char buf[320]; size_t len; };

static void path_init(struct path *p, const char *root)
{
    p->len = 0;
    p->buf[0] = '\0';
    int w = snprintf(p->buf, sizeof p->buf, "%s", root);
    if (w > 0)
        p->len = (size_t)w < sizeof p->buf ? (size_t)w : sizeof p->buf - 1;
}

static size_t path_push(struct path *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t path_push(struct path *p, const char *fmt, ...)
{
    size_t old = p->len;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(p->buf + p->len, sizeof p->buf - p->len, fmt, ap);
    va_end(ap);
    if (w > 0) {
        size_t room = sizeof p->buf - p->len - 1;
        p->len += (size_t)w < room ? (size_t)w : room;
    }
    return old;
}

static void path_pop(struct path *p, size_t mark)
{
    p->len = mark;
    p->buf[mark] = '\0';
}

static enum ag_result fail(char *err, size_t errlen, const struct path *p, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static enum ag_result fail(char *err, size_t errlen, const struct path *p, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return AG_EINVAL;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p && p->len)
        snprintf(err, errlen, "%s: %s", p->buf, msg);
    else
        snprintf(err, errlen, "%s", msg);
    return AG_EINVAL;
}

static bool is_absent(const cJSON *j)
{
    return j == NULL || cJSON_IsNull(j);
}

/* An optional string member: absent/null -> *out = dflt; a string -> a pool copy; else EINVAL. */
static enum ag_result get_opt_string(const cJSON *obj, const char *key, const char *dflt, struct pool *pool,
                                     const char **out, struct path *p, char *err, size_t errlen)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (is_absent(j)) {
        *out = dflt;
        return AG_OK;
    }
    if (!cJSON_IsString(j) || !j->valuestring) {
        size_t m = path_push(p, ".%s", key);
        enum ag_result r = fail(err, errlen, p, "must be a string");
        path_pop(p, m);
        return r;
    }
    *out = pool_strdup(pool, j->valuestring);
    return *out ? AG_OK : AG_ENOMEM;
}

/* ---- label maps ---- */

/* Key order: strcmp's (unsigned bytes). Its vectorised loop beats a byte loop on label keys,
 * which often share long prefixes ("cpu-feature.node.kubevirt.io/..."). */
static inline int key_cmp(const char *a, const char *b)
{
    return strcmp(a, b);
}

static inline bool str_eq(const char *a, const char *b)
{
    return key_cmp(a, b) == 0;
}

/* Stable bottom-up merge sort by key, so that of duplicate keys the last one stays last. */
static void kv_sort(struct kv *a, struct kv *tmp, size_t n)
{
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = key_cmp(a[j].key, a[i].key) < 0 ? a[j++] : a[i++];
            while (i < mid)
                tmp[k++] = a[i++];
            while (j < hi)
                tmp[k++] = a[j++];
        }
        memcpy(a, tmp, n * sizeof *a);
    }
}

/* The map is one block: the sorted items, then their strings in the same order, so that a
 * lookup touches few cache lines (a census reads the labels of thousands of nodes). */
static enum ag_result parse_labels(const cJSON *obj, struct pool *pool, struct labels *out,
                                   struct path *p, char *err, size_t errlen)
{
    out->items = NULL;
    out->n = 0;
    if (is_absent(obj))
        return AG_OK;
    if (!cJSON_IsObject(obj))
        return fail(err, errlen, p, "must be an object");
    size_t n = 0, bytes = 0;
    for (const cJSON *c = obj->child; c; c = c->next) {
        if (!c->string)
            return fail(err, errlen, p, "member without a key");
        if (!cJSON_IsString(c) || !c->valuestring) {
            size_t m = path_push(p, "[%.100s]", c->string);
            enum ag_result r = fail(err, errlen, p, "must be a string");
            path_pop(p, m);
            return r;
        }
        size_t add = strlen(c->string) + strlen(c->valuestring) + 2;
        if (bytes > SIZE_MAX / 2 - add)
            return AG_ENOMEM;
        bytes += add;
        n++;
    }
    if (n == 0)
        return AG_OK;
    if (n > (SIZE_MAX / 2 - bytes) / sizeof(struct kv))
        return AG_ENOMEM;
    struct kv *items = pool_alloc(pool, n * sizeof *items + bytes);
    struct kv small[64];
    struct kv *tmp = n <= sizeof small / sizeof small[0] ? small : mem_malloc(n * sizeof *tmp);
    if (!items || !tmp) {
        if (tmp && tmp != small)
            mem_free(tmp);
        return AG_ENOMEM;
    }
    size_t i = 0;
    for (const cJSON *c = obj->child; c; c = c->next, i++) {
        items[i].key = c->string;           /* borrowed until copied below */
        items[i].value = c->valuestring;
    }
    kv_sort(items, tmp, n);
    if (tmp != small)
        mem_free(tmp);
    /* keep the last of equal keys, and copy the strings behind the items */
    char *strs = (char *)(items + n);
    size_t w = 0;
    for (size_t r = 0; r < n; r++) {
        if (r + 1 < n && str_eq(items[r].key, items[r + 1].key))
            continue;
        size_t kl = strlen(items[r].key) + 1, vl = strlen(items[r].value) + 1;
        memcpy(strs, items[r].key, kl);
        memcpy(strs + kl, items[r].value, vl);
        items[w].key = strs;
        items[w].value = strs + kl;
        strs += kl + vl;
        w++;
    }
    out->items = items;
    out->n = w;
    return AG_OK;
}

enum ag_result selector_parse_labels(const cJSON *obj, struct pool *pool, struct labels *out,
                                     char *err, size_t errlen)
{
    struct path p;
    path_init(&p, "labels");
    return parse_labels(obj, pool, out, &p, err, errlen);
}

/* Where a key was last found, per key string: a census looks the same few keys up in every
 * node's labels, and the nodes of a cluster mostly carry the same label keys, so the index of
 * the previous hit is usually right and saves the binary search. The hit is checked with
 * strcmp, except inside a batch (selector_batch_begin), where the caller keeps every string
 * alive: there the same key pointer at the hinted index (the snapshot interns its strings)
 * proves the match. Thread-local: no locking. */
#define HINT_SLOTS 16
static _Thread_local struct { const char *key; const char *found; size_t index; unsigned long batch; } hints[HINT_SLOTS];
static _Thread_local unsigned long batch_id;     /* 0: no batch open */
static _Thread_local unsigned long batch_seq;

void selector_batch_begin(void)
{
    batch_id = ++batch_seq;
    if (batch_id == 0)
        batch_id = ++batch_seq;
}

void selector_batch_end(void)
{
    batch_id = 0;
}

static inline size_t hint_slot(const char *key)
{
    uintptr_t p = (uintptr_t)key;
    return (size_t)((p >> 4) ^ (p >> 9)) & (HINT_SLOTS - 1);
}

const char *labels_get(const struct labels *l, const char *key)
{
    if (!l || !key)
        return NULL;
    const struct kv *items = l->items;
    size_t slot = hint_slot(key);
    if (hints[slot].key == key) {
        size_t h = hints[slot].index;
        if (h < l->n) {
            if (batch_id && hints[slot].batch == batch_id && items[h].key == hints[slot].found)
                return items[h].value;
            if (key_cmp(key, items[h].key) == 0) {
                hints[slot].found = items[h].key;
                hints[slot].batch = batch_id;
                return items[h].value;
            }
        }
    }
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = key_cmp(key, items[mid].key);
        if (c == 0) {
            hints[slot].key = key;
            hints[slot].found = items[mid].key;
            hints[slot].index = mid;
            hints[slot].batch = batch_id;
            return items[mid].value;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

bool labels_has(const struct labels *l, const char *key)
{
    return labels_get(l, key) != NULL;
}

bool selector_match_labels(const struct labels *sel, const struct labels *node)
{
    if (!sel)
        return true;
    for (size_t i = 0; i < sel->n; i++) {
        const char *v = labels_get(node, sel->items[i].key);
        if (!v || !str_eq(v, sel->items[i].value))
            return false;
    }
    return true;
}

/* ---- node selector requirements ---- */

bool selector_parse_int64(const char *s, int64_t *out)
{
    if (!s)
        return false;
    bool neg = false;
    if (*s == '+' || *s == '-') {
        neg = *s == '-';
        s++;
    }
    if (!*s)
        return false;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (limit - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (neg)
        *out = v == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    return true;
}

static bool value_in(const char *v, const char *const *values, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (str_eq(v, values[i]))
            return true;
    return false;
}

bool selector_match_req(const struct sel_req *r, const char *node_name, const struct labels *node)
{
    const char *v;
    if (r->is_field) {
        /* parsing only admits metadata.name with In/NotIn */
        v = node_name;
        if (!v)
            return r->op == SEL_NOT_IN;
    } else {
        v = labels_get(node, r->key);
    }
    switch (r->op) {
    case SEL_IN:
        return v && value_in(v, r->values, r->nvalues);
    case SEL_NOT_IN:
        return !v || !value_in(v, r->values, r->nvalues);
    case SEL_EXISTS:
        return v != NULL;
    case SEL_DOES_NOT_EXIST:
        return v == NULL;
    case SEL_GT:
    case SEL_LT: {
        int64_t have, want;
        if (!v || r->nvalues != 1 || !selector_parse_int64(v, &have) || !selector_parse_int64(r->values[0], &want))
            return false;
        return r->op == SEL_GT ? have > want : have < want;
    }
    }
    return false;
}

bool selector_match_term(const struct sel_term *t, const char *node_name, const struct labels *node)
{
    if (!t || t->n == 0)
        return false;
    for (size_t i = 0; i < t->n; i++)
        if (!selector_match_req(&t->reqs[i], node_name, node))
            return false;
    return true;
}

bool selector_match_node_sel(const struct node_sel *s, const char *node_name, const struct labels *node)
{
    if (!s)
        return false;
    for (size_t i = 0; i < s->n; i++)
        if (selector_match_term(&s->terms[i], node_name, node))
            return true;
    return false;
}

bool selector_match_placement(const struct placement *p, const char *node_name, const struct labels *node)
{
    if (!p)
        return true;
    if (!selector_match_labels(&p->node_selector, node))
        return false;
    if (p->has_affinity && !selector_match_node_sel(&p->affinity, node_name, node))
        return false;
    return true;
}

static const struct { const char *name; enum sel_op op; } sel_ops[] = {
    { "In", SEL_IN }, { "NotIn", SEL_NOT_IN }, { "Exists", SEL_EXISTS },
    { "DoesNotExist", SEL_DOES_NOT_EXIST }, { "Gt", SEL_GT }, { "Lt", SEL_LT },
};

/* One requirement object at path p (".matchExpressions[i]" already pushed). */
static enum ag_result parse_req(const cJSON *o, bool is_field, struct pool *pool, struct sel_req *out,
                                struct path *p, char *err, size_t errlen)
{
    if (!cJSON_IsObject(o))
        return fail(err, errlen, p, "must be an object");
    memset(out, 0, sizeof *out);
    out->is_field = is_field;

    const cJSON *key = cJSON_GetObjectItemCaseSensitive(o, "key");
    if (!cJSON_IsString(key) || !key->valuestring) {
        size_t m = path_push(p, ".key");
        enum ag_result r = fail(err, errlen, p, "must be a string");
        path_pop(p, m);
        return r;
    }
    if (is_field && strcmp(key->valuestring, FIELD_NODE_NAME) != 0) {
        size_t m = path_push(p, ".key");
        enum ag_result r = fail(err, errlen, p, "unsupported field \"%.100s\" (only \"" FIELD_NODE_NAME "\")",
                                key->valuestring);
        path_pop(p, m);
        return r;
    }
    out->key = pool_strdup(pool, key->valuestring);
    if (!out->key)
        return AG_ENOMEM;

    const cJSON *op = cJSON_GetObjectItemCaseSensitive(o, "operator");
    size_t m = path_push(p, ".operator");
    if (!cJSON_IsString(op) || !op->valuestring) {
        enum ag_result r = fail(err, errlen, p, "must be a string");
        path_pop(p, m);
        return r;
    }
    bool found = false;
    for (size_t i = 0; i < sizeof sel_ops / sizeof sel_ops[0]; i++) {
        if (strcmp(op->valuestring, sel_ops[i].name) == 0) {
            out->op = sel_ops[i].op;
            found = true;
            break;
        }
    }
    if (!found) {
        enum ag_result r = fail(err, errlen, p, "unknown operator \"%.64s\"", op->valuestring);
        path_pop(p, m);
        return r;
    }
    if (is_field && out->op != SEL_IN && out->op != SEL_NOT_IN) {
        enum ag_result r = fail(err, errlen, p, "operator \"%s\" is not supported for a field (only In, NotIn)",
                                op->valuestring);
        path_pop(p, m);
        return r;
    }
    path_pop(p, m);

    const cJSON *vals = cJSON_GetObjectItemCaseSensitive(o, "values");
    m = path_push(p, ".values");
    size_t n = 0;
    if (!is_absent(vals)) {
        if (!cJSON_IsArray(vals)) {
            enum ag_result r = fail(err, errlen, p, "must be an array");
            path_pop(p, m);
            return r;
        }
        n = (size_t)cJSON_GetArraySize(vals);
    }
    enum ag_result r = AG_OK;
    switch (out->op) {
    case SEL_IN:
    case SEL_NOT_IN:
        if (is_field && n != 1)
            r = fail(err, errlen, p, "must have exactly one value for a field");
        else if (n == 0)
            r = fail(err, errlen, p, "must be non-empty for operator %s", out->op == SEL_IN ? "In" : "NotIn");
        break;
    case SEL_EXISTS:
    case SEL_DOES_NOT_EXIST:
        if (n != 0)
            r = fail(err, errlen, p, "must be empty for operator %s",
                     out->op == SEL_EXISTS ? "Exists" : "DoesNotExist");
        break;
    case SEL_GT:
    case SEL_LT:
        if (n != 1)
            r = fail(err, errlen, p, "must have exactly one value for operator %s",
                     out->op == SEL_GT ? "Gt" : "Lt");
        break;
    }
    if (r != AG_OK) {
        path_pop(p, m);
        return r;
    }
    if (n) {
        const char **v = pool_alloc(pool, n * sizeof *v);
        if (!v)
            return AG_ENOMEM;
        size_t i = 0;
        for (const cJSON *c = vals->child; c; c = c->next, i++) {
            if (!cJSON_IsString(c) || !c->valuestring) {
                size_t m2 = path_push(p, "[%zu]", i);
                r = fail(err, errlen, p, "must be a string");
                path_pop(p, m2);
                path_pop(p, m);
                return r;
            }
            if (out->op == SEL_GT || out->op == SEL_LT) {
                int64_t dummy;
                if (!selector_parse_int64(c->valuestring, &dummy)) {
                    size_t m2 = path_push(p, "[%zu]", i);
                    r = fail(err, errlen, p, "must be an integer for operator %s, not \"%.64s\"",
                             out->op == SEL_GT ? "Gt" : "Lt", c->valuestring);
                    path_pop(p, m2);
                    path_pop(p, m);
                    return r;
                }
            }
            v[i] = pool_strdup(pool, c->valuestring);
            if (!v[i])
                return AG_ENOMEM;
        }
        out->values = v;
        out->nvalues = n;
    }
    path_pop(p, m);
    return AG_OK;
}

/* An optional array member of a term; returns its size in *n (0 when absent). */
static enum ag_result term_array(const cJSON *term, const char *key, const cJSON **arr, size_t *n,
                                 struct path *p, char *err, size_t errlen)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(term, key);
    *arr = NULL;
    *n = 0;
    if (is_absent(a))
        return AG_OK;
    if (!cJSON_IsArray(a)) {
        size_t m = path_push(p, ".%s", key);
        enum ag_result r = fail(err, errlen, p, "must be an array");
        path_pop(p, m);
        return r;
    }
    *arr = a;
    *n = (size_t)cJSON_GetArraySize(a);
    return AG_OK;
}

static enum ag_result parse_term(const cJSON *t, struct pool *pool, struct sel_term *out,
                                 struct path *p, char *err, size_t errlen)
{
    out->reqs = NULL;
    out->n = 0;
    if (!cJSON_IsObject(t))
        return fail(err, errlen, p, "must be an object");
    const cJSON *exprs, *fields;
    size_t ne, nf;
    enum ag_result r = term_array(t, "matchExpressions", &exprs, &ne, p, err, errlen);
    if (r != AG_OK)
        return r;
    r = term_array(t, "matchFields", &fields, &nf, p, err, errlen);
    if (r != AG_OK)
        return r;
    if (ne + nf == 0)
        return AG_OK;
    struct sel_req *reqs = pool_alloc(pool, (ne + nf) * sizeof *reqs);
    if (!reqs)
        return AG_ENOMEM;
    size_t k = 0;
    for (int pass = 0; pass < 2; pass++) {
        const cJSON *arr = pass == 0 ? exprs : fields;
        if (!arr)
            continue;
        size_t i = 0;
        for (const cJSON *c = arr->child; c; c = c->next, i++) {
            size_t m = path_push(p, ".%s[%zu]", pass == 0 ? "matchExpressions" : "matchFields", i);
            r = parse_req(c, pass == 1, pool, &reqs[k++], p, err, errlen);
            path_pop(p, m);
            if (r != AG_OK)
                return r;
        }
    }
    out->reqs = reqs;
    out->n = k;
    return AG_OK;
}

static enum ag_result parse_affinity(const cJSON *affinity, struct pool *pool, bool *has_affinity,
                                     struct node_sel *out, struct path *p, char *err, size_t errlen)
{
    *has_affinity = false;
    out->terms = NULL;
    out->n = 0;
    if (is_absent(affinity))
        return AG_OK;
    if (!cJSON_IsObject(affinity))
        return fail(err, errlen, p, "must be an object");
    const cJSON *na = cJSON_GetObjectItemCaseSensitive(affinity, "nodeAffinity");
    if (is_absent(na))
        return AG_OK;
    size_t m = path_push(p, ".nodeAffinity");
    if (!cJSON_IsObject(na)) {
        enum ag_result r = fail(err, errlen, p, "must be an object");
        path_pop(p, m);
        return r;
    }
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(na, "requiredDuringSchedulingIgnoredDuringExecution");
    if (is_absent(req)) {
        path_pop(p, m);
        return AG_OK;
    }
    path_push(p, ".requiredDuringSchedulingIgnoredDuringExecution");
    if (!cJSON_IsObject(req)) {
        enum ag_result r = fail(err, errlen, p, "must be an object");
        path_pop(p, m);
        return r;
    }
    const cJSON *terms = cJSON_GetObjectItemCaseSensitive(req, "nodeSelectorTerms");
    path_push(p, ".nodeSelectorTerms");
    enum ag_result r = AG_OK;
    size_t n = 0;
    if (!is_absent(terms)) {
        if (!cJSON_IsArray(terms)) {
            r = fail(err, errlen, p, "must be an array");
            goto done;
        }
        n = (size_t)cJSON_GetArraySize(terms);
    }
    if (n) {
        struct sel_term *t = pool_alloc(pool, n * sizeof *t);
        if (!t) {
            r = AG_ENOMEM;
            goto done;
        }
        size_t i = 0;
        for (const cJSON *c = terms->child; c; c = c->next, i++) {
            size_t m2 = path_push(p, "[%zu]", i);
            r = parse_term(c, pool, &t[i], p, err, errlen);
            path_pop(p, m2);
            if (r != AG_OK)
                goto done;
        }
        out->terms = t;
        out->n = n;
    }
    *has_affinity = true;
done:
    path_pop(p, m);
    return r;
}

enum ag_result selector_parse_affinity(const cJSON *affinity, struct pool *pool, bool *has_affinity,
                                       struct node_sel *out, char *err, size_t errlen)
{
    struct path p;
    path_init(&p, "affinity");
    return parse_affinity(affinity, pool, has_affinity, out, &p, err, errlen);
}

/* ---- taints and tolerations ---- */

static const struct { const char *name; enum taint_effect e; } effects[] = {
    { "NoSchedule", EFFECT_NO_SCHEDULE },
    { "PreferNoSchedule", EFFECT_PREFER_NO_SCHEDULE },
    { "NoExecute", EFFECT_NO_EXECUTE },
};

/* effect member: absent/"" -> EFFECT_ANY when allow_any, else an error. */
static enum ag_result parse_effect(const cJSON *o, bool allow_any, enum taint_effect *out,
                                   struct path *p, char *err, size_t errlen)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "effect");
    size_t m = path_push(p, ".effect");
    enum ag_result r = AG_OK;
    if (is_absent(e) || (cJSON_IsString(e) && e->valuestring && !*e->valuestring)) {
        if (allow_any)
            *out = EFFECT_ANY;
        else
            r = fail(err, errlen, p, "required (NoSchedule, PreferNoSchedule or NoExecute)");
        goto done;
    }
    if (!cJSON_IsString(e) || !e->valuestring) {
        r = fail(err, errlen, p, "must be a string");
        goto done;
    }
    for (size_t i = 0; i < sizeof effects / sizeof effects[0]; i++) {
        if (strcmp(e->valuestring, effects[i].name) == 0) {
            *out = effects[i].e;
            goto done;
        }
    }
    r = fail(err, errlen, p, "unknown effect \"%.64s\"", e->valuestring);
done:
    path_pop(p, m);
    return r;
}

static enum ag_result parse_tolerations(const cJSON *arr, struct pool *pool, const struct toleration **out,
                                        size_t *nout, struct path *p, char *err, size_t errlen)
{
    *out = NULL;
    *nout = 0;
    if (is_absent(arr))
        return AG_OK;
    if (!cJSON_IsArray(arr))
        return fail(err, errlen, p, "must be an array");
    size_t n = (size_t)cJSON_GetArraySize(arr);
    if (n == 0)
        return AG_OK;
    struct toleration *t = pool_alloc(pool, n * sizeof *t);
    if (!t)
        return AG_ENOMEM;
    size_t i = 0;
    enum ag_result r = AG_OK;
    for (const cJSON *c = arr->child; c; c = c->next, i++) {
        size_t m = path_push(p, "[%zu]", i);
        if (!cJSON_IsObject(c)) {
            r = fail(err, errlen, p, "must be an object");
            path_pop(p, m);
            return r;
        }
        const char *op = NULL;
        if ((r = get_opt_string(c, "key", "", pool, &t[i].key, p, err, errlen)) != AG_OK ||
            (r = get_opt_string(c, "value", "", pool, &t[i].value, p, err, errlen)) != AG_OK ||
            (r = get_opt_string(c, "operator", "", pool, &op, p, err, errlen)) != AG_OK ||
            (r = parse_effect(c, true, &t[i].effect, p, err, errlen)) != AG_OK) {
            path_pop(p, m);
            return r;
        }
        if (!*op || strcmp(op, "Equal") == 0) {
            t[i].op = TOL_EQUAL;
        } else if (strcmp(op, "Exists") == 0) {
            t[i].op = TOL_EXISTS;
        } else {
            path_push(p, ".operator");
            r = fail(err, errlen, p, "unknown operator \"%.64s\" (Equal or Exists)", op);
            path_pop(p, m);
            return r;
        }
        const cJSON *secs = cJSON_GetObjectItemCaseSensitive(c, "tolerationSeconds");
        if (!is_absent(secs) && !cJSON_IsNumber(secs)) {
            path_push(p, ".tolerationSeconds");
            r = fail(err, errlen, p, "must be a number");
            path_pop(p, m);
            return r;
        }
        path_pop(p, m);
    }
    *out = t;
    *nout = n;
    return AG_OK;
}

enum ag_result selector_parse_tolerations(const cJSON *arr, struct pool *pool, const struct toleration **out,
                                          size_t *n, char *err, size_t errlen)
{
    struct path p;
    path_init(&p, "tolerations");
    return parse_tolerations(arr, pool, out, n, &p, err, errlen);
}

enum ag_result selector_parse_taints(const cJSON *arr, struct pool *pool, const struct taint **out,
                                     size_t *nout, char *err, size_t errlen)
{
    struct path p;
    path_init(&p, "taints");
    *out = NULL;
    *nout = 0;
    if (is_absent(arr))
        return AG_OK;
    if (!cJSON_IsArray(arr))
        return fail(err, errlen, &p, "must be an array");
    size_t n = (size_t)cJSON_GetArraySize(arr);
    if (n == 0)
        return AG_OK;
    struct taint *t = pool_alloc(pool, n * sizeof *t);
    if (!t)
        return AG_ENOMEM;
    size_t i = 0;
    enum ag_result r = AG_OK;
    for (const cJSON *c = arr->child; c; c = c->next, i++) {
        size_t m = path_push(&p, "[%zu]", i);
        if (!cJSON_IsObject(c)) {
            r = fail(err, errlen, &p, "must be an object");
            path_pop(&p, m);
            return r;
        }
        const cJSON *key = cJSON_GetObjectItemCaseSensitive(c, "key");
        if (!cJSON_IsString(key) || !key->valuestring || !*key->valuestring) {
            path_push(&p, ".key");
            r = fail(err, errlen, &p, "must be a non-empty string");
            path_pop(&p, m);
            return r;
        }
        t[i].key = pool_strdup(pool, key->valuestring);
        if (!t[i].key)
            return AG_ENOMEM;
        if ((r = get_opt_string(c, "value", "", pool, &t[i].value, &p, err, errlen)) != AG_OK ||
            (r = parse_effect(c, false, &t[i].effect, &p, err, errlen)) != AG_OK) {
            path_pop(&p, m);
            return r;
        }
        path_pop(&p, m);
    }
    *out = t;
    *nout = n;
    return AG_OK;
}

enum ag_result selector_parse_placement(const cJSON *obj, struct pool *pool, struct placement *out,
                                        char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct path p;
    path_init(&p, "");
    if (is_absent(obj))
        return AG_OK;
    if (!cJSON_IsObject(obj))
        return fail(err, errlen, &p, "must be an object");

    path_init(&p, "nodeSelector");
    enum ag_result r = parse_labels(cJSON_GetObjectItemCaseSensitive(obj, "nodeSelector"), pool,
                                    &out->node_selector, &p, err, errlen);
    if (r != AG_OK)
        return r;
    path_init(&p, "affinity");
    r = parse_affinity(cJSON_GetObjectItemCaseSensitive(obj, "affinity"), pool, &out->has_affinity,
                       &out->affinity, &p, err, errlen);
    if (r != AG_OK)
        return r;
    path_init(&p, "tolerations");
    return parse_tolerations(cJSON_GetObjectItemCaseSensitive(obj, "tolerations"), pool, &out->tolerations,
                             &out->ntolerations, &p, err, errlen);
}

bool selector_tolerates(const struct toleration *t, const struct taint *taint)
{
    /* k8s.io/api/core/v1 Toleration.ToleratesTaint */
    if (t->effect != EFFECT_ANY && t->effect != taint->effect)
        return false;
    if (t->key && *t->key && !str_eq(t->key, taint->key ? taint->key : ""))
        return false;
    switch (t->op) {
    case TOL_EXISTS:
        return true;
    case TOL_EQUAL:
        return str_eq(t->value ? t->value : "", taint->value ? taint->value : "");
    }
    return false;
}

bool selector_tolerated(const struct toleration *tols, size_t n, const struct taint *taint)
{
    for (size_t i = 0; i < n; i++)
        if (selector_tolerates(&tols[i], taint))
            return true;
    return false;
}
