/* loadutil.c - shared by the soak and fault programs: /proc sampling, latency samples, the sample
 * reviews with their expected answers, a raw non-blocking OpenSSL client, server start-up. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/err.h>
#include "loadutil.h"
#include "mem.h"
#include "testutil.h"

/* The integration helpers' globals (tests/itest.h), set by lu_setup. */
char itest_dir[256];
char itest_base[300];

#define UID_MARK "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@"   /* LU_UID_LEN characters */
#define MAX_RESPONSE (1024 * 1024)

double lu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void lu_sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

long lu_rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            char *end = NULL;
            long v = strtol(line + 6, &end, 10);
            if (end != line + 6)
                kb = v;
            break;
        }
    }
    fclose(f);
    return kb;
}

long lu_fd_count(pid_t pid)
{
    char path[64];
    long n = 0;
    snprintf(path, sizeof path, "/proc/%ld/fd", (long)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    for (struct dirent *e = readdir(d); e; e = readdir(d))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

long lu_raise_nofile(long want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if ((long)rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || (long)rl.rlim_max >= want ? (rlim_t)want : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            return -1;
    }
    return (long)rl.rlim_cur;
}

/* ---- latency ---------------------------------------------------------------------------- */

bool lu_lat_init(struct lu_lat *l, size_t cap)
{
    memset(l, 0, sizeof *l);
    l->v = mem_calloc(cap, sizeof *l->v);
    l->cap = l->v ? cap : 0;
    return l->v && pthread_mutex_init(&l->mu, NULL) == 0;
}

void lu_lat_add(struct lu_lat *l, double s)
{
    pthread_mutex_lock(&l->mu);
    if (l->n < l->cap)
        l->v[l->n++] = s;
    pthread_mutex_unlock(&l->mu);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double lu_lat_pct(struct lu_lat *l, double pct)
{
    double v = 0;
    pthread_mutex_lock(&l->mu);
    if (l->n > 0) {
        qsort(l->v, l->n, sizeof *l->v, cmp_double);
        size_t i = (size_t)(pct / 100.0 * (double)(l->n - 1) + 0.5);
        v = l->v[i < l->n ? i : l->n - 1];
    }
    pthread_mutex_unlock(&l->mu);
    return v;
}

void lu_lat_free(struct lu_lat *l)
{
    mem_free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
    pthread_mutex_destroy(&l->mu);
}

/* ---- reviews ---------------------------------------------------------------------------- */

/* The expected answer of `archgate review` for file on endpoint. */
static bool expected_answer(struct lu_review *r, const char *file, const char *cluster, bool mutate)
{
    static char out[1 << 17], err[4096];
    const char *args[] = { "review", "--cluster-state", cluster, mutate ? "--mutate" : NULL, NULL };
    bool ok = false;
    if (itest_run_stdin(args, file, out, sizeof out, err, sizeof err) != 0)
        return false;
    cJSON *j = tu_parse(out);
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(j, "response");
    const cJSON *allowed = cJSON_GetObjectItemCaseSensitive(resp, "allowed");
    const char *patch = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(resp, "patch"));
    if (cJSON_IsBool(allowed)) {
        r->allowed = cJSON_IsTrue(allowed);
        r->patch = patch ? mem_strdup(patch) : NULL;
        ok = !patch || r->patch;
    }
    cJSON_Delete(j);
    return ok;
}

static bool make_template(struct lu_review *r, const char *file)
{
    cJSON *j = tu_load_json(file);
    cJSON *req = cJSON_GetObjectItemCaseSensitive(j, "request");
    bool ok = false;
    if (req && cJSON_ReplaceItemInObjectCaseSensitive(req, "uid", cJSON_CreateString(UID_MARK))) {
        char *txt = cJSON_PrintUnformatted(j);
        const char *at = txt ? strstr(txt, UID_MARK) : NULL;
        if (at) {
            r->uid_off = (size_t)(at - txt);
            r->len = strlen(txt);
            r->body = mem_strdup(txt);
            ok = r->body != NULL;
        }
        cJSON_free(txt);
    }
    cJSON_Delete(j);
    return ok;
}

size_t lu_reviews_load(struct lu_review *out, size_t max, const char *cluster)
{
    glob_t g;
    size_t n = 0;
    if (glob(LU_SAMPLES "/reviews/*.json", 0, NULL, &g) != 0)
        return 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        for (int m = 0; m < 2 && n < max; m++) {
            struct lu_review *r = &out[n];
            memset(r, 0, sizeof *r);
            const char *base = strrchr(g.gl_pathv[i], '/');
            base = base ? base + 1 : g.gl_pathv[i];
            r->path = m ? "/mutate" : "/validate";
            snprintf(r->name, sizeof r->name, "%.*s %s", (int)(strlen(base) - 5), base, r->path);
            if (!make_template(r, g.gl_pathv[i]) || !expected_answer(r, g.gl_pathv[i], cluster, m == 1)) {
                fprintf(stderr, "load: cannot prepare %s\n", r->name);
                lu_reviews_free(out, n + 1);
                globfree(&g);
                return 0;
            }
            n++;
        }
    }
    globfree(&g);
    return n;
}

void lu_reviews_free(struct lu_review *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        mem_free(r[i].body);
        mem_free(r[i].patch);
        r[i].body = r[i].patch = NULL;
    }
}

char *lu_review_body(const struct lu_review *r, unsigned tag, unsigned long counter, char *uid, size_t uidlen)
{
    char u[LU_UID_LEN + 8];
    snprintf(u, sizeof u, "s%02u-%032lu", tag % 100, counter);
    char *b = mem_malloc(r->len + 1);
    if (!b)
        return NULL;
    memcpy(b, r->body, r->len + 1);
    memcpy(b + r->uid_off, u, LU_UID_LEN);
    snprintf(uid, uidlen, "%.*s", LU_UID_LEN, u);
    return b;
}

bool lu_answer_ok(const struct lu_review *r, const char *uid, const char *body, bool *stale)
{
    cJSON *j = tu_parse(body);
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(j, "response");
    const char *u = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(resp, "uid"));
    const cJSON *allowed = cJSON_GetObjectItemCaseSensitive(resp, "allowed");
    const char *patch = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(resp, "patch"));
    bool ok = u && strcmp(u, uid) == 0 && cJSON_IsBool(allowed) && cJSON_IsTrue(allowed) == r->allowed &&
              ((!patch && !r->patch) || (patch && r->patch && strcmp(patch, r->patch) == 0));
    if (stale) {
        *stale = false;
        const cJSON *w;
        cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(resp, "warnings")) {
            const char *s = cJSON_GetStringValue(w);
            if (s && strstr(s, "view of the cluster"))
                *stale = true;
        }
    }
    cJSON_Delete(j);
    return ok;
}

/* ---- raw TLS ---------------------------------------------------------------------------- */

SSL_CTX *lu_tls_ctx(const char *ca_file)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return NULL;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* Wait for the SSL call's wish (read or write) until deadline; false on timeout. */
static bool tls_wait(struct lu_tls *c, int sslerr, double deadline)
{
    struct pollfd p = { c->fd, sslerr == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, 0 };
    double left = deadline - lu_now();
    if (left <= 0)
        return false;
    return poll(&p, 1, (int)(left * 1000) + 1) > 0;
}

bool lu_tls_open(struct lu_tls *c, SSL_CTX *ctx, unsigned short port, long timeout_ms)
{
    double deadline = lu_now() + (double)timeout_ms / 1000.0;
    struct sockaddr_in sa;
    memset(c, 0, sizeof *c);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return false;
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (errno != EINPROGRESS || !tls_wait(c, SSL_ERROR_WANT_WRITE, deadline) ||
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0)
            goto fail;
    }
    c->ssl = SSL_new(ctx);
    if (!c->ssl || !SSL_set_fd(c->ssl, c->fd) || !SSL_set1_host(c->ssl, "127.0.0.1"))
        goto fail;
    for (;;) {
        int rc = SSL_connect(c->ssl);
        if (rc == 1)
            return true;
        int e = SSL_get_error(c->ssl, rc);
        if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) || !tls_wait(c, e, deadline))
            goto fail;
    }
fail:
    ERR_clear_error();
    lu_tls_close(c);
    return false;
}

void lu_tls_close(struct lu_tls *c)
{
    if (c->ssl)
        SSL_free(c->ssl);
    if (c->fd >= 0)
        close(c->fd);
    c->ssl = NULL;
    c->fd = -1;
}

bool lu_tls_write(struct lu_tls *c, const void *buf, size_t len)
{
    double deadline = lu_now() + 10;
    const char *p = buf;
    while (len > 0) {
        int n = SSL_write(c->ssl, p, len > 16384 ? 16384 : (int)len);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) || !tls_wait(c, e, deadline)) {
            ERR_clear_error();
            return false;
        }
    }
    return true;
}

/* Read what is there (up to room) before the deadline: bytes read, 0 on close, -1 on error or
 * timeout. */
static long tls_read(struct lu_tls *c, char *buf, size_t room, double deadline)
{
    for (;;) {
        int n = SSL_read(c->ssl, buf, room > 65536 ? 65536 : (int)room);
        if (n > 0)
            return n;
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_ZERO_RETURN) {
            ERR_clear_error();
            return 0;
        }
        if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && (errno == 0 || errno == ECONNRESET)) {
            ERR_clear_error();
            return 0;   /* EOF without close_notify, or a reset: closed */
        }
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            ERR_clear_error();
            return 0;   /* a TLS error on the way in: the connection is gone */
        }
        if (!tls_wait(c, e, deadline))
            return -1;
    }
}

bool lu_tls_response(struct lu_tls *c, long timeout_ms, int *status, char **body)
{
    double deadline = lu_now() + (double)timeout_ms / 1000.0;
    size_t cap = 8192, len = 0;
    char *buf = mem_malloc(cap);
    bool ok = false;
    *body = NULL;
    *status = 0;
    if (!buf)
        return false;
    const char *eoh = NULL;
    long clen = -1;
    for (;;) {
        if (!eoh) {
            buf[len] = '\0';
            const char *e = strstr(buf, "\r\n\r\n");
            if (e) {
                eoh = e + 4;
                char *st_end = NULL;
                long st = strncmp(buf, "HTTP/1.", 7) == 0 && buf[8] == ' ' ? strtol(buf + 9, &st_end, 10) : 0;
                if (!st_end || st_end != buf + 12 || st < 100 || st > 599)
                    goto cleanup;
                *status = (int)st;
                for (const char *l = buf; l && l < eoh; l = strstr(l, "\r\n"), l = l ? l + 2 : NULL) {
                    if (strncasecmp(l, "Content-Length:", 15) == 0) {
                        char *end = NULL;
                        clen = strtol(l + 15, &end, 10);
                        if (end == l + 15 || clen < 0 || clen > MAX_RESPONSE)
                            goto cleanup;
                    }
                }
                if (clen < 0)
                    goto cleanup;       /* every answer of archgate has a Content-Length */
            }
        }
        if (eoh && len - (size_t)(eoh - buf) >= (size_t)clen)
            break;
        if (len + 1 >= cap) {
            if (cap >= MAX_RESPONSE * 2)
                goto cleanup;
            size_t off = eoh ? (size_t)(eoh - buf) : 0;
            char *nb = mem_realloc(buf, cap * 2);
            if (!nb)
                goto cleanup;
            buf = nb;
            cap *= 2;
            eoh = eoh ? buf + off : NULL;
        }
        long n = tls_read(c, buf + len, cap - len - 1, deadline);
        if (n <= 0)
            goto cleanup;
        len += (size_t)n;
    }
    *body = mem_strndup(eoh, (size_t)clen);
    ok = *body != NULL;
cleanup:
    mem_free(buf);
    return ok;
}

bool lu_tls_closed(struct lu_tls *c, long wait_ms)
{
    char b[4096];
    double deadline = lu_now() + (double)wait_ms / 1000.0;
    for (;;) {
        long n = tls_read(c, b, sizeof b, deadline);
        if (n == 0)
            return true;
        if (n < 0)
            return false;
        /* data (an answer): keep reading until close or the deadline */
    }
}

/* ---- server and set-up ------------------------------------------------------------------ */

bool lu_server_start(struct server *s, const char *cert, const char *key, const char *cluster,
                     const char *const *extra)
{
    char crt[600], k[600];
    itest_path(crt, sizeof crt, itest_base, "tls.crt");
    itest_path(k, sizeof k, itest_base, "tls.key");
    const char *args[48] = { "serve", "--listen", "127.0.0.1:0", "--tls-cert", cert ? cert : crt,
                             "--tls-key", key ? key : k };
    size_t n = 7;
    if (cluster) {
        args[n++] = "--cluster-state";
        args[n++] = cluster;
    }
    for (size_t i = 0; extra && extra[i] && n < 47; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    return server_launch(s, args, true);
}

bool lu_setup(const char *prefix)
{
    testutil_init();
    signal(SIGPIPE, SIG_IGN);
    if (access("build/archgate", X_OK) != 0 && !getenv("ARCHGATE_BIN")) {
        fprintf(stderr, "%s: build/archgate not found (run from the repository root after make)\n", prefix);
        return false;
    }
    snprintf(itest_dir, sizeof itest_dir, "/tmp/archgate-%s.XXXXXX", prefix);
    if (!mkdtemp(itest_dir)) {
        perror("mkdtemp");
        return false;
    }
    snprintf(itest_base, sizeof itest_base, "%s/base", itest_dir);
    if (!itest_gen_certs(itest_base, "")) {
        fprintf(stderr, "%s: certs/gen-certs.sh failed\n", prefix);
        return false;
    }
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

void lu_teardown(bool keep)
{
    curl_global_cleanup();
    if (keep)
        fprintf(stderr, "logs and certificates kept in %s\n", itest_dir);
    else
        tu_rmtree(itest_dir);
}
