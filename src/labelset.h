/* labelset.h - node label maps kept once for the whole cluster view: their strings interned
 * process-wide with reference counts, each map reference-counted, so the live store and every
 * snapshot that uses a node's labels share one copy.
 *
 * Real KubeVirt workers carry 150-170 labels each, and thousands of nodes carry the same few
 * hundred keys and values: one interned copy of each string and 16 bytes per label, instead of a
 * JSON tree per stored node and another copy per snapshot.
 *
 * Lifetimes: a string stays valid while any label map holding it is alive and is freed when the
 * last one goes; a map stays valid while anyone holds a reference (the store's entry, each
 * snapshot built from it). Thread-safe: maps are made and freed under one process-wide lock
 * (never taken on the request path except by the last release of a snapshot); reading a map
 * takes no lock. */
#ifndef ARCHGATE_LABELSET_H
#define ARCHGATE_LABELSET_H

#include <stdbool.h>
#include <stddef.h>
#include "selector.h"
#include "result.h"

struct labelset;

/* The map holding the same pairs as `in` (sorted by key, as selector_parse_labels makes it),
 * its strings interned, with one more reference: an equal map that is alive already is shared.
 * AG_ENOMEM. */
enum ag_result labelset_make(const struct labels *in, struct labelset **out);
/* The map's pairs (valid while the map is). */
const struct labels *labelset_labels(const struct labelset *ls);
void labelset_ref(struct labelset *ls);
void labelset_release(struct labelset *ls);      /* NULL is fine */
/* Same pairs in the same order (interned strings compare by pointer). */
bool labelset_equal(const struct labelset *a, const struct labelset *b);

/* For tests and the memory breakdown: live maps, live distinct strings, and the bytes of both
 * with their tables. */
struct labelset_stats { size_t sets, strings, bytes; };
void labelset_stats(struct labelset_stats *out);

#endif
