/* test_labelset.c - node label maps shared process-wide: equal strings and equal maps are one
 * copy; a map (and its strings) lives while the store or any snapshot holds it and is freed when
 * none does; snapshots built one after another share the maps of nodes that did not change. */
#include <stdio.h>
#include <string.h>
#include "unit.h"
#include "testutil.h"
#include "labelset.h"
#include "cluster.h"
#include "kube_store.h"
#include "mem.h"

static struct labelset *make(struct kv *items, size_t n)
{
    struct labels l = { items, n };
    struct labelset *ls = NULL;
    CU_ASSERT_EQUAL_FATAL(labelset_make(&l, &ls), AG_OK);
    return ls;
}

static void test_sharing(void)
{
    struct labelset_stats before, st;
    labelset_stats(&before);
    char k1[] = "kubernetes.io/arch", v1[] = "arm64", k2[] = "node-role.kubernetes.io/worker", v2[] = "";
    char k1b[] = "kubernetes.io/arch", v1b[] = "arm64";     /* equal text, other buffers */
    struct kv a[] = { { k1, v1 }, { k2, v2 } }, b[] = { { k1b, v1b }, { k2, v2 } }, c[] = { { k1b, v1b } };
    struct labelset *x = make(a, 2), *y = make(b, 2), *z = make(c, 1);
    /* equal maps are one map; equal strings one string, whatever buffer they came from */
    CU_ASSERT_PTR_EQUAL(x, y);
    CU_ASSERT_PTR_NOT_EQUAL(x, z);
    CU_ASSERT_TRUE(labelset_equal(x, y));
    CU_ASSERT_FALSE(labelset_equal(x, z));
    const struct labels *lx = labelset_labels(x), *lz = labelset_labels(z);
    CU_ASSERT_PTR_EQUAL(lx->items[0].key, lz->items[0].key);
    CU_ASSERT_PTR_EQUAL(lx->items[0].value, lz->items[0].value);
    CU_ASSERT_PTR_NOT_EQUAL(lx->items[0].key, k1);
    CU_ASSERT_STRING_EQUAL(lx->items[1].key, k2);
    CU_ASSERT_EQUAL(lx->n, 2);
    labelset_stats(&st);
    CU_ASSERT_EQUAL(st.sets, before.sets + 2);
    CU_ASSERT_EQUAL(st.strings, before.strings + 4);
    /* the shared map lives until its last holder lets go; then it and its strings are freed */
    labelset_release(y);
    CU_ASSERT_STRING_EQUAL(labelset_labels(x)->items[0].value, "arm64");
    labelset_release(x);
    labelset_stats(&st);
    CU_ASSERT_EQUAL(st.sets, before.sets + 1);
    CU_ASSERT_EQUAL(st.strings, before.strings + 2);      /* z still holds the arch key and value */
    CU_ASSERT_STRING_EQUAL(labelset_labels(z)->items[0].key, "kubernetes.io/arch");
    labelset_release(z);
    labelset_stats(&st);
    CU_ASSERT_EQUAL(st.sets, before.sets);
    CU_ASSERT_EQUAL(st.strings, before.strings);
    CU_ASSERT_EQUAL(st.bytes, before.bytes);       /* the tables go with the last map */
    labelset_release(NULL);
    /* an empty map is a map */
    struct labelset *e = make(NULL, 0);
    CU_ASSERT_EQUAL(labelset_labels(e)->n, 0);
    labelset_release(e);
}

#define NODE(name, arch) \
    "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"" name "\",\"labels\":{" \
    "\"kubernetes.io/arch\":\"" arch "\",\"node-role.kubernetes.io/worker\":\"\"}}}"

static struct snapshot *build(const char *const *nodes, size_t n)
{
    struct cluster_builder *b = cluster_builder_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    for (size_t i = 0; i < n; i++) {
        cJSON *o = tu_parse(nodes[i]);
        CU_ASSERT_EQUAL(cluster_builder_add(b, o, NULL, 0), AG_OK);
        cJSON_Delete(o);
    }
    return cluster_builder_finish(b);
}

/* Across snapshot generations: the maps of nodes that did not change are shared; the old
 * snapshot's strings stay valid while it is alive, and go with the last snapshot using them. */
static void test_generations(void)
{
    struct labelset_stats before, st;
    labelset_stats(&before);
    const char *gen1[] = { NODE("a", "amd64"), NODE("b", "s390x") };
    const char *gen2[] = { NODE("a", "amd64"), NODE("b", "arm64") };
    struct snapshot *s1 = build(gen1, 2), *s2 = build(gen2, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s2);
    CU_ASSERT_PTR_EQUAL(s1->nodes[0].labels.items, s2->nodes[0].labels.items);    /* node a unchanged */
    CU_ASSERT_PTR_NOT_EQUAL(s1->nodes[1].labels.items, s2->nodes[1].labels.items);
    const char *old_value = labels_get(&s1->nodes[1].labels, "kubernetes.io/arch");
    snapshot_release(s2);
    CU_ASSERT_STRING_EQUAL(old_value, "s390x");             /* still alive with s1 */
    CU_ASSERT_EQUAL(s1->nodes[1].arch, ARCH_S390X);
    labelset_stats(&st);
    CU_ASSERT_EQUAL(st.sets, before.sets + 2);
    snapshot_release(s1);
    labelset_stats(&st);
    CU_ASSERT_EQUAL(st.sets, before.sets);
    CU_ASSERT_EQUAL(st.strings, before.strings);

    /* the live store and its snapshots share one map per node */
    struct kube_store *ks = kube_store_new();
    bool changed = false;
    cJSON *o = tu_parse(NODE("c", "arm64"));
    CU_ASSERT_EQUAL(kube_store_apply(ks, KK_NODE, KUBE_ADDED, o, &changed, NULL, 0), AG_OK);
    struct snapshot *s3 = kube_store_build(ks, NULL, NULL, 0), *s4 = kube_store_build(ks, NULL, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s4);
    CU_ASSERT_PTR_EQUAL(s3->nodes[0].labels.items, s4->nodes[0].labels.items);
    /* the same event again changes nothing; the node deleted, the snapshots keep their map */
    CU_ASSERT_EQUAL(kube_store_apply(ks, KK_NODE, KUBE_MODIFIED, o, &changed, NULL, 0), AG_OK);
    CU_ASSERT_FALSE(changed);
    CU_ASSERT_EQUAL(kube_store_apply(ks, KK_NODE, KUBE_DELETED, o, &changed, NULL, 0), AG_OK);
    CU_ASSERT_TRUE(changed);
    cJSON_Delete(o);
    kube_store_free(ks);
    CU_ASSERT_STRING_EQUAL(labels_get(&s3->nodes[0].labels, "kubernetes.io/arch"), "arm64");
    snapshot_release(s3);
    CU_ASSERT_EQUAL(s4->nodes[0].arch, ARCH_ARM64);
    snapshot_release(s4);
    labelset_stats(&st);
    CU_ASSERT_EQUAL(st.sets, before.sets);
    CU_ASSERT_EQUAL(st.strings, before.strings);
}

static void test_out_of_memory(void)
{
    long live = mem_live();
    char k[] = "a", v[] = "b", k2[] = "c";
    struct kv items[] = { { k, v }, { k2, v } };
    struct labels l = { items, 2 };
    struct labelset_stats before, st;
    labelset_stats(&before);
    for (long n = 0; n < 8; n++) {
        struct labelset *ls = NULL;
        mem_fail_after(n);
        enum ag_result r = labelset_make(&l, &ls);
        mem_fail_after(-1);
        CASE_ASSERT(r == AG_OK || (r == AG_ENOMEM && !ls), (size_t)n, "labelset_make");
        labelset_release(ls);
        labelset_stats(&st);
        CASE_ASSERT(st.sets == before.sets && st.strings == before.strings, (size_t)n, "nothing left behind");
    }
    CU_ASSERT_EQUAL(mem_live(), live);
}

UNIT_SUITE("labelset", NULL, NULL,
           { "equal strings and maps shared; freed with their last holder", test_sharing },
           { "lifetimes across snapshot generations and the live store", test_generations },
           { "allocation failures leave nothing behind", test_out_of_memory });
