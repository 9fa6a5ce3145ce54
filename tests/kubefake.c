/* kubefake.c - the stand-in kube-apiserver of the tests (kubefake.h): collections of objects
 * the test puts, paged lists taken at one resourceVersion, chunked watch streams fed from a
 * per-collection event history, and faults on demand, over HTTPS with libmicrohttpd.
 *
 * Model (as etcd + kube-apiserver): one global resourceVersion bumped by every change; each
 * collection keeps its current objects sorted by (namespace, name) and the history of its
 * changes since its horizon (each event remembers the object's previous state). A list page
 * at an older RV is the current state with the newer events undone; a continue token or a
 * watch from before the horizon is 410 Expired. The history is capped (KF_HISTORY_MAX): the
 * oldest events are dropped and the horizon moves, like the apiserver's watch cache window.
 *
 * Threads: libmicrohttpd runs one thread per connection, so a watch blocks in its content
 * reader on the condition variable (waking every 500 ms to notice a client that left). One
 * mutex guards all state. Server threads allocate with plain malloc (never through mem.h or
 * cJSON), so tests that make mem.h allocations fail or count live ones are not disturbed by a
 * server running alongside; cJSON is used by kubefake_put / kubefake_delete on the caller's
 * thread, and on server threads only to answer writes (POST/PUT/PATCH, used by the audit's
 * Lease and Event tests). */
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <cjson/cJSON.h>
#include <microhttpd.h>
#include "kubefake.h"

#define KF_HISTORY_MAX 4096             /* events kept per collection ... */
#define KF_HISTORY_TRIM 1024            /* ... dropping this many of the oldest when over */
#define KF_BODY_MAX ((size_t)512 << 20) /* limit of any response body being built */
#define KF_CERT_MAX ((size_t)1 << 20)
#define KF_FORBIDDEN_USER "system:serviceaccount:archgate-system:archgate"

enum ev_type { EV_ADDED, EV_MODIFIED, EV_DELETED };
static const char *const ev_names[] = { "ADDED", "MODIFIED", "DELETED" };

/* An immutable refcounted string (an item's JSON text), shared by objects and events. */
struct rstr {
    unsigned refs;
    size_t len;
    char s[];
};

struct kobj {
    char *ns;                   /* "" when cluster-scoped */
    char *name;
    struct rstr *item;          /* JSON without kind/apiVersion, resourceVersion stamped */
};

struct kevent {
    unsigned long rv;
    enum ev_type type;
    char *ns, *name;
    struct rstr *obj;           /* new state; for DELETED the last state (with the delete's RV) */
    struct rstr *prev;          /* state before the event; NULL when it did not exist */
};

struct coll {
    char *path, *prefix, *resource, *group, *list_kind, *api_version, *kind;
    struct kobj *objs;
    size_t nobj, capobj;
    struct kevent *hist;        /* ascending rv */
    size_t nhist, caphist;
    unsigned long horizon;      /* every event with rv > horizon is in hist */
    unsigned long lost;         /* rv of the newest event dropped from hist (0: none) */
    unsigned counts[KF_REQ_COUNT];
    char last_watch_rv[32];
    int fail_status, fail_count;
    bool writable;              /* kubefake_writable: GET of one object, POST, PUT, PATCH */
    struct coll *next;
};

struct kubefake {
    pthread_mutex_t mu;
    pthread_cond_t cv;          /* CLOCK_MONOTONIC; broadcast on every change */
    struct MHD_Daemon *daemon;
    unsigned short port;
    char *cert, *key;
    struct coll *colls;
    unsigned long rv;
    bool stall, stopping;
    unsigned close_gen, bookmark_gen;
    unsigned page_max;
    char *token;
    char last_token[512];
    char last_watch_rv[32];
};

/* A growing byte buffer (malloc) with a limit. */
struct buf {
    char *p;
    size_t len, cap;
    bool bad;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->bad)
        return;
    if (n > KF_BODY_MAX - b->len) {
        b->bad = true;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap < b->len + n + 1)
            ncap *= 2;
        char *np = realloc(b->p, ncap);
        if (!np) {
            b->bad = true;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void buf_fmt(struct buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        b->bad = true;
        return;
    }
    buf_add(b, tmp, (size_t)n);
}

/* A JSON string literal. */
static void buf_json_str(struct buf *b, const char *s)
{
    buf_add(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = { '\\', (char)*p };
            buf_add(b, e, 2);
        } else if (*p < 0x20) {
            buf_fmt(b, "\\u%04x", *p);
        } else {
            buf_add(b, (const char *)p, 1);
        }
    }
    buf_add(b, "\"", 1);
}

static void buf_free(struct buf *b)
{
    free(b->p);
    *b = (struct buf){ 0 };
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s, n + 1);
    return d;
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static struct rstr *rstr_new(const char *s)
{
    size_t n = strlen(s);
    struct rstr *r = malloc(sizeof *r + n + 1);
    if (!r)
        return NULL;
    r->refs = 1;
    r->len = n;
    memcpy(r->s, s, n + 1);
    return r;
}

static void rstr_unref(struct rstr *r)
{
    if (r && --r->refs == 0)
        free(r);
}

/* ---- collections, objects, history (all under f->mu) ---- */

static struct coll *coll_find(struct kubefake *f, const char *path)
{
    for (struct coll *c = f->colls; c; c = c->next)
        if (strcmp(c->path, path) == 0)
            return c;
    return NULL;
}

/* The collection a request path names, and the namespace of a namespaced form (else NULL,
 * copied into nsbuf). */
static struct coll *coll_route(struct kubefake *f, const char *url, char *nsbuf, size_t nslen, bool *namespaced)
{
    *namespaced = false;
    struct coll *c = coll_find(f, url);
    if (c)
        return c;
    for (c = f->colls; c; c = c->next) {
        size_t pl = strlen(c->prefix);
        if (strncmp(url, c->prefix, pl) != 0 || strncmp(url + pl, "namespaces/", 11) != 0)
            continue;
        const char *ns = url + pl + 11;
        const char *slash = strchr(ns, '/');
        if (!slash || slash == ns || (size_t)(slash - ns) >= nslen || strcmp(slash + 1, c->resource) != 0)
            continue;
        memcpy(nsbuf, ns, (size_t)(slash - ns));
        nsbuf[slash - ns] = '\0';
        *namespaced = true;
        return c;
    }
    return NULL;
}

static int key_cmp(const char *ns1, const char *n1, const char *ns2, const char *n2)
{
    int r = strcmp(ns1, ns2);
    return r ? r : strcmp(n1, n2);
}

/* Index of (ns, name) in the sorted objects, or where it would go (*found false). */
static size_t obj_search(const struct kobj *objs, size_t n, const char *ns, const char *name, bool *found)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = key_cmp(objs[mid].ns, objs[mid].name, ns, name);
        if (r == 0) {
            *found = true;
            return mid;
        }
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static void event_free(struct kevent *e)
{
    free(e->ns);
    free(e->name);
    rstr_unref(e->obj);
    rstr_unref(e->prev);
}

static void hist_drop_oldest(struct coll *c, size_t n)
{
    if (n > c->nhist)
        n = c->nhist;
    if (n == 0)
        return;
    c->horizon = c->lost = c->hist[n - 1].rv;
    for (size_t i = 0; i < n; i++)
        event_free(&c->hist[i]);
    memmove(c->hist, c->hist + n, (c->nhist - n) * sizeof *c->hist);
    c->nhist -= n;
}

/* First history index with rv > after. */
static size_t hist_after(const struct coll *c, unsigned long after)
{
    size_t lo = 0, hi = c->nhist;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->hist[mid].rv <= after)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Record a change: takes over the references `obj` and `prev`. False (nothing kept) on
 * allocation failure. */
static bool hist_append(struct coll *c, unsigned long rv, enum ev_type type, const char *ns, const char *name,
                        struct rstr *obj, struct rstr *prev)
{
    if (c->nhist == c->caphist) {
        size_t ncap = c->caphist ? c->caphist * 2 : 64;
        struct kevent *nh = realloc(c->hist, ncap * sizeof *nh);
        if (!nh)
            return false;
        c->hist = nh;
        c->caphist = ncap;
    }
    struct kevent e = { rv, type, dup_str(ns), dup_str(name), obj, prev };
    if (!e.ns || !e.name) {
        free(e.ns);
        free(e.name);
        return false;
    }
    c->hist[c->nhist++] = e;
    if (c->nhist > KF_HISTORY_MAX)
        hist_drop_oldest(c, KF_HISTORY_TRIM);
    return true;
}

static void coll_free(struct coll *c)
{
    for (size_t i = 0; i < c->nobj; i++) {
        free(c->objs[i].ns);
        free(c->objs[i].name);
        rstr_unref(c->objs[i].item);
    }
    free(c->objs);
    for (size_t i = 0; i < c->nhist; i++)
        event_free(&c->hist[i]);
    free(c->hist);
    free(c->path);
    free(c->prefix);
    free(c->resource);
    free(c->group);
    free(c->list_kind);
    free(c->api_version);
    free(c->kind);
    free(c);
}

/* ---- wire shapes ---- */

static const char *reason_of(int status)
{
    switch (status) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 409: return "Conflict";
    case 410: return "Expired";
    case 422: return "Invalid";
    case 429: return "TooManyRequests";
    case 500: return "InternalError";
    case 503: return "ServiceUnavailable";
    case 504: return "Timeout";
    default: return "";
    }
}

/* A metav1.Status object (no trailing newline). */
static void status_json(struct buf *b, int code, const char *reason, const char *message)
{
    buf_str(b, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":");
    buf_json_str(b, message);
    buf_str(b, ",\"reason\":");
    buf_json_str(b, reason);
    buf_fmt(b, ",\"code\":%d}", code);
}

/* The Status an injected fault answers, worded as the real server words it. */
static void fault_json(struct buf *b, const struct coll *c, const char *ns, bool watch, int status)
{
    char msg[512];
    switch (status) {
    case 401:
        snprintf(msg, sizeof msg, "Unauthorized");
        break;
    case 403:
        if (ns)
            snprintf(msg, sizeof msg,
                     "%s is forbidden: User \"%s\" cannot %s resource \"%s\" in API group \"%s\" in the namespace \"%s\"",
                     c->resource, KF_FORBIDDEN_USER, watch ? "watch" : "list", c->resource, c->group, ns);
        else
            snprintf(msg, sizeof msg,
                     "%s is forbidden: User \"%s\" cannot %s resource \"%s\" in API group \"%s\" at the cluster scope",
                     c->resource, KF_FORBIDDEN_USER, watch ? "watch" : "list", c->resource, c->group);
        break;
    case 404:
        snprintf(msg, sizeof msg, "the server could not find the requested resource");
        break;
    case 410:
        snprintf(msg, sizeof msg, "The resourceVersion for the provided %s is too old.", watch ? "watch" : "list");
        break;
    case 500:
        snprintf(msg, sizeof msg, "Internal error occurred: kubefake: injected failure");
        break;
    default:
        snprintf(msg, sizeof msg, "kubefake: injected failure %d", status);
        break;
    }
    status_json(b, status, reason_of(status), msg);
}

/* An item with kind and apiVersion put in front (an event's object). */
static void buf_object(struct buf *b, const struct coll *c, const struct rstr *item)
{
    buf_str(b, "{\"kind\":");
    buf_json_str(b, c->kind);
    buf_str(b, ",\"apiVersion\":");
    buf_json_str(b, c->api_version);
    const char *rest = item->s + 1;     /* items are printed objects: "{...}" */
    if (*rest != '}')
        buf_add(b, ",", 1);
    buf_add(b, rest, item->len - 1);
}

static void buf_event(struct buf *b, const struct coll *c, const char *type, const struct rstr *item)
{
    buf_str(b, "{\"type\":\"");
    buf_str(b, type);
    buf_str(b, "\",\"object\":");
    buf_object(b, c, item);
    buf_str(b, "}\n");
}

/* ---- base64url (RFC 4648 §5, no padding) for continue tokens ---- */

static const char b64u[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void b64u_encode(const char *in, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < outlen; i += 3) {
        unsigned v = (unsigned)(unsigned char)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)(unsigned char)in[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)in[i + 2];
        out[o++] = b64u[(v >> 18) & 63];
        out[o++] = b64u[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = b64u[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = b64u[v & 63];
    }
    out[o] = '\0';
}

/* False on a character outside the alphabet, an impossible length or overflow of out. */
static bool b64u_decode(const char *in, char *out, size_t outlen)
{
    size_t o = 0, bits = 0;
    unsigned v = 0;
    size_t n = strlen(in);
    if (n % 4 == 1)
        return false;
    for (size_t i = 0; i < n; i++) {
        const char *p = memchr(b64u, in[i], 64);
        if (!p)
            return false;
        v = (v << 6) | (unsigned)(p - b64u);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= outlen)
                return false;
            out[o++] = (char)((v >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    return true;
}

/* Strict decimal (digits only, no sign, no overflow). */
static bool parse_ulong(const char *s, unsigned long *out)
{
    if (!s || !*s)
        return false;
    unsigned long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        unsigned d = (unsigned)(*p - '0');
        if (v > (ULONG_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* Go's strconv.ParseBool; an absent value is false. */
static bool parse_bool(const char *s, bool *out)
{
    static const char *const t[] = { "1", "t", "T", "true", "TRUE", "True" };
    static const char *const fl[] = { "0", "f", "F", "false", "FALSE", "False" };
    *out = false;
    if (!s)
        return true;
    for (size_t i = 0; i < 6; i++) {
        if (strcmp(s, t[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcmp(s, fl[i]) == 0)
            return true;
    }
    return false;
}

/* ---- lists (under f->mu) ---- */

struct view {
    const char *ns, *name;
    const struct rstr *item;
};

/* The collection's objects as they were at `rv` (rv >= horizon): the current ones with the
 * later events undone. *out is malloc'd; false on allocation failure. */
static bool state_at(const struct coll *c, unsigned long rv, struct view **out, size_t *n)
{
    size_t first = hist_after(c, rv);
    size_t cap = c->nobj + (c->nhist - first) + 1;
    struct view *v = malloc(cap * sizeof *v);
    if (!v)
        return false;
    for (size_t i = 0; i < c->nobj; i++)
        v[i] = (struct view){ c->objs[i].ns, c->objs[i].name, c->objs[i].item };
    size_t cnt = c->nobj;
    for (size_t i = c->nhist; i > first; i--) {
        const struct kevent *e = &c->hist[i - 1];
        size_t lo = 0, hi = cnt;
        bool found = false;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            int r = key_cmp(v[mid].ns, v[mid].name, e->ns, e->name);
            if (r == 0) {
                found = true;
                lo = mid;
                break;
            }
            if (r < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (found && e->prev) {
            v[lo].item = e->prev;
        } else if (found) {
            memmove(v + lo, v + lo + 1, (cnt - lo - 1) * sizeof *v);
            cnt--;
        } else if (e->prev) {
            memmove(v + lo + 1, v + lo, (cnt - lo) * sizeof *v);
            v[lo] = (struct view){ e->ns, e->name, e->prev };
            cnt++;
        }
    }
    *out = v;
    *n = cnt;
    return true;
}

/* One list page into b; returns the HTTP status (the body is a Status when not 200). */
static int list_page(struct kubefake *f, const struct coll *c, const char *ns, unsigned long limit, const char *cont,
                     struct buf *b)
{
    unsigned long at = f->rv, offset = 0;
    if (cont && *cont) {
        char raw[96];
        const char *colon;
        char rvs[32];
        if (!b64u_decode(cont, raw, sizeof raw) || !(colon = strchr(raw, ':')) ||
            (size_t)(colon - raw) >= sizeof rvs) {
            status_json(b, 400, "BadRequest", "continue key is not valid: malformed token");
            return 400;
        }
        memcpy(rvs, raw, (size_t)(colon - raw));
        rvs[colon - raw] = '\0';
        if (!parse_ulong(rvs, &at) || !parse_ulong(colon + 1, &offset) || at > f->rv) {
            status_json(b, 400, "BadRequest", "continue key is not valid: malformed token");
            return 400;
        }
        if (at < c->horizon) {
            status_json(b, 410, "Expired",
                        "The provided continue parameter is too old to display a consistent list result. You can "
                        "start a new list without the continue parameter, or use the continue token in this "
                        "response to retrieve the remainder of the results. Continuing with the provided token "
                        "results in an inconsistent list - objects that were created, modified, or deleted between "
                        "the time the first chunk was returned and now may show up in the list.");
            return 410;
        }
    }
    struct view *v = NULL;
    size_t n = 0;
    if (!state_at(c, at, &v, &n)) {
        status_json(b, 500, "InternalError", "kubefake: out of memory");
        return 500;
    }
    if (ns) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (strcmp(v[i].ns, ns) == 0)
                v[k++] = v[i];
        n = k;
    }
    unsigned long page = limit;
    if (page && f->page_max && page > f->page_max)
        page = f->page_max;
    size_t end = n;
    if (page && offset < n && page < n - offset)
        end = offset + page;
    if (offset > n)
        offset = n;
    buf_str(b, "{\"kind\":");
    buf_json_str(b, c->list_kind);
    buf_str(b, ",\"apiVersion\":");
    buf_json_str(b, c->api_version);
    buf_fmt(b, ",\"metadata\":{\"resourceVersion\":\"%lu\"", at);
    if (end < n) {
        char raw[64], tok[96];
        int rl = snprintf(raw, sizeof raw, "%lu:%zu", at, end);
        b64u_encode(raw, (size_t)rl, tok, sizeof tok);
        buf_fmt(b, ",\"continue\":\"%s\",\"remainingItemCount\":%zu", tok, n - end);
    }
    buf_str(b, "},\"items\":[");
    for (size_t i = offset; i < end; i++) {
        if (i > offset)
            buf_add(b, ",", 1);
        buf_add(b, v[i].item->s, v[i].item->len);
    }
    buf_str(b, "]}");
    free(v);
    return 200;
}

/* ---- watches ---- */

struct watch {
    struct kubefake *f;
    struct coll *c;
    char *ns;                   /* namespace filter or NULL */
    unsigned long seen;         /* every change of the collection up to here was sent */
    bool bookmarks, end_after;
    bool has_deadline;
    struct timespec deadline;
    unsigned close_gen, bookmark_gen;
    int fd;                     /* the connection's socket, to notice a client that left */
    struct buf out;             /* bytes not yet handed to libmicrohttpd, from `off` */
    size_t off;
};

static bool deadline_passed(const struct timespec *d)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > d->tv_sec || (now.tv_sec == d->tv_sec && now.tv_nsec >= d->tv_nsec);
}

/* Queue the ERROR event of a watch whose starting point is no longer in the history; the
 * stream ends after it. */
static void watch_expired(struct watch *w)
{
    char msg[128];
    snprintf(msg, sizeof msg, "too old resource version: %lu (%lu)", w->seen, w->c->horizon);
    buf_str(&w->out, "{\"type\":\"ERROR\",\"object\":");
    status_json(&w->out, 410, "Expired", msg);
    buf_str(&w->out, "}\n");
    w->end_after = true;
}

/* Queue the next thing to send (under f->mu); false when there is nothing now. */
static bool watch_next(struct watch *w)
{
    struct kubefake *f = w->f;
    const struct coll *c = w->c;
    if (c->lost > w->seen) {    /* fell behind the history window: changes were lost */
        watch_expired(w);
        return true;
    }
    for (size_t i = hist_after(c, w->seen); i < c->nhist; i++) {
        const struct kevent *e = &c->hist[i];
        w->seen = e->rv;
        if (w->ns && strcmp(w->ns, e->ns) != 0)
            continue;
        buf_event(&w->out, c, ev_names[e->type], e->obj);
        return true;
    }
    if (w->seen < f->rv)
        w->seen = f->rv;
    if (w->bookmark_gen != f->bookmark_gen) {
        w->bookmark_gen = f->bookmark_gen;
        if (w->bookmarks) {
            buf_str(&w->out, "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":");
            buf_json_str(&w->out, c->kind);
            buf_str(&w->out, ",\"apiVersion\":");
            buf_json_str(&w->out, c->api_version);
            buf_fmt(&w->out, ",\"metadata\":{\"resourceVersion\":\"%lu\"}}}\n", f->rv);
            return true;
        }
    }
    return false;
}

/* The client closed its end (checked while idle, so an abandoned stream frees its thread). */
static bool peer_gone(int fd)
{
    struct pollfd p = { fd, POLLRDHUP, 0 };
    return fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

static ssize_t watch_read(void *cls, uint64_t pos, char *dst, size_t max)
{
    (void)pos;
    struct watch *w = cls;
    struct kubefake *f = w->f;
    ssize_t r = MHD_CONTENT_READER_END_OF_STREAM;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        if (w->out.bad) {
            r = MHD_CONTENT_READER_END_WITH_ERROR;
            break;
        }
        if (w->off < w->out.len) {
            size_t n = w->out.len - w->off;
            if (n > max)
                n = max;
            memcpy(dst, w->out.p + w->off, n);
            w->off += n;
            if (w->off == w->out.len)
                w->off = w->out.len = 0;
            r = (ssize_t)n;
            break;
        }
        if (f->stopping || w->end_after || w->close_gen != f->close_gen ||
            (w->has_deadline && deadline_passed(&w->deadline)))
            break;
        if (!f->stall && watch_next(w))
            continue;
        if (peer_gone(w->fd)) {
            r = MHD_CONTENT_READER_END_WITH_ERROR;
            break;
        }
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += 500 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        if (w->has_deadline && (w->deadline.tv_sec < until.tv_sec ||
                                (w->deadline.tv_sec == until.tv_sec && w->deadline.tv_nsec < until.tv_nsec)))
            until = w->deadline;
        pthread_cond_timedwait(&f->cv, &f->mu, &until);
    }
    pthread_mutex_unlock(&f->mu);
    return r;
}

static void watch_free(void *cls)
{
    struct watch *w = cls;
    buf_free(&w->out);
    free(w->ns);
    free(w);
}

/* ---- requests ---- */

static enum MHD_Result queue_json(struct MHD_Connection *conn, int status, struct buf *b)
{
    if (b->bad) {
        buf_free(b);
        return MHD_NO;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback(b->len, b->p, free);
    if (!resp) {
        buf_free(b);
        return MHD_NO;
    }
    *b = (struct buf){ 0 };
    enum MHD_Result r = MHD_NO;
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json") == MHD_YES)
        r = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return r;
}

static const char *arg(struct MHD_Connection *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
}

static void record_token(struct kubefake *f, const char *auth)
{
    f->last_token[0] = '\0';
    if (auth && strncmp(auth, "Bearer ", 7) == 0)
        snprintf(f->last_token, sizeof f->last_token, "%s", auth + 7);
}

static bool token_ok(const struct kubefake *f, const char *auth)
{
    return !f->token || (auth && strncmp(auth, "Bearer ", 7) == 0 && strcmp(auth + 7, f->token) == 0);
}

/* Build the watch of an accepted request (under f->mu); NULL with *status and b set on a bad
 * query. */
static struct watch *watch_new(struct kubefake *f, struct coll *c, const char *ns, struct MHD_Connection *conn,
                               int *status, struct buf *b)
{
    const char *rvs = arg(conn, "resourceVersion");
    const char *tos = arg(conn, "timeoutSeconds");
    unsigned long rv = 0, timeout = 0;
    bool bookmarks = false;
    if (rvs && *rvs && !parse_ulong(rvs, &rv)) {
        status_json(b, 400, "BadRequest", "resourceVersion: Invalid value: not a number");
        *status = 400;
        return NULL;
    }
    if (tos && *tos && !parse_ulong(tos, &timeout)) {
        status_json(b, 400, "BadRequest", "timeoutSeconds: Invalid value: not a number");
        *status = 400;
        return NULL;
    }
    if (!parse_bool(arg(conn, "allowWatchBookmarks"), &bookmarks)) {
        status_json(b, 400, "BadRequest", "allowWatchBookmarks: Invalid value: not a boolean");
        *status = 400;
        return NULL;
    }
    struct watch *w = calloc(1, sizeof *w);
    if (!w || (ns && !(w->ns = dup_str(ns)))) {
        free(w);
        *status = 500;
        status_json(b, 500, "InternalError", "kubefake: out of memory");
        return NULL;
    }
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    w->fd = ci ? ci->connect_fd : -1;
    w->f = f;
    w->c = c;
    w->bookmarks = bookmarks;
    w->close_gen = f->close_gen;
    w->bookmark_gen = f->bookmark_gen;
    if (timeout) {
        clock_gettime(CLOCK_MONOTONIC, &w->deadline);
        w->deadline.tv_sec += (time_t)timeout;
        w->has_deadline = true;
    }
    if (rv == 0) {
        /* No resourceVersion or "0": the current objects as ADDED, then changes from now. */
        for (size_t i = 0; i < c->nobj; i++)
            if (!ns || strcmp(c->objs[i].ns, ns) == 0)
                buf_event(&w->out, c, "ADDED", c->objs[i].item);
        w->seen = f->rv;
    } else {
        w->seen = rv;
        if (rv < c->horizon)
            watch_expired(w);
    }
    return w;
}

/* ---- writes: GET of one object, POST, PUT, PATCH (Leases and Events) ----
 *
 * The request body is gathered per connection (struct upload, freed when the request
 * completes). These handlers parse and print with cJSON on the server thread. Model: POST
 * creates (409 AlreadyExists when the name is taken; generateName gets a counter suffix), PUT
 * replaces (404 when absent, 409 Conflict when metadata.resourceVersion is not the stored one),
 * PATCH applies the body as a JSON merge patch (RFC 7386) whatever its content type (404 when
 * absent). Not modelled: validation of the object against its schema, field managers, dry-run,
 * strategic-merge list semantics, finalizers, admission. */

static unsigned long store_locked(struct kubefake *f, struct coll *c, cJSON *o, const char *ns_in, const char *nm_in);

struct upload {
    struct buf body;
};

static char no_upload;          /* con_cls of a GET: nothing to gather */

static void upload_done(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode t)
{
    (void)cls;
    (void)conn;
    (void)t;
    struct upload *u = *con_cls;
    if (u && u != (void *)&no_upload) {
        buf_free(&u->body);
        free(u);
    }
    *con_cls = NULL;
}

/* A namespaced collection path with an optional object name after it:
 * <prefix>namespaces/<ns>/<resource>[/<name>], or <path>[/<name>] for cluster-scoped. */
static struct coll *item_route(struct kubefake *f, const char *url, char *ns, size_t nslen, char *name, size_t namelen)
{
    ns[0] = name[0] = '\0';
    for (struct coll *c = f->colls; c; c = c->next) {
        size_t pl = strlen(c->path);
        const char *rest = NULL;
        if (strncmp(url, c->path, pl) == 0 && (url[pl] == '/' || url[pl] == '\0')) {
            rest = url + pl;
        } else {
            size_t xl = strlen(c->prefix);
            if (strncmp(url, c->prefix, xl) != 0 || strncmp(url + xl, "namespaces/", 11) != 0)
                continue;
            const char *n = url + xl + 11, *sl = strchr(n, '/');
            size_t rl = strlen(c->resource);
            if (!sl || sl == n || (size_t)(sl - n) >= nslen || strncmp(sl + 1, c->resource, rl) != 0 ||
                (sl[1 + rl] != '/' && sl[1 + rl] != '\0'))
                continue;
            memcpy(ns, n, (size_t)(sl - n));
            ns[sl - n] = '\0';
            rest = sl + 1 + rl;
        }
        if (*rest == '/') {
            rest++;
            if (!*rest || strchr(rest, '/') || strlen(rest) >= namelen)
                continue;
            snprintf(name, namelen, "%s", rest);
        }
        return c;
    }
    return NULL;
}

/* RFC 7386 merge patch of `patch` into `target` (an object). */
static void merge_patch(cJSON *target, const cJSON *patch)
{
    for (const cJSON *p = patch->child; p; p = p->next) {
        if (cJSON_IsNull(p)) {
            cJSON_DeleteItemFromObjectCaseSensitive(target, p->string);
            continue;
        }
        cJSON *t = cJSON_GetObjectItemCaseSensitive(target, p->string);
        if (cJSON_IsObject(p) && cJSON_IsObject(t)) {
            merge_patch(t, p);
            continue;
        }
        cJSON *copy = cJSON_Duplicate(p, 1);
        if (!copy)
            continue;
        if (t)
            cJSON_ReplaceItemInObjectCaseSensitive(target, p->string, copy);
        else
            cJSON_AddItemToObject(target, p->string, copy);
    }
}

static const struct rstr *find_item(const struct coll *c, const char *ns, const char *name)
{
    bool found;
    size_t at = obj_search(c->objs, c->nobj, ns, name, &found);
    return found ? c->objs[at].item : NULL;
}

/* Answer a write (or a GET of one object). Lock held. */
static int write_request(struct kubefake *f, struct coll *c, const char *method, const char *ns, const char *name,
                         const struct buf *body, struct buf *b)
{
    bool post = strcmp(method, "POST") == 0, put = strcmp(method, "PUT") == 0, patch = strcmp(method, "PATCH") == 0;
    bool get = strcmp(method, "GET") == 0;
    if ((post && name[0]) || (!post && !name[0]) || (!post && !put && !patch && !get)) {
        status_json(b, 405, "MethodNotAllowed", "the server does not allow this method on the requested resource");
        return 405;
    }
    c->counts[get ? KF_GET : post ? KF_CREATE : put ? KF_UPDATE : KF_PATCH]++;
    const struct rstr *cur = name[0] ? find_item(c, ns, name) : NULL;
    if (get) {
        if (!cur) {
            status_json(b, 404, "NotFound", "not found");
            return 404;
        }
        buf_object(b, c, cur);
        return 200;
    }
    cJSON *o = body->p ? cJSON_ParseWithLength(body->p, body->len) : NULL;
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(o, "metadata");
    int status = 200;
    if (!cJSON_IsObject(o) || (!patch && !cJSON_IsObject(meta))) {
        status_json(b, 400, "BadRequest", "the body is not a JSON object with metadata");
        cJSON_Delete(o);
        return 400;
    }
    char nm[256];
    if (post) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(meta, "name");
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(meta, "generateName");
        if (cJSON_IsString(n) && n->valuestring[0])
            snprintf(nm, sizeof nm, "%.200s", n->valuestring);
        else if (cJSON_IsString(g) && g->valuestring[0])
            snprintf(nm, sizeof nm, "%.200s%lu", g->valuestring, f->rv + 1);
        else {
            status_json(b, 422, "Invalid", "metadata.name: Required value");
            cJSON_Delete(o);
            return 422;
        }
        if (find_item(c, ns, nm)) {
            status_json(b, 409, "AlreadyExists", "already exists");
            cJSON_Delete(o);
            return 409;
        }
        status = 201;
    } else {
        snprintf(nm, sizeof nm, "%s", name);
        if (!cur) {
            status_json(b, 404, "NotFound", "not found");
            cJSON_Delete(o);
            return 404;
        }
        cJSON *stored = cJSON_Parse(cur->s);
        const cJSON *srv = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(stored, "metadata"),
                                                            "resourceVersion");
        if (put) {
            const cJSON *rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
            if (cJSON_IsString(rv) && rv->valuestring[0] && cJSON_IsString(srv) &&
                strcmp(rv->valuestring, srv->valuestring) != 0) {
                status_json(b, 409, "Conflict", "the object has been modified; please apply your changes to the "
                            "latest version and try again");
                cJSON_Delete(stored);
                cJSON_Delete(o);
                return 409;
            }
        } else {
            merge_patch(stored, o);
            cJSON_Delete(o);
            o = stored;
            stored = NULL;
            meta = cJSON_GetObjectItemCaseSensitive(o, "metadata");
        }
        cJSON_Delete(stored);
    }
    if (!cJSON_IsObject(meta)) {
        status_json(b, 400, "BadRequest", "metadata: must be an object");
        cJSON_Delete(o);
        return 400;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(o, "kind");
    cJSON_DeleteItemFromObjectCaseSensitive(o, "apiVersion");
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "name");
    cJSON_AddStringToObject(meta, "name", nm);
    if (ns[0]) {
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "namespace");
        cJSON_AddStringToObject(meta, "namespace", ns);
    }
    if (!store_locked(f, c, o, ns, nm)) {
        status_json(b, 500, "InternalError", "kubefake: cannot store");
        cJSON_Delete(o);
        return 500;
    }
    cJSON_Delete(o);
    buf_object(b, c, find_item(c, ns, nm));
    return status;
}

void kubefake_writable(struct kubefake *f, const char *path)
{
    pthread_mutex_lock(&f->mu);
    struct coll *c = coll_find(f, path);
    if (c)
        c->writable = true;
    pthread_mutex_unlock(&f->mu);
}

char *kubefake_get(struct kubefake *f, const char *path, const char *ns, const char *name)
{
    char *out = NULL;
    pthread_mutex_lock(&f->mu);
    struct coll *c = coll_find(f, path);
    const struct rstr *it = c ? find_item(c, ns ? ns : "", name) : NULL;
    if (it) {
        struct buf b = { 0 };
        buf_object(&b, c, it);
        out = b.bad ? NULL : b.p;
        if (!out)
            buf_free(&b);
    }
    pthread_mutex_unlock(&f->mu);
    return out;
}

char *kubefake_items(struct kubefake *f, const char *path)
{
    struct buf b = { 0 };
    buf_str(&b, "[");
    pthread_mutex_lock(&f->mu);
    struct coll *c = coll_find(f, path);
    for (size_t i = 0; c && i < c->nobj; i++) {
        if (i)
            buf_str(&b, ",");
        buf_object(&b, c, c->objs[i].item);
    }
    pthread_mutex_unlock(&f->mu);
    buf_str(&b, "]");
    if (b.bad) {
        buf_free(&b);
        return NULL;
    }
    return b.p;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    struct kubefake *f = cls;
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    if (*con_cls == NULL) {
        struct upload *u = get ? NULL : calloc(1, sizeof *u);
        *con_cls = u ? (void *)u : (void *)&no_upload;
        return MHD_YES;
    }
    struct upload *up = *con_cls != (void *)&no_upload ? *con_cls : NULL;
    if (*upload_data_size) {
        if (up)
            buf_add(&up->body, upload_data, *upload_data_size);
        *upload_data_size = 0;          /* a GET's body is read and ignored */
        return MHD_YES;
    }
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    bool watch = false;
    bool watch_ok = parse_bool(arg(conn, "watch"), &watch);
    const char *cont = arg(conn, "continue");
    char ns[254];
    bool namespaced;
    struct buf b = { 0 };
    int status = 200;
    struct watch *w = NULL;

    pthread_mutex_lock(&f->mu);
    record_token(f, auth);
    struct coll *c = coll_route(f, url, ns, sizeof ns, &namespaced);
    if (c && get) {
        if (watch) {
            c->counts[KF_WATCH]++;
            const char *rvs = arg(conn, "resourceVersion");
            snprintf(c->last_watch_rv, sizeof c->last_watch_rv, "%s", rvs ? rvs : "");
            snprintf(f->last_watch_rv, sizeof f->last_watch_rv, "%s", rvs ? rvs : "");
        } else {
            if (!cont || !*cont)
                c->counts[KF_LIST]++;
            c->counts[KF_LIST_PAGE]++;
        }
    }
    while (f->stall && !f->stopping)
        pthread_cond_wait(&f->cv, &f->mu);
    if (f->stopping) {
        pthread_mutex_unlock(&f->mu);
        return MHD_NO;
    }
    char iname[256], ins[254];
    struct coll *ic = !c ? item_route(f, url, ins, sizeof ins, iname, sizeof iname) : NULL;
    if (ic && !ic->writable)
        ic = NULL;
    if (!c && ic && (iname[0] || !get)) {
        if (!token_ok(f, auth)) {
            status = 401;
            status_json(&b, 401, "Unauthorized", "Unauthorized");
        } else if (ic->fail_count != 0) {
            if (ic->fail_count > 0)
                ic->fail_count--;
            status = ic->fail_status;
            status_json(&b, status, reason_of(status), "kubefake: injected failure");
        } else {
            struct buf empty = { 0 };
            status = write_request(f, ic, method, ins, iname, up ? &up->body : &empty, &b);
        }
    } else if (c && !get && c->writable && c->fail_count != 0) {
        if (c->fail_count > 0)
            c->fail_count--;
        status = c->fail_status;
        status_json(&b, status, reason_of(status), "kubefake: injected failure");
    } else if (c && !get && c->writable) {
        status = write_request(f, c, method, namespaced ? ns : "", "", up ? &up->body : &(struct buf){ 0 }, &b);
    } else if (!get) {
        status = 405;
        status_json(&b, 405, "MethodNotAllowed", "the server does not allow this method on the requested resource");
    } else if (!c) {
        status = 404;
        status_json(&b, 404, "NotFound", "the server could not find the requested resource");
    } else if (c->fail_count != 0) {
        if (c->fail_count > 0)
            c->fail_count--;
        status = c->fail_status;
        fault_json(&b, c, namespaced ? ns : NULL, watch, status);
    } else if (!token_ok(f, auth)) {
        status = 401;
        status_json(&b, 401, "Unauthorized", "Unauthorized");
    } else if (!watch_ok) {
        status = 400;
        status_json(&b, 400, "BadRequest", "watch: Invalid value: not a boolean");
    } else if (watch) {
        w = watch_new(f, c, namespaced ? ns : NULL, conn, &status, &b);
    } else {
        const char *ls = arg(conn, "limit");
        unsigned long limit = 0;
        if (ls && *ls && !parse_ulong(ls, &limit)) {
            status = 400;
            status_json(&b, 400, "BadRequest", "limit: Invalid value: not a number");
        } else {
            status = list_page(f, c, namespaced ? ns : NULL, limit, cont, &b);
        }
    }
    pthread_mutex_unlock(&f->mu);

    if (!w)
        return queue_json(conn, status, &b);
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, watch_read, w,
                                                                  watch_free);
    if (!resp) {
        watch_free(w);
        return MHD_NO;
    }
    enum MHD_Result r = MHD_NO;
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json") == MHD_YES)
        r = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return r;
}

/* ---- public ---- */

static char *read_pem(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    struct buf b = { 0 };
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, fp)) > 0 && b.len + n <= KF_CERT_MAX)
        buf_add(&b, tmp, n);
    bool ok = !ferror(fp) && feof(fp) && !b.bad && b.len > 0;
    fclose(fp);
    if (!ok)
        buf_free(&b);
    return b.p;
}

struct kubefake *kubefake_start(const char *cert_file, const char *key_file)
{
    struct kubefake *f = calloc(1, sizeof *f);
    bool mu_ok = false, cv_ok = false;
    if (!f)
        return NULL;
    f->rv = 100;                /* an RV that looks like one; "0" keeps its special meaning */
    f->cert = read_pem(cert_file);
    f->key = read_pem(key_file);
    if (!f->cert || !f->key)
        goto fail;
    mu_ok = pthread_mutex_init(&f->mu, NULL) == 0;
    pthread_condattr_t ca;
    if (!mu_ok || pthread_condattr_init(&ca) != 0)
        goto fail;
    cv_ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 && pthread_cond_init(&f->cv, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!cv_ok)
        goto fail;
    struct sockaddr_in sa = { 0 };
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    f->daemon = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS |
                                     MHD_USE_ITC,
                                 0, NULL, NULL, on_request, f, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                 MHD_OPTION_HTTPS_MEM_CERT, f->cert, MHD_OPTION_HTTPS_MEM_KEY, f->key,
                                 MHD_OPTION_NOTIFY_COMPLETED, upload_done, NULL,
                                 MHD_OPTION_END);   /* no idle timeout: a quiet watch may last long */
    if (!f->daemon)
        goto fail;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(f->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (!info || info->port == 0)
        goto fail;
    f->port = info->port;
    return f;
fail:
    if (f->daemon)
        MHD_stop_daemon(f->daemon);
    if (cv_ok)
        pthread_cond_destroy(&f->cv);
    if (mu_ok)
        pthread_mutex_destroy(&f->mu);
    free(f->cert);
    free(f->key);
    free(f);
    return NULL;
}

void kubefake_stop(struct kubefake *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->stopping = true;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    MHD_stop_daemon(f->daemon);
    while (f->colls) {
        struct coll *n = f->colls->next;
        coll_free(f->colls);
        f->colls = n;
    }
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f->token);
    free(f->cert);
    free(f->key);
    free(f);
}

unsigned short kubefake_port(const struct kubefake *f)
{
    return f->port;
}

void kubefake_collection(struct kubefake *f, const char *path, const char *list_kind, const char *api_version,
                         const char *kind)
{
    const char *slash = strrchr(path, '/');
    if (path[0] != '/' || !slash || !slash[1])
        return;
    struct coll *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->path = dup_str(path);
    c->prefix = dup_n(path, (size_t)(slash - path) + 1);
    c->resource = dup_str(slash + 1);
    c->list_kind = dup_str(list_kind);
    c->api_version = dup_str(api_version);
    c->kind = dup_str(kind);
    /* "/apis/<group>/<version>/<resource>" or "/api/v1/<resource>" (the core group, "") */
    const char *g = strncmp(path, "/apis/", 6) == 0 ? path + 6 : NULL;
    const char *gend = g ? strchr(g, '/') : NULL;
    c->group = g && gend ? dup_n(g, (size_t)(gend - g)) : dup_str("");
    if (!c->path || !c->prefix || !c->resource || !c->list_kind || !c->api_version || !c->kind || !c->group) {
        coll_free(c);
        return;
    }
    pthread_mutex_lock(&f->mu);
    if (coll_find(f, path)) {
        coll_free(c);
    } else {
        c->horizon = f->rv;
        c->next = f->colls;
        f->colls = c;
    }
    pthread_mutex_unlock(&f->mu);
}

/* Set metadata.resourceVersion of a parsed object. */
static bool stamp_rv(cJSON *meta, unsigned long rv)
{
    char s[32];
    snprintf(s, sizeof s, "%lu", rv);
    cJSON *v = cJSON_CreateString(s);
    if (!v)
        return false;
    if (cJSON_HasObjectItem(meta, "resourceVersion"))
        return cJSON_ReplaceItemInObjectCaseSensitive(meta, "resourceVersion", v);
    if (!cJSON_AddItemToObject(meta, "resourceVersion", v)) {
        cJSON_Delete(v);
        return false;
    }
    return true;
}

/* The item text of `o` at `rv` (a malloc'd rstr), NULL on failure. */
static struct rstr *print_at(cJSON *o, cJSON *meta, unsigned long rv)
{
    if (!stamp_rv(meta, rv))
        return NULL;
    char *text = cJSON_PrintUnformatted(o);
    if (!text)
        return NULL;
    struct rstr *r = rstr_new(text);
    cJSON_free(text);
    return r;
}

/* Insert or replace (ns, nm) in `c` from the parsed object `o` (kind and apiVersion removed),
 * stamping the next resourceVersion and recording the event. Lock held. The new RV, 0 on
 * failure. */
static unsigned long store_locked(struct kubefake *f, struct coll *c, cJSON *o, const char *ns_in, const char *nm_in)
{
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(o, "metadata");
    struct rstr *item = NULL;
    char *ns = dup_str(ns_in), *nm = dup_str(nm_in);
    unsigned long result = 0;
    if (!ns || !nm || !cJSON_IsObject(meta) || !(item = print_at(o, meta, f->rv + 1)))
        goto cleanup;
    bool found;
    size_t at = obj_search(c->objs, c->nobj, ns, nm, &found);
    if (!found && c->nobj == c->capobj) {
        size_t ncap = c->capobj ? c->capobj * 2 : 16;
        struct kobj *no = realloc(c->objs, ncap * sizeof *no);
        if (!no)
            goto cleanup;
        c->objs = no;
        c->capobj = ncap;
    }
    struct rstr *prev = found ? c->objs[at].item : NULL;
    item->refs++;               /* one for the object, one for the event */
    if (!hist_append(c, f->rv + 1, found ? EV_MODIFIED : EV_ADDED, ns, nm, item, prev)) {
        item->refs--;
        goto cleanup;
    }
    if (found) {
        c->objs[at].item = item;    /* the old reference moved to the event */
    } else {
        memmove(c->objs + at + 1, c->objs + at, (c->nobj - at) * sizeof *c->objs);
        c->objs[at] = (struct kobj){ ns, nm, item };
        c->nobj++;
        ns = nm = NULL;
    }
    item = NULL;
    result = ++f->rv;
    pthread_cond_broadcast(&f->cv);
cleanup:
    rstr_unref(item);
    free(ns);
    free(nm);
    return result;
}

unsigned long kubefake_put(struct kubefake *f, const char *path, const char *object_json)
{
    unsigned long result = 0;
    cJSON *o = object_json ? cJSON_Parse(object_json) : NULL;
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(o, "metadata");
    cJSON *name = cJSON_GetObjectItemCaseSensitive(meta, "name");
    cJSON *nsj = cJSON_GetObjectItemCaseSensitive(meta, "namespace");
    if (!cJSON_IsObject(o) || !cJSON_IsObject(meta) || !cJSON_IsString(name) || !*name->valuestring ||
        (nsj && !cJSON_IsNull(nsj) && !cJSON_IsString(nsj)))
        goto cleanup;
    /* list items do not carry these; events get them from the collection */
    cJSON_DeleteItemFromObjectCaseSensitive(o, "kind");
    cJSON_DeleteItemFromObjectCaseSensitive(o, "apiVersion");
    pthread_mutex_lock(&f->mu);
    struct coll *c = coll_find(f, path);
    if (c)
        result = store_locked(f, c, o, cJSON_IsString(nsj) ? nsj->valuestring : "", name->valuestring);
    pthread_mutex_unlock(&f->mu);
cleanup:
    cJSON_Delete(o);
    return result;
}

unsigned long kubefake_delete(struct kubefake *f, const char *path, const char *ns, const char *name)
{
    unsigned long result = 0;
    cJSON *o = NULL;
    struct rstr *tomb = NULL;
    if (!ns)
        ns = "";
    pthread_mutex_lock(&f->mu);
    struct coll *c = coll_find(f, path);
    bool found = false;
    size_t at = c ? obj_search(c->objs, c->nobj, ns, name, &found) : 0;
    if (!found)
        goto cleanup;
    struct kobj *k = &c->objs[at];
    o = cJSON_Parse(k->item->s);
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(o, "metadata");
    if (!meta || !(tomb = print_at(o, meta, f->rv + 1)))
        goto cleanup;
    if (!hist_append(c, f->rv + 1, EV_DELETED, k->ns, k->name, tomb, k->item))
        goto cleanup;
    tomb = NULL;                /* moved to the event, as is the object's item reference */
    free(k->ns);
    free(k->name);
    memmove(c->objs + at, c->objs + at + 1, (c->nobj - at - 1) * sizeof *c->objs);
    c->nobj--;
    result = ++f->rv;
    pthread_cond_broadcast(&f->cv);
cleanup:
    pthread_mutex_unlock(&f->mu);
    rstr_unref(tomb);
    cJSON_Delete(o);
    return result;
}

void kubefake_fail(struct kubefake *f, const char *path, int status, int count)
{
    pthread_mutex_lock(&f->mu);
    for (struct coll *c = f->colls; c; c = c->next) {
        if (path && strcmp(path, c->path) != 0)
            continue;
        c->fail_status = status;
        c->fail_count = count < 0 ? -1 : count;
    }
    pthread_mutex_unlock(&f->mu);
}

void kubefake_close_watches(struct kubefake *f)
{
    pthread_mutex_lock(&f->mu);
    f->close_gen++;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

void kubefake_compact(struct kubefake *f)
{
    pthread_mutex_lock(&f->mu);
    for (struct coll *c = f->colls; c; c = c->next) {
        hist_drop_oldest(c, c->nhist);
        c->horizon = f->rv;
    }
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

void kubefake_bookmark(struct kubefake *f)
{
    pthread_mutex_lock(&f->mu);
    f->bookmark_gen++;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

void kubefake_stall(struct kubefake *f, bool on)
{
    pthread_mutex_lock(&f->mu);
    f->stall = on;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

void kubefake_page_max(struct kubefake *f, unsigned n)
{
    pthread_mutex_lock(&f->mu);
    f->page_max = n;
    pthread_mutex_unlock(&f->mu);
}

void kubefake_require_token(struct kubefake *f, const char *token)
{
    char *t = token ? dup_str(token) : NULL;
    pthread_mutex_lock(&f->mu);
    free(f->token);
    f->token = t;
    pthread_mutex_unlock(&f->mu);
}

unsigned kubefake_count(struct kubefake *f, const char *path, enum kubefake_req what)
{
    unsigned n = 0;
    if ((unsigned)what >= KF_REQ_COUNT)
        return 0;
    pthread_mutex_lock(&f->mu);
    for (struct coll *c = f->colls; c; c = c->next)
        if (!path || strcmp(path, c->path) == 0)
            n += c->counts[what];
    pthread_mutex_unlock(&f->mu);
    return n;
}

void kubefake_last_watch_rv(struct kubefake *f, const char *path, char *buf, size_t len)
{
    if (!len)
        return;
    pthread_mutex_lock(&f->mu);
    const struct coll *c = path ? coll_find(f, path) : NULL;
    snprintf(buf, len, "%s", path ? (c ? c->last_watch_rv : "") : f->last_watch_rv);
    pthread_mutex_unlock(&f->mu);
}

void kubefake_last_token(struct kubefake *f, char *buf, size_t len)
{
    if (!len)
        return;
    pthread_mutex_lock(&f->mu);
    snprintf(buf, len, "%s", f->last_token);
    pthread_mutex_unlock(&f->mu);
}

unsigned long kubefake_resource_version(struct kubefake *f)
{
    pthread_mutex_lock(&f->mu);
    unsigned long rv = f->rv;
    pthread_mutex_unlock(&f->mu);
    return rv;
}
