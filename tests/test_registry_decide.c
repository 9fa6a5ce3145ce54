/* test_registry_decide.c - what the decision does with the registry's answers (struct
 * image_resolution in decide_input): used after the annotation and the catalog, named as their
 * source in messages, their "why" in the unknown-image warning; and registry_resolve_vm when no
 * resolver runs. */
#include <stdio.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "cluster.h"
#include "decide.h"
#include "pool.h"
#include "registry/resolver.h"
#include "testutil.h"
#include "unit.h"
#include "vm.h"

#define IMG "quay.io/containerdisks/fedora:41"
#define NODES                                                                                              \
    "[{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"a1\",\"labels\":{\"kubernetes.io/arch\":" \
    "\"arm64\",\"node-role.kubernetes.io/worker\":\"\"}},\"spec\":{},\"status\":{\"nodeInfo\":{\"architecture\":\"arm64\"}}}]"

static struct snapshot *snap_with(const char *catalog)
{
    cJSON *nodes = cJSON_Parse(NODES);
    cJSON *cat = catalog ? cJSON_Parse(catalog) : NULL;
    struct cluster_builder *b = cluster_builder_new();
    char err[256];
    const cJSON *it;
    cJSON_ArrayForEach(it, nodes)
        CU_ASSERT(cluster_builder_add(b, it, err, sizeof err) == AG_OK);
    if (cat)
        CU_ASSERT(cluster_builder_add_catalog(b, cat, err, sizeof err) == AG_OK);
    struct snapshot *s = cluster_builder_finish(b);
    cJSON_Delete(nodes);
    cJSON_Delete(cat);
    return s;
}

/* A VM with one containerDisk and (optionally) a registry import without a platform. */
static cJSON *vm_json(const char *annotation, bool with_import)
{
    char buf[2048];
    snprintf(buf, sizeof buf,
             "{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":\"VirtualMachine\",\"metadata\":{\"name\":\"v\",\"namespace\":\"n\""
             "%s%s%s},\"spec\":{%s\"template\":{\"spec\":{\"volumes\":[{\"name\":\"root\",\"containerDisk\":{\"image\":\"" IMG "\"}}"
             "%s]}}}}",
             annotation ? ",\"annotations\":{\"archgate.io/image-architectures\":\"" : "", annotation ? annotation : "",
             annotation ? "\"}" : "",
             with_import ? "\"dataVolumeTemplates\":[{\"metadata\":{\"name\":\"d\"},\"spec\":{\"source\":{\"registry\":"
                           "{\"url\":\"docker://quay.io/containerdisks/centos-stream:9\"}}}}]," : "",
             with_import ? ",{\"name\":\"data\",\"dataVolume\":{\"name\":\"d\"}}" : "");
    return cJSON_Parse(buf);
}

static cJSON *last_vm;

static void run(struct snapshot *s, const char *annotation, bool with_import, const struct image_resolution *res,
                bool mutate, struct pool *pool, struct verdict *v)
{
    cJSON *o = vm_json(annotation, with_import);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    struct vm_facts f;
    char err[256];
    CU_ASSERT_FATAL(vm_extract(o, false, "n", pool, &f, err, sizeof err) == AG_OK);
    struct decide_input in = { .mutate = mutate, .op = OP_CREATE, .in_scope = true, .vm = &f,
                               .resource = "virtualmachines", .group = "kubevirt.io", .resolved = res };
    struct policy p = { .multi_arch = MULTI_ARCH_ON, .unknown_image = UNKNOWN_IMAGE_WARN };
    CU_ASSERT_FATAL(decide_review(&in, s, &p, pool, v) == AG_OK);
    /* the verdict borrows strings of o: keep it until the next run (or the suite's end) */
    cJSON_Delete(last_vm);
    last_vm = o;
}

static int suite_cleanup(void)
{
    cJSON_Delete(last_vm);
    last_vm = NULL;
    return 0;
}

static void test_registry_after_catalog(void)
{
    struct pool *pool = pool_new(0);
    struct snapshot *s = snap_with(NULL);
    struct verdict v;
    struct image_resolution amd[1] = { { .archs = arch_bit(ARCH_AMD64), .source = "registry index" } };

    /* the registry says amd64, only arm64 nodes: denied, naming the source */
    run(s, NULL, false, amd, false, pool, &v);
    CU_ASSERT_FALSE(v.allowed);
    CU_ASSERT_PTR_NOT_NULL(strstr(v.message, "containerDisk " IMG " (registry index: amd64) is built for amd64"));
    /* without the registry's answer: unknown, warned */
    run(s, NULL, false, NULL, false, pool, &v);
    CU_ASSERT(v.allowed);
    CU_ASSERT_EQUAL(v.reason_class, RC_UNKNOWN_IMAGE);
    /* the annotation wins */
    run(s, "arm64", false, amd, false, pool, &v);
    CU_ASSERT(v.allowed);
    CU_ASSERT_EQUAL(v.nwarnings, 0);
    snapshot_release(s);

    /* the catalog wins */
    s = snap_with("{\"images\":{\"" IMG "\":[\"arm64\"]}}");
    run(s, NULL, false, amd, false, pool, &v);
    CU_ASSERT(v.allowed);
    CU_ASSERT_EQUAL(v.ncauses, 0);
    snapshot_release(s);

    /* two platforms: /mutate pins the eligible arm64 */
    s = snap_with(NULL);
    struct image_resolution both[1] = { { .archs = arch_bit(ARCH_AMD64) | arch_bit(ARCH_ARM64), .source = "registry index" } };
    run(s, NULL, false, both, true, pool, &v);
    CU_ASSERT(v.allowed);
    CU_ASSERT_EQUAL(v.cls, VC_MUTATED);
    bool pinned = false;
    for (size_t i = 0; i < v.patch.n; i++)
        if (v.patch.ops[i].value && strcmp(v.patch.ops[i].value, "arm64") == 0)
            pinned = true;
    CU_ASSERT(pinned);

    /* a registry import without platform.architecture: its answer is used too, and the disks
     * must agree (the images are listed templates first) */
    struct image_resolution two[2] = { { .archs = arch_bit(ARCH_ARM64), .source = "registry index" },
                                       { .archs = arch_bit(ARCH_S390X), .source = "registry manifest" } };
    run(s, NULL, true, two, false, pool, &v);
    CU_ASSERT_FALSE(v.allowed);
    CU_ASSERT_PTR_NOT_NULL(strstr(v.message, "disagree"));
    CU_ASSERT_PTR_NOT_NULL(strstr(v.message, "registry image docker://quay.io/containerdisks/centos-stream:9 "
                                             "(registry index: arm64), containerDisk " IMG " (registry manifest: s390x)"));

    /* unknown, with why: the warning says it */
    struct image_resolution why[1] = { { .why = "containerDisk " IMG ": registry quay.io did not answer within 1.5s" } };
    run(s, NULL, false, why, false, pool, &v);
    CU_ASSERT(v.allowed);
    CU_ASSERT_EQUAL(v.nwarnings, 2);
    CU_ASSERT(v.nwarnings == 2 && strstr(v.warnings[1], "did not answer within 1.5s") != NULL);
    /* --unknown-image deny: the denial says why too */
    {
        cJSON *o = vm_json(NULL, false);
        struct vm_facts f;
        char err[128];
        CU_ASSERT_FATAL(vm_extract(o, false, "n", pool, &f, err, sizeof err) == AG_OK);
        struct decide_input in = { .op = OP_CREATE, .in_scope = true, .vm = &f, .resource = "virtualmachines",
                                   .group = "kubevirt.io", .resolved = why };
        struct policy p = { .multi_arch = MULTI_ARCH_ON, .unknown_image = UNKNOWN_IMAGE_DENY };
        CU_ASSERT_FATAL(decide_review(&in, s, &p, pool, &v) == AG_OK);
        CU_ASSERT_FALSE(v.allowed);
        CU_ASSERT_PTR_NOT_NULL(strstr(v.message, "containerDisk image " IMG ") and unknown images are refused"));
        CU_ASSERT_PTR_NOT_NULL(strstr(v.message, "; containerDisk " IMG ": registry quay.io did not answer within 1.5s"));
        cJSON_Delete(o);
    }
    snapshot_release(s);
    pool_free(pool);
}

static void test_resolve_vm_without_resolver(void)
{
    struct pool *pool = pool_new(0);
    struct snapshot *s = snap_with(NULL);
    cJSON *o = vm_json(NULL, true);
    struct vm_facts f;
    char err[128];
    CU_ASSERT_FATAL(vm_extract(o, false, "n", pool, &f, err, sizeof err) == AG_OK);
    CU_ASSERT_FALSE(registry_resolver_running());
    CU_ASSERT_PTR_NULL(registry_resolve_vm(&f, s, pool));
    struct registry_result r;
    registry_resolve_one(IMG, 0, &r, NULL);
    CU_ASSERT_EQUAL(r.status, REG_ERROR);
    cJSON_Delete(o);
    snapshot_release(s);
    pool_free(pool);
}

UNIT_SUITE("registry_decide", NULL, suite_cleanup,
           { "the registry's answers after the annotation and the catalog; named in messages", test_registry_after_catalog },
           { "no resolver running: nothing resolved", test_resolve_vm_without_resolver })
