/* test_audit.c - the VM inventory and the audit against cluster-state folders: stranded after a
 * node goes, after the placement narrows, after a taint; recovered when the node comes back; a
 * running VMI whose node went or changed architecture; unknown images counted apart; the same
 * message as /validate; VMs of every wrong shape reported as unreadable; watch lines. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "unit.h"
#include "testutil.h"
#include "audit/audit.h"
#include "audit/inventory.h"
#include "audit/vmsource.h"
#include "source_file.h"
#include "config.h"
#include "webhook.h"
#include "log.h"
#include "mem.h"

#define SAMPLES "manifests/samples/cluster"

static char tmp[128];
static enum log_level saved_level;

static int suite_init(void)
{
    saved_level = log_min_level;
    log_min_level = LOG_ERROR + 1;
    snprintf(tmp, sizeof tmp, "/tmp/archgate-audit-%d", (int)getpid());
    return 0;
}

static int suite_cleanup(void)
{
    log_min_level = saved_level;
    tu_rmtree(tmp);
    return 0;
}

/* A fresh copy of the sample folder in tmp. */
static void copy_samples(void)
{
    static const char *const files[] = { "nodes.json", "datasources.json", "hyperconverged.json", "kubevirt.json",
                                         "vms.json" };
    tu_rmtree(tmp);
    CU_ASSERT_EQUAL_FATAL(mkdir(tmp, 0700), 0);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char src[256], dst[256];
        snprintf(src, sizeof src, "%s/%s", SAMPLES, files[i]);
        snprintf(dst, sizeof dst, "%s/%s", tmp, files[i]);
        size_t len = 0;
        char *t = tu_read_file(src, &len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        FILE *f = fopen(dst, "w");
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        fwrite(t, 1, len, f);
        fclose(f);
        mem_free(t);
    }
}

static cJSON *load_tmp(const char *name)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", tmp, name);
    cJSON *j = tu_load_json(p);
    CU_ASSERT_PTR_NOT_NULL(j);
    return j;
}

static void save_tmp(const char *name, cJSON *j)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", tmp, name);
    char *t = cJSON_Print(j);
    FILE *f = fopen(p, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(t, f);
    fclose(f);
    cJSON_free(t);
    cJSON_Delete(j);
}

static void write_tmp(const char *name, const char *text)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", tmp, name);
    FILE *f = fopen(p, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
}

static cJSON *node_named(cJSON *list, const char *name)
{
    cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(list, "items")) {
        cJSON *n = cJSON_GetObjectItem(cJSON_GetObjectItem(it, "metadata"), "name");
        if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
            return it;
    }
    return NULL;
}

static void remove_nodes(const char *substr)
{
    cJSON *j = load_tmp("nodes.json");
    cJSON *items = cJSON_GetObjectItem(j, "items");
    for (int i = cJSON_GetArraySize(items) - 1; i >= 0; i--) {
        cJSON *n = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(items, i), "metadata"), "name");
        if (strstr(n->valuestring, substr))
            cJSON_DeleteItemFromArray(items, i);
    }
    save_tmp("nodes.json", j);
}

/* Audit a folder; the report (caller frees). */
static struct audit_report *audit_dir(const char *dir, const char *catalog, const struct policy *p)
{
    static const struct policy def;
    struct snapshot *s = NULL;
    char err[512] = "";
    CU_ASSERT_EQUAL_FATAL(source_file_load(dir, catalog, &s, err, sizeof err), AG_OK);
    struct inventory *inv = inventory_new();
    CU_ASSERT_EQUAL_FATAL(inventory_load_dir(inv, dir, err, sizeof err), AG_OK);
    struct audit_report *r = NULL;
    CU_ASSERT_EQUAL_FATAL(audit_run(s, inv, p ? p : &def, &r), AG_OK);
    inventory_free(inv);
    snapshot_release(s);
    return r;
}

static const struct audit_finding *finding(const struct audit_report *r, const char *ns, const char *name)
{
    for (size_t i = 0; i < r->nfindings; i++)
        if (strcmp(r->findings[i].ns, ns) == 0 && strcmp(r->findings[i].name, name) == 0)
            return &r->findings[i];
    return NULL;
}

static void test_samples(void)
{
    struct audit_report *r = audit_dir(SAMPLES, NULL, NULL);
    CU_ASSERT_EQUAL(r->entries, 5);
    CU_ASSERT_EQUAL(r->vms, 5);
    CU_ASSERT_EQUAL(r->vmis, 3);
    CU_ASSERT_EQUAL(r->status[AS_OK], 3);
    CU_ASSERT_EQUAL(r->status[AS_REFUSED], 1);
    CU_ASSERT_EQUAL(r->status[AS_UNKNOWN_IMAGE], 1);
    CU_ASSERT_EQUAL(r->by_class[RC_NO_NODE_FOR_IMAGE], 1);
    const struct audit_finding *f = finding(r, "team-b", "batch-s390x");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_FALSE(f->running);
    CU_ASSERT_FALSE(f->is_vmi);
    CU_ASSERT_STRING_EQUAL(f->reason, "NoNodeForImageArchitecture");
    CU_ASSERT_PTR_NOT_NULL(strstr(f->message, "no eligible node runs s390x"));
    audit_report_free(r);
}

/* The audit says what /validate says of the same VM created now. */
static void test_same_message_as_validate(void)
{
    struct audit_report *r = audit_dir(SAMPLES, NULL, NULL);
    const struct audit_finding *f = finding(r, "team-b", "batch-s390x");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    cJSON *vms = tu_load_json(SAMPLES "/vms.json"), *it, *vm = NULL;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(vms, "items"))
        if (strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(it, "metadata"), "name")->valuestring, "batch-s390x") == 0)
            vm = it;
    CU_ASSERT_PTR_NOT_NULL_FATAL(vm);
    cJSON *rev = cJSON_CreateObject();
    cJSON_AddStringToObject(rev, "apiVersion", "admission.k8s.io/v1");
    cJSON_AddStringToObject(rev, "kind", "AdmissionReview");
    cJSON *rq = cJSON_AddObjectToObject(rev, "request");
    cJSON_AddStringToObject(rq, "uid", "u-1");
    cJSON *k = cJSON_AddObjectToObject(rq, "kind");
    cJSON_AddStringToObject(k, "group", "kubevirt.io");
    cJSON_AddStringToObject(k, "version", "v1");
    cJSON_AddStringToObject(k, "kind", "VirtualMachine");
    cJSON *res = cJSON_AddObjectToObject(rq, "resource");
    cJSON_AddStringToObject(res, "group", "kubevirt.io");
    cJSON_AddStringToObject(res, "version", "v1");
    cJSON_AddStringToObject(res, "resource", "virtualmachines");
    cJSON_AddStringToObject(rq, "namespace", "team-b");
    cJSON_AddStringToObject(rq, "name", "batch-s390x");
    cJSON_AddStringToObject(rq, "operation", "CREATE");
    cJSON_AddItemToObject(rq, "object", cJSON_Duplicate(vm, 1));
    char *body = cJSON_PrintUnformatted(rev);
    struct snapshot *s = tu_snapshot_dir(SAMPLES);
    struct webhook_result wr;
    webhook_handle(body, strlen(body), false, s, NULL, 0, &wr);
    CU_ASSERT_EQUAL(wr.http_status, 200);
    CU_ASSERT_FALSE(wr.allowed);
    cJSON *ans = tu_parse(wr.body);
    cJSON *msg = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(ans, "response"), "status"), "message");
    CU_ASSERT_TRUE_FATAL(cJSON_IsString(msg));
    CU_ASSERT_STRING_EQUAL(msg->valuestring, f->message);
    cJSON_Delete(ans);
    webhook_result_free(&wr);
    snapshot_release(s);
    cJSON_free(body);
    cJSON_Delete(rev);
    cJSON_Delete(vms);
    audit_report_free(r);
}

/* The arm64 nodes go: both arm64 VMs stranded (one running), then they come back. */
static void test_node_goes_and_comes_back(void)
{
    copy_samples();
    remove_nodes("arm64");
    struct audit_report *r = audit_dir(tmp, NULL, NULL);
    CU_ASSERT_EQUAL(r->status[AS_REFUSED], 3);
    const struct audit_finding *f = finding(r, "default", "fedora-arm");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_FALSE(f->running);
    CU_ASSERT_EQUAL(f->cls, RC_NO_NODE_FOR_IMAGE);
    f = finding(r, "team-b", "gpu-arm");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE(f->running);
    audit_report_free(r);

    copy_samples();     /* the nodes are back */
    r = audit_dir(tmp, NULL, NULL);
    CU_ASSERT_EQUAL(r->status[AS_REFUSED], 1);
    CU_ASSERT_PTR_NULL(finding(r, "default", "fedora-arm"));
    CU_ASSERT_PTR_NULL(finding(r, "team-b", "gpu-arm"));
    audit_report_free(r);
}

/* The HyperConverged's workload placement narrows to amd64. */
static void test_placement_narrows(void)
{
    copy_samples();
    cJSON *h = load_tmp("hyperconverged.json");
    cJSON *hco = cJSON_GetObjectItem(h, "items") ? cJSON_GetArrayItem(cJSON_GetObjectItem(h, "items"), 0) : h;
    cJSON *wl = cJSON_GetObjectItem(cJSON_GetObjectItem(hco, "spec"), "workloads");
    CU_ASSERT_PTR_NOT_NULL_FATAL(wl);
    cJSON *np = cJSON_AddObjectToObject(wl, "nodePlacement");
    cJSON *ns = cJSON_AddObjectToObject(np, "nodeSelector");
    cJSON_AddStringToObject(ns, "kubernetes.io/arch", "amd64");
    save_tmp("hyperconverged.json", h);
    struct audit_report *r = audit_dir(tmp, NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL(finding(r, "default", "fedora-arm"));
    CU_ASSERT_PTR_NOT_NULL(finding(r, "team-b", "gpu-arm"));
    CU_ASSERT_PTR_NULL(finding(r, "default", "fedora-web"));
    CU_ASSERT_EQUAL(r->status[AS_REFUSED], 3);
    audit_report_free(r);
}

/* A taint on the one untainted arm64 node strands the VM that does not tolerate it, not the one
 * that tolerates the other arm64 node's taint. */
static void test_taint(void)
{
    copy_samples();
    cJSON *j = load_tmp("nodes.json");
    cJSON *n = node_named(j, "worker-arm64-1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    cJSON *spec = cJSON_GetObjectItem(n, "spec");
    cJSON *taints = cJSON_AddArrayToObject(spec, "taints");
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "key", "maintenance");
    cJSON_AddStringToObject(t, "effect", "NoSchedule");
    cJSON_AddItemToArray(taints, t);
    save_tmp("nodes.json", j);
    struct audit_report *r = audit_dir(tmp, NULL, NULL);
    const struct audit_finding *f = finding(r, "default", "fedora-arm");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(f->message, "taints"));
    CU_ASSERT_PTR_NULL(finding(r, "team-b", "gpu-arm"));
    audit_report_free(r);
}

/* A running VMI on a node that is gone, and on a node relabelled to another architecture. */
static void test_vmi_node(void)
{
    copy_samples();
    remove_nodes("worker-amd64-1");
    struct audit_report *r = audit_dir(tmp, NULL, NULL);
    const struct audit_finding *f = finding(r, "default", "fedora-web");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(f->cls, AC_VMI_NODE_GONE);
    CU_ASSERT_TRUE(f->is_vmi);
    CU_ASSERT_TRUE(f->running);
    CU_ASSERT_STRING_EQUAL(f->reason, "VMINodeGone");
    CU_ASSERT_EQUAL(r->by_class[AC_VMI_NODE_GONE], 1);
    audit_report_free(r);

    copy_samples();
    cJSON *j = load_tmp("nodes.json");
    cJSON *n = node_named(j, "worker-amd64-1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    cJSON *labels = cJSON_GetObjectItem(cJSON_GetObjectItem(n, "metadata"), "labels");
    cJSON_ReplaceItemInObject(labels, "kubernetes.io/arch", cJSON_CreateString("arm64"));
    save_tmp("nodes.json", j);
    r = audit_dir(tmp, NULL, NULL);
    f = finding(r, "default", "fedora-web");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(f->cls, AC_VMI_NODE_ARCH);
    CU_ASSERT_PTR_NOT_NULL(strstr(f->message, "worker-amd64-1 (arm64)"));
    audit_report_free(r);
}

/* Unknown images are counted apart; a catalog entry makes them known; --unknown-image=deny
 * makes them refused. */
static void test_unknown_image(void)
{
    copy_samples();
    struct audit_report *r = audit_dir(tmp, NULL, NULL);
    CU_ASSERT_EQUAL(r->status[AS_UNKNOWN_IMAGE], 1);
    CU_ASSERT_PTR_NULL(finding(r, "default", "legacy-app"));
    audit_report_free(r);

    char cat[256];
    snprintf(cat, sizeof cat, "%s/catalog.data", tmp);
    FILE *f = fopen(cat, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("{\"images\": {\"quay.io/example/legacy-app\": [\"amd64\"]}}", f);
    fclose(f);
    r = audit_dir(tmp, cat, NULL);
    CU_ASSERT_EQUAL(r->status[AS_UNKNOWN_IMAGE], 0);
    CU_ASSERT_EQUAL(r->status[AS_OK], 4);
    audit_report_free(r);

    struct policy deny = { .multi_arch = MULTI_ARCH_AUTO, .unknown_image = UNKNOWN_IMAGE_DENY };
    r = audit_dir(tmp, NULL, &deny);
    const struct audit_finding *fi = finding(r, "default", "legacy-app");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fi);
    CU_ASSERT_EQUAL(fi->cls, RC_UNKNOWN_IMAGE);
    audit_report_free(r);
}

/* VMs and VMIs of every wrong shape: reported as unreadable, never a crash; other kinds and
 * non-objects skipped. */
static void test_wrong_shapes(void)
{
    static const char *const bad[] = {
        "{\"kind\": \"VirtualMachine\", \"apiVersion\": \"kubevirt.io/v1\"}",
        "{\"kind\": \"VirtualMachine\", \"metadata\": 7}",
        "{\"kind\": \"VirtualMachine\", \"metadata\": {\"name\": \"a\"}}",
        "{\"kind\": \"VirtualMachine\", \"metadata\": {\"name\": 5, \"namespace\": \"n\"}}",
        "{\"kind\": \"VirtualMachine\", \"metadata\": {\"name\": \"b\", \"namespace\": \"n\"}, \"spec\": \"x\"}",
        "{\"kind\": \"VirtualMachine\", \"metadata\": {\"name\": \"c\", \"namespace\": \"n\"}, \"spec\": {\"template\": []}}",
        "{\"kind\": \"VirtualMachine\", \"metadata\": {\"name\": \"d\", \"namespace\": \"n\"}, \"spec\": {\"template\": "
        "{\"spec\": {\"nodeSelector\": [1]}}}}",
        "{\"kind\": \"VirtualMachine\", \"metadata\": {\"name\": \"e\", \"namespace\": \"n\"}, \"spec\": {\"template\": "
        "{\"spec\": {\"volumes\": {\"a\": 1}}}}}",
        "{\"kind\": \"VirtualMachine\", \"metadata\": {\"name\": \"f\", \"namespace\": \"n\"}, \"spec\": "
        "{\"dataVolumeTemplates\": [7]}}",
        "{\"kind\": \"VirtualMachine\", \"metadata\": {\"name\": \"g\", \"namespace\": \"n\", \"annotations\": "
        "{\"archgate.io/image-architectures\": 1}}}",
        "{\"kind\": \"VirtualMachine\", \"metadata\": {\"name\": \"h\", \"namespace\": \"n\"}, \"status\": \"x\"}",
        "{\"kind\": \"VirtualMachine\", \"metadata\": {\"name\": \"i\", \"namespace\": \"n\"}, \"status\": "
        "{\"printableStatus\": 3}}",
        "{\"kind\": \"VirtualMachineInstance\", \"metadata\": {\"name\": \"j\", \"namespace\": \"n\"}, \"status\": "
        "{\"phase\": \"Running\", \"nodeName\": []}}",
        "{\"kind\": \"VirtualMachineInstance\", \"metadata\": {\"name\": \"k\", \"namespace\": \"n\"}, \"spec\": "
        "{\"affinity\": {\"nodeAffinity\": {\"requiredDuringSchedulingIgnoredDuringExecution\": {\"nodeSelectorTerms\": "
        "[{\"matchExpressions\": [{\"key\": \"a\", \"operator\": \"Bogus\"}]}]}}}}}",
        "{\"kind\": \"VirtualMachine\", \"metadata\": {\"name\": \"l\", \"namespace\": \"n\"}, \"spec\": {\"template\": "
        "{\"spec\": {\"tolerations\": \"all\"}}}}",
        "{\"kind\": \"VirtualMachine\", \"metadata\": {\"name\": \"m\", \"namespace\": \"n\"}, \"spec\": {\"preference\": "
        "{\"kind\": \"Nope\", \"name\": \"x\"}}}",
    };
    size_t n = sizeof bad / sizeof bad[0];
    struct snapshot *s = tu_snapshot_dir(SAMPLES);
    struct inventory *inv = inventory_new();
    char list[16384];
    size_t used = (size_t)snprintf(list, sizeof list, "{\"kind\": \"List\", \"items\": [\"str\", 3, null, "
                                   "{\"kind\": \"Node\", \"metadata\": {\"name\": \"x\"}}");
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, ", %s", bad[i]);
    snprintf(list + used, sizeof list - used, "]}");
    cJSON *j = tu_parse(list);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    char err[256] = "";
    CU_ASSERT_EQUAL(inventory_add_value(inv, j, "bad.json", err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(inventory_count(inv), n);
    struct audit_report *r = NULL;
    static const struct policy def;
    CU_ASSERT_EQUAL_FATAL(audit_run(s, inv, &def, &r), AG_OK);
    CU_ASSERT_EQUAL(r->status[AS_REFUSED], n);
    CU_ASSERT_EQUAL(r->by_class[RC_UNREADABLE_VM], n);
    for (size_t i = 0; i < r->nfindings; i++) {
        CASE_ASSERT(strncmp(r->findings[i].message, "archgate cannot read this", 25) == 0, i, r->findings[i].name);
        CASE_ASSERT(strcmp(r->findings[i].reason, "UnreadableVM") == 0, i, r->findings[i].name);
    }
    const struct audit_finding *f = finding(r, "", "bad.json[5]");     /* the first unkeyed VM, item 5 of the list */
    CU_ASSERT_PTR_NOT_NULL(f);
    if (f)
        CU_ASSERT_PTR_NOT_NULL(strstr(f->message, "metadata"));
    f = finding(r, "n", "d");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(f->message, "nodeSelector"));
    audit_report_free(r);
    cJSON_Delete(j);
    inventory_free(inv);
    snapshot_release(s);

    /* a file that is not JSON: the folder cannot be read */
    copy_samples();
    write_tmp("zz-broken.json", "{\"kind\": \"VirtualMachine\", ");
    inv = inventory_new();
    CU_ASSERT_NOT_EQUAL(inventory_load_dir(inv, tmp, err, sizeof err), AG_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "zz-broken.json"));
    inventory_free(inv);
    inv = inventory_new();
    CU_ASSERT_EQUAL(inventory_load_dir(inv, "/nonexistent-archgate", err, sizeof err), AG_EIO);
    inventory_free(inv);
}

/* Each object's facts live in a pool of exactly one chunk, sized by a first read. */
static void test_compact(void)
{
    struct pool *p = pool_new(4096);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(pool_used(p), 0);
    CU_ASSERT_PTR_NOT_NULL(pool_alloc(p, 5));
    CU_ASSERT_PTR_NOT_NULL(pool_strdup(p, "0123456789abcdefg"));
    CU_ASSERT_EQUAL(pool_used(p), 16 + 32);
    struct pool *q = pool_new(pool_used(p));
    CU_ASSERT_PTR_NOT_NULL(pool_alloc(q, 5));
    CU_ASSERT_PTR_NOT_NULL(pool_strdup(q, "0123456789abcdefg"));
    CU_ASSERT_EQUAL(pool_bytes(q), pool_used(p));     /* one chunk, full */
    pool_free(q);
    pool_free(p);

    struct inventory *inv = inventory_new();
    char err[256];
    CU_ASSERT_EQUAL_FATAL(inventory_load_dir(inv, SAMPLES, err, sizeof err), AG_OK);
    size_t objs = inventory_count_kind(inv, false) + inventory_count_kind(inv, true);
    CU_ASSERT_EQUAL(objs, 8);
    /* the sample VMs: well under 1 KiB per object, entry and array included */
    CU_ASSERT_TRUE(inventory_bytes(inv) < objs * 1024);
    inventory_free(inv);
}

/* Change detection: the same VM again, or a change of a field the audit does not read, changes
 * nothing; what it reads does; delete; the VM and VMI of one name share an entry. */
/* The VM object of the inventory's only entry. */
static void grab_vm(void *arg, const struct inv_entry *e)
{
    *(const struct inv_obj **)arg = e->vm;
}

/* An update or a relist that changes no fact keeps the object in place (a re-read of 10,000 VMs
 * must not move every long-lived object); a new uid (deleted and made again) is a change. */
static void test_same_facts_kept_in_place(void)
{
    const char *a = "{\"metadata\": {\"name\": \"v\", \"namespace\": \"n\", \"uid\": \"u1\", \"resourceVersion\": "
                    "\"1\"}, \"spec\": {\"template\": {\"spec\": {\"architecture\": \"arm64\"}}}}";
    const char *b = "{\"metadata\": {\"name\": \"v\", \"namespace\": \"n\", \"uid\": \"u1\", \"resourceVersion\": "
                    "\"2\"}, \"spec\": {\"template\": {\"spec\": {\"architecture\": \"arm64\"}}}}";
    const char *c = "{\"metadata\": {\"name\": \"v\", \"namespace\": \"n\", \"uid\": \"u2\"}, \"spec\": "
                    "{\"template\": {\"spec\": {\"architecture\": \"arm64\"}}}}";
    cJSON *ja = tu_parse(a), *jb = tu_parse(b), *jc = tu_parse(c);
    struct inventory *inv = inventory_new();
    const struct inv_obj *first = NULL, *now = NULL;
    bool ch = false;
    char err[256];
    CU_ASSERT_EQUAL(inventory_put(inv, false, ja, &ch, err, sizeof err), AG_OK);
    inventory_each(inv, grab_vm, &first);
    CU_ASSERT_PTR_NOT_NULL_FATAL(first);
    size_t bytes = inventory_bytes(inv);
    CU_ASSERT_EQUAL(inventory_put(inv, false, jb, &ch, err, sizeof err), AG_OK);
    CU_ASSERT_FALSE(ch);
    inventory_each(inv, grab_vm, &now);
    CU_ASSERT_PTR_EQUAL(now, first);
    CU_ASSERT_EQUAL(inventory_bytes(inv), bytes);
    /* a resync (relist, re-read) holding the same VM */
    inventory_sync_begin(inv, false);
    CU_ASSERT_EQUAL(inventory_put(inv, false, jb, NULL, err, sizeof err), AG_OK);
    CU_ASSERT_FALSE(inventory_sync_end(inv, false, true));
    inventory_each(inv, grab_vm, &now);
    CU_ASSERT_PTR_EQUAL(now, first);
    CU_ASSERT_EQUAL(inventory_bytes(inv), bytes);
    CU_ASSERT_EQUAL(inventory_count(inv), 1);
    /* made again under the same name: the Events name the new uid */
    uint64_t g = inventory_generation(inv);
    CU_ASSERT_EQUAL(inventory_put(inv, false, jc, &ch, err, sizeof err), AG_OK);
    CU_ASSERT_TRUE(ch);
    CU_ASSERT_TRUE(inventory_generation(inv) > g);
    inventory_each(inv, grab_vm, &now);
    CU_ASSERT_PTR_NOT_NULL_FATAL(now);
    CU_ASSERT_STRING_EQUAL(now->uid, "u2");
    inventory_free(inv);
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    cJSON_Delete(jc);
}

static void names_of(void *arg, const struct inv_entry *e)
{
    char *out = arg;
    size_t len = strlen(out);
    snprintf(out + len, 64 - len, "%s%s", len ? "," : "", e->name);
}

/* A resync that keeps some of many: one pass forgets the rest, the order stays, a VM first
 * seen during the resync stays, and each survivor is the object it was. */
static void test_sync_many(void)
{
    struct inventory *inv = inventory_new();
    char err[256], names[64] = "";
    const char *all[] = { "a", "b", "c", "d", "e", "f" };
    for (size_t i = 0; i < 6; i++) {
        char j[256];
        snprintf(j, sizeof j, "{\"metadata\": {\"name\": \"%s\", \"namespace\": \"n\"}, \"spec\": {\"template\": "
                 "{\"spec\": {\"architecture\": \"amd64\"}}}}", all[i]);
        cJSON *o = tu_parse(j);
        CU_ASSERT_EQUAL(inventory_put(inv, false, o, NULL, err, sizeof err), AG_OK);
        if (i % 2)  /* b, d, f also run */
            CU_ASSERT_EQUAL(inventory_put(inv, true, o, NULL, err, sizeof err), AG_OK);
        cJSON_Delete(o);
    }
    inventory_sync_begin(inv, false);
    const char *kept[] = { "b", "e", "g" };
    for (size_t i = 0; i < 3; i++) {
        char j[256];
        snprintf(j, sizeof j, "{\"metadata\": {\"name\": \"%s\", \"namespace\": \"n\"}, \"spec\": {\"template\": "
                 "{\"spec\": {\"architecture\": \"amd64\"}}}}", kept[i]);
        cJSON *o = tu_parse(j);
        CU_ASSERT_EQUAL(inventory_put(inv, false, o, NULL, err, sizeof err), AG_OK);
        cJSON_Delete(o);
    }
    CU_ASSERT_TRUE(inventory_sync_end(inv, false, true));
    CU_ASSERT_EQUAL(inventory_count_kind(inv, false), 3);
    CU_ASSERT_EQUAL(inventory_count_kind(inv, true), 3);
    inventory_each(inv, names_of, names);
    CU_ASSERT_STRING_EQUAL(names, "b,d,e,f,g");         /* d and f keep their VMI */
    CU_ASSERT_TRUE(inventory_has(inv, false, "n", "g"));
    CU_ASSERT_FALSE(inventory_has(inv, false, "n", "d"));
    CU_ASSERT_TRUE(inventory_has(inv, true, "n", "d"));
    inventory_free(inv);
}

static void test_changes(void)
{
    struct inventory *inv = inventory_new();
    const char *a = "{\"metadata\": {\"name\": \"v\", \"namespace\": \"n\", \"resourceVersion\": \"1\"}, \"spec\": "
                    "{\"template\": {\"spec\": {\"architecture\": \"arm64\"}}}, \"status\": {\"printableStatus\": \"Stopped\"}}";
    const char *b = "{\"metadata\": {\"name\": \"v\", \"namespace\": \"n\", \"resourceVersion\": \"2\", \"labels\": "
                    "{\"x\": \"y\"}}, \"spec\": {\"template\": {\"spec\": {\"architecture\": \"arm64\"}}}, \"status\": "
                    "{\"printableStatus\": \"Stopped\", \"ready\": false}}";
    const char *c = "{\"metadata\": {\"name\": \"v\", \"namespace\": \"n\"}, \"spec\": {\"template\": {\"spec\": "
                    "{\"architecture\": \"amd64\"}}}, \"status\": {\"printableStatus\": \"Stopped\"}}";
    const char *d = "{\"metadata\": {\"name\": \"v\", \"namespace\": \"n\"}, \"spec\": {\"template\": {\"spec\": "
                    "{\"architecture\": \"amd64\"}}}, \"status\": {\"printableStatus\": \"Running\"}}";
    cJSON *ja = tu_parse(a), *jb = tu_parse(b), *jc = tu_parse(c), *jd = tu_parse(d);
    bool ch = false;
    char err[256];
    CU_ASSERT_EQUAL(inventory_put(inv, false, ja, &ch, err, sizeof err), AG_OK);
    CU_ASSERT_TRUE(ch);
    uint64_t g = inventory_generation(inv);
    CU_ASSERT_EQUAL(inventory_put(inv, false, ja, &ch, err, sizeof err), AG_OK);
    CU_ASSERT_FALSE(ch);
    CU_ASSERT_EQUAL(inventory_put(inv, false, jb, &ch, err, sizeof err), AG_OK);
    CU_ASSERT_FALSE(ch);
    CU_ASSERT_EQUAL(inventory_generation(inv), g);
    CU_ASSERT_EQUAL(inventory_put(inv, false, jc, &ch, err, sizeof err), AG_OK);
    CU_ASSERT_TRUE(ch);
    CU_ASSERT_EQUAL(inventory_put(inv, false, jd, &ch, err, sizeof err), AG_OK);
    CU_ASSERT_TRUE(ch);
    CU_ASSERT_EQUAL(inventory_put(inv, true, jd, &ch, err, sizeof err), AG_OK);
    CU_ASSERT_TRUE(ch);
    CU_ASSERT_EQUAL(inventory_count(inv), 1);
    CU_ASSERT_EQUAL(inventory_count_kind(inv, false), 1);
    CU_ASSERT_EQUAL(inventory_count_kind(inv, true), 1);
    CU_ASSERT_TRUE(inventory_bytes(inv) > 0);
    inventory_delete(inv, false, "n", "v", &ch);
    CU_ASSERT_TRUE(ch);
    CU_ASSERT_EQUAL(inventory_count(inv), 1);
    inventory_delete(inv, false, "n", "v", &ch);
    CU_ASSERT_FALSE(ch);
    inventory_delete(inv, true, "n", "v", &ch);
    CU_ASSERT_TRUE(ch);
    CU_ASSERT_EQUAL(inventory_count(inv), 0);
    /* no key: refused */
    cJSON *nokey = tu_parse("{\"metadata\": {\"name\": \"v\"}}");
    CU_ASSERT_EQUAL(inventory_put(inv, false, nokey, &ch, err, sizeof err), AG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "namespace"));
    /* resync: what the new read lacks goes, the rest stays */
    CU_ASSERT_EQUAL(inventory_put(inv, false, ja, NULL, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(inventory_put(inv, true, ja, NULL, err, sizeof err), AG_OK);
    inventory_sync_begin(inv, false);                   /* a list of VMs with none in it */
    CU_ASSERT_TRUE(inventory_sync_end(inv, false, true));
    CU_ASSERT_EQUAL(inventory_count_kind(inv, false), 0);
    CU_ASSERT_EQUAL(inventory_count_kind(inv, true), 1);
    inventory_sync_begin(inv, true);
    CU_ASSERT_EQUAL(inventory_put(inv, true, ja, NULL, err, sizeof err), AG_OK);
    CU_ASSERT_FALSE(inventory_sync_end(inv, true, true));
    CU_ASSERT_EQUAL(inventory_count_kind(inv, true), 1);
    /* a read that failed forgets nothing */
    inventory_sync_begin(inv, true);
    CU_ASSERT_FALSE(inventory_sync_end(inv, true, false));
    CU_ASSERT_EQUAL(inventory_count_kind(inv, true), 1);
    /* a resync of the VMs leaves the VMIs alone, and the other way round */
    cJSON *running = tu_parse("{\"metadata\": {\"name\": \"v\", \"namespace\": \"n\"}, \"status\": "
                              "{\"phase\": \"Running\", \"nodeName\": \"x\"}}");
    inventory_sync_begin(inv, false);
    CU_ASSERT_EQUAL(inventory_put(inv, false, jc, NULL, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(inventory_put(inv, true, running, NULL, err, sizeof err), AG_OK);
    cJSON_Delete(running);
    CU_ASSERT_TRUE(inventory_sync_end(inv, false, true));
    CU_ASSERT_EQUAL(inventory_count_kind(inv, false), 1);
    CU_ASSERT_EQUAL(inventory_count_kind(inv, true), 1);
    CU_ASSERT_EQUAL(inventory_count(inv), 1);
    inventory_sync_begin(inv, true);                    /* the VMI is gone: the entry keeps the VM */
    CU_ASSERT_TRUE(inventory_sync_end(inv, true, true));
    CU_ASSERT_EQUAL(inventory_count_kind(inv, true), 0);
    CU_ASSERT_EQUAL(inventory_count_kind(inv, false), 1);
    CU_ASSERT_EQUAL(inventory_count(inv), 1);
    cJSON_Delete(nokey);
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    cJSON_Delete(jc);
    cJSON_Delete(jd);
    inventory_free(inv);
}

/* List pages read item by item: items applied, resourceVersion and continue token taken; pages
 * of every wrong shape refused with a reason, nothing past the fault applied; the same page again
 * changes nothing. */
static void test_list_pages(void)
{
    struct inventory *inv = inventory_new();
    char rv[128] = "", cont[16], err[256];
    const char *page = "{\"kind\": \"VirtualMachineList\", \"items\": [{\"metadata\": {\"name\": \"a\", "
                       "\"namespace\": \"n\"}}, {\"metadata\": {\"name\": \"nokey\"}}, {\"metadata\": {\"name\": \"b\", "
                       "\"namespace\": \"n\"}}], \"metadata\": {\"resourceVersion\": \"42\", \"continue\": \"next\"}}";
    CU_ASSERT_EQUAL(vmsource_apply_page(inv, false, page, strlen(page), rv, sizeof rv, cont, sizeof cont, err,
                                        sizeof err), AG_OK);
    CU_ASSERT_EQUAL(inventory_count_kind(inv, false), 2);       /* the item without a namespace skipped */
    CU_ASSERT_STRING_EQUAL(rv, "42");
    CU_ASSERT_STRING_EQUAL(cont, "next");
    uint64_t g = inventory_generation(inv);
    CU_ASSERT_EQUAL(vmsource_apply_page(inv, false, page, strlen(page), rv, sizeof rv, cont, sizeof cont, err,
                                        sizeof err), AG_OK);
    CU_ASSERT_EQUAL(inventory_generation(inv), g);
    const char *last = "{\"metadata\": {\"resourceVersion\": \"43\"}, \"items\": null}";
    CU_ASSERT_EQUAL(vmsource_apply_page(inv, true, last, strlen(last), rv, sizeof rv, cont, sizeof cont, err,
                                        sizeof err), AG_OK);
    CU_ASSERT_STRING_EQUAL(cont, "");
    CU_ASSERT_STRING_EQUAL(rv, "43");
    static const char *const bad[] = {
        "", "not json", "[]", "3", "{\"items\": {}}", "{\"items\": [{\"metadata\": {\"name\": \"c\", \"namespace\": \"n\"}}",
        "{\"items\": [], \"metadata\": {\"continue\": \"a-token-longer-than-16\"}}",
        "{\"items\": [{\"metadata\": {\"name\": \"d\", \"namespace\": \"n\"}}, ], \"kind\": \"x\"}",
        "{\"items\": [], \"items\": []", "{\"items\": [1, 2], \"metadata\": []} trailing",
        "{\"items\": [{\"metadata\": {\"name\": 1x}}, {\"metadata\": {\"name\": \"e\", \"namespace\": \"n\"}}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        CU_ASSERT_EQUAL(vmsource_apply_page(inv, false, bad[i], strlen(bad[i]), rv, sizeof rv, cont, sizeof cont, err,
                                            sizeof err), AG_EINVAL);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "list of "));
        CU_ASSERT_STRING_EQUAL(cont, "");
    }
    CU_ASSERT_TRUE(inventory_has(inv, false, "n", "c"));         /* complete items before the fault stay */
    CU_ASSERT_TRUE(inventory_has(inv, false, "n", "d"));
    CU_ASSERT_FALSE(inventory_has(inv, false, "n", "e"));        /* nothing after it */
    inventory_free(inv);
}

static void test_watch_lines(void)
{
    struct inventory *inv = inventory_new();
    char rv[128] = "", err[256];
    bool ch, gone;
    const char *add = "{\"type\": \"ADDED\", \"object\": {\"kind\": \"VirtualMachine\", \"metadata\": {\"name\": \"v\", "
                      "\"namespace\": \"n\", \"resourceVersion\": \"17\"}}}";
    CU_ASSERT_EQUAL(vmsource_apply_line(inv, false, add, strlen(add), &ch, rv, sizeof rv, &gone, err, sizeof err), AG_OK);
    CU_ASSERT_TRUE(ch);
    CU_ASSERT_STRING_EQUAL(rv, "17");
    const char *bm = "{\"type\": \"BOOKMARK\", \"object\": {\"metadata\": {\"resourceVersion\": \"19\"}}}";
    CU_ASSERT_EQUAL(vmsource_apply_line(inv, false, bm, strlen(bm), &ch, rv, sizeof rv, &gone, err, sizeof err), AG_OK);
    CU_ASSERT_FALSE(ch);
    CU_ASSERT_STRING_EQUAL(rv, "19");
    const char *del = "{\"type\": \"DELETED\", \"object\": {\"metadata\": {\"name\": \"v\", \"namespace\": \"n\", "
                      "\"resourceVersion\": \"20\"}}}";
    CU_ASSERT_EQUAL(vmsource_apply_line(inv, false, del, strlen(del), &ch, rv, sizeof rv, &gone, err, sizeof err), AG_OK);
    CU_ASSERT_TRUE(ch);
    CU_ASSERT_EQUAL(inventory_count(inv), 0);
    const char *e410 = "{\"type\": \"ERROR\", \"object\": {\"kind\": \"Status\", \"code\": 410, \"message\": \"too old\"}}";
    CU_ASSERT_EQUAL(vmsource_apply_line(inv, false, e410, strlen(e410), &ch, rv, sizeof rv, &gone, err, sizeof err), AG_EIO);
    CU_ASSERT_TRUE(gone);
    const char *e500 = "{\"type\": \"ERROR\", \"object\": {\"code\": 500}}";
    CU_ASSERT_EQUAL(vmsource_apply_line(inv, false, e500, strlen(e500), &ch, rv, sizeof rv, &gone, err, sizeof err), AG_EIO);
    CU_ASSERT_FALSE(gone);
    static const char *const badlines[] = {
        "", "not json", "[]", "{\"type\": 1, \"object\": {}}", "{\"type\": \"ADDED\"}", "{\"type\": \"ADDED\", \"object\": 3}",
        "{\"type\": \"ADDED\", \"object\": {\"metadata\": {\"name\": \"x\"}}}",
        "{\"type\": \"DELETED\", \"object\": {\"metadata\": {\"name\": 1, \"namespace\": \"n\"}}}",
    };
    for (size_t i = 0; i < sizeof badlines / sizeof badlines[0]; i++)
        CASE_ASSERT(vmsource_apply_line(inv, false, badlines[i], strlen(badlines[i]), &ch, rv, sizeof rv, &gone, err,
                                        sizeof err) == AG_EINVAL, i, badlines[i]);
    /* a VM of a wrong shape over the watch: kept as unreadable */
    const char *odd = "{\"type\": \"MODIFIED\", \"object\": {\"metadata\": {\"name\": \"w\", \"namespace\": \"n\"}, "
                      "\"spec\": {\"template\": {\"spec\": {\"volumes\": 9}}}}}";
    CU_ASSERT_EQUAL(vmsource_apply_line(inv, false, odd, strlen(odd), &ch, rv, sizeof rv, &gone, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(inventory_count(inv), 1);
    inventory_free(inv);
}

/* config_parse of "archgate" and the n arguments that follow. */
static enum ag_result parse(struct config *c, char *err, size_t errlen, int n, ...)
{
    char *argv[16];
    va_list ap;
    va_start(ap, n);
    argv[0] = (char *)"archgate";
    for (int i = 1; i <= n && i < 16; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    return config_parse(n + 1, argv, c, err, errlen);
}

/* The audit subcommand and the auditor's serve flags. */
static void test_config(void)
{
    struct config c;
    char err[256];
    CU_ASSERT_EQUAL(parse(&c, err, sizeof err, 4, "audit", "--cluster-state", "d", "-o"), AG_EINVAL);
    CU_ASSERT_EQUAL(parse(&c, err, sizeof err, 5, "audit", "--cluster-state", "d", "-o", "json"), AG_OK);
    CU_ASSERT_EQUAL(c.cmd, CMD_AUDIT);
    CU_ASSERT_TRUE(c.audit_json);
    CU_ASSERT_EQUAL(c.log_level, LOG_WARN);
    CU_ASSERT_EQUAL(parse(&c, err, sizeof err, 3, "audit", "-o", "xml"), AG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "table or json"));
    CU_ASSERT_EQUAL(parse(&c, err, sizeof err, 2, "audit", "--mutate"), AG_EINVAL);
    CU_ASSERT_EQUAL(parse(&c, err, sizeof err, 2, "audit", "--tls-cert=x"), AG_EINVAL);
    CU_ASSERT_EQUAL(parse(&c, err, sizeof err, 5, "audit", "--cluster-state", "d", "--kubeconfig", "k"), AG_EINVAL);
    CU_ASSERT_EQUAL(parse(&c, err, sizeof err, 4, "audit", "--in-cluster", "--unknown-image", "deny"), AG_OK);
    CU_ASSERT_EQUAL(c.policy.unknown_image, UNKNOWN_IMAGE_DENY);
    CU_ASSERT_FALSE(c.audit_json);
    /* serve: defaults, then each flag */
    CU_ASSERT_EQUAL(parse(&c, err, sizeof err, 4, "serve", "--tls-cert=a", "--tls-key=b", "--in-cluster"), AG_OK);
    CU_ASSERT_TRUE(c.audit_events);
    CU_ASSERT_TRUE(c.leader_elect);
    CU_ASSERT_STRING_EQUAL(c.lease_name, "archgate-auditor");
    CU_ASSERT_PTR_NULL(c.lease_namespace);
    CU_ASSERT_EQUAL(parse(&c, err, sizeof err, 7, "serve", "--tls-cert=a", "--tls-key=b", "--audit-events=false",
                          "--leader-elect", "false", "--lease-name=x"), AG_OK);
    CU_ASSERT_FALSE(c.audit_events);
    CU_ASSERT_FALSE(c.leader_elect);
    CU_ASSERT_STRING_EQUAL(c.lease_name, "x");
    CU_ASSERT_EQUAL(parse(&c, err, sizeof err, 4, "serve", "--tls-cert=a", "--tls-key=b", "--audit-events=no"), AG_EINVAL);
    CU_ASSERT_EQUAL(parse(&c, err, sizeof err, 4, "serve", "--tls-cert=a", "--tls-key=b", "--lease-namespace="), AG_EINVAL);
    CU_ASSERT_EQUAL(parse(&c, err, sizeof err, 4, "serve", "--tls-cert=a", "--tls-key=b", "-o=json"), AG_EINVAL);
    CU_ASSERT_EQUAL(parse(&c, err, sizeof err, 3, "review", "--audit-events", "true"), AG_EINVAL);
}

UNIT_SUITE("audit", suite_init, suite_cleanup,
           { "flags of audit and of serve's auditor", test_config },
           { "the sample folder: counts, the refused VM and its Event reason", test_samples },
           { "the message is the one /validate gives for the same VM created now", test_same_message_as_validate },
           { "stranded after a node goes, recovered when it comes back", test_node_goes_and_comes_back },
           { "stranded after the workload placement narrows", test_placement_narrows },
           { "stranded after a taint, not the VM that tolerates the other taint", test_taint },
           { "running VMI on a node gone or of another architecture", test_vmi_node },
           { "unknown images counted apart; catalog; deny policy", test_unknown_image },
           { "VMs of every wrong shape reported unreadable", test_wrong_shapes },
           { "compact facts: one exactly sized chunk per object", test_compact },
           { "change detection, delete, relist", test_changes },
           { "same facts: the object stays in place; a new uid is a change", test_same_facts_kept_in_place },
           { "resync of many: the unseen go in one pass, order kept", test_sync_many },
           { "watch lines", test_watch_lines },
           { "list pages, item by item; malformed pages", test_list_pages })
