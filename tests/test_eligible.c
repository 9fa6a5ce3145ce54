/* test_eligible.c - node classification order, census counts, and the census description
 * used in denial messages (exact wording, truncation). */
#include <stdio.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "unit.h"
#include "eligible.h"

#define CASE_ASSERT(cond, idx, what)                                                        \
    do {                                                                                    \
        char msg_[256];                                                                     \
        snprintf(msg_, sizeof msg_, "case %zu (%.120s): %.100s", (size_t)(idx), (what), #cond); \
        CU_assertImplementation((cond) ? CU_TRUE : CU_FALSE, __LINE__, msg_, __FILE__, "", CU_FALSE); \
    } while (0)

static struct pool *pool;
static char err[512];

static int setup(void)
{
    pool = pool_new(0);
    return pool ? 0 : 1;
}

static int teardown(void)
{
    pool_free(pool);
    pool = NULL;
    return 0;
}

struct nspec {
    const char *name;
    int arch;
    bool workload, kubevirt_ok, unschedulable;
    const char *labels;     /* JSON object or NULL */
    const char *taints;     /* JSON array or NULL */
};

static struct node mk_node(const struct nspec *s)
{
    struct node n;
    memset(&n, 0, sizeof n);
    n.name = s->name;
    n.arch = s->arch;
    n.workload = s->workload;
    n.kubevirt_ok = s->kubevirt_ok;
    n.unschedulable = s->unschedulable;
    cJSON *l = s->labels ? cJSON_Parse(s->labels) : NULL;
    cJSON *t = s->taints ? cJSON_Parse(s->taints) : NULL;
    CU_ASSERT_EQUAL(selector_parse_labels(l, pool, &n.labels, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(selector_parse_taints(t, pool, &n.taints, &n.ntaints, err, sizeof err), AG_OK);
    cJSON_Delete(l);
    cJSON_Delete(t);
    return n;
}

/* NULL json: no placement at all (vm == NULL) */
static bool mk_placement(const char *json, struct placement *p)
{
    if (!json)
        return false;
    cJSON *j = cJSON_Parse(json);
    CU_ASSERT_PTR_NOT_NULL(j);
    CU_ASSERT_EQUAL(selector_parse_placement(j, pool, p, err, sizeof err), AG_OK);
    cJSON_Delete(j);
    return true;
}

#define CORDON_TAINT "{\"key\":\"node.kubernetes.io/unschedulable\",\"effect\":\"NoSchedule\"}"
#define NOTREADY_TAINT "{\"key\":\"node.kubernetes.io/not-ready\",\"effect\":\"NoExecute\"}"
#define UNREACH_TAINT "{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":\"NoSchedule\"}"
#define DEDICATED_TAINT "{\"key\":\"dedicated\",\"value\":\"db\",\"effect\":\"NoSchedule\"}"
#define ARM_SEL "{\"nodeSelector\":{\"kubernetes.io/arch\":\"arm64\"}}"
#define POOL_AFF_MEMBER "\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":" \
                 "[{\"matchExpressions\":[{\"key\":\"pool\",\"operator\":\"In\",\"values\":[\"vms\"]}]}]}}}"
#define POOL_AFF "{" POOL_AFF_MEMBER "}"
#define AMD "{\"kubernetes.io/arch\":\"amd64\"}"
#define AMD_POOL "{\"kubernetes.io/arch\":\"amd64\",\"pool\":\"vms\"}"

static void test_classify_table(void)
{
    static const struct {
        struct nspec node;
        bool kv_labels;
        const char *vm;
        enum node_reason want;
        const char *what;
    } cases[] = {
        { { "n", ARCH_AMD64, true, true, false, AMD, NULL }, false, NULL, NR_ELIGIBLE, "plain node" },
        { { "n", ARCH_AMD64, false, true, true, AMD, "[" CORDON_TAINT "]" }, false, NULL, NR_PLACEMENT,
          "outside placement and cordoned counts as placement" },
        { { "n", ARCH_AMD64, false, false, false, AMD, "[" DEDICATED_TAINT "]" }, true, ARM_SEL, NR_PLACEMENT,
          "placement before every other reason" },
        { { "n", ARCH_AMD64, true, false, false, AMD, NULL }, true, ARM_SEL, NR_NOT_KUBEVIRT,
          "kubevirt label before the selector" },
        { { "n", ARCH_AMD64, true, false, false, AMD, NULL }, false, NULL, NR_ELIGIBLE,
          "kubevirt_ok ignored when KubeVirt does not label nodes" },
        { { "n", ARCH_AMD64, true, true, false, AMD, NULL }, false, ARM_SEL, NR_SELECTOR, "nodeSelector" },
        { { "n", ARCH_AMD64, true, true, false, AMD, NULL }, false,
          "{\"nodeSelector\":{\"kubernetes.io/arch\":\"arm64\"}," POOL_AFF_MEMBER "}", NR_SELECTOR,
          "selector before affinity" },
        { { "n", ARCH_AMD64, true, true, false, AMD, "[" DEDICATED_TAINT "]" }, false, POOL_AFF, NR_AFFINITY,
          "affinity before taints" },
        { { "n", ARCH_AMD64, true, true, false, AMD_POOL, NULL }, false, POOL_AFF, NR_ELIGIBLE, "affinity matches" },
        { { "n", ARCH_AMD64, true, true, false, AMD, NULL }, false, "{\"nodeSelector\":{}}", NR_ELIGIBLE,
          "empty nodeSelector" },
        { { "n", ARCH_AMD64, true, true, true, AMD, "[" DEDICATED_TAINT "," CORDON_TAINT "]" }, false, NULL, NR_TAINT,
          "taint before cordoned" },
        { { "n", ARCH_AMD64, true, true, true, AMD, "[" CORDON_TAINT "]" }, false, NULL, NR_CORDONED,
          "cordon taint on a cordoned node is cordoned, not taint" },
        { { "n", ARCH_AMD64, true, true, true, AMD, NULL }, false, NULL, NR_CORDONED, "spec.unschedulable alone" },
        { { "n", ARCH_AMD64, true, true, true, AMD, "[" NOTREADY_TAINT "]" }, false, NULL, NR_CORDONED,
          "cordoned before not ready" },
        { { "n", ARCH_AMD64, true, true, false, AMD, "[" NOTREADY_TAINT "]" }, false, NULL, NR_NOT_READY,
          "not-ready taint" },
        { { "n", ARCH_AMD64, true, true, false, AMD, "[" UNREACH_TAINT "]" }, false, NULL, NR_NOT_READY,
          "unreachable taint" },
        { { "n", ARCH_AMD64, true, true, false, AMD,
            "[{\"key\":\"node.kubernetes.io/memory-pressure\",\"effect\":\"NoSchedule\"},"
            "{\"key\":\"node.kubernetes.io/disk-pressure\",\"effect\":\"NoSchedule\"}]" }, false, NULL, NR_NOT_READY,
          "pressure taints" },
        { { "n", ARCH_AMD64, true, true, false, AMD, "[" NOTREADY_TAINT "," DEDICATED_TAINT "]" }, false, NULL, NR_TAINT,
          "a real taint after a transient one still excludes" },
        { { "n", ARCH_AMD64, true, true, false, AMD, "[" NOTREADY_TAINT "]" }, false,
          "{\"tolerations\":[{\"key\":\"node.kubernetes.io/not-ready\",\"operator\":\"Exists\",\"effect\":\"NoExecute\","
          "\"tolerationSeconds\":300}]}", NR_ELIGIBLE, "tolerated transient taint" },
        { { "n", ARCH_AMD64, true, true, false, AMD, "[{\"key\":\"node.kubernetes.io/not-ready\",\"effect\":\"PreferNoSchedule\"}]" },
          false, NULL, NR_ELIGIBLE, "PreferNoSchedule transient ignored" },
        { { "n", ARCH_AMD64, true, true, false, AMD, "[{\"key\":\"dedicated\",\"effect\":\"PreferNoSchedule\"}]" },
          false, NULL, NR_ELIGIBLE, "PreferNoSchedule ignored" },
        { { "n", ARCH_AMD64, true, true, false, AMD, "[{\"key\":\"dedicated\",\"effect\":\"NoExecute\"}]" },
          false, NULL, NR_TAINT, "NoExecute excludes" },
        { { "n", ARCH_AMD64, true, true, false, AMD, "[" DEDICATED_TAINT "]" }, false,
          "{\"tolerations\":[{\"key\":\"dedicated\",\"value\":\"db\",\"effect\":\"NoSchedule\"}]}", NR_ELIGIBLE,
          "tolerated taint" },
        { { "n", ARCH_AMD64, true, true, false, AMD, "[" DEDICATED_TAINT "]" }, false,
          "{\"tolerations\":[{\"key\":\"dedicated\",\"value\":\"web\",\"effect\":\"NoSchedule\"}]}", NR_TAINT,
          "toleration with another value" },
        { { "n", ARCH_AMD64, true, true, true, AMD, "[" CORDON_TAINT "]" }, false,
          "{\"tolerations\":[{\"operator\":\"Exists\"}]}", NR_ELIGIBLE,
          "a VM tolerating the unschedulable taint may go to a cordoned node (scheduler rule)" },
        { { "worker-a1", ARCH_ARM64, true, true, false, "{}", NULL }, false,
          "{\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":"
          "[{\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"In\",\"values\":[\"worker-a1\"]}]}]}}}}",
          NR_ELIGIBLE, "matchFields uses the node name" },
        { { "worker-a2", ARCH_ARM64, true, true, false, "{}", NULL }, false,
          "{\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":"
          "[{\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"In\",\"values\":[\"worker-a1\"]}]}]}}}}",
          NR_AFFINITY, "matchFields other node" },
        { { "n", ARCH_AMD64, true, true, false, AMD, NULL }, false,
          "{\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":[]}}}}",
          NR_AFFINITY, "required affinity with no terms matches nothing" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct node n = mk_node(&cases[i].node);
        struct placement p;
        bool has = mk_placement(cases[i].vm, &p);
        enum node_reason got = eligible_classify(&n, cases[i].kv_labels, has ? &p : NULL);
        CASE_ASSERT(got == cases[i].want, i, cases[i].what);
    }
}

static void test_transient(void)
{
    static const struct { const char *key; bool transient; } cases[] = {
        { "node.kubernetes.io/not-ready", true }, { "node.kubernetes.io/unreachable", true },
        { "node.kubernetes.io/memory-pressure", true }, { "node.kubernetes.io/disk-pressure", true },
        { "node.kubernetes.io/pid-pressure", true }, { "node.kubernetes.io/network-unavailable", true },
        { "node.kubernetes.io/unschedulable", false }, { "node.kubernetes.io/not-ready-x", false },
        { "node.cloudprovider.kubernetes.io/uninitialized", false }, { "dedicated", false }, { "", false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct taint t = { cases[i].key, "", EFFECT_NO_SCHEDULE };
        CASE_ASSERT(eligible_taint_is_transient(&t) == cases[i].transient, i, cases[i].key);
    }
    CU_ASSERT(!eligible_taint_is_transient(NULL));
}

static void test_census(void)
{
    static const struct nspec specs[] = {
        { "ctrl-0", ARCH_AMD64, false, true, false, "{\"kubernetes.io/arch\":\"amd64\",\"node-role.kubernetes.io/control-plane\":\"\"}", NULL },
        { "worker-a1", ARCH_ARM64, true, true, false, "{\"kubernetes.io/arch\":\"arm64\",\"pool\":\"vms\"}", NULL },
        { "worker-a2", ARCH_ARM64, true, true, true, "{\"kubernetes.io/arch\":\"arm64\",\"pool\":\"vms\"}", "[" CORDON_TAINT "]" },
        { "worker-x1", ARCH_AMD64, true, true, false, "{\"kubernetes.io/arch\":\"amd64\",\"pool\":\"vms\"}", NULL },
        { "worker-x2", ARCH_AMD64, true, true, false, "{\"kubernetes.io/arch\":\"amd64\"}", NULL },
        { "worker-x3", ARCH_AMD64, true, false, false, "{\"kubernetes.io/arch\":\"amd64\",\"pool\":\"vms\"}", NULL },
        { "worker-q", ARCH_NONE, true, true, false, "{\"pool\":\"vms\"}", NULL },
        { "worker-r", ARCH_NONE, true, true, false, "{\"pool\":\"vms\"}", "[" NOTREADY_TAINT "]" },
    };
    enum { N = sizeof specs / sizeof specs[0] };
    struct node nodes[N];
    for (size_t i = 0; i < N; i++)
        nodes[i] = mk_node(&specs[i]);
    struct snapshot s;
    memset(&s, 0, sizeof s);
    s.nodes = nodes;
    s.nnodes = N;
    s.kubevirt_labels_nodes = true;
    s.base.n[NR_ELIGIBLE][ARCH_S390X] = 7;     /* a marker: NULL placement copies base */

    struct census c;
    memset(&c, 0xff, sizeof c);
    eligible_census(&s, NULL, &c);
    CU_ASSERT(memcmp(&c, &s.base, sizeof c) == 0);

    struct placement p;
    mk_placement(POOL_AFF, &p);
    memset(&c, 0xff, sizeof c);
    eligible_census(&s, &p, &c);
    unsigned total = 0;
    for (int r = 0; r < NR_COUNT; r++)
        for (int a = 0; a <= ARCH_COUNT; a++)
            total += c.n[r][a];
    CU_ASSERT_EQUAL(total, N);
    CU_ASSERT_EQUAL(c.n[NR_PLACEMENT][ARCH_AMD64], 1);
    CU_ASSERT_EQUAL(c.n[NR_ELIGIBLE][ARCH_ARM64], 1);
    CU_ASSERT_EQUAL(c.n[NR_CORDONED][ARCH_ARM64], 1);
    CU_ASSERT_EQUAL(c.n[NR_ELIGIBLE][ARCH_AMD64], 1);
    CU_ASSERT_EQUAL(c.n[NR_AFFINITY][ARCH_AMD64], 1);
    CU_ASSERT_EQUAL(c.n[NR_NOT_KUBEVIRT][ARCH_AMD64], 1);
    CU_ASSERT_EQUAL(c.n[NR_ELIGIBLE][ARCH_COUNT], 1);
    CU_ASSERT_EQUAL(c.n[NR_NOT_READY][ARCH_COUNT], 1);
    CU_ASSERT_EQUAL(c.n[NR_ELIGIBLE][ARCH_S390X], 0);

    CU_ASSERT_EQUAL(eligible_count(&c, ARCH_AMD64), 1);
    CU_ASSERT_EQUAL(eligible_count(&c, ARCH_S390X), 0);
    CU_ASSERT_EQUAL(eligible_count(&c, ARCH_NONE), 0);
    CU_ASSERT_EQUAL(eligible_count(&c, ARCH_COUNT), 0);
    CU_ASSERT_EQUAL(eligible_archs(&c), arch_bit(ARCH_AMD64) | arch_bit(ARCH_ARM64));
    CU_ASSERT_EQUAL(eligible_held_archs(&c), arch_bit(ARCH_ARM64));

    char buf[512];
    eligible_describe(&c, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "eligible: 1 amd64, 1 arm64, 1 of unknown architecture; 1 arm64 cordoned; "
                                "1 of unknown architecture not ready; 1 amd64 excluded by the workload node placement; "
                                "1 amd64 without kubevirt.io/schedulable=true; 1 amd64 excluded by the VM's node affinity");

    /* a selector that only arm64 nodes pass */
    struct placement sel;
    mk_placement(ARM_SEL, &sel);
    eligible_census(&s, &sel, &c);
    CU_ASSERT_EQUAL(eligible_archs(&c), arch_bit(ARCH_ARM64));
    CU_ASSERT_EQUAL(c.n[NR_SELECTOR][ARCH_AMD64], 2);
    CU_ASSERT_EQUAL(c.n[NR_SELECTOR][ARCH_COUNT], 2);    /* the not-ready node fails the selector first */

    /* empty snapshot */
    struct snapshot e;
    memset(&e, 0, sizeof e);
    eligible_census(&e, &sel, &c);
    CU_ASSERT_EQUAL(eligible_archs(&c), 0);
    eligible_describe(&c, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "eligible: none");
}


/* A census (which batches lookups) counts exactly what classifying node by node counts, on
 * nodes that share interned strings as the snapshot builder makes them, with the keys at
 * varying positions. */
static void test_census_matches_classify(void)
{
    static const char *const keys[] = { "a.example.org/x", "kubernetes.io/arch", "kubernetes.io/hostname",
                                        "pool", "topology.kubernetes.io/zone", "zz" };
    static const char *const vals[] = { "amd64", "arm64", "vms", "db", "z1", "z2", "" };
    enum { N = 300, K = sizeof keys / sizeof keys[0] };
    static struct node nodes[N];
    static struct kv items[N][K];
    unsigned seed = 12345;
    for (size_t i = 0; i < N; i++) {
        size_t n = 0;
        for (size_t k = 0; k < K; k++) {
            seed = seed * 1103515245u + 12345u;
            if ((seed >> 16) % 4 == 0)
                continue;       /* leave this key out: the others shift position */
            seed = seed * 1103515245u + 12345u;
            items[i][n].key = keys[k];
            items[i][n].value = vals[(seed >> 16) % (sizeof vals / sizeof vals[0])];
            n++;
        }
        memset(&nodes[i], 0, sizeof nodes[i]);
        nodes[i].name = "n";
        nodes[i].labels.items = items[i];
        nodes[i].labels.n = n;
        nodes[i].arch = (int)(i % 3) - 1;
        nodes[i].workload = i % 7 != 0;
        nodes[i].kubevirt_ok = true;
    }
    struct snapshot s;
    memset(&s, 0, sizeof s);
    s.nodes = nodes;
    s.nnodes = N;
    static const char *const placements[] = {
        ARM_SEL, POOL_AFF,
        "{\"nodeSelector\":{\"kubernetes.io/arch\":\"amd64\",\"pool\":\"vms\"}}",
        "{\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":["
        "{\"matchExpressions\":[{\"key\":\"topology.kubernetes.io/zone\",\"operator\":\"NotIn\",\"values\":[\"z1\"]},"
        "{\"key\":\"zz\",\"operator\":\"Exists\"}]},"
        "{\"matchExpressions\":[{\"key\":\"a.example.org/x\",\"operator\":\"In\",\"values\":[\"db\",\"\"]}]}]}}}}",
    };
    for (size_t p = 0; p < sizeof placements / sizeof placements[0]; p++) {
        struct placement pl;
        mk_placement(placements[p], &pl);
        struct census got, want;
        memset(&want, 0, sizeof want);
        for (size_t i = 0; i < N; i++) {
            int col = nodes[i].arch >= 0 ? nodes[i].arch : ARCH_COUNT;
            want.n[eligible_classify(&nodes[i], false, &pl)][col]++;
        }
        eligible_census(&s, &pl, &got);
        CASE_ASSERT(memcmp(&got, &want, sizeof got) == 0, p, placements[p]);
        unsigned elig = 0;
        for (int a = 0; a <= ARCH_COUNT; a++)
            elig += got.n[NR_ELIGIBLE][a];
        CASE_ASSERT(elig > 0 && elig < N, p, "the placement splits the nodes");
    }
}

static void test_describe(void)
{
    struct census c;
    char buf[512];

    memset(&c, 0, sizeof c);
    c.n[NR_ELIGIBLE][ARCH_AMD64] = 2;
    c.n[NR_PLACEMENT][ARCH_AMD64] = 1;
    c.n[NR_PLACEMENT][ARCH_ARM64] = 1;
    eligible_describe(&c, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "eligible: 2 amd64; 1 amd64 excluded by the workload node placement; "
                                "1 arm64 excluded by the workload node placement");

    memset(&c, 0, sizeof c);
    c.n[NR_ELIGIBLE][ARCH_ARM64] = 2;
    c.n[NR_CORDONED][ARCH_AMD64] = 1;
    c.n[NR_PLACEMENT][ARCH_AMD64] = 1;
    eligible_describe(&c, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "eligible: 2 arm64; 1 amd64 cordoned; 1 amd64 excluded by the workload node placement");

    memset(&c, 0, sizeof c);
    eligible_describe(&c, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "eligible: none");

    c.n[NR_ELIGIBLE][ARCH_ARM64] = 1;
    c.n[NR_ELIGIBLE][ARCH_AMD64] = 3;
    eligible_describe(&c, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "eligible: 3 amd64, 1 arm64");

    /* every reason, in enum order, archs in id order, unknown column last */
    memset(&c, 0, sizeof c);
    c.n[NR_TAINT][ARCH_COUNT] = 2;
    c.n[NR_TAINT][ARCH_S390X] = 1;
    c.n[NR_AFFINITY][ARCH_ARM64] = 4;
    c.n[NR_SELECTOR][ARCH_AMD64] = 5;
    c.n[NR_NOT_KUBEVIRT][ARCH_ARM64] = 6;
    c.n[NR_PLACEMENT][ARCH_S390X] = 7;
    c.n[NR_NOT_READY][ARCH_AMD64] = 8;
    c.n[NR_CORDONED][ARCH_ARM64] = 9;
    c.n[NR_CORDONED][ARCH_AMD64] = 10;
    eligible_describe(&c, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "eligible: none; 10 amd64 cordoned; 9 arm64 cordoned; 8 amd64 not ready; "
                                "7 s390x excluded by the workload node placement; "
                                "6 arm64 without kubevirt.io/schedulable=true; "
                                "5 amd64 excluded by the VM's nodeSelector; 4 arm64 excluded by the VM's node affinity; "
                                "1 s390x excluded by taints the VM does not tolerate; "
                                "2 of unknown architecture excluded by taints the VM does not tolerate");
    CU_ASSERT_EQUAL(eligible_archs(&c), 0);
    CU_ASSERT_EQUAL(eligible_held_archs(&c), arch_bit(ARCH_AMD64) | arch_bit(ARCH_ARM64));
}

static void test_describe_truncation(void)
{
    struct census c;
    memset(&c, 0, sizeof c);
    c.n[NR_ELIGIBLE][ARCH_AMD64] = 4000000000u;
    c.n[NR_ELIGIBLE][ARCH_ARM64] = 2;
    for (int r = NR_CORDONED; r < NR_COUNT; r++)
        for (int a = 0; a <= ARCH_COUNT; a++)
            c.n[r][a] = (unsigned)(r * 100 + a);
    char full[4096];
    eligible_describe(&c, full, sizeof full);
    size_t flen = strlen(full);
    CU_ASSERT(flen > 1000);
    CU_ASSERT(flen < sizeof full - 1);
    CU_ASSERT(strncmp(full, "eligible: 4000000000 amd64, 2 arm64; 100 amd64 cordoned; ", 56) == 0);

    char buf[4096 + 16];
    for (size_t len = 0; len <= flen + 2; len++) {
        memset(buf, '#', sizeof buf);
        eligible_describe(&c, buf, len);
        if (len == 0) {
            CU_ASSERT_EQUAL(buf[0], '#');
            continue;
        }
        size_t got = strnlen(buf, len);
        CU_ASSERT(got < len);                               /* terminated inside the buffer */
        CU_ASSERT_EQUAL(buf[len], '#');                      /* nothing written past it */
        CU_ASSERT(strncmp(buf, full, got) == 0);             /* a prefix of the full text */
        CU_ASSERT_EQUAL(got, len - 1 < flen ? len - 1 : flen);
    }
    eligible_describe(&c, NULL, 10);    /* no crash */
}

UNIT_SUITE("eligible", setup, teardown,
           { "classification order table", test_classify_table },
           { "transient taints", test_transient },
           { "census counts per reason and architecture", test_census },
           { "census equals node-by-node classification", test_census_matches_classify },
           { "describe wording", test_describe },
           { "describe truncation", test_describe_truncation })
