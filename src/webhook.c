/* webhook.c - one admission request end to end: decode the review, decide whether it is in
 * scope, extract the VM's facts, decide (or review a HyperConverged edit), and encode the answer
 * (or a 400/500). Shared by the
 * HTTPS server, `archgate review` and the fuzz target. */
#include <stdio.h>
#include <string.h>
#include "webhook.h"
#include "review.h"
#include "hco/hco_review.h"
#include "metrics.h"
#include "vm.h"
#include "mem.h"
#include "pool.h"
#include "registry/resolver.h"
#include "audit/audit.h"
#include <stdatomic.h>

#define WEBHOOK_POOL_CHUNK (32 * 1024)
#define WEBHOOK_ERR_MAX 512

/* A 500 AdmissionReview (body NULL if even that cannot be allocated). */
static void answer_error(struct webhook_result *out, const char *uid, const char *message)
{
    mem_free(out->body);
    out->http_status = 500;
    out->allowed = false;
    out->body = review_encode_error(uid, 500, message);
    out->body_len = out->body ? strlen(out->body) : 0;
}

/* A 400 with a one-line reason. */
static void answer_bad_request(struct webhook_result *out, const char *reason)
{
    size_t n = strlen(reason);
    char *b = mem_malloc(n + 2);
    if (!b) {
        answer_error(out, "", "out of memory");
        return;
    }
    memcpy(b, reason, n);
    b[n] = '\n';
    b[n + 1] = '\0';
    out->http_status = 400;
    out->allowed = false;
    out->body = b;
    out->body_len = n + 1;
}

/* Copy at most dstlen-1 bytes, cut at a UTF-8 character boundary. */
static void copy_trunc(char *dst, size_t dstlen, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= dstlen) {
        n = dstlen - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

static bool in_scope(const struct review_request *rq, bool *is_vmi)
{
    *is_vmi = false;
    if (strcmp(rq->group, "kubevirt.io") != 0 || strcmp(rq->version, "v1") != 0 || rq->subresource[0])
        return false;
    if (strcmp(rq->kind, "VirtualMachine") == 0)
        return rq->op == OP_CREATE || rq->op == OP_UPDATE;
    if (strcmp(rq->kind, "VirtualMachineInstance") == 0) {
        *is_vmi = true;
        return rq->op == OP_CREATE;
    }
    return false;
}

/* A HyperConverged CREATE or UPDATE: reviewed on /validate for warnings, never denied. */
static bool hco_in_scope(const struct review_request *rq)
{
    return strcmp(rq->group, "hco.kubevirt.io") == 0 && strcmp(rq->kind, "HyperConverged") == 0 &&
           (strcmp(rq->version, "v1beta1") == 0 || strcmp(rq->version, "v1") == 0) && !rq->subresource[0] &&
           (rq->op == OP_CREATE || rq->op == OP_UPDATE);
}

static struct inventory *_Atomic inventory;

void webhook_set_inventory(struct inventory *inv)
{
    atomic_store(&inventory, inv);
}

static bool is_stranding(unsigned cls)
{
    return cls == RC_NO_NODE_FOR_IMAGE || cls == RC_NO_NODE_FOR_ARCH;
}

/* A placement change: every existing VM judged against the snapshot as it would be, and those
 * newly without a node for their image (or their requested architecture) put in `in`. */
static enum ag_result stranded_by_placement(struct hco_review_input *in, const struct policy *pol, struct pool *pool)
{
    struct inventory *inv = atomic_load(&inventory);
    struct hco_settings after;
    if (!inv || !in->snap || !hco_review_placement_change(in, pool, &after))
        return AG_OK;
    enum ag_result r = AG_ENOMEM;
    struct audit_report *now = NULL, *then = NULL;
    struct snapshot *what_if = snapshot_with_hco((struct snapshot *)in->snap, &after);
    if (!what_if || audit_run(in->snap, inv, pol, &now) != AG_OK || audit_run(what_if, inv, pol, &then) != AG_OK)
        goto out;
    const char **names = pool_alloc(pool, 3 * sizeof *names);
    if (!names)
        goto out;
    size_t j = 0;
    for (size_t i = 0; i < then->nfindings; i++) {
        const struct audit_finding *f = &then->findings[i];
        if (!is_stranding(f->cls))
            continue;
        /* both lists are in (namespace, name) order */
        while (j < now->nfindings && (strcmp(now->findings[j].ns, f->ns) < 0 ||
                                      (!strcmp(now->findings[j].ns, f->ns) && strcmp(now->findings[j].name, f->name) < 0)))
            j++;
        bool already = j < now->nfindings && !strcmp(now->findings[j].ns, f->ns) &&
                       !strcmp(now->findings[j].name, f->name) && is_stranding(now->findings[j].cls);
        if (already)
            continue;
        if (in->nstranded < 3 && !(names[in->nstranded] = pool_printf(pool, "%s/%s", f->ns, f->name)))
            goto out;
        in->nstranded++;
    }
    in->stranded = names;
    in->nstranded_names = in->nstranded < 3 ? in->nstranded : 3;
    r = AG_OK;
out:
    audit_report_free(now);
    audit_report_free(then);
    snapshot_release(what_if);
    return r;
}

/* The answer for a HyperConverged edit: allowed, with the review's warnings on /validate. */
static enum ag_result hco_verdict(const struct review_request *rq, bool mutate, const struct snapshot *snap,
                                  const struct policy *pol, struct pool *pool, struct verdict *v)
{
    memset(v, 0, sizeof *v);
    v->allowed = true;
    v->cls = VC_SKIPPED;
    if (mutate || !rq->object)
        return AG_OK;
    struct hco_review_input in = { rq->object, rq->op == OP_UPDATE ? rq->old_object : NULL, snap, NULL, 0, 0,
                                   NULL, 0 };
    struct hco_review_result hr;
    if (stranded_by_placement(&in, pol, pool) != AG_OK)
        return AG_ENOMEM;
    /* what the registries list for the golden images' sources, within the request's deadline */
    const char **urls = NULL;
    size_t n = 0;
    enum ag_result r = hco_review_sources(&in, pool, &urls, &n);
    if (r != AG_OK)
        return r;
    struct registry_result *rr = n ? registry_resolve_list(urls, n, pool) : NULL;
    struct hco_registry_answer *answers = rr ? pool_zalloc(pool, n * sizeof *answers) : NULL;
    for (size_t i = 0; answers && i < n; i++) {
        answers[i].url = urls[i];
        answers[i].archs = rr[i].status == REG_OK ? rr[i].archs : 0;
        answers[i].from_index = rr[i].from_index;
    }
    in.registry = answers;
    in.nregistry = answers ? n : 0;
    r = hco_review(&in, pool, &hr);
    if (r != AG_OK)
        return r;
    metrics_hco_review(hr.outcome, hr.kinds, hr.nwarnings);
    v->cls = hr.nwarnings ? VC_WARNED : VC_ALLOWED;
    v->reason_class = hr.nwarnings ? RC_HCO_REVIEW : RC_NONE;
    for (size_t i = 0; i < hr.nwarnings && i < VERDICT_MAX_WARNINGS; i++)
        v->warnings[v->nwarnings++] = hr.warnings[i];
    return AG_OK;
}

/* The answer for an object vm_extract could not read: /validate denies it with a cause on the
 * field, /mutate admits it untouched with a warning (the validating webhook decides). */
static enum ag_result unreadable_verdict(const struct review_request *rq, bool mutate, const char *err,
                                         struct pool *pool, struct verdict *v)
{
    memset(v, 0, sizeof *v);
    if (mutate) {
        char w[WARNING_MAX_LEN];
        char *full = pool_printf(pool, "archgate cannot read this VM: %s", err);
        if (!full)
            return AG_ENOMEM;
        copy_trunc(w, sizeof w, full);
        const char *warning = pool_strdup(pool, w);
        if (!warning)
            return AG_ENOMEM;
        v->cls = VC_WARNED;
        v->reason_class = RC_UNREADABLE_VM;
        v->allowed = true;
        v->warnings[0] = warning;
        v->nwarnings = 1;
        return AG_OK;
    }
    const char *msg = pool_strdup(pool, err);
    const char *sep = strstr(err, ": ");
    const char *field = sep ? pool_strndup(pool, err, (size_t)(sep - err)) : pool_strdup(pool, err);
    if (!msg || !field)
        return AG_ENOMEM;
    v->cls = VC_DENIED;
    v->reason_class = RC_UNREADABLE_VM;
    v->allowed = false;
    v->code = 422;
    v->reason = "Invalid";
    v->message = msg;
    v->causes[0].type = "FieldValueInvalid";
    v->causes[0].field = field;
    v->causes[0].message = msg;
    v->ncauses = 1;
    v->details_name = rq->name[0] ? rq->name : NULL;
    v->details_group = rq->group;
    v->details_kind = rq->resource;
    return AG_OK;
}

static void handle(const char *body, size_t len, bool mutate, const struct snapshot *snap,
                   const struct policy *pol, unsigned stale_seconds, struct webhook_result *out)
{
    static const struct policy default_policy;     /* auto, warn */
    struct review_request rq;
    struct verdict verdict;
    struct vm_facts facts;
    char err[WEBHOOK_ERR_MAX];
    char msg[WEBHOOK_ERR_MAX + 32];
    bool decoded = false;

    memset(out, 0, sizeof *out);
    out->http_status = 500;
    if (!pol)
        pol = &default_policy;

    struct pool *pool = pool_new(WEBHOOK_POOL_CHUNK);
    if (!pool) {
        answer_error(out, "", "out of memory");
        return;
    }

    enum ag_result rc = review_decode(body, len, &rq, err, sizeof err);
    if (rc == AG_EINVAL) {
        answer_bad_request(out, err);
        goto cleanup;
    }
    if (rc != AG_OK) {
        answer_error(out, "", "out of memory");
        goto cleanup;
    }
    decoded = true;

    copy_trunc(out->uid, sizeof out->uid, rq.uid);
    copy_trunc(out->kind, sizeof out->kind, rq.kind);
    copy_trunc(out->ns, sizeof out->ns, rq.ns);
    copy_trunc(out->name, sizeof out->name, rq.name);
    copy_trunc(out->operation, sizeof out->operation, rq.operation);

    bool is_vmi = false;
    struct decide_input in = { 0 };
    in.mutate = mutate;
    in.op = rq.op;
    in.in_scope = in_scope(&rq, &is_vmi);
    in.is_vmi = is_vmi;
    in.resource = rq.resource;
    in.group = rq.group;
    in.stale_seconds = stale_seconds;
    if (in.in_scope && !rq.object) {
        snprintf(msg, sizeof msg, "request.object: missing for %s", rq.operation);
        answer_bad_request(out, msg);
        goto cleanup;
    }
    if (!snap) {
        answer_error(out, rq.uid, "cluster state is not loaded yet");
        goto cleanup;
    }

    memset(&verdict, 0, sizeof verdict);
    bool have_verdict = false;
    if (hco_in_scope(&rq)) {
        if (hco_verdict(&rq, mutate, snap, pol, pool, &verdict) != AG_OK) {
            answer_error(out, rq.uid, "out of memory");
            goto cleanup;
        }
        have_verdict = true;
    } else if (in.in_scope) {
        err[0] = '\0';
        rc = vm_extract(rq.object, is_vmi, rq.ns, pool, &facts, err, sizeof err);
        if (rc == AG_EINVAL) {
            err[sizeof err - 1] = '\0';
            if (unreadable_verdict(&rq, mutate, err, pool, &verdict) != AG_OK) {
                answer_error(out, rq.uid, "out of memory");
                goto cleanup;
            }
            have_verdict = true;
        } else if (rc != AG_OK) {
            snprintf(msg, sizeof msg, "internal error: %s", ag_result_name(rc));
            answer_error(out, rq.uid, msg);
            goto cleanup;
        } else {
            in.vm = &facts;
            if (rq.op == OP_UPDATE)
                in.unchanged = rq.old_object && vm_inputs_equal(rq.old_object, rq.object, is_vmi);
            if (!in.unchanged)     /* the registry's answers, waited for at most --registry-timeout */
                in.resolved = registry_resolve_vm(&facts, snap, pool);
        }
    }
    if (!have_verdict) {
        rc = decide_review(&in, snap, pol, pool, &verdict);
        if (rc != AG_OK) {
            snprintf(msg, sizeof msg, "internal error: %s", ag_result_name(rc));
            answer_error(out, rq.uid, msg);
            goto cleanup;
        }
    }

    const char *json = review_encode(rq.uid, &verdict, pool);
    char *copy = json ? mem_strdup(json) : NULL;
    if (!copy) {
        answer_error(out, rq.uid, "out of memory");
        goto cleanup;
    }
    out->body = copy;
    out->body_len = strlen(copy);
    out->cls = verdict.cls;
    out->reason = verdict.reason_class;
    out->allowed = verdict.allowed;
    out->http_status = 200;

cleanup:
    if (decoded)
        review_free(&rq);
    pool_free(pool);
}

void webhook_handle(const char *body, size_t len, bool mutate, const struct snapshot *snap,
                    const struct policy *pol, unsigned stale_seconds, struct webhook_result *out)
{
    /* The review's cJSON tree lives and dies inside handle(): parse it in the request arena. */
    mem_arena_begin();
    handle(body, len, mutate, snap, pol, stale_seconds, out);
    mem_arena_end();
}

void webhook_result_free(struct webhook_result *r)
{
    if (!r)
        return;
    mem_free(r->body);
    r->body = NULL;
    r->body_len = 0;
}
