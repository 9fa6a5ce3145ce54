/* hco_review.c - warnings for a HyperConverged CREATE or UPDATE: each enabled custom golden image
 * (DataImportCronTemplate) against the workload node architectures while multi-architecture
 * boot images are on, as HCO will treat it (filter the ssp.kubevirt.io/dict.architectures list
 * down to the workload architectures; deploy nothing when none is left), and multi-architecture
 * boot images turned off on heterogeneous workload nodes. An UPDATE that changes none of the
 * fields read here gets no warning. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "hco/hco_review.h"
#include "arch.h"

struct dict {
    const char *name;
    bool enabled;
    const char *archs;          /* the annotation, NULL when absent */
    const char *url;            /* spec.template.spec.source.registry.url, NULL when absent */
};

struct hco_view {
    struct hco_settings settings;
    const cJSON *placement;     /* the placement object, for comparing two versions */
    struct dict *dicts;
    size_t ndicts, total;       /* read, and present in the spec */
};

static const cJSON *member(const cJSON *o, const char *key)
{
    const cJSON *m = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    return cJSON_IsNull(m) ? NULL : m;
}

static const char *string_at(const cJSON *o, const char *key)
{
    const cJSON *m = member(o, key);
    return cJSON_IsString(m) ? m->valuestring : NULL;
}

/* The DataImportCronTemplates: v1's spec.workloadSources list when present, else spec's. */
static const cJSON *dict_list(const cJSON *spec)
{
    const cJSON *l = member(member(spec, "workloadSources"), "dataImportCronTemplates");
    return cJSON_IsArray(l) ? l : member(spec, "dataImportCronTemplates");
}

static enum ag_result read_view(const cJSON *obj, struct pool *pool, struct hco_view *v, char *err, size_t errlen)
{
    memset(v, 0, sizeof *v);
    enum ag_result r = cluster_read_hco(obj, pool, &v->settings, err, errlen);
    if (r != AG_OK)
        return r;
    const cJSON *spec = member(obj, "spec");
    v->placement = member(member(member(spec, "deployment"), "nodePlacements"), "workload");
    if (!v->placement)
        v->placement = member(member(spec, "workloads"), "nodePlacement");
    const cJSON *list = dict_list(spec), *it;
    if (list && !cJSON_IsArray(list)) {
        snprintf(err, errlen, "spec.dataImportCronTemplates: not a list");
        return AG_EINVAL;
    }
    size_t n = (size_t)cJSON_GetArraySize(list);
    v->total = n;
    if (n > HCO_REVIEW_MAX_DICTS)
        n = HCO_REVIEW_MAX_DICTS;
    if (n && !(v->dicts = pool_alloc(pool, n * sizeof *v->dicts)))
        return AG_ENOMEM;
    cJSON_ArrayForEach(it, list) {
        if (v->ndicts == n)
            break;
        const cJSON *meta = member(it, "metadata"), *annots = member(meta, "annotations");
        const char *name = string_at(meta, "name"), *enable = string_at(annots, ANNOT_DICT_ENABLE);
        struct dict *d = &v->dicts[v->ndicts++];
        d->name = name && *name ? name : "(unnamed)";
        /* HCO: enabled when the annotation is absent or says "true" in any case; any other value turns it off */
        d->enabled = !enable || strcasecmp(enable, "true") == 0;
        d->archs = string_at(annots, ANNOT_DICT_ARCHS);
        const cJSON *reg = member(member(member(member(member(it, "spec"), "template"), "spec"), "source"),
                                  "registry");
        d->url = string_at(reg, "url");
    }
    return AG_OK;
}

static bool same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* Nothing read here differs between the two versions. */
static bool same_view(const struct hco_view *a, const struct hco_view *b)
{
    if (a->settings.multiarch != b->settings.multiarch || a->ndicts != b->ndicts || a->total != b->total)
        return false;
    if ((a->placement || b->placement) &&
        (!a->placement || !b->placement || !cJSON_Compare(a->placement, b->placement, true)))
        return false;
    for (size_t i = 0; i < a->ndicts; i++) {
        const struct dict *x = &a->dicts[i], *y = &b->dicts[i];
        if (!same_str(x->name, y->name) || x->enabled != y->enabled || !same_str(x->archs, y->archs) ||
            !same_str(x->url, y->url))
            return false;
    }
    return true;
}

/* Append a warning, cut to fit WARNING_MAX_LEN at a character boundary. */
static enum ag_result warn(struct hco_review_result *out, struct pool *pool, enum hco_warning_kind kind,
                           const char *text)
{
    if (!text)
        return AG_ENOMEM;
    if (out->nwarnings >= VERDICT_MAX_WARNINGS)
        return AG_OK;
    size_t n = strlen(text);
    char *w = NULL;
    if (n < WARNING_MAX_LEN) {
        w = (char *)text;
    } else {
        n = WARNING_MAX_LEN - 4;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
            n--;
        if (!(w = pool_printf(pool, "%.*s...", (int)n, text)))
            return AG_ENOMEM;
    }
    out->warnings[out->nwarnings] = w;
    out->kinds[out->nwarnings] = kind;
    out->nwarnings++;
    return AG_OK;
}

/* The warnings of one enabled DICT under workload architectures `w` (at most a few). */
struct dict_notes {
    enum hco_warning_kind kind[4];
    const char *text[4];
    size_t n;
};

static enum ag_result note(struct dict_notes *dn, enum hco_warning_kind k, const char *text)
{
    if (!text)
        return AG_ENOMEM;
    if (dn->n < 4) {
        dn->kind[dn->n] = k;
        dn->text[dn->n] = text;
        dn->n++;
    }
    return AG_OK;
}

static const struct hco_registry_answer *answer_for(const struct hco_review_input *in, const char *url)
{
    for (size_t i = 0; url && i < in->nregistry; i++)
        if (in->registry[i].url && strcmp(in->registry[i].url, url) == 0 && in->registry[i].archs)
            return &in->registry[i];
    return NULL;
}

/* The annotation against what the registry lists, both ways. */
static enum ag_result compare_registry(const struct dict *d, archset listed, const struct hco_registry_answer *a,
                                       struct pool *pool, struct dict_notes *dn)
{
    char a1[64], a2[64];
    const char *what = a->from_index ? "registry index" : "registry image";
    if (listed & ~a->archs)
        return note(dn, HW_REGISTRY_DIFFERS,
                    pool_printf(pool, "golden image %s: annotated %s, but its %s lists only %s", d->name,
                                arch_set_format(listed & ~a->archs, a1, sizeof a1), what,
                                arch_set_format(a->archs, a2, sizeof a2)));
    if (a->archs & ~listed)
        return note(dn, HW_REGISTRY_DIFFERS,
                    pool_printf(pool, "golden image %s: its %s also lists %s, which the annotation leaves out", d->name,
                                what, arch_set_format(a->archs & ~listed, a1, sizeof a1)));
    return AG_OK;
}

static enum ag_result judge_dict(const struct dict *d, archset w, const struct hco_registry_answer *reg,
                                 struct pool *pool, struct dict_notes *dn)
{
    char a1[64], a2[64];
    memset(dn, 0, sizeof *dn);
    if (!d->archs)
        return note(dn, HW_NO_ANNOTATION,
                    pool_printf(pool, "golden image %s: annotate " ANNOT_DICT_ARCHS " or HCO will not deploy it",
                                d->name));
    archset listed = 0;
    const char *p = d->archs;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[32];
        if (len == 0) {
            if (note(dn, HW_MALFORMED, pool_printf(pool, "golden image %s: " ANNOT_DICT_ARCHS " has an empty item",
                                                   d->name)) != AG_OK)
                return AG_ENOMEM;
        } else {
            snprintf(item, sizeof item, "%.*s", (int)(len < sizeof item ? len : sizeof item - 1), p);
            int id = arch_parse(item);
            if (id == ARCH_NONE || len >= sizeof item) {
                if (note(dn, HW_MALFORMED, pool_printf(pool, "golden image %s: %s is not an architecture name",
                                                       d->name, item)) != AG_OK)
                    return AG_ENOMEM;
            } else if (strcmp(item, arch_name(id)) != 0) {
                /* HCO compares the items with the nodes' GOARCH names as written */
                if (note(dn, HW_MALFORMED, pool_printf(pool, "golden image %s: HCO matches %s, not %s",
                                                       d->name, arch_name(id), item)) != AG_OK)
                    return AG_ENOMEM;
            } else {
                listed |= arch_bit(id);
            }
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    if (!listed) {
        if (dn->n == 0)
            return note(dn, HW_NO_SUPPORTED_ARCH,
                        pool_printf(pool, "golden image %s: the architecture annotation lists nothing: HCO will "
                                          "not deploy it", d->name));
        return AG_OK;
    }
    if (reg && compare_registry(d, listed, reg, pool, dn) != AG_OK)
        return AG_ENOMEM;
    if (!(listed & w))
        return note(dn, HW_NO_SUPPORTED_ARCH,
                    pool_printf(pool, "golden image %s: annotated %s, but no workload node runs it: HCO will not "
                                      "deploy it", d->name, arch_set_format(listed, a1, sizeof a1)));
    if (listed & ~w)
        return note(dn, HW_ARCHS_DROPPED,
                    pool_printf(pool, "golden image %s: HCO will drop %s (no workload node) and keep %s", d->name,
                                arch_set_format(listed & ~w, a1, sizeof a1), arch_set_format(listed & w, a2, sizeof a2)));
    return AG_OK;
}

enum ag_result hco_review_sources(const struct hco_review_input *in, struct pool *pool, const char ***urls,
                                  size_t *n)
{
    char err[256];
    struct hco_view now, before;
    *urls = NULL;
    *n = 0;
    enum ag_result r = read_view(in->object, pool, &now, err, sizeof err);
    if (r != AG_OK)
        return r == AG_ENOMEM ? r : AG_OK;
    if (now.settings.multiarch != HCO_MULTIARCH_ON || now.ndicts == 0)
        return AG_OK;
    if (in->old_object) {
        r = read_view(in->old_object, pool, &before, err, sizeof err);
        if (r == AG_ENOMEM)
            return r;
        if (r == AG_OK && same_view(&now, &before))
            return AG_OK;
    }
    const char **u = pool_alloc(pool, now.ndicts * sizeof *u);
    if (!u)
        return AG_ENOMEM;
    for (size_t i = 0; i < now.ndicts; i++) {
        const struct dict *d = &now.dicts[i];
        if (!d->enabled || !d->archs || !d->url)
            continue;
        bool seen = false;
        for (size_t j = 0; j < *n && !seen; j++)
            seen = strcmp(u[j], d->url) == 0;
        if (!seen)
            u[(*n)++] = d->url;
    }
    *urls = u;
    return AG_OK;
}

bool hco_review_placement_change(const struct hco_review_input *in, struct pool *pool, struct hco_settings *after)
{
    char err[256];
    struct hco_view now, before;
    if (!in->old_object || read_view(in->object, pool, &now, err, sizeof err) != AG_OK ||
        read_view(in->old_object, pool, &before, err, sizeof err) != AG_OK)
        return false;
    bool same = (!now.placement && !before.placement) ||
                (now.placement && before.placement && cJSON_Compare(now.placement, before.placement, true));
    if (same)
        return false;
    *after = now.settings;
    return true;
}

enum ag_result hco_review(const struct hco_review_input *in, struct pool *pool, struct hco_review_result *out)
{
    char err[256] = "", a1[64];
    struct hco_view now, before;
    enum ag_result r;
    memset(out, 0, sizeof *out);

    r = read_view(in->object, pool, &now, err, sizeof err);
    if (r == AG_ENOMEM)
        return r;
    if (r != AG_OK) {
        out->outcome = HO_UNREADABLE;
        return warn(out, pool, HW_UNREADABLE, pool_printf(pool, "archgate cannot read this HyperConverged: %s", err));
    }
    bool have_before = false;
    if (in->old_object) {
        r = read_view(in->old_object, pool, &before, err, sizeof err);
        if (r == AG_ENOMEM)
            return r;
        have_before = r == AG_OK;
        if (have_before && same_view(&now, &before)) {
            out->outcome = HO_UNCHANGED;
            return AG_OK;
        }
    }

    archset w = in->snap ? cluster_workload_archs(in->snap, &now.settings, NULL) : 0;

    /* multi-architecture boot images turned off (or created off) on heterogeneous workload nodes */
    if (now.settings.multiarch != HCO_MULTIARCH_ON && arch_set_count(w) > 1) {
        bool was = have_before && before.settings.multiarch != HCO_MULTIARCH_ON &&
                   arch_set_count(cluster_workload_archs(in->snap, &before.settings, NULL)) > 1;
        if (!was &&
            warn(out, pool, HW_GATE_OFF,
                 pool_printf(pool, "multi-arch boot images are off while workload nodes run %s: golden images "
                                   "may not boot on all of them", arch_set_format(w, a1, sizeof a1))) != AG_OK)
            return AG_ENOMEM;
    }

    /* existing VMs the edited placement leaves without a node for their image */
    if (in->nstranded) {
        char names[160] = "";
        size_t used = 0;
        for (size_t i = 0; i < in->nstranded_names && i < 3; i++) {
            int k = snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", in->stranded[i]);
            if (k < 0 || (size_t)k >= sizeof names - used)
                break;
            used += (size_t)k;
        }
        if (warn(out, pool, HW_STRANDS_VMS,
                 pool_printf(pool, "this placement leaves %zu VM%s without a node for its image: %s%s", in->nstranded,
                             in->nstranded == 1 ? "" : "s", names, in->nstranded > 3 ? ", ..." : "")) != AG_OK)
            return AG_ENOMEM;
    }

    /* custom golden images, while multi-architecture boot images are (or become) on */
    if (now.settings.multiarch == HCO_MULTIARCH_ON) {
        size_t shown = 0, more = 0;
        for (size_t i = 0; i < now.ndicts; i++) {
            const struct dict *d = &now.dicts[i];
            struct dict_notes dn;
            if (!d->enabled)
                continue;
            if ((r = judge_dict(d, w, answer_for(in, d->url), pool, &dn)) != AG_OK)
                return r;
            for (size_t j = 0; j < dn.n; j++) {
                if (shown < HCO_REVIEW_MAX_DICT_WARNINGS && out->nwarnings < VERDICT_MAX_WARNINGS - 1) {
                    if ((r = warn(out, pool, dn.kind[j], dn.text[j])) != AG_OK)
                        return r;
                    shown++;
                } else {
                    more++;
                }
            }
        }
        if (more &&
            warn(out, pool, HW_SUMMARY,
                 pool_printf(pool, "and %zu more golden-image warnings (%zu DataImportCronTemplates%s)", more,
                             now.total, now.total > now.ndicts ? ", the first 1000 read" : "")) != AG_OK)
            return AG_ENOMEM;
    }
    out->outcome = out->nwarnings ? HO_WARNED : HO_SILENT;
    return AG_OK;
}

const char *hco_warning_kind_name(enum hco_warning_kind k)
{
    static const char *const names[HW_COUNT] = {
        [HW_NO_ANNOTATION] = "no_annotation", [HW_MALFORMED] = "malformed_annotation",
        [HW_NO_SUPPORTED_ARCH] = "no_supported_architecture", [HW_ARCHS_DROPPED] = "architectures_dropped",
        [HW_REGISTRY_DIFFERS] = "registry_differs", [HW_GATE_OFF] = "multi_arch_off",
        [HW_STRANDS_VMS] = "strands_vms", [HW_UNREADABLE] = "unreadable", [HW_SUMMARY] = "summary",
    };
    return (unsigned)k < HW_COUNT ? names[k] : "unknown";
}

const char *hco_outcome_name(enum hco_outcome o)
{
    static const char *const names[HO_COUNT] = {
        [HO_SILENT] = "silent", [HO_WARNED] = "warned", [HO_UNCHANGED] = "unchanged", [HO_UNREADABLE] = "unreadable",
    };
    return (unsigned)o < HO_COUNT ? names[o] : "unknown";
}
