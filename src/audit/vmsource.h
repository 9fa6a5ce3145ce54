/* vmsource.h - VirtualMachines and VirtualMachineInstances from kube-apiserver into an
 * inventory: a paged list, then a watch from the list's resourceVersion, relisting on 410 Gone
 * or errors (with back-off). A kind that is not served (KubeVirt not installed) counts as empty
 * and is asked again every minute. */
#ifndef ARCHGATE_AUDIT_VMSOURCE_H
#define ARCHGATE_AUDIT_VMSOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include "kube_client.h"
#include "audit/inventory.h"
#include "result.h"

#define VMSOURCE_VM_PATH  "/apis/kubevirt.io/v1/virtualmachines"
#define VMSOURCE_VMI_PATH "/apis/kubevirt.io/v1/virtualmachineinstances"

struct vmsource_opts {
    const struct kube_config *cfg;
    struct inventory *inv;          /* fed; must outlive vmsource_stop */
    void (*on_change)(void);        /* after a change of the inventory (may be NULL) */
    unsigned page_limit;            /* default 500 */
    unsigned watch_timeout_s;       /* default 300 */
};

/* One thread per kind. Returns at once. */
enum ag_result vmsource_start(const struct vmsource_opts *opts, char *err, size_t errlen);
void vmsource_stop(void);           /* stop and join; fine when not started */
bool vmsource_synced(void);         /* both kinds listed at least once */

/* One list of both kinds into `inv` (for `archgate audit --kubeconfig`). */
enum ag_result vmsource_list_once(const struct kube_config *cfg, struct inventory *inv, char *err, size_t errlen);

/* Apply one watch line of the VM (is_vmi false) or VMI watch to `inv`: *changed says whether
 * the inventory changed, rv (KUBE_RV-sized, 128) gets a resourceVersion when the line has one.
 * Returns AG_OK for an applied change or a bookmark; AG_EINVAL for a line that is not a watch
 * event or an object that cannot be keyed (why in err); AG_EIO for an ERROR event (*gone set
 * for 410); AG_ENOMEM. */
enum ag_result vmsource_apply_line(struct inventory *inv, bool is_vmi, const char *line, size_t len, bool *changed,
                                   char *rv, size_t rvlen, bool *gone, char *err, size_t errlen);

/* Apply one page of a VM or VMI list to `inv`, item by item (inventory_put; an item that cannot
 * be keyed is skipped and logged). rv gets the list's resourceVersion when it has one, cont its
 * continue token ("" on the last page). AG_EINVAL when the page is not a list (err says why,
 * with the byte offset for bad JSON) or its continue token does not fit contlen; AG_ETOOBIG,
 * AG_ENOMEM. Items before a failure stay applied. */
enum ag_result vmsource_apply_page(struct inventory *inv, bool is_vmi, const char *body, size_t len, char *rv,
                                   size_t rvlen, char *cont, size_t contlen, char *err, size_t errlen);

#endif
