/* eligible.c - node eligibility for one VM: classify each node by the first reason that keeps
 * the VM off it, count nodes per reason and architecture, and describe the counts for users.
 * Also the snapshot's label index (built once per snapshot) and the census through it: the
 * VM's selector is resolved once against the index into node sets, then nodes are judged 64 at
 * a time with word operations and popcounts. No allocation on the request path: the census
 * works in a fixed-size stack plan and falls back to node-by-node classification when a
 * placement does not fit it. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "eligible.h"
#include "mem.h"

static const char *const transient_taints[] = {
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
    "node.kubernetes.io/memory-pressure",
    "node.kubernetes.io/disk-pressure",
    "node.kubernetes.io/pid-pressure",
    "node.kubernetes.io/network-unavailable",
};

#define NODE_TAINT_PREFIX "node.kubernetes.io/"

bool eligible_taint_is_transient(const struct taint *t)
{
    if (!t || !t->key || strncmp(t->key, NODE_TAINT_PREFIX, sizeof NODE_TAINT_PREFIX - 1) != 0)
        return false;
    for (size_t i = 0; i < sizeof transient_taints / sizeof transient_taints[0]; i++)
        if (strcmp(t->key, transient_taints[i]) == 0)
            return true;
    return false;
}

static bool is_cordon_taint(const struct taint *t)
{
    return t->key && strcmp(t->key, TAINT_UNSCHEDULABLE) == 0;
}

/* The scheduler's NodeUnschedulable plugin lets a pod that tolerates the
 * unschedulable:NoSchedule taint onto a cordoned node. */
static bool cordon_tolerated(const struct toleration *tols, size_t ntols)
{
    static const struct taint cordon = { TAINT_UNSCHEDULABLE, "", EFFECT_NO_SCHEDULE };
    return selector_tolerated(tols, ntols, &cordon);
}

enum node_reason eligible_classify(const struct node *n, bool kubevirt_labels_nodes, const struct placement *vm)
{
    if (!n->workload)
        return NR_PLACEMENT;
    if (kubevirt_labels_nodes && !n->kubevirt_ok)
        return NR_NOT_KUBEVIRT;
    const struct toleration *tols = NULL;
    size_t ntols = 0;
    if (vm) {
        if (vm->node_selector.n && !selector_match_labels(&vm->node_selector, &n->labels))
            return NR_SELECTOR;
        if (vm->has_affinity && !selector_match_node_sel(&vm->affinity, n->name, &n->labels))
            return NR_AFFINITY;
        tols = vm->tolerations;
        ntols = vm->ntolerations;
    }
    bool held = false;
    for (size_t i = 0; i < n->ntaints; i++) {
        const struct taint *t = &n->taints[i];
        if (t->effect != EFFECT_NO_SCHEDULE && t->effect != EFFECT_NO_EXECUTE)
            continue;
        if (is_cordon_taint(t))
            continue;       /* judged with spec.unschedulable below */
        if (selector_tolerated(tols, ntols, t))
            continue;
        if (eligible_taint_is_transient(t)) {
            held = true;
            continue;
        }
        return NR_TAINT;
    }
    if (n->unschedulable && !cordon_tolerated(tols, ntols))
        return NR_CORDONED;
    return held ? NR_NOT_READY : NR_ELIGIBLE;
}

/* ---- the label index ------------------------------------------------------------------------ */

/* A set of nodes (by index in s->nodes): a bitmap of nwords words when that is smaller than
 * the sorted list of indices, else the list. */
struct node_set {
    const uint64_t *bits;
    const uint32_t *ids;
    size_t n;                   /* members */
};

struct ix_value { const char *value; struct node_set nodes; };

struct ix_key {
    const char *key;
    struct node_set nodes;              /* nodes with the key, whatever the value */
    const struct ix_value *values;      /* its distinct values, sorted by strcmp */
    size_t nvalues;
};

struct node_index {
    size_t nnodes, nwords;
    const struct ix_key *keys;          /* distinct label keys of the nodes, sorted by strcmp */
    size_t nkeys;
    const uint64_t *ready;              /* workload nodes that pass the kubevirt.io/schedulable rule */
    const uint64_t *plain;              /* no NoSchedule/NoExecute taint and not cordoned: eligible once past affinity */
    const uint64_t *arch;               /* ARCH_COUNT + 1 rows of nwords: the census column of each node */
    struct census fixed;                /* the NR_PLACEMENT and NR_NOT_KUBEVIRT rows (placement-independent) */
};

/* Build-time tables: (key, value) pointer pairs -> dense ids; value NULL for the key table. */
struct ptab_ent {
    const char *key, *value;
    uint32_t kid;               /* pair table: id of its key */
    uint32_t count, fill;
    uint64_t *bits;
    uint32_t *ids;
};

struct ptab {
    uint32_t *slots;            /* id + 1; 0 empty */
    size_t cap;
    struct ptab_ent *ents;
    size_t n, ecap;
};

static size_t ptr_hash(const char *a, const char *b)
{
    uint64_t h = (uint64_t)(uintptr_t)a * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)b * 0xC2B2AE3D27D4EB4Full;
    return (size_t)(h ^ (h >> 29));
}

static void ptab_free(struct ptab *t)
{
    mem_free(t->slots);
    mem_free(t->ents);
}

/* Id of the pair, added when new; -1 on allocation failure. */
static long ptab_get(struct ptab *t, const char *key, const char *value)
{
    if ((t->n + 1) * 2 > t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 256;
        uint32_t *ns = mem_calloc(ncap, sizeof *ns);
        if (!ns)
            return -1;
        for (size_t i = 0; i < t->n; i++) {
            size_t j = ptr_hash(t->ents[i].key, t->ents[i].value) & (ncap - 1);
            while (ns[j])
                j = (j + 1) & (ncap - 1);
            ns[j] = (uint32_t)i + 1;
        }
        mem_free(t->slots);
        t->slots = ns;
        t->cap = ncap;
    }
    size_t j = ptr_hash(key, value) & (t->cap - 1);
    while (t->slots[j]) {
        const struct ptab_ent *e = &t->ents[t->slots[j] - 1];
        if (e->key == key && e->value == value)
            return (long)t->slots[j] - 1;
        j = (j + 1) & (t->cap - 1);
    }
    if (t->n == t->ecap) {
        size_t ncap = t->ecap ? t->ecap * 2 : 256;
        struct ptab_ent *ne = mem_realloc(t->ents, ncap * sizeof *ne);
        if (!ne)
            return -1;
        t->ents = ne;
        t->ecap = ncap;
    }
    memset(&t->ents[t->n], 0, sizeof t->ents[t->n]);
    t->ents[t->n].key = key;
    t->ents[t->n].value = value;
    t->slots[j] = (uint32_t)t->n + 1;
    return (long)t->n++;
}

/* Storage for every set of the table, from the pool. */
static bool ptab_alloc_sets(struct ptab *t, struct pool *pool, size_t nwords)
{
    for (size_t i = 0; i < t->n; i++) {
        struct ptab_ent *e = &t->ents[i];
        if ((size_t)e->count >= 2 * nwords) {
            e->bits = pool_zalloc(pool, nwords * sizeof *e->bits);
            if (!e->bits)
                return false;
        } else {
            e->ids = pool_alloc(pool, (size_t)e->count * sizeof *e->ids);
            if (!e->ids)
                return false;
        }
    }
    return true;
}

static void ent_add(struct ptab_ent *e, uint32_t node)
{
    if (e->bits)
        e->bits[node / 64] |= 1ull << (node % 64);
    else
        e->ids[e->fill++] = node;
}

static struct node_set ent_set(const struct ptab_ent *e)
{
    struct node_set ns = { e->bits, e->ids, e->count };
    return ns;
}

struct key_rec { const char *key; uint32_t id; };
struct pair_rec { uint32_t krank; uint32_t id; const char *value; };

static int cmp_key_rec(const void *x, const void *y)
{
    return strcmp(((const struct key_rec *)x)->key, ((const struct key_rec *)y)->key);
}

static int cmp_pair_rec(const void *x, const void *y)
{
    const struct pair_rec *a = x, *b = y;
    if (a->krank != b->krank)
        return a->krank < b->krank ? -1 : 1;
    return strcmp(a->value, b->value);
}

static inline int arch_column(int arch)
{
    return (arch >= 0 && arch < ARCH_COUNT) ? arch : ARCH_COUNT;
}

static bool has_hard_taint(const struct node *n)
{
    for (size_t i = 0; i < n->ntaints; i++) {
        const struct taint *t = &n->taints[i];
        if ((t->effect == EFFECT_NO_SCHEDULE || t->effect == EFFECT_NO_EXECUTE) && !is_cordon_taint(t))
            return true;
    }
    return false;
}

enum ag_result eligible_index_build(struct snapshot *s)
{
    enum ag_result r = AG_ENOMEM;
    struct ptab keys = { 0 }, pairs = { 0 };
    uint32_t *lab = NULL;               /* per label: its pair id (the pair knows its key) */
    struct key_rec *krecs = NULL;
    struct pair_rec *precs = NULL;
    uint32_t *krank = NULL;
    struct pool *pool = s->pool;
    s->index = NULL;
    if (!pool || s->nnodes >= UINT32_MAX)
        return AG_OK;

    size_t nlabels = 0;
    for (size_t i = 0; i < s->nnodes; i++) {
        if (s->nodes[i].labels.n > SIZE_MAX / 16 - nlabels)
            return AG_OK;
        nlabels += s->nodes[i].labels.n;
    }
    if (nlabels >= UINT32_MAX / 2)
        return AG_OK;
    size_t nwords = (s->nnodes + 63) / 64;
    struct node_index *ix = pool_zalloc(pool, sizeof *ix);
    if (!ix)
        goto out;
    ix->nnodes = s->nnodes;
    ix->nwords = nwords;

    /* the placement-independent part */
    uint64_t *ready = pool_zalloc(pool, (nwords ? nwords : 1) * sizeof *ready);
    uint64_t *plain = pool_zalloc(pool, (nwords ? nwords : 1) * sizeof *plain);
    uint64_t *arch = pool_zalloc(pool, (ARCH_COUNT + 1) * (nwords ? nwords : 1) * sizeof *arch);
    if (!ready || !plain || !arch)
        goto out;
    for (size_t i = 0; i < s->nnodes; i++) {
        const struct node *n = &s->nodes[i];
        uint64_t bit = 1ull << (i % 64);
        int col = arch_column(n->arch);
        arch[(size_t)col * nwords + i / 64] |= bit;
        if (!n->workload)
            ix->fixed.n[NR_PLACEMENT][col]++;
        else if (s->kubevirt_labels_nodes && !n->kubevirt_ok)
            ix->fixed.n[NR_NOT_KUBEVIRT][col]++;
        else
            ready[i / 64] |= bit;
        if (!n->unschedulable && !has_hard_taint(n))
            plain[i / 64] |= bit;
    }
    ix->ready = ready;
    ix->plain = plain;
    ix->arch = arch;

    /* pass 1: ids and counts */
    if (nlabels && !(lab = mem_malloc(nlabels * sizeof *lab)))
        goto out;
    size_t li = 0;
    for (size_t i = 0; i < s->nnodes; i++) {
        const struct labels *l = &s->nodes[i].labels;
        for (size_t k = 0; k < l->n; k++, li++) {
            const char *key = l->items[k].key, *value = l->items[k].value;
            if (!key || !value) {
                r = AG_OK;      /* not a map the builder makes: no index */
                goto out;
            }
            long kid = ptab_get(&keys, key, NULL);
            long pid = kid < 0 ? -1 : ptab_get(&pairs, key, value);
            if (pid < 0)
                goto out;
            keys.ents[kid].count++;
            if (pairs.ents[pid].count++ == 0)
                pairs.ents[pid].kid = (uint32_t)kid;
            lab[li] = (uint32_t)pid;
        }
    }
    /* pass 2: the sets */
    if (!ptab_alloc_sets(&keys, pool, nwords) || !ptab_alloc_sets(&pairs, pool, nwords))
        goto out;
    li = 0;
    for (size_t i = 0; i < s->nnodes; i++) {
        for (size_t k = 0; k < s->nodes[i].labels.n; k++, li++) {
            struct ptab_ent *pair = &pairs.ents[lab[li]];
            ent_add(&keys.ents[pair->kid], (uint32_t)i);
            ent_add(pair, (uint32_t)i);
        }
    }

    /* keys and, per key, values in strcmp order; equal strings behind different pointers
     * (labels not interned) would split a set: then no index */
    if (keys.n) {
        krecs = mem_malloc(keys.n * sizeof *krecs);
        krank = mem_malloc(keys.n * sizeof *krank);
        precs = mem_malloc(pairs.n * sizeof *precs);
        if (!krecs || !krank || !precs)
            goto out;
    }
    for (size_t k = 0; k < keys.n; k++) {
        krecs[k].key = keys.ents[k].key;
        krecs[k].id = (uint32_t)k;
    }
    if (keys.n)
        qsort(krecs, keys.n, sizeof *krecs, cmp_key_rec);
    for (size_t k = 0; k < keys.n; k++) {
        if (k && strcmp(krecs[k - 1].key, krecs[k].key) == 0) {
            r = AG_OK;
            goto out;
        }
        krank[krecs[k].id] = (uint32_t)k;
    }
    for (size_t p = 0; p < pairs.n; p++) {
        precs[p].krank = krank[pairs.ents[p].kid];
        precs[p].id = (uint32_t)p;
        precs[p].value = pairs.ents[p].value;
    }
    if (pairs.n)
        qsort(precs, pairs.n, sizeof *precs, cmp_pair_rec);
    struct ix_key *ikeys = keys.n ? pool_alloc(pool, keys.n * sizeof *ikeys) : NULL;
    struct ix_value *ivals = pairs.n ? pool_alloc(pool, pairs.n * sizeof *ivals) : NULL;
    if ((keys.n && !ikeys) || (pairs.n && !ivals))
        goto out;
    for (size_t k = 0; k < keys.n; k++) {
        ikeys[k].key = krecs[k].key;
        ikeys[k].nodes = ent_set(&keys.ents[krecs[k].id]);
        ikeys[k].values = NULL;
        ikeys[k].nvalues = 0;
    }
    for (size_t p = 0; p < pairs.n; p++) {
        if (p && precs[p - 1].krank == precs[p].krank && strcmp(precs[p - 1].value, precs[p].value) == 0) {
            r = AG_OK;
            goto out;
        }
        ivals[p].value = precs[p].value;
        ivals[p].nodes = ent_set(&pairs.ents[precs[p].id]);
        struct ix_key *k = &ikeys[precs[p].krank];
        if (!k->values)
            k->values = &ivals[p];
        k->nvalues++;
    }
    ix->keys = ikeys;
    ix->nkeys = keys.n;
    s->index = ix;
    r = AG_OK;
out:
    ptab_free(&keys);
    ptab_free(&pairs);
    mem_free(lab);
    mem_free(krecs);
    mem_free(krank);
    mem_free(precs);
    return r;
}

/* ---- the census through the index ------------------------------------------------------------ */

#define PLAN_MAX_SETS  128
#define PLAN_MAX_REQS  64
#define PLAN_MAX_TERMS 32
#define PLAN_MAX_NAMES 64
#define TAINT_MEMO     16

/* A node set read one 64-node word at a time, in increasing word order (words may be skipped). */
struct set_it {
    const uint64_t *bits;
    const uint32_t *ids;
    size_t n, pos;
};

struct plan_req { unsigned first, count; bool neg; };   /* OR of sets [first, first+count), negated */
struct plan_term { unsigned first, count; };            /* AND of reqs; none: matches no node */

struct plan {
    struct set_it sets[PLAN_MAX_SETS];
    struct plan_req reqs[PLAN_MAX_REQS];
    struct plan_term terms[PLAN_MAX_TERMS];
    uint32_t names[PLAN_MAX_NAMES];
    unsigned nsets, nreqs, nterms, nnames;
    unsigned nsel;              /* reqs [0, nsel) are the nodeSelector's */
    bool sel_never;             /* a nodeSelector entry no node has */
};

static const struct ix_key *ix_find_key(const struct node_index *ix, const char *key)
{
    if (!key)
        return NULL;
    size_t lo = 0, hi = ix->nkeys;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(key, ix->keys[mid].key);
        if (c == 0)
            return &ix->keys[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static const struct ix_value *ix_find_value(const struct ix_key *k, const char *value)
{
    if (!k || !value)
        return NULL;
    size_t lo = 0, hi = k->nvalues;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(value, k->values[mid].value);
        if (c == 0)
            return &k->values[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static bool plan_add_set(struct plan *p, const struct node_set *ns)
{
    if (p->nsets == PLAN_MAX_SETS)
        return false;
    struct set_it *it = &p->sets[p->nsets++];
    it->bits = ns->bits;
    it->ids = ns->ids;
    it->n = ns->n;
    it->pos = 0;
    return true;
}

static struct plan_req *plan_new_req(struct plan *p, bool neg)
{
    if (p->nreqs == PLAN_MAX_REQS)
        return NULL;
    struct plan_req *r = &p->reqs[p->nreqs++];
    r->first = p->nsets;
    r->count = 0;
    r->neg = neg;
    return r;
}

/* Index of the node called `name` in the snapshot (sorted by name), -1 when none. */
static long node_by_name(const struct snapshot *s, const char *name)
{
    size_t lo = 0, hi = s->nnodes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, s->nodes[mid].name);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}


/* One requirement of a term as sets; false when it does not fit the plan. */
static bool plan_req(struct plan *p, const struct snapshot *s, const struct sel_req *q)
{
    const struct node_index *ix = s->index;
    if (q->is_field) {
        /* metadata.name: the node name is never NULL in a snapshot */
        if (q->op != SEL_IN && q->op != SEL_NOT_IN)
            return false;
        struct plan_req *r = plan_new_req(p, q->op == SEL_NOT_IN);
        if (!r)
            return false;
        unsigned first = p->nnames;
        for (size_t i = 0; i < q->nvalues; i++) {
            long idx = q->values[i] ? node_by_name(s, q->values[i]) : -1;
            if (idx < 0)
                continue;
            if (p->nnames == PLAN_MAX_NAMES)
                return false;
            /* insertion keeps the names of this requirement sorted */
            unsigned j = p->nnames++;
            while (j > first && p->names[j - 1] > (uint32_t)idx) {
                p->names[j] = p->names[j - 1];
                j--;
            }
            p->names[j] = (uint32_t)idx;
        }
        if (p->nnames > first) {
            struct node_set ns = { NULL, &p->names[first], p->nnames - first };
            if (!plan_add_set(p, &ns))
                return false;
            r->count = 1;
        }
        return true;
    }
    const struct ix_key *k = ix_find_key(ix, q->key);
    struct plan_req *r = plan_new_req(p, q->op == SEL_NOT_IN || q->op == SEL_DOES_NOT_EXIST);
    if (!r)
        return false;
    switch (q->op) {
    case SEL_IN:
    case SEL_NOT_IN:
        for (size_t i = 0; i < q->nvalues && k; i++) {
            const struct ix_value *v = ix_find_value(k, q->values[i]);
            if (v && !plan_add_set(p, &v->nodes))
                return false;
        }
        break;
    case SEL_EXISTS:
    case SEL_DOES_NOT_EXIST:
        if (k && !plan_add_set(p, &k->nodes))
            return false;
        break;
    case SEL_GT:
    case SEL_LT: {
        int64_t want, have;
        if (!k || q->nvalues != 1 || !selector_parse_int64(q->values[0], &want))
            break;
        for (size_t i = 0; i < k->nvalues; i++) {
            if (!selector_parse_int64(k->values[i].value, &have))
                continue;
            if ((q->op == SEL_GT ? have > want : have < want) && !plan_add_set(p, &k->values[i].nodes))
                return false;
        }
        break;
    }
    default:
        return false;
    }
    r->count = p->nsets - r->first;
    return true;
}

static bool plan_build(struct plan *p, const struct snapshot *s, const struct placement *vm)
{
    p->nsets = p->nreqs = p->nterms = p->nnames = 0;
    p->sel_never = false;
    for (size_t i = 0; i < vm->node_selector.n; i++) {
        const struct kv *e = &vm->node_selector.items[i];
        const struct ix_value *v = ix_find_value(ix_find_key(s->index, e->key), e->value);
        if (!v) {
            p->sel_never = true;
            break;
        }
        struct plan_req *r = plan_new_req(p, false);
        if (!r || !plan_add_set(p, &v->nodes))
            return false;
        r->count = 1;
    }
    p->nsel = p->nreqs;
    if (!vm->has_affinity)
        return true;
    if (vm->affinity.n > PLAN_MAX_TERMS)
        return false;
    for (size_t t = 0; t < vm->affinity.n; t++) {
        const struct sel_term *term = &vm->affinity.terms[t];
        struct plan_term *pt = &p->terms[p->nterms++];
        pt->first = p->nreqs;
        for (size_t i = 0; i < term->n; i++)
            if (!plan_req(p, s, &term->reqs[i]))
                return false;
        pt->count = p->nreqs - pt->first;
    }
    return true;
}

static inline uint64_t set_word(struct set_it *it, size_t j)
{
    if (it->bits)
        return it->bits[j];
    size_t lo = j * 64, hi = lo + 64;
    while (it->pos < it->n && it->ids[it->pos] < lo)
        it->pos++;
    uint64_t w = 0;
    while (it->pos < it->n && it->ids[it->pos] < hi)
        w |= 1ull << (it->ids[it->pos++] % 64);
    return w;
}

static inline uint64_t req_word(struct plan *p, const struct plan_req *r, size_t j)
{
    uint64_t w = 0;
    for (unsigned i = 0; i < r->count; i++)
        w |= set_word(&p->sets[r->first + i], j);
    return r->neg ? ~w : w;
}

static void count_word(unsigned *row, uint64_t m, const struct node_index *ix, size_t j)
{
    for (int a = 0; m && a <= ARCH_COUNT; a++) {
        uint64_t x = m & ix->arch[(size_t)a * ix->nwords + j];
        if (x) {
            row[a] += (unsigned)__builtin_popcountll(x);
            m &= ~x;
        }
    }
}

/* The taint stage of eligible_classify for a node past the affinity, remembering what each
 * (key, value, effect) came to: a pure function of the strings, so equal pointers (the
 * snapshot interns them) give the same answer. */
struct taint_memo { const char *key, *value; int effect; enum node_reason verdict; bool used; };

static enum node_reason taint_verdict(const struct taint *t, const struct toleration *tols, size_t ntols,
                                      struct taint_memo *memo)
{
    size_t slot = ptr_hash(t->key, t->value) % TAINT_MEMO;
    struct taint_memo *m = &memo[slot];
    if (m->used && m->key == t->key && m->value == t->value && m->effect == (int)t->effect)
        return m->verdict;
    enum node_reason v = NR_ELIGIBLE;
    if ((t->effect == EFFECT_NO_SCHEDULE || t->effect == EFFECT_NO_EXECUTE) && !is_cordon_taint(t) &&
        !selector_tolerated(tols, ntols, t))
        v = eligible_taint_is_transient(t) ? NR_NOT_READY : NR_TAINT;
    m->used = true;
    m->key = t->key;
    m->value = t->value;
    m->effect = (int)t->effect;
    m->verdict = v;
    return v;
}

static enum node_reason taint_stage(const struct node *n, const struct placement *vm, bool cordon_ok,
                                    struct taint_memo *memo)
{
    bool held = false;
    for (size_t i = 0; i < n->ntaints; i++) {
        enum node_reason v = taint_verdict(&n->taints[i], vm->tolerations, vm->ntolerations, memo);
        if (v == NR_TAINT)
            return NR_TAINT;
        if (v == NR_NOT_READY)
            held = true;
    }
    if (n->unschedulable && !cordon_ok)
        return NR_CORDONED;
    return held ? NR_NOT_READY : NR_ELIGIBLE;
}

bool eligible_census_indexed(const struct snapshot *s, const struct placement *vm, struct census *out)
{
    const struct node_index *ix = s ? s->index : NULL;
    if (!ix || !vm || ix->nnodes != s->nnodes)
        return false;
    struct plan p;
    if (!plan_build(&p, s, vm))
        return false;
    struct taint_memo memo[TAINT_MEMO];
    memset(memo, 0, sizeof memo);
    bool cordon_ok = cordon_tolerated(vm->tolerations, vm->ntolerations);
    bool use_sel = vm->node_selector.n > 0;

    *out = ix->fixed;
    for (size_t j = 0; j < ix->nwords; j++) {
        uint64_t ready = ix->ready[j];
        if (!ready)
            continue;
        uint64_t sel = ready;
        if (use_sel) {
            if (p.sel_never)
                sel = 0;
            for (unsigned i = 0; i < p.nsel && sel; i++)
                sel &= req_word(&p, &p.reqs[i], j);
        }
        uint64_t aff = sel;
        if (vm->has_affinity) {
            aff = 0;
            for (unsigned t = 0; t < p.nterms && aff != sel; t++) {
                const struct plan_term *pt = &p.terms[t];
                uint64_t w = pt->count ? sel & ~aff : 0;
                for (unsigned i = 0; i < pt->count && w; i++)
                    w &= req_word(&p, &p.reqs[pt->first + i], j);
                aff |= w;
            }
        }
        count_word(out->n[NR_SELECTOR], ready & ~sel, ix, j);
        count_word(out->n[NR_AFFINITY], sel & ~aff, ix, j);
        count_word(out->n[NR_ELIGIBLE], aff & ix->plain[j], ix, j);
        for (uint64_t rest = aff & ~ix->plain[j]; rest; rest &= rest - 1) {
            size_t i = j * 64 + (size_t)__builtin_ctzll(rest);
            const struct node *n = &s->nodes[i];
            out->n[taint_stage(n, vm, cordon_ok, memo)][arch_column(n->arch)]++;
        }
    }
    return true;
}

void eligible_census(const struct snapshot *s, const struct placement *vm, struct census *out)
{
    if (!vm) {
        *out = s->base;
        return;
    }
    if (eligible_census_indexed(s, vm, out))
        return;
    memset(out, 0, sizeof *out);
    selector_batch_begin();
    for (size_t i = 0; i < s->nnodes; i++) {
        const struct node *n = &s->nodes[i];
        out->n[eligible_classify(n, s->kubevirt_labels_nodes, vm)][arch_column(n->arch)]++;
    }
    selector_batch_end();
}

unsigned eligible_count(const struct census *c, int arch)
{
    if (!c || arch < 0 || arch >= ARCH_COUNT)
        return 0;
    return c->n[NR_ELIGIBLE][arch];
}

archset eligible_archs(const struct census *c)
{
    archset s = 0;
    for (int a = 0; a < ARCH_COUNT; a++)
        if (c->n[NR_ELIGIBLE][a])
            s |= arch_bit(a);
    return s;
}

archset eligible_held_archs(const struct census *c)
{
    archset s = 0;
    for (int a = 0; a < ARCH_COUNT; a++)
        if (c->n[NR_CORDONED][a] || c->n[NR_NOT_READY][a])
            s |= arch_bit(a);
    return s;
}

static const char *const phrases[NR_COUNT] = {
    [NR_ELIGIBLE] = "eligible",
    [NR_CORDONED] = "cordoned",
    [NR_NOT_READY] = "not ready",
    [NR_PLACEMENT] = "excluded by the workload node placement",
    [NR_NOT_KUBEVIRT] = "without kubevirt.io/schedulable=true",
    [NR_SELECTOR] = "excluded by the VM's nodeSelector",
    [NR_AFFINITY] = "excluded by the VM's node affinity",
    [NR_TAINT] = "excluded by taints the VM does not tolerate",
};

/* Appends to buf[*used..len); once full, stays full (the text is cut, never overrun). */
static void put(char *buf, size_t len, size_t *used, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void put(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
    if (*used + 1 >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *used, len - *used, fmt, ap);
    va_end(ap);
    if (w < 0)
        return;
    if ((size_t)w >= len - *used)
        *used = len - 1;
    else
        *used += (size_t)w;
}

void eligible_describe(const struct census *c, char *buf, size_t len)
{
    if (!buf || len == 0)
        return;
    buf[0] = '\0';
    if (!c)
        return;
    size_t used = 0;
    put(buf, len, &used, "eligible: ");
    bool any = false;
    for (int a = 0; a < ARCH_COUNT; a++) {
        unsigned k = c->n[NR_ELIGIBLE][a];
        if (!k)
            continue;
        put(buf, len, &used, "%s%u %s", any ? ", " : "", k, arch_name(a));
        any = true;
    }
    if (c->n[NR_ELIGIBLE][ARCH_COUNT]) {
        put(buf, len, &used, "%s%u of unknown architecture", any ? ", " : "", c->n[NR_ELIGIBLE][ARCH_COUNT]);
        any = true;
    }
    if (!any)
        put(buf, len, &used, "none");
    for (int r = NR_CORDONED; r < NR_COUNT; r++) {
        for (int a = 0; a <= ARCH_COUNT; a++) {
            unsigned k = c->n[r][a];
            if (!k)
                continue;
            if (a < ARCH_COUNT)
                put(buf, len, &used, "; %u %s %s", k, arch_name(a), phrases[r]);
            else
                put(buf, len, &used, "; %u of unknown architecture %s", k, phrases[r]);
        }
    }
}
