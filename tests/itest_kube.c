/* itest_kube.c - integration: the real binary following a cluster through kube-apiserver (the
 * stand-in of tests/kubefake.c, over HTTPS with a kubeconfig): not ready before every kind has
 * listed, decisions that follow nodes as they come and go, the stale-view warning, review
 * --kubeconfig, and the RBAC message of a 403. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>
#include "itest.h"
#include "kube_store.h"
#include "kubefake.h"
#include "mem.h"
#include "testutil.h"
#include "unit.h"

#define SAMPLES "manifests/samples/"
#define PINNED SAMPLES "reviews/fedora-arm64-pinned.json"

static struct kubefake *fake;
static const struct kube_kind *K;
static char kubeconfig[700], badconfig[700];

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* The node of the sample cluster named `name`, as JSON text (cJSON_free it). */
static char *sample_node(const char *name)
{
    cJSON *j = tu_load_json(SAMPLES "cluster/nodes.json");
    const cJSON *it;
    char *t = NULL;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "items")) {
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(it, "metadata");
        const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name"));
        if (n && strcmp(n, name) == 0)
            t = cJSON_PrintUnformatted(it);
    }
    cJSON_Delete(j);
    return t;
}

static int suite_init(void)
{
    K = kube_kinds(NULL);
    if (!(fake = itest_fake_cluster()))
        return 1;
    itest_path(kubeconfig, sizeof kubeconfig, itest_dir, "kubeconfig");
    itest_path(badconfig, sizeof badconfig, itest_dir, "kubeconfig-nobody");
    /* nobody listens on port 1 */
    return itest_write_kubeconfig(kubeconfig, kubefake_port(fake)) && itest_write_kubeconfig(badconfig, 1) ? 0 : 1;
}

static int suite_cleanup(void)
{
    kubefake_stop(fake);
    fake = NULL;
    return 0;
}

static bool launch(struct server *s, bool wait_ready, const char *staleness)
{
    char crt[600], key[600];
    itest_path(crt, sizeof crt, itest_base, "tls.crt");
    itest_path(key, sizeof key, itest_base, "tls.key");
    const char *args[] = { "serve", "--listen", "127.0.0.1:0", "--tls-cert", crt, "--tls-key", key,
                           "--kubeconfig", kubeconfig, "--max-staleness", staleness, NULL };
    return server_launch(s, args, wait_ready);
}

/* POST a review file to /validate; returns the body (mem_free) or NULL. */
static char *validate(const struct server *s, const char *file)
{
    size_t len = 0;
    char *body = tu_read_file(file, &len);
    CURL *h = client_new(NULL);
    struct reply r;
    memset(&r, 0, sizeof r);
    char *out = NULL;
    if (body && h && https(h, s->port, "POST", "/validate", "application/json", body, len, &r) && r.status == 200)
        out = mem_strdup(r.body);
    reply_free(&r);
    curl_easy_cleanup(h);
    mem_free(body);
    return out;
}

static long readyz(const struct server *s, char *text, size_t len)
{
    CURL *h = client_new(NULL);
    struct reply r;
    memset(&r, 0, sizeof r);
    long status = https(h, s->port, "GET", "/readyz", NULL, NULL, 0, &r) ? r.status : -1;
    snprintf(text, len, "%s", r.body ? r.body : "");
    reply_free(&r);
    curl_easy_cleanup(h);
    return status;
}

/* Wait up to `ms` for the answer to PINNED to contain (want true) or lack `needle`. */
static bool answer_becomes(const struct server *s, const char *needle, bool want, long ms)
{
    for (long t = 0; t <= ms; t += 50) {
        char *b = validate(s, PINNED);
        bool has = b && strstr(b, needle) != NULL;
        mem_free(b);
        if (b && has == want)
            return true;
        sleep_ms(50);
    }
    return false;
}

static void test_ready_after_sync(void)
{
    struct server s;
    char text[256];
    kubefake_stall(fake, true);
    CU_ASSERT_FATAL(launch(&s, false, "2m"));
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(readyz(&s, text, sizeof text), 503);
        CU_ASSERT_PTR_NOT_NULL(strstr(text, "not synced"));
        sleep_ms(150);
    }
    kubefake_stall(fake, false);
    long status = 0;
    for (int i = 0; i < 100 && status != 200; i++) {
        status = readyz(&s, text, sizeof text);
        if (status != 200)
            sleep_ms(50);
    }
    CU_ASSERT_EQUAL(status, 200);
    char *b = validate(&s, PINNED);
    CU_ASSERT_TRUE(b && strstr(b, "\"allowed\":true"));
    mem_free(b);
    CU_ASSERT_EQUAL(server_stop(&s, SIGTERM, NULL), 0);
}

static void test_follows_nodes(void)
{
    struct server s;
    CU_ASSERT_FATAL(launch(&s, true, "2m"));
    CU_ASSERT_TRUE(answer_becomes(&s, "\"allowed\":true", true, 1000));
    /* The only untainted arm64 worker leaves: the arm64 VM can no longer run. */
    char *node = sample_node("worker-arm64-1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(node);
    CU_ASSERT(kubefake_delete(fake, K[KK_NODE].path, NULL, "worker-arm64-1") != 0);
    CU_ASSERT_TRUE(answer_becomes(&s, "\"allowed\":false", true, 1000));
    /* It comes back: allowed again. */
    CU_ASSERT(kubefake_put(fake, K[KK_NODE].path, node) != 0);
    CU_ASSERT_TRUE(answer_becomes(&s, "\"allowed\":true", true, 1000));
    cJSON_free(node);
    CU_ASSERT_EQUAL(server_stop(&s, SIGTERM, NULL), 0);
}

static void test_stale_view(void)
{
    struct server s;
    char text[256];
    CU_ASSERT_FATAL(launch(&s, true, "1s"));
    kubefake_fail(fake, K[KK_NODE].path, 500, -1);
    kubefake_close_watches(fake);
    CU_ASSERT_TRUE(answer_becomes(&s, "archgate's view of the cluster is", true, 5000));
    CU_ASSERT_EQUAL(readyz(&s, text, sizeof text), 200);     /* still ready: see docs/design.md "Stale cluster view" */
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "stale"));
    kubefake_fail(fake, K[KK_NODE].path, 500, 0);
    CU_ASSERT_TRUE(answer_becomes(&s, "archgate's view of the cluster is", false, 5000));
    CU_ASSERT_EQUAL(server_stop(&s, SIGTERM, NULL), 0);
}

static void test_forbidden_names_rule(void)
{
    struct server s;
    kubefake_fail(fake, K[KK_DATASOURCE].path, 403, -1);
    CU_ASSERT_FATAL(launch(&s, false, "2m"));
    sleep_ms(800);
    char text[256];
    CU_ASSERT_EQUAL(readyz(&s, text, sizeof text), 503);    /* DataSources never listed */
    char *log = tu_read_file(s.log, NULL);
    CU_ASSERT_TRUE(log && strstr(log, "datasources") && strstr(log, "cdi.kubevirt.io") && strstr(log, "403"));
    mem_free(log);
    kubefake_fail(fake, K[KK_DATASOURCE].path, 403, 0);
    CU_ASSERT_EQUAL(server_stop(&s, SIGTERM, NULL), 0);
}

static void test_review_kubeconfig(void)
{
    static char out[1 << 16], err[4096];
    const char *args[] = { "review", "--kubeconfig", kubeconfig, NULL };
    CU_ASSERT_EQUAL(itest_run_stdin(args, PINNED, out, sizeof out, err, sizeof err), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"allowed\":true"));
    const char *mismatch[] = { "review", "--kubeconfig", kubeconfig, NULL };
    CU_ASSERT_EQUAL(itest_run_stdin(mismatch, SAMPLES "reviews/fedora-arm64-selector-mismatch.json", out, sizeof out,
                                    err, sizeof err), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"allowed\":false"));
    const char *nobody[] = { "review", "--kubeconfig", badconfig, NULL };
    CU_ASSERT_EQUAL(itest_run_stdin(nobody, PINNED, out, sizeof out, err, sizeof err), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "127.0.0.1:1"));
}

/* archgate check --kubeconfig: the same one-shot list as review, then the manifests judged. */
static void test_check_kubeconfig(void)
{
    static char out[1 << 16], err[4096];
    const char *pinned[] = { "check", "-f", SAMPLES "vms/fedora-arm64-pinned.yaml", "--kubeconfig", kubeconfig, NULL };
    CU_ASSERT_EQUAL(itest_run(pinned, out, sizeof out, err, sizeof err), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "ADMITTED VirtualMachine default/fedora-arm64-pinned"));
    const char *mismatch[] = { "check", "-f", SAMPLES "vms/fedora-arm64-selector-mismatch.yaml", "--kubeconfig",
                               kubeconfig, NULL };
    CU_ASSERT_EQUAL(itest_run(mismatch, out, sizeof out, err, sizeof err), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "but no eligible node runs arm64"));
    const char *nobody[] = { "check", "-f", SAMPLES "vms/fedora-arm64-pinned.yaml", "--kubeconfig", badconfig, NULL };
    CU_ASSERT_EQUAL(itest_run(nobody, out, sizeof out, err, sizeof err), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "archgate check: cluster state: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "127.0.0.1:1"));
}

UNIT_SUITE("itest_kube", suite_init, suite_cleanup,
           { "serve --kubeconfig: not ready until every kind listed", test_ready_after_sync },
           { "decisions follow nodes leaving and joining within 1 s", test_follows_nodes },
           { "stale view: warning on answers, noted in /readyz, then cleared", test_stale_view },
           { "403: the log names the missing RBAC rule", test_forbidden_names_rule },
           { "review --kubeconfig lists once and decides", test_review_kubeconfig },
           { "check --kubeconfig lists once and judges the manifests", test_check_kubeconfig })
