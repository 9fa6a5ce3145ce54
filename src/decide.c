/* decide.c - the decision (docs/design.md "The decision"): the requested architecture,
 * the boot images' architectures, the eligible nodes, and from them the verdict of /validate
 * (deny causes, warnings) or of /mutate (a patch that pins the architecture, warnings).
 * Pure: reads the facts, the snapshot and the policy; writes only into the caller's pool. */
#include <stdio.h>
#include <string.h>
#include "decide.h"
#include "eligible.h"

#define CAUSE_TYPE "FieldValueInvalid"
#define TEXT_LIMIT 16384        /* longest message built from a VM's images */
#define CENSUS_TEXT 4096
#define ALL_ARCHS ((archset)((1u << ARCH_COUNT) - 1))

struct sb;

/* One boot image: its architectures (0 = unknown) and how messages name it. */
struct img_info {
    archset archs;
    const char *desc;
};

/* Everything derived from the facts and the snapshot, shared by both endpoints. */
struct ctx {
    const struct decide_input *in;
    const struct vm_facts *vm;
    const struct snapshot *s;
    const struct policy *p;
    struct pool *pool;
    struct verdict *out;
    const char *spec;           /* "spec.template.spec" or "spec" */
    const char *ptr;            /* "/spec/template/spec" or "/spec" */
    bool multi;

    int r;                      /* requested architecture, ARCH_NONE when unset or invalid */
    bool r_invalid;
    const struct preference *pref;

    archset i;                  /* intersection of the known image architectures */
    bool i_known;               /* at least one image has a known architecture */
    bool i_bad;                 /* invalid annotation or disagreeing disks: rules 1, 3, 5 skip */
    struct img_info *imgs;      /* known images, in volume order */
    size_t nimgs;
    const char *image_text;     /* "image <desc>" / "images <d1>, <d2>" */
    struct sb *unknown;         /* images whose architecture is unknown, for the deny message */

    struct census census;
    archset e, h;

    enum reason_class rc_cause, rc_warn, rc_patch;  /* the first reason of each kind */
    const char *census_text;    /* lazily built */
};

/* ---- small string builder in the pool, bounded by TEXT_LIMIT ---- */

struct sb {
    struct pool *pool;
    char *buf;
    size_t len, cap;
    bool oom, cut;
};

static void sb_add(struct sb *b, const char *s)
{
    if (b->oom || b->cut)
        return;
    size_t n = strlen(s);
    if (b->len + n > TEXT_LIMIT) {
        n = TEXT_LIMIT - b->len;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;    /* never split a UTF-8 sequence */
        b->cut = true;
    }
    if (b->len + n + 4 > b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 256;
        while (ncap < b->len + n + 4)
            ncap *= 2;
        char *nb = pool_alloc(b->pool, ncap);
        if (!nb) {
            b->oom = true;
            return;
        }
        if (b->len)
            memcpy(nb, b->buf, b->len);
        b->buf = nb;
        b->cap = ncap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    if (b->cut) {
        memcpy(b->buf + b->len, "...", 3);
        b->len += 3;
    }
    b->buf[b->len] = '\0';
}

static const char *sb_done(struct sb *b)
{
    if (b->oom)
        return NULL;
    if (!b->buf)
        return pool_strdup(b->pool, "");
    return b->buf;
}

/* ---- helpers ---- */

/* "amd64" or "amd64<sep>arm64" in canonical order. */
static const char *archs_text(struct pool *pool, archset set, const char *sep)
{
    char buf[128];
    size_t len = 0;
    buf[0] = '\0';
    for (int a = 0; a < ARCH_COUNT; a++) {
        if (!arch_in(set, a))
            continue;
        int w = snprintf(buf + len, sizeof buf - len, "%s%s", len ? sep : "", arch_name(a));
        if (w < 0 || (size_t)w >= sizeof buf - len)
            break;
        len += (size_t)w;
    }
    return pool_strdup(pool, len ? buf : "none");
}

static const char *census_text(struct ctx *c)
{
    if (!c->census_text) {
        char buf[CENSUS_TEXT];
        eligible_describe(&c->census, buf, sizeof buf);
        c->census_text = pool_strdup(c->pool, buf);
    }
    return c->census_text;
}

/* A warning shortened to fit WARNING_MAX_LEN: first without its trailing parenthetical, then
 * cut on a UTF-8 boundary with "...". */
static const char *fit_warning(struct pool *pool, const char *w)
{
    size_t max = WARNING_MAX_LEN - 1;
    size_t len = strlen(w);
    if (len <= max)
        return w;
    if (w[len - 1] == ')') {
        int depth = 0;
        size_t k = len;
        while (k > 0) {
            k--;
            if (w[k] == ')')
                depth++;
            else if (w[k] == '(' && --depth == 0)
                break;
        }
        if (depth == 0 && k > 0 && w[k] == '(' && w[k - 1] == ' ') {
            len = k - 1;
            if (len <= max)
                return pool_strndup(pool, w, len);
        }
    }
    size_t cut = max - 3;
    while (cut > 0 && ((unsigned char)w[cut] & 0xC0) == 0x80)
        cut--;
    return pool_printf(pool, "%.*s...", (int)cut, w);
}

static void note(enum reason_class *slot, enum reason_class rc)
{
    if (*slot == RC_NONE)
        *slot = rc;
}

static enum ag_result add_warning(struct ctx *c, const char *w)
{
    if (!w)
        return AG_ENOMEM;
    const char *fit = fit_warning(c->pool, w);
    if (!fit)
        return AG_ENOMEM;
    if (c->out->nwarnings < VERDICT_MAX_WARNINGS)
        c->out->warnings[c->out->nwarnings++] = fit;
    return AG_OK;
}

static enum ag_result add_cause(struct ctx *c, const char *field, const char *msg)
{
    if (!field || !msg)
        return AG_ENOMEM;
    if (c->out->ncauses < VERDICT_MAX_CAUSES) {
        struct cause *k = &c->out->causes[c->out->ncauses++];
        k->type = CAUSE_TYPE;
        k->field = field;
        k->message = msg;
    }
    return AG_OK;
}

static const char *field(struct ctx *c, const char *leaf)
{
    return pool_printf(c->pool, "%s.%s", c->spec, leaf);
}

/* ---- R: the requested architecture ---- */

static enum ag_result requested_arch(struct ctx *c)
{
    const struct vm_facts *vm = c->vm;
    c->r = ARCH_NONE;
    if (vm->arch) {
        int a = arch_parse(vm->arch);
        if (a == ARCH_NONE || !arch_is_vm_capable(a)) {
            c->r_invalid = true;
            return AG_OK;
        }
        c->r = a;
        return AG_OK;
    }
    if (vm->pref_name) {
        c->pref = snapshot_find_preference(c->s, vm->pref_cluster ? NULL : vm->ns, vm->pref_name);
        if (c->pref)
            c->r = c->pref->required_arch;
    }
    return AG_OK;
}

/* ---- I: the image architectures ---- */

static archset datasource_archs(const struct snapshot *s, const struct datasource *ds)
{
    if (!ds)
        return 0;
    if (ds->has_label)
        return arch_bit(ds->label_arch);
    if (!ds->ptr_name)
        return 0;
    const struct datasource *to = snapshot_find_datasource(s, ds->ptr_ns ? ds->ptr_ns : ds->ns, ds->ptr_name);
    if (!to || !to->has_label)
        return 0;
    return arch_bit(to->label_arch);
}

/* What the snapshot alone says an image runs on: its DataSource, its PVC, the architecture a
 * registry image names, the catalog's entry for a containerDisk; 0 when it says nothing. */
static archset snapshot_image_archs(const struct snapshot *s, const struct vm_image *im)
{
    if (!im->name)
        return 0;
    switch (im->kind) {
    case IMG_DATASOURCE:
        return datasource_archs(s, snapshot_find_datasource(s, im->ns, im->name));
    case IMG_REGISTRY:
        return arch_bit(arch_parse(im->arch_str));
    case IMG_PVC: {
        const struct pvc *pv = snapshot_find_pvc(s, im->ns, im->name);
        return pv ? pv->archs : 0;
    }
    case IMG_CONTAINERDISK:
        return snapshot_catalog_lookup(s, im->name);
    }
    return 0;
}

archset decide_known_image_archs(const struct snapshot *s, const struct vm_facts *f)
{
    if (f->annot_archs) {
        archset set = 0;
        return arch_set_parse_list(f->annot_archs, &set) ? set : 0;
    }
    archset all = (archset)~0u;
    bool known = false;
    for (size_t k = 0; k < f->nimages; k++) {
        archset set = snapshot_image_archs(s, &f->images[k]);
        if (set) {
            all &= set;
            known = true;
        }
    }
    return known ? all : 0;
}

static enum ag_result image_archs(struct ctx *c)
{
    const struct vm_facts *vm = c->vm;
    char abuf[128];

    if (vm->annot_archs) {
        archset set = 0;
        if (!arch_set_parse_list(vm->annot_archs, &set)) {
            c->i_bad = true;
            return AG_OK;
        }
        c->imgs = pool_alloc(c->pool, sizeof *c->imgs);
        if (!c->imgs)
            return AG_ENOMEM;
        c->imgs[0].archs = set;
        c->imgs[0].desc = pool_printf(c->pool, "annotation %s (%s)", ANNOT_IMAGE_ARCHS,
                                      arch_set_format(set, abuf, sizeof abuf));
        if (!c->imgs[0].desc)
            return AG_ENOMEM;
        c->nimgs = 1;
        c->i = set;
        c->i_known = true;
    } else if (vm->nimages > 0) {
        c->imgs = pool_alloc(c->pool, vm->nimages * sizeof *c->imgs);
        c->unknown = pool_zalloc(c->pool, sizeof *c->unknown);
        if (!c->imgs || !c->unknown)
            return AG_ENOMEM;
        c->unknown->pool = c->pool;
        archset all = (archset)~0u;
        for (size_t k = 0; k < vm->nimages; k++) {
            const struct vm_image *im = &vm->images[k];
            const struct image_resolution *res = c->in->resolved ? &c->in->resolved[k] : NULL;
            const char *src = NULL;     /* the registry said it (after the catalog) */
            archset set = snapshot_image_archs(c->s, im);
            const char *what = im->kind == IMG_DATASOURCE ? "DataSource"
                             : im->kind == IMG_REGISTRY ? "registry image"
                             : im->kind == IMG_PVC ? "PVC" : "containerDisk image";
            /* the registry answers for what the snapshot cannot say (a tag without an architecture) */
            if (!set && res && res->archs &&
                ((im->kind == IMG_REGISTRY && !im->arch_str) || im->kind == IMG_CONTAINERDISK))
                set = res->archs, src = res->source;
            if (!im->name)
                continue;
            if (!set) {
                sb_add(c->unknown, c->unknown->len ? ", " : "");
                sb_add(c->unknown, what);
                sb_add(c->unknown, " ");
                if (im->kind == IMG_DATASOURCE || im->kind == IMG_PVC) {
                    sb_add(c->unknown, im->ns ? im->ns : "");
                    sb_add(c->unknown, "/");
                }
                sb_add(c->unknown, im->name);
                continue;
            }
            const char *fmt = arch_set_format(set, abuf, sizeof abuf);
            const char *desc = src
                ? pool_printf(c->pool, "%s %s (%s: %s)", im->kind == IMG_CONTAINERDISK ? "containerDisk" : what,
                              im->name, src, fmt)
                : (im->kind == IMG_DATASOURCE || im->kind == IMG_PVC)
                ? pool_printf(c->pool, "%s %s/%s (%s)", what, im->ns ? im->ns : "", im->name, fmt)
                : pool_printf(c->pool, "%s %s (%s)", what, im->name, fmt);
            if (!desc)
                return AG_ENOMEM;
            c->imgs[c->nimgs].archs = set;
            c->imgs[c->nimgs].desc = desc;
            c->nimgs++;
            all &= set;
        }
        if (c->nimgs > 0) {
            c->i_known = true;
            c->i = all;
            if (all == 0)
                c->i_bad = true;    /* disks disagree */
        }
    }

    if (c->nimgs > 0) {
        struct sb b = { .pool = c->pool };
        sb_add(&b, c->nimgs == 1 ? "image " : "images ");
        for (size_t k = 0; k < c->nimgs; k++) {
            if (k)
                sb_add(&b, ", ");
            sb_add(&b, c->imgs[k].desc);
        }
        c->image_text = sb_done(&b);
        if (!c->image_text)
            return AG_ENOMEM;
    }
    return AG_OK;
}

/* ---- /validate ---- */

/* How one node rule judges the VM: passed, held (only cordoned or not-ready nodes could run it:
 * a warning), or failed (no node at all: a denial). */
enum judgement { J_PASS = 0, J_HELD, J_FAIL };

static enum ag_result validate(struct ctx *c)
{
    const struct vm_facts *vm = c->vm;
    enum ag_result r;
    char abuf[128];

    if (c->r_invalid) {
        note(&c->rc_cause, RC_UNSUPPORTED_ARCH);
        r = add_cause(c, field(c, "architecture"),
                      pool_printf(c->pool, "architecture \"%s\" is not supported (use amd64, arm64 or s390x)",
                                  vm->arch));
        if (r != AG_OK)
            return r;
    }
    if (vm->annot_archs && c->i_bad) {
        note(&c->rc_cause, RC_BAD_ANNOTATION);
        r = add_cause(c, pool_printf(c->pool, "metadata.annotations[%s]", ANNOT_IMAGE_ARCHS),
                      pool_printf(c->pool, "annotation %s \"%s\" is not a comma list of architectures",
                                  ANNOT_IMAGE_ARCHS, vm->annot_archs));
        if (r != AG_OK)
            return r;
    }
    if (!vm->annot_archs && c->i_bad) {
        struct sb b = { .pool = c->pool };
        sb_add(&b, "the boot disks disagree on architecture: ");
        for (size_t k = 0; k < c->nimgs; k++) {
            if (k)
                sb_add(&b, ", ");
            sb_add(&b, c->imgs[k].desc);
        }
        sb_add(&b, "; one VM cannot boot images of different architectures");
        note(&c->rc_cause, RC_DISKS_DISAGREE);
        r = add_cause(c, field(c, "volumes"), sb_done(&b));
        if (r != AG_OK)
            return r;
    }

    bool use_i = c->i_known && !c->i_bad;

    /* 1. R contradicts the image. */
    if (c->r != ARCH_NONE && use_i && !arch_in(c->i, c->r)) {
        note(&c->rc_cause, RC_IMAGE_ARCH_MISMATCH);
        r = add_cause(c, field(c, "architecture"),
                      pool_printf(c->pool, "architecture %s does not match the boot image: %s is built for %s",
                                  arch_name(c->r), c->image_text, arch_set_format(c->i, abuf, sizeof abuf)));
        if (r != AG_OK)
            return r;
    }

    /* 2. The user's kubernetes.io/arch node selector contradicts R. */
    if (vm->sel_arch && c->r != ARCH_NONE && arch_parse(vm->sel_arch) != c->r) {
        note(&c->rc_cause, RC_NODE_SELECTOR_CONFLICT);
        r = add_cause(c, field(c, "nodeSelector"),
                      pool_printf(c->pool, "nodeSelector %s=%s contradicts architecture %s; "
                                  "KubeVirt would schedule the VM on %s nodes",
                                  LABEL_ARCH, vm->sel_arch, arch_name(c->r), vm->sel_arch));
        if (r != AG_OK)
            return r;
    }

    /* Rules 3 and 4 are judged each on its own: a rule fails (deny) when no node at all could run
     * what it asks for, and is only held (a warning in place of the denial) when cordoned or
     * not-ready nodes could. Rule 3's warning speaks for the image's architectures those nodes
     * have, never for a requested architecture that has no node. */
    enum judgement j3 = J_PASS, j4 = J_PASS;
    if (use_i && (c->e & c->i) == 0)
        j3 = (c->h & c->i) ? J_HELD : J_FAIL;
    if (c->r != ARCH_NONE && !arch_in(c->e, c->r))
        j4 = arch_in(c->h, c->r) ? J_HELD : J_FAIL;

    /* 3. No eligible node runs the image. */
    if (j3 != J_PASS) {
        const char *d = census_text(c);
        if (!d)
            return AG_ENOMEM;
        if (j3 == J_HELD) {
            note(&c->rc_warn, RC_CORDONED_ONLY);
            r = add_warning(c, pool_printf(c->pool, "%s can only run on cordoned or not-ready nodes (%s)",
                                           c->image_text, d));
        } else {
            const char *built = archs_text(c->pool, c->i, ", ");
            const char *runs = archs_text(c->pool, c->i, " or ");
            if (!built || !runs)
                return AG_ENOMEM;
            note(&c->rc_cause, RC_NO_NODE_FOR_IMAGE);
            r = add_cause(c, field(c, "volumes"),
                          pool_printf(c->pool, "%s is built for %s, but no eligible node runs %s (%s)",
                                      c->image_text, built, runs, d));
        }
        if (r != AG_OK)
            return r;
    }

    /* 4. No eligible node runs R. Its message is left out only when rule 3 already said the same
     * thing about R: the same judgement, over an image set that contains R. */
    if (j4 != J_PASS && !(j4 == j3 && use_i && arch_in(c->i, c->r))) {
        const char *d = census_text(c);
        if (!d)
            return AG_ENOMEM;
        if (j4 == J_HELD) {
            note(&c->rc_warn, RC_CORDONED_ONLY);
            r = add_warning(c, pool_printf(c->pool, "architecture %s can only run on cordoned or not-ready nodes (%s)",
                                           arch_name(c->r), d));
        } else {
            note(&c->rc_cause, RC_NO_NODE_FOR_ARCH);
            r = add_cause(c, field(c, "architecture"),
                          pool_printf(c->pool, "architecture %s is requested, but no eligible node runs %s (%s)",
                                      arch_name(c->r), arch_name(c->r), d));
        }
        if (r != AG_OK)
            return r;
    }

    /* 5. Unknown image, no requested architecture. */
    if (!c->i_known && !c->i_bad && c->r == ARCH_NONE && !c->r_invalid) {
        switch (c->p->unknown_image) {
        case UNKNOWN_IMAGE_WARN:
            note(&c->rc_warn, RC_UNKNOWN_IMAGE);
            r = add_warning(c, pool_strdup(c->pool, "the boot image architecture is unknown; "
                                           "the VM may be scheduled on a node that cannot boot it"));
            for (size_t k = 0; r == AG_OK && c->in->resolved && k < vm->nimages; k++)
                if (c->in->resolved[k].why && !c->in->resolved[k].archs)
                    r = add_warning(c, c->in->resolved[k].why);     /* why the registry did not say */
            break;
        case UNKNOWN_IMAGE_DENY: {
            const char *which = c->unknown ? sb_done(c->unknown) : "";
            if (!which)
                return AG_ENOMEM;
            const char *why = NULL;     /* the registry's reason, for the first image it did not answer */
            for (size_t k = 0; !why && c->in->resolved && k < vm->nimages; k++)
                if (c->in->resolved[k].why && !c->in->resolved[k].archs)
                    why = c->in->resolved[k].why;
            note(&c->rc_cause, RC_UNKNOWN_IMAGE);
            r = add_cause(c, field(c, "volumes"),
                          pool_printf(c->pool, "the boot image architecture is unknown (%s) and unknown images are "
                                      "refused; label the DataSource or PVC with %s or set %s.architecture%s%s",
                                      *which ? which : "no disk names a known image source",
                                      LABEL_IMAGE_ARCH, c->spec, why ? "; " : "", why ? why : ""));
            break;
        }
        case UNKNOWN_IMAGE_ALLOW:
        default:
            r = AG_OK;
            break;
        }
        if (r != AG_OK)
            return r;
    }
    return AG_OK;
}

/* ---- /mutate ---- */

/* The architectures /mutate may pin to, among `cand`: those with an eligible node; only when
 * none of them has one, those whose only nodes are cordoned or not ready (the VM can only run
 * there, and /validate admits it with a warning). */
static archset usable_archs(const struct ctx *c, archset cand)
{
    return (cand & c->e) ? (cand & c->e) : (cand & c->h);
}

static int choose_target(struct ctx *c)
{
    if (c->r != ARCH_NONE)
        return c->r;
    archset usable = usable_archs(c, c->i_known ? c->i : ALL_ARCHS);
    if (c->pref && c->pref->preferred_arch != ARCH_NONE && arch_in(usable, c->pref->preferred_arch))
        return c->pref->preferred_arch;
    if (!c->i_known)
        return ARCH_NONE;
    archset u = usable;
    if (u == 0)
        return ARCH_NONE;
    int one = arch_set_single(u);
    if (one != ARCH_NONE)
        return one;
    if (c->s->default_arch != ARCH_NONE && arch_in(u, c->s->default_arch))
        return c->s->default_arch;
    int best = ARCH_NONE;
    unsigned best_n = 0;
    for (int a = 0; a < ARCH_COUNT; a++) {
        if (!arch_in(u, a))
            continue;
        unsigned n = eligible_count(&c->census, a);
        if (best == ARCH_NONE || n > best_n
            || (n == best_n && strcmp(arch_name(a), arch_name(best)) < 0)) {
            best = a;
            best_n = n;
        }
    }
    return best;
}

static enum ag_result mutate(struct ctx *c)
{
    const struct vm_facts *vm = c->vm;
    struct patch *pt = &c->out->patch;
    enum ag_result r;

    if (!c->multi || c->s->cross_arch_gate)
        return AG_OK;
    int t = choose_target(c);
    if (t == ARCH_NONE)
        return AG_OK;
    const char *tname = arch_name(t);

    /* (a) the kubernetes.io/arch node selector */
    if (!vm->has_node_selector) {
        const char *path = pool_printf(c->pool, "%s/nodeSelector", c->ptr);
        if (!path)
            return AG_ENOMEM;
        note(&c->rc_patch, RC_PINNED);
        r = patch_add(pt, PATCH_ADD, path, LABEL_ARCH, tname);
        if (r != AG_OK)
            return r;
    } else if (!vm->sel_arch) {
        const char *base = pool_printf(c->pool, "%s/nodeSelector", c->ptr);
        const char *path = base ? patch_pointer_join(c->pool, base, LABEL_ARCH) : NULL;
        if (!path)
            return AG_ENOMEM;
        note(&c->rc_patch, RC_PINNED);
        r = patch_add(pt, PATCH_ADD, path, NULL, tname);
        if (r != AG_OK)
            return r;
    }

    /* (b) the architecture */
    if (!vm->arch) {
        const char *path = pool_printf(c->pool, "%s/architecture", c->ptr);
        if (!path)
            return AG_ENOMEM;
        note(&c->rc_patch, RC_PINNED);
        r = patch_add(pt, PATCH_ADD, path, NULL, tname);
        if (r != AG_OK)
            return r;
    }

    /* (c) an architecture-agnostic DataSource that resolves elsewhere -> its T sibling */
    if (vm->is_vmi)
        return AG_OK;
    for (size_t k = 0; k < vm->nimages; k++) {
        const struct vm_image *im = &vm->images[k];
        if (im->kind != IMG_DATASOURCE || im->dvt_index < 0 || !im->name)
            continue;
        const struct datasource *ds = snapshot_find_datasource(c->s, im->ns, im->name);
        if (!ds || ds->has_label || !ds->ptr_name)
            continue;
        int resolved = arch_set_single(datasource_archs(c->s, ds));
        if (resolved == ARCH_NONE || resolved == t)
            continue;
        const char *sib_name = pool_printf(c->pool, "%s-%s", im->name, tname);
        if (!sib_name)
            return AG_ENOMEM;
        const struct datasource *sib = snapshot_find_datasource(c->s, ds->ns, sib_name);
        if (!sib || !sib->has_label || sib->label_arch != t)
            continue;
        const char *path = pool_printf(c->pool, "/spec/dataVolumeTemplates/%d/spec/sourceRef/name", im->dvt_index);
        if (!path)
            return AG_ENOMEM;
        c->rc_patch = RC_SIBLING_SWITCH;
        r = patch_add(pt, PATCH_REPLACE, path, NULL, sib_name);
        if (r == AG_ETOOBIG)
            break;
        if (r != AG_OK)
            return r;
        r = add_warning(c, pool_printf(c->pool, "switched DataSource %s/%s (%s) to its %s sibling %s",
                                       ds->ns, im->name, arch_name(resolved), tname, sib_name));
        if (r != AG_OK)
            return r;
    }
    return AG_OK;
}

/* ---- entry points ---- */

bool decide_multi_arch_enabled(const struct snapshot *s, const struct policy *p)
{
    switch (p ? p->multi_arch : MULTI_ARCH_AUTO) {
    case MULTI_ARCH_ON:
        return true;
    case MULTI_ARCH_OFF:
        return false;
    case MULTI_ARCH_AUTO:
    default:
        return s && s->hco_multiarch == HCO_MULTIARCH_ON;
    }
}

static enum ag_result finish_denied(struct ctx *c)
{
    struct verdict *v = c->out;
    struct sb b = { .pool = c->pool };
    for (size_t k = 0; k < v->ncauses; k++) {
        if (k)
            sb_add(&b, "; ");
        sb_add(&b, v->causes[k].message);
    }
    v->message = sb_done(&b);
    if (!v->message)
        return AG_ENOMEM;
    v->allowed = false;
    v->code = 422;
    v->reason = "Invalid";
    v->cls = VC_DENIED;
    v->nwarnings = 0;
    memset(v->warnings, 0, sizeof v->warnings);
    return AG_OK;
}

/* Every decided answer says when the cluster view is stale: the decision may be out of date. */
static enum ag_result stale_warning(struct ctx *c)
{
    if (!c->in->stale_seconds)
        return AG_OK;
    note(&c->rc_warn, RC_STALE_VIEW);
    return add_warning(c, pool_printf(c->pool, "archgate's view of the cluster is %u s old (a watch keeps "
                                      "failing); this answer may be out of date", c->in->stale_seconds));
}

enum ag_result decide_review(const struct decide_input *in, const struct snapshot *s,
                             const struct policy *p, struct pool *pool, struct verdict *out)
{
    enum ag_result r = AG_EINTERNAL;
    struct ctx c;
    if (!out)
        return AG_EINTERNAL;
    memset(out, 0, sizeof *out);
    memset(&c, 0, sizeof c);
    if (!in || !p || !pool)
        goto done;
    out->details_group = in->group;
    out->details_kind = in->resource;
    if (!in->in_scope || in->unchanged) {
        if (in->vm)
            out->details_name = in->vm->name;
        out->allowed = true;
        out->cls = VC_SKIPPED;
        r = AG_OK;
        goto done;
    }
    if (!in->vm || !s)
        goto done;

    c.in = in;
    c.vm = in->vm;
    c.s = s;
    c.p = p;
    c.pool = pool;
    c.out = out;
    out->details_name = c.vm->name;
    c.spec = vm_spec_field(c.vm);
    c.ptr = vm_spec_pointer(c.vm);
    c.multi = decide_multi_arch_enabled(s, p);

    r = requested_arch(&c);
    if (r != AG_OK)
        goto done;
    r = image_archs(&c);
    if (r != AG_OK)
        goto done;
    eligible_census(s, c.vm->has_constraints ? &c.vm->placement : NULL, &c.census);
    c.e = eligible_archs(&c.census);
    c.h = eligible_held_archs(&c.census);

    r = in->mutate ? mutate(&c) : validate(&c);
    if (r != AG_OK)
        goto done;

    if (out->ncauses > 0) {
        r = finish_denied(&c);
        if (r == AG_OK)
            r = stale_warning(&c);
        goto done;
    }
    out->allowed = true;
    r = stale_warning(&c);
    if (r != AG_OK)
        goto done;
    if (!c.multi && s->heterogeneous) {
        note(&c.rc_warn, RC_HETEROGENEOUS);
        r = add_warning(&c, pool_strdup(pool, "workload nodes span several architectures but "
                                        "multi-architecture boot images are disabled"));
        if (r != AG_OK)
            goto done;
    }
    out->cls = out->patch.n ? VC_MUTATED : out->nwarnings ? VC_WARNED : VC_ALLOWED;
    r = AG_OK;
done:
    if (r == AG_OK)
        out->reason_class = out->cls == VC_DENIED ? c.rc_cause : out->cls == VC_MUTATED ? c.rc_patch
                    : out->cls == VC_WARNED ? c.rc_warn : RC_NONE;
    return r;
}

const char *reason_class_name(enum reason_class r)
{
    static const char *const names[RC_COUNT] = {
        [RC_NONE] = "none", [RC_UNSUPPORTED_ARCH] = "unsupported_architecture",
        [RC_BAD_ANNOTATION] = "bad_annotation", [RC_DISKS_DISAGREE] = "disks_disagree",
        [RC_IMAGE_ARCH_MISMATCH] = "image_architecture_mismatch",
        [RC_NODE_SELECTOR_CONFLICT] = "node_selector_conflict", [RC_NO_NODE_FOR_IMAGE] = "no_node_for_image",
        [RC_NO_NODE_FOR_ARCH] = "no_node_for_architecture", [RC_UNKNOWN_IMAGE] = "unknown_image",
        [RC_CORDONED_ONLY] = "cordoned_nodes_only", [RC_HETEROGENEOUS] = "heterogeneous_multiarch_off",
        [RC_STALE_VIEW] = "stale_cluster_view", [RC_PINNED] = "pinned_architecture",
        [RC_SIBLING_SWITCH] = "switched_datasource", [RC_UNREADABLE_VM] = "unreadable_vm",
        [RC_HCO_REVIEW] = "hyperconverged_review",
    };
    return r >= 0 && r < RC_COUNT && names[r] ? names[r] : "none";
}

const char *verdict_class_name(enum verdict_class c)
{
    switch (c) {
    case VC_ALLOWED: return "allowed";
    case VC_WARNED:  return "warned";
    case VC_MUTATED: return "mutated";
    case VC_DENIED:  return "denied";
    case VC_SKIPPED: return "skipped";
    case VC_COUNT:
    default:         return "unknown";
    }
}
