/* inventory.h - the VMs and VMIs of the cluster as the audit reads them.
 *
 * Each object is reduced at ingest to its compact facts (src/vm.c's extraction, every string
 * copied into a small pool of its own) plus the few status fields the audit reads; no cJSON tree
 * is kept. Entries are keyed by namespace/name (a VM and its VMI share one entry) and kept
 * sorted, so an audit walks them in a stable order. Thread-safe: every function takes the lock;
 * inventory_each holds it for the whole walk. */
#ifndef ARCHGATE_AUDIT_INVENTORY_H
#define ARCHGATE_AUDIT_INVENTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "vm.h"
#include "pool.h"
#include "result.h"

#define INVENTORY_MAX_ENTRIES (1024u * 1024)    /* namespace/name keys */
#define INVENTORY_ERR_MAX 256                   /* an unreadable object's reason, truncated */

/* One VM or VMI, compact. */
struct inv_obj {
    struct pool *pool;          /* owns facts' strings and arrays, and err */
    bool readable;              /* facts are valid; else err says why */
    struct vm_facts facts;
    const char *err;            /* unreadable: "spec.template.spec.nodeSelector: must be an object" */
    bool running;               /* VM: status.printableStatus "Running"; VMI: status.phase "Running" */
    const char *node;           /* VMI: status.nodeName, NULL when absent */
    const char *uid;            /* metadata.uid, NULL when absent (Events name their object by it) */
    uint64_t fingerprint;       /* of everything above: an update that changes none of it changes nothing */
    unsigned seen;              /* the sync epoch of its kind when it was last put (inventory_sync_*) */
};

struct inv_entry {
    const char *ns, *name;
    struct inv_obj *vm, *vmi;   /* either may be NULL, never both */
};

struct inventory;

struct inventory *inventory_new(void);
void inventory_free(struct inventory *inv);      /* NULL is fine */

/* Add or replace a VirtualMachine (is_vmi false) or VirtualMachineInstance. An object whose
 * facts cannot be read is kept as unreadable (AG_OK; the audit reports it). AG_EINVAL (err says
 * why) when it has no usable metadata.namespace and metadata.name; AG_ETOOBIG past
 * INVENTORY_MAX_ENTRIES; AG_ENOMEM. *changed (may be NULL) says whether what the audit reads
 * changed. */
enum ag_result inventory_put(struct inventory *inv, bool is_vmi, const cJSON *obj, bool *changed,
                             char *err, size_t errlen);
/* Forget one VM or VMI; *changed (may be NULL) says whether it was there. */
void inventory_delete(struct inventory *inv, bool is_vmi, const char *ns, const char *name, bool *changed);
/* A resync of one kind (a relist, a re-read of the folder), applied in place: after
 * inventory_sync_begin, every put of that kind marks its object seen (one whose facts are the
 * same stays where it is and nothing is allocated for it); inventory_sync_end with commit
 * forgets the objects of that kind not seen since the begin. Without commit (the read failed)
 * nothing is forgotten; the puts already made stay, each being a newer state. Returns whether
 * anything of the inventory changed between begin and end. One sync per kind at a time. */
void inventory_sync_begin(struct inventory *inv, bool is_vmi);
bool inventory_sync_end(struct inventory *inv, bool is_vmi, bool commit);
/* Add every VirtualMachine and VirtualMachineInstance of a JSON value: one object, a List, or
 * an array of them; other kinds are skipped. An item of those kinds with no usable key is
 * recorded as an unreadable VM named "<where>[<index>]" in namespace "" (so the audit reports
 * it). AG_ENOMEM / AG_ETOOBIG only. */
enum ag_result inventory_add_value(struct inventory *inv, const cJSON *value, const char *where,
                                   char *err, size_t errlen);
/* inventory_add_value for every object of every *.json file of a cluster-state folder, read item
 * by item as the cluster source reads it (source_file_each). AG_EIO when the folder or a file
 * cannot be read, AG_EINVAL when a file is not JSON (err names the file). */
enum ag_result inventory_load_dir(struct inventory *inv, const char *dir, char *err, size_t errlen);

size_t inventory_count(struct inventory *inv);          /* entries (VM and/or VMI) */
size_t inventory_count_kind(struct inventory *inv, bool is_vmi);
size_t inventory_bytes(struct inventory *inv);          /* memory held */
uint64_t inventory_generation(struct inventory *inv);   /* bumps on every change */

/* Does the VM (is_vmi false) or VMI of this name exist? */
bool inventory_has(struct inventory *inv, bool is_vmi, const char *ns, const char *name);

/* Visit every entry in (namespace, name) order, under the lock: `fn` must not call back into
 * the inventory. */
void inventory_each(struct inventory *inv, void (*fn)(void *arg, const struct inv_entry *e), void *arg);

/* Is this a kubevirt.io VirtualMachine or VirtualMachineInstance? (*is_vmi says which). */
bool inventory_kind_of(const cJSON *obj, bool *is_vmi);

#endif
