/* vm.c - the facts of one kubevirt.io/v1 VirtualMachine or VirtualMachineInstance that the
 * decision reads (architecture, preference, placement, boot images), read from cJSON without
 * trusting any field's presence or type, and the UPDATE "did anything we read change" check. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "vm.h"

/* KubeVirt refuses more than 256 volumes (arrayLenMax); a VM has at most one image per volume
 * or template, so this also bounds the image list and the template/volume name matching. */
#define VM_MAX_ITEMS 256

static enum ag_result bad(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static enum ag_result bad(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return AG_EINVAL;
}

static bool absent(const cJSON *j)
{
    return j == NULL || cJSON_IsNull(j);
}

/* Member `key` of `obj` (NULL when obj is not an object, or the member is absent or null). */
static const cJSON *member(const cJSON *obj, const char *key)
{
    if (!cJSON_IsObject(obj))
        return NULL;
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    return absent(j) ? NULL : j;
}

/* Optional object member: *out NULL when absent; EINVAL naming `path.key` when not an object. */
static enum ag_result opt_object(const cJSON *obj, const char *key, const char *path, const cJSON **out,
                                 char *err, size_t errlen)
{
    const cJSON *j = member(obj, key);
    *out = NULL;
    if (!j)
        return AG_OK;
    if (!cJSON_IsObject(j))
        return bad(err, errlen, "%s%s%s: must be an object", path, *path ? "." : "", key);
    *out = j;
    return AG_OK;
}

/* Optional string member: *out NULL when absent; EINVAL when not a string. */
static enum ag_result opt_string(const cJSON *obj, const char *key, const char *path, const char **out,
                                 char *err, size_t errlen)
{
    const cJSON *j = member(obj, key);
    *out = NULL;
    if (!j)
        return AG_OK;
    if (!cJSON_IsString(j) || !j->valuestring)
        return bad(err, errlen, "%s%s%s: must be a string", path, *path ? "." : "", key);
    *out = j->valuestring;
    return AG_OK;
}

/* Required non-empty string member. */
static enum ag_result req_string(const cJSON *obj, const char *key, const char *path, const char **out,
                                 char *err, size_t errlen)
{
    enum ag_result r = opt_string(obj, key, path, out, err, errlen);
    if (r != AG_OK)
        return r;
    if (!*out || !**out)
        return bad(err, errlen, "%s.%s: must be a non-empty string", path, key);
    return AG_OK;
}

/* Optional array member, at most VM_MAX_ITEMS long. */
static enum ag_result opt_array(const cJSON *obj, const char *key, const char *path, const cJSON **out,
                                int *n, char *err, size_t errlen)
{
    const cJSON *j = member(obj, key);
    *out = NULL;
    *n = 0;
    if (!j)
        return AG_OK;
    if (!cJSON_IsArray(j))
        return bad(err, errlen, "%s.%s: must be an array", path, key);
    int size = cJSON_GetArraySize(j);
    if (size > VM_MAX_ITEMS)
        return bad(err, errlen, "%s.%s: more than %d items", path, key, VM_MAX_ITEMS);
    *out = j;
    *n = size;
    return AG_OK;
}

static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

/* Name of the DataVolume a volume refers to, NULL when not a well-formed dataVolume volume. */
static const char *volume_dv_name(const cJSON *vol)
{
    const cJSON *dv = member(vol, "dataVolume");
    const cJSON *name = member(dv, "name");
    return cJSON_IsString(name) ? nonempty(name->valuestring) : NULL;
}

static enum ag_result read_preference(const cJSON *spec, struct vm_facts *out, char *err, size_t errlen)
{
    const cJSON *pref;
    enum ag_result r = opt_object(spec, "preference", "spec", &pref, err, errlen);
    if (r != AG_OK || !pref)
        return r;
    const char *name, *kind;
    if ((r = opt_string(pref, "name", "spec.preference", &name, err, errlen)) != AG_OK ||
        (r = opt_string(pref, "kind", "spec.preference", &kind, err, errlen)) != AG_OK)
        return r;
    out->pref_name = nonempty(name);
    out->pref_cluster = true;
    if (!kind || !*kind || strcasecmp(kind, "VirtualMachineClusterPreference") == 0 ||
        strcasecmp(kind, "VirtualMachineClusterPreferences") == 0)
        return AG_OK;
    if (strcasecmp(kind, "VirtualMachinePreference") == 0 || strcasecmp(kind, "VirtualMachinePreferences") == 0) {
        out->pref_cluster = false;
        return AG_OK;
    }
    return bad(err, errlen, "spec.preference.kind: unknown kind \"%.64s\" (VirtualMachineClusterPreference or "
               "VirtualMachinePreference)", kind);
}

struct images {
    struct vm_image *items;
    size_t n, cap;
};

static struct vm_image *image_add(struct images *im)
{
    if (im->n >= im->cap)
        return NULL;    /* cannot happen: cap counts every template and volume */
    struct vm_image *i = &im->items[im->n++];
    memset(i, 0, sizeof *i);
    i->dvt_index = -1;
    i->volume_index = -1;
    return i;
}

static enum ag_result read_template(const cJSON *t, int i, const cJSON *volumes, const char *vm_ns,
                                    struct images *im, char *err, size_t errlen)
{
    char path[96];
    snprintf(path, sizeof path, "spec.dataVolumeTemplates[%d]", i);
    if (!cJSON_IsObject(t))
        return bad(err, errlen, "%s: must be an object", path);
    const cJSON *meta, *spec, *ref, *source, *registry;
    const char *tname;
    enum ag_result r = opt_object(t, "metadata", path, &meta, err, errlen);
    if (r != AG_OK)
        return r;
    char mpath[128];
    snprintf(mpath, sizeof mpath, "%s.metadata", path);
    if ((r = opt_string(meta, "name", mpath, &tname, err, errlen)) != AG_OK)
        return r;
    tname = nonempty(tname);
    if ((r = opt_object(t, "spec", path, &spec, err, errlen)) != AG_OK || !spec)
        return r;
    char spath[128];
    snprintf(spath, sizeof spath, "%s.spec", path);

    int vol_index = -1;
    if (tname) {
        int j = 0;
        for (const cJSON *v = volumes ? volumes->child : NULL; v; v = v->next, j++) {
            const char *dv = volume_dv_name(v);
            if (dv && strcmp(dv, tname) == 0) {
                vol_index = j;
                break;
            }
        }
    }

    if ((r = opt_object(spec, "sourceRef", spath, &ref, err, errlen)) != AG_OK)
        return r;
    if (ref) {
        char rpath[160];
        snprintf(rpath, sizeof rpath, "%s.sourceRef", spath);
        const char *kind, *name, *ns;
        if ((r = opt_string(ref, "kind", rpath, &kind, err, errlen)) != AG_OK)
            return r;
        if (!kind || !*kind || strcasecmp(kind, "DataSource") == 0) {
            if ((r = req_string(ref, "name", rpath, &name, err, errlen)) != AG_OK ||
                (r = opt_string(ref, "namespace", rpath, &ns, err, errlen)) != AG_OK)
                return r;
            struct vm_image *img = image_add(im);
            if (!img)
                return AG_EINTERNAL;
            img->kind = IMG_DATASOURCE;
            img->ns = nonempty(ns) ? ns : vm_ns;
            img->name = name;
            img->dvt_index = i;
            img->volume_index = vol_index;
            return AG_OK;
        }
    }

    if ((r = opt_object(spec, "source", spath, &source, err, errlen)) != AG_OK || !source)
        return r;
    char srcpath[160];
    snprintf(srcpath, sizeof srcpath, "%s.source", spath);
    if ((r = opt_object(source, "registry", srcpath, &registry, err, errlen)) != AG_OK || !registry)
        return r;
    char regpath[192];
    snprintf(regpath, sizeof regpath, "%s.registry", srcpath);
    const char *url, *stream, *arch = NULL;
    const cJSON *platform;
    if ((r = opt_string(registry, "url", regpath, &url, err, errlen)) != AG_OK ||
        (r = opt_string(registry, "imageStream", regpath, &stream, err, errlen)) != AG_OK ||
        (r = opt_object(registry, "platform", regpath, &platform, err, errlen)) != AG_OK)
        return r;
    if (platform) {
        char ppath[224];
        snprintf(ppath, sizeof ppath, "%s.platform", regpath);
        if ((r = opt_string(platform, "architecture", ppath, &arch, err, errlen)) != AG_OK)
            return r;
    }
    const char *name = nonempty(url) ? url : nonempty(stream);
    if (!name)
        return bad(err, errlen, "%s: needs url or imageStream", regpath);
    struct vm_image *img = image_add(im);
    if (!img)
        return AG_EINTERNAL;
    img->kind = IMG_REGISTRY;
    img->name = name;
    img->arch_str = nonempty(arch);
    img->dvt_index = i;
    img->volume_index = vol_index;
    return AG_OK;
}

static bool names_template(const cJSON *templates, const char *name)
{
    for (const cJSON *t = templates ? templates->child : NULL; t; t = t->next) {
        const cJSON *n = member(member(t, "metadata"), "name");
        if (cJSON_IsString(n) && n->valuestring && strcmp(n->valuestring, name) == 0)
            return true;
    }
    return false;
}

static enum ag_result read_volume(const cJSON *v, int j, const char *sf, const cJSON *templates,
                                  const char *vm_ns, struct images *im, char *err, size_t errlen)
{
    char path[96];
    snprintf(path, sizeof path, "%s.volumes[%d]", sf, j);
    if (!cJSON_IsObject(v))
        return bad(err, errlen, "%s: must be an object", path);
    const cJSON *pvc, *dv, *cd;
    enum ag_result r;
    if ((r = opt_object(v, "persistentVolumeClaim", path, &pvc, err, errlen)) != AG_OK ||
        (r = opt_object(v, "dataVolume", path, &dv, err, errlen)) != AG_OK ||
        (r = opt_object(v, "containerDisk", path, &cd, err, errlen)) != AG_OK)
        return r;
    char sub[160];
    const char *name = NULL;
    enum image_kind kind;
    if (pvc) {
        snprintf(sub, sizeof sub, "%s.persistentVolumeClaim", path);
        if ((r = req_string(pvc, "claimName", sub, &name, err, errlen)) != AG_OK)
            return r;
        kind = IMG_PVC;
    } else if (dv) {
        snprintf(sub, sizeof sub, "%s.dataVolume", path);
        if ((r = req_string(dv, "name", sub, &name, err, errlen)) != AG_OK)
            return r;
        if (names_template(templates, name))
            return AG_OK;   /* the template's image, already listed */
        kind = IMG_PVC;
    } else if (cd) {
        snprintf(sub, sizeof sub, "%s.containerDisk", path);
        if ((r = req_string(cd, "image", sub, &name, err, errlen)) != AG_OK)
            return r;
        kind = IMG_CONTAINERDISK;
    } else {
        return AG_OK;
    }
    struct vm_image *img = image_add(im);
    if (!img)
        return AG_EINTERNAL;
    img->kind = kind;
    img->ns = kind == IMG_PVC ? vm_ns : NULL;
    img->name = name;
    img->volume_index = j;
    return AG_OK;
}

enum ag_result vm_extract(const cJSON *object, bool is_vmi, const char *req_ns, struct pool *pool,
                          struct vm_facts *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->is_vmi = is_vmi;
    if (err && errlen)
        err[0] = '\0';
    if (!cJSON_IsObject(object))
        return bad(err, errlen, "object: must be an object");

    const char *sf = is_vmi ? "spec" : "spec.template.spec";
    const cJSON *meta, *annots, *spec, *tmpl = NULL, *vspec;
    enum ag_result r;
    if ((r = opt_object(object, "metadata", "", &meta, err, errlen)) != AG_OK)
        return r;
    const char *ns, *name;
    if ((r = opt_string(meta, "namespace", "metadata", &ns, err, errlen)) != AG_OK ||
        (r = opt_string(meta, "name", "metadata", &name, err, errlen)) != AG_OK ||
        (r = opt_object(meta, "annotations", "metadata", &annots, err, errlen)) != AG_OK)
        return r;
    out->ns = nonempty(ns) ? ns : req_ns;
    out->name = nonempty(name);
    const cJSON *an = member(annots, ANNOT_IMAGE_ARCHS);
    if (an) {
        if (!cJSON_IsString(an) || !an->valuestring)
            return bad(err, errlen, "metadata.annotations[" ANNOT_IMAGE_ARCHS "]: must be a string");
        out->annot_archs = an->valuestring;
    }

    if ((r = opt_object(object, "spec", "", &spec, err, errlen)) != AG_OK)
        return r;
    if (is_vmi) {
        vspec = spec;
    } else {
        if ((r = opt_object(spec, "template", "spec", &tmpl, err, errlen)) != AG_OK ||
            (r = opt_object(tmpl, "spec", "spec.template", &vspec, err, errlen)) != AG_OK)
            return r;
        if ((r = read_preference(spec, out, err, errlen)) != AG_OK)
            return r;
    }

    const char *arch;
    if ((r = opt_string(vspec, "architecture", sf, &arch, err, errlen)) != AG_OK)
        return r;
    out->arch = nonempty(arch);

    char perr[384];
    perr[0] = '\0';
    r = selector_parse_placement(vspec, pool, &out->placement, perr, sizeof perr);
    if (r == AG_EINVAL)
        return bad(err, errlen, "%s.%s", sf, perr);
    if (r != AG_OK)
        return r;
    out->has_node_selector = cJSON_IsObject(member(vspec, "nodeSelector"));
    out->sel_arch = labels_get(&out->placement.node_selector, "kubernetes.io/arch");
    out->has_constraints = out->placement.node_selector.n > 0 || out->placement.has_affinity ||
                           out->placement.ntolerations > 0;

    const cJSON *templates = NULL, *volumes;
    int ntemplates = 0, nvolumes;
    if (!is_vmi && (r = opt_array(spec, "dataVolumeTemplates", "spec", &templates, &ntemplates, err, errlen)) != AG_OK)
        return r;
    if ((r = opt_array(vspec, "volumes", sf, &volumes, &nvolumes, err, errlen)) != AG_OK)
        return r;
    struct images im = { NULL, 0, (size_t)ntemplates + (size_t)nvolumes };
    if (im.cap) {
        im.items = pool_alloc(pool, im.cap * sizeof *im.items);
        if (!im.items)
            return AG_ENOMEM;
    }
    int i = 0;
    for (const cJSON *t = templates ? templates->child : NULL; t; t = t->next, i++)
        if ((r = read_template(t, i, volumes, out->ns, &im, err, errlen)) != AG_OK)
            return r;
    i = 0;
    for (const cJSON *v = volumes ? volumes->child : NULL; v; v = v->next, i++)
        if ((r = read_volume(v, i, sf, templates, out->ns, &im, err, errlen)) != AG_OK)
            return r;
    out->images = im.items;
    out->nimages = im.n;
    return AG_OK;
}

/* ---- UPDATE comparison ---- */

static const cJSON *vmi_spec_of(const cJSON *obj, bool is_vmi)
{
    const cJSON *spec = member(obj, "spec");
    return is_vmi ? spec : member(member(spec, "template"), "spec");
}

static bool same(const cJSON *a, const cJSON *b)
{
    if (absent(a) || absent(b))
        return absent(a) && absent(b);
    return cJSON_Compare(a, b, true);
}

bool vm_inputs_equal(const cJSON *old_object, const cJSON *new_object, bool is_vmi)
{
    if (!old_object || !new_object)
        return !old_object && !new_object;
    static const char *const spec_keys[] = { "architecture", "nodeSelector", "affinity", "tolerations", "volumes" };
    const cJSON *os = vmi_spec_of(old_object, is_vmi), *ns = vmi_spec_of(new_object, is_vmi);
    for (size_t i = 0; i < sizeof spec_keys / sizeof spec_keys[0]; i++)
        if (!same(member(os, spec_keys[i]), member(ns, spec_keys[i])))
            return false;
    if (!is_vmi) {
        const cJSON *o = member(old_object, "spec"), *n = member(new_object, "spec");
        if (!same(member(o, "preference"), member(n, "preference")) ||
            !same(member(o, "dataVolumeTemplates"), member(n, "dataVolumeTemplates")))
            return false;
    }
    return same(member(member(member(old_object, "metadata"), "annotations"), ANNOT_IMAGE_ARCHS),
                member(member(member(new_object, "metadata"), "annotations"), ANNOT_IMAGE_ARCHS));
}

const char *vm_spec_field(const struct vm_facts *f)
{
    return f && f->is_vmi ? "spec" : "spec.template.spec";
}

const char *vm_spec_pointer(const struct vm_facts *f)
{
    return f && f->is_vmi ? "/spec" : "/spec/template/spec";
}
