/* test_selector.c - label maps, nodeSelector, required node affinity (every operator,
 * matchFields, term logic), taints and tolerations, and malformed input on every parser. */
#include <stdio.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "unit.h"
#include "testutil.h"
#include "selector.h"
#include "mem.h"

static char err[512];

static struct labels labels_from(const char *json)
{
    struct labels l = { NULL, 0 };
    cJSON *j = cJSON_Parse(json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_EQUAL(selector_parse_labels(j, tu_pool, &l, err, sizeof err), AG_OK);
    cJSON_Delete(j);
    return l;
}

static void test_labels_parse(void)
{
    /* cJSON keeps duplicate keys; the last one wins */
    struct labels l = labels_from("{\"zone\":\"a\",\"kubernetes.io/arch\":\"arm64\",\"beta\":\"x\",\"zone\":\"b\"}");
    CU_ASSERT_EQUAL(l.n, 3);
    for (size_t i = 1; i < l.n; i++)
        CU_ASSERT(strcmp(l.items[i - 1].key, l.items[i].key) < 0);
    CU_ASSERT_STRING_EQUAL(labels_get(&l, "zone"), "b");
    CU_ASSERT_STRING_EQUAL(labels_get(&l, "kubernetes.io/arch"), "arm64");
    CU_ASSERT_STRING_EQUAL(labels_get(&l, "beta"), "x");
    CU_ASSERT_PTR_NULL(labels_get(&l, "kubernetes.io/os"));
    CU_ASSERT_PTR_NULL(labels_get(&l, ""));
    CU_ASSERT(labels_has(&l, "zone"));
    CU_ASSERT(!labels_has(&l, "zon"));

    struct labels e = labels_from("{}");
    CU_ASSERT_EQUAL(e.n, 0);
    CU_ASSERT_PTR_NULL(labels_get(&e, "a"));
    struct labels n;
    CU_ASSERT_EQUAL(selector_parse_labels(NULL, tu_pool, &n, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(n.n, 0);
    cJSON *null = cJSON_CreateNull();
    CU_ASSERT_EQUAL(selector_parse_labels(null, tu_pool, &n, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(n.n, 0);
    cJSON_Delete(null);

    /* many keys: the binary search finds every one */
    char buf[8192];
    size_t used = (size_t)snprintf(buf, sizeof buf, "{");
    for (int i = 99; i >= 0; i--)
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s\"k%02d\":\"v%d\"", i == 99 ? "" : ",", i, i);
    snprintf(buf + used, sizeof buf - used, "}");
    struct labels big = labels_from(buf);
    CU_ASSERT_EQUAL(big.n, 100);
    for (int i = 0; i < 100; i++) {
        char k[16], v[16];
        snprintf(k, sizeof k, "k%02d", i);
        snprintf(v, sizeof v, "v%d", i);
        const char *got = labels_get(&big, k);
        CU_ASSERT(got && strcmp(got, v) == 0);
    }
    CU_ASSERT_PTR_NULL(labels_get(&big, "k100"));
}

static void test_label_selector_table(void)
{
    static const struct { const char *sel, *node; bool match; } cases[] = {
        { "{}", "{}", true },
        { "{}", "{\"a\":\"1\"}", true },
        { "{\"kubernetes.io/arch\":\"arm64\"}", "{\"kubernetes.io/arch\":\"arm64\",\"kubernetes.io/os\":\"linux\"}", true },
        { "{\"kubernetes.io/arch\":\"arm64\"}", "{\"kubernetes.io/arch\":\"amd64\"}", false },
        { "{\"kubernetes.io/arch\":\"arm64\"}", "{}", false },
        { "{\"kubernetes.io/arch\":\"arm64\"}", "{\"beta.kubernetes.io/arch\":\"arm64\"}", false },
        { "{\"a\":\"1\",\"b\":\"2\"}", "{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"}", true },
        { "{\"a\":\"1\",\"b\":\"2\"}", "{\"a\":\"1\",\"b\":\"3\"}", false },
        { "{\"a\":\"\"}", "{\"a\":\"\"}", true },
        { "{\"a\":\"\"}", "{}", false },
        { "{\"a\":\"x\"}", "{\"a\":\"X\"}", false },
        { "{\"a\":\"x\"}", "{\"a\":\"xy\"}", false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct labels sel = labels_from(cases[i].sel), node = labels_from(cases[i].node);
        CASE_ASSERT(selector_match_labels(&sel, &node) == cases[i].match, i, cases[i].sel);
    }
}

/* required node affinity with one term holding `exprs` (matchExpressions JSON array) */
#define AFF(terms) "{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":" terms "}}}"
#define EXPR1(key, op, vals) AFF("[{\"matchExpressions\":[{\"key\":\"" key "\",\"operator\":\"" op "\"" vals "}]}]")

static void test_affinity_table(void)
{
    static const struct { const char *aff, *node_name, *labels; bool match; } cases[] = {
        /* In */
        { EXPR1("kubernetes.io/arch", "In", ",\"values\":[\"amd64\",\"arm64\"]"), "n", "{\"kubernetes.io/arch\":\"arm64\"}", true },
        { EXPR1("kubernetes.io/arch", "In", ",\"values\":[\"amd64\"]"), "n", "{\"kubernetes.io/arch\":\"arm64\"}", false },
        { EXPR1("kubernetes.io/arch", "In", ",\"values\":[\"amd64\"]"), "n", "{}", false },
        /* NotIn: absent key matches */
        { EXPR1("pool", "NotIn", ",\"values\":[\"gpu\"]"), "n", "{}", true },
        { EXPR1("pool", "NotIn", ",\"values\":[\"gpu\"]"), "n", "{\"pool\":\"cpu\"}", true },
        { EXPR1("pool", "NotIn", ",\"values\":[\"gpu\",\"cpu\"]"), "n", "{\"pool\":\"cpu\"}", false },
        /* Exists / DoesNotExist (values absent or empty) */
        { EXPR1("node-role.kubernetes.io/worker", "Exists", ""), "n", "{\"node-role.kubernetes.io/worker\":\"\"}", true },
        { EXPR1("node-role.kubernetes.io/worker", "Exists", ",\"values\":[]"), "n", "{\"x\":\"\"}", false },
        { EXPR1("node-role.kubernetes.io/worker", "DoesNotExist", ""), "n", "{}", true },
        { EXPR1("node-role.kubernetes.io/worker", "DoesNotExist", ""), "n", "{\"node-role.kubernetes.io/worker\":\"\"}", false },
        /* Gt / Lt: integers only, on both sides */
        { EXPR1("cpus", "Gt", ",\"values\":[\"4\"]"), "n", "{\"cpus\":\"8\"}", true },
        { EXPR1("cpus", "Gt", ",\"values\":[\"8\"]"), "n", "{\"cpus\":\"8\"}", false },
        { EXPR1("cpus", "Gt", ",\"values\":[\"-1\"]"), "n", "{\"cpus\":\"0\"}", true },
        { EXPR1("cpus", "Gt", ",\"values\":[\"4\"]"), "n", "{\"cpus\":\"eight\"}", false },
        { EXPR1("cpus", "Gt", ",\"values\":[\"4\"]"), "n", "{\"cpus\":\"8.5\"}", false },
        { EXPR1("cpus", "Gt", ",\"values\":[\"4\"]"), "n", "{\"cpus\":\" 8\"}", false },
        { EXPR1("cpus", "Gt", ",\"values\":[\"4\"]"), "n", "{\"cpus\":\"\"}", false },
        { EXPR1("cpus", "Gt", ",\"values\":[\"4\"]"), "n", "{\"cpus\":\"99999999999999999999\"}", false },
        { EXPR1("cpus", "Gt", ",\"values\":[\"4\"]"), "n", "{}", false },
        { EXPR1("cpus", "Gt", ",\"values\":[\"-9223372036854775807\"]"), "n", "{\"cpus\":\"+9223372036854775807\"}", true },
        { EXPR1("cpus", "Lt", ",\"values\":[\"4\"]"), "n", "{\"cpus\":\"3\"}", true },
        { EXPR1("cpus", "Lt", ",\"values\":[\"4\"]"), "n", "{\"cpus\":\"4\"}", false },
        { EXPR1("cpus", "Lt", ",\"values\":[\"0\"]"), "n", "{\"cpus\":\"-9223372036854775808\"}", true },
        { EXPR1("cpus", "Lt", ",\"values\":[\"4\"]"), "n", "{}", false },
        { EXPR1("cpus", "Lt", ",\"values\":[\"4\"]"), "n", "{\"cpus\":\"0x1\"}", false },
        /* matchFields metadata.name */
        { AFF("[{\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"In\",\"values\":[\"worker-a1\"]}]}]"), "worker-a1", "{}", true },
        { AFF("[{\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"In\",\"values\":[\"worker-a1\"]}]}]"), "worker-a2", "{}", false },
        { AFF("[{\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"NotIn\",\"values\":[\"worker-a1\"]}]}]"), "worker-a2", "{}", true },
        { AFF("[{\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"NotIn\",\"values\":[\"worker-a1\"]}]}]"), "worker-a1", "{}", false },
        /* a field requirement does not look at labels */
        { AFF("[{\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"In\",\"values\":[\"a\"]}]}]"), "b", "{\"metadata.name\":\"a\"}", false },
        /* expressions and fields of one term are ANDed */
        { AFF("[{\"matchExpressions\":[{\"key\":\"z\",\"operator\":\"In\",\"values\":[\"1\"]}],"
              "\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"In\",\"values\":[\"n1\"]}]}]"), "n1", "{\"z\":\"1\"}", true },
        { AFF("[{\"matchExpressions\":[{\"key\":\"z\",\"operator\":\"In\",\"values\":[\"1\"]}],"
              "\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"In\",\"values\":[\"n1\"]}]}]"), "n2", "{\"z\":\"1\"}", false },
        { AFF("[{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\"},{\"key\":\"b\",\"operator\":\"Exists\"}]}]"), "n", "{\"a\":\"\",\"b\":\"\"}", true },
        { AFF("[{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\"},{\"key\":\"b\",\"operator\":\"Exists\"}]}]"), "n", "{\"a\":\"\"}", false },
        /* terms are ORed */
        { AFF("[{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\"}]},{\"matchExpressions\":[{\"key\":\"b\",\"operator\":\"Exists\"}]}]"), "n", "{\"b\":\"\"}", true },
        { AFF("[{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\"}]},{\"matchExpressions\":[{\"key\":\"b\",\"operator\":\"Exists\"}]}]"), "n", "{\"c\":\"\"}", false },
        /* an empty term matches nothing, even next to ... nothing else */
        { AFF("[{}]"), "n", "{\"a\":\"\"}", false },
        { AFF("[{\"matchExpressions\":[]}]"), "n", "{}", false },
        /* an empty term does not spoil a matching one */
        { AFF("[{},{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\"}]}]"), "n", "{\"a\":\"\"}", true },
        /* no terms at all: nothing matches */
        { AFF("[]"), "n", "{\"a\":\"\"}", false },
        { "{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":{}}}", "n", "{}", false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *j = cJSON_Parse(cases[i].aff);
        CASE_ASSERT(j != NULL, i, "json");
        if (!j)
            continue;
        bool has = false;
        struct node_sel ns;
        enum ag_result r = selector_parse_affinity(j, tu_pool, &has, &ns, err, sizeof err);
        cJSON_Delete(j);
        CASE_ASSERT(r == AG_OK, i, err);
        CASE_ASSERT(has, i, cases[i].aff);
        if (r != AG_OK)
            continue;
        struct labels l = labels_from(cases[i].labels);
        CASE_ASSERT(selector_match_node_sel(&ns, cases[i].node_name, &l) == cases[i].match, i, cases[i].aff);
    }
}

static void test_affinity_absent(void)
{
    static const char *const none[] = {
        "{}", "{\"nodeAffinity\":{}}", "{\"podAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":[]}}",
        ("{\"nodeAffinity\":{\"preferredDuringSchedulingIgnoredDuringExecution\":[{\"weight\":1,"
         "\"preference\":{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\"}]}}]}}"),
        "{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":null}}", "null",
    };
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        cJSON *j = cJSON_Parse(none[i]);
        bool has = true;
        struct node_sel ns;
        CASE_ASSERT(selector_parse_affinity(j, tu_pool, &has, &ns, err, sizeof err) == AG_OK, i, none[i]);
        CASE_ASSERT(!has, i, none[i]);
        cJSON_Delete(j);
    }
    bool has = true;
    struct node_sel ns;
    CU_ASSERT_EQUAL(selector_parse_affinity(NULL, tu_pool, &has, &ns, err, sizeof err), AG_OK);
    CU_ASSERT(!has);
}

static void test_toleration_table(void)
{
    static const struct { const char *tols, *taint; bool tolerated; } cases[] = {
        /* Equal (explicit or default) compares key and value */
        { "[{\"key\":\"dedicated\",\"operator\":\"Equal\",\"value\":\"vms\",\"effect\":\"NoSchedule\"}]",
          "{\"key\":\"dedicated\",\"value\":\"vms\",\"effect\":\"NoSchedule\"}", true },
        { "[{\"key\":\"dedicated\",\"value\":\"vms\"}]", "{\"key\":\"dedicated\",\"value\":\"vms\",\"effect\":\"NoExecute\"}", true },
        { "[{\"key\":\"dedicated\",\"operator\":\"\",\"value\":\"vms\"}]", "{\"key\":\"dedicated\",\"value\":\"vms\",\"effect\":\"NoSchedule\"}", true },
        { "[{\"key\":\"dedicated\",\"value\":\"vms\"}]", "{\"key\":\"dedicated\",\"value\":\"db\",\"effect\":\"NoSchedule\"}", false },
        { "[{\"key\":\"dedicated\",\"value\":\"vms\"}]", "{\"key\":\"other\",\"value\":\"vms\",\"effect\":\"NoSchedule\"}", false },
        /* absent value equals an absent/empty taint value */
        { "[{\"key\":\"gpu\",\"operator\":\"Equal\"}]", "{\"key\":\"gpu\",\"effect\":\"NoSchedule\"}", true },
        { "[{\"key\":\"gpu\",\"operator\":\"Equal\"}]", "{\"key\":\"gpu\",\"value\":\"true\",\"effect\":\"NoSchedule\"}", false },
        /* Exists ignores the value */
        { "[{\"key\":\"gpu\",\"operator\":\"Exists\"}]", "{\"key\":\"gpu\",\"value\":\"true\",\"effect\":\"NoSchedule\"}", true },
        { "[{\"key\":\"gpu\",\"operator\":\"Exists\",\"value\":\"ignored\"}]", "{\"key\":\"gpu\",\"value\":\"x\",\"effect\":\"NoExecute\"}", true },
        { "[{\"key\":\"gpu\",\"operator\":\"Exists\"}]", "{\"key\":\"gpus\",\"effect\":\"NoSchedule\"}", false },
        /* Exists with an empty key tolerates every taint (of the effect) */
        { "[{\"operator\":\"Exists\"}]", "{\"key\":\"node.kubernetes.io/not-ready\",\"effect\":\"NoExecute\"}", true },
        { "[{\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}]", "{\"key\":\"anything\",\"effect\":\"NoSchedule\"}", true },
        { "[{\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}]", "{\"key\":\"anything\",\"effect\":\"NoExecute\"}", false },
        /* effect must equal the taint's unless empty */
        { "[{\"key\":\"k\",\"operator\":\"Exists\",\"effect\":\"NoExecute\"}]", "{\"key\":\"k\",\"effect\":\"NoSchedule\"}", false },
        { "[{\"key\":\"k\",\"operator\":\"Exists\",\"effect\":\"\"}]", "{\"key\":\"k\",\"effect\":\"NoExecute\"}", true },
        { "[{\"key\":\"k\",\"operator\":\"Exists\",\"effect\":\"PreferNoSchedule\"}]", "{\"key\":\"k\",\"effect\":\"PreferNoSchedule\"}", true },
        { "[{\"key\":\"k\",\"operator\":\"Exists\",\"effect\":\"PreferNoSchedule\"}]", "{\"key\":\"k\",\"effect\":\"NoSchedule\"}", false },
        /* tolerationSeconds is ignored */
        { "[{\"key\":\"node.kubernetes.io/unreachable\",\"operator\":\"Exists\",\"effect\":\"NoExecute\",\"tolerationSeconds\":300}]",
          "{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":\"NoExecute\"}", true },
        /* any of several */
        { "[{\"key\":\"a\",\"operator\":\"Exists\"},{\"key\":\"b\",\"operator\":\"Exists\"}]", "{\"key\":\"b\",\"effect\":\"NoSchedule\"}", true },
        { "[]", "{\"key\":\"b\",\"effect\":\"NoSchedule\"}", false },
        { "null", "{\"key\":\"b\",\"effect\":\"NoSchedule\"}", false },
        /* keys compare case-sensitively */
        { "[{\"key\":\"GPU\",\"operator\":\"Exists\"}]", "{\"key\":\"gpu\",\"effect\":\"NoSchedule\"}", false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *tj = cJSON_Parse(cases[i].tols);
        char wrapped[512];
        snprintf(wrapped, sizeof wrapped, "[%s]", cases[i].taint);
        cJSON *xj = cJSON_Parse(wrapped);
        CASE_ASSERT(tj && xj, i, "json");
        const struct toleration *tols = NULL;
        const struct taint *taints = NULL;
        size_t nt = 0, nx = 0;
        CASE_ASSERT(selector_parse_tolerations(tj, tu_pool, &tols, &nt, err, sizeof err) == AG_OK, i, err);
        CASE_ASSERT(selector_parse_taints(xj, tu_pool, &taints, &nx, err, sizeof err) == AG_OK, i, err);
        cJSON_Delete(tj);
        cJSON_Delete(xj);
        CASE_ASSERT(nx == 1, i, cases[i].taint);
        if (nx == 1)
            CASE_ASSERT(selector_tolerated(tols, nt, &taints[0]) == cases[i].tolerated, i, cases[i].tols);
    }
}

static void test_taints_parse(void)
{
    cJSON *j = cJSON_Parse("[{\"key\":\"node.kubernetes.io/unschedulable\",\"effect\":\"NoSchedule\","
                           "\"timeAdded\":\"2026-06-22T10:00:00Z\"},"
                           "{\"key\":\"dedicated\",\"value\":\"vms\",\"effect\":\"PreferNoSchedule\"},"
                           "{\"key\":\"k\",\"value\":null,\"effect\":\"NoExecute\"}]");
    const struct taint *t;
    size_t n;
    CU_ASSERT_EQUAL_FATAL(selector_parse_taints(j, tu_pool, &t, &n, err, sizeof err), AG_OK);
    cJSON_Delete(j);
    CU_ASSERT_EQUAL_FATAL(n, 3);
    CU_ASSERT_STRING_EQUAL(t[0].key, "node.kubernetes.io/unschedulable");
    CU_ASSERT_STRING_EQUAL(t[0].value, "");
    CU_ASSERT_EQUAL(t[0].effect, EFFECT_NO_SCHEDULE);
    CU_ASSERT_STRING_EQUAL(t[1].value, "vms");
    CU_ASSERT_EQUAL(t[1].effect, EFFECT_PREFER_NO_SCHEDULE);
    CU_ASSERT_EQUAL(t[2].effect, EFFECT_NO_EXECUTE);
    CU_ASSERT_STRING_EQUAL(t[2].value, "");
    CU_ASSERT_EQUAL(selector_parse_taints(NULL, tu_pool, &t, &n, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(n, 0);
}

/* A VirtualMachine template spec with every placement field. */
static void test_placement_parse(void)
{
    cJSON *j = cJSON_Parse(
        "{\"domain\":{\"devices\":{}},"
        "\"nodeSelector\":{\"kubernetes.io/arch\":\"arm64\",\"vms.example.org/pool\":\"general\"},"
        "\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":["
        "{\"matchExpressions\":[{\"key\":\"topology.kubernetes.io/zone\",\"operator\":\"In\",\"values\":[\"z1\",\"z2\"]}]}]}}},"
        "\"tolerations\":[{\"key\":\"dedicated\",\"operator\":\"Equal\",\"value\":\"vms\",\"effect\":\"NoSchedule\"}]}");
    struct placement p;
    CU_ASSERT_EQUAL_FATAL(selector_parse_placement(j, tu_pool, &p, err, sizeof err), AG_OK);
    cJSON_Delete(j);
    CU_ASSERT_EQUAL(p.node_selector.n, 2);
    CU_ASSERT_STRING_EQUAL(labels_get(&p.node_selector, "kubernetes.io/arch"), "arm64");
    CU_ASSERT(p.has_affinity);
    CU_ASSERT_EQUAL_FATAL(p.affinity.n, 1);
    CU_ASSERT_EQUAL_FATAL(p.affinity.terms[0].n, 1);
    CU_ASSERT_EQUAL(p.affinity.terms[0].reqs[0].op, SEL_IN);
    CU_ASSERT_EQUAL(p.affinity.terms[0].reqs[0].nvalues, 2);
    CU_ASSERT(!p.affinity.terms[0].reqs[0].is_field);
    CU_ASSERT_EQUAL_FATAL(p.ntolerations, 1);
    CU_ASSERT_EQUAL(p.tolerations[0].op, TOL_EQUAL);
    CU_ASSERT_STRING_EQUAL(p.tolerations[0].value, "vms");

    struct labels ok = labels_from("{\"kubernetes.io/arch\":\"arm64\",\"vms.example.org/pool\":\"general\","
                                   "\"topology.kubernetes.io/zone\":\"z2\"}");
    struct labels wrong_zone = labels_from("{\"kubernetes.io/arch\":\"arm64\",\"vms.example.org/pool\":\"general\","
                                           "\"topology.kubernetes.io/zone\":\"z3\"}");
    struct labels wrong_arch = labels_from("{\"kubernetes.io/arch\":\"amd64\",\"vms.example.org/pool\":\"general\","
                                           "\"topology.kubernetes.io/zone\":\"z1\"}");
    CU_ASSERT(selector_match_placement(&p, "n", &ok));
    CU_ASSERT(!selector_match_placement(&p, "n", &wrong_zone));
    CU_ASSERT(!selector_match_placement(&p, "n", &wrong_arch));
    CU_ASSERT(selector_match_placement(NULL, "n", &wrong_arch));

    /* strings are copied: the JSON is gone, the values are still readable */
    CU_ASSERT_STRING_EQUAL(p.affinity.terms[0].reqs[0].values[1], "z2");

    struct placement e;
    CU_ASSERT_EQUAL(selector_parse_placement(NULL, tu_pool, &e, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(e.node_selector.n, 0);
    CU_ASSERT(!e.has_affinity);
    CU_ASSERT_EQUAL(e.ntolerations, 0);
    CU_ASSERT(selector_match_placement(&e, "n", &wrong_arch));
}


/* The lookup hint (where the key was found last time) never returns a wrong value: maps with
 * the key at other positions, absent, or another key at the hinted position; in and out of a
 * batch; with shared (interned) strings as the snapshot builds them. */
static void test_lookup_hints(void)
{
    static const char key[] = "kubernetes.io/arch";
    static const char other[] = "kubernetes.io/hostname";
    static const char a[] = "a", b[] = "b", c[] = "c", amd[] = "amd64", arm[] = "arm64";
    const struct kv m1[] = { { a, "1" }, { b, "2" }, { key, amd }, { other, "n1" } };
    const struct kv m2[] = { { key, arm }, { other, "n2" } };
    const struct kv m3[] = { { a, "1" }, { b, "2" }, { c, "3" }, { other, "n3" } };     /* key absent, index 2 taken */
    const struct kv m4[] = { { a, "1" }, { b, "2" }, { other, amd } };
    const struct labels maps[] = { { m1, 4 }, { m2, 2 }, { m3, 4 }, { m4, 3 }, { NULL, 0 } };
    const char *const want[] = { amd, arm, NULL, NULL, NULL };
    const char *const want_other[] = { "n1", "n2", "n3", amd, NULL };
    for (int batch = 0; batch < 2; batch++) {
        if (batch)
            selector_batch_begin();
        for (int round = 0; round < 3; round++) {
            for (size_t i = 0; i < sizeof maps / sizeof maps[0]; i++) {
                size_t k = round == 1 ? sizeof maps / sizeof maps[0] - 1 - i : i;
                CASE_ASSERT(labels_get(&maps[k], key) == want[k], k, "kubernetes.io/arch");
                CASE_ASSERT(labels_get(&maps[k], other) == want_other[k] ||
                            (want_other[k] && strcmp(labels_get(&maps[k], other), want_other[k]) == 0), k, "hostname");
                /* the same key text at another address */
                char copy[sizeof key];
                memcpy(copy, key, sizeof key);
                CASE_ASSERT(labels_get(&maps[k], copy) == want[k], k, "copy of the key");
            }
        }
        if (batch)
            selector_batch_end();
    }
}

enum which { W_LABELS, W_AFFINITY, W_TOLERATIONS, W_TAINTS, W_PLACEMENT };

static void test_malformed_table(void)
{
    static const struct { enum which w; const char *json; const char *err_has; } cases[] = {
        { W_LABELS, "[]", "labels: must be an object" },
        { W_LABELS, "\"a=b\"", "labels: must be an object" },
        { W_LABELS, "{\"a\":1}", "labels[a]: must be a string" },
        { W_LABELS, "{\"a\":\"1\",\"b\":true}", "labels[b]: must be a string" },
        { W_LABELS, "{\"a\":null}", "labels[a]: must be a string" },
        { W_AFFINITY, "[]", "affinity: must be an object" },
        { W_AFFINITY, "{\"nodeAffinity\":[]}", "affinity.nodeAffinity: must be an object" },
        { W_AFFINITY, "{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":[]}}",
          "requiredDuringSchedulingIgnoredDuringExecution: must be an object" },
        { W_AFFINITY, AFF("{}"), "nodeSelectorTerms: must be an array" },
        { W_AFFINITY, AFF("[\"x\"]"), "nodeSelectorTerms[0]: must be an object" },
        { W_AFFINITY, AFF("[{\"matchExpressions\":{}}]"), "nodeSelectorTerms[0].matchExpressions: must be an array" },
        { W_AFFINITY, AFF("[{\"matchFields\":\"x\"}]"), "nodeSelectorTerms[0].matchFields: must be an array" },
        { W_AFFINITY, AFF("[{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\"},"
                          "{\"key\":\"b\",\"operator\":\"Foo\"}]}]"),
          "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]."
          "matchExpressions[1].operator: unknown operator \"Foo\"" },
        { W_AFFINITY, EXPR1("a", "in", ",\"values\":[\"x\"]"), "unknown operator \"in\"" },
        { W_AFFINITY, AFF("[{\"matchExpressions\":[{\"operator\":\"Exists\"}]}]"), "matchExpressions[0].key: must be a string" },
        { W_AFFINITY, AFF("[{\"matchExpressions\":[{\"key\":\"a\"}]}]"), "matchExpressions[0].operator: must be a string" },
        { W_AFFINITY, AFF("[{\"matchExpressions\":[\"a In (x)\"]}]"), "matchExpressions[0]: must be an object" },
        { W_AFFINITY, EXPR1("a", "In", ""), "values: must be non-empty" },
        { W_AFFINITY, EXPR1("a", "NotIn", ",\"values\":[]"), "values: must be non-empty" },
        { W_AFFINITY, EXPR1("a", "In", ",\"values\":\"x\""), "values: must be an array" },
        { W_AFFINITY, EXPR1("a", "In", ",\"values\":[\"x\",2]"), "values[1]: must be a string" },
        { W_AFFINITY, EXPR1("a", "Exists", ",\"values\":[\"x\"]"), "values: must be empty" },
        { W_AFFINITY, EXPR1("a", "DoesNotExist", ",\"values\":[\"x\"]"), "values: must be empty" },
        { W_AFFINITY, EXPR1("a", "Gt", ",\"values\":[\"1\",\"2\"]"), "must have exactly one value for operator Gt" },
        { W_AFFINITY, EXPR1("a", "Lt", ""), "must have exactly one value for operator Lt" },
        { W_AFFINITY, EXPR1("a", "Gt", ",\"values\":[\"1.5\"]"), "values[0]: must be an integer" },
        { W_AFFINITY, EXPR1("a", "Lt", ",\"values\":[\"ten\"]"), "values[0]: must be an integer" },
        { W_AFFINITY, EXPR1("a", "Gt", ",\"values\":[\"9223372036854775808\"]"), "must be an integer" },
        { W_AFFINITY, AFF("[{\"matchFields\":[{\"key\":\"metadata.labels\",\"operator\":\"In\",\"values\":[\"x\"]}]}]"),
          "matchFields[0].key: unsupported field" },
        { W_AFFINITY, AFF("[{\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"Exists\"}]}]"),
          "matchFields[0].operator: operator \"Exists\" is not supported" },
        { W_AFFINITY, AFF("[{\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"In\",\"values\":[\"a\",\"b\"]}]}]"),
          "matchFields[0].values: must have exactly one value" },
        { W_TOLERATIONS, "{}", "tolerations: must be an array" },
        { W_TOLERATIONS, "[\"x\"]", "tolerations[0]: must be an object" },
        { W_TOLERATIONS, "[{\"key\":\"a\",\"operator\":\"Exists\"},{\"key\":\"a\",\"operator\":\"Gt\"}]",
          "tolerations[1].operator: unknown operator \"Gt\"" },
        { W_TOLERATIONS, "[{\"key\":\"a\",\"effect\":\"NoRun\"}]", "tolerations[0].effect: unknown effect \"NoRun\"" },
        { W_TOLERATIONS, "[{\"key\":5}]", "tolerations[0].key: must be a string" },
        { W_TOLERATIONS, "[{\"key\":\"a\",\"value\":true}]", "tolerations[0].value: must be a string" },
        { W_TOLERATIONS, "[{\"key\":\"a\",\"effect\":1}]", "tolerations[0].effect: must be a string" },
        { W_TOLERATIONS, "[{\"key\":\"a\",\"tolerationSeconds\":\"300\"}]", "tolerationSeconds: must be a number" },
        { W_TAINTS, "{}", "taints: must be an array" },
        { W_TAINTS, "[1]", "taints[0]: must be an object" },
        { W_TAINTS, "[{\"effect\":\"NoSchedule\"}]", "taints[0].key: must be a non-empty string" },
        { W_TAINTS, "[{\"key\":\"a\"}]", "taints[0].effect: required" },
        { W_TAINTS, "[{\"key\":\"a\",\"effect\":\"\"}]", "taints[0].effect: required" },
        { W_TAINTS, "[{\"key\":\"a\",\"effect\":\"NoSchedule\"},{\"key\":\"b\",\"effect\":\"Sometimes\"}]",
          "taints[1].effect: unknown effect \"Sometimes\"" },
        { W_TAINTS, "[{\"key\":\"a\",\"value\":1,\"effect\":\"NoSchedule\"}]", "taints[0].value: must be a string" },
        { W_PLACEMENT, "[]", "must be an object" },
        { W_PLACEMENT, "{\"nodeSelector\":\"kubernetes.io/arch=arm64\"}", "nodeSelector: must be an object" },
        { W_PLACEMENT, "{\"nodeSelector\":{\"kubernetes.io/arch\":[\"arm64\"]}}", "nodeSelector[kubernetes.io/arch]: must be a string" },
        { W_PLACEMENT, "{\"affinity\":\"x\"}", "affinity: must be an object" },
        { W_PLACEMENT, "{\"tolerations\":{}}", "tolerations: must be an array" },
        { W_PLACEMENT, "{\"tolerations\":[{\"operator\":\"exists\"}]}", "tolerations[0].operator: unknown operator" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *j = cJSON_Parse(cases[i].json);
        CASE_ASSERT(j != NULL, i, cases[i].json);
        if (!j)
            continue;
        err[0] = '\0';
        enum ag_result r = AG_OK;
        struct labels l;
        bool has;
        struct node_sel ns;
        const struct toleration *tols;
        const struct taint *taints;
        size_t n;
        struct placement p;
        switch (cases[i].w) {
        case W_LABELS: r = selector_parse_labels(j, tu_pool, &l, err, sizeof err); break;
        case W_AFFINITY: r = selector_parse_affinity(j, tu_pool, &has, &ns, err, sizeof err); break;
        case W_TOLERATIONS: r = selector_parse_tolerations(j, tu_pool, &tols, &n, err, sizeof err); break;
        case W_TAINTS: r = selector_parse_taints(j, tu_pool, &taints, &n, err, sizeof err); break;
        case W_PLACEMENT: r = selector_parse_placement(j, tu_pool, &p, err, sizeof err); break;
        }
        cJSON_Delete(j);
        CASE_ASSERT(r == AG_EINVAL, i, cases[i].json);
        CASE_ASSERT(strstr(err, cases[i].err_has) != NULL, i, err);
    }
    /* a tiny error buffer is never overrun */
    cJSON *j = cJSON_Parse(EXPR1("a", "Foo", ""));
    char small[8];
    memset(small, 'x', sizeof small);
    bool has;
    struct node_sel ns;
    CU_ASSERT_EQUAL(selector_parse_affinity(j, tu_pool, &has, &ns, small, 5), AG_EINVAL);
    CU_ASSERT_EQUAL(small[4], '\0');
    CU_ASSERT_EQUAL(small[5], 'x');
    CU_ASSERT_EQUAL(selector_parse_affinity(j, tu_pool, &has, &ns, NULL, 0), AG_EINVAL);
    cJSON_Delete(j);
}

/* Every allocation of a placement parse failing in turn gives AG_ENOMEM, never a crash. */
static void test_parse_enomem(void)
{
    cJSON *j = cJSON_Parse(
        "{\"nodeSelector\":{\"kubernetes.io/arch\":\"arm64\",\"b\":\"c\"},"
        "\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":["
        "{\"matchExpressions\":[{\"key\":\"z\",\"operator\":\"In\",\"values\":[\"z1\",\"z2\"]}],"
        "\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"NotIn\",\"values\":[\"n1\"]}]}]}}},"
        "\"tolerations\":[{\"key\":\"dedicated\",\"operator\":\"Equal\",\"value\":\"vms\",\"effect\":\"NoSchedule\"}]}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    bool succeeded = false;
    int failures = 0;
    for (long n = 0; n < 64 && !succeeded; n++) {
        struct pool *p = pool_new(64);   /* small chunks: many allocations */
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        struct placement pl;
        mem_fail_after(n);
        enum ag_result r = selector_parse_placement(j, p, &pl, err, sizeof err);
        mem_fail_after(-1);
        if (r == AG_OK)
            succeeded = true;
        else {
            CU_ASSERT_EQUAL(r, AG_ENOMEM);
            failures++;
        }
        pool_free(p);
    }
    CU_ASSERT(succeeded);
    CU_ASSERT(failures > 3);
    cJSON_Delete(j);
}

UNIT_SUITE("selector", tu_pool_setup, tu_pool_teardown,
           { "labels parse, sort, duplicates, lookup", test_labels_parse },
           { "nodeSelector label matching table", test_label_selector_table },
           { "node affinity operators, fields, terms table", test_affinity_table },
           { "affinity absent or without required terms", test_affinity_absent },
           { "tolerations vs taints table", test_toleration_table },
           { "taints parse", test_taints_parse },
           { "placement parse and match", test_placement_parse },
           { "malformed input table", test_malformed_table },
           { "allocation failures", test_parse_enomem },
           { "lookup hints never mislead", test_lookup_hints })
