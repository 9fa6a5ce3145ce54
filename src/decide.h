/* decide.h - the decision: facts of a VM + cluster snapshot + policy -> verdict.
 *
 * Pure: no I/O, no globals, no clock. Everything it returns lives in the caller's pool.
 * The rules are docs/design.md "The decision". */
#ifndef ARCHGATE_DECIDE_H
#define ARCHGATE_DECIDE_H

#include <stdbool.h>
#include <stddef.h>
#include "cluster.h"
#include "vm.h"
#include "patch.h"
#include "pool.h"
#include "result.h"

enum multi_arch_mode { MULTI_ARCH_AUTO = 0, MULTI_ARCH_ON, MULTI_ARCH_OFF };
enum unknown_image_mode { UNKNOWN_IMAGE_WARN = 0, UNKNOWN_IMAGE_ALLOW, UNKNOWN_IMAGE_DENY };

struct policy {
    enum multi_arch_mode multi_arch;
    enum unknown_image_mode unknown_image;
};

enum operation { OP_CREATE, OP_UPDATE, OP_DELETE, OP_CONNECT, OP_OTHER };

/* What a source outside the snapshot (the registry) says of one of the VM's images: its
 * architectures with the words that name the source in messages, or why it is unknown. The
 * request path fills these before deciding; decide only reads them. */
struct image_resolution {
    archset archs;                  /* 0: unknown */
    const char *source;             /* "registry index", "registry manifest" (archs != 0) */
    const char *why;                /* archs == 0: why, for the warning; NULL: nothing to say */
};

/* What the review says, already decoded. */
struct decide_input {
    bool mutate;                    /* /mutate (true) or /validate */
    enum operation op;
    bool in_scope;                  /* kubevirt.io/v1 VirtualMachine (CREATE/UPDATE) or VMI (CREATE), no subresource */
    bool is_vmi;
    const struct vm_facts *vm;      /* object's facts; NULL when out of scope */
    bool unchanged;                 /* UPDATE and vm_inputs_equal(oldObject, object) */
    const char *resource;           /* request.resource.resource ("virtualmachines"), for status.details.kind */
    const char *group;              /* request.kind.group */
    unsigned stale_seconds;         /* > 0: the cluster view is this many seconds old (a watch keeps failing) */
    const struct image_resolution *resolved;   /* NULL, or one per vm->images entry: read after
                                                  the annotation and the catalog */
};

/* Why the answer is what it is: metrics label and log word. */
enum verdict_class {
    VC_ALLOWED = 0,     /* allowed, nothing to say */
    VC_WARNED,          /* allowed with warnings */
    VC_MUTATED,         /* allowed with a patch */
    VC_DENIED,          /* denied by a rule */
    VC_SKIPPED,         /* out of scope or unchanged UPDATE: allowed untouched */
    VC_COUNT
};

/* The main reason of an answer, for metrics: the first cause of a denial, the first change of a
 * patch (a DataSource switch over a pinned architecture), the first warning of an allowed VM. */
enum reason_class {
    RC_NONE = 0,
    RC_UNSUPPORTED_ARCH, RC_BAD_ANNOTATION, RC_DISKS_DISAGREE, RC_IMAGE_ARCH_MISMATCH,
    RC_NODE_SELECTOR_CONFLICT, RC_NO_NODE_FOR_IMAGE, RC_NO_NODE_FOR_ARCH, RC_UNKNOWN_IMAGE,
    RC_CORDONED_ONLY, RC_HETEROGENEOUS, RC_STALE_VIEW, RC_PINNED, RC_SIBLING_SWITCH, RC_UNREADABLE_VM,
    RC_HCO_REVIEW,      /* a HyperConverged edit reviewed (hco/hco_review.h): warnings only */
    RC_COUNT
};

#define VERDICT_MAX_CAUSES 8
#define VERDICT_MAX_WARNINGS 8
#define WARNING_MAX_LEN 120     /* every warning is shorter than this */

struct cause {
    const char *type;           /* "FieldValueInvalid" */
    const char *field;          /* "spec.template.spec.volumes" */
    const char *message;        /* the whole explanation, standing alone */
};

struct verdict {
    enum verdict_class cls;
    enum reason_class reason_class;   /* the main reason, for metrics */
    bool allowed;
    int code;                   /* 422 when denied */
    const char *reason;         /* "Invalid" when denied */
    const char *message;        /* every cause message joined with "; " when denied */
    struct cause causes[VERDICT_MAX_CAUSES];
    size_t ncauses;
    const char *warnings[VERDICT_MAX_WARNINGS];
    size_t nwarnings;
    struct patch patch;         /* empty unless mutate */
    const char *details_name;   /* object name for status.details */
    const char *details_group;
    const char *details_kind;   /* resource plural, as KubeVirt reports it */
};

/* Is multi-architecture enabled for this snapshot and policy? (auto reads the HCO CR). */
bool decide_multi_arch_enabled(const struct snapshot *s, const struct policy *p);

/* Decide. AG_ENOMEM when the pool runs dry (the caller answers 500). */
enum ag_result decide_review(const struct decide_input *in, const struct snapshot *s,
                             const struct policy *p, struct pool *pool, struct verdict *out);

/* The image architectures of a VM as far as the snapshot alone says them (the annotation, else
 * the intersection of every volume whose architecture is known: DataSource labels followed once,
 * registry-import platforms, PVC labels, the catalog); 0 when unknown. No registry lookup. */
archset decide_known_image_archs(const struct snapshot *s, const struct vm_facts *f);

const char *verdict_class_name(enum verdict_class c);
const char *reason_class_name(enum reason_class r);   /* "no_node_for_image", ... */  /* "allowed", "warned", ... */

#endif
