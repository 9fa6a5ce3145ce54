/* itest_decide.c - integration: the decision through the real binary. `archgate review` on the
 * worked examples and the bundled samples (answers and exit statuses), the running server on the
 * samples (a HyperConverged edit among them), a requested architecture no node has beside cordoned or not-ready nodes (issue 15,
 * `archgate review` and /validate), and a reload of the cluster-state folder while requests run. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>
#include "itest.h"
#include "mem.h"
#include "patch.h"
#include "pool.h"
#include "testutil.h"
#include "unit.h"

#define EX "tests/fixtures/examples/"
#define SAMPLES "manifests/samples/"

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static char out[1 << 16], err[1 << 12];

/* Run `archgate review` with args, stdin from `in`; returns the exit status. */
static int review(const char *in, const char *const *args)
{
    const char *argv[16] = { "review" };
    size_t n = 1;
    for (size_t i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return itest_run_stdin(argv, in, out, sizeof out, err, sizeof err);
}

static const cJSON *response_of(const cJSON *review_json)
{
    return cJSON_GetObjectItemCaseSensitive(review_json, "response");
}

static void test_cli_examples(void)
{
    static const struct { const char *dir; const char *flags[4]; bool exact; } cases[] = {
        { "01-deny-arm64-image-outside-vm-pool", { NULL }, true },
        { "02-allow-pinned-arm64-vm", { "--multi-arch", "auto", NULL }, true },
        { "03-mutate-pins-registry-image-to-arm64", { "--mutate", "--multi-arch", "on", NULL }, true },
        { "04-multiarch-off-same-vm-warns", { "--mutate", "--multi-arch", "off", NULL }, true },
        { "05-switch-rhel9-to-amd64-sibling", { "--mutate", "--multi-arch", "auto", NULL }, true },
        { "06-unknown-pvc-image-warns", { NULL }, true },
        { "07-cordoned-amd64-node-warns", { "--multi-arch", "on", NULL }, false },
        { "08-stop-unschedulable-vm-allowed", { NULL }, true },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char cluster[256], in[256], want_path[256];
        snprintf(cluster, sizeof cluster, EX "%s/cluster", cases[i].dir);
        snprintf(in, sizeof in, EX "%s/review.json", cases[i].dir);
        snprintf(want_path, sizeof want_path, EX "%s/response.json", cases[i].dir);
        const char *args[8] = { "--cluster-state", cluster };
        size_t n = 2;
        for (size_t j = 0; cases[i].flags[j]; j++)
            args[n++] = cases[i].flags[j];
        args[n] = NULL;
        int rc = review(in, args);
        CU_ASSERT_EQUAL(rc, 0);
        CU_ASSERT_STRING_EQUAL(err, "");
        cJSON *got = cJSON_Parse(out);
        cJSON *want = tu_load_json(want_path);
        CU_ASSERT_PTR_NOT_NULL_FATAL(got);
        CU_ASSERT_PTR_NOT_NULL_FATAL(want);
        cJSON_DeleteItemFromObject(want, "patch_decoded");
        if (cases[i].exact) {
            if (!cJSON_Compare(got, want, 1)) {
                fprintf(stderr, "\n%s: got %s\n", cases[i].dir, out);
                CU_FAIL("archgate review differs from the worked example");
            }
        } else {
            const cJSON *r = response_of(got);
            CU_ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "allowed")));
            CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "warnings")), 1);
        }
        cJSON_Delete(got);
        cJSON_Delete(want);
    }
}

/* The bundled samples: what the README walks through. */
static void test_cli_samples(void)
{
    static const struct { const char *name; bool mutate; bool allowed; const char *needle; } cases[] = {
        { "fedora-amd64", false, true, NULL },
        { "fedora-arm64-pinned", false, true, NULL },
        { "fedora-arm64-selector-mismatch", false, false,
          "\"field\":\"spec.template.spec.volumes\",\"message\":\"image DataSource kubevirt-os-images/fedora-arm64 (arm64) is built for arm64, but no eligible node runs arm64" },
        { "centos-on-arm", false, false, "architecture arm64 does not match the boot image" },
        { "fedora-default", false, true, NULL },
        { "fedora-default", true, true, "\"patchType\":\"JSONPatch\"" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char in[256];
        snprintf(in, sizeof in, SAMPLES "reviews/%s.json", cases[i].name);
        const char *args[] = { "--cluster-state", SAMPLES "cluster", cases[i].mutate ? "--mutate" : NULL, NULL };
        CU_ASSERT_EQUAL(review(in, args), 0);
        cJSON *got = cJSON_Parse(out);
        CU_ASSERT_PTR_NOT_NULL_FATAL(got);
        CU_ASSERT_EQUAL(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(response_of(got), "allowed")), cases[i].allowed);
        if (cases[i].needle && !strstr(out, cases[i].needle)) {
            fprintf(stderr, "\n%s: %s lacks %s\n", cases[i].name, out, cases[i].needle);
            CU_FAIL("expected text missing");
        }
        cJSON_Delete(got);
    }
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_cli_unusable_input(void)
{
    char dir[600], path[700];
    itest_path(dir, sizeof dir, itest_dir, "cli-inputs");
    CU_ASSERT_FATAL(mkdir(dir, 0700) == 0 || access(dir, F_OK) == 0);
    static const struct { const char *name, *text, *needle; } cases[] = {
        { "empty.json", "", "empty body" },
        { "notjson.json", "this is not json", "not valid JSON" },
        { "v1beta1.json", "{\"apiVersion\":\"admission.k8s.io/v1beta1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\"}}",
          "apiVersion" },
        { "nouid.json", "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{}}", "request.uid" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        itest_path(path, sizeof path, dir, cases[i].name);
        FILE *f = fopen(path, "w");
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        fputs(cases[i].text, f);
        fclose(f);
        const char *args[] = { "--cluster-state", SAMPLES "cluster", NULL };
        CU_ASSERT_EQUAL(review(path, args), 2);
        CU_ASSERT_STRING_EQUAL(out, "");
        CU_ASSERT_EQUAL(count_lines(err), 1);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, cases[i].needle));
    }
    /* a cluster-state file that does not parse: exit 1, the file named */
    char bad[600];
    itest_path(bad, sizeof bad, itest_dir, "bad-cluster");
    CU_ASSERT_FATAL(mkdir(bad, 0700) == 0 || access(bad, F_OK) == 0);
    itest_path(path, sizeof path, bad, "nodes.json");
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("{\"kind\": \"NodeList\", \"items\": [", f);
    fclose(f);
    const char *args[] = { "--cluster-state", bad, NULL };
    CU_ASSERT_EQUAL(review(SAMPLES "reviews/fedora-amd64.json", args), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "nodes.json"));
    /* bad flags: exit 2 */
    const char *badflag[] = { "--multi-arch", "sometimes", NULL };
    CU_ASSERT_EQUAL(review(SAMPLES "reviews/fedora-amd64.json", badflag), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "--multi-arch"));
}

static bool start_on(struct server *s, const char *cluster, const char *poll)
{
    char cert[600], key[600];
    itest_path(cert, sizeof cert, itest_base, "tls.crt");
    itest_path(key, sizeof key, itest_base, "tls.key");
    const char *extra[] = { "--cluster-state", cluster, "--cluster-poll-interval", poll, NULL };
    return server_start(s, cert, key, extra);
}

static void test_server_samples(void)
{
    struct server s;
    CU_ASSERT_FATAL(start_on(&s, SAMPLES "cluster", "2s"));
    CURL *h = client_new(NULL);
    static const struct { const char *name; const char *path; const char *needle; } cases[] = {
        { "fedora-amd64", "/validate", "\"uid\":\"da9117c8-3470-5659-b210-d6af5e8c2693\",\"allowed\":true}" },
        { "fedora-arm64-selector-mismatch", "/validate", "\"allowed\":false,\"status\":{\"code\":422" },
        { "centos-on-arm", "/validate?timeout=10s", "\"allowed\":false" },
        { "fedora-default", "/mutate?timeout=10s", "\"patchType\":\"JSONPatch\"" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, SAMPLES "reviews/%s.json", cases[i].name);
        size_t len = 0;
        char *body = tu_read_file(path, &len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(body);
        struct reply r;
        memset(&r, 0, sizeof r);
        CU_ASSERT_TRUE(https(h, s.port, "POST", cases[i].path, "application/json", body, len, &r));
        CU_ASSERT_EQUAL(r.status, 200);
        CU_ASSERT_TRUE(r.body && strstr(r.body, cases[i].needle) != NULL);
        reply_free(&r);
        mem_free(body);
    }
    /* a HyperConverged edit: allowed with warnings on /validate, untouched on /mutate, counted */
    size_t len = 0;
    char *body = tu_read_file("tests/fixtures/reviews/hyperconverged-create.json", &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    struct reply r;
    memset(&r, 0, sizeof r);
    CU_ASSERT_TRUE(https(h, s.port, "POST", "/validate", "application/json", body, len, &r));
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_TRUE(r.body && strstr(r.body, "\"allowed\":true,\"warnings\":[\"golden image custom-rhel9: annotate "));
    CU_ASSERT_TRUE(r.body && strstr(r.body, "golden image custom-ubuntu: HCO will drop s390x (no workload node)"));
    reply_free(&r);
    memset(&r, 0, sizeof r);
    CU_ASSERT_TRUE(https(h, s.port, "POST", "/mutate", "application/json", body, len, &r));
    CU_ASSERT_TRUE(r.body && strstr(r.body, "\"allowed\":true}"));
    reply_free(&r);
    mem_free(body);
    /* a placement narrowed to amd64: the sample's two arm64 VMs (the audit's inventory, read from
     * the folder by the auditor thread soon after the start) lose their nodes */
    body = tu_read_file("tests/fixtures/reviews/hyperconverged-narrow-placement.json", &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    bool said = false;
    for (int tries = 0; tries < 30 && !said; tries++) {
        memset(&r, 0, sizeof r);
        CU_ASSERT_TRUE(https(h, s.port, "POST", "/validate", "application/json", body, len, &r));
        said = r.body && strstr(r.body, "\"allowed\":true,\"warnings\":[\"this placement leaves 2 VMs without a node "
                                        "for its image: default/fedora-arm, team-b/gpu-arm\"]");
        reply_free(&r);
        if (!said)
            sleep_ms(100);
    }
    CU_ASSERT_TRUE(said);
    mem_free(body);
    CU_ASSERT(server_metric(&s, "archgate_hyperconverged_reviews_total{outcome=\"warned\"}") >= 2);
    CU_ASSERT_EQUAL(server_metric(&s, "archgate_hyperconverged_warnings_total{kind=\"architectures_dropped\"}"), 1);
    curl_easy_cleanup(h);
    CU_ASSERT_EQUAL(server_stop(&s, SIGTERM, NULL), 0);
}

/* ---- issue 15: a requested architecture no node has, beside cordoned/not-ready nodes ---- */

/* Cluster shapes: three amd64 workers, two arm64 workers (cordoned, not ready, or eligible), and
 * for CL15_Z_CORD also one cordoned s390x worker. */
enum cl15 { CL15_ARM_CORD, CL15_ARM_NOTREADY, CL15_ARM_OK, CL15_Z_CORD, CL15_COUNT };
static const char *const cl15_name[CL15_COUNT] = { "arm-cordoned", "arm-notready", "arm-ok", "z-cordoned" };

#define SPEC_CORDON "\"unschedulable\":true,\"taints\":[{\"key\":\"node.kubernetes.io/unschedulable\",\"effect\":\"NoSchedule\"}]"
#define SPEC_NOTREADY "\"taints\":[{\"key\":\"node.kubernetes.io/not-ready\",\"effect\":\"NoSchedule\"}," \
    "{\"key\":\"node.kubernetes.io/not-ready\",\"effect\":\"NoExecute\"}]"

static bool put_node(FILE *f, const char *name, const char *arch, const char *spec, bool first)
{
    return fprintf(f, "%s{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"%s\",\"labels\":{"
                      "\"kubernetes.io/arch\":\"%s\",\"kubernetes.io/os\":\"linux\",\"node-role.kubernetes.io/worker\":\"\"}},"
                      "\"spec\":{%s},\"status\":{\"nodeInfo\":{\"architecture\":\"%s\",\"operatingSystem\":\"linux\"}}}",
                   first ? "" : ",", name, arch, spec, arch) > 0;
}

/* Write the cluster-state folder of one shape under itest_dir; `dir` receives its path. */
static bool write_cluster15(enum cl15 k, char *dir, size_t len)
{
    char path[700];
    itest_path(dir, len, itest_dir, cl15_name[k]);
    if (mkdir(dir, 0700) != 0 && access(dir, F_OK) != 0)
        return false;
    itest_path(path, sizeof path, dir, "nodes.json");
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    const char *arm = k == CL15_ARM_NOTREADY ? SPEC_NOTREADY : k == CL15_ARM_OK ? "" : SPEC_CORDON;
    bool ok = fputs("{\"apiVersion\":\"v1\",\"kind\":\"NodeList\",\"items\":[", f) >= 0 &&
              put_node(f, "worker-x1", "amd64", "", true) && put_node(f, "worker-x2", "amd64", "", false) &&
              put_node(f, "worker-x3", "amd64", "", false) && put_node(f, "worker-a1", "arm64", arm, false) &&
              put_node(f, "worker-a2", "arm64", arm, false) &&
              (k != CL15_Z_CORD || put_node(f, "worker-z1", "s390x", SPEC_CORDON, false)) && fputs("]}", f) >= 0;
    ok = fclose(f) == 0 && ok;
    itest_path(path, sizeof path, dir, "hyperconverged.json");
    f = ok ? fopen(path, "w") : NULL;
    if (!f)
        return false;
    ok = fputs("{\"apiVersion\":\"hco.kubevirt.io/v1beta1\",\"kind\":\"HyperConverged\",\"metadata\":{"
               "\"name\":\"kubevirt-hyperconverged\",\"namespace\":\"openshift-cnv\"},\"spec\":{\"featureGates\":{"
               "\"enableMultiArchBootImageImport\":true}}}", f) >= 0;
    return fclose(f) == 0 && ok;
}

/* An AdmissionReview of a VM CREATE: architecture `arch` (NULL: none), image-architectures
 * annotation `images` (NULL: none, the busybox containerDisk is an unknown image). */
static char *review15(const char *arch, const char *images, size_t *len)
{
    char annot[128] = "", archf[64] = "";
    if (images)
        snprintf(annot, sizeof annot, ",\"annotations\":{\"archgate.io/image-architectures\":\"%s\"}", images);
    if (arch)
        snprintf(archf, sizeof archf, "\"architecture\":\"%s\",", arch);
    char *body = mem_malloc(4096);
    if (!body)
        return NULL;
    int n = snprintf(body, 4096,
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
        "\"uid\":\"15151515-0000-4000-8000-000000000015\","
        "\"kind\":{\"group\":\"kubevirt.io\",\"version\":\"v1\",\"kind\":\"VirtualMachine\"},"
        "\"resource\":{\"group\":\"kubevirt.io\",\"version\":\"v1\",\"resource\":\"virtualmachines\"},"
        "\"name\":\"vm15\",\"namespace\":\"vms\",\"operation\":\"CREATE\",\"userInfo\":{\"username\":\"carol\"},"
        "\"object\":{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":\"VirtualMachine\",\"metadata\":{\"name\":\"vm15\","
        "\"namespace\":\"vms\"%s},\"spec\":{\"runStrategy\":\"Always\",\"template\":{\"spec\":{%s"
        "\"domain\":{\"devices\":{}},\"volumes\":[{\"name\":\"rootdisk\",\"containerDisk\":{"
        "\"image\":\"docker.io/library/busybox:1.36\"}}]}}}}}}", annot, archf);
    if (n < 0 || n >= 4096) {
        mem_free(body);
        return NULL;
    }
    *len = (size_t)n;
    return body;
}

struct case15 {
    const char *arch, *images;
    bool mutate;
    /* per cluster shape: 'D' denied, 'W' allowed with one warning, 'A' allowed without one */
    const char expect[CL15_COUNT + 1];
    const char *field;          /* the first cause's field when denied */
    const char *needle;         /* in the answer when denied (or, mutating, in the patch) */
};

static const struct case15 cases15[] = {
    /* the issue: s390x requested, image arm64+s390x, no s390x node */
    { "s390x", "arm64,s390x", false, "DDDW", "spec.template.spec.architecture",
      "architecture s390x is requested, but no eligible node runs s390x" },
    { "arm64", "arm64,s390x", false, "WWAW", NULL, NULL },
    { "s390x", "arm64", false, "DDDD", "spec.template.spec.architecture", "architecture s390x does not match the boot image" },
    { "s390x", NULL, false, "DDDW", "spec.template.spec.architecture",
      "architecture s390x is requested, but no eligible node runs s390x" },
    { "amd64", "arm64,s390x", false, "DDDD", "spec.template.spec.architecture", "architecture amd64 does not match" },
    { NULL, "arm64,s390x", false, "WWAW", NULL, NULL },
};

/* Check one answer (an AdmissionReview text) against its expectation. */
static void check15(const struct case15 *c, enum cl15 k, const char *via, const char *text)
{
    char what[160];
    snprintf(what, sizeof what, "%s %s/%s on %s via %s", c->mutate ? "mutate" : "validate", c->arch ? c->arch : "-",
             c->images ? c->images : "-", cl15_name[k], via);
    cJSON *got = cJSON_Parse(text);
    const cJSON *r = response_of(got);
    bool allowed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "allowed"));
    int nwarn = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "warnings"));
    const cJSON *causes = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "status"), "details"), "causes");
    const char *field = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(causes, 0), "field"));
    char e = c->expect[k];
    bool ok = got && r && allowed == (e != 'D') && (e == 'D' || nwarn == (e == 'W' ? 1 : 0)) &&
              (e != 'D' || (field && c->field && strcmp(field, c->field) == 0)) &&
              (e != 'D' || !c->needle || strstr(text, c->needle));
    if (!ok)
        fprintf(stderr, "\n%s: expected %c, got %s\n", what, e, text);
    CASE_ASSERT(ok, (size_t)k, what);
    cJSON_Delete(got);
}

static void test_cli_issue15(void)
{
    for (int k = 0; k < CL15_COUNT; k++) {
        char dir[600], in[700];
        CU_ASSERT_FATAL(write_cluster15((enum cl15)k, dir, sizeof dir));
        for (size_t i = 0; i < sizeof cases15 / sizeof cases15[0]; i++) {
            size_t len = 0;
            char *body = review15(cases15[i].arch, cases15[i].images, &len);
            CU_ASSERT_PTR_NOT_NULL_FATAL(body);
            itest_path(in, sizeof in, dir, "review.json.in");
            FILE *f = fopen(in, "w");
            CU_ASSERT_PTR_NOT_NULL_FATAL(f);
            CU_ASSERT(fwrite(body, 1, len, f) == len);
            fclose(f);
            mem_free(body);
            const char *args[] = { "--cluster-state", dir, NULL };
            CU_ASSERT_EQUAL(review(in, args), 0);
            check15(&cases15[i], (enum cl15)k, "archgate review", out);
        }
        /* /mutate pins an image that can only run on held-back nodes to their architecture */
        itest_path(in, sizeof in, dir, "review.json.in");
        size_t len = 0;
        char *body = review15(NULL, "arm64,s390x", &len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(body);
        FILE *f = fopen(in, "w");
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        CU_ASSERT(fwrite(body, 1, len, f) == len);
        fclose(f);
        mem_free(body);
        const char *margs[] = { "--cluster-state", dir, "--mutate", NULL };
        CU_ASSERT_EQUAL(review(in, margs), 0);
        cJSON *got = cJSON_Parse(out);
        const cJSON *r = response_of(got);
        const char *b64 = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "patch"));
        CU_ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "allowed")));
        CU_ASSERT_PTR_NOT_NULL(b64);
        /* base64 of ...{"kubernetes.io/arch":"arm64"}... is checked through the decoded text */
        struct pool *pool = pool_new(0);
        char *patch = NULL;
        size_t plen = 0;
        CU_ASSERT_TRUE(pool && b64 && patch_base64_decode(b64, pool, &patch, &plen));
        CU_ASSERT_TRUE(patch && strstr(patch, "\"/spec/template/spec/architecture\",\"value\":\"arm64\"") != NULL);
        pool_free(pool);
        cJSON_Delete(got);
    }
}

static void test_server_issue15(void)
{
    static const enum cl15 shapes[] = { CL15_ARM_CORD, CL15_ARM_NOTREADY, CL15_Z_CORD };
    for (size_t s_i = 0; s_i < sizeof shapes / sizeof shapes[0]; s_i++) {
        enum cl15 k = shapes[s_i];
        char dir[600];
        CU_ASSERT_FATAL(write_cluster15(k, dir, sizeof dir));
        struct server s;
        CU_ASSERT_FATAL(start_on(&s, dir, "2s"));
        CURL *h = client_new(NULL);
        for (size_t i = 0; i < sizeof cases15 / sizeof cases15[0]; i++) {
            size_t len = 0;
            char *body = review15(cases15[i].arch, cases15[i].images, &len);
            CU_ASSERT_PTR_NOT_NULL_FATAL(body);
            struct reply r;
            memset(&r, 0, sizeof r);
            CU_ASSERT_TRUE(https(h, s.port, "POST", "/validate?timeout=10s", "application/json", body, len, &r));
            CU_ASSERT_EQUAL(r.status, 200);
            check15(&cases15[i], k, "/validate", r.body ? r.body : "");
            reply_free(&r);
            mem_free(body);
        }
        curl_easy_cleanup(h);
        CU_ASSERT_EQUAL(server_stop(&s, SIGTERM, NULL), 0);
    }
}

/* ---- reload under load ------------------------------------------------------------------ */

struct loader {
    unsigned short port;
    atomic_bool stop;
    atomic_int ok, denied, allowed, failed;
    atomic_int denied_after_allowed;    /* a denial seen after an allowed answer: a mix of states */
};

static void *load_main(void *arg)
{
    struct loader *l = arg;
    size_t len = 0;
    char *body = tu_read_file(EX "01-deny-arm64-image-outside-vm-pool/review.json", &len);
    CURL *h = client_new(NULL);
    bool seen_allowed = false;
    while (body && h && !atomic_load(&l->stop)) {
        struct reply r;
        memset(&r, 0, sizeof r);
        if (!https(h, l->port, "POST", "/validate", "application/json", body, len, &r) || r.status != 200) {
            atomic_fetch_add(&l->failed, 1);
        } else {
            atomic_fetch_add(&l->ok, 1);
            if (strstr(r.body, "\"allowed\":true")) {
                atomic_fetch_add(&l->allowed, 1);
                seen_allowed = true;
            } else {
                atomic_fetch_add(&l->denied, 1);
                if (seen_allowed)
                    atomic_fetch_add(&l->denied_after_allowed, 1);
            }
        }
        reply_free(&r);
    }
    curl_easy_cleanup(h);
    mem_free(body);
    return NULL;
}

/* Replace `from` by `to` in a file, writing a new file and renaming it over the old one. */
static bool rewrite(const char *path, const char *from, const char *to)
{
    char *text = tu_read_file(path, NULL);
    char *at = text ? strstr(text, from) : NULL;
    if (!at) {
        mem_free(text);
        return false;
    }
    char tmp[1024];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = n > 0 && (size_t)n < sizeof tmp ? fopen(tmp, "w") : NULL;
    bool ok = f && fwrite(text, 1, (size_t)(at - text), f) == (size_t)(at - text) && fputs(to, f) >= 0 &&
              fputs(at + strlen(from), f) >= 0;
    if (f)
        ok = fclose(f) == 0 && ok;
    mem_free(text);
    return ok && rename(tmp, path) == 0;
}

static bool copy_file(const char *from, const char *to)
{
    size_t len = 0;
    char *text = tu_read_file(from, &len);
    FILE *f = text ? fopen(to, "w") : NULL;
    bool ok = f && fwrite(text, 1, len, f) == len;
    if (f)
        ok = fclose(f) == 0 && ok;
    mem_free(text);
    return ok;
}

static void test_reload_while_serving(void)
{
    char dir[600], nodes[700], hco[700], ds[700], broken[700];
    itest_path(dir, sizeof dir, itest_dir, "reload-cluster");
    CU_ASSERT_FATAL(mkdir(dir, 0700) == 0 || access(dir, F_OK) == 0);
    itest_path(nodes, sizeof nodes, dir, "nodes.json");
    itest_path(hco, sizeof hco, dir, "hyperconverged.json");
    itest_path(ds, sizeof ds, dir, "datasources.json");
    CU_ASSERT_FATAL(copy_file(EX "01-deny-arm64-image-outside-vm-pool/cluster/nodes.json", nodes));
    CU_ASSERT_FATAL(copy_file(EX "01-deny-arm64-image-outside-vm-pool/cluster/hyperconverged.json", hco));
    CU_ASSERT_FATAL(copy_file(EX "01-deny-arm64-image-outside-vm-pool/cluster/datasources.json", ds));

    struct server s;
    CU_ASSERT_FATAL(start_on(&s, dir, "100ms"));
    struct loader l = { .port = s.port };
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, load_main, &l);
    sleep_ms(300);
    CU_ASSERT(atomic_load(&l.denied) > 0);     /* example 01: the arm64 node is outside the VM pool */

    /* Move worker-a1 into the VM pool and let KubeVirt label it: the VM becomes admissible. */
    CU_ASSERT_FATAL(rewrite(nodes, "\"vms.example.org/pool\": \"arm-preview\"",
                            "\"vms.example.org/pool\": \"general\", \"kubevirt.io/schedulable\": \"true\""));
    int waited = 0;
    while (atomic_load(&l.allowed) == 0 && waited < 5000) {
        sleep_ms(50);
        waited += 50;
    }
    CU_ASSERT(atomic_load(&l.allowed) > 0);
    CU_ASSERT(waited < 3000);

    /* A broken file: the previous state keeps serving; the failure is counted. */
    itest_path(broken, sizeof broken, dir, "zz-broken.json");
    FILE *f = fopen(broken, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("{\"kind\": \"List\", \"items\": [", f);
    fclose(f);
    sleep_ms(600);
    int allowed_before = atomic_load(&l.allowed);
    sleep_ms(300);
    CU_ASSERT(atomic_load(&l.allowed) > allowed_before);
    CU_ASSERT(server_metric(&s, "archgate_cluster_reloads_total{result=\"failure\"}") >= 1);

    atomic_store(&l.stop, true);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CU_ASSERT_EQUAL(atomic_load(&l.failed), 0);
    CU_ASSERT_EQUAL(atomic_load(&l.denied_after_allowed), 0);
    CU_ASSERT(atomic_load(&l.ok) > 20);
    CU_ASSERT_EQUAL(server_stop(&s, SIGTERM, NULL), 0);
}

UNIT_SUITE("itest_decide", NULL, NULL,
           { "review CLI answers the worked examples", test_cli_examples },
           { "review CLI on the bundled samples", test_cli_samples },
           { "review CLI: unusable input and broken cluster state", test_cli_unusable_input },
           { "server answers the bundled samples", test_server_samples },
           { "review CLI: a requested architecture no node has, beside held-back nodes (issue 15)", test_cli_issue15 },
           { "server /validate: a requested architecture no node has, beside held-back nodes (issue 15)", test_server_issue15 },
           { "cluster-state folder reloaded while requests run", test_reload_while_serving })
