/* hco_review.h - the review of a HyperConverged edit: what HCO will do with its custom golden
 * images (DataImportCronTemplates) and their architecture annotation, and what turning
 * multi-architecture boot images off does on a heterogeneous cluster, said as warnings at the
 * moment of the edit. It never denies: the HyperConverged CR is the operator's lifeline.
 *
 * Pure: the objects of the review and the snapshot in, warnings (in the caller's pool) out. */
#ifndef ARCHGATE_HCO_REVIEW_H
#define ARCHGATE_HCO_REVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>
#include "cluster.h"
#include "decide.h"
#include "pool.h"
#include "result.h"

#define ANNOT_DICT_ARCHS  "ssp.kubevirt.io/dict.architectures"
#define ANNOT_DICT_ENABLE "dataimportcrontemplate.kubevirt.io/enable"
#define HCO_REVIEW_MAX_DICT_WARNINGS 6   /* then one summary line */
#define HCO_REVIEW_MAX_DICTS 1000        /* more are not looked at (said in the summary) */

/* What each warning is about, for metrics. */
enum hco_warning_kind {
    HW_NO_ANNOTATION = 0,   /* an enabled DICT without the architecture annotation */
    HW_MALFORMED,           /* an empty or unknown item in the annotation */
    HW_NO_SUPPORTED_ARCH,   /* no annotated architecture has a workload node: not deployed */
    HW_ARCHS_DROPPED,       /* some annotated architectures have no workload node */
    HW_REGISTRY_DIFFERS,    /* the annotation and what the image's registry lists differ */
    HW_GATE_OFF,            /* multi-architecture boot images off on heterogeneous workload nodes */
    HW_STRANDS_VMS,         /* the new placement leaves existing VMs without a node for their image */
    HW_UNREADABLE,          /* the object could not be read */
    HW_SUMMARY,             /* more DICT warnings than are shown */
    HW_COUNT
};

/* How the review ended, for metrics. */
enum hco_outcome { HO_SILENT = 0, HO_WARNED, HO_UNCHANGED, HO_UNREADABLE, HO_COUNT };

/* What a registry said of one golden image's source (registry lookups happen outside the review,
 * within the request's deadline; see hco_review_sources). */
struct hco_registry_answer {
    const char *url;                /* spec.template.spec.source.registry.url, as in the DICT */
    archset archs;                  /* 0: the registry could not be read; nothing is said then */
    bool from_index;                /* an image index (true) or a single manifest's config */
};

struct hco_review_input {
    const cJSON *object;            /* request.object */
    const cJSON *old_object;        /* request.oldObject on UPDATE, else NULL */
    const struct snapshot *snap;
    const struct hco_registry_answer *registry;     /* may be NULL */
    size_t nregistry;
    /* Existing VMs that would be refused under the edited placement and are not now (see
     * hco_review_placement_change): how many, and the first few "namespace/name". */
    size_t nstranded;
    const char *const *stranded;
    size_t nstranded_names;
};

struct hco_review_result {
    enum hco_outcome outcome;
    const char *warnings[VERDICT_MAX_WARNINGS];     /* each shorter than WARNING_MAX_LEN */
    enum hco_warning_kind kinds[VERDICT_MAX_WARNINGS];
    size_t nwarnings;
};

/* The registry sources worth asking about for this review: those of enabled, annotated DICTs
 * while multi-architecture boot images are on after the edit, none for an UPDATE without a
 * relevant change. *urls (in the pool) holds *n of them, each once. */
enum ag_result hco_review_sources(const struct hco_review_input *in, struct pool *pool, const char ***urls,
                                  size_t *n);

/* An UPDATE that changes the workload node placement: true, with the settings after the edit in
 * *after (strings in the pool), so the caller can judge the existing VMs against the snapshot as it
 * would be (snapshot_with_hco) and pass what it finds in nstranded/stranded. */
bool hco_review_placement_change(const struct hco_review_input *in, struct pool *pool, struct hco_settings *after);

/* Review one CREATE (old_object NULL) or UPDATE. AG_ENOMEM when the pool runs dry. */
enum ag_result hco_review(const struct hco_review_input *in, struct pool *pool, struct hco_review_result *out);

const char *hco_warning_kind_name(enum hco_warning_kind k);   /* "no_annotation", ... */
const char *hco_outcome_name(enum hco_outcome o);             /* "silent", ... */

#endif
