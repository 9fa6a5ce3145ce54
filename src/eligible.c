/* eligible.c - node eligibility for one VM: classify each node by the first reason that keeps
 * the VM off it, count nodes per reason and architecture, and describe the counts for users.
 * No allocation: classify/census run per request over every node of the snapshot. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "eligible.h"

static const char *const transient_taints[] = {
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
    "node.kubernetes.io/memory-pressure",
    "node.kubernetes.io/disk-pressure",
    "node.kubernetes.io/pid-pressure",
    "node.kubernetes.io/network-unavailable",
};

#define NODE_TAINT_PREFIX "node.kubernetes.io/"

bool eligible_taint_is_transient(const struct taint *t)
{
    if (!t || !t->key || strncmp(t->key, NODE_TAINT_PREFIX, sizeof NODE_TAINT_PREFIX - 1) != 0)
        return false;
    for (size_t i = 0; i < sizeof transient_taints / sizeof transient_taints[0]; i++)
        if (strcmp(t->key, transient_taints[i]) == 0)
            return true;
    return false;
}

static bool is_cordon_taint(const struct taint *t)
{
    return t->key && strcmp(t->key, TAINT_UNSCHEDULABLE) == 0;
}

enum node_reason eligible_classify(const struct node *n, bool kubevirt_labels_nodes, const struct placement *vm)
{
    if (!n->workload)
        return NR_PLACEMENT;
    if (kubevirt_labels_nodes && !n->kubevirt_ok)
        return NR_NOT_KUBEVIRT;
    const struct toleration *tols = NULL;
    size_t ntols = 0;
    if (vm) {
        if (vm->node_selector.n && !selector_match_labels(&vm->node_selector, &n->labels))
            return NR_SELECTOR;
        if (vm->has_affinity && !selector_match_node_sel(&vm->affinity, n->name, &n->labels))
            return NR_AFFINITY;
        tols = vm->tolerations;
        ntols = vm->ntolerations;
    }
    bool held = false;
    for (size_t i = 0; i < n->ntaints; i++) {
        const struct taint *t = &n->taints[i];
        if (t->effect != EFFECT_NO_SCHEDULE && t->effect != EFFECT_NO_EXECUTE)
            continue;
        if (is_cordon_taint(t))
            continue;       /* judged with spec.unschedulable below */
        if (selector_tolerated(tols, ntols, t))
            continue;
        if (eligible_taint_is_transient(t)) {
            held = true;
            continue;
        }
        return NR_TAINT;
    }
    if (n->unschedulable) {
        /* The scheduler's NodeUnschedulable plugin lets a pod that tolerates the
         * unschedulable:NoSchedule taint onto a cordoned node. */
        static const struct taint cordon = { TAINT_UNSCHEDULABLE, "", EFFECT_NO_SCHEDULE };
        if (!selector_tolerated(tols, ntols, &cordon))
            return NR_CORDONED;
    }
    return held ? NR_NOT_READY : NR_ELIGIBLE;
}

static inline int arch_column(int arch)
{
    return (arch >= 0 && arch < ARCH_COUNT) ? arch : ARCH_COUNT;
}

void eligible_census(const struct snapshot *s, const struct placement *vm, struct census *out)
{
    if (!vm) {
        *out = s->base;
        return;
    }
    memset(out, 0, sizeof *out);
    selector_batch_begin();
    for (size_t i = 0; i < s->nnodes; i++) {
        const struct node *n = &s->nodes[i];
        out->n[eligible_classify(n, s->kubevirt_labels_nodes, vm)][arch_column(n->arch)]++;
    }
    selector_batch_end();
}

unsigned eligible_count(const struct census *c, int arch)
{
    if (!c || arch < 0 || arch >= ARCH_COUNT)
        return 0;
    return c->n[NR_ELIGIBLE][arch];
}

archset eligible_archs(const struct census *c)
{
    archset s = 0;
    for (int a = 0; a < ARCH_COUNT; a++)
        if (c->n[NR_ELIGIBLE][a])
            s |= arch_bit(a);
    return s;
}

archset eligible_held_archs(const struct census *c)
{
    archset s = 0;
    for (int a = 0; a < ARCH_COUNT; a++)
        if (c->n[NR_CORDONED][a] || c->n[NR_NOT_READY][a])
            s |= arch_bit(a);
    return s;
}

static const char *const phrases[NR_COUNT] = {
    [NR_ELIGIBLE] = "eligible",
    [NR_CORDONED] = "cordoned",
    [NR_NOT_READY] = "not ready",
    [NR_PLACEMENT] = "excluded by the workload node placement",
    [NR_NOT_KUBEVIRT] = "without kubevirt.io/schedulable=true",
    [NR_SELECTOR] = "excluded by the VM's nodeSelector",
    [NR_AFFINITY] = "excluded by the VM's node affinity",
    [NR_TAINT] = "excluded by taints the VM does not tolerate",
};

/* Appends to buf[*used..len); once full, stays full (the text is cut, never overrun). */
static void put(char *buf, size_t len, size_t *used, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void put(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
    if (*used + 1 >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *used, len - *used, fmt, ap);
    va_end(ap);
    if (w < 0)
        return;
    if ((size_t)w >= len - *used)
        *used = len - 1;
    else
        *used += (size_t)w;
}

void eligible_describe(const struct census *c, char *buf, size_t len)
{
    if (!buf || len == 0)
        return;
    buf[0] = '\0';
    if (!c)
        return;
    size_t used = 0;
    put(buf, len, &used, "eligible: ");
    bool any = false;
    for (int a = 0; a < ARCH_COUNT; a++) {
        unsigned k = c->n[NR_ELIGIBLE][a];
        if (!k)
            continue;
        put(buf, len, &used, "%s%u %s", any ? ", " : "", k, arch_name(a));
        any = true;
    }
    if (c->n[NR_ELIGIBLE][ARCH_COUNT]) {
        put(buf, len, &used, "%s%u of unknown architecture", any ? ", " : "", c->n[NR_ELIGIBLE][ARCH_COUNT]);
        any = true;
    }
    if (!any)
        put(buf, len, &used, "none");
    for (int r = NR_CORDONED; r < NR_COUNT; r++) {
        for (int a = 0; a <= ARCH_COUNT; a++) {
            unsigned k = c->n[r][a];
            if (!k)
                continue;
            if (a < ARCH_COUNT)
                put(buf, len, &used, "; %u %s %s", k, arch_name(a), phrases[r]);
            else
                put(buf, len, &used, "; %u of unknown architecture %s", k, phrases[r]);
        }
    }
}
