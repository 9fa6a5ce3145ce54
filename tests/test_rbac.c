/* test_rbac.c - manifests/rbac.yaml grants exactly what archgate uses: get, list and watch on
 * each kind of kube_kinds() and on the VMs and VMIs the audit reads (src/audit/vmsource.h),
 * create and patch on Events (the audit's), and in its namespace a Role on the auditor's Lease;
 * nothing more (no other resource, verb or group). */
#include <stdio.h>
#include <string.h>
#include "unit.h"
#include "kube_store.h"
#include "audit/vmsource.h"
#include "mem.h"
#include "testutil.h"

#define MAX_RULES 16
#define MAX_ITEMS 8

struct rule {
    char groups[MAX_ITEMS][64], resources[MAX_ITEMS][64], verbs[MAX_ITEMS][64];
    int ngroups, nresources, nverbs;
};

/* Items of a YAML flow list `[a, "b", 'c']` following `key:` on a line. */
static int flow_list(const char *line, const char *key, char out[][64], size_t width, int max)
{
    const char *p = strstr(line, key);
    if (!p || !(p = strchr(p, '[')))
        return -1;
    int n = 0;
    p++;
    while (*p && *p != ']') {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ']' || !*p)
            break;
        char q = (*p == '"' || *p == '\'') ? *p++ : 0;
        char item[64];
        size_t k = 0;
        while (*p && (q ? *p != q : (*p != ',' && *p != ']' && *p != ' ')) && k + 1 < sizeof item)
            item[k++] = *p++;
        item[k] = '\0';
        if (q && *p == q)
            p++;
        if (n < max)
            snprintf((char *)out + (size_t)n * width, width, "%s", item);
        n++;
    }
    return n;
}

static int parse_rules_of(const char *text, const char *kind_line, struct rule *rules)
{
    int nrules = 0;
    bool in_role = false;
    char line[512];
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), p);
        p += len + (nl ? 1 : 0);
        if (strncmp(line, "kind:", 5) == 0)
            in_role = strcmp(line, kind_line) == 0;
        if (!in_role)
            continue;
        if (strstr(line, "- apiGroups:") && nrules < MAX_RULES) {
            struct rule *r = &rules[nrules++];
            memset(r, 0, sizeof *r);
            r->ngroups = flow_list(line, "apiGroups:", r->groups, 64, MAX_ITEMS);
        } else if (nrules && strstr(line, "resources:")) {
            rules[nrules - 1].nresources = flow_list(line, "resources:", rules[nrules - 1].resources, 64, MAX_ITEMS);
        } else if (nrules && strstr(line, "verbs:")) {
            rules[nrules - 1].nverbs = flow_list(line, "verbs:", rules[nrules - 1].verbs, 64, MAX_ITEMS);
        }
    }
    return nrules;
}

static int parse_rules(const char *text, struct rule *rules)
{
    return parse_rules_of(text, "kind: ClusterRole", rules);
}

/* What the audit adds to the kinds of kube_kinds(). */
static const struct { const char *group, *resource, *verbs[3]; } audit_grants[] = {
    { "kubevirt.io", "virtualmachines", { "get", "list", "watch" } },
    { "kubevirt.io", "virtualmachineinstances", { "get", "list", "watch" } },
    { "", "events", { "create", "patch", NULL } },
};

static bool audit_grant(const char *group, const char *resource, const struct rule *r)
{
    for (size_t i = 0; i < sizeof audit_grants / sizeof audit_grants[0]; i++) {
        if (strcmp(audit_grants[i].group, group) != 0 || strcmp(audit_grants[i].resource, resource) != 0)
            continue;
        int want = audit_grants[i].verbs[2] ? 3 : 2;
        if (r->nverbs != want)
            return false;
        for (int v = 0; v < r->nverbs; v++) {
            bool ok = false;
            for (int w = 0; w < want; w++)
                ok = ok || strcmp(r->verbs[v], audit_grants[i].verbs[w]) == 0;
            if (!ok)
                return false;
        }
        return true;
    }
    return false;
}

static bool granted(const struct rule *rules, int n, const char *group, const char *resource)
{
    for (int i = 0; i < n; i++)
        for (int g = 0; g < rules[i].ngroups; g++)
            for (int r = 0; r < rules[i].nresources; r++)
                if (strcmp(rules[i].groups[g], group) == 0 && strcmp(rules[i].resources[r], resource) == 0)
                    return true;
    return false;
}

static void test_rbac_matches_kinds(void)
{
    char *text = tu_read_file("manifests/rbac.yaml", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    struct rule rules[MAX_RULES];
    int n = parse_rules(text, rules);
    CU_ASSERT(n > 0);
    size_t nk = 0;
    const struct kube_kind *k = kube_kinds(&nk);
    /* every kind the source lists and watches is granted */
    for (size_t i = 0; i < nk; i++)
        CASE_ASSERT(granted(rules, n, k[i].group, k[i].resource), i, k[i].name);
    /* and what the audit reads and writes */
    CU_ASSERT_TRUE(granted(rules, n, "kubevirt.io", "virtualmachines"));
    CU_ASSERT_TRUE(granted(rules, n, "kubevirt.io", "virtualmachineinstances"));
    CU_ASSERT_TRUE(granted(rules, n, "", "events"));
    CU_ASSERT_PTR_NOT_NULL(strstr(VMSOURCE_VM_PATH, "/kubevirt.io/v1/virtualmachines"));
    CU_ASSERT_PTR_NOT_NULL(strstr(VMSOURCE_VMI_PATH, "/kubevirt.io/v1/virtualmachineinstances"));
    /* every grant is a kind the source uses, with exactly get, list, watch, or one of the audit's */
    for (int i = 0; i < n; i++) {
        for (int g = 0; g < rules[i].ngroups; g++)
            for (int r = 0; r < rules[i].nresources; r++) {
                bool used = false;
                for (size_t j = 0; j < nk; j++)
                    used = used || (strcmp(k[j].group, rules[i].groups[g]) == 0 &&
                                    strcmp(k[j].resource, rules[i].resources[r]) == 0);
                if (used) {
                    CASE_ASSERT(rules[i].nverbs == 3, (size_t)i, "three verbs");
                    for (int v = 0; v < rules[i].nverbs && v < MAX_ITEMS; v++)
                        CASE_ASSERT(strcmp(rules[i].verbs[v], "get") == 0 || strcmp(rules[i].verbs[v], "list") == 0 ||
                                    strcmp(rules[i].verbs[v], "watch") == 0, (size_t)i, rules[i].verbs[v]);
                } else {
                    CASE_ASSERT(audit_grant(rules[i].groups[g], rules[i].resources[r], &rules[i]), (size_t)i,
                                rules[i].resources[r]);
                }
            }
    }
    /* the Role: leases only, create, and get/update */
    struct rule role[MAX_RULES];
    int nr = parse_rules_of(text, "kind: Role", role);
    CU_ASSERT_EQUAL(nr, 2);
    bool has_create = false, has_get = false, has_update = false;   /* each needed: the lease uses all three */
    for (int i = 0; i < nr; i++) {
        CASE_ASSERT(role[i].ngroups == 1 && strcmp(role[i].groups[0], "coordination.k8s.io") == 0, (size_t)i, "group");
        CASE_ASSERT(role[i].nresources == 1 && strcmp(role[i].resources[0], "leases") == 0, (size_t)i, "leases");
        for (int v = 0; v < role[i].nverbs; v++) {
            CASE_ASSERT(strcmp(role[i].verbs[v], "create") == 0 || strcmp(role[i].verbs[v], "get") == 0 ||
                        strcmp(role[i].verbs[v], "update") == 0, (size_t)i, role[i].verbs[v]);
            has_create |= strcmp(role[i].verbs[v], "create") == 0;
            has_get |= strcmp(role[i].verbs[v], "get") == 0;
            has_update |= strcmp(role[i].verbs[v], "update") == 0;
        }
    }
    CU_ASSERT_TRUE(has_create && has_get && has_update);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "resourceNames: [\"archgate-auditor\"]"));
    CU_ASSERT_PTR_NULL(strstr(text, "\"*\""));
    mem_free(text);
}

static void test_parser_sees_extra_grants(void)
{
    /* the check above would fail on a broader role: prove the parser reads one */
    /* an audit grant with a verb too many is not one */
    const char *events = "kind: ClusterRole\nrules:\n  - apiGroups: [\"\"]\n    resources: [events]\n"
                         "    verbs: [create, patch, delete]\n";
    struct rule er[MAX_RULES];
    CU_ASSERT_EQUAL_FATAL(parse_rules(events, er), 1);
    CU_ASSERT_FALSE(audit_grant("", "events", &er[0]));
    const char *broad = "kind: ClusterRole\nrules:\n  - apiGroups: [\"\"]\n    resources: [\"secrets\", nodes]\n"
                        "    verbs: [get, list, watch, delete]\n";
    struct rule rules[MAX_RULES];
    CU_ASSERT_EQUAL_FATAL(parse_rules(broad, rules), 1);
    CU_ASSERT_EQUAL(rules[0].nresources, 2);
    CU_ASSERT_STRING_EQUAL(rules[0].resources[0], "secrets");
    CU_ASSERT_STRING_EQUAL(rules[0].resources[1], "nodes");
    CU_ASSERT_EQUAL(rules[0].nverbs, 4);
    CU_ASSERT_STRING_EQUAL(rules[0].groups[0], "");
}

UNIT_SUITE("rbac", NULL, NULL,
           { "rbac.yaml grants exactly get/list/watch on the kinds used", test_rbac_matches_kinds },
           { "the manifest reader sees extra grants", test_parser_sees_extra_grants })
