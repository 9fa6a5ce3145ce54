/* test_metrics.c - counters move with metrics_observe and the reload calls; the exposition
 * parses as Prometheus text 0.0.4 (checked by a small parser here: sample syntax, labels,
 * HELP/TYPE per family, cumulative histogram buckets ending with +Inf == _count). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "mem.h"
#include "metrics.h"
#include "testutil.h"
#include "unit.h"

#define EXAMPLE_CLUSTER "tests/fixtures/examples/01-deny-arm64-image-outside-vm-pool/cluster"

static char *render(const struct snapshot *snap)
{
    struct policy pol = { MULTI_ARCH_AUTO, UNKNOWN_IMAGE_WARN };
    size_t len = 0;
    char *t = metrics_render(snap, &pol, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(strlen(t), len);
    return t;
}

/* Value of the sample `series` (name with labels exactly as rendered); NAN when absent. */
static double value(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; *p;) {
        const char *eol = strchr(p, '\n');
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        if (!eol)
            break;
        p = eol + 1;
    }
    return NAN;
}

/* ---- a small exposition parser ---------------------------------------------------------- */

#define MAXFAM 64
struct families {
    char help[MAXFAM][96];
    char type[MAXFAM][96];
    char type_of[MAXFAM][32];
    int nhelp, ntype;
};

static bool is_name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (!first && c >= '0' && c <= '9');
}

static const char *find_type(const struct families *f, const char *name)
{
    for (int i = 0; i < f->ntype; i++)
        if (strcmp(f->type[i], name) == 0)
            return f->type_of[i];
    return NULL;
}

static bool has_help(const struct families *f, const char *name)
{
    for (int i = 0; i < f->nhelp; i++)
        if (strcmp(f->help[i], name) == 0)
            return true;
    return false;
}

/* Parse the labels at *pp ("{a=\"b\",c=\"d\"}"); copies them (without braces) to out. */
static bool parse_labels(const char **pp, char *out, size_t outlen)
{
    const char *p = *pp;
    if (*p != '{')
        return true;
    p++;
    while (*p != '}') {
        if (!is_name_char(*p, true))
            return false;
        while (is_name_char(*p, false))
            p++;
        if (*p++ != '=' || *p++ != '"')
            return false;
        while (*p != '"') {
            if (*p == '\0' || *p == '\n')
                return false;
            if (*p == '\\') {
                p++;
                if (*p != '\\' && *p != '"' && *p != 'n')
                    return false;
            }
            p++;
        }
        p++;
        if (*p == ',')
            p++;
        else if (*p != '}')
            return false;
    }
    size_t n = (size_t)(p - *pp - 1);
    if (n >= outlen)
        return false;
    memcpy(out, *pp + 1, n);
    out[n] = '\0';
    *pp = p + 1;
    return true;
}

struct hist_state {
    char key[256];          /* labels without le */
    double last_le, last_count;
    bool seen_inf;
    double inf_count;
};

static bool quiet;

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
    if (quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("\n  ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

/* Returns the number of problems found (reported on stderr unless quiet). */
static int check_exposition(const char *text)
{
    struct families fam;
    memset(&fam, 0, sizeof fam);
    struct hist_state hs[8];
    int nhs = 0, problems = 0, samples = 0;
    char line[1024];
    for (const char *p = text; *p;) {
        const char *eol = strchr(p, '\n');
        if (!eol) {
            report("last line not terminated\n");
            return problems + 1;
        }
        size_t n = (size_t)(eol - p);
        if (n >= sizeof line) {
            problems++;
            p = eol + 1;
            continue;
        }
        memcpy(line, p, n);
        line[n] = '\0';
        p = eol + 1;
        char name[96], kind[32];
        if (strncmp(line, "# HELP ", 7) == 0) {
            if (sscanf(line + 7, "%95s", name) != 1 || fam.nhelp >= MAXFAM)
                problems++;
            else
                snprintf(fam.help[fam.nhelp++], 96, "%s", name);
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            if (sscanf(line + 7, "%95s %31s", name, kind) != 2 || fam.ntype >= MAXFAM ||
                (strcmp(kind, "counter") && strcmp(kind, "gauge") && strcmp(kind, "histogram"))) {
                problems++;
            } else {
                snprintf(fam.type[fam.ntype], 96, "%s", name);
                snprintf(fam.type_of[fam.ntype++], 32, "%s", kind);
            }
            continue;
        }
        if (line[0] == '#' || line[0] == '\0') {
            report("unexpected line: %s\n", line);
            problems++;
            continue;
        }
        /* name{labels} value */
        const char *q = line;
        size_t k = 0;
        if (!is_name_char(*q, true)) {
            problems++;
            continue;
        }
        while (is_name_char(*q, false) && k < sizeof name - 1)
            name[k++] = *q++;
        name[k] = '\0';
        char labels[512] = "";
        if (!parse_labels(&q, labels, sizeof labels) || *q != ' ') {
            report("bad sample: %s\n", line);
            problems++;
            continue;
        }
        char *end = NULL;
        double v = strtod(q + 1, &end);
        if (end == q + 1 || *end != '\0') {
            report("bad value: %s\n", line);
            problems++;
            continue;
        }
        samples++;
        /* The family: the name, or a histogram's name without its suffix. */
        char family[96];
        snprintf(family, sizeof family, "%s", name);
        const char *suffixes[] = { "_bucket", "_sum", "_count" };
        const char *type = find_type(&fam, family);
        for (int s = 0; !type && s < 3; s++) {
            size_t fl = strlen(family), sl = strlen(suffixes[s]);
            if (fl > sl && strcmp(family + fl - sl, suffixes[s]) == 0) {
                char base[96];
                snprintf(base, sizeof base, "%.*s", (int)(fl - sl), family);
                const char *t = find_type(&fam, base);
                if (t && strcmp(t, "histogram") == 0) {
                    snprintf(family, sizeof family, "%s", base);
                    type = t;
                }
            }
        }
        if (!type || !has_help(&fam, family)) {
            report("no HELP/TYPE before: %s\n", line);
            problems++;
            continue;
        }
        if (strcmp(type, "histogram") != 0)
            continue;
        /* Histogram: group by the labels other than le. */
        char key[256];
        const char *le = strstr(labels, "le=\"");
        if (le) {
            snprintf(key, sizeof key, "%.*s", (int)(le - labels), labels);
        } else {
            snprintf(key, sizeof key, "%s%s", labels, labels[0] ? "," : "");
        }
        struct hist_state *h = NULL;
        for (int i = 0; i < nhs; i++)
            if (strcmp(hs[i].key, key) == 0)
                h = &hs[i];
        if (!h) {
            if (nhs == 8)
                return problems + 1;
            h = &hs[nhs++];
            memset(h, 0, sizeof *h);
            snprintf(h->key, sizeof h->key, "%s", key);
            h->last_le = -1;
        }
        size_t nl = strlen(name);
        if (nl > 7 && strcmp(name + nl - 7, "_bucket") == 0) {
            if (!le || h->seen_inf) {
                problems++;
                continue;
            }
            double lev = strncmp(le + 4, "+Inf\"", 5) == 0 ? INFINITY : strtod(le + 4, NULL);
            if (lev <= h->last_le || v < h->last_count) {
                report("histogram not cumulative/ascending: %s\n", line);
                problems++;
            }
            h->last_le = lev;
            h->last_count = v;
            if (isinf(lev)) {
                h->seen_inf = true;
                h->inf_count = v;
            }
        } else if (nl > 6 && strcmp(name + nl - 6, "_count") == 0) {
            if (!h->seen_inf || h->inf_count != v) {
                report("+Inf bucket differs from _count: %s\n", line);
                problems++;
            }
        }
    }
    if (samples == 0)
        problems++;
    for (int i = 0; i < nhs; i++)
        if (!hs[i].seen_inf)
            problems++;
    return problems;
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_observe_moves_counters(void)
{
    char *a = render(NULL);
    metrics_observe(EP_VALIDATE, 200, VC_DENIED, 0.0003);
    metrics_observe(EP_MUTATE, 200, VC_MUTATED, 0.002);
    metrics_observe(EP_MUTATE, 400, VC_ALLOWED, 0.00001);      /* non-200: verdict error */
    metrics_observe(EP_HEALTHZ, 200, VC_ALLOWED, 0.5);          /* no admission, no histogram */
    char *b = render(NULL);
    const char *ad = "archgate_admission_requests_total{endpoint=\"validate\",verdict=\"denied\"}";
    const char *mm = "archgate_admission_requests_total{endpoint=\"mutate\",verdict=\"mutated\"}";
    const char *me = "archgate_admission_requests_total{endpoint=\"mutate\",verdict=\"error\"}";
    const char *ma = "archgate_admission_requests_total{endpoint=\"mutate\",verdict=\"allowed\"}";
    CU_ASSERT_EQUAL(value(b, ad) - value(a, ad), 1);
    CU_ASSERT_EQUAL(value(b, mm) - value(a, mm), 1);
    CU_ASSERT_EQUAL(value(b, me) - value(a, me), 1);
    CU_ASSERT_EQUAL(value(b, ma) - value(a, ma), 0);
    const char *h200 = "archgate_http_requests_total{endpoint=\"healthz\",code=\"200\"}";
    double before = value(a, h200);
    CU_ASSERT_EQUAL(value(b, h200) - (isnan(before) ? 0 : before), 1);
    const char *m400 = "archgate_http_requests_total{endpoint=\"mutate\",code=\"400\"}";
    before = value(a, m400);
    CU_ASSERT_EQUAL(value(b, m400) - (isnan(before) ? 0 : before), 1);
    /* 0.0003 s lands in le=0.0005, not in le=0.00025 */
    const char *b25 = "archgate_admission_duration_seconds_bucket{endpoint=\"validate\",le=\"0.00025\"}";
    const char *b50 = "archgate_admission_duration_seconds_bucket{endpoint=\"validate\",le=\"0.0005\"}";
    const char *vc = "archgate_admission_duration_seconds_count{endpoint=\"validate\"}";
    const char *vs = "archgate_admission_duration_seconds_sum{endpoint=\"validate\"}";
    const char *mc = "archgate_admission_duration_seconds_count{endpoint=\"mutate\"}";
    CU_ASSERT_EQUAL(value(b, b25) - value(a, b25), 0);
    CU_ASSERT_EQUAL(value(b, b50) - value(a, b50), 1);
    CU_ASSERT_EQUAL(value(b, vc) - value(a, vc), 1);
    CU_ASSERT_EQUAL(value(b, mc) - value(a, mc), 2);
    CU_ASSERT(fabs(value(b, vs) - value(a, vs) - 0.0003) < 1e-6);
    CU_ASSERT_EQUAL(check_exposition(b), 0);
    mem_free(a);
    mem_free(b);
}

static void test_odd_inputs(void)
{
    char *a = render(NULL);
    metrics_observe(EP_VALIDATE, 302, VC_ALLOWED, NAN);
    metrics_observe(EP_VALIDATE, 200, VC_ALLOWED, -1);
    metrics_observe(EP_VALIDATE, 200, VC_ALLOWED, 1e300);
    metrics_observe((enum endpoint)99, 200, VC_ALLOWED, 0);
    char *b = render(NULL);
    const char *other = "archgate_http_requests_total{endpoint=\"validate\",code=\"other\"}";
    double before = value(a, other);
    CU_ASSERT_EQUAL(value(b, other) - (isnan(before) ? 0 : before), 1);
    const char *inf = "archgate_admission_duration_seconds_bucket{endpoint=\"validate\",le=\"+Inf\"}";
    const char *b5 = "archgate_admission_duration_seconds_bucket{endpoint=\"validate\",le=\"5\"}";
    CU_ASSERT_EQUAL(value(b, inf) - value(a, inf), 3);
    CU_ASSERT_EQUAL(value(b, b5) - value(a, b5), 2);     /* NaN and -1 count as 0 s */
    CU_ASSERT_EQUAL(check_exposition(b), 0);
    mem_free(a);
    mem_free(b);
}

static void test_certificate_and_reloads(void)
{
    char *a = render(NULL);
    metrics_set_cert_not_after((long long)time(NULL) + 1000);
    metrics_cert_reload(true);
    metrics_cert_reload(false);
    metrics_cert_reload(false);
    metrics_cluster_reload(true);
    char *b = render(NULL);
    double left = value(b, "archgate_certificate_expiry_seconds");
    CU_ASSERT(left > 990 && left <= 1000);
    const char *cs = "archgate_certificate_reloads_total{result=\"success\"}";
    const char *cf = "archgate_certificate_reloads_total{result=\"failure\"}";
    const char *ks = "archgate_cluster_reloads_total{result=\"success\"}";
    const char *kf = "archgate_cluster_reloads_total{result=\"failure\"}";
    CU_ASSERT_EQUAL(value(b, cs) - value(a, cs), 1);
    CU_ASSERT_EQUAL(value(b, cf) - value(a, cf), 2);
    CU_ASSERT_EQUAL(value(b, ks) - value(a, ks), 1);
    CU_ASSERT_EQUAL(value(b, kf) - value(a, kf), 0);
    metrics_set_cert_not_after((long long)time(NULL) - 50);
    char *c = render(NULL);
    CU_ASSERT(value(c, "archgate_certificate_expiry_seconds") < 0);
    CU_ASSERT_EQUAL(check_exposition(c), 0);
    mem_free(a);
    mem_free(b);
    mem_free(c);
}

static unsigned stale_42(void)
{
    return 42;
}

/* Answers by endpoint, verdict and reason class; the stale-view gauge follows its source. */
static void test_reasons_and_stale(void)
{
    const char *series = "archgate_admission_reasons_total{endpoint=\"validate\",verdict=\"denied\","
                         "reason=\"no_node_for_image\"}";
    char *a = render(NULL);
    double before = value(a, series);
    metrics_reason(EP_VALIDATE, VC_DENIED, RC_NO_NODE_FOR_IMAGE);
    metrics_reason(EP_VALIDATE, VC_DENIED, RC_NO_NODE_FOR_IMAGE);
    metrics_reason(EP_HEALTHZ, VC_DENIED, RC_NO_NODE_FOR_IMAGE);     /* not an admission endpoint: ignored */
    metrics_reason(EP_VALIDATE, VC_COUNT, RC_NO_NODE_FOR_IMAGE);     /* out of range: ignored */
    metrics_set_stale_fn(stale_42);
    char *b = render(NULL);
    CU_ASSERT_EQUAL(value(b, series), (isnan(before) ? 0 : before) + 2);
    CU_ASSERT_EQUAL(value(b, "archgate_cluster_view_stale_seconds"), 42);
    CU_ASSERT_FALSE(isnan(value(b, "archgate_admission_reasons_total{endpoint=\"mutate\",verdict=\"allowed\",reason=\"none\"}")));
    CU_ASSERT_EQUAL(check_exposition(b), 0);
    metrics_set_stale_fn(NULL);
    mem_free(a);
    mem_free(b);
}

static void test_cluster_gauges(void)
{
    struct snapshot *s = tu_snapshot_dir(EXAMPLE_CLUSTER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    char *t = render(s);
    CU_ASSERT_EQUAL(check_exposition(t), 0);
    /* example 01: rhel9 (a pointer, unlabelled), rhel9-amd64, rhel9-arm64 */
    CU_ASSERT_EQUAL(s->ndatasources, 3);
    CU_ASSERT_EQUAL(value(t, "archgate_datasources{architecture=\"amd64\"}"), 1);
    CU_ASSERT_EQUAL(value(t, "archgate_datasources{architecture=\"arm64\"}"), 1);
    CU_ASSERT_EQUAL(value(t, "archgate_datasources{architecture=\"none\"}"), 1);
    CU_ASSERT_EQUAL(value(t, "archgate_cluster_view_stale_seconds"), 0);
    CU_ASSERT_EQUAL(value(t, "archgate_snapshot_bytes"), (double)s->bytes);
    CU_ASSERT(value(t, "archgate_snapshot_age_seconds") >= 0);
    CU_ASSERT_EQUAL(value(t, "archgate_cluster_heterogeneous"), s->heterogeneous ? 1 : 0);
    struct policy pol = { MULTI_ARCH_AUTO, UNKNOWN_IMAGE_WARN };
    CU_ASSERT_EQUAL(value(t, "archgate_multi_arch_enabled"), decide_multi_arch_enabled(s, &pol) ? 1 : 0);
    /* Every node is counted once, eligible or not. */
    double nodes = 0;
    for (int a = 0; a <= ARCH_COUNT; a++) {
        char series[128];
        const char *name = a == ARCH_COUNT ? "unknown" : arch_name(a);
        for (int e = 0; e < 2; e++) {
            snprintf(series, sizeof series, "archgate_nodes{architecture=\"%s\",eligible=\"%s\"}", name,
                     e ? "true" : "false");
            double v = value(t, series);
            if (!isnan(v))
                nodes += v;
        }
    }
    CU_ASSERT_EQUAL(nodes, (double)s->nnodes);
    CU_ASSERT(value(t, "archgate_nodes{architecture=\"amd64\",eligible=\"true\"}") >= 1);
    mem_free(t);
    /* Without a snapshot the families are still declared, without samples. */
    t = render(NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "# TYPE archgate_nodes gauge"));
    CU_ASSERT(isnan(value(t, "archgate_datasources")));
    mem_free(t);
    snapshot_release(s);
}

static void test_kube_counters(void)
{
    /* slots 14 and 15 are past the kinds source_kube names (kube_store.h) */
    char *a = render(NULL);
    const char *ev = "archgate_kube_events_total{resource=\"widgets.example.com\",version=\"v1\"}";
    const char *rl = "archgate_kube_relists_total{resource=\"widgets.example.com\",version=\"v1\"}";
    CU_ASSERT(isnan(value(a, ev)));                       /* not named yet: not rendered */
    CU_ASSERT_PTR_NOT_NULL(strstr(a, "# TYPE archgate_kube_events_total counter"));
    unsigned long long e0 = metrics_kube_value(15, KC_EVENTS);
    metrics_kube_count(15, KC_EVENTS);                    /* counted before it is named: kept */
    metrics_kube_kind(15, "widgets.example.com", "v1");
    metrics_kube_count(15, KC_EVENTS);
    metrics_kube_count(15, KC_EVENTS);
    metrics_kube_count(15, KC_RELISTS);
    metrics_kube_count(15, KC_COUNT);                     /* out of range: ignored */
    metrics_kube_count(METRICS_KUBE_SLOTS, KC_EVENTS);
    metrics_kube_kind(METRICS_KUBE_SLOTS, "x", "v1");
    metrics_kube_kind(14, NULL, "v1");
    CU_ASSERT_EQUAL(metrics_kube_value(15, KC_EVENTS), e0 + 3);
    CU_ASSERT_EQUAL(metrics_kube_value(15, KC_COUNT), 0);
    CU_ASSERT_EQUAL(metrics_kube_value(METRICS_KUBE_SLOTS, KC_EVENTS), 0);
    char *b = render(NULL);
    CU_ASSERT_EQUAL(value(b, ev), (double)(e0 + 3));
    CU_ASSERT_EQUAL(value(b, rl), 1);
    CU_ASSERT_EQUAL(value(b, "archgate_kube_watch_restarts_total{resource=\"widgets.example.com\",version=\"v1\"}"),
                    0);
    CU_ASSERT_PTR_NULL(strstr(b, "resource=\"x\""));
    CU_ASSERT_EQUAL(check_exposition(b), 0);
    mem_free(a);
    mem_free(b);
}

static void test_parser_catches_errors(void)
{
    /* The checker itself must fail on broken text, or the tests above prove nothing. */
    quiet = true;
    CU_ASSERT(check_exposition("x 1\n") > 0);                                     /* no HELP/TYPE */
    CU_ASSERT(check_exposition("# HELP x h\n# TYPE x gauge\nx{a=\"b} 1\n") > 0);   /* bad labels */
    CU_ASSERT(check_exposition("# HELP x h\n# TYPE x gauge\nx 1z\n") > 0);       /* bad value */
    CU_ASSERT(check_exposition("# HELP h h\n# TYPE h histogram\n"
                               "h_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n") > 0);
    CU_ASSERT(check_exposition("# HELP h h\n# TYPE h histogram\n"
                               "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_count 3\n") > 0);
    CU_ASSERT(check_exposition("# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\n") > 0);
    CU_ASSERT_EQUAL(check_exposition("# HELP h h\n# TYPE h histogram\n"
                                     "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n"), 0);
    quiet = false;
}

static void test_allocation_failure(void)
{
    struct policy pol = { MULTI_ARCH_AUTO, UNKNOWN_IMAGE_WARN };
    long live = mem_live();
    for (long k = 0; k < 3; k++) {
        mem_fail_after(k);
        size_t len = 0;
        char *t = metrics_render(NULL, &pol, &len);
        mem_fail_after(-1);
        if (t) {
            CU_ASSERT_EQUAL(check_exposition(t), 0);
            mem_free(t);
        }
        CU_ASSERT_EQUAL(mem_live(), live);
    }
    mem_fail_after(0);
    CU_ASSERT_PTR_NULL(metrics_render(NULL, &pol, NULL));
    mem_fail_after(-1);
    CU_ASSERT_EQUAL(mem_live(), live);
}

UNIT_SUITE("metrics", NULL, NULL,
           { "observe moves the counters and the histogram", test_observe_moves_counters },
           { "odd status codes, durations and endpoints", test_odd_inputs },
           { "certificate expiry and reload counters", test_certificate_and_reloads },
           { "cluster gauges from a snapshot", test_cluster_gauges },
           { "reason classes and the stale-view gauge", test_reasons_and_stale },
           { "live cluster source counters per resource", test_kube_counters },
           { "the exposition checker rejects broken text", test_parser_catches_errors },
           { "allocation failure: NULL, nothing leaked", test_allocation_failure })
