/* fuzz_cluster.c - libFuzzer target: the cluster-state object loaders. The input is one JSON
 * value: an object or an array of objects. Each object with "images" goes to
 * cluster_builder_add_catalog, each with "fuzzPlacement" is a VM placement ({nodeSelector,
 * affinity, tolerations}) to take a census with, every other one to cluster_builder_add
 * (Lists included). The snapshot is built twice, in input order and in reverse, and checked:
 * arrays sorted with unique keys and the same keys in both orders, every look-up finds each
 * stored object, exact catalog entries found by their reference, the base census equal to
 * node-by-node classification and summing to the node count, the census of the placement equal
 * through every path, derived fields consistent, census text safely cut. The VMs and VMIs of
 * the input are then audited against the snapshot (src/audit/): counts add up, one finding per
 * refused VM. The same bytes also go through the item-by-item List reader of the cluster-state
 * folder (liststream), fed in small chunks and whole: it must accept exactly what the strict
 * parser accepts, and give the same document back. A violation aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "cluster.h"
#include "eligible.h"
#include "selector.h"
#include "pool.h"
#include "jsonparse.h"
#include "liststream.h"
#include "log.h"
#include "mem.h"
#include "audit/audit.h"
#include "audit/inventory.h"

#define MAX_ITEMS 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_cluster: invariant violated: %s\n", what);
    abort();
}

static int cmp_opt(const char *a, const char *b)
{
    if (!a || !b)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

static int cmp_key(const char *ans, const char *an, const char *bns, const char *bn)
{
    int c = cmp_opt(ans, bns);
    return c ? c : cmp_opt(an, bn);
}

static bool arch_ok(int a)
{
    return a == ARCH_NONE || (a >= 0 && a < ARCH_COUNT);
}

static bool archset_ok(archset s)
{
    return (s & ~(archset)((1u << ARCH_COUNT) - 1)) == 0;
}

/* Build a snapshot from `items` in order (reverse: backwards). NULL only on allocation failure. */
static struct snapshot *build(const cJSON *const *items, size_t n, bool reverse)
{
    char err[512];
    struct cluster_builder *b = cluster_builder_new();
    if (!b)
        return NULL;
    for (size_t k = 0; k < n; k++) {
        const cJSON *it = items[reverse ? n - 1 - k : k];
        enum ag_result r;
        err[0] = '\0';
        if (cJSON_GetObjectItemCaseSensitive(it, "images"))
            r = cluster_builder_add_catalog(b, it, err, sizeof err);
        else
            r = cluster_builder_add(b, it, err, sizeof err);
        if (r != AG_OK && r != AG_EINVAL && r != AG_ETOOBIG && r != AG_ENOMEM)
            fail("builder result out of range");
        if (r != AG_OK && !err[0])
            fail("a refused object without a message");
        if (memchr(err, '\0', sizeof err) == NULL)
            fail("error message not terminated");
    }
    return cluster_builder_finish(b);
}

static void check_census(const struct snapshot *s, const struct placement *pl, const struct census *got)
{
    struct census want;
    memset(&want, 0, sizeof want);
    for (size_t i = 0; i < s->nnodes; i++) {
        enum node_reason r = eligible_classify(&s->nodes[i], s->kubevirt_labels_nodes, pl);
        if ((int)r < 0 || r >= NR_COUNT)
            fail("classification out of range");
        int col = (s->nodes[i].arch >= 0 && s->nodes[i].arch < ARCH_COUNT) ? s->nodes[i].arch : ARCH_COUNT;
        want.n[r][col]++;
    }
    if (memcmp(&want, got, sizeof want) != 0)
        fail(pl ? "census of the placement differs from node-by-node classification"
                : "base census differs from node-by-node classification");
}

static void check_describe(const struct census *c)
{
    char full[8192], cut[24];
    memset(cut, 'x', sizeof cut);
    eligible_describe(c, full, sizeof full);
    eligible_describe(c, cut, sizeof cut);
    if (!memchr(full, '\0', sizeof full) || !memchr(cut, '\0', sizeof cut))
        fail("census text not terminated");
    if (strncmp(full, cut, strlen(cut)) != 0)
        fail("cut census text is not a prefix of the full one");
    if (strncmp(full, "eligible: ", 10) != 0)
        fail("census text does not start with 'eligible: '");
}

static void check_snapshot(const struct snapshot *s)
{
    /* nodes: sorted, unique, fields in range, derived flags consistent */
    archset wl = 0;
    bool kv_labels = false;
    for (size_t i = 0; i < s->nnodes; i++) {
        const struct node *n = &s->nodes[i];
        if (!n->name)
            fail("node without a name");
        if (i && strcmp(s->nodes[i - 1].name, n->name) >= 0)
            fail("nodes not sorted by name or not unique");
        if (!arch_ok(n->arch))
            fail("node architecture out of range");
        for (size_t j = 1; j < n->labels.n; j++)
            if (strcmp(n->labels.items[j - 1].key, n->labels.items[j].key) >= 0)
                fail("node labels not sorted or not unique");
        for (size_t j = 0; j < n->labels.n; j++)
            if (labels_get(&n->labels, n->labels.items[j].key) != n->labels.items[j].value)
                fail("labels_get misses a node label");
        if (n->ntaints && !n->taints)
            fail("taint count without taints");
        if (n->workload)
            wl |= arch_bit(n->arch);
        if (labels_has(&n->labels, LABEL_SCHEDULABLE))
            kv_labels = true;
    }
    if (wl != s->workload_archs)
        fail("workload_archs is not the union of workload nodes' architectures");
    if (s->heterogeneous != (arch_set_count(s->workload_archs) > 1))
        fail("heterogeneous inconsistent with workload_archs");
    if (kv_labels != s->kubevirt_labels_nodes)
        fail("kubevirt_labels_nodes inconsistent");
    if (!arch_ok(s->default_arch) || !arch_ok(s->hco_default_arch) || !arch_ok(s->kubevirt_default_arch))
        fail("default architecture out of range");
    if (s->nnodes == 0 && !s->has_kubevirt && !s->has_hco && s->default_arch != ARCH_NONE)
        fail("a default architecture without nodes, KubeVirt or HyperConverged");

    /* base census */
    unsigned long total = 0;
    for (int r = 0; r < NR_COUNT; r++)
        for (int a = 0; a <= ARCH_COUNT; a++)
            total += s->base.n[r][a];
    if (total != s->nnodes)
        fail("base census does not sum to the node count");
    check_census(s, NULL, &s->base);
    struct census c;
    eligible_census(s, NULL, &c);
    if (memcmp(&c, &s->base, sizeof c) != 0)
        fail("eligible_census(NULL) differs from the base census");
    struct placement none;
    memset(&none, 0, sizeof none);
    eligible_census(s, &none, &c);
    if (memcmp(&c, &s->base, sizeof c) != 0)
        fail("census of an empty placement differs from the base census");
    check_describe(&s->base);
    for (int a = 0; a < ARCH_COUNT; a++)
        if ((eligible_count(&s->base, a) > 0) != arch_in(eligible_archs(&s->base), a))
            fail("eligible_archs inconsistent with eligible_count");

    /* objects: sorted, unique, each found by its key */
    for (size_t i = 0; i < s->ndatasources; i++) {
        const struct datasource *d = &s->datasources[i];
        if (i && cmp_key(s->datasources[i - 1].ns, s->datasources[i - 1].name, d->ns, d->name) >= 0)
            fail("DataSources not sorted or not unique");
        if (snapshot_find_datasource(s, d->ns, d->name) != d)
            fail("a DataSource is not found by its key");
        if (!arch_ok(d->label_arch) || (d->label_arch != ARCH_NONE && !d->has_label))
            fail("DataSource label architecture inconsistent");
        if (d->ptr_ns && !d->ptr_name)
            fail("DataSource pointer namespace without a name");
    }
    for (size_t i = 0; i < s->npvcs; i++) {
        const struct pvc *p = &s->pvcs[i];
        if (i && cmp_key(s->pvcs[i - 1].ns, s->pvcs[i - 1].name, p->ns, p->name) >= 0)
            fail("PVCs not sorted or not unique");
        if (snapshot_find_pvc(s, p->ns, p->name) != p)
            fail("a PVC is not found by its key");
        if (!archset_ok(p->archs))
            fail("PVC architectures out of range");
    }
    for (size_t i = 0; i < s->npreferences; i++) {
        const struct preference *p = &s->preferences[i];
        if (i && cmp_key(s->preferences[i - 1].ns, s->preferences[i - 1].name, p->ns, p->name) >= 0)
            fail("preferences not sorted or not unique");
        if (snapshot_find_preference(s, p->ns, p->name) != p)
            fail("a preference is not found by its key");
        if (!arch_ok(p->required_arch) || !arch_ok(p->preferred_arch))
            fail("preference architecture out of range");
    }
    for (size_t i = 0; i < s->ncatalog; i++) {
        const struct catalog_entry *e = &s->catalog[i];
        if (i && strcmp(s->catalog[i - 1].ref, e->ref) >= 0)
            fail("catalog not sorted or not unique");
        if (!e->archs || !archset_ok(e->archs))
            fail("catalog entry with no or out-of-range architectures");
        if (!e->prefix && snapshot_catalog_lookup(s, e->ref) != e->archs)
            fail("an exact catalog entry is not found by its reference");
        if (!archset_ok(snapshot_catalog_lookup(s, e->ref)))
            fail("catalog look-up out of range");
    }
    /* look-ups of absent keys and of strings from the input as images */
    if (snapshot_find_datasource(s, "\x01", "\x01") || snapshot_find_pvc(s, "\x01", "\x01") ||
        snapshot_find_preference(s, "\x01", "\x01") || snapshot_find_datasource(s, NULL, NULL))
        fail("a look-up found a key that is not there");
    for (size_t i = 0; i < s->nnodes; i++)
        if (!archset_ok(snapshot_catalog_lookup(s, s->nodes[i].name)))
            fail("catalog look-up out of range");
    for (size_t i = 0; i < s->ndatasources; i++)
        if (!archset_ok(snapshot_catalog_lookup(s, s->datasources[i].name)))
            fail("catalog look-up out of range");
}

static void check_same_keys(const struct snapshot *a, const struct snapshot *b)
{
    if (a->nnodes != b->nnodes || a->ndatasources != b->ndatasources || a->npvcs != b->npvcs ||
        a->npreferences != b->npreferences || a->ncatalog != b->ncatalog)
        fail("object counts depend on the order of the input");
    for (size_t i = 0; i < a->nnodes; i++)
        if (strcmp(a->nodes[i].name, b->nodes[i].name) != 0)
            fail("node names depend on the order of the input");
    for (size_t i = 0; i < a->ndatasources; i++)
        if (cmp_key(a->datasources[i].ns, a->datasources[i].name, b->datasources[i].ns, b->datasources[i].name))
            fail("DataSource keys depend on the order of the input");
    for (size_t i = 0; i < a->npvcs; i++)
        if (cmp_key(a->pvcs[i].ns, a->pvcs[i].name, b->pvcs[i].ns, b->pvcs[i].name))
            fail("PVC keys depend on the order of the input");
    for (size_t i = 0; i < a->npreferences; i++)
        if (cmp_key(a->preferences[i].ns, a->preferences[i].name, b->preferences[i].ns, b->preferences[i].name))
            fail("preference keys depend on the order of the input");
    for (size_t i = 0; i < a->ncatalog; i++)
        if (strcmp(a->catalog[i].ref, b->catalog[i].ref) != 0)
            fail("catalog references depend on the order of the input");
}

static void check_placement(const struct snapshot *s, const cJSON *spec)
{
    char err[256];
    struct pool *pool = pool_new(0);
    struct placement pl;
    if (!pool)
        fail("out of memory");
    if (selector_parse_placement(spec, pool, &pl, err, sizeof err) == AG_OK) {
        struct census c;
        eligible_census(s, &pl, &c);
        check_census(s, &pl, &c);
        if (eligible_census_indexed(s, &pl, &c))
            check_census(s, &pl, &c);
        check_describe(&c);
    }
    pool_free(pool);
}

/* ---- the item-by-item List reader (source_file's path) against the whole-document parser ---- */

static enum ag_result keep_item(const cJSON *item, size_t index, void *ctx, char *err, size_t errlen)
{
    (void)index;
    (void)err;
    (void)errlen;
    int depth = mem_arena_pause();
    cJSON_AddItemToArray(ctx, cJSON_Duplicate(item, true));
    mem_arena_resume(depth);
    return AG_OK;
}

/* Two trees equal member by member in order (cJSON_Compare looks members up by name, which is
 * wrong for objects that repeat one). */
static bool same_tree(const cJSON *a, const cJSON *b)
{
    if (!a || !b)
        return a == b;
    if ((a->type & 0xFF) != (b->type & 0xFF) || strcmp(a->string ? a->string : "", b->string ? b->string : ""))
        return false;
    if (cJSON_IsString(a))
        return strcmp(a->valuestring, b->valuestring) == 0;
    if (cJSON_IsNumber(a))
        return a->valuedouble == b->valuedouble;
    const cJSON *x = a->child, *y = b->child;
    for (; x && y; x = x->next, y = y->next)
        if (!same_tree(x, y))
            return false;
    return !x && !y;
}

/* Fed in chunks of `chunk` bytes, the reader accepts exactly what json_parse accepts, and the
 * items it hands over put back into the rest give the same tree. */
static void check_liststream(const uint8_t *data, size_t size, size_t chunk)
{
    char err[256];
    cJSON *whole = NULL, *rest = NULL, *items = cJSON_CreateArray();
    size_t at = 0, nitems = 0;
    if (!items)
        fail("out of memory");
    bool ok_whole = json_parse((const char *)data, size, 128, NULL, NULL, &whole, &at) == JSON_PARSE_OK;
    struct liststream *ls = liststream_new("items", size + 16, size + 16, 128, keep_item, items);
    if (!ls)
        fail("liststream_new");
    enum ag_result r = AG_OK;
    for (size_t off = 0; r == AG_OK && off < size; off += chunk)
        r = liststream_feed(ls, (const char *)data + off, size - off < chunk ? size - off : chunk, err, sizeof err);
    if (r == AG_OK)
        r = liststream_finish(ls, &rest, &nitems, err, sizeof err);
    liststream_free(ls);
    if (r != AG_OK && r != AG_EINVAL)
        fail("liststream failed other than on invalid input");
    if (ok_whole != (r == AG_OK))
        fail(ok_whole ? "liststream refused what json_parse accepts" : "liststream accepted what json_parse refuses");
    if (ok_whole && nitems != (size_t)cJSON_GetArraySize(items))
        fail("liststream's item count differs from the items handed over");
    if (ok_whole && cJSON_IsObject(rest)) {
        size_t named = 0;
        for (const cJSON *c = rest->child; c; c = c->next)
            named += c->string && strcmp(c->string, "items") == 0;
        cJSON *slot = cJSON_GetObjectItemCaseSensitive(rest, "items");
        if (named == 1 && cJSON_IsArray(slot) && nitems) {
            if (cJSON_GetArraySize(slot) != 0)
                fail("the rest keeps streamed items");
            cJSON_ReplaceItemInObjectCaseSensitive(rest, "items", items);
            items = NULL;
        }
        if (named <= 1 && !same_tree(whole, rest))
            fail("items put back into the rest differ from the whole document");
    } else if (ok_whole && nitems) {
        fail("items streamed from a document that is not an object");
    }
    cJSON_Delete(whole);
    cJSON_Delete(rest);
    cJSON_Delete(items);
}

/* The VMs and VMIs of the input (the audit's inventory) judged against the snapshot: never a
 * crash; every entry counted once; one finding per refused entry, each with a reason and a
 * message. */
static void check_audit(const struct snapshot *s, const cJSON *root)
{
    static const struct policy pol;
    char err[256];
    struct inventory *inv = inventory_new();
    if (!inv)
        fail("out of memory");
    enum ag_result r = inventory_add_value(inv, root, "fuzz", err, sizeof err);
    if (r != AG_OK && r != AG_ETOOBIG && r != AG_ENOMEM)
        fail("inventory_add_value result out of range");
    struct audit_report *rep = NULL;
    if (audit_run(s, inv, &pol, &rep) != AG_OK)
        fail("audit_run failed without an allocation failure");
    if (rep->entries != inventory_count(inv))
        fail("audit entries differ from the inventory");
    if (rep->status[AS_OK] + rep->status[AS_REFUSED] + rep->status[AS_UNKNOWN_IMAGE] != rep->entries)
        fail("audit results do not add up");
    if (rep->nfindings != rep->status[AS_REFUSED])
        fail("not one finding per refused entry");
    size_t byc = 0;
    for (unsigned c = 0; c < AC_COUNT; c++)
        byc += rep->by_class[c];
    if (byc != rep->status[AS_REFUSED])
        fail("refused by class does not add up");
    for (size_t i = 0; i < rep->nfindings; i++)
        if (!rep->findings[i].message[0] || !rep->findings[i].reason || !rep->findings[i].ns || !rep->findings[i].name)
            fail("a finding without a message, reason or name");
    audit_report_free(rep);
    inventory_free(inv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        mem_install_cjson_hooks();
        log_setup(LOG_ERROR, LOG_TEXT);
        ready = true;
    }
    long live = mem_live();
    check_liststream(data, size, size ? 1 + data[size - 1] % 7 : 1);
    check_liststream(data, size, size ? size : 1);
    cJSON *root = cJSON_ParseWithLength((const char *)data, size);
    if (!root)
        return 0;
    const cJSON *items[MAX_ITEMS], *placements[4];
    size_t n = 0, np = 0;
    if (cJSON_IsObject(root)) {
        items[n++] = root;
    } else if (cJSON_IsArray(root)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, root) {
            if (!cJSON_IsObject(it))
                continue;
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(it, "fuzzPlacement");
            if (p) {
                if (np < sizeof placements / sizeof placements[0])
                    placements[np++] = p;
            } else if (n < MAX_ITEMS) {
                items[n++] = it;
            }
        }
    }
    struct snapshot *fwd = build(items, n, false);
    struct snapshot *rev = build(items, n, true);
    if (!fwd || !rev)
        fail("cluster_builder_finish returned NULL without an allocation failure");
    check_snapshot(fwd);
    check_snapshot(rev);
    check_same_keys(fwd, rev);
    for (size_t i = 0; i < np; i++)
        check_placement(fwd, placements[i]);
    check_audit(fwd, root);
    snapshot_release(fwd);
    snapshot_release(rev);
    cJSON_Delete(root);
    if (mem_live() != live)
        fail("allocations outlive the input");
    return 0;
}
