/* mem.c - the process allocator wrapper: failure injection and live counts for tests, and the
 * cJSON hooks with a per-thread arena for the request path. */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "mem.h"
#include "clock.h"

static atomic_long fail_countdown = -1;   /* -1: never fail */
static atomic_long live;

static int should_fail(void)
{
    long c = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
    if (c < 0)
        return 0;
    if (c == 0)
        return 1;
    atomic_fetch_sub_explicit(&fail_countdown, 1, memory_order_relaxed);
    return 0;
}

void *mem_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    void *p = malloc(n ? n : 1);
    if (p)
        atomic_fetch_add_explicit(&live, 1, memory_order_relaxed);
    return p;
}

void *mem_calloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return NULL;
    void *p = mem_malloc(count * size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

void *mem_realloc(void *p, size_t n)
{
    if (!p)
        return mem_malloc(n);
    if (should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

void mem_free(void *p)
{
    if (!p)
        return;
    atomic_fetch_sub_explicit(&live, 1, memory_order_relaxed);
    free(p);
}

char *mem_strndup(const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *d = mem_malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *mem_strdup(const char *s)
{
    return s ? mem_strndup(s, strlen(s)) : NULL;
}

/* ---- the request arena ----
 * Parsing one AdmissionReview makes thousands of small cJSON allocations; with malloc they were
 * the largest single cost of a request. Between mem_arena_begin and mem_arena_end, cJSON's
 * allocations on this thread come from chunks that are reset as a whole; its frees of them do
 * nothing. One chunk is kept per thread for the next request and freed when the thread exits. */

#define ARENA_CHUNK (256 * 1024)

struct arena_chunk {
    struct arena_chunk *next;
    size_t cap, used;
    _Alignas(16) unsigned char data[];
};

static _Thread_local struct arena_chunk *arena_head;
static _Thread_local int arena_depth;
static pthread_key_t arena_key;
static pthread_once_t arena_once = PTHREAD_ONCE_INIT;

static void arena_free_chain(void *head)
{
    struct arena_chunk *c = head;
    while (c) {
        struct arena_chunk *n = c->next;
        free(c);
        c = n;
    }
}

static void arena_key_init(void)
{
    if (pthread_key_create(&arena_key, arena_free_chain) != 0)
        abort();    /* only at start-up; nothing can run without it */
}

void mem_arena_begin(void)
{
    pthread_once(&arena_once, arena_key_init);
    arena_depth++;
}

void mem_arena_end(void)
{
    if (arena_depth == 0 || --arena_depth > 0)
        return;
    struct arena_chunk *c = arena_head, *keep = NULL;
    while (c) {
        struct arena_chunk *n = c->next;
        if (!keep && c->cap == ARENA_CHUNK)
            keep = c;
        else
            free(c);
        c = n;
    }
    if (keep) {
        keep->used = 0;
        keep->next = NULL;
    }
    arena_head = keep;
    pthread_setspecific(arena_key, keep);  /* freed with the thread */
}

int mem_arena_pause(void)
{
    int d = arena_depth;
    arena_depth = 0;
    return d;
}

void mem_arena_resume(int depth)
{
    arena_depth = depth;
}

static void *arena_alloc(size_t n)
{
    size_t need = (n + 15) & ~(size_t)15;
    if (need < n)
        return NULL;
    struct arena_chunk *c = arena_head;
    if (!c || c->cap - c->used < need) {
        if (should_fail())
            return NULL;
        size_t cap = need > ARENA_CHUNK ? need : ARENA_CHUNK;
        if (cap > SIZE_MAX - sizeof(struct arena_chunk))
            return NULL;
        struct arena_chunk *nc = malloc(sizeof *nc + cap);
        if (!nc)
            return NULL;
        nc->cap = cap;
        nc->used = 0;
        if (c && need > ARENA_CHUNK) {
            /* an oversized block goes behind the current chunk, which keeps filling */
            nc->next = c->next;
            c->next = nc;
            nc->used = need;
            return nc->data;
        }
        nc->next = c;
        arena_head = nc;
        pthread_setspecific(arena_key, nc);
        c = nc;
    }
    void *p = c->data + c->used;
    c->used += need;
    return p;
}

static bool in_arena(const void *p)
{
    const unsigned char *q = p;
    for (const struct arena_chunk *c = arena_head; c; c = c->next)
        if (q >= c->data && q < c->data + c->cap)
            return true;
    return false;
}

static void *hook_malloc(size_t n)
{
    /* While a test makes allocations fail (mem_fail_after), every cJSON allocation goes through
     * mem_malloc so that each one is a point where the failure can land. */
    bool injecting = atomic_load_explicit(&fail_countdown, memory_order_relaxed) >= 0;
    return arena_depth && !injecting ? arena_alloc(n) : mem_malloc(n);
}

static void hook_free(void *p)
{
    if (!p || (arena_depth && in_arena(p)))
        return;
    mem_free(p);
}

void mem_install_cjson_hooks(void)
{
    cJSON_Hooks h = { hook_malloc, hook_free };
    cJSON_InitHooks(&h);
}

void mem_fail_after(long n)
{
    atomic_store(&fail_countdown, n < 0 ? -1 : n);
}

long mem_live(void)
{
    return atomic_load(&live);
}

void mem_heap_stats(struct mem_heap *out)
{
    struct mallinfo2 mi = mallinfo2();
    out->in_use = mi.uordblks;
    out->free = mi.fordblks;
    out->mmapped = mi.hblkhd;
    out->arenas = 0;
    /* The arena count is only in malloc_info's XML: one <heap nr="N"> element per arena. */
    char *xml = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&xml, &len);
    if (!f)
        return;
    int ok = malloc_info(0, f) == 0;
    fclose(f);
    for (const char *p = xml; ok && p && (p = strstr(p, "<heap nr=")); p++)
        out->arenas++;
    free(xml);
}

void mem_setup(void)
{
    mallopt(M_MMAP_THRESHOLD, MEM_MMAP_THRESHOLD);
}

/* The trimmer: one thread that runs malloc_trim when asked, at most once a second. A request
 * made within the second after a trim is kept and served when the second is over, so the last
 * of a burst (a rebuild, then the audit's re-read of the folder a moment later) is never lost. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool pending, running, stop, cv_ready;
    unsigned long long trims;
    pthread_t thread;
} trimmer = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void *trimmer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&trimmer.mu);
    while (!trimmer.stop) {
        if (!trimmer.pending) {
            pthread_cond_wait(&trimmer.cv, &trimmer.mu);
            continue;
        }
        trimmer.pending = false;
        pthread_mutex_unlock(&trimmer.mu);
        malloc_trim(0);
        pthread_mutex_lock(&trimmer.mu);
        trimmer.trims++;
        struct timespec until = clock_deadline(CLOCK_MONOTONIC, MEM_TRIM_EVERY_S * 1000LL);
        while (!trimmer.stop && pthread_cond_timedwait(&trimmer.cv, &trimmer.mu, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&trimmer.mu);
    return NULL;
}

bool mem_trimmer_start(void)
{
    pthread_mutex_lock(&trimmer.mu);
    bool ok = trimmer.running;
    if (!ok && !trimmer.cv_ready) {
        /* the pause after a trim is measured on the monotonic clock: a wall-clock step back
         * must not hold the trims */
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        trimmer.cv_ready = pthread_cond_init(&trimmer.cv, &ca) == 0;
        pthread_condattr_destroy(&ca);
    }
    if (!ok && trimmer.cv_ready) {
        trimmer.stop = false;
        ok = trimmer.running = pthread_create(&trimmer.thread, NULL, trimmer_main, NULL) == 0;
    }
    pthread_mutex_unlock(&trimmer.mu);
    return ok;
}

void mem_trimmer_stop(void)
{
    pthread_mutex_lock(&trimmer.mu);
    bool was = trimmer.running;
    trimmer.stop = true;
    if (trimmer.cv_ready)
        pthread_cond_broadcast(&trimmer.cv);
    pthread_mutex_unlock(&trimmer.mu);
    if (was)
        pthread_join(trimmer.thread, NULL);
    pthread_mutex_lock(&trimmer.mu);
    trimmer.running = false;
    trimmer.pending = false;
    pthread_mutex_unlock(&trimmer.mu);
}

void mem_give_back(void)
{
    pthread_mutex_lock(&trimmer.mu);
    trimmer.pending = true;
    if (trimmer.cv_ready)       /* else no trimmer has run yet: it finds the request when started */
        pthread_cond_signal(&trimmer.cv);
    pthread_mutex_unlock(&trimmer.mu);
}

unsigned long long mem_trims(void)
{
    pthread_mutex_lock(&trimmer.mu);
    unsigned long long n = trimmer.trims;
    pthread_mutex_unlock(&trimmer.mu);
    return n;
}
