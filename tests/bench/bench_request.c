/* bench_request.c - one admission request in process (make bench; not a test): the load
 * benchmark's 10 KB review (scripts/load/review-10k.json) against the sample cluster
 * (manifests/samples/cluster), without TLS or HTTP. Prints median and p99 microseconds for
 *  - parsing the body: cJSON_ParseWithLength (a full tree), json_parse (a full tree, strict), and
 *    json_parse keeping nothing (the syntax check alone: the floor of any strict parse);
 *  - review_decode, which leaves out what no rule reads;
 *  - webhook_handle for /validate and /mutate: decode, extract, decide, encode.
 * Rounds of each step are interleaved, so a noisy neighbour affects them alike.
 * Usage: bench_request [REVIEW.json [CLUSTER-DIR]] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "../testutil.h"
#include "jsonparse.h"
#include "mem.h"
#include "review.h"
#include "source_file.h"
#include "webhook.h"

#define ROUNDS 40
#define PER_ROUND 500
#define WARMUP 2000

enum step { S_CJSON, S_JSONPARSE, S_CHECK, S_DECODE, S_VALIDATE, S_MUTATE, S_COUNT };

static const char *const step_names[S_COUNT] = {
    "cJSON_ParseWithLength + Delete",
    "json_parse (full tree) + Delete",
    "json_parse (nothing kept: syntax)",
    "review_decode + review_free",
    "webhook_handle /validate",
    "webhook_handle /mutate",
};

struct ctx {
    const char *body;
    size_t len;
    const struct snapshot *snap;
    struct policy pol;
};

static bool keep_nothing(const char *const *path, unsigned depth, const char *key, void *ctx)
{
    (void)path;
    (void)depth;
    (void)key;
    (void)ctx;
    return false;
}

/* One run of a step, inside the request arena as the server does it; false on a failure. */
static bool run_step(enum step s, const struct ctx *c)
{
    bool ok = true;
    mem_arena_begin();
    switch (s) {
    case S_CJSON: {
        cJSON *j = cJSON_ParseWithLength(c->body, c->len);
        ok = j != NULL;
        cJSON_Delete(j);
        break;
    }
    case S_JSONPARSE: {
        cJSON *j = NULL;
        ok = json_parse(c->body, c->len, REVIEW_MAX_NESTING, NULL, NULL, &j, NULL) == JSON_PARSE_OK;
        cJSON_Delete(j);
        break;
    }
    case S_CHECK: {
        cJSON *j = NULL;
        ok = json_parse(c->body, c->len, REVIEW_MAX_NESTING, keep_nothing, NULL, &j, NULL) == JSON_PARSE_OK;
        cJSON_Delete(j);
        break;
    }
    case S_DECODE: {
        struct review_request r;
        char err[256];
        ok = review_decode(c->body, c->len, &r, err, sizeof err) == AG_OK;
        review_free(&r);
        break;
    }
    case S_VALIDATE:
    case S_MUTATE: {
        mem_arena_end();    /* webhook_handle opens its own arena */
        struct webhook_result res;
        webhook_handle(c->body, c->len, s == S_MUTATE, c->snap, &c->pol, 0, &res);
        ok = res.http_status == 200;
        webhook_result_free(&res);
        return ok;
    }
    default:
        ok = false;
    }
    mem_arena_end();
    return ok;
}

int main(int argc, char **argv)
{
    const char *review = argc > 1 ? argv[1] : "scripts/load/review-10k.json";
    const char *cluster = argc > 2 ? argv[2] : "manifests/samples/cluster";
    testutil_init();
    struct ctx c = { 0 };
    char *body = tu_read_file(review, &c.len);
    if (!body) {
        fprintf(stderr, "bench_request: cannot read %s\n", review);
        return 1;
    }
    c.body = body;
    struct snapshot *snap = NULL;
    char err[512] = "";
    if (source_file_load(cluster, NULL, &snap, err, sizeof err) != AG_OK) {
        fprintf(stderr, "bench_request: %s\n", err);
        return 1;
    }
    c.snap = snap;

    static double samples[S_COUNT][ROUNDS * PER_ROUND];
    for (int s = 0; s < S_COUNT; s++)
        for (int i = 0; i < WARMUP; i++)
            if (!run_step((enum step)s, &c)) {
                fprintf(stderr, "bench_request: %s failed on %s\n", step_names[s], review);
                return 1;
            }
    for (int round = 0; round < ROUNDS; round++)
        for (int s = 0; s < S_COUNT; s++)
            for (int i = 0; i < PER_ROUND; i++) {
                double t0 = tu_now_us();
                run_step((enum step)s, &c);
                samples[s][round * PER_ROUND + i] = tu_now_us() - t0;
            }

    printf("archgate request benchmark: %s (%zu bytes), cluster %s\n", review, c.len, cluster);
    printf("%d runs per step in %d interleaved rounds after %d warm-up; microseconds per run\n\n",
           ROUNDS * PER_ROUND, ROUNDS, WARMUP);
    printf("  %-34s %9s %9s\n", "", "median", "p99");
    size_t n = ROUNDS * PER_ROUND;
    for (int s = 0; s < S_COUNT; s++) {
        qsort(samples[s], n, sizeof samples[s][0], tu_cmp_double);
        printf("  %-34s %9.2f %9.2f\n", step_names[s], samples[s][n / 2], samples[s][n * 99 / 100]);
    }
    snapshot_release(snap);
    mem_free(body);
    return 0;
}
