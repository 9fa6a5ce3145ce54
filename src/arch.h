/* arch.h - CPU architecture names and small sets of them.
 *
 * Names are Go GOARCH values, as Kubernetes, KubeVirt and OCI image indexes use them. uname
 * spellings are normalised (x86_64 -> amd64, aarch64 -> arm64); matching is case-insensitive. */
#ifndef ARCHGATE_ARCH_H
#define ARCHGATE_ARCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

enum arch_id {
    ARCH_AMD64 = 0, ARCH_ARM64, ARCH_S390X, ARCH_PPC64LE, ARCH_386, ARCH_ARM, ARCH_RISCV64,
    ARCH_COUNT
};
#define ARCH_NONE (-1)

typedef uint16_t archset;   /* bit (1u << arch_id) per architecture; 0 = empty/unknown */

/* Architecture id of a name ("amd64", "x86_64", "AArch64", ...), ARCH_NONE if unknown or NULL. */
int arch_parse(const char *name);
/* Canonical name of an id ("amd64"), "unknown" for an id out of range. */
const char *arch_name(int id);
/* True for the architectures KubeVirt can run VMs on: amd64, arm64, s390x. */
bool arch_is_vm_capable(int id);

static inline archset arch_bit(int id) { return (id >= 0 && id < ARCH_COUNT) ? (archset)(1u << id) : 0; }
static inline bool arch_in(archset s, int id) { return (s & arch_bit(id)) != 0; }
int arch_set_count(archset s);
/* The only member of a one-element set, else ARCH_NONE. */
int arch_set_single(archset s);
/* Parse a comma list ("amd64, arm64"). Empty items are skipped. Returns false (and leaves
 * *out untouched) if any item is not a known architecture or the list holds none. */
bool arch_set_parse_list(const char *list, archset *out);
/* "amd64", "amd64, arm64" (canonical order), "none" for 0. Truncates safely; returns buf. */
char *arch_set_format(archset s, char *buf, size_t len);

#endif
