/* audit.h - judging every VM of an inventory against a snapshot: would /validate admit it if it
 * were created now, and if not, why (decide_review on a CREATE, so the same causes and
 * messages); and is a running VMI on a node that is gone, or on a node whose architecture its
 * image does not match.
 *
 * Pure apart from the inventory's lock: no I/O, no clock, no globals. The report lives in its
 * own pool. */
#ifndef ARCHGATE_AUDIT_AUDIT_H
#define ARCHGATE_AUDIT_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "cluster.h"
#include "decide.h"
#include "pool.h"
#include "audit/inventory.h"

/* What the audit says of one entry (a VM, with its VMI if any, or a VMI alone). */
enum audit_status { AS_OK = 0, AS_REFUSED, AS_UNKNOWN_IMAGE, AS_COUNT };

/* Why an entry is refused: the decision's reason classes, then the VMI findings. */
enum audit_class {
    AC_VMI_NODE_GONE = RC_COUNT,    /* a running VMI's node is not in the cluster any more */
    AC_VMI_NODE_ARCH,               /* a running VMI's node architecture is not its image's */
    AC_COUNT
};

struct audit_finding {
    const char *ns, *name;
    const char *uid;            /* of the VM (of the VMI when there is no VM), NULL when unknown */
    bool is_vmi;                /* the finding is about the VMI (a VMI check, or a VMI without VM) */
    bool has_vm;                /* a VirtualMachine of this name exists */
    bool running;
    unsigned cls;               /* enum reason_class or enum audit_class */
    const char *reason;         /* Event reason: "NoNodeForImageArchitecture" */
    const char *message;        /* the cause, as /validate says it */
};

struct audit_report {
    struct pool *pool;
    size_t entries;             /* VMs, plus VMIs without a VM */
    size_t vms, vmis;
    size_t status[AS_COUNT];    /* entries by result */
    size_t by_class[AC_COUNT];  /* refused entries by the class of their first finding */
    struct audit_finding *findings;     /* refused entries, in (namespace, name) order */
    size_t nfindings;
};

/* Judge everything. AG_ENOMEM on allocation failure (*out NULL). */
enum ag_result audit_run(const struct snapshot *s, struct inventory *inv, const struct policy *p,
                         struct audit_report **out);
void audit_report_free(struct audit_report *r);     /* NULL is fine */

const char *audit_status_name(enum audit_status st);    /* "ok", "refused", "unknown_image" */
const char *audit_class_name(unsigned cls);             /* "no_node_for_image", "vmi_node_gone", ... */
const char *audit_event_reason(unsigned cls);           /* "NoNodeForImageArchitecture", ... */

/* `archgate audit` output: a table (one line per refused entry, then a summary line) or JSON. */
void audit_print_table(const struct audit_report *r, FILE *out);
void audit_print_json(const struct audit_report *r, FILE *out);
/* "12 VMs audited: 9 ok, 2 refused, 1 unknown image" */
void audit_summary(const struct audit_report *r, char *buf, size_t len);

#endif
