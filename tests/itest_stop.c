/* itest_stop.c - integration: SIGTERM. Requests in flight are all answered (with
 * "Connection: close") and the process exits 0; idle keep-alive connections do not hold the
 * shutdown for the whole grace. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "itest.h"
#include "mem.h"
#include "unit.h"

#define INFLIGHT 16

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static bool start(struct server *s)
{
    char cert[600], key[600];
    itest_path(cert, sizeof cert, itest_base, "tls.crt");
    itest_path(key, sizeof key, itest_base, "tls.key");
    const char *extra[] = { "--shutdown-grace", "5s", NULL };
    return server_start(s, cert, key, extra);
}

struct slow_job {
    unsigned short port;
    int id;
    long status;
    bool uid_ok;
    bool closing;
};

static void *slow_main(void *arg)
{
    struct slow_job *j = arg;
    char uid[48], want[80];
    snprintf(uid, sizeof uid, "stop-%d", j->id);
    snprintf(want, sizeof want, "\"uid\":\"%s\"", uid);
    size_t len;
    char *review = review_with_uid(uid, &len);
    CURL *h = client_new(NULL);
    struct reply r;
    memset(&r, 0, sizeof r);
    if (h && review && https_ex(h, j->port, "POST", "/validate", "application/json", review, len, true, 120, false, &r)) {
        j->status = r.status;
        j->uid_ok = strstr(r.body, want) != NULL;
        j->closing = strcasecmp(r.connection, "close") == 0;
    }
    reply_free(&r);
    curl_easy_cleanup(h);
    mem_free(review);
    return NULL;
}

static void test_sigterm_in_flight(void)
{
    struct server s;
    CU_ASSERT_FATAL(start(&s));
    pthread_t th[INFLIGHT];
    struct slow_job jobs[INFLIGHT];
    int base = itest_uploads_started();
    for (int i = 0; i < INFLIGHT; i++) {
        jobs[i] = (struct slow_job){ .port = s.port, .id = i };
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, slow_main, &jobs[i]), 0);
    }
    for (int waited = 0; itest_uploads_started() - base < INFLIGHT && waited < 5000; waited += 5)
        sleep_ms(5);
    CU_ASSERT_EQUAL(itest_uploads_started() - base, INFLIGHT);
    sleep_ms(60);       /* the headers reach the server */
    double secs = 0;
    CU_ASSERT_EQUAL(server_stop(&s, SIGTERM, &secs), 0);
    CU_ASSERT(secs < 4);
    int ok = 0, uid_ok = 0, closing = 0;
    for (int i = 0; i < INFLIGHT; i++) {
        pthread_join(th[i], NULL);
        ok += jobs[i].status == 200;
        uid_ok += jobs[i].uid_ok;
        closing += jobs[i].closing;
    }
    CU_ASSERT_EQUAL(ok, INFLIGHT);
    CU_ASSERT_EQUAL(uid_ok, INFLIGHT);
    CU_ASSERT_EQUAL(closing, INFLIGHT);
}

static void test_sigterm_idle_connections(void)
{
    struct server s;
    CU_ASSERT_FATAL(start(&s));
    CURL *h[4];
    for (int i = 0; i < 4; i++) {
        h[i] = client_new(NULL);
        struct reply r;
        CU_ASSERT(https(h[i], s.port, "GET", "/healthz", NULL, NULL, 0, &r) && r.status == 200);
        reply_free(&r);
    }
    double secs = 0;
    CU_ASSERT_EQUAL(server_stop(&s, SIGTERM, &secs), 0);
    CU_ASSERT(secs < 1.5);      /* the grace is 5 s: idle connections did not hold it */
    for (int i = 0; i < 4; i++)
        curl_easy_cleanup(h[i]);
}

/* --shutdown-delay: after SIGTERM, /readyz answers 503 while admission requests are still served;
 * then the process drains and exits 0. */
static void test_shutdown_delay(void)
{
    char cert[600], key[600];
    itest_path(cert, sizeof cert, itest_base, "tls.crt");
    itest_path(key, sizeof key, itest_base, "tls.key");
    const char *extra[] = { "--shutdown-delay", "1500ms", "--shutdown-grace", "2s", NULL };
    struct server s;
    CU_ASSERT_FATAL(server_start(&s, cert, key, extra));
    kill(s.pid, SIGTERM);
    sleep_ms(300);
    CURL *h = client_new(NULL);
    struct reply r;
    memset(&r, 0, sizeof r);
    CU_ASSERT_TRUE(https(h, s.port, "GET", "/readyz", NULL, NULL, 0, &r));
    CU_ASSERT_EQUAL(r.status, 503);
    CU_ASSERT_TRUE(r.body && strstr(r.body, "shutting down"));
    reply_free(&r);
    size_t len;
    char *review = review_with_uid("delay-1", &len);
    memset(&r, 0, sizeof r);
    CU_ASSERT_TRUE(https(h, s.port, "POST", "/validate", "application/json", review, len, &r));
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_TRUE(r.body && strstr(r.body, "\"uid\":\"delay-1\""));
    reply_free(&r);
    mem_free(review);
    curl_easy_cleanup(h);
    double took = 0;
    CU_ASSERT_EQUAL(server_stop(&s, 0, &took), 0);   /* signal 0: just wait for the exit */
    CU_ASSERT(took > 0.8 && took < 4.0);
}

UNIT_SUITE("itest_stop", NULL, NULL,
           { "SIGTERM: requests in flight answered 200, exit 0", test_sigterm_in_flight },
           { "--shutdown-delay: not ready but serving, then exit 0", test_shutdown_delay },
           { "SIGTERM: idle keep-alive connections do not hold the grace", test_sigterm_idle_connections })
