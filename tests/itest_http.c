/* itest_http.c - integration: routes, status codes, body limits, keep-alive, concurrency and
 * TLS versions of the real server (one server for the suite, --max-body 64KiB). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "itest.h"
#include "mem.h"
#include "unit.h"

#define MAX_BODY (64 * 1024)

static struct server srv;

static int suite_init(void)
{
    char cert[600], key[600];
    itest_path(cert, sizeof cert, itest_base, "tls.crt");
    itest_path(key, sizeof key, itest_base, "tls.key");
    const char *extra[] = { "--max-body", "64KiB", "--threads", "2", NULL };
    return server_start(&srv, cert, key, extra) ? 0 : 1;
}

static int suite_cleanup(void)
{
    return server_stop(&srv, SIGTERM, NULL) == 0 ? 0 : 1;
}

static long get_status(const char *method, const char *path, const char *ctype, const char *body,
                       struct reply *r)
{
    CURL *h = client_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    https(h, srv.port, method, path, ctype, body, body ? strlen(body) : 0, r);
    curl_easy_cleanup(h);
    CU_ASSERT_EQUAL(r->rc, CURLE_OK);
    return r->status;
}

static void test_probes(void)
{
    struct reply r;
    CU_ASSERT_EQUAL(get_status("GET", "/healthz", NULL, NULL, &r), 200);
    CU_ASSERT_STRING_EQUAL(r.body, "ok\n");
    reply_free(&r);
    CU_ASSERT_EQUAL(get_status("HEAD", "/healthz", NULL, NULL, &r), 200);
    CU_ASSERT_EQUAL(r.len, 0);
    reply_free(&r);
    CU_ASSERT_EQUAL(get_status("GET", "/readyz?verbose=1", NULL, NULL, &r), 200);
    CU_ASSERT_STRING_EQUAL(r.body, "ok\n");
    reply_free(&r);
    CU_ASSERT_EQUAL(get_status("GET", "/metrics", NULL, NULL, &r), 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.ctype, "text/plain; version=0.0.4"));
    CU_ASSERT(metric_value(r.body, "archgate_build_info{version=\"0.1.0\"}") == 1);
    CU_ASSERT(metric_value(r.body, "archgate_certificate_expiry_seconds") > 300 * 86400);
    reply_free(&r);
}

static void test_not_found_and_methods(void)
{
    struct reply r;
    CU_ASSERT_EQUAL(get_status("GET", "/", NULL, NULL, &r), 404);
    reply_free(&r);
    CU_ASSERT_EQUAL(get_status("POST", "/validate/extra", "application/json", "{}", &r), 404);
    reply_free(&r);
    CU_ASSERT_EQUAL(get_status("GET", "/validate", NULL, NULL, &r), 405);
    CU_ASSERT_STRING_EQUAL(r.allow, "POST");
    reply_free(&r);
    CU_ASSERT_EQUAL(get_status("PUT", "/mutate", "application/json", "{}", &r), 405);
    CU_ASSERT_STRING_EQUAL(r.allow, "POST");
    reply_free(&r);
    CU_ASSERT_EQUAL(get_status("POST", "/healthz", "application/json", "{}", &r), 405);
    CU_ASSERT_STRING_EQUAL(r.allow, "GET, HEAD");
    reply_free(&r);
    CU_ASSERT_EQUAL(get_status("DELETE", "/metrics", NULL, NULL, &r), 405);
    reply_free(&r);
}

static void test_bad_requests(void)
{
    struct reply r;
    size_t len;
    char *review = review_with_uid("bad-ct", &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(review);
    CU_ASSERT_EQUAL(get_status("POST", "/validate", "text/plain", review, &r), 400);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.ctype, "text/plain"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "Content-Type"));
    reply_free(&r);
    CU_ASSERT_EQUAL(get_status("POST", "/validate", NULL, review, &r), 400);
    reply_free(&r);
    CU_ASSERT_EQUAL(get_status("POST", "/validate", "application/jsonx", review, &r), 400);
    reply_free(&r);
    mem_free(review);
    CU_ASSERT_EQUAL(get_status("POST", "/validate", "application/json", "", &r), 400);
    CU_ASSERT(r.len > 0 && r.body[r.len - 1] == '\n' && strchr(r.body, '\n') == r.body + r.len - 1);
    reply_free(&r);
    CU_ASSERT_EQUAL(get_status("POST", "/mutate", "application/json", "not json", &r), 400);
    reply_free(&r);
    CU_ASSERT_EQUAL(get_status("POST", "/validate", "application/json",
                               "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}", &r), 400);
    reply_free(&r);
}

static void test_review_uid_echo(void)
{
    struct reply r;
    size_t len;
    char *review = review_with_uid("uid-echo-1", &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(review);
    CU_ASSERT_EQUAL(get_status("POST", "/validate?timeout=10s", "application/json; charset=utf-8", review, &r), 200);
    CU_ASSERT_STRING_EQUAL(r.ctype, "application/json");
    CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "\"uid\":\"uid-echo-1\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "\"allowed\":false"));
    reply_free(&r);
    CU_ASSERT_EQUAL(get_status("POST", "/mutate?timeout=10s", "application/json", review, &r), 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "\"uid\":\"uid-echo-1\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "\"allowed\":true"));
    reply_free(&r);
    mem_free(review);
}

/* A body that is JSON-shaped padding: the limit must trigger before any parsing. */
static char *big_body(size_t n)
{
    char *b = mem_malloc(n + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    memset(b, ' ', n);
    b[0] = '{';
    b[n - 1] = '}';
    b[n] = '\0';
    return b;
}

static void test_body_limit(void)
{
    CURL *h = client_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    struct reply r;
    double before = server_metric(&srv, "archgate_http_requests_total{endpoint=\"validate\",code=\"413\"}");
    if (before < 0)
        before = 0;
    char *body = big_body(MAX_BODY + 40000);
    /* Content-Length over the limit, uploaded anyway: 413, not a reset. */
    CU_ASSERT(https(h, srv.port, "POST", "/validate", "application/json", body, MAX_BODY + 40000, &r));
    CU_ASSERT_EQUAL(r.status, 413);
    reply_free(&r);
    /* Chunked, no length announced: counted while it arrives. */
    CU_ASSERT(https_ex(h, srv.port, "POST", "/validate", "application/json", body, MAX_BODY + 40000, true, 0,
                       false, &r));
    CU_ASSERT_EQUAL(r.status, 413);
    reply_free(&r);
    /* Exactly at the limit is not too big (400: not a review). */
    CU_ASSERT(https(h, srv.port, "POST", "/validate", "application/json", body, MAX_BODY, &r));
    CU_ASSERT_EQUAL(r.status, 400);
    reply_free(&r);
    CU_ASSERT(https_ex(h, srv.port, "POST", "/mutate", "application/json", body, MAX_BODY + 1, true, 0, false, &r));
    CU_ASSERT_EQUAL(r.status, 413);
    reply_free(&r);
    mem_free(body);
    curl_easy_cleanup(h);
    double after = server_metric(&srv, "archgate_http_requests_total{endpoint=\"validate\",code=\"413\"}");
    CU_ASSERT(after - before == 2);
}

/* A chunked upload of `total` bytes of JSON-shaped padding, made as it is sent (nothing held in
 * memory), with or without "Expect: 100-continue". */
struct padding { size_t total, sent; };

static size_t read_padding(char *buf, size_t size, size_t nitems, void *arg)
{
    struct padding *p = arg;
    size_t n = size * nitems;
    if (n > p->total - p->sent)
        n = p->total - p->sent;
    memset(buf, ' ', n);
    if (p->sent == 0 && n)
        buf[0] = '{';
    p->sent += n;
    return n;
}

static CURLcode chunked_padding(CURL *h, size_t total, bool expect, long *status, curl_off_t *sent)
{
    char url[128];
    snprintf(url, sizeof url, "https://127.0.0.1:%u/validate", (unsigned)srv.port);
    struct padding p = { total, 0 };
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    hdr = curl_slist_append(hdr, "Transfer-Encoding: chunked");
    hdr = curl_slist_append(hdr, expect ? "Expect: 100-continue" : "Expect:");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_padding);
    curl_easy_setopt(h, CURLOPT_READDATA, &p);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
    CURLcode rc = curl_easy_perform(h);
    *status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, sent);
    curl_slist_free_all(hdr);
    return rc;
}

static size_t drop_body(char *d, size_t s, size_t n, void *a)
{
    (void)d;
    (void)a;
    return s * n;
}

/* A chunked body far over --max-body: libmicrohttpd cannot answer before the body ends, so the
 * server reads and drops it (storing nothing) and answers 413 at its end, up to 64 MiB past the
 * limit; beyond that it closes the connection and the client gets no answer. */
static void test_chunked_far_over_limit(void)
{
    static const struct { size_t over; bool expect; bool answered; } cases[] = {
        { 2u << 20, false, true },              /* the old cut-off was 1 MiB past the limit */
        { 2u << 20, true, true },
        { 20u << 20, false, true },
        { (64u << 20) - 4096, false, true },
        { (64u << 20) + (1u << 20), false, false },
        { (64u << 20) + (1u << 20), true, false },
    };
    double before = server_metric(&srv, "archgate_http_requests_total{endpoint=\"validate\",code=\"413\"}");
    if (before < 0)
        before = 0;
    int answered = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CURL *h = client_new(NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(h);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, drop_body);
        long status = 0;
        curl_off_t sent = 0;
        CURLcode rc = chunked_padding(h, MAX_BODY + cases[i].over, cases[i].expect, &status, &sent);
        if (cases[i].answered) {
            CASE_ASSERT(rc == CURLE_OK, i, "answered");
            CASE_ASSERT(status == 413, i, "413");
            /* (curl counts the chunk framing too) */
            CASE_ASSERT((size_t)sent >= MAX_BODY + cases[i].over, i, "the whole body was taken");
            answered++;
        } else {
            /* "Empty reply from server" (the body fitted in the socket buffers before the close),
             * or a reset while still sending; never a final status */
            CASE_ASSERT(rc == CURLE_GOT_NOTHING || rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR, i,
                        "closed without an answer");
            CASE_ASSERT(status == 0 || (cases[i].expect && status == 100), i, "no final status");
        }
        curl_easy_cleanup(h);
    }
    double after = server_metric(&srv, "archgate_http_requests_total{endpoint=\"validate\",code=\"413\"}");
    CU_ASSERT(after - before == answered);
    /* the server goes on serving */
    struct reply r;
    CU_ASSERT_EQUAL(get_status("GET", "/healthz", NULL, NULL, &r), 200);
    reply_free(&r);
}

static void test_keep_alive(void)
{
    CURL *h = client_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    size_t len;
    char *review = review_with_uid("keepalive", &len);
    struct reply r;
    CU_ASSERT(https(h, srv.port, "POST", "/validate", "application/json", review, len, &r));
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(r.connects, 1);
    reply_free(&r);
    CU_ASSERT(https(h, srv.port, "POST", "/validate", "application/json", review, len, &r));
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(r.connects, 0);
    reply_free(&r);
    /* A rejected request does not cost the connection either. */
    CU_ASSERT(https(h, srv.port, "GET", "/nowhere", NULL, NULL, 0, &r));
    CU_ASSERT_EQUAL(r.status, 404);
    reply_free(&r);
    CU_ASSERT(https(h, srv.port, "GET", "/healthz", NULL, NULL, 0, &r));
    CU_ASSERT_EQUAL(r.connects, 0);
    reply_free(&r);
    mem_free(review);
    curl_easy_cleanup(h);
}

#define CLIENTS 32
#define PER_CLIENT 25

struct client_job {
    int id;
    int ok;
};

static void *client_main(void *arg)
{
    struct client_job *job = arg;
    CURL *h = client_new(NULL);
    if (!h)
        return NULL;
    for (int i = 0; i < PER_CLIENT; i++) {
        char uid[64], want[96];
        snprintf(uid, sizeof uid, "client-%d-req-%d", job->id, i);
        snprintf(want, sizeof want, "\"uid\":\"%s\"", uid);
        size_t len;
        char *review = review_with_uid(uid, &len);
        struct reply r;
        if (review && https(h, srv.port, "POST", i % 2 ? "/mutate" : "/validate", "application/json", review,
                            len, &r) &&
            r.status == 200 && strstr(r.body, want))
            job->ok++;
        reply_free(&r);
        mem_free(review);
    }
    curl_easy_cleanup(h);
    return NULL;
}

static void test_concurrent_clients(void)
{
    pthread_t th[CLIENTS];
    struct client_job jobs[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        jobs[i].id = i;
        jobs[i].ok = 0;
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, client_main, &jobs[i]), 0);
    }
    int ok = 0;
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(th[i], NULL);
        ok += jobs[i].ok;
    }
    CU_ASSERT_EQUAL(ok, CLIENTS * PER_CLIENT);
}

static void test_tls_versions(void)
{
    CURL *h = client_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    struct reply r;
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)(CURL_SSLVERSION_TLSv1 | CURL_SSLVERSION_MAX_TLSv1_1));
    CU_ASSERT_FALSE(https(h, srv.port, "GET", "/healthz", NULL, NULL, 0, &r));
    CU_ASSERT_NOT_EQUAL(r.status, 200);
    reply_free(&r);
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)(CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2));
    CU_ASSERT(https(h, srv.port, "GET", "/healthz", NULL, NULL, 0, &r));
    CU_ASSERT_EQUAL(r.status, 200);
    reply_free(&r);
    /* A CBC cipher suite is not offered by the server. */
    curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_CIPHER_LIST, "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA");
    CU_ASSERT_FALSE(https(h, srv.port, "GET", "/healthz", NULL, NULL, 0, &r));
    reply_free(&r);
    curl_easy_cleanup(h);
    h = client_new(NULL);
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)(CURL_SSLVERSION_TLSv1_3 | CURL_SSLVERSION_MAX_TLSv1_3));
    CU_ASSERT(https(h, srv.port, "GET", "/healthz", NULL, NULL, 0, &r));
    CU_ASSERT_EQUAL(r.status, 200);
    reply_free(&r);
    curl_easy_cleanup(h);
}

static void test_metrics_count_requests(void)
{
    const char *series = "archgate_admission_requests_total{endpoint=\"validate\",verdict=\"denied\"}";
    double before = server_metric(&srv, series);
    size_t len;
    char *review = review_with_uid("metrics-1", &len);
    CURL *h = client_new(NULL);
    struct reply r;
    for (int i = 0; i < 3; i++) {
        CU_ASSERT(https(h, srv.port, "POST", "/validate", "application/json", review, len, &r));
        reply_free(&r);
    }
    curl_easy_cleanup(h);
    mem_free(review);
    CU_ASSERT(server_metric(&srv, series) - before == 3);
    CU_ASSERT(server_metric(&srv, "archgate_admission_duration_seconds_count{endpoint=\"validate\"}") >= 3);
}

UNIT_SUITE("itest_http", suite_init, suite_cleanup,
           { "GET /healthz, /readyz, /metrics", test_probes },
           { "404 unknown path, 405 wrong method with Allow", test_not_found_and_methods },
           { "400 content type, empty, non-JSON, no request", test_bad_requests },
           { "200 echoes the uid, query string ignored", test_review_uid_echo },
           { "413 with Content-Length and chunked, limit exact", test_body_limit },
           { "chunked body far over the limit: 413 up to 64 MiB past it, then closed", test_chunked_far_over_limit },
           { "keep-alive reuses the connection", test_keep_alive },
           { "32 concurrent clients, every answer has its uid", test_concurrent_clients },
           { "TLS 1.1 and CBC refused, 1.2 and 1.3 served", test_tls_versions },
           { "metrics count admission requests", test_metrics_count_requests })
