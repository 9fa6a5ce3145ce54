/* source_kube.c - cluster state from kube-apiserver: per kind a thread that lists (in pages) and
 * then watches from the list's resourceVersion, re-watching when a stream ends, relisting on
 * 410 Gone, backing off with jitter on errors; the store (kube_store.c) they feed; a rebuild
 * thread that turns store changes into published snapshots at most once per coalesce period;
 * readiness (every kind listed once) and staleness (how long a kind has been failing). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "source_kube.h"
#include "clock.h"
#include "fileio.h"
#include "source_file.h"
#include "kube_store.h"
#include "liststream.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"

#define LIST_PAGE_MAX   (64u * 1024 * 1024)  /* bytes of one list page; over it the page size is halved */
#define LIST_REST_MAX   (1024u * 1024)       /* a page outside its items (kind, metadata) */
#define KUBE_LIST_NESTING 128
#define WATCH_LINE_MAX  (16u * 1024 * 1024)  /* bytes of one watch event */
#define LIST_IDLE_MS    30000L               /* a list request with no byte for this long failed */
#define WATCH_IDLE_MS   90000L               /* a quiet watch is re-opened after this (bookmarks come every minute) */
#define CATALOG_POLL_MS 2000                 /* how often the image catalog file is checked */
#define RV_MAX          128
#define CONTINUE_MAX    1024                 /* a continue token longer than this is refused */
#define PATH_MAX_LEN    4000                 /* kube_client's URL buffer is 4096 with the server */
#define QUICK_END_MS    1000                 /* a watch that ends this fast without an event ... */
#define QUICK_ENDS      3                    /* ... this many times in a row is backed off */
#define LOG_REFUSED_MAX 10                   /* per kind, refused objects logged at warn; then debug */

/* ---- paths ---------------------------------------------------------------------------------- */

/* Append `s` percent-encoded (everything but RFC 3986 unreserved characters). */
static bool append_encoded(char *buf, size_t len, size_t *used, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                     ch == '-' || ch == '.' || ch == '_' || ch == '~';
        size_t need = plain ? 1 : 3;
        if (*used + need >= len)
            return false;
        if (plain) {
            buf[(*used)++] = (char)ch;
        } else {
            buf[(*used)++] = '%';
            buf[(*used)++] = hex[ch >> 4];
            buf[(*used)++] = hex[ch & 15];
        }
    }
    buf[*used] = '\0';
    return true;
}

static bool list_path(char *buf, size_t len, const struct kube_kind *k, unsigned limit, const char *cont)
{
    int n = snprintf(buf, len, "%s?limit=%u", k->path, limit);
    if (n < 0 || (size_t)n >= len)
        return false;
    size_t used = (size_t)n;
    if (!cont || !*cont)
        return true;
    n = snprintf(buf + used, len - used, "&continue=");
    if (n < 0 || (size_t)n >= len - used)
        return false;
    used += (size_t)n;
    return append_encoded(buf, len, &used, cont);
}

static bool watch_path(char *buf, size_t len, const struct kube_kind *k, const char *rv, unsigned timeout_s)
{
    int n = snprintf(buf, len, "%s?watch=1&allowWatchBookmarks=true&timeoutSeconds=%u&resourceVersion=", k->path,
                     timeout_s);
    if (n < 0 || (size_t)n >= len)
        return false;
    size_t used = (size_t)n;
    return append_encoded(buf, len, &used, rv);
}

/* ---- Status bodies and messages ------------------------------------------------------------- */

/* The "message" of a metav1.Status body, or a short printable excerpt of the body. */
static void status_message(const char *body, size_t len, char *out, size_t outlen)
{
    const char *end = NULL;
    out[0] = '\0';
    if (!body || !len)
        return;
    cJSON *j = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    const cJSON *m = j ? cJSON_GetObjectItemCaseSensitive(j, "message") : NULL;
    if (cJSON_IsString(m)) {
        snprintf(out, outlen, "%s", m->valuestring);
    } else {
        size_t n = 0;
        for (size_t i = 0; i < len && n + 1 < outlen && i < 200; i++)
            out[n++] = (body[i] >= 0x20 && body[i] < 0x7f) ? body[i] : ' ';
        out[n] = '\0';
    }
    cJSON_Delete(j);
}

static const char *status_text(long status)
{
    switch (status) {
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 410: return "Gone";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "error";
    }
}

/* The message for a 401 or 403 on `verb` of kind `k`: what to fix. */
static void auth_message(char *out, size_t outlen, const struct kube_kind *k, const char *verb, long status,
                         const char *source, const char *detail)
{
    if (status == 403) {
        char group[64];
        if (k->group[0])
            snprintf(group, sizeof group, "API group %s", k->group);
        else
            snprintf(group, sizeof group, "the core API group (\"\")");
        snprintf(out, outlen,
                 "kube-apiserver refused to %s %s (403 Forbidden): the ClusterRole of archgate needs get, list, "
                 "watch on %s in %s%s%s", verb, k->name, k->resource, group, detail[0] ? "; " : "", detail);
    } else {
        snprintf(out, outlen,
                 "kube-apiserver did not accept the credentials from %s to %s %s (401 Unauthorized): check the "
                 "service-account token or the kubeconfig user%s%s", source ? source : "the configuration", verb,
                 k->name, detail[0] ? "; " : "", detail);
    }
}

/* ---- fetching a whole body through the streaming GET (so a stop flag is honoured) ----------- */

struct body {
    char *buf;
    size_t len, cap, max;
    bool too_big, nomem;
};

static bool body_line(void *arg, const char *line, size_t len)
{
    struct body *b = arg;
    if (len + 1 > b->max - b->len) {
        b->too_big = true;
        return false;
    }
    if (b->len + len + 2 > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + len + 2)
            cap *= 2;
        char *nb = mem_realloc(b->buf, cap);
        if (!nb) {
            b->nomem = true;
            return false;
        }
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, line, len);
    b->len += len;
    b->buf[b->len++] = '\n';
    b->buf[b->len] = '\0';
    return true;
}

static enum ag_result fetch(struct kube_client *c, const char *path, size_t max, const atomic_bool *stop,
                            long *status, struct body *b, char *err, size_t errlen)
{
    memset(b, 0, sizeof *b);
    b->max = max;
    enum ag_result r = kube_client_stream(c, path, max, LIST_IDLE_MS, stop, body_line, b, status, err, errlen);
    if (r == AG_OK && b->nomem) {
        snprintf(err, errlen, "GET %s: out of memory", path);
        r = AG_ENOMEM;
    } else if (r == AG_OK && b->too_big) {
        snprintf(err, errlen, "GET %s: the answer is larger than %zu bytes", path, max);
        r = AG_ETOOBIG;
    }
    return r;
}

/* ---- listing -------------------------------------------------------------------------------- */

enum outcome { O_OK = 0, O_MISSING, O_HTTP, O_IO, O_BAD, O_NOMEM, O_STOP };

struct list_result {
    struct kube_map *map;       /* O_OK: the objects (caller owns) */
    char rv[RV_MAX];
    long status;                /* O_HTTP */
    char msg[512];              /* O_HTTP: the message of the Status body */
    size_t pages, refused;
};

struct list_ctx {
    struct kube_client *client;
    unsigned kind;
    unsigned page_limit;
    const atomic_bool *stop;
    atomic_llong *req_since;    /* set while a page request is in flight (may be NULL) */
    unsigned *refused_logged;   /* refused objects logged so far for this kind */
};

static void log_refused(unsigned kind, unsigned *logged, const char *what, const char *why)
{
    metrics_kube_count(kind, KC_REFUSED);
    if (logged && *logged >= LOG_REFUSED_MAX) {
        log_debug("kube: skipping %s: %s", what, why);
        return;
    }
    if (logged)
        (*logged)++;
    log_warn("kube: skipping %s: %s", what, why);
}

/* One page's items go into the map as the page is read, item by item. */
struct page_ctx {
    const struct list_ctx *lc;
    struct kube_map *m;
    size_t *refused;
};

static enum ag_result page_item(const cJSON *item, size_t index, void *ctx, char *err, size_t errlen)
{
    struct page_ctx *pc = ctx;
    char ierr[512];
    (void)index;
    enum ag_result r = kube_map_add(pc->m, pc->lc->kind, item, ierr, sizeof ierr);
    if (r == AG_ENOMEM) {
        snprintf(err, errlen, "out of memory");
        return r;
    }
    if (r != AG_OK) {
        (*pc->refused)++;
        log_refused(pc->lc->kind, pc->lc->refused_logged, "an object listed", ierr);
    }
    return AG_OK;
}

/* Read one page: its items into `m`, the rest (kind, metadata) into *rest. */
static enum outcome page_items(const struct list_ctx *lc, const char *buf, size_t len, struct kube_map *m,
                               size_t *refused, cJSON **rest, char *err, size_t errlen)
{
    const struct kube_kind *k = &kube_kinds(NULL)[lc->kind];
    struct page_ctx pc = { lc, m, refused };
    char perr[256] = "";
    *rest = NULL;
    struct liststream *ls = liststream_new("items", LIST_PAGE_MAX, LIST_REST_MAX, KUBE_LIST_NESTING, page_item, &pc);
    enum ag_result r = ls ? liststream_feed(ls, buf ? buf : "", len, perr, sizeof perr) : AG_ENOMEM;
    if (r == AG_OK)
        r = liststream_finish(ls, rest, NULL, perr, sizeof perr);
    liststream_free(ls);
    if (r == AG_ENOMEM) {
        snprintf(err, errlen, "list of %s: out of memory", k->name);
        return O_NOMEM;
    }
    if (r != AG_OK) {
        /* perr names the fault: bad JSON near a byte, nesting too deep, a part over its limit */
        snprintf(err, errlen, "list of %s: %s (%s)", k->name,
                 r == AG_ETOOBIG ? "the answer is too large" : "the answer is not valid JSON", perr);
        return O_BAD;
    }
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(*rest, "items");
    if (!cJSON_IsObject(*rest) || (items && !cJSON_IsNull(items) && !cJSON_IsArray(items))) {
        snprintf(err, errlen, "list of %s: not a %s (items is not an array)", k->name, k->list_kind);
        return O_BAD;
    }
    return O_OK;
}

/* List one kind, page by page, into a new map. Each page is parsed and freed before the next
 * is fetched. A continue token that expired (410) restarts the list; a page too large halves
 * the page size and restarts. */
static enum outcome list_kind(const struct list_ctx *lc, struct list_result *res, char *err, size_t errlen)
{
    const struct kube_kind *k = &kube_kinds(NULL)[lc->kind];
    unsigned limit = lc->page_limit ? lc->page_limit : 500;
    unsigned restarts = 0;
    char path[PATH_MAX_LEN];
    char *cont = NULL;
    struct body b = { 0 };
    cJSON *page = NULL;
    enum outcome o = O_NOMEM;

    memset(res, 0, sizeof *res);
restart:
    kube_map_free(res->map);
    mem_free(cont);
    cont = NULL;
    res->pages = 0;
    res->refused = 0;
    if (!(res->map = kube_map_new())) {
        snprintf(err, errlen, "list of %s: out of memory", k->name);
        o = O_NOMEM;
        goto out;
    }
    for (;;) {
        long status = 0;
        if (!list_path(path, sizeof path, k, limit, cont)) {
            snprintf(err, errlen, "list of %s: the continue token does not fit in a URL", k->name);
            o = O_BAD;
            goto out;
        }
        if (lc->req_since)
            atomic_store(lc->req_since, clock_mono_ms());
        enum ag_result r = fetch(lc->client, path, LIST_PAGE_MAX, lc->stop, &status, &b, err, errlen);
        if (lc->req_since)
            atomic_store(lc->req_since, 0);
        if (lc->stop && atomic_load(lc->stop)) {
            o = O_STOP;
            goto out;
        }
        if (r == AG_ETOOBIG && limit > 1 && restarts < 40) {
            log_warn("kube: a page of %u %s is larger than %u bytes; listing again with pages of %u", limit,
                     k->name, LIST_PAGE_MAX, limit / 2);
            limit /= 2;
            restarts++;
            mem_free(b.buf);
            b.buf = NULL;
            goto restart;
        }
        if (r == AG_ENOMEM) {
            o = O_NOMEM;
            goto out;
        }
        if (r != AG_OK) {
            o = O_IO;
            goto out;
        }
        res->status = status;
        if (status == 404) {
            o = O_MISSING;
            goto out;
        }
        if (status == 410 && cont && restarts < 40) {
            log_info("kube: the continue token of the %s list expired; listing again from the start", k->name);
            restarts++;
            mem_free(b.buf);
            b.buf = NULL;
            goto restart;
        }
        if (status != 200) {
            const char *msg = res->msg;
            status_message(b.buf, b.len, res->msg, sizeof res->msg);
            snprintf(err, errlen, "list of %s: %ld %s%s%s", k->name, status, status_text(status),
                     msg[0] ? ": " : "", msg);
            o = O_HTTP;
            goto out;
        }
        /* the items go to the map one at a time: the page is never a whole tree */
        o = page_items(lc, b.buf, b.len, res->map, &res->refused, &page, err, errlen);
        mem_free(b.buf);
        b.buf = NULL;
        if (o != O_OK)
            goto out;
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(page, "metadata");
        const cJSON *jrv = cJSON_IsObject(meta) ? cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion") : NULL;
        const cJSON *jc = cJSON_IsObject(meta) ? cJSON_GetObjectItemCaseSensitive(meta, "continue") : NULL;
        if (!cJSON_IsString(jrv) || !*jrv->valuestring || strlen(jrv->valuestring) >= RV_MAX) {
            snprintf(err, errlen, "list of %s: no usable metadata.resourceVersion", k->name);
            o = O_BAD;
            goto out;
        }
        snprintf(res->rv, sizeof res->rv, "%s", jrv->valuestring);
        res->pages++;
        mem_free(cont);
        cont = NULL;
        if (cJSON_IsString(jc) && *jc->valuestring) {
            if (strlen(jc->valuestring) > CONTINUE_MAX) {
                snprintf(err, errlen, "list of %s: continue token longer than %d bytes", k->name, CONTINUE_MAX);
                o = O_BAD;
                goto out;
            }
            if (!(cont = mem_strdup(jc->valuestring))) {
                snprintf(err, errlen, "list of %s: out of memory", k->name);
                o = O_NOMEM;
                goto out;
            }
        }
        cJSON_Delete(page);
        page = NULL;
        if (!cont)
            break;
    }
    o = O_OK;
out:
    cJSON_Delete(page);
    mem_free(b.buf);
    mem_free(cont);
    if (o != O_OK) {
        kube_map_free(res->map);
        res->map = NULL;
    }
    return o;
}

/* ---- the running source --------------------------------------------------------------------- */

struct kind_state {
    unsigned idx;
    const struct kube_kind *k;
    struct kube_client *client;
    pthread_t thread;
    bool started;
    char rv[RV_MAX];
    unsigned attempt;           /* consecutive failures, for the backoff */
    unsigned quick_ends;        /* watches in a row that ended at once without an event */
    unsigned refused_logged;
    unsigned seed;
    bool error_logged, auth_logged, missing_logged;
    atomic_llong fail_since;    /* monotonic ms when it started failing; 0: healthy */
    atomic_llong req_since;     /* monotonic ms a list page request started; 0: none in flight */
    atomic_bool listed;         /* listed once (or found missing) */
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;        /* stop, for sleepers */
    pthread_cond_t changed_cv;  /* the store changed, for the rebuild thread */
    bool cond_ready;
    bool running;
    atomic_bool stop;
    bool changed;               /* under lock */
    struct kube_store *store;
    struct kind_state kinds[KK_COUNT];
    pthread_t rebuild;
    bool rebuild_started;
    unsigned max_staleness_ms, page_limit, watch_timeout_s, backoff_min_ms, backoff_max_ms, missing_retry_ms,
        coalesce_ms;
    void (*on_synced)(void);
    char *server, *source, *catalog;
    unsigned long long catalog_stamp;
    atomic_bool synced;
    long long start_ms;
} sk = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Sleep `ms`, or less when stopping. */
static void sk_sleep(unsigned ms)
{
    struct timespec d = clock_deadline(CLOCK_MONOTONIC, ms);
    pthread_mutex_lock(&sk.lock);
    while (!atomic_load(&sk.stop))
        if (pthread_cond_timedwait(&sk.wake, &sk.lock, &d) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&sk.lock);
}

static void mark_changed(void)
{
    pthread_mutex_lock(&sk.lock);
    sk.changed = true;
    pthread_cond_signal(&sk.changed_cv);
    pthread_mutex_unlock(&sk.lock);
}

/* Capped exponential backoff with equal jitter: a delay in [d/2, d], d = min * 2^attempt <= max. */
static unsigned backoff_ms(struct kind_state *ks)
{
    unsigned long long d = sk.backoff_min_ms;
    for (unsigned i = 0; i < ks->attempt && d < sk.backoff_max_ms; i++)
        d *= 2;
    if (d > sk.backoff_max_ms)
        d = sk.backoff_max_ms;
    if (ks->attempt < 64)
        ks->attempt++;
    unsigned half = (unsigned)(d / 2);
    return half + (unsigned)((unsigned)rand_r(&ks->seed) % (unsigned)(d - half + 1));
}

static void healthy(struct kind_state *ks)
{
    long long since = atomic_exchange(&ks->fail_since, 0);
    if (since && (ks->error_logged || ks->auth_logged))
        log_info("kube: %s list/watch recovered after %.1f s", ks->k->name, (double)(clock_mono_ms() - since) / 1e3);
    ks->error_logged = false;
    ks->auth_logged = false;
}

static void failing(struct kind_state *ks, long long since)
{
    long long zero = 0;
    atomic_compare_exchange_strong(&ks->fail_since, &zero, since ? since : clock_mono_ms());
    metrics_kube_count(ks->idx, KC_ERRORS);
}

/* Log a failed request: 401/403 at error once per streak with what to fix; others at warn
 * once per streak, then at debug. */
static void log_failure(struct kind_state *ks, const char *verb, long status, const char *err, const char *detail)
{
    if (status == 401 || status == 403) {
        if (ks->auth_logged)
            return;
        char msg[1024];
        auth_message(msg, sizeof msg, ks->k, verb, status, sk.source, detail);
        log_error("%s", msg);
        ks->auth_logged = true;
        return;
    }
    if (ks->error_logged) {
        log_debug("kube: %s of %s failed again: %s", verb, ks->k->name, err);
        return;
    }
    log_warn("kube: %s of %s failed (retrying with backoff): %s", verb, ks->k->name, err);
    ks->error_logged = true;
}

/* ---- watching ------------------------------------------------------------------------------- */

enum wres { WR_OK = 0, WR_GONE, WR_ERROR, WR_BAD };

struct watch_ctx {
    struct kind_state *ks;
    enum wres res;
    unsigned events;            /* lines that were events */
    long long last_ms;          /* when the last line came */
    char msg[512];
    char *first;                /* the first line when it was not an event (a Status body), for messages */
    size_t first_len;
};

_Static_assert(RV_MAX == KUBE_RV_MAX, "a resourceVersion kube_store_apply_line reports fits in kind_state.rv");

static bool watch_line(void *arg, const char *line, size_t len)
{
    struct watch_ctx *w = arg;
    struct kind_state *ks = w->ks;
    struct kube_line ln;
    w->last_ms = clock_mono_ms();
    enum ag_result r = kube_store_apply_line(sk.store, ks->idx, line, len, &ln);
    if (ln.type == KUBE_LINE_BAD) {
        if (!w->first && w->events == 0) {
            w->first = mem_strndup(line, len < 65536 ? len : 65536);
            w->first_len = w->first ? strlen(w->first) : 0;
        }
        snprintf(w->msg, sizeof w->msg, "watch of %s: a line that is not a watch event", ks->k->name);
        w->res = WR_BAD;
        return false;
    }
    bool go_on = true;
    if (w->events++ == 0)
        healthy(ks);
    switch (ln.type) {
    case KUBE_LINE_CHANGE:
        metrics_kube_count(ks->idx, KC_EVENTS);
        if (r == AG_ENOMEM) {
            /* the store missed this event: start over from a list */
            snprintf(w->msg, sizeof w->msg, "watch of %s: out of memory applying an event", ks->k->name);
            w->res = WR_GONE;
            go_on = false;
        } else if (r != AG_OK) {
            log_refused(ks->idx, &ks->refused_logged, "a watched object", ln.message);
        }
        if (ln.changed)
            mark_changed();
        if (ln.rv[0])
            snprintf(ks->rv, sizeof ks->rv, "%s", ln.rv);
        break;
    case KUBE_LINE_BOOKMARK:
        if (ln.rv[0])
            snprintf(ks->rv, sizeof ks->rv, "%s", ln.rv);
        break;
    case KUBE_LINE_ERROR: {
        /* in two steps: the message may fill the buffer (it is cut as before) */
        int n = snprintf(w->msg, sizeof w->msg, "watch of %s: ERROR %d: ", ks->k->name, ln.code);
        if (n > 0 && (size_t)n < sizeof w->msg) {
            size_t room = sizeof w->msg - (size_t)n - 1, ml = strlen(ln.message);
            if (ml > room)
                ml = room;
            memcpy(w->msg + n, ln.message, ml);
            w->msg[(size_t)n + ml] = '\0';
        }
        w->res = ln.has_code && ln.code == 410 ? WR_GONE : WR_ERROR;
        go_on = false;
        break;
    }
    default:
        break;
    }
    return go_on;
}

/* ---- one kind's thread ---------------------------------------------------------------------- */

/* List into the store. True when the kind can be watched next (rv set). */
static bool do_list(struct kind_state *ks, bool *missing)
{
    struct list_result res;
    char err[1024] = "";
    struct list_ctx lc = { ks->client, ks->idx, sk.page_limit, &sk.stop, &ks->req_since, &ks->refused_logged };
    long long t0 = clock_mono_ms();
    *missing = false;
    enum outcome o = list_kind(&lc, &res, err, sizeof err);
    if (o == O_STOP)
        return false;
    if (o == O_OK || o == O_MISSING) {
        struct kube_map *m = o == O_OK ? res.map : kube_map_new();
        if (!m) {
            failing(ks, t0);
            log_failure(ks, "list", 0, "out of memory", "");
            return false;
        }
        size_t n = kube_map_count(m);
        bool first = !atomic_load(&ks->listed);
        bool changed = kube_store_replace(sk.store, ks->idx, m);
        atomic_store(&ks->listed, true);
        if (changed || first)
            mark_changed();
        healthy(ks);
        if (o == O_MISSING) {
            if (!ks->missing_logged)
                log_info("kube: %s/%s is not served (CRD not installed?): counted as empty, checking again "
                         "every %u ms", ks->k->name, ks->k->version, sk.missing_retry_ms);
            ks->missing_logged = true;
            *missing = true;
            return false;
        }
        if (ks->missing_logged)
            log_info("kube: %s/%s is served now", ks->k->name, ks->k->version);
        ks->missing_logged = false;
        ks->attempt = 0;
        snprintf(ks->rv, sizeof ks->rv, "%s", res.rv);
        log_debug("kube: listed %zu %s in %zu page(s) at resourceVersion %s in %lld ms", n, ks->k->name, res.pages,
                  ks->rv, clock_mono_ms() - t0);
        return true;
    }
    failing(ks, t0);
    if (o == O_HTTP)
        log_failure(ks, "list", res.status, err, res.msg);
    else
        log_failure(ks, "list", 0, err, "");
    return false;
}

/* A small list to see whether the kind's collection answers again after errors. */
static enum outcome probe(struct kind_state *ks, long *status, char *err, size_t errlen, char *detail,
                          size_t detlen)
{
    char path[PATH_MAX_LEN];
    struct body b;
    *status = 0;
    if (!list_path(path, sizeof path, ks->k, 1, NULL))
        return O_BAD;
    atomic_store(&ks->req_since, clock_mono_ms());
    enum ag_result r = fetch(ks->client, path, LIST_PAGE_MAX, &sk.stop, status, &b, err, errlen);
    atomic_store(&ks->req_since, 0);
    enum outcome o = O_OK;
    if (atomic_load(&sk.stop))
        o = O_STOP;
    else if (r != AG_OK)
        o = O_IO;
    else if (*status == 404)
        o = O_MISSING;
    else if (*status != 200) {
        status_message(b.buf, b.len, detail, detlen);
        snprintf(err, errlen, "list of %s: %ld %s%s%s", ks->k->name, *status, status_text(*status),
                 detail[0] ? ": " : "", detail);
        o = O_HTTP;
    }
    mem_free(b.buf);
    return o;
}

static void *kind_main(void *arg)
{
    struct kind_state *ks = arg;
    bool need_list = true, need_probe = false;
    long long pending_since = 0;   /* last sign of life before a quiet watch went idle */

    while (!atomic_load(&sk.stop)) {
        if (need_list) {
            bool missing = false;
            if (do_list(ks, &missing)) {
                need_list = false;
                need_probe = false;
                continue;
            }
            if (atomic_load(&sk.stop))
                break;
            sk_sleep(missing ? sk.missing_retry_ms : backoff_ms(ks));
            continue;
        }
        if (need_probe) {
            long status = 0;
            char err[1024] = "", detail[512] = "";
            enum outcome o = probe(ks, &status, err, sizeof err, detail, sizeof detail);
            if (o == O_STOP)
                break;
            if (o == O_OK) {
                healthy(ks);
                need_probe = false;
                pending_since = 0;
            } else if (o == O_MISSING) {
                need_list = true;   /* the CRD went away: the list says so */
                metrics_kube_count(ks->idx, KC_RELISTS);
                continue;
            } else {
                failing(ks, pending_since);
                pending_since = 0;
                log_failure(ks, "list", status, err, detail);
                sk_sleep(backoff_ms(ks));
                continue;
            }
        }

        char path[PATH_MAX_LEN], err[1024] = "";
        long status = 0;
        struct watch_ctx w = { .ks = ks, .res = WR_OK };
        if (!watch_path(path, sizeof path, ks->k, ks->rv, sk.watch_timeout_s)) {
            need_list = true;
            continue;
        }
        long long t0 = clock_mono_ms();
        w.last_ms = t0;
        enum ag_result r = kube_client_stream(ks->client, path, WATCH_LINE_MAX, WATCH_IDLE_MS, &sk.stop, watch_line,
                                              &w, &status, err, sizeof err);
        if (atomic_load(&sk.stop)) {
            mem_free(w.first);
            break;
        }
        long long t1 = clock_mono_ms();
        if (r == AG_OK && status >= 200 && status <= 299 && w.res == WR_OK) {
            /* the server ended the stream (timeoutSeconds, or it closed it): go on from the last version */
            metrics_kube_count(ks->idx, KC_WATCH_RESTARTS);
            healthy(ks);
            ks->attempt = 0;
            if (w.events == 0 && t1 - t0 < QUICK_END_MS) {
                if (++ks->quick_ends >= QUICK_ENDS) {
                    log_debug("kube: watches of %s keep ending at once; backing off", ks->k->name);
                    sk_sleep(backoff_ms(ks));
                }
            } else {
                ks->quick_ends = 0;
            }
        } else if (r == AG_OK && status >= 200 && status <= 299 && w.res == WR_GONE) {
            log_info("kube: %s; listing again", w.msg);
            metrics_kube_count(ks->idx, KC_RELISTS);
            need_list = true;
        } else if (r == AG_OK && status == 410) {
            log_info("kube: watch of %s from resourceVersion %s: 410 Gone; listing again", ks->k->name, ks->rv);
            metrics_kube_count(ks->idx, KC_RELISTS);
            need_list = true;
        } else if (r == AG_OK && status == 404) {
            metrics_kube_count(ks->idx, KC_RELISTS);
            need_list = true;
        } else if (r == AG_OK) {
            /* an HTTP error, an ERROR event other than 410, or a line that is no event */
            char msg[1024], detail[512] = "";
            if (status < 200 || status > 299) {
                status_message(w.first, w.first_len, detail, sizeof detail);
                snprintf(msg, sizeof msg, "watch of %s: %ld %s%s%s", ks->k->name, status, status_text(status),
                         detail[0] ? ": " : "", detail);
            } else {
                snprintf(msg, sizeof msg, "%s", w.msg);
            }
            failing(ks, t1);
            log_failure(ks, "watch", status, msg, detail);
            need_probe = true;
            sk_sleep(backoff_ms(ks));
        } else if (r == AG_EIO && t1 - w.last_ms >= WATCH_IDLE_MS - 500) {
            /* nothing came for the idle period: re-open, after checking the server answers */
            log_debug("kube: watch of %s was quiet for %ld s; opening it again", ks->k->name, WATCH_IDLE_MS / 1000);
            pending_since = w.last_ms;
            need_probe = true;
        } else {
            /* transport error, a line too long (an event is lost: list again), out of memory */
            failing(ks, t1);
            log_failure(ks, "watch", 0, err, "");
            if (r == AG_ETOOBIG || r == AG_ENOMEM) {
                metrics_kube_count(ks->idx, KC_RELISTS);
                need_list = true;
            } else {
                need_probe = true;
            }
            sk_sleep(backoff_ms(ks));
        }
        mem_free(w.first);
    }
    return NULL;
}

/* ---- the image catalog ---------------------------------------------------------------------- */

static enum ag_result read_catalog(const char *path, cJSON **out, char *err, size_t errlen)
{
    return fileio_read_json(path, SOURCE_FILE_MAX_BYTES, out, err, errlen);
}

/* Read the catalog file into the store (the old one stays on failure). */
static enum ag_result load_catalog(struct kube_store *store, const char *path, char *err, size_t errlen)
{
    cJSON *j = NULL;
    enum ag_result r = read_catalog(path, &j, err, errlen);
    if (r == AG_OK)
        r = kube_store_set_catalog(store, j, err, errlen);
    return r;
}

/* ---- the rebuild thread --------------------------------------------------------------------- */

static bool all_listed(void)
{
    for (unsigned i = 0; i < KK_COUNT; i++)
        if (!atomic_load(&sk.kinds[i].listed))
            return false;
    return true;
}

static void rebuild_once(void)
{
    char err[512] = "";
    size_t refused = 0;
    long long t0 = clock_mono_ms();
    struct snapshot *s = kube_store_build(sk.store, &refused, err, sizeof err);
    if (!s) {
        log_error("kube: building the cluster snapshot failed, keeping the current one: %s", err);
        metrics_cluster_reload(false);
        pthread_mutex_lock(&sk.lock);
        sk.changed = true;  /* try again after the coalesce period */
        pthread_mutex_unlock(&sk.lock);
        return;
    }
    size_t nn = s->nnodes, nds = s->ndatasources, npvc = s->npvcs, npref = s->npreferences;
    bool hco = s->has_hco, kv = s->has_kubevirt;
    snapshot_publish(s);
    mem_give_back();
    metrics_cluster_reload(true);
    if (!atomic_load(&sk.synced)) {
        atomic_store(&sk.synced, true);
        log_info("cluster state synced from %s in %lld ms: %zu nodes, %zu DataSources, %zu PVCs, %zu preferences, "
                 "HyperConverged %s, KubeVirt %s%s", sk.server, clock_mono_ms() - sk.start_ms, nn, nds, npvc, npref,
                 hco ? "found" : "absent", kv ? "found" : "absent", refused ? " (some objects skipped)" : "");
        if (sk.on_synced)
            sk.on_synced();
    } else {
        log_debug("kube: cluster snapshot rebuilt in %lld ms (generation %llu): %zu nodes, %zu DataSources",
                  clock_mono_ms() - t0, (unsigned long long)snapshot_generation(), nn, nds);
    }
}

static void check_catalog(void)
{
    if (!sk.catalog)
        return;
    unsigned long long st = source_file_stamp(NULL, sk.catalog);
    if (st == sk.catalog_stamp)
        return;
    sk.catalog_stamp = st;
    char err[512] = "";
    if (load_catalog(sk.store, sk.catalog, err, sizeof err) != AG_OK) {
        log_error("image catalog reload failed, keeping the current one: %s", err);
        return;
    }
    log_info("image catalog %s reloaded", sk.catalog);
    pthread_mutex_lock(&sk.lock);
    sk.changed = true;
    pthread_mutex_unlock(&sk.lock);
}

static void *rebuild_main(void *arg)
{
    (void)arg;
    long long catalog_checked = clock_mono_ms();
    pthread_mutex_lock(&sk.lock);
    while (!atomic_load(&sk.stop)) {
        if (sk.catalog && clock_mono_ms() - catalog_checked >= CATALOG_POLL_MS) {
            pthread_mutex_unlock(&sk.lock);
            check_catalog();
            catalog_checked = clock_mono_ms();
            pthread_mutex_lock(&sk.lock);
            continue;
        }
        if (!(sk.changed && all_listed())) {
            struct timespec d;
            clock_gettime(CLOCK_MONOTONIC, &d);
            clock_add_ms(&d, CATALOG_POLL_MS);
            pthread_cond_timedwait(&sk.changed_cv, &sk.lock, &d);
            continue;
        }
        sk.changed = false;
        pthread_mutex_unlock(&sk.lock);
        struct timespec next;
        clock_gettime(CLOCK_MONOTONIC, &next);
        clock_add_ms(&next, sk.coalesce_ms);
        rebuild_once();
        /* at most one rebuild per coalesce period: changes meanwhile wait for the next one */
        pthread_mutex_lock(&sk.lock);
        while (!atomic_load(&sk.stop))
            if (pthread_cond_timedwait(&sk.wake, &sk.lock, &next) == ETIMEDOUT)
                break;
    }
    pthread_mutex_unlock(&sk.lock);
    return NULL;
}

/* ---- start, stop, queries ------------------------------------------------------------------- */

static bool init_conds(void)
{
    if (sk.cond_ready)
        return true;
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return false;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    bool ok = pthread_cond_init(&sk.wake, &ca) == 0;
    if (ok && pthread_cond_init(&sk.changed_cv, &ca) != 0) {
        pthread_cond_destroy(&sk.wake);
        ok = false;
    }
    pthread_condattr_destroy(&ca);
    sk.cond_ready = ok;
    return ok;
}

/* Join and free everything; sk.lock is not held. */
static void teardown(void)
{
    atomic_store(&sk.stop, true);
    pthread_mutex_lock(&sk.lock);
    pthread_cond_broadcast(&sk.wake);
    pthread_cond_broadcast(&sk.changed_cv);
    pthread_mutex_unlock(&sk.lock);
    for (unsigned i = 0; i < KK_COUNT; i++) {
        struct kind_state *ks = &sk.kinds[i];
        if (ks->started)
            pthread_join(ks->thread, NULL);
        ks->started = false;
        kube_client_free(ks->client);
        ks->client = NULL;
        atomic_store(&ks->fail_since, 0);
        atomic_store(&ks->req_since, 0);
        atomic_store(&ks->listed, false);
    }
    if (sk.rebuild_started)
        pthread_join(sk.rebuild, NULL);
    sk.rebuild_started = false;
    kube_store_free(sk.store);
    sk.store = NULL;
    mem_free(sk.server);
    mem_free(sk.source);
    mem_free(sk.catalog);
    sk.server = sk.source = sk.catalog = NULL;
    atomic_store(&sk.synced, false);
    sk.running = false;
}

enum ag_result source_kube_start(const struct source_kube_opts *opts, char *err, size_t errlen)
{
    char dummy[1];
    size_t nk;
    const struct kube_kind *kinds = kube_kinds(&nk);
    enum ag_result r = AG_EINTERNAL;
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    if (!opts || !opts->cfg || !opts->cfg->server) {
        snprintf(err, errlen, "no kube-apiserver configured");
        return AG_EINVAL;
    }
    if (sk.running) {
        snprintf(err, errlen, "the kube-apiserver source is already running");
        return AG_EINTERNAL;
    }
    if (!init_conds()) {
        snprintf(err, errlen, "cannot make condition variables");
        return AG_EINTERNAL;
    }
    atomic_store(&sk.stop, false);
    atomic_store(&sk.synced, false);
    sk.changed = false;
    sk.running = true;
    sk.max_staleness_ms = opts->max_staleness_ms ? opts->max_staleness_ms : 120000;
    sk.page_limit = opts->page_limit ? opts->page_limit : 500;
    sk.watch_timeout_s = opts->watch_timeout_s ? opts->watch_timeout_s : 300;
    sk.backoff_min_ms = opts->backoff_min_ms ? opts->backoff_min_ms : 200;
    sk.backoff_max_ms = opts->backoff_max_ms ? opts->backoff_max_ms : 30000;
    if (sk.backoff_max_ms < sk.backoff_min_ms)
        sk.backoff_max_ms = sk.backoff_min_ms;
    sk.missing_retry_ms = opts->missing_retry_ms ? opts->missing_retry_ms : 60000;
    sk.coalesce_ms = opts->coalesce_ms ? opts->coalesce_ms : 100;
    sk.on_synced = opts->on_synced;
    sk.start_ms = clock_mono_ms();
    sk.server = mem_strdup(opts->cfg->server);
    sk.source = mem_strdup(opts->cfg->source ? opts->cfg->source : opts->cfg->server);
    sk.catalog = opts->catalog ? mem_strdup(opts->catalog) : NULL;
    sk.store = kube_store_new();
    if (!sk.server || !sk.source || (opts->catalog && !sk.catalog) || !sk.store) {
        snprintf(err, errlen, "out of memory");
        r = AG_ENOMEM;
        goto fail;
    }
    if (sk.catalog) {
        sk.catalog_stamp = source_file_stamp(NULL, sk.catalog);
        if ((r = load_catalog(sk.store, sk.catalog, err, errlen)) != AG_OK)
            goto fail;
    }
    for (unsigned i = 0; i < nk; i++) {
        struct kind_state *ks = &sk.kinds[i];
        /* field by field: stale_seconds may read the atomics from other threads */
        ks->idx = i;
        ks->k = &kinds[i];
        ks->client = NULL;
        ks->started = false;
        ks->rv[0] = '\0';
        ks->attempt = ks->quick_ends = ks->refused_logged = 0;
        ks->error_logged = ks->auth_logged = ks->missing_logged = false;
        atomic_store(&ks->fail_since, 0);
        atomic_store(&ks->req_since, 0);
        atomic_store(&ks->listed, false);
        ks->seed = (unsigned)time(NULL) ^ (i * 2654435761u) ^ (unsigned)getpid();
        metrics_kube_kind(i, kinds[i].name, kinds[i].version);
        if (!(ks->client = kube_client_new(opts->cfg, err, errlen))) {
            r = AG_EINVAL;
            goto fail;
        }
    }
    if (pthread_create(&sk.rebuild, NULL, rebuild_main, NULL) != 0) {
        snprintf(err, errlen, "cannot start a thread");
        r = AG_EINTERNAL;
        goto fail;
    }
    sk.rebuild_started = true;
    for (unsigned i = 0; i < nk; i++) {
        if (pthread_create(&sk.kinds[i].thread, NULL, kind_main, &sk.kinds[i]) != 0) {
            snprintf(err, errlen, "cannot start a thread");
            r = AG_EINTERNAL;
            goto fail;
        }
        sk.kinds[i].started = true;
    }
    log_info("kube: following %zu kinds from %s (%s)", nk, sk.server, sk.source);
    return AG_OK;
fail:
    teardown();
    return r;
}

void source_kube_stop(void)
{
    if (!sk.running)
        return;
    teardown();
}

bool source_kube_synced(void)
{
    return atomic_load(&sk.synced);
}

unsigned source_kube_stale_seconds(void)
{
    long long now = clock_mono_ms(), longest = 0;
    for (unsigned i = 0; i < KK_COUNT; i++) {
        long long fs = atomic_load(&sk.kinds[i].fail_since);
        long long rs = atomic_load(&sk.kinds[i].req_since);
        if (fs && now - fs > longest)
            longest = now - fs;
        if (rs && now - rs > longest)
            longest = now - rs;
    }
    if (longest <= (long long)sk.max_staleness_ms)
        return 0;
    long long s = (longest + 999) / 1000;
    return s > 0xffffffffLL ? 0xffffffffu : (unsigned)s;
}

/* ---- one list of everything ----------------------------------------------------------------- */

enum ag_result source_kube_list_once(const struct kube_config *cfg, const char *catalog, struct snapshot **out,
                                     char *err, size_t errlen)
{
    char dummy[1];
    enum ag_result r = AG_ENOMEM;
    atomic_bool nostop = false;
    struct kube_client *c = NULL;
    struct kube_store *store = NULL;
    size_t nk;
    const struct kube_kind *kinds = kube_kinds(&nk);
    long long t0 = clock_mono_ms();

    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    *out = NULL;
    if (!cfg || !cfg->server) {
        snprintf(err, errlen, "no kube-apiserver configured");
        return AG_EINVAL;
    }
    if (!(store = kube_store_new())) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (catalog && (r = load_catalog(store, catalog, err, errlen)) != AG_OK)
        goto out;
    if (!(c = kube_client_new(cfg, err, errlen))) {
        r = AG_EINVAL;
        goto out;
    }
    for (unsigned i = 0; i < nk; i++) {
        struct list_result res;
        char lerr[1024] = "";
        struct list_ctx lc = { c, i, 500, &nostop, NULL, NULL };
        enum outcome o = list_kind(&lc, &res, lerr, sizeof lerr);
        if (o == O_MISSING) {
            log_debug("kube: %s is not served: counted as empty", kinds[i].name);
            continue;
        }
        if (o != O_OK) {
            if (o == O_HTTP && (res.status == 401 || res.status == 403))
                auth_message(err, errlen, &kinds[i], "list", res.status, cfg->source, res.msg);
            else
                snprintf(err, errlen, "%s", lerr);
            r = o == O_NOMEM ? AG_ENOMEM : AG_EIO;
            goto out;
        }
        kube_store_replace(store, i, res.map);
    }
    size_t refused = 0;
    struct snapshot *s = kube_store_build(store, &refused, err, errlen);
    if (!s) {
        r = AG_ENOMEM;
        goto out;
    }
    log_info("cluster state listed from %s in %lld ms: %zu nodes, %zu DataSources, %zu PVCs, %zu preferences",
             cfg->server, clock_mono_ms() - t0, s->nnodes, s->ndatasources, s->npvcs, s->npreferences);
    *out = s;
    r = AG_OK;
out:
    kube_client_free(c);
    kube_store_free(store);
    return r;
}
