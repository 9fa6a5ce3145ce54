/* bench_registry.c - registry lookups (make bench; not a test). Starts Debian's docker-registry
 * on 127.0.0.1 with TLS from a throw-away CA, pushes a two-platform OCI index under 50 tags and a
 * single s390x manifest under 50 tags, then prints:
 *  - the cold lookup time (cache miss: manifest, and for single manifests the config blob, over
 *    TLS on loopback, through the resolver's worker threads), median and p99;
 *  - the cost of one decision for a containerDisk VM whose image is answered from the registry
 *    cache, against the same VM whose image is in the image catalog (registry_resolve_vm +
 *    decide_review, medians), and the difference. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>
#include "../testutil.h"
#include "../regharness.h"
#include "cluster.h"
#include "decide.h"
#include "mem.h"
#include "pool.h"
#include "registry/resolver.h"
#include "vm.h"

#define TAGS 50
#define ITER 200000

static double median(double *v, size_t n) { qsort(v, n, sizeof *v, tu_cmp_double); return v[n / 2]; }
static double p99(double *v, size_t n) { qsort(v, n, sizeof *v, tu_cmp_double); return v[(n * 99) / 100]; }

static struct snapshot *snap_with(const char *catalog_json)
{
    const char *nodes = "[{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"a1\",\"labels\":{"
                        "\"kubernetes.io/arch\":\"arm64\",\"node-role.kubernetes.io/worker\":\"\"}},\"spec\":{},"
                        "\"status\":{\"nodeInfo\":{\"architecture\":\"arm64\"}}}]";
    cJSON *n = cJSON_Parse(nodes), *c = catalog_json ? cJSON_Parse(catalog_json) : NULL;
    struct cluster_builder *b = cluster_builder_new();
    char err[256];
    const cJSON *it;
    cJSON_ArrayForEach(it, n)
        cluster_builder_add(b, it, err, sizeof err);
    if (c && cluster_builder_add_catalog(b, c, err, sizeof err) != AG_OK)
        fprintf(stderr, "catalog: %s\n", err);
    struct snapshot *s = cluster_builder_finish(b);
    cJSON_Delete(n);
    cJSON_Delete(c);
    return s;
}

/* Median ns of registry_resolve_vm + decide_review for a VM booting `image`. */
static double decide_ns(const char *image, struct snapshot *s)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":\"VirtualMachine\",\"metadata\":{\"name\":\"v\","
             "\"namespace\":\"n\"},\"spec\":{\"template\":{\"spec\":{\"volumes\":[{\"name\":\"r\",\"containerDisk\":"
             "{\"image\":\"%s\"}}]}}}}", image);
    cJSON *o = cJSON_Parse(buf);
    struct pool *pool = pool_new(32 * 1024);
    struct policy p = { .multi_arch = MULTI_ARCH_ON };
    static double t[ITER];
    for (int i = 0; i < ITER; i++) {
        pool_reset(pool);
        double t0 = tu_now_us();
        struct vm_facts f;
        char err[128];
        vm_extract(o, false, "n", pool, &f, err, sizeof err);
        struct decide_input in = { .op = OP_CREATE, .in_scope = true, .vm = &f, .resource = "virtualmachines",
                                   .group = "kubevirt.io" };
        in.resolved = registry_resolve_vm(&f, s, pool);
        struct verdict v;
        decide_review(&in, s, &p, pool, &v);
        t[i] = (tu_now_us() - t0) * 1000.0;
    }
    pool_free(pool);
    cJSON_Delete(o);
    return median(t, ITER);
}

int main(void)
{
    testutil_init();
    mem_install_cjson_hooks();
    char dir[] = "/tmp/archgate-bench-registry.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char certs[128], root[128], ca[160], crt[160], key[160], cmd[512];
    snprintf(certs, sizeof certs, "%s/certs", dir);
    snprintf(root, sizeof root, "%s/storage", dir);
    snprintf(ca, sizeof ca, "%s/ca.crt", certs);
    snprintf(crt, sizeof crt, "%s/tls.crt", certs);
    snprintf(key, sizeof key, "%s/tls.key", certs);
    snprintf(cmd, sizeof cmd, "sh certs/gen-certs.sh '%s' >/dev/null 2>&1", certs);
    mkdir(root, 0700);
    struct reg r;
    if (system(cmd) != 0 || !reg_start(&r, dir, "bench", root, crt, key, ca, NULL, 0)) {
        fprintf(stderr, "bench_registry: cannot start docker-registry (scripts/deps.sh installs it)\n");
        return 1;
    }
    static const char *const two[] = { "amd64", "arm64", "unknown", NULL };
    char digest[72], tag[32];
    bool ok = reg_push_index(&r, "bench/multi", "t0", true, two, digest) &&
              reg_push_image(&r, "bench/single", "t0", "s390x", false, NULL, NULL);
    for (int i = 1; ok && i < TAGS; i++) {
        snprintf(tag, sizeof tag, "t%d", i);
        ok = reg_push_index(&r, "bench/multi", tag, true, two, NULL) &&
             reg_push_image(&r, "bench/single", tag, "s390x", false, NULL, NULL);
    }
    if (!ok) {
        reg_stop(&r);
        return 1;
    }
    struct registry_resolver_opts o = { .client = { .ca_file = ca }, .timeout_ms = 5000 };
    char err[128];
    if (registry_resolver_start(&o, err, sizeof err) != AG_OK)
        return 1;
    double cold_idx[TAGS], cold_one[TAGS];
    for (int i = 0; i < TAGS; i++) {
        char image[256];
        struct registry_result res;
        snprintf(image, sizeof image, "127.0.0.1:%u/bench/multi:t%d", r.port, i);
        double t0 = tu_now_us();
        registry_resolve_one(image, registry_now_ms() + 5000, &res, NULL);
        cold_idx[i] = (tu_now_us() - t0) / 1000.0;
        snprintf(image, sizeof image, "127.0.0.1:%u/bench/single:t%d", r.port, i);
        t0 = tu_now_us();
        registry_resolve_one(image, registry_now_ms() + 5000, &res, NULL);
        cold_one[i] = (tu_now_us() - t0) / 1000.0;
        if (res.status != REG_OK)
            fprintf(stderr, "lookup failed: %s\n", res.why);
    }
    printf("cold lookup, OCI index (1 request), TLS loopback:      median %.2f ms, p99 %.2f ms (%d references)\n",
           median(cold_idx, TAGS), p99(cold_idx, TAGS), TAGS);
    printf("cold lookup, schema 2 manifest + config blob (2 req.): median %.2f ms, p99 %.2f ms (%d references)\n",
           median(cold_one, TAGS), p99(cold_one, TAGS), TAGS);

    char image[256], catalog[512];
    snprintf(image, sizeof image, "127.0.0.1:%u/bench/multi:t0", r.port);
    snprintf(catalog, sizeof catalog, "{\"images\":{\"127.0.0.1:%u/other/x:1\":[\"amd64\"],\"%s\":[\"amd64\",\"arm64\"]}}",
             r.port, image);
    struct snapshot *plain = snap_with(NULL), *with_cat = snap_with(catalog);
    double cached = decide_ns(image, plain);
    double cat = decide_ns(image, with_cat);
    printf("decision, containerDisk from the registry cache:      median %.0f ns\n", cached);
    printf("decision, containerDisk from the image catalog:       median %.0f ns\n", cat);
    printf("registry cache costs %+.0f ns per decision over the catalog (target: at most 1000 ns)\n", cached - cat);
    snapshot_release(plain);
    snapshot_release(with_cat);
    registry_resolver_stop();
    reg_stop(&r);
    tu_rmtree(dir);
    return 0;
}
