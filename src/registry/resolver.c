/* resolver.c - the process-wide registry resolver: the cache, a bounded queue of lookups and the
 * worker threads that run them (each with its own libcurl handle), the per-host warning log
 * (at most once a minute) and the lookup metrics. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <curl/curl.h>
#include "registry/resolver.h"
#include "registry/cache.h"
#include "registry/ref.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"

#define KEY_MAX (REGISTRY_NAME_MAX + REGISTRY_TAG_MAX + REGISTRY_DIGEST_MAX + 8)
#define WARN_HOSTS 64
#define WARN_EVERY_MS 60000u

struct job { char key[KEY_MAX]; struct registry_ref ref; };

struct resolver {
    struct registry_resolver_opts o;
    struct registry_client *client;
    struct registry_cache *cache;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *queue;          /* ring */
    size_t qhead, qlen;
    bool stopping;
    pthread_t *threads;
    unsigned nthreads;
    struct { char host[256]; uint64_t last_ms; } warned[WARN_HOSTS];
    unsigned nwarned;
};

static struct resolver *R;

static void warn_host(struct resolver *r, const char *host, const char *key, const char *why)
{
    uint64_t now = registry_now_ms();
    bool say = false;
    pthread_mutex_lock(&r->mu);
    unsigned i;
    for (i = 0; i < r->nwarned; i++)
        if (strcmp(r->warned[i].host, host) == 0)
            break;
    if (i == r->nwarned) {
        if (r->nwarned < WARN_HOSTS)
            r->nwarned++;
        else
            i = (unsigned)(now % WARN_HOSTS);  /* full: reuse a slot */
        snprintf(r->warned[i].host, sizeof r->warned[i].host, "%s", host);
        r->warned[i].last_ms = 0;
        say = true;
    } else if (now - r->warned[i].last_ms >= WARN_EVERY_MS) {
        say = true;
    }
    if (say)
        r->warned[i].last_ms = now ? now : 1;
    pthread_mutex_unlock(&r->mu);
    if (say)
        log_warn("registry lookup of %s failed: %s (further failures of this host: at most once a minute)",
                 key, why);
}

static void *worker(void *arg)
{
    struct resolver *r = arg;
    CURL *h = curl_easy_init();
    for (;;) {
        pthread_mutex_lock(&r->mu);
        while (!r->stopping && r->qlen == 0)
            pthread_cond_wait(&r->cv, &r->mu);
        if (r->qlen == 0) {     /* stopping and nothing left */
            pthread_mutex_unlock(&r->mu);
            break;
        }
        struct job j = r->queue[r->qhead];
        r->qhead = (r->qhead + 1) % r->o.queue_max;
        r->qlen--;
        pthread_mutex_unlock(&r->mu);

        struct registry_result res;
        uint64_t t0 = registry_now_ms();
        if (h) {
            registry_client_lookup(r->client, h, &j.ref, &res);
        } else {
            memset(&res, 0, sizeof res);
            res.status = REG_ERROR;
            snprintf(res.why, sizeof res.why, "registry %.60s cannot be asked: out of memory", j.ref.host);
        }
        double secs = (double)(registry_now_ms() - t0) / 1000.0;
        registry_cache_complete(r->cache, j.key, registry_ref_by_digest(&j.ref), &res);
        metrics_registry_lookup(RM_FETCHED + (int)res.status, secs);
        if (res.status != REG_OK)
            warn_host(r, registry_client_target(r->client, &j.ref), j.key, res.why);
    }
    if (h)
        curl_easy_cleanup(h);
    return NULL;
}

static size_t cache_size_fn(void)
{
    return R ? registry_cache_size(R->cache) : 0;
}

enum ag_result registry_resolver_start(const struct registry_resolver_opts *o, char *err, size_t errlen)
{
    if (R) {
        snprintf(err, errlen, "registry resolver already started");
        return AG_EINTERNAL;
    }
    struct resolver *r = mem_calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return AG_ENOMEM;
    }
    r->o = *o;
    if (!r->o.cache_size)
        r->o.cache_size = 10000;
    if (!r->o.ttl_ms)
        r->o.ttl_ms = 3600000u;
    if (!r->o.negative_ttl_ms)
        r->o.negative_ttl_ms = 30000u;
    if (!r->o.timeout_ms)
        r->o.timeout_ms = 1500;
    if (!r->o.workers)
        r->o.workers = 4;
    if (!r->o.queue_max)
        r->o.queue_max = 256;
    if (!r->o.client.timeout_ms)    /* a lookup may run past any request's deadline: 10 s at least */
        r->o.client.timeout_ms = r->o.timeout_ms > 10000 ? r->o.timeout_ms : 10000;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct registry_cache_opts co = { r->o.cache_size, r->o.ttl_ms, r->o.negative_ttl_ms, r->o.now_ms };
    r->client = registry_client_new(&r->o.client);
    r->cache = registry_cache_new(&co);
    r->queue = mem_calloc(r->o.queue_max, sizeof *r->queue);
    r->threads = mem_calloc(r->o.workers, sizeof *r->threads);
    if (!r->client || !r->cache || !r->queue || !r->threads) {
        registry_client_free(r->client);
        registry_cache_free(r->cache);
        mem_free(r->queue);
        mem_free(r->threads);
        mem_free(r);
        snprintf(err, errlen, "out of memory");
        return AG_ENOMEM;
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    R = r;
    for (unsigned i = 0; i < r->o.workers; i++) {
        if (pthread_create(&r->threads[i], NULL, worker, r) != 0)
            break;
        r->nthreads++;
    }
    if (r->nthreads == 0) {
        registry_resolver_stop();
        snprintf(err, errlen, "cannot start the registry lookup threads");
        return AG_EIO;
    }
    metrics_set_registry_cache_fn(cache_size_fn);
    return AG_OK;
}

void registry_resolver_stop(void)
{
    struct resolver *r = R;
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stopping = true;
    r->qlen = 0;                        /* queued lookups are dropped, running ones aborted */
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    registry_client_cancel(r->client);
    for (unsigned i = 0; i < r->nthreads; i++)
        pthread_join(r->threads[i], NULL);
    metrics_set_registry_cache_fn(NULL);
    R = NULL;
    registry_client_free(r->client);
    registry_cache_free(r->cache);
    mem_free(r->queue);
    mem_free(r->threads);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    mem_free(r);
}

bool registry_resolver_running(void)
{
    return R != NULL;
}

size_t registry_resolver_cache_size(void)
{
    return cache_size_fn();
}

/* Start (or join) the lookup of one parsed reference. false with *out filled when it is
 * answered already (hit) or cannot be looked up (queue or cache full). */
static bool begin(struct resolver *r, const struct registry_ref *ref, const char *key, struct registry_result *out,
                  bool *hit)
{
    enum registry_cache_state st = registry_cache_begin(r->cache, key, out);
    if (st == RC_HIT) {
        metrics_registry_lookup(RM_HIT, -1);
        if (hit)
            *hit = true;
        return false;
    }
    if (st == RC_PENDING)
        return true;
    if (st == RC_STARTED) {
        pthread_mutex_lock(&r->mu);
        bool queued = !r->stopping && r->qlen < r->o.queue_max;
        if (queued) {
            struct job *j = &r->queue[(r->qhead + r->qlen) % r->o.queue_max];
            snprintf(j->key, sizeof j->key, "%s", key);
            j->ref = *ref;
            r->qlen++;
            pthread_cond_signal(&r->cv);
        }
        pthread_mutex_unlock(&r->mu);
        if (queued)
            return true;
        registry_cache_abandon(r->cache, key);
    }
    memset(out, 0, sizeof *out);
    out->status = REG_ERROR;
    snprintf(out->why, sizeof out->why, "registry %.60s not asked: too many lookups at once", ref->host);
    return false;
}

static void timed_out(const struct resolver *r, const struct registry_ref *ref, struct registry_result *out)
{
    memset(out, 0, sizeof *out);
    out->status = REG_TIMEOUT;
    snprintf(out->why, sizeof out->why, "registry %.60s did not answer within %.1fs",
             registry_client_target(r->client, ref), (double)r->o.timeout_ms / 1000.0);
}

void registry_resolve_one(const char *image, uint64_t deadline_ms, struct registry_result *out, bool *hit)
{
    struct resolver *r = R;
    struct registry_ref ref;
    char key[KEY_MAX], err[128];
    if (hit)
        *hit = false;
    memset(out, 0, sizeof *out);
    out->status = REG_ERROR;
    if (!r) {
        snprintf(out->why, sizeof out->why, "registry lookups are off");
        return;
    }
    if (!registry_ref_parse(image, &ref, err, sizeof err) || !registry_ref_format(&ref, key, sizeof key)) {
        snprintf(out->why, sizeof out->why, "not an image reference: %s", err);
        return;
    }
    if (begin(r, &ref, key, out, hit) && !registry_cache_wait(r->cache, key, deadline_ms, out))
        timed_out(r, &ref, out);
}

/* Does image k need the registry? */
static bool wants_registry(const struct vm_image *im, const struct snapshot *s)
{
    if (!im->name)
        return false;
    if (im->kind == IMG_CONTAINERDISK)
        return snapshot_catalog_lookup(s, im->name) == 0;
    if (im->kind == IMG_REGISTRY)
        return !im->arch_str && strncmp(im->name, "docker://", 9) == 0;
    return false;
}

struct registry_result *registry_resolve_list(const char *const *names, size_t n, struct pool *pool)
{
    struct resolver *r = R;
    if (!r || n == 0)
        return NULL;
    struct registry_result *rr = pool_zalloc(pool, n * sizeof *rr);
    char (*keys)[KEY_MAX] = pool_alloc(pool, n * sizeof *keys);
    struct registry_ref *refs = pool_alloc(pool, n * sizeof *refs);
    bool *wait = pool_zalloc(pool, n * sizeof *wait);
    if (!rr || !keys || !refs || !wait)
        return NULL;
    uint64_t deadline = registry_now_ms() + r->o.timeout_ms;
    /* every lookup starts before any is waited for: they run side by side */
    for (size_t k = 0; k < n; k++) {
        char err[128];
        if (!names[k] || !registry_ref_parse(names[k], &refs[k], err, sizeof err)
            || !registry_ref_format(&refs[k], keys[k], sizeof keys[k])) {
            rr[k].status = REG_ERROR;
            snprintf(rr[k].why, sizeof rr[k].why, "not an image reference (%s)", names[k] ? err : "none");
            continue;
        }
        wait[k] = begin(r, &refs[k], keys[k], &rr[k], NULL);
    }
    for (size_t k = 0; k < n; k++) {
        if (wait[k] && !registry_cache_wait(r->cache, keys[k], deadline, &rr[k])) {
            timed_out(r, &refs[k], &rr[k]);
            metrics_registry_lookup(RM_GAVE_UP, -1);   /* a request that stopped waiting */
        }
    }
    return rr;
}

const struct image_resolution *registry_resolve_vm(const struct vm_facts *vm, const struct snapshot *s,
                                                   struct pool *pool)
{
    if (!R || !vm || vm->annot_archs || vm->nimages == 0)
        return NULL;
    const char **names = pool_zalloc(pool, vm->nimages * sizeof *names);
    size_t *at = pool_alloc(pool, vm->nimages * sizeof *at);
    if (!names || !at)
        return NULL;
    size_t n = 0;
    for (size_t k = 0; k < vm->nimages; k++)
        if (wants_registry(&vm->images[k], s)) {
            at[n] = k;
            names[n++] = vm->images[k].name;
        }
    if (n == 0)
        return NULL;
    struct image_resolution *res = pool_zalloc(pool, vm->nimages * sizeof *res);
    struct registry_result *rr = registry_resolve_list(names, n, pool);
    if (!res || !rr)
        return NULL;
    for (size_t j = 0; j < n; j++) {
        size_t k = at[j];
        if (rr[j].status == REG_OK) {
            res[k].archs = rr[j].archs;
            res[k].source = rr[j].from_index ? "registry index" : "registry manifest";
        } else {
            res[k].why = pool_printf(pool, "%s %s: %s", vm->images[k].kind == IMG_CONTAINERDISK ? "containerDisk"
                                     : "registry image", vm->images[k].name, rr[j].why);
        }
    }
    return res;
}
