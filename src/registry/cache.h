/* cache.h - what the registry said about each reference: bounded (least recently used out),
 * successes by tag for a TTL and by digest while they stay, failures for a short negative TTL;
 * a reference being looked up has one pending entry every requester waits on. Thread-safe. */
#ifndef ARCHGATE_REGISTRY_CACHE_H
#define ARCHGATE_REGISTRY_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "registry/client.h"

struct registry_cache_opts {
    size_t capacity;            /* references kept (pending ones included), >= 1 */
    uint64_t ttl_ms;            /* a tag's answer */
    uint64_t negative_ttl_ms;   /* a failure */
    uint64_t (*now_ms)(void);   /* the clock of the TTLs (NULL: registry_now_ms) */
};

enum registry_cache_state {
    RC_HIT,         /* a fresh answer: *out filled */
    RC_PENDING,     /* someone is looking it up: wait */
    RC_STARTED,     /* nobody was: the caller must start the lookup (and complete it) */
    RC_FULL         /* every entry is pending: nothing could be added */
};

struct registry_cache;
struct registry_cache *registry_cache_new(const struct registry_cache_opts *o);
void registry_cache_free(struct registry_cache *c);

/* Look `key` up; on a miss or an expired entry, add a pending one and answer RC_STARTED. */
enum registry_cache_state registry_cache_begin(struct registry_cache *c, const char *key,
                                               struct registry_result *out);
/* The lookup of `key` is done: store its result (by_digest: no expiry on success) and wake the
 * waiters. Adds the entry if it was evicted meanwhile. */
void registry_cache_complete(struct registry_cache *c, const char *key, bool by_digest,
                             const struct registry_result *res);
/* Forget a pending entry whose lookup could not be started (queue full). */
void registry_cache_abandon(struct registry_cache *c, const char *key);
/* Wait until `key` is answered or CLOCK_MONOTONIC reaches deadline_ms. true with *out filled
 * when answered. */
bool registry_cache_wait(struct registry_cache *c, const char *key, uint64_t deadline_ms,
                         struct registry_result *out);
size_t registry_cache_size(struct registry_cache *c);

#endif
