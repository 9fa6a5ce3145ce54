/* itest_certs.c - integration: the serving certificate. Reload on SIGHUP, rotation on disk
 * (a Secret-volume style ..data symlink swap) while requests run, a broken new pair keeps the
 * old one, bad pairs refused at start, `serve --check`. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "itest.h"
#include "mem.h"
#include "unit.h"

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A pair issued by the base CA into `dir` (created). */
static bool issue_pair(const char *dir, const char *extra)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s/ca.crt' '%s/ca.key' '%s/'", dir, itest_base, itest_base, dir);
    if (system(cmd) != 0)
        return false;
    char args[256];
    snprintf(args, sizeof args, "--reuse-ca %s", extra ? extra : "");
    return itest_gen_certs(dir, args);
}

static void test_sighup_reloads(void)
{
    struct server s;
    char cert[600], key[600];
    itest_path(cert, sizeof cert, itest_base, "tls.crt");
    itest_path(key, sizeof key, itest_base, "tls.key");
    CU_ASSERT_FATAL(server_start(&s, cert, key, NULL));
    const char *series = "archgate_certificate_reloads_total{result=\"success\"}";
    double before = server_metric(&s, series);
    CU_ASSERT(before >= 0);
    kill(s.pid, SIGHUP);
    double deadline = now_s() + 5;
    double after = before;
    while (after == before && now_s() < deadline) {
        sleep_ms(50);
        after = server_metric(&s, series);
    }
    CU_ASSERT_EQUAL(after, before + 1);
    CU_ASSERT_EQUAL(server_stop(&s, SIGTERM, NULL), 0);
}

/* Requests against the server until told to stop; counts failures. */
struct load {
    unsigned short port;
    atomic_bool stop;
    atomic_int ok, failed;
};

static void *load_main(void *arg)
{
    struct load *l = arg;
    size_t len;
    char *review = review_with_uid("rotation", &len);
    CURL *h = client_new(NULL);
    int i = 0;
    while (!atomic_load(&l->stop) && h && review) {
        struct reply r;
        curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, (i++ % 3 == 0) ? 1L : 0L);
        if (https(h, l->port, "POST", "/validate", "application/json", review, len, &r) && r.status == 200)
            atomic_fetch_add(&l->ok, 1);
        else
            atomic_fetch_add(&l->failed, 1);
        reply_free(&r);
        sleep_ms(5);
    }
    curl_easy_cleanup(h);
    mem_free(review);
    return NULL;
}

/* Serial of the certificate a new connection gets. */
static bool served_serial(unsigned short port, char *serial, size_t len)
{
    CURL *h = client_new(NULL);
    struct reply r;
    bool ok = h && https_ex(h, port, "GET", "/healthz", NULL, NULL, 0, false, 0, true, &r) && r.status == 200 &&
              r.serial[0];
    if (ok)
        snprintf(serial, len, "%s", r.serial);
    reply_free(&r);
    curl_easy_cleanup(h);
    return ok;
}

static bool swap_data(const char *root, const char *target)
{
    char tmp[600], data[600];
    itest_path(tmp, sizeof tmp, root, "..data_tmp");
    itest_path(data, sizeof data, root, "..data");
    unlink(tmp);
    return symlink(target, tmp) == 0 && rename(tmp, data) == 0;
}

static void test_rotation(void)
{
    char root[400], a[600], b[600], broken[600], cert[600], key[600], p1[4096];
    snprintf(root, sizeof root, "%s/rotation", itest_dir);
    itest_path(a, sizeof a, root, "..pair-a");
    itest_path(b, sizeof b, root, "..pair-b");
    itest_path(broken, sizeof broken, root, "..pair-broken");
    CU_ASSERT_FATAL(issue_pair(a, "--days 365"));
    CU_ASSERT_FATAL(issue_pair(b, "--days 30"));
    /* The broken pair: b's certificate with a's key. */
    CU_ASSERT_FATAL(mkdir(broken, 0700) == 0);
    snprintf(p1, sizeof p1, "cp '%s/tls.crt' '%s/tls.crt' && cp '%s/tls.key' '%s/tls.key'", b, broken, a, broken);
    CU_ASSERT_FATAL(system(p1) == 0);
    CU_ASSERT_FATAL(swap_data(root, "..pair-a"));
    itest_path(cert, sizeof cert, root, "tls.crt");
    itest_path(key, sizeof key, root, "tls.key");
    CU_ASSERT_FATAL(symlink("..data/tls.crt", cert) == 0);
    CU_ASSERT_FATAL(symlink("..data/tls.key", key) == 0);

    struct server s;
    CU_ASSERT_FATAL(server_start(&s, cert, key, NULL));
    char serial_a[160] = "", serial[160] = "";
    CU_ASSERT_FATAL(served_serial(s.port, serial_a, sizeof serial_a));

    struct load l = { .port = s.port };
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, load_main, &l), 0);
    sleep_ms(200);

    /* Rotate to b: a new connection must see it within 10 s. */
    CU_ASSERT(swap_data(root, "..pair-b"));
    double t0 = now_s();
    bool rotated = false;
    while (!rotated && now_s() - t0 < 10) {
        sleep_ms(50);
        rotated = served_serial(s.port, serial, sizeof serial) && strcmp(serial, serial_a) != 0;
    }
    CU_ASSERT(rotated);
    char serial_b[160];
    snprintf(serial_b, sizeof serial_b, "%s", serial);

    /* Rotate to a broken pair: still b. */
    const char *fail_series = "archgate_certificate_reloads_total{result=\"failure\"}";
    double failures = server_metric(&s, fail_series);
    CU_ASSERT(swap_data(root, "..pair-broken"));
    double deadline = now_s() + 5;
    while (server_metric(&s, fail_series) == failures && now_s() < deadline)
        sleep_ms(50);
    CU_ASSERT(server_metric(&s, fail_series) == failures + 1);
    CU_ASSERT(served_serial(s.port, serial, sizeof serial));
    CU_ASSERT_STRING_EQUAL(serial, serial_b);
    sleep_ms(200);

    atomic_store(&l.stop, true);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    CU_ASSERT(atomic_load(&l.ok) > 10);
    CU_ASSERT_EQUAL(atomic_load(&l.failed), 0);
    CU_ASSERT(served_serial(s.port, serial, sizeof serial));
    CU_ASSERT_EQUAL(server_stop(&s, SIGTERM, NULL), 0);
}

static int run_serve(const char *cert, const char *key, bool check, char *out, size_t outlen, char *err,
                     size_t errlen)
{
    const char *args[] = { "serve", "--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key,
                           "--cluster-state", ITEST_EXAMPLE "/cluster", check ? "--check" : NULL, NULL };
    return itest_run(args, out, outlen, err, errlen);
}

static void test_refused_at_start(void)
{
    char dir[400], cert[600], key[600], out[4096], err[4096];
    snprintf(dir, sizeof dir, "%s/refused", itest_dir);
    CU_ASSERT_FATAL(mkdir(dir, 0700) == 0);
    itest_path(cert, sizeof cert, dir, "expired.crt");
    itest_path(key, sizeof key, dir, "expired.key");
    CU_ASSERT_FATAL(certgen_pair(cert, key, -3 * 86400, -86400, 7));
    CU_ASSERT_EQUAL(run_serve(cert, key, false, out, sizeof out, err, sizeof err), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, cert));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "expired"));

    itest_path(cert, sizeof cert, dir, "future.crt");
    itest_path(key, sizeof key, dir, "future.key");
    CU_ASSERT_FATAL(certgen_pair(cert, key, 86400, 2 * 86400, 8));
    CU_ASSERT_EQUAL(run_serve(cert, key, false, out, sizeof out, err, sizeof err), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not valid before"));

    /* The base certificate with another key. */
    char other[600], basecert[600];
    itest_path(other, sizeof other, dir, "future.key");
    itest_path(basecert, sizeof basecert, itest_base, "tls.crt");
    CU_ASSERT_EQUAL(run_serve(basecert, other, false, out, sizeof out, err, sizeof err), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, other));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "does not match"));

    itest_path(cert, sizeof cert, dir, "missing.crt");
    CU_ASSERT_EQUAL(run_serve(cert, other, false, out, sizeof out, err, sizeof err), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, cert));

    /* --check says so too, and passes a good pair. */
    CU_ASSERT_NOT_EQUAL(run_serve(basecert, other, true, out, sizeof out, err, sizeof err), 0);
    CU_ASSERT_PTR_NULL(strstr(out, "configuration OK"));
    char basekey[600];
    itest_path(basekey, sizeof basekey, itest_base, "tls.key");
    CU_ASSERT_EQUAL(run_serve(basecert, basekey, true, out, sizeof out, err, sizeof err), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "configuration OK"));
}

UNIT_SUITE("itest_certs", NULL, NULL,
           { "SIGHUP reloads the certificate", test_sighup_reloads },
           { "rotation on disk while serving; a broken pair keeps the old one", test_rotation },
           { "expired, not yet valid, mismatched, missing refused at start; --check", test_refused_at_start })
