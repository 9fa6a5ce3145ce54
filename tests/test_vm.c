/* test_vm.c - facts of VirtualMachines and VirtualMachineInstances in the shapes that the
 * common templates and users create, field-path errors for wrong types, and the UPDATE check. */
#include <stdio.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "unit.h"
#include "testutil.h"
#include "vm.h"
#include "mem.h"

static char err[512];

static bool str_is(const char *got, const char *want)
{
    if (!got || !want)
        return got == want;
    return strcmp(got, want) == 0;
}

/* A VM as the console creates it from the rhel9 common template: a dataVolumeTemplate cloning
 * the golden-image DataSource, and a cloud-init volume. */
static const char *const common_template_vm =
    "{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":\"VirtualMachine\","
    " \"metadata\":{\"name\":\"analytics-arm\",\"namespace\":\"vms\","
    "   \"labels\":{\"app\":\"analytics-arm\",\"vm.kubevirt.io/template\":\"rhel9-server-medium\"},"
    "   \"annotations\":{\"kubemacpool.io/transaction-timestamp\":\"2026-06-22T16:52:38.190364021Z\"}},"
    " \"spec\":{"
    "   \"dataVolumeTemplates\":[{\"apiVersion\":\"cdi.kubevirt.io/v1beta1\",\"kind\":\"DataVolume\","
    "     \"metadata\":{\"name\":\"analytics-arm\"},"
    "     \"spec\":{\"sourceRef\":{\"kind\":\"DataSource\",\"name\":\"rhel9-arm64\","
    "               \"namespace\":\"openshift-virtualization-os-images\"},"
    "             \"storage\":{\"resources\":{\"requests\":{\"storage\":\"30Gi\"}}}}}],"
    "   \"instancetype\":{\"name\":\"u1.medium\"},"
    "   \"preference\":{\"name\":\"rhel.9\"},"
    "   \"runStrategy\":\"Always\","
    "   \"template\":{\"metadata\":{\"creationTimestamp\":null,\"labels\":{\"kubevirt.io/domain\":\"analytics-arm\"}},"
    "     \"spec\":{\"domain\":{\"cpu\":{\"cores\":1,\"sockets\":1,\"threads\":1},"
    "         \"devices\":{\"disks\":[{\"disk\":{\"bus\":\"virtio\"},\"name\":\"rootdisk\"},"
    "                               {\"disk\":{\"bus\":\"virtio\"},\"name\":\"cloudinitdisk\"}]},"
    "         \"memory\":{\"guest\":\"4Gi\"}},"
    "       \"evictionStrategy\":\"LiveMigrate\",\"networks\":[{\"name\":\"default\",\"pod\":{}}],"
    "       \"terminationGracePeriodSeconds\":180,"
    "       \"volumes\":[{\"dataVolume\":{\"name\":\"analytics-arm\"},\"name\":\"rootdisk\"},"
    "                  {\"cloudInitNoCloud\":{\"userData\":\"#cloud-config\\nuser: cloud-user\\n\"},"
    "                   \"name\":\"cloudinitdisk\"}]}}}}";

static void test_common_template_vm(void)
{
    cJSON *j = cJSON_Parse(common_template_vm);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    struct vm_facts f;
    CU_ASSERT_EQUAL_FATAL(vm_extract(j, false, "other", tu_pool, &f, err, sizeof err), AG_OK);
    CU_ASSERT(!f.is_vmi);
    CU_ASSERT(str_is(f.ns, "vms"));
    CU_ASSERT(str_is(f.name, "analytics-arm"));
    CU_ASSERT_PTR_NULL(f.arch);
    CU_ASSERT(str_is(f.pref_name, "rhel.9"));
    CU_ASSERT(f.pref_cluster);
    CU_ASSERT(!f.has_node_selector);
    CU_ASSERT(!f.has_constraints);
    CU_ASSERT_PTR_NULL(f.sel_arch);
    CU_ASSERT_PTR_NULL(f.annot_archs);
    CU_ASSERT_EQUAL(f.placement.node_selector.n, 0);
    CU_ASSERT(!f.placement.has_affinity);
    CU_ASSERT_EQUAL(f.placement.ntolerations, 0);
    CU_ASSERT_EQUAL_FATAL(f.nimages, 1);
    CU_ASSERT_EQUAL(f.images[0].kind, IMG_DATASOURCE);
    CU_ASSERT(str_is(f.images[0].ns, "openshift-virtualization-os-images"));
    CU_ASSERT(str_is(f.images[0].name, "rhel9-arm64"));
    CU_ASSERT_PTR_NULL(f.images[0].arch_str);
    CU_ASSERT_EQUAL(f.images[0].dvt_index, 0);
    CU_ASSERT_EQUAL(f.images[0].volume_index, 0);
    CU_ASSERT_STRING_EQUAL(vm_spec_field(&f), "spec.template.spec");
    CU_ASSERT_STRING_EQUAL(vm_spec_pointer(&f), "/spec/template/spec");
    cJSON_Delete(j);
}

static void test_vm_every_source(void)
{
    cJSON *j = cJSON_Parse(
        "{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":\"VirtualMachine\","
        " \"metadata\":{\"name\":\"db-replica\",\"annotations\":{\"archgate.io/image-architectures\":\"arm64\"}},"
        " \"spec\":{"
        "   \"preference\":{\"kind\":\"VirtualMachinePreference\",\"name\":\"db\"},"
        "   \"dataVolumeTemplates\":["
        "     {\"metadata\":{\"name\":\"db-root\"},\"spec\":{\"source\":{\"registry\":{"
        "        \"url\":\"docker://registry.example.org/golden/rhel9-guest:9.6\",\"pullMethod\":\"node\","
        "        \"platform\":{\"architecture\":\"arm64\"}}},\"storage\":{}}},"
        "     {\"metadata\":{\"name\":\"db-data\"},\"spec\":{\"sourceRef\":{\"name\":\"fedora\"},\"storage\":{}}},"
        "     {\"metadata\":{\"name\":\"db-scratch\"},\"spec\":{\"source\":{\"blank\":{}},\"storage\":{}}},"
        "     {\"metadata\":{\"name\":\"db-spare\"},\"spec\":{\"sourceRef\":{\"kind\":\"datasource\",\"name\":\"centos\","
        "        \"namespace\":\"images\"}}},"
        "     {\"metadata\":{\"name\":\"db-is\"},\"spec\":{\"source\":{\"registry\":{\"imageStream\":\"rhel9-guest\","
        "        \"pullMethod\":\"node\"}}}}],"
        "   \"runStrategy\":\"Halted\","
        "   \"template\":{\"spec\":{"
        "     \"architecture\":\"arm64\","
        "     \"nodeSelector\":{\"kubernetes.io/arch\":\"arm64\",\"pool\":\"db\"},"
        "     \"tolerations\":[{\"key\":\"dedicated\",\"operator\":\"Equal\",\"value\":\"db\",\"effect\":\"NoSchedule\"}],"
        "     \"domain\":{\"devices\":{}},"
        "     \"volumes\":["
        "       {\"name\":\"data\",\"dataVolume\":{\"name\":\"db-data\"}},"
        "       {\"name\":\"root\",\"dataVolume\":{\"name\":\"db-root\"}},"
        "       {\"name\":\"legacy\",\"persistentVolumeClaim\":{\"claimName\":\"legacy-root\",\"readOnly\":true}},"
        "       {\"name\":\"imported\",\"dataVolume\":{\"name\":\"imported-dv\"}},"
        "       {\"name\":\"tools\",\"containerDisk\":{\"image\":\"quay.io/containerdisks/fedora:41\"}},"
        "       {\"name\":\"cloudinitdisk\",\"cloudInitNoCloud\":{\"userData\":\"x\"}},"
        "       {\"name\":\"scratch\",\"emptyDisk\":{\"capacity\":\"1Gi\"}},"
        "       {\"name\":\"is\",\"dataVolume\":{\"name\":\"db-is\"}}]}}}}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    struct vm_facts f;
    CU_ASSERT_EQUAL_FATAL(vm_extract(j, false, "vms", tu_pool, &f, err, sizeof err), AG_OK);
    CU_ASSERT(str_is(f.ns, "vms"));                 /* from the request */
    CU_ASSERT(str_is(f.name, "db-replica"));
    CU_ASSERT(str_is(f.arch, "arm64"));
    CU_ASSERT(str_is(f.pref_name, "db"));
    CU_ASSERT(!f.pref_cluster);
    CU_ASSERT(f.has_node_selector);
    CU_ASSERT(f.has_constraints);
    CU_ASSERT(str_is(f.sel_arch, "arm64"));
    CU_ASSERT(str_is(f.annot_archs, "arm64"));
    CU_ASSERT_EQUAL(f.placement.node_selector.n, 2);
    CU_ASSERT_EQUAL(f.placement.ntolerations, 1);

    static const struct { enum image_kind kind; const char *ns, *name, *arch; int dvt, vol; } want[] = {
        { IMG_REGISTRY, NULL, "docker://registry.example.org/golden/rhel9-guest:9.6", "arm64", 0, 1 },
        { IMG_DATASOURCE, "vms", "fedora", NULL, 1, 0 },
        { IMG_DATASOURCE, "images", "centos", NULL, 3, -1 },
        { IMG_REGISTRY, NULL, "rhel9-guest", NULL, 4, 7 },
        { IMG_PVC, "vms", "legacy-root", NULL, -1, 2 },
        { IMG_PVC, "vms", "imported-dv", NULL, -1, 3 },
        { IMG_CONTAINERDISK, NULL, "quay.io/containerdisks/fedora:41", NULL, -1, 4 },
    };
    CU_ASSERT_EQUAL_FATAL(f.nimages, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < f.nimages; i++) {
        const struct vm_image *im = &f.images[i];
        CASE_ASSERT(im->kind == want[i].kind, i, want[i].name);
        CASE_ASSERT(str_is(im->name, want[i].name), i, want[i].name);
        CASE_ASSERT(str_is(im->arch_str, want[i].arch), i, want[i].name);
        CASE_ASSERT(im->dvt_index == want[i].dvt, i, want[i].name);
        CASE_ASSERT(im->volume_index == want[i].vol, i, want[i].name);
        if (want[i].kind == IMG_DATASOURCE || want[i].kind == IMG_PVC)
            CASE_ASSERT(str_is(im->ns, want[i].ns), i, want[i].name);
    }
    cJSON_Delete(j);
}

static void test_vmi(void)
{
    cJSON *j = cJSON_Parse(
        "{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":\"VirtualMachineInstance\","
        " \"metadata\":{\"generateName\":\"test-\",\"namespace\":\"batch\"},"
        " \"spec\":{\"architecture\":\"s390x\","
        "   \"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":["
        "     {\"matchExpressions\":[{\"key\":\"kubernetes.io/arch\",\"operator\":\"In\",\"values\":[\"s390x\"]}]}]}}},"
        "   \"domain\":{\"devices\":{\"disks\":[{\"name\":\"containerdisk\",\"disk\":{\"bus\":\"virtio\"}}]},"
        "     \"resources\":{\"requests\":{\"memory\":\"1Gi\"}}},"
        "   \"volumes\":[{\"name\":\"containerdisk\",\"containerDisk\":{\"image\":\"quay.io/kubevirt/cirros-container-disk-demo:latest\"}},"
        "              {\"name\":\"data\",\"dataVolume\":{\"name\":\"scratch\"}}]}}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    struct vm_facts f;
    CU_ASSERT_EQUAL_FATAL(vm_extract(j, true, "ignored", tu_pool, &f, err, sizeof err), AG_OK);
    CU_ASSERT(f.is_vmi);
    CU_ASSERT(str_is(f.ns, "batch"));
    CU_ASSERT_PTR_NULL(f.name);
    CU_ASSERT(str_is(f.arch, "s390x"));
    CU_ASSERT_PTR_NULL(f.pref_name);
    CU_ASSERT(!f.has_node_selector);
    CU_ASSERT(f.placement.has_affinity);
    CU_ASSERT(f.has_constraints);
    CU_ASSERT_PTR_NULL(f.sel_arch);
    CU_ASSERT_EQUAL_FATAL(f.nimages, 2);
    CU_ASSERT_EQUAL(f.images[0].kind, IMG_CONTAINERDISK);
    CU_ASSERT(str_is(f.images[0].name, "quay.io/kubevirt/cirros-container-disk-demo:latest"));
    CU_ASSERT_EQUAL(f.images[0].volume_index, 0);
    CU_ASSERT_EQUAL(f.images[0].dvt_index, -1);
    CU_ASSERT_EQUAL(f.images[1].kind, IMG_PVC);
    CU_ASSERT(str_is(f.images[1].ns, "batch"));
    CU_ASSERT(str_is(f.images[1].name, "scratch"));
    CU_ASSERT_STRING_EQUAL(vm_spec_field(&f), "spec");
    CU_ASSERT_STRING_EQUAL(vm_spec_pointer(&f), "/spec");
    cJSON_Delete(j);
}

/* Minimal and odd-but-valid objects. */
static void test_vm_minimal(void)
{
    static const struct { bool vmi; const char *json; size_t nimages; const char *arch; bool has_sel; bool constraints; } cases[] = {
        { false, "{\"kind\":\"VirtualMachine\",\"metadata\":{\"name\":\"a\"}}", 0, NULL, false, false },
        { false, "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"runStrategy\":\"Always\"}}", 0, NULL, false, false },
        { false, "{\"spec\":{\"template\":{}}}", 0, NULL, false, false },
        { false, "{\"spec\":{\"template\":{\"spec\":{\"architecture\":\"\",\"nodeSelector\":{}}}}}", 0, NULL, true, false },
        { false, "{\"spec\":{\"template\":{\"spec\":{\"nodeSelector\":null,\"tolerations\":[],\"volumes\":[]}}}}", 0, NULL, false, false },
        { false, "{\"spec\":{\"template\":{\"spec\":{\"tolerations\":[{\"operator\":\"Exists\"}]}}}}", 0, NULL, false, true },
        { false, "{\"spec\":{\"dataVolumeTemplates\":[],\"preference\":{}}}", 0, NULL, false, false },
        { false, "{\"spec\":{\"template\":{\"spec\":{\"architecture\":\"amd64\",\"volumes\":[{\"name\":\"x\",\"hostDisk\":{}}]}}}}", 0, "amd64", false, false },
        { true, "{\"spec\":{}}", 0, NULL, false, false },
        { true, "{}", 0, NULL, false, false },
        /* a VMI never has templates: the key is ignored, its dataVolume volume is a claim */
        { true, "{\"spec\":{\"dataVolumeTemplates\":5,\"volumes\":[{\"name\":\"r\",\"dataVolume\":{\"name\":\"r\"}}]}}", 1, NULL, false, false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *j = cJSON_Parse(cases[i].json);
        CASE_ASSERT(j != NULL, i, cases[i].json);
        struct vm_facts f;
        enum ag_result r = vm_extract(j, cases[i].vmi, "req-ns", tu_pool, &f, err, sizeof err);
        CASE_ASSERT(r == AG_OK, i, err);
        if (r == AG_OK) {
            CASE_ASSERT(f.nimages == cases[i].nimages, i, cases[i].json);
            CASE_ASSERT(str_is(f.arch, cases[i].arch), i, cases[i].json);
            CASE_ASSERT(f.has_node_selector == cases[i].has_sel, i, cases[i].json);
            CASE_ASSERT(f.has_constraints == cases[i].constraints, i, cases[i].json);
            CASE_ASSERT(str_is(f.ns, "req-ns"), i, cases[i].json);
            CASE_ASSERT(f.pref_name == NULL, i, cases[i].json);
        }
        cJSON_Delete(j);
    }
}

static void test_vm_malformed(void)
{
    static const struct { bool vmi; const char *json; const char *err; } cases[] = {
        { false, "[]", "object: must be an object" },
        { false, "{\"metadata\":[]}", "metadata: must be an object" },
        { false, "{\"metadata\":{\"namespace\":1}}", "metadata.namespace: must be a string" },
        { false, "{\"metadata\":{\"name\":true}}", "metadata.name: must be a string" },
        { false, "{\"metadata\":{\"annotations\":\"a=b\"}}", "metadata.annotations: must be an object" },
        { false, "{\"metadata\":{\"annotations\":{\"archgate.io/image-architectures\":[\"arm64\"]}}}",
          "metadata.annotations[archgate.io/image-architectures]: must be a string" },
        { false, "{\"spec\":\"x\"}", "spec: must be an object" },
        { false, "{\"spec\":{\"template\":[]}}", "spec.template: must be an object" },
        { false, "{\"spec\":{\"template\":{\"spec\":1}}}", "spec.template.spec: must be an object" },
        { false, "{\"spec\":{\"template\":{\"spec\":{\"architecture\":64}}}}", "spec.template.spec.architecture: must be a string" },
        { true, "{\"spec\":{\"architecture\":[\"arm64\"]}}", "spec.architecture: must be a string" },
        { false, "{\"spec\":{\"preference\":\"rhel.9\"}}", "spec.preference: must be an object" },
        { false, "{\"spec\":{\"preference\":{\"name\":9}}}", "spec.preference.name: must be a string" },
        { false, "{\"spec\":{\"preference\":{\"name\":\"a\",\"kind\":\"Preference\"}}}", "spec.preference.kind: unknown kind" },
        { false, "{\"spec\":{\"template\":{\"spec\":{\"nodeSelector\":\"kubernetes.io/arch=arm64\"}}}}",
          "spec.template.spec.nodeSelector: must be an object" },
        { true, "{\"spec\":{\"nodeSelector\":[]}}", "spec.nodeSelector: must be an object" },
        { false, "{\"spec\":{\"template\":{\"spec\":{\"nodeSelector\":{\"kubernetes.io/arch\":1}}}}}",
          "spec.template.spec.nodeSelector[kubernetes.io/arch]: must be a string" },
        { false, "{\"spec\":{\"template\":{\"spec\":{\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":"
                 "{\"nodeSelectorTerms\":[{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Foo\"}]}]}}}}}}}",
          "spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]."
          "matchExpressions[0].operator: unknown operator \"Foo\"" },
        { true, "{\"spec\":{\"tolerations\":[{\"key\":\"a\",\"effect\":\"Never\"}]}}", "spec.tolerations[0].effect: unknown effect" },
        { false, "{\"spec\":{\"template\":{\"spec\":{\"volumes\":{}}}}}", "spec.template.spec.volumes: must be an array" },
        { false, "{\"spec\":{\"template\":{\"spec\":{\"volumes\":[{\"name\":\"a\"},{\"name\":\"b\"},\"c\"]}}}}",
          "spec.template.spec.volumes[2]: must be an object" },
        { false, "{\"spec\":{\"template\":{\"spec\":{\"volumes\":[{\"name\":\"a\",\"containerDisk\":{\"image\":5}}]}}}}",
          "spec.template.spec.volumes[0].containerDisk.image: must be a string" },
        { false, "{\"spec\":{\"template\":{\"spec\":{\"volumes\":[{\"name\":\"a\",\"containerDisk\":{}}]}}}}",
          "spec.template.spec.volumes[0].containerDisk.image: must be a non-empty string" },
        { false, "{\"spec\":{\"template\":{\"spec\":{\"volumes\":[{\"name\":\"a\",\"containerDisk\":\"img\"}]}}}}",
          "spec.template.spec.volumes[0].containerDisk: must be an object" },
        { true, "{\"spec\":{\"volumes\":[{\"name\":\"a\",\"persistentVolumeClaim\":{\"claimName\":[]}}]}}",
          "spec.volumes[0].persistentVolumeClaim.claimName: must be a string" },
        { true, "{\"spec\":{\"volumes\":[{\"name\":\"a\",\"dataVolume\":{\"name\":\"\"}}]}}",
          "spec.volumes[0].dataVolume.name: must be a non-empty string" },
        { true, "{\"spec\":{\"volumes\":[{\"name\":\"a\",\"dataVolume\":[]}]}}", "spec.volumes[0].dataVolume: must be an object" },
        { false, "{\"spec\":{\"dataVolumeTemplates\":{}}}", "spec.dataVolumeTemplates: must be an array" },
        { false, "{\"spec\":{\"dataVolumeTemplates\":[null]}}", "spec.dataVolumeTemplates[0]: must be an object" },
        { false, "{\"spec\":{\"dataVolumeTemplates\":[{\"metadata\":{\"name\":1}}]}}",
          "spec.dataVolumeTemplates[0].metadata.name: must be a string" },
        { false, "{\"spec\":{\"dataVolumeTemplates\":[{\"spec\":[]}]}}", "spec.dataVolumeTemplates[0].spec: must be an object" },
        { false, "{\"spec\":{\"dataVolumeTemplates\":[{\"spec\":{\"sourceRef\":\"rhel9\"}}]}}",
          "spec.dataVolumeTemplates[0].spec.sourceRef: must be an object" },
        { false, "{\"spec\":{\"dataVolumeTemplates\":[{\"spec\":{\"sourceRef\":{\"kind\":\"DataSource\"}}}]}}",
          "spec.dataVolumeTemplates[0].spec.sourceRef.name: must be a non-empty string" },
        { false, "{\"spec\":{\"dataVolumeTemplates\":[{\"spec\":{\"sourceRef\":{\"name\":\"a\",\"namespace\":7}}}]}}",
          "spec.dataVolumeTemplates[0].spec.sourceRef.namespace: must be a string" },
        { false, "{\"spec\":{\"dataVolumeTemplates\":[{\"spec\":{\"sourceRef\":{\"name\":\"a\",\"kind\":1}}}]}}",
          "spec.dataVolumeTemplates[0].spec.sourceRef.kind: must be a string" },
        { false, "{\"spec\":{\"dataVolumeTemplates\":[{},{\"spec\":{\"source\":{\"registry\":\"docker://x\"}}}]}}",
          "spec.dataVolumeTemplates[1].spec.source.registry: must be an object" },
        { false, "{\"spec\":{\"dataVolumeTemplates\":[{\"spec\":{\"source\":{\"registry\":{\"url\":1}}}}]}}",
          "spec.dataVolumeTemplates[0].spec.source.registry.url: must be a string" },
        { false, "{\"spec\":{\"dataVolumeTemplates\":[{\"spec\":{\"source\":{\"registry\":{}}}}]}}",
          "spec.dataVolumeTemplates[0].spec.source.registry: needs url or imageStream" },
        { false, "{\"spec\":{\"dataVolumeTemplates\":[{\"spec\":{\"source\":{\"registry\":{\"url\":\"docker://x\","
                 "\"platform\":{\"architecture\":true}}}}}]}}",
          "spec.dataVolumeTemplates[0].spec.source.registry.platform.architecture: must be a string" },
        { false, "{\"spec\":{\"dataVolumeTemplates\":[{\"spec\":{\"source\":[]}}]}}",
          "spec.dataVolumeTemplates[0].spec.source: must be an object" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *j = cJSON_Parse(cases[i].json);
        CASE_ASSERT(j != NULL, i, cases[i].json);
        if (!j)
            continue;
        struct vm_facts f;
        err[0] = '\0';
        enum ag_result r = vm_extract(j, cases[i].vmi, "ns", tu_pool, &f, err, sizeof err);
        CASE_ASSERT(r == AG_EINVAL, i, cases[i].json);
        CASE_ASSERT(strncmp(err, cases[i].err, strlen(cases[i].err)) == 0, i, err);
        cJSON_Delete(j);
    }
    struct vm_facts f;
    CU_ASSERT_EQUAL(vm_extract(NULL, false, "ns", tu_pool, &f, err, sizeof err), AG_EINVAL);
}

static void test_vm_too_many_volumes(void)
{
    cJSON *root = cJSON_Parse("{\"spec\":{\"volumes\":[]}}");
    cJSON *vols = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "spec"), "volumes");
    for (int i = 0; i < 257; i++) {
        cJSON *v = cJSON_CreateObject();
        cJSON *cd = cJSON_AddObjectToObject(v, "containerDisk");
        cJSON_AddStringToObject(cd, "image", "quay.io/containerdisks/fedora:41");
        cJSON_AddItemToArray(vols, v);
    }
    struct vm_facts f;
    CU_ASSERT_EQUAL(vm_extract(root, true, "ns", tu_pool, &f, err, sizeof err), AG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "spec.volumes: more than 256"));
    cJSON_DeleteItemFromArray(vols, 0);
    CU_ASSERT_EQUAL(vm_extract(root, true, "ns", tu_pool, &f, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(f.nimages, 256);
    CU_ASSERT_EQUAL(f.images[255].volume_index, 255);
    cJSON_Delete(root);
}

static void test_vm_enomem(void)
{
    cJSON *j = cJSON_Parse(
        "{\"spec\":{\"dataVolumeTemplates\":[{\"metadata\":{\"name\":\"r\"},\"spec\":{\"sourceRef\":{\"name\":\"rhel9\"}}}],"
        " \"template\":{\"spec\":{\"nodeSelector\":{\"kubernetes.io/arch\":\"arm64\"},"
        "   \"tolerations\":[{\"operator\":\"Exists\"}],"
        "   \"volumes\":[{\"name\":\"r\",\"dataVolume\":{\"name\":\"r\"}},{\"name\":\"c\",\"containerDisk\":{\"image\":\"i\"}}]}}}}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    bool ok = false;
    int failures = 0;
    for (long n = 0; n < 64 && !ok; n++) {
        struct pool *p = pool_new(64);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        struct vm_facts f;
        mem_fail_after(n);
        enum ag_result r = vm_extract(j, false, "ns", p, &f, err, sizeof err);
        mem_fail_after(-1);
        if (r == AG_OK) {
            ok = true;
            CU_ASSERT_EQUAL(f.nimages, 2);
        } else {
            CU_ASSERT_EQUAL(r, AG_ENOMEM);
            failures++;
        }
        pool_free(p);
    }
    CU_ASSERT(ok);
    CU_ASSERT(failures >= 3);
    cJSON_Delete(j);
}

/* Set (json != NULL) or remove the member at a '/'-separated path, creating objects on the way. */
static void set_at(cJSON *root, const char *path, const char *json)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    cJSON *cur = root;
    char *seg = buf;
    for (;;) {
        char *slash = strchr(seg, '/');
        if (!slash)
            break;
        *slash = '\0';
        cJSON *next = cJSON_GetObjectItemCaseSensitive(cur, seg);
        if (!next)
            next = cJSON_AddObjectToObject(cur, seg);
        cur = next;
        seg = slash + 1;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(cur, seg);
    if (json) {
        cJSON *v = cJSON_Parse(json);
        CU_ASSERT_PTR_NOT_NULL_FATAL(v);
        cJSON_AddItemToObject(cur, seg, v);
    }
}

static const char *const base_vm =
    "{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":\"VirtualMachine\","
    " \"metadata\":{\"name\":\"vm\",\"namespace\":\"vms\",\"labels\":{\"app\":\"vm\"},"
    "   \"annotations\":{\"archgate.io/image-architectures\":\"arm64\",\"note\":\"a\"}},"
    " \"spec\":{\"runStrategy\":\"Always\",\"preference\":{\"name\":\"rhel.9\"},"
    "   \"dataVolumeTemplates\":[{\"metadata\":{\"name\":\"r\"},\"spec\":{\"sourceRef\":{\"kind\":\"DataSource\",\"name\":\"rhel9\"}}}],"
    "   \"template\":{\"metadata\":{\"labels\":{\"kubevirt.io/domain\":\"vm\"}},"
    "     \"spec\":{\"architecture\":\"arm64\",\"domain\":{\"memory\":{\"guest\":\"2Gi\"}},"
    "       \"nodeSelector\":{\"kubernetes.io/arch\":\"arm64\"},"
    "       \"tolerations\":[{\"key\":\"a\",\"operator\":\"Exists\"}],"
    "       \"volumes\":[{\"name\":\"r\",\"dataVolume\":{\"name\":\"r\"}}]}}}}";

static void test_inputs_equal(void)
{
    static const struct { const char *path, *value; bool equal; } cases[] = {
        { "spec/runStrategy", "\"Halted\"", true },
        { "spec/running", "false", true },
        { "metadata/labels", "{\"app\":\"other\"}", true },
        { "metadata/resourceVersion", "\"12345\"", true },
        { "metadata/annotations/note", "\"b\"", true },
        { "spec/template/metadata/labels", "{}", true },
        { "spec/template/spec/domain", "{\"memory\":{\"guest\":\"8Gi\"}}", true },
        { "status", "{\"printableStatus\":\"ErrorUnschedulable\"}", true },
        { "spec/template/spec/architecture", "\"amd64\"", false },
        { "spec/template/spec/architecture", NULL, false },
        { "spec/preference", "{\"name\":\"fedora\"}", false },
        { "spec/preference", NULL, false },
        { "spec/template/spec/nodeSelector", "{\"kubernetes.io/arch\":\"amd64\"}", false },
        { "spec/template/spec/nodeSelector", NULL, false },
        { "spec/template/spec/affinity", "{\"nodeAffinity\":{}}", false },
        { "spec/template/spec/tolerations", "[]", false },
        { "spec/template/spec/volumes", "[{\"name\":\"r\",\"dataVolume\":{\"name\":\"s\"}}]", false },
        { "spec/dataVolumeTemplates", "[{\"metadata\":{\"name\":\"r\"},\"spec\":{\"sourceRef\":{\"kind\":\"DataSource\",\"name\":\"rhel9-amd64\"}}}]", false },
        { "metadata/annotations/kubevirt.io~latest-observed-api-version", "\"v1\"", true },
        { "spec/template/spec", "{}", false },
        { "spec/template", NULL, false },
    };
    cJSON *base = cJSON_Parse(base_vm);
    CU_ASSERT_PTR_NOT_NULL_FATAL(base);
    CU_ASSERT(vm_inputs_equal(base, base, false));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *mod = cJSON_Duplicate(base, 1);
        set_at(mod, cases[i].path, cases[i].value);
        CASE_ASSERT(vm_inputs_equal(base, mod, false) == cases[i].equal, i, cases[i].path);
        CASE_ASSERT(vm_inputs_equal(mod, base, false) == cases[i].equal, i, cases[i].path);
        cJSON_Delete(mod);
    }

    /* the annotation: changed, removed */
    cJSON *mod = cJSON_Duplicate(base, 1);
    cJSON *ann = cJSON_GetObjectItem(cJSON_GetObjectItem(mod, "metadata"), "annotations");
    cJSON_ReplaceItemInObject(ann, ANNOT_IMAGE_ARCHS, cJSON_CreateString("amd64"));
    CU_ASSERT(!vm_inputs_equal(base, mod, false));
    cJSON_DeleteItemFromObject(ann, ANNOT_IMAGE_ARCHS);
    CU_ASSERT(!vm_inputs_equal(base, mod, false));
    cJSON_Delete(mod);

    /* null and absent are the same; NULL objects */
    mod = cJSON_Duplicate(base, 1);
    set_at(mod, "spec/template/spec/affinity", "null");
    CU_ASSERT(vm_inputs_equal(base, mod, false));
    cJSON_Delete(mod);
    CU_ASSERT(vm_inputs_equal(NULL, NULL, false));
    CU_ASSERT(!vm_inputs_equal(NULL, base, false));
    CU_ASSERT(!vm_inputs_equal(base, NULL, false));

    /* VMI: the spec is the VMI spec */
    cJSON *vmi = cJSON_Parse("{\"kind\":\"VirtualMachineInstance\",\"spec\":{\"nodeSelector\":{\"a\":\"b\"},"
                             "\"domain\":{},\"volumes\":[]}}");
    cJSON *vmi2 = cJSON_Duplicate(vmi, 1);
    set_at(vmi2, "spec/domain", "{\"cpu\":{\"cores\":2}}");
    CU_ASSERT(vm_inputs_equal(vmi, vmi2, true));
    set_at(vmi2, "spec/nodeSelector", "{\"a\":\"c\"}");
    CU_ASSERT(!vm_inputs_equal(vmi, vmi2, true));
    cJSON_Delete(vmi2);
    cJSON_Delete(vmi);
    cJSON_Delete(base);
}

UNIT_SUITE("vm", tu_pool_setup, tu_pool_teardown,
           { "common-template VM with DataSource template", test_common_template_vm },
           { "VM with every image source", test_vm_every_source },
           { "VMI facts", test_vmi },
           { "minimal and odd valid objects", test_vm_minimal },
           { "malformed objects name the field", test_vm_malformed },
           { "volume count limit", test_vm_too_many_volumes },
           { "allocation failures", test_vm_enomem },
           { "UPDATE compares only what the decision reads", test_inputs_equal })
