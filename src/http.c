/* http.c - the HTTPS server: libmicrohttpd (GnuTLS) daemon on our own listen socket, routes,
 * body limits and status codes, serving-certificate hot reload through the GnuTLS certificate
 * callback, and the graceful stop.
 *
 * Threading: MHD_USE_EPOLL_INTERNAL_THREAD with a pool of --threads threads. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <microhttpd.h>
#include "cluster.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "tlsfiles.h"
#include "webhook.h"

#define CHAIN_MAX 8                             /* certificates served from the chain file */
#define RETIRE_SECONDS 300                      /* old credentials live this long after a swap */
/* Body bytes read and dropped beyond max_body before the 413. libmicrohttpd (0.9.75, measured)
 * cannot send a response while a body is still arriving: MHD_queue_response refuses it once the
 * body is being received, and a 413 queued before the body (Content-Length over the limit) is
 * followed by a close that a client still uploading sees as a reset. So a body over the limit is
 * read to its end without being stored, and answered 413; only past this many bytes more (or past
 * the receive deadline, --idle-timeout) is the connection closed without an answer. 64 MiB is a
 * fraction of a second of TLS reading and nine times what a client could send as valid bodies of
 * the default limit. */
#define DISCARD_SLACK (64ull * 1024 * 1024)
#define BODY_INITIAL (16 * 1024)

/* TLS 1.2 and 1.3 only; ECDHE key exchange; AEAD ciphers; no SHA-1 signatures. */
#define TLS_PRIORITIES                                                                   \
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:"                                        \
    "-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"                          \
    "-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:"                                    \
    "-SIGN-RSA-SHA1:-SIGN-ECDSA-SHA1:-SIGN-DSA-SHA1:%SERVER_PRECEDENCE"

/* One loaded serving certificate (chain) and key, as GnuTLS uses them in handshakes. Never
 * freed while current; after a swap kept on the retired list for RETIRE_SECONDS. */
struct creds {
    gnutls_pcert_st pcert[CHAIN_MAX];
    unsigned npcert;
    gnutls_privkey_t key;
    time_t not_after;
    time_t retired_at;
    struct creds *next;
};

enum req_mode { RM_COLLECT, RM_DISCARD };

/* One HTTP request, from its headers to NOTIFY_COMPLETED. */
/* One open connection, for the deadline on receiving a request (see reap_slow). */
struct conn_rec {
    struct conn_rec *prev, *next;
    int fd;
    struct timespec since;      /* connection start, or the end of its last request */
    bool in_request;            /* headers received, answer not yet complete */
};

struct request {
    enum endpoint ep;
    enum req_mode mode;
    int status;                 /* RM_DISCARD: the answer once the upload has been drained */
    const char *reason;         /* RM_DISCARD: its one-line body */
    const char *allow;          /* 405: the Allow header */
    char *body;                 /* RM_COLLECT: the upload, NUL-terminated */
    size_t len, cap;
    size_t discarded;
    struct timespec start;
};

static struct {
    const struct config *cfg;
    struct MHD_Daemon *daemon;
    int listen_fd;
    unsigned short port;
    _Atomic(struct creds *) current;
    struct creds *retired;              /* watcher thread (and start/stop) only */
    atomic_bool cluster_ready;
    _Atomic(unsigned (*)(void)) stale_fn;   /* seconds the cluster view is stale, 0 when fresh */
    atomic_bool stopping;
    atomic_bool draining;       /* SIGTERM seen: /readyz 503 while the shutdown delay runs */
    atomic_bool reload_requested;
    atomic_bool watcher_quit;
    pthread_mutex_t conns_lock;         /* guards conns and every conn_rec's fields */
    struct conn_rec *conns;
    atomic_long inflight;
    pthread_t watcher;
    bool watcher_started;
    int wake[2];                        /* self-pipe waking the watcher */
    unsigned long long stamp;
} S = { .listen_fd = -1, .wake = { -1, -1 }, .conns_lock = PTHREAD_MUTEX_INITIALIZER };

/* ---- credentials ---------------------------------------------------------------------- */

static void creds_free(struct creds *c)
{
    if (!c)
        return;
    for (unsigned i = 0; i < c->npcert; i++)
        gnutls_pcert_deinit(&c->pcert[i]);
    if (c->key)
        gnutls_privkey_deinit(c->key);
    mem_free(c);
}

static struct creds *creds_new(const struct tls_pair *p, const char *cert_path, const char *key_path,
                               char *err, size_t errlen)
{
    struct creds *c = mem_calloc(1, sizeof *c);
    struct creds *ret = NULL;
    if (!c) {
        snprintf(err, errlen, "out of memory loading the serving certificate");
        goto cleanup;
    }
    gnutls_datum_t cd = { (unsigned char *)p->cert_pem, (unsigned)p->cert_len };
    unsigned n = CHAIN_MAX;
    int rc = gnutls_pcert_list_import_x509_raw(c->pcert, &n, &cd, GNUTLS_X509_FMT_PEM, 0);
    if (rc < 0) {
        snprintf(err, errlen, "%s: GnuTLS cannot use the certificate chain: %s", cert_path, gnutls_strerror(rc));
        goto cleanup;
    }
    c->npcert = n;
    rc = gnutls_privkey_init(&c->key);
    if (rc < 0) {
        c->key = NULL;
        snprintf(err, errlen, "%s: %s", key_path, gnutls_strerror(rc));
        goto cleanup;
    }
    gnutls_datum_t kd = { (unsigned char *)p->key_pem, (unsigned)p->key_len };
    rc = gnutls_privkey_import_x509_raw(c->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0);
    if (rc < 0) {
        snprintf(err, errlen, "%s: GnuTLS cannot use the private key: %s", key_path, gnutls_strerror(rc));
        goto cleanup;
    }
    c->not_after = p->not_after;
    ret = c;
    c = NULL;
cleanup:
    creds_free(c);
    return ret;
}

/* GnuTLS asks for the certificate of every handshake: hand out the current credentials. */
static int cert_callback(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
                         const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                         gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
    (void)session;
    (void)req_ca_dn;
    (void)nreqs;
    (void)pk_algos;
    (void)pk_algos_length;
    struct creds *c = atomic_load_explicit(&S.current, memory_order_acquire);
    if (!c)
        return -1;
    *pcert = c->pcert;
    *pcert_length = c->npcert;
    *pkey = c->key;
    return 0;
}

static void format_rfc3339(time_t t, char *buf, size_t len)
{
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, len, "@%lld", (long long)t);
}

/* Load and check the files; on success make them current (the old pair is retired). */
static enum ag_result creds_reload(const char *why, char *err, size_t errlen)
{
    const struct config *cfg = S.cfg;
    struct tls_pair pair;
    enum ag_result r = tlsfiles_load(cfg->tls_cert, cfg->tls_key, &pair, err, errlen);
    if (r != AG_OK)
        return r;
    struct creds *c = creds_new(&pair, cfg->tls_cert, cfg->tls_key, err, errlen);
    time_t not_after = pair.not_after;
    tlsfiles_free(&pair);
    if (!c)
        return AG_EINVAL;
    time_t now = time(NULL);
    struct creds *old = atomic_exchange_explicit(&S.current, c, memory_order_acq_rel);
    if (old) {
        old->retired_at = now;
        old->next = S.retired;
        S.retired = old;
    }
    char until[40];
    format_rfc3339(not_after, until, sizeof until);
    LOG_AT(strcmp(why, "start") == 0 ? LOG_DEBUG : LOG_INFO,     /* main logs the start */
           "serving certificate %s loaded (%s): valid for %lld more days, until %s", cfg->tls_cert, why,
           (long long)((not_after - now) / 86400), until);
    metrics_set_cert_not_after((long long)not_after);
    return AG_OK;
}

/* Free retired credentials older than RETIRE_SECONDS (all of them when `all`). */
static void creds_sweep(bool all)
{
    time_t now = time(NULL);
    struct creds **pp = &S.retired;
    while (*pp) {
        struct creds *c = *pp;
        if (all || now - c->retired_at >= RETIRE_SECONDS) {
            *pp = c->next;
            creds_free(c);
        } else {
            pp = &c->next;
        }
    }
}

static void watcher_reload(const char *why)
{
    char err[1024] = "";
    if (creds_reload(why, err, sizeof err) == AG_OK) {
        metrics_cert_reload(true);
    } else {
        log_error("certificate reload failed, still serving the previous certificate: %s", err);
        metrics_cert_reload(false);
    }
}

/* ---- the receive deadline ----
 * libmicrohttpd's --idle-timeout counts silence, so a client that trickles a request one byte at
 * a time would keep its connection forever. Every connection must instead deliver the headers of
 * its next request, and then that request's body, within --idle-timeout of its start or of the
 * end of its previous request; the watcher shuts down the socket of one that does not (the
 * connection is then closed by libmicrohttpd as usual). The lock is held across shutdown() and by
 * the CLOSED notification, which comes before libmicrohttpd closes the descriptor, so a
 * descriptor is never shut down after it was closed and reused. */

static void conn_mark(struct MHD_Connection *conn, bool in_request)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn_rec *rec = ci ? ci->socket_context : NULL;
    if (!rec)
        return;
    pthread_mutex_lock(&S.conns_lock);
    rec->in_request = in_request;
    clock_gettime(CLOCK_MONOTONIC, &rec->since);
    pthread_mutex_unlock(&S.conns_lock);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct conn_rec *rec = ci ? mem_calloc(1, sizeof *rec) : NULL;
        if (!rec)
            return;     /* untracked: only the idle timeout applies to it */
        rec->fd = ci->connect_fd;
        clock_gettime(CLOCK_MONOTONIC, &rec->since);
        pthread_mutex_lock(&S.conns_lock);
        rec->next = S.conns;
        if (S.conns)
            S.conns->prev = rec;
        S.conns = rec;
        pthread_mutex_unlock(&S.conns_lock);
        *socket_context = rec;
        return;
    }
    struct conn_rec *rec = *socket_context;
    if (!rec)
        return;
    pthread_mutex_lock(&S.conns_lock);
    if (rec->prev)
        rec->prev->next = rec->next;
    else
        S.conns = rec->next;
    if (rec->next)
        rec->next->prev = rec->prev;
    pthread_mutex_unlock(&S.conns_lock);
    *socket_context = NULL;
    mem_free(rec);
}

static void reap_slow(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double limit = (double)S.cfg->idle_timeout_s;
    unsigned reaped = 0;
    pthread_mutex_lock(&S.conns_lock);
    for (struct conn_rec *c = S.conns; c; c = c->next) {
        double age = (double)(now.tv_sec - c->since.tv_sec) + (double)(now.tv_nsec - c->since.tv_nsec) / 1e9;
        if (age > limit) {
            shutdown(c->fd, SHUT_RDWR);
            c->since = now;     /* once; libmicrohttpd closes it on its next turn */
            reaped++;
        }
    }
    pthread_mutex_unlock(&S.conns_lock);
    if (reaped)
        log_info("closed %u connection(s) that did not deliver a request within %u s", reaped,
                 S.cfg->idle_timeout_s);
}

static void *watcher_main(void *arg)
{
    (void)arg;
    const struct config *cfg = S.cfg;
    int interval = cfg->cert_poll_ms ? (int)cfg->cert_poll_ms : 2000;
    while (!atomic_load(&S.watcher_quit)) {
        struct pollfd pfd = { .fd = S.wake[0], .events = POLLIN, .revents = 0 };
        if (poll(&pfd, 1, interval) > 0) {
            char buf[64];
            while (read(S.wake[0], buf, sizeof buf) > 0)
                ;
        }
        if (atomic_load(&S.watcher_quit))
            break;
        bool forced = atomic_exchange(&S.reload_requested, false);
        unsigned long long st = tlsfiles_stamp(cfg->tls_cert, cfg->tls_key);
        if (st != S.stamp) {
            /* Let a writer that replaces the two files one after the other finish. */
            for (int i = 0; i < 5; i++) {
                struct timespec ts = { 0, 100 * 1000 * 1000 };
                nanosleep(&ts, NULL);
                unsigned long long again = tlsfiles_stamp(cfg->tls_cert, cfg->tls_key);
                if (again == st)
                    break;
                st = again;
            }
        }
        if (forced || st != S.stamp) {
            S.stamp = st;
            watcher_reload(forced ? "reload requested" : "files changed");
        }
        creds_sweep(false);
        reap_slow();
    }
    return NULL;
}

static void wake_watcher(void)
{
    if (S.wake[1] >= 0) {
        char c = 1;
        ssize_t n = write(S.wake[1], &c, 1);
        (void)n;    /* a full pipe already wakes the watcher */
    }
}

void http_reload_certs(void)
{
    atomic_store(&S.reload_requested, true);
    wake_watcher();
}

void http_set_cluster_ready(bool ready)
{
    atomic_store(&S.cluster_ready, ready);
}

void http_set_stale_fn(unsigned (*fn)(void))
{
    atomic_store(&S.stale_fn, fn);
}

static unsigned stale_seconds(void)
{
    unsigned (*fn)(void) = atomic_load(&S.stale_fn);
    return fn ? fn() : 0;
}

unsigned short http_port(void)
{
    return S.port;
}

/* ---- requests ------------------------------------------------------------------------- */

static double elapsed_s(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static bool is_json_type(const char *ct)
{
    static const char want[] = "application/json";
    if (!ct)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, want, sizeof want - 1) != 0)
        return false;
    char next = ct[sizeof want - 1];
    return next == '\0' || next == ';' || next == ' ' || next == '\t';
}

/* Queue one response. `body` is freed with mem_free when `owned`, else it must be static. */
static enum MHD_Result respond(struct MHD_Connection *conn, struct request *rq, int status, const char *ctype,
                               char *body, size_t len, bool owned)
{
    struct MHD_Response *resp;
    if (owned)
        resp = MHD_create_response_from_buffer_with_free_callback(len, body, mem_free);
    else
        resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        if (owned)
            mem_free(body);
        metrics_observe(rq->ep, 500, VC_COUNT, elapsed_s(&rq->start));
        return MHD_NO;
    }
    bool ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) == MHD_YES;
    if (status == 405 && rq->allow)
        ok = ok && MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, rq->allow) == MHD_YES;
    if (atomic_load_explicit(&S.stopping, memory_order_relaxed))
        ok = ok && MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close") == MHD_YES;
    enum MHD_Result r = ok ? MHD_queue_response(conn, (unsigned)status, resp) : MHD_NO;
    MHD_destroy_response(resp);
    return r;
}

static const char *text_plain = "text/plain; charset=utf-8";

static enum MHD_Result answer_admission(struct MHD_Connection *conn, struct request *rq)
{
    const struct config *cfg = S.cfg;
    bool mutate = rq->ep == EP_MUTATE;
    struct webhook_result res;
    struct snapshot *snap = snapshot_acquire();
    webhook_handle(rq->body ? rq->body : "", rq->len, mutate, snap, &cfg->policy, stale_seconds(), &res);
    snapshot_release(snap);

    enum MHD_Result r;
    int status = res.http_status;
    if (res.body) {
        const char *ctype = status == 400 ? text_plain : "application/json";
        r = respond(conn, rq, status, ctype, res.body, res.body_len, true);
        res.body = NULL;    /* owned by the response now */
    } else {
        static char oom[] = "internal error: out of memory\n";
        status = 500;
        r = respond(conn, rq, status, text_plain, oom, sizeof oom - 1, false);
    }
    double secs = elapsed_s(&rq->start);
    metrics_observe(rq->ep, status, res.cls, secs);
    if (status == 200)
        metrics_reason(rq->ep, res.cls, res.reason);
    log_request(mutate ? "mutate" : "validate", res.uid, res.kind, res.ns, res.name, res.operation,
                status == 200 ? verdict_class_name(res.cls) : "error", status, (long)(secs * 1e6));
    webhook_result_free(&res);
    return r;
}

static enum MHD_Result answer_readyz(struct MHD_Connection *conn, struct request *rq)
{
    static char ok[] = "ok\n";
    static char stopping[] = "shutting down\n";
    static char nocert[] = "no serving certificate loaded\n";
    static char nocluster[] = "cluster state not synced\n";
    char stale[96];
    char *msg = ok;
    int status = 503;
    unsigned stale_s = 0;
    bool owned = false;
    if (atomic_load(&S.stopping) || atomic_load(&S.draining))
        msg = stopping;
    else if (!atomic_load_explicit(&S.current, memory_order_acquire))
        msg = nocert;
    else if (!atomic_load(&S.cluster_ready))
        msg = nocluster;
    else
        status = 200;
    if (status == 200 && (stale_s = stale_seconds()) > 0) {
        /* Still ready: see docs/design.md "Stale cluster view" for why the webhook does not fail closed. */
        snprintf(stale, sizeof stale, "ok, but the cluster view is stale: no update for %u s\n", stale_s);
        char *copy = mem_strdup(stale);     /* the response outlives this frame */
        if (copy) {
            msg = copy;
            owned = true;
        }
    }
    enum MHD_Result r = respond(conn, rq, status, text_plain, msg, strlen(msg), owned);
    metrics_observe(rq->ep, status, VC_ALLOWED, elapsed_s(&rq->start));
    return r;
}

static enum MHD_Result answer_metrics(struct MHD_Connection *conn, struct request *rq)
{
    size_t len = 0;
    struct snapshot *snap = snapshot_acquire();
    char *text = metrics_render(snap, &S.cfg->policy, &len);
    snapshot_release(snap);
    enum MHD_Result r;
    int status = 200;
    if (text) {
        r = respond(conn, rq, status, "text/plain; version=0.0.4; charset=utf-8", text, len, true);
    } else {
        static char oom[] = "out of memory\n";
        status = 500;
        r = respond(conn, rq, status, text_plain, oom, sizeof oom - 1, false);
    }
    metrics_observe(rq->ep, status, VC_ALLOWED, elapsed_s(&rq->start));
    return r;
}

static enum MHD_Result answer_reject(struct MHD_Connection *conn, struct request *rq)
{
    enum MHD_Result r = respond(conn, rq, rq->status, text_plain, (char *)rq->reason, strlen(rq->reason), false);
    double secs = elapsed_s(&rq->start);
    metrics_observe(rq->ep, rq->status, VC_COUNT, secs);
    if (rq->ep == EP_VALIDATE || rq->ep == EP_MUTATE)
        log_request(rq->ep == EP_MUTATE ? "mutate" : "validate", "", "", "", "", "", "error", rq->status,
                    (long)(secs * 1e6));
    return r;
}

static void reject(struct request *rq, int status, const char *reason)
{
    mem_free(rq->body);
    rq->body = NULL;
    rq->discarded = rq->len;
    rq->len = rq->cap = 0;
    rq->mode = RM_DISCARD;
    rq->status = status;
    rq->reason = reason;
}

/* First callback of a request: route it and decide whether its body is wanted. */
static void classify(struct MHD_Connection *conn, struct request *rq, const char *url, const char *method)
{
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    rq->mode = RM_COLLECT;
    if (strcmp(url, "/validate") == 0 || strcmp(url, "/mutate") == 0) {
        rq->ep = url[1] == 'v' ? EP_VALIDATE : EP_MUTATE;
        if (!post) {
            rq->allow = "POST";
            reject(rq, 405, "method not allowed: use POST\n");
            return;
        }
        const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        if (!is_json_type(ct)) {
            reject(rq, 400, "Content-Type must be application/json\n");
            return;
        }
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end = NULL;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno == 0 && end != cl && n > S.cfg->max_body)
                reject(rq, 413, "request body is larger than --max-body\n");
        }
        return;
    }
    if (strcmp(url, "/healthz") == 0)
        rq->ep = EP_HEALTHZ;
    else if (strcmp(url, "/readyz") == 0)
        rq->ep = EP_READYZ;
    else if (strcmp(url, "/metrics") == 0)
        rq->ep = EP_METRICS;
    else {
        rq->ep = EP_OTHER;
        reject(rq, 404, "not found\n");
        return;
    }
    if (!get) {
        rq->allow = "GET, HEAD";
        reject(rq, 405, "method not allowed: use GET\n");
        return;
    }
    rq->mode = RM_DISCARD;      /* a GET needs no body; drop one if sent */
    rq->status = 0;
}

/* Take one piece of the upload. Returns false when the connection should be closed. */
static bool take_upload(struct request *rq, const char *data, size_t size)
{
    size_t max = S.cfg->max_body;
    if (rq->mode == RM_COLLECT) {
        if (size > max - rq->len) {
            size_t had = rq->len;
            reject(rq, 413, "request body is larger than --max-body\n");
            rq->discarded = had;
        } else {
            if (rq->len + size > rq->cap) {
                size_t ncap = rq->cap ? rq->cap : BODY_INITIAL;
                while (ncap < rq->len + size)
                    ncap *= 2;
                if (ncap > max)
                    ncap = max;
                char *nb = mem_realloc(rq->body, ncap + 1);
                if (!nb)
                    return false;
                rq->body = nb;
                rq->cap = ncap;
            }
            memcpy(rq->body + rq->len, data, size);
            rq->len += size;
            rq->body[rq->len] = '\0';
            return true;
        }
    }
    rq->discarded += size;
    if (rq->discarded <= max + DISCARD_SLACK)
        return true;
    log_info("closed a connection whose request body went more than %llu MiB past --max-body (%zu bytes) "
             "without an answer: libmicrohttpd cannot answer before a body ends", DISCARD_SLACK >> 20, max);
    return false;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)cls;
    (void)version;
    struct request *rq = *con_cls;
    if (!rq) {
        rq = mem_calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        clock_gettime(CLOCK_MONOTONIC, &rq->start);
        atomic_fetch_add(&S.inflight, 1);
        conn_mark(conn, true);
        *con_cls = rq;
        classify(conn, rq, url, method);
        if (rq->mode == RM_DISCARD && rq->status) {
            /* A client waiting for "100 Continue" has sent nothing yet: answer now. So does one
             * that announced a body too large to drain. */
            const char *expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
            const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
            unsigned long long n = cl ? strtoull(cl, NULL, 10) : 0;
            if ((expect && strcasecmp(expect, "100-continue") == 0) ||
                n > (unsigned long long)S.cfg->max_body + DISCARD_SLACK)
                return answer_reject(conn, rq);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t size = *upload_data_size;
        *upload_data_size = 0;
        return take_upload(rq, upload_data, size) ? MHD_YES : MHD_NO;
    }
    if (rq->mode == RM_DISCARD && rq->status)
        return answer_reject(conn, rq);
    switch (rq->ep) {
    case EP_VALIDATE:
    case EP_MUTATE:
        return answer_admission(conn, rq);
    case EP_HEALTHZ: {
        static char ok[] = "ok\n";
        enum MHD_Result r = respond(conn, rq, 200, text_plain, ok, sizeof ok - 1, false);
        metrics_observe(rq->ep, 200, VC_ALLOWED, elapsed_s(&rq->start));
        return r;
    }
    case EP_READYZ:
        return answer_readyz(conn, rq);
    case EP_METRICS:
        return answer_metrics(conn, rq);
    case EP_OTHER:
    case EP_COUNT:
        break;
    }
    return MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)toe;
    struct request *rq = *con_cls;
    if (!rq)
        return;
    conn_mark(conn, false);
    *con_cls = NULL;
    mem_free(rq->body);
    mem_free(rq);
    atomic_fetch_sub(&S.inflight, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    enum log_level lvl = S.daemon ? LOG_DEBUG : LOG_WARN;   /* after start: mostly client faults */
    if (lvl < log_min_level)
        return;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    log_write(lvl, "libmicrohttpd: %s", buf);
}

/* ---- start and stop ------------------------------------------------------------------- */

static int open_listener(const char *host, unsigned short port, unsigned short *bound, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%u", (unsigned)port);
    int fd = -1;
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errlen, "--listen: cannot resolve %s: %s", host, gai_strerror(rc));
        goto cleanup;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "--listen: socket: %s", strerror(errno));
        goto cleanup;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        snprintf(err, errlen, "--listen: cannot listen on %s:%u: %s", host, (unsigned)port, strerror(errno));
        close(fd);
        fd = -1;
        goto cleanup;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    *bound = port;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            *bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            *bound = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
cleanup:
    if (res)
        freeaddrinfo(res);
    return fd;
}

static void teardown(void)
{
    if (S.watcher_started) {
        atomic_store(&S.watcher_quit, true);
        wake_watcher();
        pthread_join(S.watcher, NULL);
        S.watcher_started = false;
    }
    if (S.listen_fd >= 0) {
        close(S.listen_fd);
        S.listen_fd = -1;
    }
    for (int i = 0; i < 2; i++)
        if (S.wake[i] >= 0) {
            close(S.wake[i]);
            S.wake[i] = -1;
        }
    creds_free(atomic_exchange(&S.current, NULL));
    creds_sweep(true);
}

enum ag_result http_start(const struct config *cfg, char *err, size_t errlen)
{
    enum ag_result r = AG_EIO;
    if (S.daemon) {
        snprintf(err, errlen, "the HTTPS server is already running");
        return AG_EINTERNAL;
    }
    S.cfg = cfg;
    atomic_store(&S.stopping, false);
    atomic_store(&S.draining, false);
    atomic_store(&S.watcher_quit, false);
    atomic_store(&S.reload_requested, false);
    atomic_store(&S.inflight, 0);

    S.stamp = tlsfiles_stamp(cfg->tls_cert, cfg->tls_key);
    r = creds_reload("start", err, errlen);
    if (r != AG_OK)
        goto cleanup;
    r = AG_EIO;
    if (pipe2(S.wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        goto cleanup;
    }
    S.listen_fd = open_listener(cfg->listen_host, cfg->listen_port, &S.port, err, errlen);
    if (S.listen_fd < 0)
        goto cleanup;

    /* Threading: epoll with a pool of --threads threads. Measured against one thread per
     * connection with the server pinned to one core (docs/performance.md): the pool answers
     * more requests per second at 16 and 64 connections with half the p99, and its thread
     * count does not grow with idle connections. */
    unsigned flags = MHD_USE_TLS | MHD_USE_ERROR_LOG | MHD_USE_ITC | MHD_USE_EPOLL_INTERNAL_THREAD;
    struct MHD_OptionItem mode_opts[2] = { { MHD_OPTION_END, 0, NULL }, { MHD_OPTION_END, 0, NULL } };
    if (cfg->threads > 1)
        mode_opts[0] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)cfg->threads, NULL };
    S.daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, NULL,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, (void *)NULL,
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket)S.listen_fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->idle_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->connection_memory,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)0,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, (void *)NULL,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, (void *)NULL,
        MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES,
        MHD_OPTION_HTTPS_CERT_CALLBACK, cert_callback,
        MHD_OPTION_ARRAY, mode_opts,
        MHD_OPTION_END);
    if (!S.daemon) {
        snprintf(err, errlen, "cannot start the HTTPS server on %s:%u (see the libmicrohttpd message above)",
                 cfg->listen_host, (unsigned)cfg->listen_port);
        goto cleanup;
    }
    if (pthread_create(&S.watcher, NULL, watcher_main, NULL) != 0) {
        snprintf(err, errlen, "cannot start the certificate watcher thread");
        goto cleanup;
    }
    S.watcher_started = true;
    r = AG_OK;
cleanup:
    if (r != AG_OK) {
        if (S.daemon) {
            MHD_stop_daemon(S.daemon);      /* closes the listen socket it was given */
            S.daemon = NULL;
            S.listen_fd = -1;
        }
        teardown();
    }
    return r;
}

void http_begin_drain(void)
{
    atomic_store(&S.draining, true);
}

void http_stop(unsigned grace_ms)
{
    if (!S.daemon)
        return;
    atomic_store(&S.stopping, true);
    MHD_socket fd = MHD_quiesce_daemon(S.daemon);
    if (fd != MHD_INVALID_SOCKET) {
        close(fd);
        S.listen_fd = -1;
    }
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    long waited_ms = 0;
    while (atomic_load(&S.inflight) > 0 && waited_ms < (long)grace_ms) {
        struct timespec ts = { 0, 5 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        waited_ms = (long)(elapsed_s(&start) * 1000);
    }
    long left = atomic_load(&S.inflight);
    if (left > 0)
        log_warn("shutdown grace of %u ms expired with %ld requests in flight", grace_ms, left);
    MHD_stop_daemon(S.daemon);
    S.daemon = NULL;
    if (fd == MHD_INVALID_SOCKET)
        S.listen_fd = -1;                   /* MHD_stop_daemon closed it */
    teardown();
}
