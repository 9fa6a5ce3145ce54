/* test_hco_review.c - reviews of HyperConverged edits: each golden-image warning (no annotation,
 * malformed items, no supported architecture, architectures HCO will drop) in the v1beta1 and v1
 * shapes, disabled DICTs ignored, multi-arch turned off on heterogeneous workload nodes, an
 * UPDATE without a relevant change silent, the cap and summary, warnings short enough for
 * kubectl, and the answer through webhook_handle (allowed on /validate and /mutate alike). */
#include <stdio.h>
#include <string.h>
#include "unit.h"
#include "testutil.h"
#include "hco/hco_review.h"
#include "webhook.h"
#include "audit/inventory.h"
#include "pool.h"

#define WORKER(name, arch) \
    "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"" name "\",\"labels\":{" \
    "\"kubernetes.io/arch\":\"" arch "\",\"node-role.kubernetes.io/worker\":\"\"}}}"
/* two amd64 workers and one arm64 worker; an s390x control-plane node, which is no workload node */
#define NODES WORKER("w1", "amd64") "," WORKER("w2", "amd64") "," WORKER("a1", "arm64") "," \
    "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"cp\",\"labels\":{" \
    "\"kubernetes.io/arch\":\"s390x\",\"node-role.kubernetes.io/control-plane\":\"\"}}}"

static struct snapshot *snap;
static struct pool *pool;

static int suite_init(void)
{
    snap = tu_snapshot("{\"kind\":\"List\",\"items\":[" NODES "]}");
    pool = pool_new(16 * 1024);
    return snap && pool ? 0 : 1;
}

static int suite_cleanup(void)
{
    snapshot_release(snap);
    pool_free(pool);
    return 0;
}

/* A v1beta1 HyperConverged with the gate (true/false/absent) and DICTs (a JSON list body). */
static char *hco_v1beta1(const char *gate, const char *dicts, const char *extra)
{
    return pool_printf(pool,
                       "{\"apiVersion\":\"hco.kubevirt.io/v1beta1\",\"kind\":\"HyperConverged\",\"metadata\":{"
                       "\"name\":\"kubevirt-hyperconverged\",\"namespace\":\"kubevirt-hyperconverged\"},\"spec\":{"
                       "\"featureGates\":{\"enableMultiArchBootImageImport\":%s},\"dataImportCronTemplates\":[%s]%s}}",
                       gate, dicts, extra ? extra : "");
}

#define DICT(name, annots) \
    "{\"metadata\":{\"name\":\"" name "\",\"annotations\":{" annots "}},\"spec\":{\"schedule\":\"0 */12 * * *\"," \
    "\"template\":{\"spec\":{\"source\":{\"registry\":{\"url\":\"docker://quay.io/containerdisks/" name "\"}}}}," \
    "\"managedDataSource\":\"" name "\"}}"
#define ARCHS(v) "\"ssp.kubevirt.io/dict.architectures\":\"" v "\""

static void review(const char *object, const char *old, struct hco_review_result *out)
{
    cJSON *o = tu_parse(object), *b = old ? tu_parse(old) : NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    struct hco_review_input in = { .object = o, .old_object = b, .snap = snap };
    CU_ASSERT_EQUAL(hco_review(&in, pool, out), AG_OK);
    for (size_t i = 0; i < out->nwarnings; i++)
        CU_ASSERT(strlen(out->warnings[i]) < WARNING_MAX_LEN);
    cJSON_Delete(o);
    cJSON_Delete(b);
}

static bool has(const struct hco_review_result *r, enum hco_warning_kind k, const char *text)
{
    for (size_t i = 0; i < r->nwarnings; i++)
        if (r->kinds[i] == k && strstr(r->warnings[i], text))
            return true;
    fprintf(stderr, "\n  no %s warning with \"%s\" among %zu:", hco_warning_kind_name(k), text, r->nwarnings);
    for (size_t i = 0; i < r->nwarnings; i++)
        fprintf(stderr, "\n    %s", r->warnings[i]);
    return false;
}

static void test_golden_images(void)
{
    struct hco_review_result r;
    review(hco_v1beta1("true",
                       DICT("no-annot", "") "," DICT("all-three", ARCHS("amd64,arm64,s390x")) ","
                       DICT("s390-only", ARCHS("s390x")) "," DICT("fine", ARCHS("amd64,arm64")) ","
                       DICT("off", "\"dataimportcrontemplate.kubevirt.io/enable\":\"false\"") ","
                       DICT("off-too", "\"dataimportcrontemplate.kubevirt.io/enable\":\"False\"," ARCHS("pdp11")) ","
                       DICT("off-no", "\"dataimportcrontemplate.kubevirt.io/enable\":\"no\"," ARCHS("s390x")) ","
                       DICT("on-true", "\"dataimportcrontemplate.kubevirt.io/enable\":\"TRUE\"," ARCHS("amd64"))
                       ,
                       NULL),
           NULL, &r);
    CU_ASSERT_EQUAL(r.outcome, HO_WARNED);
    CU_ASSERT_EQUAL(r.nwarnings, 3);
    CU_ASSERT(has(&r, HW_NO_ANNOTATION, "golden image no-annot: annotate ssp.kubevirt.io/dict.architectures or HCO "
                                        "will not deploy it"));
    CU_ASSERT(has(&r, HW_ARCHS_DROPPED, "golden image all-three: HCO will drop s390x (no workload node) and keep "
                                        "amd64, arm64"));
    CU_ASSERT(has(&r, HW_NO_SUPPORTED_ARCH, "golden image s390-only: annotated s390x, but no workload node runs it: "
                                            "HCO will not deploy it"));
    /* the control-plane s390x node is no workload node; disabled DICTs ("false", "False", and "no":
     * HCO turns a DICT off for any value but "true") say nothing */
}

static void test_malformed(void)
{
    struct hco_review_result r;
    review(hco_v1beta1("true", DICT("odd", ARCHS("amd64,,x86_64,pdp11")) "," DICT("empty", ARCHS("")), NULL), NULL,
           &r);
    CU_ASSERT_EQUAL(r.nwarnings, 4);
    CU_ASSERT(has(&r, HW_MALFORMED, "golden image odd: ssp.kubevirt.io/dict.architectures has an empty item"));
    CU_ASSERT(has(&r, HW_MALFORMED, "golden image odd: HCO matches amd64, not x86_64"));
    CU_ASSERT(has(&r, HW_MALFORMED, "golden image odd: pdp11 is not an architecture name"));
    CU_ASSERT(has(&r, HW_MALFORMED, "golden image empty: ssp.kubevirt.io/dict.architectures has an empty item"));
    /* amd64 is listed and has workload nodes: no further warning for "odd" */
}

static void test_v1_shape(void)
{
    /* v1: the workloadSources field and DICT list, and a workload placement on amd64 only */
    const char *v1 =
        "{\"apiVersion\":\"hco.kubevirt.io/v1\",\"kind\":\"HyperConverged\",\"metadata\":{\"name\":\"kubevirt-"
        "hyperconverged\",\"namespace\":\"kubevirt-hyperconverged\"},\"spec\":{\"workloadSources\":{"
        "\"enableMultiArchBootImageImport\":true,\"dataImportCronTemplates\":[" DICT("multi", ARCHS("amd64,arm64"))
        "]},\"deployment\":{\"nodePlacements\":{\"workload\":{\"nodeSelector\":{\"kubernetes.io/arch\":\"amd64\"}}}}}}";
    struct hco_review_result r;
    review(v1, NULL, &r);
    CU_ASSERT_EQUAL(r.nwarnings, 1);
    CU_ASSERT(has(&r, HW_ARCHS_DROPPED, "golden image multi: HCO will drop arm64 (no workload node) and keep amd64"));
    /* a v1 feature-gate list entry without state counts as enabled */
    const char *v1_list =
        "{\"apiVersion\":\"hco.kubevirt.io/v1\",\"kind\":\"HyperConverged\",\"metadata\":{\"name\":\"h\","
        "\"namespace\":\"n\"},\"spec\":{\"featureGates\":[{\"name\":\"enableMultiArchBootImageImport\"}],"
        "\"dataImportCronTemplates\":[" DICT("bare", "") "]}}";
    review(v1_list, NULL, &r);
    CU_ASSERT(has(&r, HW_NO_ANNOTATION, "golden image bare"));
}

static void test_gate_off(void)
{
    struct hco_review_result r;
    /* created off on heterogeneous workload nodes: the HCOMultiArchGoldenImagesDisabled situation */
    review(hco_v1beta1("false", DICT("no-annot", ""), NULL), NULL, &r);
    CU_ASSERT_EQUAL(r.nwarnings, 1);
    CU_ASSERT(has(&r, HW_GATE_OFF, "multi-arch boot images are off while workload nodes run amd64, arm64"));
    /* turned off by an UPDATE: the same; golden images are not judged while it is off */
    char *on = hco_v1beta1("true", DICT("no-annot", ""), NULL);
    review(hco_v1beta1("false", DICT("no-annot", ""), NULL), on, &r);
    CU_ASSERT_EQUAL(r.nwarnings, 1);
    CU_ASSERT_EQUAL(r.kinds[0], HW_GATE_OFF);
    /* already off, and another field read here changes: not said again */
    review(hco_v1beta1("false", DICT("no-annot", ARCHS("amd64")), NULL), hco_v1beta1("false", DICT("no-annot", ""), NULL),
           &r);
    CU_ASSERT_EQUAL(r.nwarnings, 0);
    CU_ASSERT_EQUAL(r.outcome, HO_SILENT);
    /* off, but the workload nodes are one architecture: nothing to say */
    review(hco_v1beta1("false", "", ",\"workloads\":{\"nodePlacement\":{\"nodeSelector\":{\"kubernetes.io/arch\":"
                                    "\"arm64\"}}}"), NULL, &r);
    CU_ASSERT_EQUAL(r.nwarnings, 0);
}

static void test_unchanged_update(void)
{
    struct hco_review_result r;
    const char *dicts = DICT("no-annot", "") "," DICT("s390-only", ARCHS("s390x"));
    char *before = hco_v1beta1("true", dicts, ",\"liveMigrationConfig\":{\"parallelMigrationsPerCluster\":5}");
    char *after = hco_v1beta1("true", dicts, ",\"liveMigrationConfig\":{\"parallelMigrationsPerCluster\":9}");
    review(after, before, &r);
    CU_ASSERT_EQUAL(r.outcome, HO_UNCHANGED);
    CU_ASSERT_EQUAL(r.nwarnings, 0);
    /* the same placement written in another member order is no change either */
    review(hco_v1beta1("true", dicts, ",\"workloads\":{\"nodePlacement\":{\"nodeSelector\":{\"a\":\"1\",\"b\":\"2\"}}}"),
           hco_v1beta1("true", dicts, ",\"workloads\":{\"nodePlacement\":{\"nodeSelector\":{\"b\":\"2\",\"a\":\"1\"}}}"),
           &r);
    CU_ASSERT_EQUAL(r.outcome, HO_UNCHANGED);
    /* a DICT's annotation changes: reviewed again */
    review(hco_v1beta1("true", DICT("no-annot", ARCHS("s390x")) "," DICT("s390-only", ARCHS("s390x")), NULL), before,
           &r);
    CU_ASSERT_EQUAL(r.outcome, HO_WARNED);
    CU_ASSERT_EQUAL(r.nwarnings, 2);
    /* the gate turned on: every DICT is judged */
    review(hco_v1beta1("true", dicts, NULL), hco_v1beta1("false", dicts, NULL), &r);
    CU_ASSERT_EQUAL(r.nwarnings, 2);
}

static void test_cap_and_length(void)
{
    /* 20 DICTs without the annotation: 6 shown, then a summary */
    char *dicts = pool_strdup(pool, "");
    for (int i = 0; i < 20; i++)
        dicts = pool_printf(pool, "%s%s{\"metadata\":{\"name\":\"img-%02d\"}}", dicts, i ? "," : "", i);
    struct hco_review_result r;
    review(hco_v1beta1("true", dicts, NULL), NULL, &r);
    CU_ASSERT_EQUAL(r.nwarnings, HCO_REVIEW_MAX_DICT_WARNINGS + 1);
    CU_ASSERT(has(&r, HW_NO_ANNOTATION, "golden image img-05:"));
    CU_ASSERT(has(&r, HW_SUMMARY, "and 14 more golden-image warnings (20 DataImportCronTemplates)"));
    /* a long name: the warning is cut, at a character boundary, with an ellipsis */
    char name[300];
    memset(name, 'x', 200);
    memcpy(name + 100, "\xc3\xa9\xc3\xa9", 4);    /* two-byte characters near the cut */
    name[200] = '\0';
    review(hco_v1beta1("true", pool_printf(pool, "{\"metadata\":{\"name\":\"%s\"}}", name), NULL), NULL, &r);
    CU_ASSERT_EQUAL_FATAL(r.nwarnings, 1);
    CU_ASSERT(strlen(r.warnings[0]) < WARNING_MAX_LEN);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.warnings[0], "..."));
}

static void test_unreadable(void)
{
    struct hco_review_result r;
    review("{\"apiVersion\":\"hco.kubevirt.io/v1beta1\",\"kind\":\"HyperConverged\",\"metadata\":{\"name\":\"h\","
           "\"namespace\":\"n\"},\"spec\":{\"featureGates\":\"yes\"}}", NULL, &r);
    CU_ASSERT_EQUAL(r.outcome, HO_UNREADABLE);
    CU_ASSERT(has(&r, HW_UNREADABLE, "archgate cannot read this HyperConverged: HyperConverged n/h: spec.featureGates"));
    review(hco_v1beta1("true", "", ",\"x\":1}"), NULL, &r);       /* spec.dataImportCronTemplates fine, empty */
    CU_ASSERT_EQUAL(r.outcome, HO_SILENT);
    review("{\"apiVersion\":\"hco.kubevirt.io/v1beta1\",\"kind\":\"HyperConverged\",\"metadata\":{\"name\":\"h\","
           "\"namespace\":\"n\"},\"spec\":{\"dataImportCronTemplates\":{}}}", NULL, &r);
    CU_ASSERT_EQUAL(r.outcome, HO_UNREADABLE);
}

/* Golden-image sources: which are asked about, and the annotation against what was answered. */
static void test_registry(void)
{
    const char *dicts = DICT("multi", ARCHS("amd64,arm64")) "," DICT("narrow", ARCHS("amd64")) ","
                        DICT("wide", ARCHS("amd64,arm64,s390x")) "," DICT("bare", "") ","
                        DICT("off", "\"dataimportcrontemplate.kubevirt.io/enable\":\"false\"," ARCHS("amd64"));
    cJSON *o = tu_parse(hco_v1beta1("true", dicts, NULL));
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    struct hco_review_input in = { .object = o, .snap = snap };
    const char **urls = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(hco_review_sources(&in, pool, &urls, &n), AG_OK);
    /* enabled and annotated only: not "bare", not "off" */
    CU_ASSERT_EQUAL_FATAL(n, 3);
    CU_ASSERT_STRING_EQUAL(urls[0], "docker://quay.io/containerdisks/multi");
    CU_ASSERT_STRING_EQUAL(urls[2], "docker://quay.io/containerdisks/wide");
    struct hco_registry_answer answers[] = {
        { "docker://quay.io/containerdisks/multi", arch_bit(ARCH_AMD64) | arch_bit(ARCH_ARM64), true },
        { "docker://quay.io/containerdisks/narrow", arch_bit(ARCH_AMD64) | arch_bit(ARCH_ARM64), true },
        { "docker://quay.io/containerdisks/wide", arch_bit(ARCH_AMD64), false },
    };
    in.registry = answers;
    in.nregistry = 3;
    struct hco_review_result r;
    CU_ASSERT_EQUAL(hco_review(&in, pool, &r), AG_OK);
    CU_ASSERT(has(&r, HW_REGISTRY_DIFFERS, "golden image narrow: its registry index also lists arm64, which the "
                                           "annotation leaves out"));
    CU_ASSERT(has(&r, HW_REGISTRY_DIFFERS, "golden image wide: annotated arm64, s390x, but its registry image lists "
                                           "only amd64"));
    for (size_t i = 0; i < r.nwarnings; i++)
        CU_ASSERT_PTR_NULL(strstr(r.warnings[i], "golden image multi: its"));
    /* an answer of nothing (the registry could not be read) says nothing */
    answers[2].archs = 0;
    CU_ASSERT_EQUAL(hco_review(&in, pool, &r), AG_OK);
    for (size_t i = 0; i < r.nwarnings; i++)
        CU_ASSERT_PTR_NULL(strstr(r.warnings[i], "golden image wide: annotated arm64, s390x, but"));
    /* multi-arch off, or an UPDATE with no relevant change: nothing to ask about */
    cJSON *off = tu_parse(hco_v1beta1("false", dicts, NULL));
    struct hco_review_input in_off = { .object = off, .snap = snap }, in_same = { .object = o, .old_object = o, .snap = snap };
    CU_ASSERT_EQUAL(hco_review_sources(&in_off, pool, &urls, &n), AG_OK);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_EQUAL(hco_review_sources(&in_same, pool, &urls, &n), AG_OK);
    CU_ASSERT_EQUAL(n, 0);
    cJSON_Delete(off);
    cJSON_Delete(o);
}

#define VM(ns, name, archs) \
    "{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":\"VirtualMachine\",\"metadata\":{\"name\":\"" name "\"," \
    "\"namespace\":\"" ns "\",\"annotations\":{\"archgate.io/image-architectures\":\"" archs "\"}}," \
    "\"spec\":{\"template\":{\"spec\":{\"domain\":{\"devices\":{}}}}}}"

/* A HyperConverged UPDATE that changes the workload placement, through the request path with the
 * VMs that exist: the ones it newly leaves without a node for their image are counted and named;
 * one that strands none says nothing; without the inventory nothing is said. */
static void test_placement_strands_vms(void)
{
    char err[256];
    struct inventory *inv = inventory_new();
    cJSON *vms = tu_parse("{\"kind\":\"List\",\"items\":[" VM("team-a", "fedora-arm", "arm64") ","
                          VM("team-a", "ubuntu-arm", "arm64") "," VM("team-b", "centos-arm", "arm64") ","
                          VM("team-b", "db-arm", "arm64") "," VM("team-c", "web", "amd64") ","
                          VM("team-c", "z-only", "s390x") "]}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(inv);
    CU_ASSERT_EQUAL_FATAL(inventory_add_value(inv, vms, "test", err, sizeof err), AG_OK);
    cJSON_Delete(vms);
    const char *to_amd =
        ",\"workloads\":{\"nodePlacement\":{\"nodeSelector\":{\"kubernetes.io/arch\":\"amd64\"}}}";
    const char *to_arm =
        ",\"workloads\":{\"nodePlacement\":{\"nodeSelector\":{\"kubernetes.io/arch\":\"arm64\"}}}";
    char *before = hco_v1beta1("true", "", NULL), *narrow = hco_v1beta1("true", "", to_amd);
    char *body = pool_printf(pool,
                             "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
                             "\"uid\":\"u-2\",\"kind\":{\"group\":\"hco.kubevirt.io\",\"version\":\"v1beta1\","
                             "\"kind\":\"HyperConverged\"},\"resource\":{\"group\":\"hco.kubevirt.io\",\"version\":"
                             "\"v1beta1\",\"resource\":\"hyperconvergeds\"},\"name\":\"kubevirt-hyperconverged\","
                             "\"namespace\":\"kubevirt-hyperconverged\",\"operation\":\"UPDATE\",\"object\":%s,"
                             "\"oldObject\":%s}}", narrow, before);
    struct webhook_result res;
    webhook_handle(body, strlen(body), false, snap, NULL, 0, &res);    /* no inventory: nothing to say */
    CU_ASSERT_TRUE(res.allowed);
    CU_ASSERT_PTR_NULL(strstr(res.body, "this placement"));
    webhook_result_free(&res);
    webhook_set_inventory(inv);
    webhook_handle(body, strlen(body), false, snap, NULL, 0, &res);
    CU_ASSERT_EQUAL(res.http_status, 200);
    CU_ASSERT_TRUE(res.allowed);
    /* four arm64 VMs lose their only node; the s390x one had none before: not counted */
    CU_ASSERT_PTR_NOT_NULL(strstr(res.body, "this placement leaves 4 VMs without a node for its image: "
                                            "team-a/fedora-arm, team-a/ubuntu-arm, team-b/centos-arm, ..."));
    webhook_result_free(&res);
    /* narrowed to arm64 instead: the one amd64 VM */
    char *body2 = pool_printf(pool,
                              "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
                              "\"uid\":\"u-3\",\"kind\":{\"group\":\"hco.kubevirt.io\",\"version\":\"v1beta1\","
                              "\"kind\":\"HyperConverged\"},\"resource\":{\"group\":\"hco.kubevirt.io\",\"version\":"
                              "\"v1beta1\",\"resource\":\"hyperconvergeds\"},\"name\":\"h\",\"namespace\":\"n\","
                              "\"operation\":\"UPDATE\",\"object\":%s,\"oldObject\":%s}}",
                              hco_v1beta1("true", "", to_arm), before);
    webhook_handle(body2, strlen(body2), false, snap, NULL, 0, &res);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.body, "this placement leaves 1 VM without a node for its image: team-c/web\""));
    webhook_result_free(&res);
    /* widened back: strands none */
    char *body3 = pool_printf(pool,
                              "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
                              "\"uid\":\"u-4\",\"kind\":{\"group\":\"hco.kubevirt.io\",\"version\":\"v1beta1\","
                              "\"kind\":\"HyperConverged\"},\"resource\":{\"group\":\"hco.kubevirt.io\",\"version\":"
                              "\"v1beta1\",\"resource\":\"hyperconvergeds\"},\"name\":\"h\",\"namespace\":\"n\","
                              "\"operation\":\"UPDATE\",\"object\":%s,\"oldObject\":%s}}", before, narrow);
    webhook_handle(body3, strlen(body3), false, snap, NULL, 0, &res);
    CU_ASSERT_TRUE(res.allowed);
    CU_ASSERT_PTR_NULL(strstr(res.body, "this placement"));
    webhook_result_free(&res);
    webhook_set_inventory(NULL);
    inventory_free(inv);
}

/* The whole request path: allowed with the warnings on /validate, untouched on /mutate. */
static void test_webhook(void)
{
    char *obj = hco_v1beta1("true", DICT("s390-only", ARCHS("s390x")), NULL);
    char *body = pool_printf(pool,
                             "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
                             "\"uid\":\"u-1\",\"kind\":{\"group\":\"hco.kubevirt.io\",\"version\":\"v1beta1\","
                             "\"kind\":\"HyperConverged\"},\"resource\":{\"group\":\"hco.kubevirt.io\",\"version\":"
                             "\"v1beta1\",\"resource\":\"hyperconvergeds\"},\"name\":\"kubevirt-hyperconverged\","
                             "\"namespace\":\"kubevirt-hyperconverged\",\"operation\":\"CREATE\",\"object\":%s}}",
                             obj);
    struct webhook_result res;
    webhook_handle(body, strlen(body), false, snap, NULL, 0, &res);
    CU_ASSERT_EQUAL(res.http_status, 200);
    CU_ASSERT_TRUE(res.allowed);
    CU_ASSERT_EQUAL(res.cls, VC_WARNED);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.body, "golden image s390-only: annotated s390x, but no workload node runs it"));
    webhook_result_free(&res);
    webhook_handle(body, strlen(body), true, snap, NULL, 0, &res);
    CU_ASSERT_EQUAL(res.http_status, 200);
    CU_ASSERT_TRUE(res.allowed);
    CU_ASSERT_PTR_NULL(strstr(res.body, "warnings"));
    CU_ASSERT_PTR_NULL(strstr(res.body, "patch"));
    webhook_result_free(&res);
}

UNIT_SUITE("hco_review", suite_init, suite_cleanup,
           { "golden images: no annotation, dropped and unsupported architectures, disabled ones", test_golden_images },
           { "malformed annotation items", test_malformed },
           { "v1 shape: workloadSources, the placement, a gate list entry", test_v1_shape },
           { "multi-arch off on heterogeneous workload nodes", test_gate_off },
           { "an UPDATE without a relevant change is silent", test_unchanged_update },
           { "at most six golden-image warnings and a summary; warnings fit", test_cap_and_length },
           { "unreadable objects", test_unreadable },
           { "golden-image sources against what their registry lists", test_registry },
           { "a placement change: the existing VMs it strands, counted and named", test_placement_strands_vms },
           { "through webhook_handle: allowed, warnings on /validate only", test_webhook });
