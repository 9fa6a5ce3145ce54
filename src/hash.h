/* hash.h - FNV-1a, 64 bits: the string hash of the snapshot's and the store's hash tables, and
 * the cluster-state folder's fingerprint. Not for anything an attacker must not collide. */
#ifndef ARCHGATE_HASH_H
#define ARCHGATE_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define HASH_FNV1A_START 1469598103934665603ull

/* Continue hash h over n bytes at data (start with HASH_FNV1A_START). */
static inline uint64_t hash_fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* The hash of a NUL-terminated string (the NUL not included). */
static inline uint64_t hash_str(const char *s)
{
    return hash_fnv1a(HASH_FNV1A_START, s, strlen(s));
}

#endif
