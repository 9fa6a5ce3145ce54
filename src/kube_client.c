/* kube_client.c - HTTPS requests to kube-apiserver on libcurl (OpenSSL): one easy handle and
 * one multi handle per client, TLS 1.2+ with the peer and host always verified, bearer tokens
 * (static, or re-read from a file when it changes), whole GETs with a body limit, and streaming
 * GETs split into lines. Transfers run in a curl_multi loop polled every 100 ms so a stop flag
 * and an idle timeout are noticed even while no byte arrives. Config loading is kubeconfig.c. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include "kube_client.h"
#include "clock.h"
#include "mem.h"
#include "version.h"

#define KC_TOKEN_MAX (64u << 10)          /* a token file larger than this is refused */
#define KC_ERRBODY_MAX (64u << 10)        /* the body of a non-2xx answer to a stream */
#define KC_POLL_MS 100                    /* how often a transfer looks at *stop and the idle clock */
#define KC_CONNECT_TIMEOUT_MS 10000L

struct kube_client {
    CURL *easy;
    CURLM *multi;
    char *server;
    char *token;                /* the bearer token in use (static or last read from token_file) */
    char *token_file;
    struct stat token_st;       /* identity of the token file when last read */
    bool token_st_valid;
    struct curl_slist *headers;
    const char *req_ctype;      /* kube_client_request: the body's Content-Type while it runs */
    struct curl_slist *req_headers;     /* headers + Content-Type, built by begin() for it */
    char errbuf[CURL_ERROR_SIZE];
};

static pthread_once_t kc_once = PTHREAD_ONCE_INIT;
static CURLcode kc_global_rc = CURLE_FAILED_INIT;

static void kc_global_init(void)
{
    kc_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- headers and the bearer token ---- */

static enum ag_result build_headers(struct kube_client *c, char *err, size_t errlen)
{
    enum ag_result r = AG_ENOMEM;
    char *auth = NULL;
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
    if (!h)
        goto cleanup;
    if (c->token) {
        size_t n = strlen(c->token) + sizeof "Authorization: Bearer ";
        auth = mem_malloc(n);
        if (!auth)
            goto cleanup;
        snprintf(auth, n, "Authorization: Bearer %s", c->token);
        struct curl_slist *h2 = curl_slist_append(h, auth);
        if (!h2)
            goto cleanup;
        h = h2;
    }
    curl_slist_free_all(c->headers);
    c->headers = h;
    h = NULL;
    r = AG_OK;
cleanup:
    if (r != AG_OK)
        snprintf(err, errlen, "out of memory");
    curl_slist_free_all(h);
    if (auth) {
        memset(auth, 0, strlen(auth));
        mem_free(auth);
    }
    return r;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Read the token file into a new mem_malloc'd string (whitespace trimmed). */
static enum ag_result read_token(const char *path, struct stat *st, char **out, char *err, size_t errlen)
{
    enum ag_result r = AG_EIO;
    char *buf = NULL;
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "token file %s: %s", path, strerror(errno));
        return AG_EIO;
    }
    if (fstat(fd, st) != 0) {
        snprintf(err, errlen, "token file %s: %s", path, strerror(errno));
        goto cleanup;
    }
    if (!S_ISREG(st->st_mode) || st->st_size > (off_t)KC_TOKEN_MAX) {
        snprintf(err, errlen, "token file %s is not a file of at most 64 KiB", path);
        r = AG_EINVAL;
        goto cleanup;
    }
    buf = mem_malloc(KC_TOKEN_MAX + 1);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        r = AG_ENOMEM;
        goto cleanup;
    }
    size_t n = 0;
    for (;;) {
        ssize_t got = read(fd, buf + n, KC_TOKEN_MAX - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            snprintf(err, errlen, "token file %s: %s", path, strerror(errno));
            goto cleanup;
        }
        if (got == 0 || (n += (size_t)got) == KC_TOKEN_MAX)
            break;
    }
    size_t b = 0;
    while (b < n && (buf[b] == ' ' || buf[b] == '\t' || buf[b] == '\n' || buf[b] == '\r'))
        b++;
    while (n > b && (buf[n - 1] == ' ' || buf[n - 1] == '\t' || buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (n == b) {
        snprintf(err, errlen, "token file %s is empty", path);
        r = AG_EINVAL;
        goto cleanup;
    }
    for (size_t i = b; i < n; i++) {
        unsigned char ch = (unsigned char)buf[i];
        if (ch < 0x21 || ch == 0x7f) {
            snprintf(err, errlen, "token file %s holds a space or control character", path);
            r = AG_EINVAL;
            goto cleanup;
        }
    }
    *out = mem_strndup(buf + b, n - b);
    if (!*out) {
        snprintf(err, errlen, "out of memory");
        r = AG_ENOMEM;
        goto cleanup;
    }
    r = AG_OK;
cleanup:
    if (buf) {
        memset(buf, 0, n);
        mem_free(buf);
    }
    close(fd);
    return r;
}

/* Before each request: re-read the token file when it changed. A file that cannot be read
 * (in the middle of a rotation) keeps the last good token; with none, the request fails. */
static enum ag_result refresh_token(struct kube_client *c, char *err, size_t errlen)
{
    if (!c->token_file)
        return AG_OK;
    struct stat st;
    if (c->token_st_valid && stat(c->token_file, &st) == 0 && same_file(&st, &c->token_st))
        return AG_OK;
    char *tok = NULL;
    char why[512];
    enum ag_result r = read_token(c->token_file, &st, &tok, why, sizeof why);
    if (r != AG_OK) {
        if (c->token && r != AG_ENOMEM)
            return AG_OK;
        snprintf(err, errlen, "%s", why);
        return r == AG_ENOMEM ? r : AG_EIO;
    }
    char *old = c->token;
    c->token = tok;
    r = build_headers(c, err, errlen);
    if (r != AG_OK) {
        c->token = old;
        mem_free(tok);
        return r;
    }
    if (old) {
        memset(old, 0, strlen(old));
        mem_free(old);
    }
    c->token_st = st;
    c->token_st_valid = true;
    return AG_OK;
}

/* ---- the client ---- */

void kube_client_free(struct kube_client *c)
{
    if (!c)
        return;
    if (c->multi)
        curl_multi_cleanup(c->multi);
    if (c->easy)
        curl_easy_cleanup(c->easy);
    curl_slist_free_all(c->headers);
    if (c->token) {
        memset(c->token, 0, strlen(c->token));
        mem_free(c->token);
    }
    mem_free(c->token_file);
    mem_free(c->server);
    mem_free(c);
}

#define SETOPT(opt, val)                                                                          \
    do {                                                                                          \
        CURLcode rc_ = curl_easy_setopt(c->easy, (opt), (val));                                   \
        if (rc_ != CURLE_OK) {                                                                    \
            snprintf(err, errlen, "libcurl refuses %s: %s", #opt, curl_easy_strerror(rc_));       \
            goto cleanup;                                                                         \
        }                                                                                         \
    } while (0)

static bool blob_opt(CURL *h, CURLoption opt, const char *data, size_t len)
{
    struct curl_blob b = { .data = (void *)(uintptr_t)data, .len = len, .flags = CURL_BLOB_COPY };
    return curl_easy_setopt(h, opt, &b) == CURLE_OK;
}

struct kube_client *kube_client_new(const struct kube_config *cfg, char *err, size_t errlen)
{
    struct kube_client *c = NULL;
    bool ok = false;
    pthread_once(&kc_once, kc_global_init);
    if (kc_global_rc != CURLE_OK) {
        snprintf(err, errlen, "libcurl initialisation failed: %s", curl_easy_strerror(kc_global_rc));
        return NULL;
    }
    if (!cfg || !cfg->server || strncmp(cfg->server, "https://", 8) != 0) {
        snprintf(err, errlen, "the API server must be an https:// URL (got %s)",
                 cfg && cfg->server ? cfg->server : "none");
        return NULL;
    }
    c = mem_calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    size_t n = strlen(cfg->server);
    while (n > 8 && cfg->server[n - 1] == '/')
        n--;
    c->server = mem_strndup(cfg->server, n);
    c->token = mem_strdup(cfg->token);
    c->token_file = cfg->token ? NULL : mem_strdup(cfg->token_file);
    if (!c->server || (cfg->token && !c->token) || (!cfg->token && cfg->token_file && !c->token_file)) {
        snprintf(err, errlen, "out of memory");
        goto cleanup;
    }
    c->easy = curl_easy_init();
    c->multi = curl_multi_init();
    if (!c->easy || !c->multi) {
        snprintf(err, errlen, "libcurl cannot make a handle");
        goto cleanup;
    }
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_ERRORBUFFER, c->errbuf);
    SETOPT(CURLOPT_PROTOCOLS_STR, "https");
    SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    SETOPT(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
    SETOPT(CURLOPT_USERAGENT, "archgate/" ARCHGATE_VERSION);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, KC_CONNECT_TIMEOUT_MS);
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    if (cfg->ca_data || cfg->ca_file) {
        /* Only the cluster's CA: not the system bundle too. */
        SETOPT(CURLOPT_CAPATH, (char *)NULL);
        if (cfg->ca_data) {
            SETOPT(CURLOPT_CAINFO, (char *)NULL);
            if (!blob_opt(c->easy, CURLOPT_CAINFO_BLOB, cfg->ca_data, cfg->ca_len)) {
                snprintf(err, errlen, "libcurl refuses the CA data");
                goto cleanup;
            }
        } else {
            SETOPT(CURLOPT_CAINFO, cfg->ca_file);
        }
    }
    if (cfg->cert_data || cfg->cert_file) {
        SETOPT(CURLOPT_SSLCERTTYPE, "PEM");
        if (cfg->cert_data) {
            if (!blob_opt(c->easy, CURLOPT_SSLCERT_BLOB, cfg->cert_data, cfg->cert_len)) {
                snprintf(err, errlen, "libcurl refuses the client certificate data");
                goto cleanup;
            }
        } else {
            SETOPT(CURLOPT_SSLCERT, cfg->cert_file);
        }
    }
    if (cfg->key_data || cfg->key_file) {
        SETOPT(CURLOPT_SSLKEYTYPE, "PEM");
        if (cfg->key_data) {
            if (!blob_opt(c->easy, CURLOPT_SSLKEY_BLOB, cfg->key_data, cfg->key_len)) {
                snprintf(err, errlen, "libcurl refuses the client key data");
                goto cleanup;
            }
        } else {
            SETOPT(CURLOPT_SSLKEY, cfg->key_file);
        }
    }
    if (build_headers(c, err, errlen) != AG_OK)
        goto cleanup;
    ok = true;
cleanup:
    if (!ok) {
        kube_client_free(c);
        return NULL;
    }
    return c;
}

/* ---- transfers ---- */

struct xfer {
    struct kube_client *c;
    const atomic_bool *stop;
    long idle_ms;               /* 0: no idle limit */
    long long last_ms;          /* when the last byte (header or body) arrived */
    bool stopped, stalled;
};

static size_t header_cb(char *data, size_t size, size_t nmemb, void *arg)
{
    (void)data;
    struct xfer *x = arg;
    x->last_ms = clock_mono_ms();
    return size * nmemb;
}

/* Prepare the per-request options. */
static enum ag_result begin(struct kube_client *c, const char *path, char *url, size_t urllen, char *err,
                            size_t errlen)
{
    if (!path || path[0] != '/') {
        snprintf(err, errlen, "request path \"%s\" does not start with /", path ? path : "(null)");
        return AG_EINVAL;
    }
    int n = snprintf(url, urllen, "%s%s", c->server, path);
    if (n < 0 || (size_t)n >= urllen) {
        snprintf(err, errlen, "request URL too long (%s...)", c->server);
        return AG_EINVAL;
    }
    enum ag_result r = refresh_token(c, err, errlen);
    if (r != AG_OK)
        return r;
    c->errbuf[0] = '\0';
    struct curl_slist *hdrs = c->headers;
    if (c->req_ctype) {
        char ct[160];
        snprintf(ct, sizeof ct, "Content-Type: %s", c->req_ctype);
        curl_slist_free_all(c->req_headers);
        c->req_headers = NULL;
        struct curl_slist *h = NULL, *nh;
        for (const struct curl_slist *i = c->headers; i; i = i->next) {
            if (!(nh = curl_slist_append(h, i->data)))
                break;
            h = nh;
        }
        if (h && (nh = curl_slist_append(h, ct)) != NULL && (h = nh) && (nh = curl_slist_append(h, "Expect:")) != NULL) {
            c->req_headers = nh;
        } else {
            curl_slist_free_all(h);
            snprintf(err, errlen, "%s: out of memory", url);
            return AG_ENOMEM;
        }
        hdrs = c->req_headers;
    }
    if (curl_easy_setopt(c->easy, CURLOPT_URL, url) != CURLE_OK ||
        curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK) {
        snprintf(err, errlen, "GET %s: libcurl refuses the URL", url);
        return AG_EINVAL;
    }
    return AG_OK;
}

/* Run the transfer on the client's multi handle until it completes, *stop is set, or no byte
 * came for x->idle_ms. */
static CURLcode run(struct xfer *x)
{
    struct kube_client *c = x->c;
    CURLcode result = CURLE_OK;
    x->last_ms = clock_mono_ms();
    if (curl_multi_add_handle(c->multi, c->easy) != CURLM_OK)
        return CURLE_FAILED_INIT;
    for (;;) {
        int running = 0;
        CURLMcode mc = curl_multi_perform(c->multi, &running);
        if (mc != CURLM_OK) {
            result = CURLE_FAILED_INIT;
            snprintf(c->errbuf, sizeof c->errbuf, "%s", curl_multi_strerror(mc));
            break;
        }
        bool done = false;
        int queued;
        CURLMsg *m;
        while ((m = curl_multi_info_read(c->multi, &queued)))
            if (m->msg == CURLMSG_DONE) {
                result = m->data.result;
                done = true;
            }
        if (done || running == 0)
            break;
        if (x->stopped || (x->stop && atomic_load(x->stop))) {
            x->stopped = true;
            break;
        }
        if (x->idle_ms > 0 && clock_mono_ms() - x->last_ms >= x->idle_ms) {
            x->stalled = true;
            break;
        }
        mc = curl_multi_poll(c->multi, NULL, 0, KC_POLL_MS, NULL);
        if (mc != CURLM_OK) {
            result = CURLE_FAILED_INIT;
            snprintf(c->errbuf, sizeof c->errbuf, "%s", curl_multi_strerror(mc));
            break;
        }
    }
    curl_multi_remove_handle(c->multi, c->easy);
    return result;
}

static void transport_error(struct kube_client *c, const char *url, CURLcode rc, char *err, size_t errlen)
{
    if (c->errbuf[0] && strcmp(c->errbuf, curl_easy_strerror(rc)) != 0)
        snprintf(err, errlen, "GET %s: %s (%s)", url, curl_easy_strerror(rc), c->errbuf);
    else
        snprintf(err, errlen, "GET %s: %s", url, curl_easy_strerror(rc));
}

/* ---- whole GET ---- */

struct body {
    struct xfer x;
    char *buf;
    size_t len, cap, max;
    bool toobig, nomem;
};

static size_t body_cb(char *data, size_t size, size_t nmemb, void *arg)
{
    struct body *b = arg;
    size_t n = size * nmemb;
    b->x.last_ms = clock_mono_ms();
    if (n > b->max - b->len) {
        b->toobig = true;
        return n ? 0 : 1;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 16384;
        while (cap < b->len + n + 1)
            cap *= 2;
        if (cap > b->max + 1)
            cap = b->max + 1;
        char *nb = mem_realloc(b->buf, cap);
        if (!nb) {
            b->nomem = true;
            return 0;
        }
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, data, n);
    b->len += n;
    b->buf[b->len] = '\0';
    return n;
}

enum ag_result kube_client_get(struct kube_client *c, const char *path, size_t max_body, long timeout_ms,
                               long *status, char **body, size_t *len, char *err, size_t errlen)
{
    enum ag_result r;
    char url[4096];
    struct body b = { .x = { .c = c }, .max = max_body };
    *status = 0;
    *body = NULL;
    if (len)
        *len = 0;
    if ((r = begin(c, path, url, sizeof url, err, errlen)) != AG_OK)
        goto cleanup;
    r = AG_EINVAL;
    if (curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, body_cb) != CURLE_OK ||
        curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, &b) != CURLE_OK ||
        curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, header_cb) != CURLE_OK ||
        curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, &b.x) != CURLE_OK ||
        curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 0L) != CURLE_OK ||
        curl_easy_setopt(c->easy, CURLOPT_ACCEPT_ENCODING, "gzip") != CURLE_OK) {
        snprintf(err, errlen, "GET %s: libcurl refuses an option", url);
        goto cleanup;
    }
    CURLcode rc = run(&b.x);
    if (b.nomem) {
        snprintf(err, errlen, "GET %s: out of memory", url);
        r = AG_ENOMEM;
        goto cleanup;
    }
    if (b.toobig) {
        snprintf(err, errlen, "GET %s: the answer is larger than %zu bytes", url, max_body);
        r = AG_ETOOBIG;
        goto cleanup;
    }
    if (rc != CURLE_OK) {
        transport_error(c, url, rc, err, errlen);
        r = AG_EIO;
        goto cleanup;
    }
    if (!b.buf && !(b.buf = mem_calloc(1, 1))) {
        snprintf(err, errlen, "GET %s: out of memory", url);
        r = AG_ENOMEM;
        goto cleanup;
    }
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, status);
    *body = b.buf;
    b.buf = NULL;
    if (len)
        *len = b.len;
    r = AG_OK;
cleanup:
    mem_free(b.buf);
    return r;
}

enum ag_result kube_client_request(struct kube_client *c, const char *method, const char *path, const char *ctype,
                                   const char *body, size_t body_len, size_t max_body, long timeout_ms, long *status,
                                   char **out, size_t *len, char *err, size_t errlen)
{
    if (!method || strcmp(method, "GET") == 0)
        return kube_client_get(c, path, max_body, timeout_ms, status, out, len, err, errlen);
    enum ag_result r = AG_EINVAL;
    c->req_ctype = ctype ? ctype : "application/json";
    if (curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK ||
        (body && (curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len) != CURLE_OK ||
                  curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, body) != CURLE_OK))) {
        snprintf(err, errlen, "%s %s: libcurl refuses an option", method, path);
        *status = 0;
        *out = NULL;
    } else {
        r = kube_client_get(c, path, max_body, timeout_ms, status, out, len, err, errlen);
    }
    /* back to plain GETs for the next request on this handle */
    c->req_ctype = NULL;
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, (char *)NULL);
    curl_easy_setopt(c->easy, CURLOPT_HTTPGET, 1L);
    curl_slist_free_all(c->req_headers);
    c->req_headers = NULL;
    return r;
}

/* ---- streaming GET ---- */

struct stream {
    struct xfer x;
    kube_line_fn fn;
    void *arg;
    size_t max_line;
    char *line;
    size_t len, cap;
    long status;                /* 0 until the first body byte */
    bool error_body;            /* a non-2xx answer: collect, do not split */
    bool toobig, nomem, ended;  /* ended: fn returned false, or the error body is full */
};

static bool line_append(struct stream *s, const char *data, size_t n, size_t limit)
{
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n + 1)
            cap *= 2;
        if (cap > limit + 1)
            cap = limit + 1;
        char *nb = mem_realloc(s->line, cap);
        if (!nb) {
            s->nomem = true;
            return false;
        }
        s->line = nb;
        s->cap = cap;
    }
    memcpy(s->line + s->len, data, n);
    s->len += n;
    s->line[s->len] = '\0';
    return true;
}

/* Hand the buffered line to fn (empty lines are skipped). False: stop the transfer. */
static bool line_emit(struct stream *s)
{
    if (s->len && s->line[s->len - 1] == '\r')
        s->line[--s->len] = '\0';
    size_t n = s->len;
    s->len = 0;
    if (n == 0)
        return true;
    if (!s->fn(s->arg, s->line, n)) {
        s->ended = true;
        return false;
    }
    return true;
}

static size_t stream_cb(char *data, size_t size, size_t nmemb, void *arg)
{
    struct stream *s = arg;
    size_t n = size * nmemb;
    s->x.last_ms = clock_mono_ms();
    if (s->x.stop && atomic_load(s->x.stop)) {
        s->x.stopped = true;
        return 0;
    }
    if (s->status == 0) {
        curl_easy_getinfo(s->x.c->easy, CURLINFO_RESPONSE_CODE, &s->status);
        s->error_body = s->status < 200 || s->status > 299;
    }
    if (s->error_body) {
        size_t room = KC_ERRBODY_MAX - s->len;
        size_t take = n < room ? n : room;
        if (take && !line_append(s, data, take, KC_ERRBODY_MAX))
            return 0;
        if (s->len == KC_ERRBODY_MAX) {
            s->ended = true;
            return 0;
        }
        return n;
    }
    size_t off = 0;
    while (off < n) {
        const char *nl = memchr(data + off, '\n', n - off);
        size_t seg = nl ? (size_t)(nl - (data + off)) : n - off;
        if (seg > s->max_line - s->len) {
            s->toobig = true;
            return 0;
        }
        if (seg && !line_append(s, data + off, seg, s->max_line))
            return 0;
        off += seg;
        if (nl) {
            off++;
            if (!line_emit(s))
                return 0;
        }
    }
    return n;
}

enum ag_result kube_client_stream(struct kube_client *c, const char *path, size_t max_line, long idle_timeout_ms,
                                  const atomic_bool *stop, kube_line_fn fn, void *arg, long *status,
                                  char *err, size_t errlen)
{
    enum ag_result r;
    char url[4096];
    struct stream s = { .x = { .c = c, .stop = stop, .idle_ms = idle_timeout_ms }, .fn = fn, .arg = arg,
                        .max_line = max_line };
    *status = 0;
    if (stop && atomic_load(stop))
        return AG_OK;
    if ((r = begin(c, path, url, sizeof url, err, errlen)) != AG_OK)
        goto cleanup;
    r = AG_EINVAL;
    if (curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, stream_cb) != CURLE_OK ||
        curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, &s) != CURLE_OK ||
        curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, header_cb) != CURLE_OK ||
        curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, &s.x) != CURLE_OK ||
        curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, 0L) != CURLE_OK ||
        curl_easy_setopt(c->easy, CURLOPT_ACCEPT_ENCODING, (char *)NULL) != CURLE_OK) {
        snprintf(err, errlen, "GET %s: libcurl refuses an option", url);
        goto cleanup;
    }
    CURLcode rc = run(&s.x);
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, status);
    if (s.nomem) {
        snprintf(err, errlen, "GET %s: out of memory", url);
        r = AG_ENOMEM;
        goto cleanup;
    }
    if (s.toobig) {
        snprintf(err, errlen, "GET %s: a line of the stream is longer than %zu bytes", url, max_line);
        r = AG_ETOOBIG;
        goto cleanup;
    }
    if (s.x.stopped) {
        r = AG_OK;
        goto cleanup;
    }
    if (s.x.stalled) {
        snprintf(err, errlen, "GET %s: stalled: no data for %ld ms", url, idle_timeout_ms);
        r = AG_EIO;
        goto cleanup;
    }
    if (s.error_body || (rc == CURLE_OK && (*status < 200 || *status > 299))) {
        if (rc != CURLE_OK && !s.ended) {
            transport_error(c, url, rc, err, errlen);
            r = AG_EIO;
            goto cleanup;
        }
        if (!s.line && !(s.line = mem_calloc(1, 1))) {
            snprintf(err, errlen, "GET %s: out of memory", url);
            r = AG_ENOMEM;
            goto cleanup;
        }
        fn(arg, s.line, s.len);
        r = AG_OK;
        goto cleanup;
    }
    if (s.ended) {
        r = AG_OK;
        goto cleanup;
    }
    if (rc != CURLE_OK) {
        transport_error(c, url, rc, err, errlen);
        r = AG_EIO;
        goto cleanup;
    }
    line_emit(&s);   /* a last line without its "\n" */
    r = AG_OK;
cleanup:
    mem_free(s.line);
    return r;
}
