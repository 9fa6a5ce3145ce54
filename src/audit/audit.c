/* audit.c - judging an inventory against a snapshot: every VM as a CREATE through decide_review
 * (what /validate would answer now), every running VMI against its node; counts by result and
 * reason class; the table and JSON of `archgate audit`. */
#include <stdio.h>
#include <string.h>
#include "audit/audit.h"
#include "arch.h"
#include "mem.h"

#define AUDIT_SCRATCH_CHUNK (16 * 1024)

struct run {
    const struct snapshot *s;
    const struct policy *p;
    struct pool *scratch;       /* reset per VM */
    struct audit_report *r;
    struct audit_finding *f;    /* growing array (mem_realloc) */
    size_t nf, capf;
    enum ag_result err;
};

static const struct node *find_node(const struct snapshot *s, const char *name)
{
    size_t lo = 0, hi = s->nnodes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->nodes[mid].name, name);
        if (c == 0)
            return &s->nodes[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static bool add_finding(struct run *ru, const struct inv_entry *e, bool is_vmi, bool running, unsigned cls,
                        const char *message)
{
    if (ru->nf == ru->capf) {
        size_t ncap = ru->capf ? ru->capf * 2 : 16;
        struct audit_finding *nf = mem_realloc(ru->f, ncap * sizeof *nf);
        if (!nf)
            return false;
        ru->f = nf;
        ru->capf = ncap;
    }
    struct audit_finding *f = &ru->f[ru->nf];
    f->ns = pool_strdup(ru->r->pool, e->ns);
    f->name = pool_strdup(ru->r->pool, e->name);
    f->message = pool_strdup(ru->r->pool, message);
    if (!f->ns || !f->name || !f->message)
        return false;
    const struct inv_obj *o = e->vm ? e->vm : e->vmi;     /* Events go on the VM when there is one */
    f->uid = o && o->uid ? pool_strdup(ru->r->pool, o->uid) : NULL;
    f->is_vmi = is_vmi;
    f->has_vm = e->vm != NULL;
    f->running = running;
    f->cls = cls;
    f->reason = audit_event_reason(cls);
    ru->nf++;
    return true;
}

/* A running VMI against its node: NULL when fine, else the message (in the scratch pool). The
 * image is read from the VM when there is one (its dataVolumeTemplates name the DataSource;
 * the VMI only names the DataVolume they made). */
static const char *vmi_check(struct run *ru, const struct inv_obj *vm, const struct inv_obj *vmi, unsigned *cls)
{
    if (!vmi || !vmi->readable || !vmi->running || !vmi->node)
        return NULL;
    const struct node *n = find_node(ru->s, vmi->node);
    if (!n) {
        *cls = AC_VMI_NODE_GONE;
        return pool_printf(ru->scratch, "the VMI is running on node %s, which is no longer in the cluster",
                           vmi->node);
    }
    archset img = vm && vm->readable ? decide_known_image_archs(ru->s, &vm->facts) : 0;
    if (!img)
        img = decide_known_image_archs(ru->s, &vmi->facts);
    if (n->arch != ARCH_NONE && img && !arch_in(img, n->arch)) {
        char b[64];
        *cls = AC_VMI_NODE_ARCH;
        return pool_printf(ru->scratch, "the VMI is running on node %s (%s), but its image is %s", vmi->node,
                           arch_name(n->arch), arch_set_format(img, b, sizeof b));
    }
    return NULL;
}

static void judge(void *arg, const struct inv_entry *e)
{
    struct run *ru = arg;
    struct audit_report *r = ru->r;
    if (ru->err != AG_OK)
        return;
    pool_reset(ru->scratch);
    bool running = e->vmi ? e->vmi->running : e->vm && e->vm->running;
    enum audit_status st = AS_OK;
    unsigned cls = RC_NONE;
    const char *msg = NULL;
    bool about_vmi = e->vm == NULL;

    if (e->vm)
        r->vms++;
    if (e->vmi)
        r->vmis++;
    r->entries++;

    const struct inv_obj *o = e->vm ? e->vm : e->vmi;
    if (!o->readable) {
        st = AS_REFUSED;
        cls = RC_UNREADABLE_VM;
        msg = pool_printf(ru->scratch, "archgate cannot read this %s: %s", e->vm ? "VM" : "VMI", o->err);
    } else if (e->vm) {
        struct decide_input in = { 0 };
        struct verdict v;
        in.mutate = false;
        in.op = OP_CREATE;
        in.in_scope = true;
        in.is_vmi = false;
        in.vm = &e->vm->facts;
        in.resource = "virtualmachines";
        in.group = "kubevirt.io";
        enum ag_result rc = decide_review(&in, ru->s, ru->p, ru->scratch, &v);
        if (rc != AG_OK) {
            ru->err = rc;
            return;
        }
        if (!v.allowed) {
            st = AS_REFUSED;
            cls = v.reason_class;
            msg = v.message ? v.message : "refused";
        } else if (v.reason_class == RC_UNKNOWN_IMAGE || decide_known_image_archs(ru->s, &e->vm->facts) == 0) {
            st = AS_UNKNOWN_IMAGE;
        }
    } else if (decide_known_image_archs(ru->s, &o->facts) == 0) {
        st = AS_UNKNOWN_IMAGE;
    }
    if (st != AS_REFUSED) {
        unsigned vcls = 0;
        const char *vmsg = vmi_check(ru, e->vm, e->vmi, &vcls);
        if (vmsg) {
            st = AS_REFUSED;
            cls = vcls;
            msg = vmsg;
            about_vmi = true;
        }
    }
    if (st == AS_REFUSED && !msg) {
        ru->err = AG_ENOMEM;
        return;
    }
    r->status[st]++;
    if (st == AS_REFUSED) {
        r->by_class[cls < AC_COUNT ? cls : RC_NONE]++;
        if (!add_finding(ru, e, about_vmi, running, cls, msg))
            ru->err = AG_ENOMEM;
    }
}

enum ag_result audit_run(const struct snapshot *s, struct inventory *inv, const struct policy *p,
                         struct audit_report **out)
{
    *out = NULL;
    struct run ru = { .s = s, .p = p, .err = AG_OK };
    struct audit_report *r = mem_calloc(1, sizeof *r);
    if (!r)
        return AG_ENOMEM;
    r->pool = pool_new(0);
    ru.scratch = pool_new(AUDIT_SCRATCH_CHUNK);
    ru.r = r;
    if (!r->pool || !ru.scratch) {
        ru.err = AG_ENOMEM;
        goto done;
    }
    if (!s) {
        ru.err = AG_EINTERNAL;
        goto done;
    }
    inventory_each(inv, judge, &ru);
    if (ru.err == AG_OK && ru.nf) {
        r->findings = pool_alloc(r->pool, ru.nf * sizeof *r->findings);
        if (!r->findings)
            ru.err = AG_ENOMEM;
        else
            memcpy(r->findings, ru.f, ru.nf * sizeof *r->findings);
        r->nfindings = ru.nf;
    }
done:
    mem_free(ru.f);
    pool_free(ru.scratch);
    if (ru.err != AG_OK) {
        audit_report_free(r);
        return ru.err;
    }
    *out = r;
    return AG_OK;
}

void audit_report_free(struct audit_report *r)
{
    if (!r)
        return;
    pool_free(r->pool);
    mem_free(r);
}

const char *audit_status_name(enum audit_status st)
{
    switch (st) {
    case AS_OK:            return "ok";
    case AS_REFUSED:       return "refused";
    case AS_UNKNOWN_IMAGE: return "unknown_image";
    case AS_COUNT:
    default:               return "unknown";
    }
}

const char *audit_class_name(unsigned cls)
{
    if (cls == AC_VMI_NODE_GONE)
        return "vmi_node_gone";
    if (cls == AC_VMI_NODE_ARCH)
        return "vmi_node_architecture";
    return reason_class_name((enum reason_class)cls);
}

const char *audit_event_reason(unsigned cls)
{
    switch (cls) {
    case RC_UNSUPPORTED_ARCH:       return "UnsupportedArchitecture";
    case RC_BAD_ANNOTATION:         return "InvalidImageArchitectures";
    case RC_DISKS_DISAGREE:         return "DisksDisagreeOnArchitecture";
    case RC_IMAGE_ARCH_MISMATCH:    return "ImageArchitectureMismatch";
    case RC_NODE_SELECTOR_CONFLICT: return "NodeSelectorArchitectureConflict";
    case RC_NO_NODE_FOR_IMAGE:      return "NoNodeForImageArchitecture";
    case RC_NO_NODE_FOR_ARCH:       return "NoNodeForArchitecture";
    case RC_UNKNOWN_IMAGE:          return "UnknownImageArchitecture";
    case RC_CORDONED_ONLY:          return "OnlyCordonedNodesForArchitecture";
    case RC_UNREADABLE_VM:          return "UnreadableVM";
    case AC_VMI_NODE_GONE:          return "VMINodeGone";
    case AC_VMI_NODE_ARCH:          return "VMINodeArchitectureMismatch";
    default:                        return "WouldBeRefused";
    }
}

void audit_summary(const struct audit_report *r, char *buf, size_t len)
{
    snprintf(buf, len, "%zu VM%s audited (%zu VMI%s): %zu ok, %zu refused, %zu unknown image", r->entries,
             r->entries == 1 ? "" : "s", r->vmis, r->vmis == 1 ? "" : "s", r->status[AS_OK],
             r->status[AS_REFUSED], r->status[AS_UNKNOWN_IMAGE]);
}

void audit_print_table(const struct audit_report *r, FILE *out)
{
    size_t wns = strlen("NAMESPACE"), wname = strlen("NAME");
    for (size_t i = 0; i < r->nfindings; i++) {
        size_t a = strlen(r->findings[i].ns), b = strlen(r->findings[i].name);
        if (a > wns)
            wns = a < 64 ? a : 64;
        if (b > wname)
            wname = b < 64 ? b : 64;
    }
    if (r->nfindings) {
        fprintf(out, "%-*s  %-*s  %-7s  %-26s  %s\n", (int)wns, "NAMESPACE", (int)wname, "NAME", "RUNNING",
                "REASON", "CAUSE");
        for (size_t i = 0; i < r->nfindings; i++) {
            const struct audit_finding *f = &r->findings[i];
            fprintf(out, "%-*s  %-*s  %-7s  %-26s  %s\n", (int)wns, f->ns[0] ? f->ns : "-", (int)wname, f->name,
                    f->running ? "yes" : "no", audit_class_name(f->cls), f->message);
        }
    }
    char sum[256];
    audit_summary(r, sum, sizeof sum);
    fprintf(out, "%s\n", sum);
}

void audit_print_json(const struct audit_report *r, FILE *out)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *sum = cJSON_AddObjectToObject(root, "summary");
    cJSON_AddNumberToObject(sum, "vms", (double)r->entries);
    cJSON_AddNumberToObject(sum, "vmis", (double)r->vmis);
    for (int st = 0; st < AS_COUNT; st++)
        cJSON_AddNumberToObject(sum, audit_status_name((enum audit_status)st), (double)r->status[st]);
    cJSON *bc = cJSON_AddObjectToObject(sum, "refusedByReason");
    for (unsigned c = 0; c < AC_COUNT; c++)
        if (r->by_class[c])
            cJSON_AddNumberToObject(bc, audit_class_name(c), (double)r->by_class[c]);
    cJSON *arr = cJSON_AddArrayToObject(root, "refused");
    for (size_t i = 0; arr && i < r->nfindings; i++) {
        const struct audit_finding *f = &r->findings[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "namespace", f->ns);
        cJSON_AddStringToObject(o, "name", f->name);
        cJSON_AddStringToObject(o, "kind", f->is_vmi ? "VirtualMachineInstance" : "VirtualMachine");
        cJSON_AddBoolToObject(o, "running", f->running);
        cJSON_AddStringToObject(o, "reasonClass", audit_class_name(f->cls));
        cJSON_AddStringToObject(o, "reason", f->reason);
        cJSON_AddStringToObject(o, "message", f->message);
        cJSON_AddItemToArray(arr, o);
    }
    char *text = root ? cJSON_Print(root) : NULL;
    if (text) {
        fputs(text, out);
        fputc('\n', out);
    } else {
        fputs("{\"error\": \"out of memory\"}\n", out);
    }
    cJSON_free(text);
    cJSON_Delete(root);
}
