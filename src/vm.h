/* vm.h - the facts of one VirtualMachine or VirtualMachineInstance that the decision reads.
 *
 * vm_extract reads `object` (never trusting a field's presence or type) into struct vm_facts.
 * Strings are borrowed from the cJSON tree, which must outlive the facts; arrays and parsed
 * selectors live in the caller's pool. */
#ifndef ARCHGATE_VM_H
#define ARCHGATE_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>
#include "arch.h"
#include "selector.h"
#include "pool.h"
#include "result.h"

#define ANNOT_IMAGE_ARCHS "archgate.io/image-architectures"

enum image_kind {
    IMG_DATASOURCE,     /* dataVolumeTemplates[i].spec.sourceRef (kind DataSource): ns, name */
    IMG_REGISTRY,       /* dataVolumeTemplates[i].spec.source.registry: name = url (or imageStream), arch_str = platform.architecture */
    IMG_PVC,            /* volumes[i].persistentVolumeClaim.claimName, or volumes[i].dataVolume.name
                           naming no template (an existing DataVolume/claim): ns, name */
    IMG_CONTAINERDISK   /* volumes[i].containerDisk.image: name = image */
};

struct vm_image {
    enum image_kind kind;
    const char *ns;         /* DataSource / PVC namespace (defaults to the VM's) */
    const char *name;
    const char *arch_str;   /* IMG_REGISTRY: platform.architecture, NULL when absent */
    int dvt_index;          /* index in spec.dataVolumeTemplates, -1 if not from a template */
    int volume_index;       /* index in volumes, -1 if from a template no volume names */
};

struct vm_facts {
    bool is_vmi;
    const char *ns, *name;          /* metadata (name may be NULL: generateName) */
    const char *arch;               /* spec(.template.spec).architecture, NULL when absent or "" */
    const char *pref_name;          /* spec.preference.name, NULL when none (VM only) */
    bool pref_cluster;              /* kind VirtualMachineClusterPreference (the default) */
    struct placement placement;     /* nodeSelector, required affinity, tolerations */
    bool has_node_selector;         /* a nodeSelector object is present (even empty) */
    bool has_constraints;           /* nodeSelector non-empty, affinity or tolerations present */
    const char *sel_arch;           /* nodeSelector["kubernetes.io/arch"], NULL when absent */
    const char *annot_archs;        /* annotation archgate.io/image-architectures, NULL when absent */
    const struct vm_image *images;
    size_t nimages;
};

/* Extract facts from a VM (is_vmi false) or VMI object. `req_ns` is request.namespace, used
 * when metadata.namespace is absent. A field of the wrong type: AG_EINVAL, with `err` naming
 * the field path (e.g. "spec.template.spec.nodeSelector: must be an object"). */
enum ag_result vm_extract(const cJSON *object, bool is_vmi, const char *req_ns, struct pool *pool,
                          struct vm_facts *out, char *err, size_t errlen);

/* True when everything the decision reads is the same in both objects (architecture,
 * preference, nodeSelector, affinity, tolerations, volumes, dataVolumeTemplates, the
 * image-architectures annotation). Used on UPDATE. */
bool vm_inputs_equal(const cJSON *old_object, const cJSON *new_object, bool is_vmi);

/* Field paths for messages and patches. */
const char *vm_spec_field(const struct vm_facts *f);    /* "spec.template.spec" or "spec" */
const char *vm_spec_pointer(const struct vm_facts *f);  /* "/spec/template/spec" or "/spec" */

#endif
