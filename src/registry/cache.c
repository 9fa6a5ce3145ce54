/* cache.c - the registry cache: a hash table of entries on a doubly linked LRU list, one mutex,
 * one condition variable (CLOCK_MONOTONIC) that wakes the waiters of any completed lookup. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include "registry/cache.h"
#include "hash.h"
#include "mem.h"

struct entry {
    char *key;
    uint64_t hash;
    bool pending;
    bool forever;               /* a digest's success: no expiry */
    uint64_t expires_ms;
    struct registry_result res;
    struct entry *hnext;        /* bucket chain */
    struct entry *prev, *next;  /* LRU: head most recent */
};

struct registry_cache {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct registry_cache_opts o;
    struct entry **buckets;
    size_t nbuckets;
    size_t n;
    struct entry *head, *tail;
};

struct registry_cache *registry_cache_new(const struct registry_cache_opts *o)
{
    struct registry_cache *c = mem_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->o = *o;
    if (c->o.capacity < 1)
        c->o.capacity = 1;
    if (!c->o.now_ms)
        c->o.now_ms = registry_now_ms;
    c->nbuckets = 64;
    while (c->nbuckets < c->o.capacity && c->nbuckets < (1u << 24))
        c->nbuckets *= 2;
    c->buckets = mem_calloc(c->nbuckets, sizeof *c->buckets);
    if (!c->buckets) {
        mem_free(c);
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    return c;
}

void registry_cache_free(struct registry_cache *c)
{
    if (!c)
        return;
    for (struct entry *e = c->head, *nx; e; e = nx) {
        nx = e->next;
        mem_free(e->key);
        mem_free(e);
    }
    mem_free(c->buckets);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    mem_free(c);
}

static struct entry *find(struct registry_cache *c, const char *key, uint64_t h)
{
    for (struct entry *e = c->buckets[h & (c->nbuckets - 1)]; e; e = e->hnext)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

static void lru_unlink(struct registry_cache *c, struct entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_front(struct registry_cache *c, struct entry *e)
{
    e->next = c->head;
    e->prev = NULL;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

static void remove_entry(struct registry_cache *c, struct entry *e)
{
    struct entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    lru_unlink(c, e);
    c->n--;
    mem_free(e->key);
    mem_free(e);
}

/* Make room for one more: drop the least recently used answered entry. false when all pend. */
static bool make_room(struct registry_cache *c)
{
    while (c->n >= c->o.capacity) {
        struct entry *v = c->tail;
        while (v && v->pending)
            v = v->prev;
        if (!v)
            return false;
        remove_entry(c, v);
    }
    return true;
}

static struct entry *add(struct registry_cache *c, const char *key, uint64_t h)
{
    if (!make_room(c))
        return NULL;
    struct entry *e = mem_calloc(1, sizeof *e);
    char *k = mem_strdup(key);
    if (!e || !k) {
        mem_free(e);
        mem_free(k);
        return NULL;
    }
    e->key = k;
    e->hash = h;
    size_t b = h & (c->nbuckets - 1);
    e->hnext = c->buckets[b];
    c->buckets[b] = e;
    lru_front(c, e);
    c->n++;
    return e;
}

static bool fresh(const struct entry *e, uint64_t now)
{
    return e->forever || now < e->expires_ms;
}

enum registry_cache_state registry_cache_begin(struct registry_cache *c, const char *key,
                                               struct registry_result *out)
{
    uint64_t h = hash_str(key);
    uint64_t now = c->o.now_ms();
    enum registry_cache_state st;
    pthread_mutex_lock(&c->mu);
    struct entry *e = find(c, key, h);
    if (e) {
        lru_unlink(c, e);
        lru_front(c, e);
        if (e->pending) {
            st = RC_PENDING;
            goto out;
        }
        if (fresh(e, now)) {
            *out = e->res;
            st = RC_HIT;
            goto out;
        }
        e->pending = true;      /* expired: look it up again */
        st = RC_STARTED;
        goto out;
    }
    e = add(c, key, h);
    if (!e) {
        st = RC_FULL;
        goto out;
    }
    e->pending = true;
    st = RC_STARTED;
out:
    pthread_mutex_unlock(&c->mu);
    return st;
}

void registry_cache_complete(struct registry_cache *c, const char *key, bool by_digest,
                             const struct registry_result *res)
{
    uint64_t h = hash_str(key);
    uint64_t now = c->o.now_ms();
    pthread_mutex_lock(&c->mu);
    struct entry *e = find(c, key, h);
    if (!e)
        e = add(c, key, h);
    if (e) {
        e->pending = false;
        e->res = *res;
        e->forever = res->status == REG_OK && by_digest;
        e->expires_ms = now + (res->status == REG_OK ? c->o.ttl_ms : c->o.negative_ttl_ms);
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

void registry_cache_abandon(struct registry_cache *c, const char *key)
{
    uint64_t h = hash_str(key);
    pthread_mutex_lock(&c->mu);
    struct entry *e = find(c, key, h);
    if (e && e->pending)
        remove_entry(c, e);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

bool registry_cache_wait(struct registry_cache *c, const char *key, uint64_t deadline_ms,
                         struct registry_result *out)
{
    uint64_t h = hash_str(key);
    struct timespec ts = { (time_t)(deadline_ms / 1000), (long)(deadline_ms % 1000) * 1000000L };
    bool got = false;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        struct entry *e = find(c, key, h);
        if (!e)
            break;      /* abandoned or evicted: unknown */
        if (!e->pending) {
            *out = e->res;
            got = true;
            break;
        }
        if (registry_now_ms() >= deadline_ms)
            break;
        int rc = pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        if (rc == ETIMEDOUT && registry_now_ms() >= deadline_ms) {
            e = find(c, key, h);
            if (e && !e->pending) {
                *out = e->res;
                got = true;
            }
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return got;
}

size_t registry_cache_size(struct registry_cache *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->n;
    pthread_mutex_unlock(&c->mu);
    return n;
}
