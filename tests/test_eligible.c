/* test_eligible.c - node classification order, census counts, and the census description
 * used in denial messages (exact wording, truncation). */
#include <stdio.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "unit.h"
#include "eligible.h"
#include "log.h"

#define CASE_ASSERT(cond, idx, what)                                                        \
    do {                                                                                    \
        char msg_[256];                                                                     \
        snprintf(msg_, sizeof msg_, "case %zu (%.120s): %.100s", (size_t)(idx), (what), #cond); \
        CU_assertImplementation((cond) ? CU_TRUE : CU_FALSE, __LINE__, msg_, __FILE__, "", CU_FALSE); \
    } while (0)

static struct pool *pool;
static char err[512];

static enum log_level saved_level;

static int setup(void)
{
    saved_level = log_min_level;
    log_min_level = LOG_ERROR;      /* random clusters have arch label/status mismatches */
    pool = pool_new(0);
    return pool ? 0 : 1;
}

static int teardown(void)
{
    pool_free(pool);
    pool = NULL;
    log_min_level = saved_level;
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

/* ---- the indexed census against node-by-node classification ---------------------------------- */

static unsigned rnd(unsigned *seed, unsigned n)
{
    *seed = *seed * 1103515245u + 12345u;
    return ((*seed >> 16) & 0x7fffu) % n;
}

static const char *pick(unsigned *seed, const char *const *v, size_t n)
{
    return v[rnd(seed, (unsigned)n)];
}
#define PICK(seed, arr) pick((seed), (arr), sizeof(arr) / sizeof(arr)[0])

static const char *const r_keys[] = { "kubernetes.io/arch", "pool", "zone", "num", "kubevirt.io/schedulable",
                                      "node-role.kubernetes.io/worker", "cpumanager", "host" };
static const char *const r_pool[] = { "a", "b", "c", "" };
static const char *const r_zone[] = { "z1", "z2", "z3", "z4" };
static const char *const r_num[] = { "0", "5", "10", "-3", "+7", "x", "99999999999999999999", "007", "" };
static const char *const r_arch[] = { "amd64", "arm64", "s390x", "mips", "x86_64" };
static const char *const r_effect[] = { "NoSchedule", "NoExecute", "PreferNoSchedule" };
static const char *const r_taint_key[] = { "dedicated", "node.kubernetes.io/unschedulable", "node.kubernetes.io/not-ready",
                                           "node.kubernetes.io/unreachable", "node.kubernetes.io/memory-pressure",
                                           "example.org/maint" };
static const char *const r_taint_val[] = { "", "gpu", "db" };

/* A value for a key: mostly from the key's vocabulary, sometimes one no node has. */
static const char *r_value(unsigned *seed, const char *key, char *buf, size_t len)
{
    if (rnd(seed, 12) == 0)
        return "absent-value";
    if (strcmp(key, "kubernetes.io/arch") == 0)
        return PICK(seed, r_arch);
    if (strcmp(key, "pool") == 0)
        return PICK(seed, r_pool);
    if (strcmp(key, "zone") == 0)
        return PICK(seed, r_zone);
    if (strcmp(key, "num") == 0)
        return PICK(seed, r_num);
    if (strcmp(key, "kubevirt.io/schedulable") == 0)
        return rnd(seed, 4) ? "true" : "false";
    if (strcmp(key, "host") == 0) {
        snprintf(buf, len, "n%03u", rnd(seed, 200));
        return buf;
    }
    return rnd(seed, 2) ? "" : "true";
}

static cJSON *r_node(unsigned *seed, unsigned i)
{
    char name[32], buf[32];
    snprintf(name, sizeof name, "n%03u", i);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "apiVersion", "v1");
    cJSON_AddStringToObject(o, "kind", "Node");
    cJSON *meta = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddStringToObject(meta, "name", name);
    cJSON *labels = cJSON_AddObjectToObject(meta, "labels");
    for (size_t k = 0; k < sizeof r_keys / sizeof r_keys[0]; k++) {
        if (rnd(seed, 3) == 0)
            continue;
        if (strcmp(r_keys[k], "host") == 0)
            cJSON_AddStringToObject(labels, "host", name);
        else
            cJSON_AddStringToObject(labels, r_keys[k], r_value(seed, r_keys[k], buf, sizeof buf));
    }
    if (rnd(seed, 10) == 0) {           /* a key only this node has */
        snprintf(buf, sizeof buf, "only.example.org/%u", i);
        cJSON_AddStringToObject(labels, buf, "1");
    }
    cJSON *spec = cJSON_AddObjectToObject(o, "spec");
    if (rnd(seed, 8) == 0)
        cJSON_AddBoolToObject(spec, "unschedulable", true);
    unsigned nt = rnd(seed, 4) == 0 ? 1 + rnd(seed, 2) : 0;
    if (nt) {
        cJSON *taints = cJSON_AddArrayToObject(spec, "taints");
        for (unsigned t = 0; t < nt; t++) {
            cJSON *tj = cJSON_CreateObject();
            cJSON_AddStringToObject(tj, "key", PICK(seed, r_taint_key));
            cJSON_AddStringToObject(tj, "value", PICK(seed, r_taint_val));
            cJSON_AddStringToObject(tj, "effect", PICK(seed, r_effect));
            cJSON_AddItemToArray(taints, tj);
        }
    }
    cJSON *status = cJSON_AddObjectToObject(o, "status");
    cJSON *info = cJSON_AddObjectToObject(status, "nodeInfo");
    cJSON_AddStringToObject(info, "architecture", rnd(seed, 6) ? "amd64" : "weird");
    return o;
}

static cJSON *r_req(unsigned *seed, unsigned nnodes, bool *field)
{
    static const char *const ops[] = { "In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt" };
    static const char *const ints[] = { "3", "-5", "0", "7", "100" };
    char buf[32];
    cJSON *r = cJSON_CreateObject();
    *field = rnd(seed, 6) == 0;
    if (*field) {
        cJSON_AddStringToObject(r, "key", "metadata.name");
        cJSON_AddStringToObject(r, "operator", rnd(seed, 2) ? "In" : "NotIn");
        snprintf(buf, sizeof buf, "n%03u", rnd(seed, nnodes + 2));
        cJSON *vals = cJSON_AddArrayToObject(r, "values");
        cJSON_AddItemToArray(vals, cJSON_CreateString(buf));
        return r;
    }
    const char *key = rnd(seed, 10) == 0 ? "absent.example.org/key" : PICK(seed, r_keys);
    const char *op = PICK(seed, ops);
    cJSON_AddStringToObject(r, "key", key);
    cJSON_AddStringToObject(r, "operator", op);
    if (strcmp(op, "Exists") == 0 || strcmp(op, "DoesNotExist") == 0)
        return r;
    cJSON *vals = cJSON_AddArrayToObject(r, "values");
    if (strcmp(op, "Gt") == 0 || strcmp(op, "Lt") == 0) {
        cJSON_AddItemToArray(vals, cJSON_CreateString(PICK(seed, ints)));
        return r;
    }
    unsigned nv = 1 + rnd(seed, 3);
    for (unsigned v = 0; v < nv; v++)
        cJSON_AddItemToArray(vals, cJSON_CreateString(r_value(seed, key, buf, sizeof buf)));
    return r;
}

static cJSON *r_placement(unsigned *seed, unsigned nnodes)
{
    char buf[32];
    cJSON *o = cJSON_CreateObject();
    unsigned nsel = rnd(seed, 3);
    if (nsel) {
        cJSON *sel = cJSON_AddObjectToObject(o, "nodeSelector");
        for (unsigned i = 0; i < nsel; i++) {
            const char *key = rnd(seed, 12) == 0 ? "absent.example.org/key" : PICK(seed, r_keys);
            cJSON_DeleteItemFromObjectCaseSensitive(sel, key);
            cJSON_AddStringToObject(sel, key, r_value(seed, key, buf, sizeof buf));
        }
    }
    if (rnd(seed, 3)) {
        cJSON *terms = cJSON_CreateArray();
        unsigned nterms = rnd(seed, 4);
        for (unsigned t = 0; t < nterms; t++) {
            cJSON *term = cJSON_CreateObject();
            unsigned nreq = rnd(seed, 4);
            cJSON *exprs = NULL, *fields = NULL;
            for (unsigned q = 0; q < nreq; q++) {
                bool field;
                cJSON *req = r_req(seed, nnodes, &field);
                cJSON **arr = field ? &fields : &exprs;
                if (!*arr)
                    *arr = cJSON_AddArrayToObject(term, field ? "matchFields" : "matchExpressions");
                cJSON_AddItemToArray(*arr, req);
            }
            cJSON_AddItemToArray(terms, term);
        }
        cJSON *aff = cJSON_AddObjectToObject(o, "affinity");
        cJSON *na = cJSON_AddObjectToObject(aff, "nodeAffinity");
        cJSON *req = cJSON_AddObjectToObject(na, "requiredDuringSchedulingIgnoredDuringExecution");
        cJSON_AddItemToObject(req, "nodeSelectorTerms", terms);
    }
    unsigned ntol = rnd(seed, 3);
    if (ntol) {
        cJSON *tols = cJSON_AddArrayToObject(o, "tolerations");
        for (unsigned i = 0; i < ntol; i++) {
            cJSON *t = cJSON_CreateObject();
            unsigned kind = rnd(seed, 4);
            if (kind != 3)
                cJSON_AddStringToObject(t, "key", PICK(seed, r_taint_key));
            if (kind == 0) {
                cJSON_AddStringToObject(t, "operator", "Equal");
                cJSON_AddStringToObject(t, "value", PICK(seed, r_taint_val));
            } else {
                cJSON_AddStringToObject(t, "operator", "Exists");
            }
            if (rnd(seed, 2))
                cJSON_AddStringToObject(t, "effect", PICK(seed, r_effect));
            cJSON_AddItemToArray(tols, t);
        }
    }
    return o;
}

static struct snapshot *r_snapshot(unsigned *seed, unsigned nnodes)
{
    cJSON *list = cJSON_CreateObject();
    cJSON_AddStringToObject(list, "apiVersion", "v1");
    cJSON_AddStringToObject(list, "kind", "List");
    cJSON *items = cJSON_AddArrayToObject(list, "items");
    for (unsigned i = 0; i < nnodes; i++)
        cJSON_AddItemToArray(items, r_node(seed, i));
    if (rnd(seed, 3) == 0) {    /* a workload node placement */
        cJSON *hco = cJSON_Parse("{\"apiVersion\":\"hco.kubevirt.io/v1beta1\",\"kind\":\"HyperConverged\","
                                 "\"metadata\":{\"name\":\"kubevirt-hyperconverged\",\"namespace\":\"openshift-cnv\"},"
                                 "\"spec\":{\"workloads\":{\"nodePlacement\":{\"nodeSelector\":{\"zone\":\"z1\"}}}}}");
        cJSON_AddItemToArray(items, hco);
    }
    struct cluster_builder *b = cluster_builder_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(cluster_builder_add(b, list, err, sizeof err), AG_OK);
    cJSON_Delete(list);
    return cluster_builder_finish(b);
}

static void census_by_node(const struct snapshot *s, const struct placement *p, struct census *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < s->nnodes; i++) {
        int a = s->nodes[i].arch;
        out->n[eligible_classify(&s->nodes[i], s->kubevirt_labels_nodes, p)][a >= 0 && a < ARCH_COUNT ? a : ARCH_COUNT]++;
    }
}

static void test_indexed_census_random(void)
{
    unsigned seed = 20240611;
    unsigned seen[NR_COUNT] = { 0 };
    unsigned compared = 0, fast = 0;
    for (unsigned round = 0; round < 40; round++) {
        static const unsigned sizes[] = { 0, 1, 63, 64, 65, 130, 200 };
        unsigned nnodes = round < 7 ? sizes[round] : 1 + rnd(&seed, 200);
        struct snapshot *s = r_snapshot(&seed, nnodes);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        CU_ASSERT_PTR_NOT_NULL(s->index);
        for (unsigned k = 0; k < 25; k++) {
            cJSON *pj = r_placement(&seed, nnodes);
            struct placement pl;
            pool_reset(pool);
            CU_ASSERT_EQUAL_FATAL(selector_parse_placement(pj, pool, &pl, err, sizeof err), AG_OK);
            struct census want, got, via;
            census_by_node(s, &pl, &want);
            memset(&got, 0xa5, sizeof got);
            bool ok = eligible_census_indexed(s, &pl, &got);
            CU_ASSERT(ok);
            if (ok) {
                fast++;
                if (memcmp(&got, &want, sizeof got) != 0) {
                    char *txt = cJSON_PrintUnformatted(pj);
                    CASE_ASSERT(false, round * 100 + k, txt ? txt : "?");
                    cJSON_free(txt);
                }
            }
            eligible_census(s, &pl, &via);
            CU_ASSERT(memcmp(&via, &want, sizeof via) == 0);
            for (int r = 0; r < NR_COUNT; r++)
                for (int a = 0; a <= ARCH_COUNT; a++)
                    seen[r] += want.n[r][a];
            compared++;
            cJSON_Delete(pj);
        }
        snapshot_release(s);
    }
    CU_ASSERT_EQUAL(fast, compared);
    /* the random cases reach every reason, so the comparison covers every stage */
    for (int r = 0; r < NR_COUNT; r++)
        CASE_ASSERT(seen[r] > 0, r, "a reason the random placements never produced");
}

/* Placements beyond the fixed per-request plan, and snapshots without an index (label strings
 * not shared), take the node-by-node path with the same result. */
static void test_indexed_census_fallback(void)
{
    unsigned seed = 7;
    struct snapshot *s = r_snapshot(&seed, 200);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s->index);

    /* two In requirements over every node name: more node sets than the plan holds */
    static char big[16384];
    size_t used = 0;
    used += (size_t)snprintf(big + used, sizeof big - used,
                             "{\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":"
                             "{\"nodeSelectorTerms\":[{\"matchExpressions\":[");
    for (unsigned q = 0; q < 2; q++) {
        used += (size_t)snprintf(big + used, sizeof big - used, "%s{\"key\":\"host\",\"operator\":\"In\",\"values\":[",
                                 q ? "," : "");
        for (unsigned i = 0; i < 200; i++)
            used += (size_t)snprintf(big + used, sizeof big - used, "%s\"n%03u\"", i ? "," : "", i);
        used += (size_t)snprintf(big + used, sizeof big - used, "]}");
    }
    snprintf(big + used, sizeof big - used, "]}]}}}}");
    cJSON *pj = cJSON_Parse(big);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pj);
    struct placement pl;
    pool_reset(pool);
    CU_ASSERT_EQUAL_FATAL(selector_parse_placement(pj, pool, &pl, err, sizeof err), AG_OK);
    cJSON_Delete(pj);
    struct census want, got;
    census_by_node(s, &pl, &want);
    CU_ASSERT_FALSE(eligible_census_indexed(s, &pl, &got));
    eligible_census(s, &pl, &got);
    CU_ASSERT(memcmp(&got, &want, sizeof got) == 0);
    unsigned past_affinity = 0;
    for (int r = 0; r <= NR_NOT_READY; r++)
        for (int a = 0; a <= ARCH_COUNT; a++)
            past_affinity += want.n[r][a];
    CU_ASSERT(past_affinity > 0);

    /* a matchFields requirement with an operator the parser never admits */
    static const char *const one[] = { "n001" };
    struct sel_req req = { "metadata.name", SEL_EXISTS, one, 0, true };
    struct sel_term term = { &req, 1 };
    struct placement odd;
    memset(&odd, 0, sizeof odd);
    odd.has_affinity = true;
    odd.affinity.terms = &term;
    odd.affinity.n = 1;
    census_by_node(s, &odd, &want);
    CU_ASSERT_FALSE(eligible_census_indexed(s, &odd, &got));
    eligible_census(s, &odd, &got);
    CU_ASSERT(memcmp(&got, &want, sizeof got) == 0);
    CU_ASSERT_FALSE(eligible_census_indexed(s, NULL, &got));
    snapshot_release(s);

    /* hand-made nodes whose equal label strings are separate copies: no index */
    static const struct nspec specs[] = {
        { "a", ARCH_AMD64, true, true, false, "{\"pool\":\"vms\"}", NULL },
        { "b", ARCH_ARM64, true, true, false, "{\"pool\":\"vms\"}", NULL },
    };
    struct node nodes[2] = { mk_node(&specs[0]), mk_node(&specs[1]) };
    struct snapshot h;
    memset(&h, 0, sizeof h);
    h.nodes = nodes;
    h.nnodes = 2;
    h.pool = pool;
    CU_ASSERT_EQUAL(eligible_index_build(&h), AG_OK);
    CU_ASSERT_PTR_NULL(h.index);
    /* the same nodes sharing the strings: indexed */
    nodes[1].labels = nodes[0].labels;
    CU_ASSERT_EQUAL(eligible_index_build(&h), AG_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h.index);
    struct placement ps;
    mk_placement(POOL_AFF, &ps);
    census_by_node(&h, &ps, &want);
    CU_ASSERT_TRUE(eligible_census_indexed(&h, &ps, &got));
    CU_ASSERT(memcmp(&got, &want, sizeof got) == 0);
    CU_ASSERT_EQUAL(got.n[NR_ELIGIBLE][ARCH_AMD64], 1);
    CU_ASSERT_EQUAL(got.n[NR_ELIGIBLE][ARCH_ARM64], 1);
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
           { "indexed census equals classification on random clusters", test_indexed_census_random },
           { "indexed census falls back: big placements, no index", test_indexed_census_fallback },
           { "describe wording", test_describe },
           { "describe truncation", test_describe_truncation })
