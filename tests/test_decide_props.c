/* test_decide_props.c - the decision checked as properties: a seeded generator makes clusters
 * (node architectures, cordons, not-ready/unreachable taints, other taints, worker and KubeVirt
 * labels, an HCO workload placement, a default architecture) and VMs/VMIs (architecture, a
 * kubernetes.io/arch node selector, the image-architectures annotation, a preference,
 * tolerations, the unknown-image policy), and every pair is run through /validate and /mutate.
 * The answers are checked against a model written here from the rules (which nodes are
 * eligible or held back for the VM, per architecture) and against invariants that follow from
 * them: a VM whose requested architecture has no node at all is refused; an admitted VM without
 * a warning has an eligible node of its image's and its requested architecture; /mutate never
 * denies, never overwrites a user's value, pins only where the VM can run, and a second /mutate
 * on its own patched object returns no patch; what /validate admits stays admitted once
 * mutated. Deterministic: the seed is fixed; a failing case prints its index and its inputs. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <CUnit/CUnit.h>
#include "unit.h"
#include "testutil.h"
#include "decide.h"
#include "cluster.h"
#include "patch.h"
#include "pool.h"
#include "vm.h"

#define PROP_CASES 6000
#define PROP_SEED 0x15a7c0de15ULL
#define MAX_NODES 6
#define NA 3                                    /* architectures generated: amd64, arm64, s390x */
#define ALL ((1u << NA) - 1)

static const char *const an[NA] = { "amd64", "arm64", "s390x" };
static const char *const alias[NA] = { "x86_64", "aarch64", "s390x" };

/* ---- generator ---- */

static uint64_t rng;

static uint64_t next(void)
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static unsigned pick(unsigned n) { return (unsigned)(next() % n); }
static bool chance(unsigned pct) { return pick(100) < pct; }

enum cordon { C_NONE, C_SPEC, C_SPEC_TAINT, C_TAINT };
enum transient { T_NONE, T_NOT_READY, T_UNREACHABLE };
enum { TOL_DEDICATED = 1, TOL_NOT_READY = 2, TOL_UNREACHABLE = 4, TOL_UNSCHEDULABLE = 8, TOL_ALL = 16 };

struct gnode {
    int arch;
    bool worker, kv_key, kv_true, general, dedicated, prefer;
    enum cordon cordon;
    enum transient transient;
};

struct gcluster {
    int n;
    struct gnode nodes[MAX_NODES];
    bool placement;             /* HCO workload placement: vms.example.org/pool=general */
    int kv_default;             /* KubeVirt status.defaultArchitecture, -1: no KubeVirt CR */
};

struct gvm {
    bool vmi;
    int arch;                   /* -1 unset, 0..2, 3: unsupported ("ppc64le") */
    bool arch_alias;
    int sel_arch;               /* -1 or 0..2 */
    bool sel_pool;              /* nodeSelector vms.example.org/pool=general */
    bool empty_sel;             /* an empty nodeSelector map */
    unsigned img;               /* annotation architectures; 0: no annotation (unknown image) */
    bool bad_annot;             /* annotation "arm64,sparc" */
    int pref;                   /* 0 none, 1 prefers pref_arch, 2 requires pref_arch (VM only) */
    int pref_arch;
    unsigned tol;
    enum unknown_image_mode pol;
};

static void gen_cluster(struct gcluster *c)
{
    memset(c, 0, sizeof *c);
    c->n = (int)pick(MAX_NODES + 1);
    c->placement = chance(20);
    c->kv_default = chance(80) ? (int)pick(NA) : -1;
    bool kv_labels = chance(25);
    for (int i = 0; i < c->n; i++) {
        struct gnode *g = &c->nodes[i];
        g->arch = (int)pick(NA);
        g->worker = chance(85);
        g->kv_key = kv_labels && chance(80);
        g->kv_true = chance(80);
        g->general = chance(75);
        g->dedicated = chance(12);
        g->prefer = chance(10);
        unsigned k = pick(100);
        g->cordon = k < 70 ? C_NONE : k < 78 ? C_SPEC : k < 94 ? C_SPEC_TAINT : C_TAINT;
        k = pick(100);
        g->transient = k < 78 ? T_NONE : k < 90 ? T_NOT_READY : T_UNREACHABLE;
    }
}

static void gen_vm(struct gvm *v)
{
    memset(v, 0, sizeof *v);
    v->vmi = chance(15);
    unsigned k = pick(100);
    v->arch = k < 40 ? -1 : k < 97 ? (int)pick(NA) : 3;
    v->arch_alias = chance(15);
    v->sel_arch = chance(20) ? (int)pick(NA) : -1;
    v->sel_pool = chance(12);
    v->empty_sel = !v->sel_pool && v->sel_arch < 0 && chance(8);
    k = pick(100);
    v->img = k < 20 ? 0 : 1u + pick(ALL);      /* a non-empty subset, or none */
    v->bad_annot = chance(3);
    if (!v->vmi && chance(20)) {
        v->pref = 1 + (int)pick(2);
        v->pref_arch = (int)pick(NA);
    }
    v->tol = chance(35) ? (1u + pick(31)) : 0;
    v->pol = (enum unknown_image_mode)pick(3);
}

/* ---- JSON text ---- */

struct jb { char buf[16384]; size_t len; bool full; };

static void put(struct jb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct jb *b, const char *fmt, ...)
{
    if (b->full)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(b->buf + b->len, sizeof b->buf - b->len, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= sizeof b->buf - b->len)
        b->full = true;
    else
        b->len += (size_t)w;
}

static void cluster_json(const struct gcluster *c, struct jb *b)
{
    put(b, "[");
    for (int i = 0; i < c->n; i++) {
        const struct gnode *g = &c->nodes[i];
        put(b, "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"node-%d\",\"labels\":{"
               "\"kubernetes.io/arch\":\"%s\",\"kubernetes.io/os\":\"linux\",\"vms.example.org/pool\":\"%s\"",
            i, an[g->arch], g->general ? "general" : "batch");
        if (g->worker)
            put(b, ",\"node-role.kubernetes.io/worker\":\"\"");
        if (g->kv_key)
            put(b, ",\"kubevirt.io/schedulable\":\"%s\"", g->kv_true ? "true" : "false");
        put(b, "}},\"spec\":{");
        if (g->cordon == C_SPEC || g->cordon == C_SPEC_TAINT)
            put(b, "\"unschedulable\":true,");
        put(b, "\"taints\":[");
        const char *sep = "";
        if (g->cordon == C_SPEC_TAINT || g->cordon == C_TAINT) {
            put(b, "%s{\"key\":\"node.kubernetes.io/unschedulable\",\"effect\":\"NoSchedule\"}", sep);
            sep = ",";
        }
        if (g->transient == T_NOT_READY) {
            put(b, "%s{\"key\":\"node.kubernetes.io/not-ready\",\"effect\":\"NoSchedule\"}", sep);
            sep = ",";
        } else if (g->transient == T_UNREACHABLE) {
            put(b, "%s{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":\"NoSchedule\"},"
                   "{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":\"NoExecute\"}", sep);
            sep = ",";
        }
        if (g->dedicated) {
            put(b, "%s{\"key\":\"dedicated\",\"value\":\"vms\",\"effect\":\"NoSchedule\"}", sep);
            sep = ",";
        }
        if (g->prefer)
            put(b, "%s{\"key\":\"dedicated\",\"value\":\"batch\",\"effect\":\"PreferNoSchedule\"}", sep);
        put(b, "]},\"status\":{\"nodeInfo\":{\"architecture\":\"%s\",\"operatingSystem\":\"linux\"}}},", an[g->arch]);
    }
    put(b, "{\"apiVersion\":\"hco.kubevirt.io/v1beta1\",\"kind\":\"HyperConverged\",\"metadata\":{"
           "\"name\":\"kubevirt-hyperconverged\",\"namespace\":\"openshift-cnv\"},\"spec\":{\"featureGates\":{"
           "\"enableMultiArchBootImageImport\":true}");
    if (c->placement)
        put(b, ",\"workloads\":{\"nodePlacement\":{\"nodeSelector\":{\"vms.example.org/pool\":\"general\"}}}");
    put(b, "}}");
    if (c->kv_default >= 0)
        put(b, ",{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":\"KubeVirt\",\"metadata\":{\"name\":\"kubevirt\","
               "\"namespace\":\"openshift-cnv\"},\"spec\":{},\"status\":{\"defaultArchitecture\":\"%s\"}}",
            an[c->kv_default]);
    for (int a = 0; a < NA; a++)
        put(b, ",{\"apiVersion\":\"instancetype.kubevirt.io/v1beta1\",\"kind\":\"VirtualMachineClusterPreference\","
               "\"metadata\":{\"name\":\"prefers-%s\"},\"spec\":{\"preferredArchitecture\":\"%s\"}},"
               "{\"apiVersion\":\"instancetype.kubevirt.io/v1beta1\",\"kind\":\"VirtualMachineClusterPreference\","
               "\"metadata\":{\"name\":\"requires-%s\"},\"spec\":{\"requirements\":{\"architecture\":\"%s\"}}}",
            an[a], an[a], an[a], an[a]);
    put(b, "]");
}

static void vm_json(const struct gvm *v, struct jb *b)
{
    put(b, "{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":\"%s\",\"metadata\":{\"name\":\"vm1\",\"namespace\":\"vms\"",
        v->vmi ? "VirtualMachineInstance" : "VirtualMachine");
    if (v->bad_annot) {
        put(b, ",\"annotations\":{\"" ANNOT_IMAGE_ARCHS "\":\"arm64,sparc\"}");
    } else if (v->img) {
        put(b, ",\"annotations\":{\"" ANNOT_IMAGE_ARCHS "\":\"");
        const char *sep = "";
        for (int a = NA - 1; a >= 0; a--)      /* any order, spaces and aliases are accepted */
            if (v->img & (1u << a)) {
                put(b, "%s%s", sep, v->arch_alias ? alias[a] : an[a]);
                sep = ", ";
            }
        put(b, "\"}");
    }
    put(b, "},\"spec\":{");
    if (!v->vmi) {
        put(b, "\"runStrategy\":\"Always\",");
        if (v->pref)
            put(b, "\"preference\":{\"name\":\"%s-%s\"},", v->pref == 1 ? "prefers" : "requires", an[v->pref_arch]);
        put(b, "\"template\":{\"spec\":{");
    }
    put(b, "\"domain\":{\"devices\":{}},");
    if (v->arch >= 0)
        put(b, "\"architecture\":\"%s\",", v->arch == 3 ? "ppc64le" : v->arch_alias ? alias[v->arch] : an[v->arch]);
    if (v->sel_arch >= 0 || v->sel_pool || v->empty_sel) {
        put(b, "\"nodeSelector\":{");
        if (v->sel_arch >= 0)
            put(b, "\"kubernetes.io/arch\":\"%s\"%s", an[v->sel_arch], v->sel_pool ? "," : "");
        if (v->sel_pool)
            put(b, "\"vms.example.org/pool\":\"general\"");
        put(b, "},");
    }
    if (v->tol) {
        static const char *const tols[] = {
            "{\"key\":\"dedicated\",\"operator\":\"Equal\",\"value\":\"vms\"}",
            "{\"key\":\"node.kubernetes.io/not-ready\",\"operator\":\"Exists\"}",
            "{\"key\":\"node.kubernetes.io/unreachable\",\"operator\":\"Exists\"}",
            "{\"key\":\"node.kubernetes.io/unschedulable\",\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}",
            "{\"operator\":\"Exists\"}",
        };
        put(b, "\"tolerations\":[");
        const char *sep = "";
        for (int i = 0; i < 5; i++)
            if (v->tol & (1u << i)) {
                put(b, "%s%s", sep, tols[i]);
                sep = ",";
            }
        put(b, "],");
    }
    put(b, "\"volumes\":[{\"name\":\"rootdisk\",\"containerDisk\":{\"image\":\"docker.io/library/busybox:1.36\"}}]}");
    if (!v->vmi)
        put(b, "}}");
    put(b, "}");
}

/* ---- the model ---- */

struct model {
    unsigned e, h;              /* architectures with an eligible node; with a held-back one */
    int r;                      /* requested architecture, -1 unset */
    bool r_invalid;
    bool i_known;
    unsigned i;
};

static bool tolerates(unsigned tol, unsigned bit) { return (tol & (bit | TOL_ALL)) != 0; }

/* Which nodes can take the VM, written from the rules of docs/design.md, not from eligible.c. */
static void model_of(const struct gcluster *c, const struct gvm *v, unsigned tol, int sel_arch, struct model *m)
{
    memset(m, 0, sizeof *m);
    bool any_worker = false, any_kv = false;
    for (int i = 0; i < c->n; i++) {
        any_worker |= c->nodes[i].worker;
        any_kv |= c->nodes[i].kv_key;
    }
    for (int i = 0; i < c->n; i++) {
        const struct gnode *g = &c->nodes[i];
        if (c->placement ? !g->general : (any_worker && !g->worker))
            continue;
        if (any_kv && !(g->kv_key && g->kv_true))
            continue;
        if (v->sel_pool && !g->general)
            continue;
        if (sel_arch >= 0 && g->arch != sel_arch)
            continue;
        if (g->dedicated && !tolerates(tol, TOL_DEDICATED))
            continue;
        bool held = (g->cordon != C_NONE && !tolerates(tol, TOL_UNSCHEDULABLE))
                    || (g->transient == T_NOT_READY && !tolerates(tol, TOL_NOT_READY))
                    || (g->transient == T_UNREACHABLE && !tolerates(tol, TOL_UNREACHABLE));
        if (held)
            m->h |= 1u << g->arch;
        else
            m->e |= 1u << g->arch;
    }
    m->r = -1;
    if (v->arch == 3)
        m->r_invalid = true;
    else if (v->arch >= 0)
        m->r = v->arch;
    else if (v->pref == 2)
        m->r = v->pref_arch;
    m->i_known = !v->bad_annot && v->img != 0;
    m->i = m->i_known ? v->img : 0;
}

static bool in(unsigned set, int a) { return a >= 0 && (set & (1u << a)) != 0; }

/* ---- running one case ---- */

static int failures;
static unsigned long checks;
static size_t case_no;
static const struct gcluster *cur_c;
static const char *cur_vm_text;

static void describe(void)
{
    fprintf(stderr, "\n  case %zu:", case_no);
    for (int i = 0; i < cur_c->n; i++) {
        const struct gnode *g = &cur_c->nodes[i];
        fprintf(stderr, " [%s%s%s%s%s%s%s]", an[g->arch], g->worker ? " worker" : "",
                g->kv_key ? (g->kv_true ? " kv" : " kv=false") : "", g->general ? "" : " batch",
                g->cordon ? " cordoned" : "", g->transient == T_NOT_READY ? " not-ready" : g->transient ? " unreachable" : "",
                g->dedicated ? " dedicated" : "");
    }
    fprintf(stderr, "%s default=%s\n  vm: %s\n", cur_c->placement ? " placement" : "",
            cur_c->kv_default >= 0 ? an[cur_c->kv_default] : "-", cur_vm_text);
}

#define PROP(cond, what, v)                                                                         \
    do {                                                                                            \
        checks++;                                                                                   \
        if (!(cond)) {                                                                              \
            if (failures < 8) {                                                                     \
                describe();                                                                         \
                fprintf(stderr, "  property failed: %s [%s] (line %d)\n", what, #cond, __LINE__);  \
                print_verdict(v);                                                                   \
            }                                                                                       \
            failures++;                                                                             \
        }                                                                                           \
    } while (0)

static void print_verdict(const struct verdict *v)
{
    if (!v)
        return;
    fprintf(stderr, "  answer: %s%s%s\n", verdict_class_name(v->cls), v->message ? ": " : "", v->message ? v->message : "");
    for (size_t i = 0; i < v->nwarnings; i++)
        fprintf(stderr, "  warning: %s\n", v->warnings[i]);
    for (size_t i = 0; i < v->patch.n; i++)
        fprintf(stderr, "  patch: %s %s %s\n", v->patch.ops[i].path, v->patch.ops[i].map_key ? v->patch.ops[i].map_key : "",
                v->patch.ops[i].value);
}

static enum ag_result run(const struct snapshot *s, const cJSON *obj, const struct gvm *g, bool mutate,
                          struct pool *pool, struct verdict *out)
{
    struct vm_facts facts;
    char err[256] = "";
    enum ag_result r = vm_extract(obj, g->vmi, "vms", pool, &facts, err, sizeof err);
    if (r != AG_OK) {
        fprintf(stderr, "\n  case %zu: vm_extract: %s", case_no, err);
        return r;
    }
    struct decide_input in = {
        .mutate = mutate, .op = OP_CREATE, .in_scope = true, .is_vmi = g->vmi, .vm = &facts,
        .resource = g->vmi ? "virtualmachineinstances" : "virtualmachines", .group = "kubevirt.io",
    };
    struct policy p = { MULTI_ARCH_ON, g->pol };
    return decide_review(&in, s, &p, pool, out);
}

/* Apply a /mutate patch, refusing to overwrite a member that exists ("never replace a value the
 * user set"). Only the shapes /mutate makes for these VMs: add a string or a one-key map. */
static bool apply(cJSON *root, const struct patch *pt)
{
    for (size_t i = 0; i < pt->n; i++) {
        const struct patch_op *op = &pt->ops[i];
        if (op->op != PATCH_ADD || op->path[0] != '/')
            return false;
        char tok[128];
        const char *p = op->path + 1;
        cJSON *node = root;
        for (;;) {
            size_t n = 0;
            while (*p && *p != '/' && n + 1 < sizeof tok) {
                if (p[0] == '~' && (p[1] == '0' || p[1] == '1')) {
                    tok[n++] = p[1] == '0' ? '~' : '/';
                    p += 2;
                } else {
                    tok[n++] = *p++;
                }
            }
            tok[n] = '\0';
            if (!*p)
                break;
            node = cJSON_GetObjectItemCaseSensitive(node, tok);
            if (!cJSON_IsObject(node))
                return false;
            p++;
        }
        if (!cJSON_IsObject(node) || cJSON_GetObjectItemCaseSensitive(node, tok))
            return false;
        cJSON *val = op->map_key ? cJSON_CreateObject() : cJSON_CreateString(op->value);
        if (!val || (op->map_key && !cJSON_AddStringToObject(val, op->map_key, op->value)) ||
            !cJSON_AddItemToObject(node, tok, val)) {
            cJSON_Delete(val);
            return false;
        }
    }
    return true;
}

/* The architecture a patch pins (every value it writes is the same one), -1 for none, -2 when
 * two ops disagree or a value is not a generated architecture. */
static int pinned(const struct patch *pt)
{
    int t = -1;
    for (size_t i = 0; i < pt->n; i++) {
        int a = -2;
        for (int k = 0; k < NA; k++)
            if (strcmp(pt->ops[i].value, an[k]) == 0)
                a = k;
        if (a == -2 || (t >= 0 && a != t))
            return -2;
        t = a;
    }
    return t;
}

static bool has_arch_op(const struct patch *pt)
{
    for (size_t i = 0; i < pt->n; i++) {
        size_t n = strlen(pt->ops[i].path);
        if (n >= 13 && strcmp(pt->ops[i].path + n - 13, "/architecture") == 0)
            return true;
    }
    return false;
}

static void check_case(const struct gcluster *c, const struct gvm *g, const struct snapshot *s)
{
    struct jb vb = { .len = 0 };
    vm_json(g, &vb);
    cur_vm_text = vb.buf;
    cJSON *obj = vb.full ? NULL : tu_parse(vb.buf);
    struct pool *pool = pool_new(0);
    PROP(obj && pool, "the generated VM parses", NULL);
    if (!obj || !pool)
        goto out;

    struct model m;
    model_of(c, g, g->tol, g->sel_arch, &m);
    unsigned reach = m.e | m.h;         /* architectures with any node the VM could use */

    /* ---- /validate ---- */
    struct verdict v;
    PROP(run(s, obj, g, false, pool, &v) == AG_OK, "/validate decides", NULL);
    bool unknown_rule = !m.i_known && !g->bad_annot && m.r < 0 && !m.r_invalid;
    bool deny = m.r_invalid || g->bad_annot
                || (m.r >= 0 && m.i_known && !in(m.i, m.r))
                || (g->sel_arch >= 0 && m.r >= 0 && g->sel_arch != m.r)
                || (m.i_known && !(m.i & reach))
                || (m.r >= 0 && !in(reach, m.r))
                || (unknown_rule && g->pol == UNKNOWN_IMAGE_DENY);
    bool warn = (m.i_known && !(m.i & m.e) && (m.i & m.h))
                || (m.r >= 0 && !in(m.e, m.r) && in(m.h, m.r))
                || (unknown_rule && g->pol == UNKNOWN_IMAGE_WARN);

    PROP(!(m.r >= 0 && !in(reach, m.r)) || !v.allowed,
         "a VM whose requested architecture has no node at all, eligible or held, is refused", &v);
    PROP(!(m.i_known && !(m.i & reach)) || !v.allowed, "a VM whose image has no node at all is refused", &v);
    PROP(!(m.r >= 0 && m.i_known && !in(m.i, m.r)) || !v.allowed, "R set, I known, R not in I: refused", &v);
    PROP(!(v.allowed && v.nwarnings == 0) || ((!m.i_known || (m.i & m.e)) && (m.r < 0 || in(m.e, m.r))),
         "admitted without a warning: an eligible node of an image architecture and of R", &v);
    PROP(!v.allowed || ((!m.i_known || (m.i & reach)) && (m.r < 0 || in(reach, m.r))),
         "admitted: some node, eligible or held, runs R and the image", &v);
    PROP(v.allowed == !deny, "denied exactly when a deny rule applies", &v);
    PROP(!v.allowed || (v.nwarnings > 0) == warn, "warned exactly when a held or unknown-image rule applies", &v);
    PROP(v.patch.n == 0, "/validate never patches", &v);
    PROP(v.allowed ? (v.ncauses == 0 && v.code == 0) : (v.ncauses > 0 && v.code == 422 && v.nwarnings == 0),
         "a denial has causes and no warnings; an admission has no causes", &v);
    for (size_t i = 0; i < v.ncauses; i++)
        PROP(v.causes[i].field && v.causes[i].message && *v.causes[i].message, "every cause names a field", &v);
    for (size_t i = 0; i < v.nwarnings; i++)
        PROP(strlen(v.warnings[i]) < WARNING_MAX_LEN, "every warning fits", &v);

    /* ---- /mutate ---- */
    struct verdict mu;
    PROP(run(s, obj, g, true, pool, &mu) == AG_OK, "/mutate decides", NULL);
    PROP(mu.allowed && mu.ncauses == 0 && mu.code == 0, "/mutate never denies", &mu);
    int t = pinned(&mu.patch);
    PROP(t != -2, "a patch pins one generated architecture", &mu);
    if (t >= 0) {
        unsigned cand = m.i_known ? m.i : ALL;
        if (m.r >= 0) {
            PROP(t == m.r, "/mutate pins the requested architecture", &mu);
        } else {
            PROP(!m.i_known || in(m.i, t), "/mutate pins an architecture of the image", &mu);
            PROP(in(reach, t), "/mutate pins an architecture with a node the VM can use", &mu);
            PROP(in(m.e, t) || !(cand & m.e),
                 "/mutate pins to held-back nodes only when no candidate architecture has an eligible node", &mu);
            PROP(g->sel_arch < 0 || t == g->sel_arch, "/mutate agrees with the user's arch selector", &mu);
        }
    }
    if (m.r < 0 && !m.r_invalid && m.i_known && (m.i & reach))
        PROP(has_arch_op(&mu.patch), "an image that can run somewhere gets its architecture pinned", &mu);
    if (m.r < 0 && !m.r_invalid && !m.i_known && g->pref != 1)
        PROP(mu.patch.n == 0, "unknown image, no R, no preferred architecture: no guess", &mu);
    if (m.r_invalid)
        PROP(mu.patch.n == 0 || !has_arch_op(&mu.patch), "an unsupported architecture is never replaced", &mu);

    if (mu.patch.n > 0) {
        cJSON *patched = cJSON_Duplicate(obj, 1);
        bool ok = patched && apply(patched, &mu.patch);
        PROP(ok, "the patch applies without overwriting a user's value", &mu);
        if (ok) {
            struct verdict again, pv;
            PROP(run(s, patched, g, true, pool, &again) == AG_OK && again.allowed && again.patch.n == 0,
                 "a second /mutate on its own patched object returns no patch", &again);
            PROP(run(s, patched, g, false, pool, &pv) == AG_OK, "/validate decides the patched object", NULL);
            PROP(!v.allowed || pv.allowed, "what /validate admits stays admitted once mutated", &pv);
            /* (a pin onto held-back nodes, when nothing eligible fits, brings its warning) */
            PROP(!(v.allowed && v.nwarnings == 0 && in(m.e, t)) || (pv.allowed && pv.nwarnings == 0),
                 "what /validate admits without a warning stays so once pinned to an eligible architecture", &pv);
        }
        cJSON_Delete(patched);
    }
out:
    pool_free(pool);
    cJSON_Delete(obj);
}

static void test_properties(void)
{
    rng = PROP_SEED;
    failures = 0;
    checks = 0;
    unsigned denied_r_no_node = 0, held_warned = 0, pinned_held = 0, vms_per_cluster = 4;
    for (case_no = 0; case_no < PROP_CASES;) {
        struct gcluster c;
        gen_cluster(&c);
        struct jb cb = { .len = 0 };
        cluster_json(&c, &cb);
        struct snapshot *s = cb.full ? NULL : tu_snapshot(cb.buf);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        cur_c = &c;
        for (unsigned k = 0; k < vms_per_cluster && case_no < PROP_CASES; k++, case_no++) {
            struct gvm g;
            gen_vm(&g);
            check_case(&c, &g, s);
            /* coverage of the interesting corners, so a generator change cannot hollow the test */
            struct model m;
            model_of(&c, &g, g.tol, g.sel_arch, &m);
            if (m.r >= 0 && !in(m.e | m.h, m.r) && m.i_known && (m.i & m.h) && !(m.i & m.e))
                denied_r_no_node++;
            if (m.i_known && !(m.i & m.e) && (m.i & m.h))
                held_warned++;
            if (m.r < 0 && m.i_known && !(m.i & m.e) && (m.i & m.h))
                pinned_held++;
        }
        snapshot_release(s);
    }
    if (failures)
        fprintf(stderr, "\n  %d property checks failed (seed %#llx)\n", failures, (unsigned long long)PROP_SEED);
    CU_ASSERT_EQUAL(failures, 0);
    fprintf(stderr, " [%d cases, %lu checks; corners: %u R without node, %u held image, %u pinned to held] ", PROP_CASES, checks, denied_r_no_node, held_warned, pinned_held);
    CU_ASSERT(checks >= 15UL * PROP_CASES);
    /* the generator reaches the corners the properties are about */
    CU_ASSERT(denied_r_no_node >= 20);
    CU_ASSERT(held_warned >= 200);
    CU_ASSERT(pinned_held >= 50);
}

UNIT_SUITE("decide_props", NULL, NULL, { "generated VMs against generated clusters", test_properties })
