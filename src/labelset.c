/* labelset.c - node label maps shared by the live store and the snapshots: a process-wide table
 * of reference-counted interned strings (chained hash, grown by doubling) and a table of
 * reference-counted maps of pairs of them, equal maps being one. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "labelset.h"
#include "hash.h"
#include "mem.h"

#define MAX_STRINGS (16u * 1024 * 1024)

struct istr {
    struct istr *next;
    uint64_t hash;
    size_t refs;            /* under `lock` */
    char s[];
};

struct labelset {
    atomic_size_t refs;
    struct labelset *next;  /* in the table of maps, under `lock` */
    uint64_t hash;          /* of the pairs' interned pointers */
    struct labels view;
    struct kv items[];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct istr **slots;
static size_t cap, nstrings, nbytes;
/* Equal maps are one map: a node whose labels did not change between two reads of the folder,
 * or between a list and a relist, keeps the map it had. */
static struct labelset **sets;
static size_t setcap, nsets, setbytes;

static struct istr *istr_of(const char *s)
{
    return (struct istr *)(void *)(s - offsetof(struct istr, s));
}

static bool grow(void)
{
    size_t ncap = cap ? cap * 2 : 1024;
    struct istr **ns = mem_calloc(ncap, sizeof *ns);
    if (!ns)
        return false;
    for (size_t i = 0; i < cap; i++)
        for (struct istr *e = slots[i], *nx; e; e = nx) {
            nx = e->next;
            e->next = ns[e->hash & (ncap - 1)];
            ns[e->hash & (ncap - 1)] = e;
        }
    mem_free(slots);
    slots = ns;
    cap = ncap;
    return true;
}

/* The interned copy of s with one more reference; NULL on failure. Under `lock`. */
static const char *intern_locked(const char *s)
{
    uint64_t h = hash_str(s);
    if (cap) {
        for (struct istr *e = slots[h & (cap - 1)]; e; e = e->next)
            if (e->hash == h && strcmp(e->s, s) == 0) {
                e->refs++;
                return e->s;
            }
    }
    if (nstrings >= MAX_STRINGS || ((nstrings + 1) > cap && !grow()))
        return NULL;
    size_t len = strlen(s);
    struct istr *e = mem_malloc(sizeof *e + len + 1);
    if (!e)
        return NULL;
    e->hash = h;
    e->refs = 1;
    memcpy(e->s, s, len + 1);
    e->next = slots[h & (cap - 1)];
    slots[h & (cap - 1)] = e;
    nstrings++;
    nbytes += sizeof *e + len + 1;
    return e->s;
}

/* Drop one reference to an interned string; free it at zero. Under `lock`. */
static void unintern_locked(const char *s)
{
    if (!s)
        return;
    struct istr *e = istr_of(s);
    if (--e->refs)
        return;
    struct istr **pp = &slots[e->hash & (cap - 1)];
    while (*pp != e)
        pp = &(*pp)->next;
    *pp = e->next;
    nstrings--;
    nbytes -= sizeof *e + strlen(e->s) + 1;
    mem_free(e);
}

static bool sets_grow(void)
{
    size_t ncap = setcap ? setcap * 2 : 1024;
    struct labelset **ns = mem_calloc(ncap, sizeof *ns);
    if (!ns)
        return false;
    for (size_t i = 0; i < setcap; i++)
        for (struct labelset *e = sets[i], *nx; e; e = nx) {
            nx = e->next;
            e->next = ns[e->hash & (ncap - 1)];
            ns[e->hash & (ncap - 1)] = e;
        }
    mem_free(sets);
    sets = ns;
    setcap = ncap;
    return true;
}

/* An empty table is freed: nothing of this module outlives the last map (tests count live
 * allocations). Under `lock`. */
static void tables_trim_locked(void)
{
    if (!nsets && sets) {
        mem_free(sets);
        sets = NULL;
        setcap = 0;
    }
    if (!nstrings && slots) {
        mem_free(slots);
        slots = NULL;
        cap = 0;
    }
}

static void unintern_all_locked(struct labelset *ls)
{
    for (size_t j = 0; j < ls->view.n; j++) {
        unintern_locked(ls->items[j].key);
        unintern_locked(ls->items[j].value);
    }
}

/* One more reference, unless the last one is being dropped (the map is on its way out and
 * must not be handed out again). */
static bool ref_if_alive(struct labelset *e)
{
    size_t r = atomic_load(&e->refs);
    while (r != 0)
        if (atomic_compare_exchange_weak(&e->refs, &r, r + 1))
            return true;
    return false;
}

enum ag_result labelset_make(const struct labels *in, struct labelset **out)
{
    *out = NULL;
    size_t n = in ? in->n : 0;
    size_t size = sizeof(struct labelset) + n * sizeof(struct kv);
    struct labelset *ls = mem_malloc(size);
    if (!ls)
        return AG_ENOMEM;
    atomic_init(&ls->refs, 1);
    ls->view.items = ls->items;
    ls->view.n = 0;
    uint64_t h = HASH_FNV1A_START;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n; i++) {
        const char *k = intern_locked(in->items[i].key);
        const char *v = k ? intern_locked(in->items[i].value) : NULL;
        if (!v) {
            unintern_locked(k);
            goto nomem;
        }
        ls->items[i].key = k;
        ls->items[i].value = v;
        ls->view.n = i + 1;
        h = hash_fnv1a(h, &ls->items[i], sizeof ls->items[i]);
    }
    ls->hash = h;
    if (setcap) {
        for (struct labelset *e = sets[h & (setcap - 1)]; e; e = e->next) {
            if (e->hash != h || !labelset_equal(e, ls) || !ref_if_alive(e))
                continue;
            unintern_all_locked(ls);
            pthread_mutex_unlock(&lock);
            mem_free(ls);
            *out = e;
            return AG_OK;
        }
    }
    if ((nsets + 1) > setcap && !sets_grow())
        goto nomem;
    ls->next = sets[h & (setcap - 1)];
    sets[h & (setcap - 1)] = ls;
    nsets++;
    setbytes += size;
    pthread_mutex_unlock(&lock);
    *out = ls;
    return AG_OK;
nomem:
    unintern_all_locked(ls);
    tables_trim_locked();
    pthread_mutex_unlock(&lock);
    mem_free(ls);
    return AG_ENOMEM;
}

const struct labels *labelset_labels(const struct labelset *ls)
{
    return &ls->view;
}

void labelset_ref(struct labelset *ls)
{
    if (ls)
        atomic_fetch_add_explicit(&ls->refs, 1, memory_order_relaxed);
}

void labelset_release(struct labelset *ls)
{
    if (!ls || atomic_fetch_sub_explicit(&ls->refs, 1, memory_order_acq_rel) != 1)
        return;
    pthread_mutex_lock(&lock);
    struct labelset **pp = &sets[ls->hash & (setcap - 1)];
    while (*pp != ls)
        pp = &(*pp)->next;
    *pp = ls->next;
    nsets--;
    setbytes -= sizeof *ls + ls->view.n * sizeof ls->items[0];
    unintern_all_locked(ls);
    tables_trim_locked();
    pthread_mutex_unlock(&lock);
    mem_free(ls);
}

bool labelset_equal(const struct labelset *a, const struct labelset *b)
{
    if (a == b)
        return true;
    if (!a || !b || a->view.n != b->view.n)
        return false;
    for (size_t i = 0; i < a->view.n; i++)
        if (a->items[i].key != b->items[i].key || a->items[i].value != b->items[i].value)
            return false;
    return true;
}

void labelset_stats(struct labelset_stats *out)
{
    pthread_mutex_lock(&lock);
    out->sets = nsets;
    out->strings = nstrings;
    out->bytes = nbytes + setbytes + (cap + setcap) * sizeof(void *);
    pthread_mutex_unlock(&lock);
}
