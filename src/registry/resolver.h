/* resolver.h - the registry seen from the request path: a process-wide resolver (cache + worker
 * threads + bounded queue) that turns a VM's containerDisk images and CDI registry imports into
 * architecture sets, waiting at most --registry-timeout for what is not cached. Requests never do
 * I/O themselves; a lookup finishing after its requester gave up still fills the cache. */
#ifndef ARCHGATE_REGISTRY_RESOLVER_H
#define ARCHGATE_REGISTRY_RESOLVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cluster.h"
#include "decide.h"
#include "pool.h"
#include "vm.h"
#include "registry/client.h"

struct registry_resolver_opts {
    struct registry_client_opts client;
    size_t cache_size;          /* references, default 10000 */
    uint64_t ttl_ms;            /* tags, default 1 h */
    uint64_t negative_ttl_ms;   /* failures, default 30 s */
    unsigned timeout_ms;        /* a request waits at most this long on a miss, default 1500 */
    unsigned workers;           /* concurrent lookups, default 4 */
    size_t queue_max;           /* lookups waiting for a worker, default 256 */
    uint64_t (*now_ms)(void);   /* the cache's clock (tests), NULL: monotonic */
};

/* Start the process-wide resolver. Call once (serve, review), before requests. */
enum ag_result registry_resolver_start(const struct registry_resolver_opts *o, char *err, size_t errlen);
/* Stop the workers and free everything (lookups in flight are waited for). */
void registry_resolver_stop(void);
bool registry_resolver_running(void);

/* One entry per vm->images entry (in the pool), or NULL when the resolver is not running, the
 * VM carries the image-architectures annotation, or no image needs the registry (catalog hits,
 * DataSources, PVCs, registry imports with platform.architecture). All lookups of one request
 * share one deadline. NULL also when the pool runs dry (the images stay unknown). */
const struct image_resolution *registry_resolve_vm(const struct vm_facts *vm, const struct snapshot *s,
                                                   struct pool *pool);

/* Several references ("docker://" prefix allowed), one deadline for all, the lookups side by
 * side: n results in the pool, or NULL when the resolver is not running (or the pool runs dry).
 * For the HyperConverged review's golden-image sources. */
struct registry_result *registry_resolve_list(const char *const *names, size_t n, struct pool *pool);

/* One reference, waiting until deadline_ms (CLOCK_MONOTONIC): for tests and benchmarks. *hit
 * (optional) says it was answered from the cache. */
void registry_resolve_one(const char *image, uint64_t deadline_ms, struct registry_result *out, bool *hit);

size_t registry_resolver_cache_size(void);

#endif
