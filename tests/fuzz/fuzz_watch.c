/* fuzz_watch.c - libFuzzer target: the live-cluster source's watch-stream parser
 * (kube_store_apply_line) and the store it feeds, and the audit's VM and VMI source (watch lines
 * and list pages into the inventory). Input: a byte choosing what is read, then the text:
 *  - 'v' / 'i': a VM / VMI watch stream, one event per line (vmsource_apply_line);
 *  - 'V' / 'I': one VM / VMI list page (vmsource_apply_page inside a resync);
 *  - any other byte: the kind (modulo KK_COUNT), then a watch stream for the store.
 * VM and VMI input, checked: every result is in range, a refused line changes nothing and says
 * why, `changed` agrees with the inventory's generation, a change applied twice changes nothing
 * the second time; a refused page says why and leaves no continue token, the same page again keeps
 * the same VMs; nothing leaks.
 * Store input, checked (each violation aborts):
 *  - every result is in range; a line that is no event is AG_EINVAL and changes nothing;
 *  - a change event that is refused leaves the store as it was and says why;
 *  - a change event applied twice changes nothing the second time, also when the object repeats
 *    a member name;
 *  - after ADDED/MODIFIED the stored object is the event object pruned (or absent when the kind
 *    does not keep it); after DELETED the key is absent; pruning a stored object again gives it
 *    back unchanged;
 *  - the resourceVersion reported is the object's, when it is a usable one;
 *  - the snapshot built from the store holds every stored object the builder did not refuse. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "kube_store.h"
#include "audit/inventory.h"
#include "audit/vmsource.h"
#include "cluster.h"
#include "log.h"
#include "mem.h"

#define MAX_LINES 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_watch: invariant violated: %s\n", what);
    abort();
}

static bool terminated(const char *s, size_t n)
{
    return memchr(s, '\0', n) != NULL;
}

/* The store key of an event object ("ns/name", "/name" cluster-scoped); false when unusable. */
static bool event_key(const struct kube_kind *k, const cJSON *obj, char *key, size_t keylen)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *name = cJSON_IsObject(meta) ? cJSON_GetObjectItemCaseSensitive(meta, "name") : NULL;
    const cJSON *ns = cJSON_IsObject(meta) ? cJSON_GetObjectItemCaseSensitive(meta, "namespace") : NULL;
    if (!cJSON_IsString(name) || !*name->valuestring)
        return false;
    if (k->namespaced && (!cJSON_IsString(ns) || !*ns->valuestring))
        return false;
    int n = snprintf(key, keylen, "%s/%s", k->namespaced ? ns->valuestring : "", name->valuestring);
    return n > 0 && (size_t)n < keylen;
}

/* Sort every object's members by name and keep the last of equal names: a label map is a map
 * (the store keeps node labels sorted, the last of a repeated key winning, as the builder reads
 * them); other objects are the same on both sides, so this changes nothing for them. */
static void canonical(cJSON *j)
{
    size_t n = 0;
    for (cJSON *c = j ? j->child : NULL; c; c = c->next) {
        canonical(c);
        n++;
    }
    if (!cJSON_IsObject(j) || n < 2)
        return;
    cJSON **v = malloc(n * sizeof *v);
    if (!v)
        fail("out of memory");
    size_t i = 0;
    for (cJSON *c = j->child; c; c = c->next)
        v[i++] = c;
    /* insertion sort: stable, and objects here are small */
    for (size_t a = 1; a < n; a++)
        for (size_t b = a; b > 0 && strcmp(v[b - 1]->string ? v[b - 1]->string : "",
                                           v[b]->string ? v[b]->string : "") > 0; b--) {
            cJSON *t = v[b];
            v[b] = v[b - 1];
            v[b - 1] = t;
        }
    size_t k = 0;
    for (i = 0; i < n; i++) {
        bool later = i + 1 < n && !strcmp(v[i]->string ? v[i]->string : "", v[i + 1]->string ? v[i + 1]->string : "");
        if (later) {
            v[i]->next = v[i]->prev = NULL;
            cJSON_Delete(v[i]);
        } else {
            v[k++] = v[i];
        }
    }
    for (i = 0; i < k; i++) {
        v[i]->prev = i ? v[i - 1] : v[k - 1];
        v[i]->next = i + 1 < k ? v[i + 1] : NULL;
    }
    j->child = v[0];
    free(v);
}

static bool same_json(const cJSON *a, const cJSON *b)
{
    cJSON *ca = cJSON_Duplicate(a, true), *cb = cJSON_Duplicate(b, true);
    if ((a && !ca) || (b && !cb))
        fail("out of memory");
    canonical(ca);
    canonical(cb);
    char *ta = cJSON_PrintUnformatted(ca), *tb = cJSON_PrintUnformatted(cb);
    cJSON_Delete(ca);
    cJSON_Delete(cb);
    if (!ta || !tb)
        fail("out of memory");
    bool same = strcmp(ta, tb) == 0;
    cJSON_free(ta);
    cJSON_free(tb);
    return same;
}

static void check_rv(const cJSON *obj, const char *rv)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *jrv = cJSON_IsObject(meta) ? cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion") : NULL;
    bool usable = cJSON_IsString(jrv) && *jrv->valuestring && strlen(jrv->valuestring) < KUBE_RV_MAX;
    if (!terminated(rv, KUBE_RV_MAX))
        fail("resourceVersion not terminated");
    if (usable ? strcmp(rv, jrv->valuestring) != 0 : rv[0] != '\0')
        fail("resourceVersion is not the object's usable one");
}

static void check_line(struct kube_store *s, unsigned kind, const char *line, size_t len)
{
    const struct kube_kind *k = &kube_kinds(NULL)[kind];
    size_t before = kube_store_count(s, kind);
    struct kube_line ln;
    memset(&ln, 0x5a, sizeof ln);
    enum ag_result r = kube_store_apply_line(s, kind, line, len, &ln);
    if (ln.type > KUBE_LINE_OTHER)
        fail("line type out of range");
    if (!terminated(ln.message, sizeof ln.message) || !terminated(ln.rv, sizeof ln.rv))
        fail("line fields not terminated");

    /* an independent reading of the line */
    cJSON *j = cJSON_ParseWithLengthOpts(line, len, NULL, 0);
    const cJSON *jt = cJSON_GetObjectItemCaseSensitive(j, "type");
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(j, "object");
    bool event = cJSON_IsString(jt) && cJSON_IsObject(obj);
    if (!event) {
        if (ln.type != KUBE_LINE_BAD || r != AG_EINVAL || kube_store_count(s, kind) != before)
            fail("a line that is no event is not refused as such");
        cJSON_Delete(j);
        return;
    }
    const char *type = jt->valuestring;
    bool change = !strcmp(type, "ADDED") || !strcmp(type, "MODIFIED") || !strcmp(type, "DELETED");
    enum kube_line_type want = change                       ? KUBE_LINE_CHANGE
                               : !strcmp(type, "BOOKMARK") ? KUBE_LINE_BOOKMARK
                               : !strcmp(type, "ERROR")    ? KUBE_LINE_ERROR
                                                           : KUBE_LINE_OTHER;
    if (ln.type != want)
        fail("line type is not the event's type");
    if (ln.type != KUBE_LINE_CHANGE) {
        if (r != AG_OK || kube_store_count(s, kind) != before)
            fail("an event that is no change changed the store or failed");
    }
    if (ln.type == KUBE_LINE_BOOKMARK)
        check_rv(obj, ln.rv);
    if (ln.type == KUBE_LINE_ERROR) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "code");
        if (ln.has_code != cJSON_IsNumber(code) || ln.code != (cJSON_IsNumber(code) ? code->valueint : 0))
            fail("ERROR code is not the object's");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "message");
        const char *want_msg = cJSON_IsString(m) ? m->valuestring : "(no message)";
        size_t wl = strlen(want_msg);
        if (wl > sizeof ln.message - 1)
            wl = sizeof ln.message - 1;
        if (strlen(ln.message) != wl || strncmp(ln.message, want_msg, wl) != 0)
            fail("ERROR message is not the object's (cut to fit)");
    }
    if (ln.type != KUBE_LINE_CHANGE) {
        cJSON_Delete(j);
        return;
    }

    check_rv(obj, ln.rv);
    if (r != AG_OK && r != AG_EINVAL && r != AG_ETOOBIG && r != AG_ENOMEM)
        fail("apply result out of range");
    char key[512];
    bool have_key = event_key(k, obj, key, sizeof key);
    if (r != AG_OK) {
        if (ln.changed || !ln.message[0] || kube_store_count(s, kind) != before)
            fail("a refused change event changed the store or did not say why");
        cJSON_Delete(j);
        return;
    }
    if (!have_key)
        fail("a change event without a usable key was applied");
    bool deleted = !strcmp(type, "DELETED");
    cJSON *stored = kube_store_get(s, kind, key);
    if (deleted) {
        if (stored)
            fail("a deleted object is still stored");
    } else {
        cJSON *pruned = NULL;
        char err[512];
        if (kube_prune(kind, obj, &pruned, err, sizeof err) != AG_OK)
            fail("an applied object does not prune");
        if (!pruned != !stored || (pruned && !same_json(pruned, stored)))
            fail("the stored object is not the event object pruned");
        if (stored) {
            cJSON *again = NULL;
            if (kube_prune(kind, stored, &again, err, sizeof err) != AG_OK || !again || !same_json(again, stored))
                fail("pruning a pruned object changes it");
            cJSON_Delete(again);
        }
        cJSON_Delete(pruned);
    }
    cJSON_Delete(stored);
    if (kube_store_count(s, kind) != before && !ln.changed)
        fail("the count changed without a change");

    /* the same event again changes nothing */
    struct kube_line again;
    r = kube_store_apply_line(s, kind, line, len, &again);
    if (r != AG_OK || again.type != KUBE_LINE_CHANGE || again.changed)
        fail("a change event applied twice changed the store the second time");
    cJSON_Delete(j);
}

static void check_vm_lines(bool is_vmi, const char *text, size_t len)
{
    struct inventory *inv = inventory_new();
    if (!inv)
        fail("out of memory");
    size_t lines = 0;
    for (size_t pos = 0; pos < len && lines < MAX_LINES; lines++) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len, n = end - pos;
        char rv[128] = "", err[512] = "";
        bool ch = false, gone = false;
        uint64_t g = inventory_generation(inv);
        enum ag_result r = vmsource_apply_line(inv, is_vmi, text + pos, n, &ch, rv, sizeof rv, &gone, err, sizeof err);
        if (r != AG_OK && r != AG_EINVAL && r != AG_EIO && r != AG_ENOMEM)
            fail("vmsource_apply_line: result out of range");
        if (!terminated(rv, sizeof rv) || !terminated(err, sizeof err))
            fail("vmsource_apply_line: unterminated rv or err");
        if (ch != (inventory_generation(inv) != g))
            fail("vmsource_apply_line: changed disagrees with the generation");
        if (r == AG_EINVAL && (ch || !err[0]))
            fail("vmsource_apply_line: a refused line changed the inventory or gave no reason");
        if (gone && r != AG_EIO)
            fail("vmsource_apply_line: gone without AG_EIO");
        if (r == AG_OK && ch) {
            r = vmsource_apply_line(inv, is_vmi, text + pos, n, &ch, rv, sizeof rv, &gone, err, sizeof err);
            if (r != AG_OK || ch)
                fail("vmsource_apply_line: the same change twice changed something the second time");
        }
        pos = end + 1;
    }
    if (inventory_count_kind(inv, !is_vmi) != 0)
        fail("vmsource_apply_line: the other kind was touched");
    inventory_free(inv);
}

/* One resync of one kind with `text` as its only page; returns whether it changed anything. */
static bool resync_page(struct inventory *inv, bool is_vmi, const char *text, size_t len, enum ag_result *r)
{
    char rv[128] = "", cont[64] = "x", err[512] = "";
    inventory_sync_begin(inv, is_vmi);
    *r = vmsource_apply_page(inv, is_vmi, text, len, rv, sizeof rv, cont, sizeof cont, err, sizeof err);
    bool ch = inventory_sync_end(inv, is_vmi, *r == AG_OK);
    if (*r != AG_OK && *r != AG_EINVAL && *r != AG_ETOOBIG && *r != AG_ENOMEM)
        fail("vmsource_apply_page: result out of range");
    if (!terminated(rv, sizeof rv) || !terminated(cont, sizeof cont) || !terminated(err, sizeof err))
        fail("vmsource_apply_page: unterminated rv, continue or err");
    if (*r != AG_OK && (strncmp(err, "list of ", 8) != 0 || cont[0]))
        fail("vmsource_apply_page: refused without a reason, or with a continue token");
    return ch;
}

static void check_vm_page(bool is_vmi, const char *text, size_t len)
{
    struct inventory *inv = inventory_new();
    if (!inv)
        fail("out of memory");
    enum ag_result r1, r2, r3;
    resync_page(inv, is_vmi, text, len, &r1);
    size_t n = inventory_count_kind(inv, is_vmi);
    bool ch2 = resync_page(inv, is_vmi, text, len, &r2);
    if (r2 != r1 || inventory_count_kind(inv, is_vmi) != n)
        fail("vmsource_apply_page: the same page again gave another result or other VMs");
    bool ch3 = resync_page(inv, is_vmi, text, len, &r3);
    if (r3 != r1 || ch3 != ch2 || inventory_count_kind(inv, is_vmi) != n)
        fail("vmsource_apply_page: not deterministic");
    if (inventory_count_kind(inv, !is_vmi) != 0)
        fail("vmsource_apply_page: the other kind was touched");
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
    if (size == 0)
        return 0;
    long live = mem_live();
    if (data[0] == 'v' || data[0] == 'i' || data[0] == 'V' || data[0] == 'I') {
        if (data[0] == 'v' || data[0] == 'i')
            check_vm_lines(data[0] == 'i', (const char *)data + 1, size - 1);
        else
            check_vm_page(data[0] == 'I', (const char *)data + 1, size - 1);
        if (mem_live() != live)
            fail("the VM inventory leaked");
        return 0;
    }
    unsigned kind = data[0] % KK_COUNT;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    struct kube_store *s = kube_store_new();
    if (!s)
        fail("out of memory");
    size_t lines = 0;
    for (size_t pos = 0; pos < len && lines < MAX_LINES; lines++) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        /* a line is handed over without its newline (as kube_client_stream does) */
        check_line(s, kind, text + pos, end - pos);
        pos = end + 1;
    }

    size_t refused = 0;
    char err[512];
    struct snapshot *snap = kube_store_build(s, &refused, err, sizeof err);
    if (!snap)
        fail("kube_store_build returned NULL without a catalog or an allocation failure");
    size_t count = kube_store_count(s, kind), have = 0;
    switch (kind) {
    case KK_NODE: have = snap->nnodes; break;
    case KK_DATASOURCE: have = snap->ndatasources; break;
    case KK_PVC: have = snap->npvcs; break;
    case KK_CLUSTER_PREFERENCE:
    case KK_PREFERENCE: have = snap->npreferences; break;
    default: have = count - refused; break;     /* at most one HyperConverged / KubeVirt is used */
    }
    if (refused > count || have + refused != count)
        fail("the snapshot does not hold every stored object the builder accepted");
    snapshot_release(snap);
    kube_store_free(s);
    if (mem_live() != live)
        fail("allocations outlive the input");
    return 0;
}
