/* fuzz_review.c - libFuzzer target: any bytes through webhook_handle on /validate and /mutate,
 * against the cluster of example 05. Every answer must be 200/400/500; a 200 (and a 500 with
 * a body) must be an AdmissionReview that echoes a uid. The review's JSON parser is also checked
 * against cJSON: what json_parse accepts, cJSON accepts too (it is the more lenient of the two),
 * and both give the same tree. Run from the repository root. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "jsonparse.h"
#include "webhook.h"
#include "source_file.h"
#include "log.h"
#include "mem.h"

#define FUZZ_CLUSTER "tests/fixtures/examples/05-switch-rhel9-to-amd64-sibling/cluster"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct snapshot *snap;

static void fuzz_init(void)
{
    char err[512] = "";
    mem_install_cjson_hooks();
    log_setup(LOG_ERROR, LOG_TEXT);
    if (source_file_load(FUZZ_CLUSTER, NULL, &snap, err, sizeof err) != AG_OK || !snap) {
        fprintf(stderr, "fuzz_review: cannot load %s (run from the repository root): %s\n", FUZZ_CLUSTER, err);
        abort();
    }
}

static void check(const struct webhook_result *r, bool mutate)
{
    if (r->http_status != 200 && r->http_status != 400 && r->http_status != 500) {
        fprintf(stderr, "fuzz_review: status %d\n", r->http_status);
        abort();
    }
    if (!r->body || r->body_len != strlen(r->body)) {
        fprintf(stderr, "fuzz_review: status %d without a proper body\n", r->http_status);
        abort();
    }
    if (r->http_status == 400) {
        const char *nl = strchr(r->body, '\n');
        if (!nl || nl[1] != '\0') {
            fprintf(stderr, "fuzz_review: 400 body is not one line: %s\n", r->body);
            abort();
        }
        return;
    }
    cJSON *root = cJSON_Parse(r->body);
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(root, "response");
    const cJSON *uid = cJSON_GetObjectItemCaseSensitive(resp, "uid");
    const cJSON *allowed = cJSON_GetObjectItemCaseSensitive(resp, "allowed");
    if (!cJSON_IsString(uid) || !cJSON_IsBool(allowed)) {
        fprintf(stderr, "fuzz_review: %d answer is not an AdmissionReview with a uid: %s\n",
                r->http_status, r->body);
        abort();
    }
    if (r->http_status == 200 && mutate && !cJSON_IsTrue(allowed)) {
        fprintf(stderr, "fuzz_review: /mutate denied: %s\n", r->body);
        abort();
    }
    cJSON_Delete(root);
}

/* json_parse keeping everything against cJSON on the same bytes. */
static void same_as_cjson(const char *data, size_t size)
{
    cJSON *ours = NULL;
    enum json_parse_result r = json_parse(data, size, JSON_PARSE_MAX_DEPTH, NULL, NULL, &ours, NULL);
    if (r != JSON_PARSE_OK)
        return;
    cJSON *theirs = cJSON_ParseWithLength(data, size);
    char *a = cJSON_PrintUnformatted(ours), *b = theirs ? cJSON_PrintUnformatted(theirs) : NULL;
    if (!theirs || !a || !b || strcmp(a, b) != 0) {
        fprintf(stderr, "fuzz_review: json_parse and cJSON disagree:\n  ours:  %.300s\n  cJSON: %.300s\n",
                a ? a : "(print failed)", b ? b : "(refused)");
        abort();
    }
    cJSON_free(a);
    cJSON_free(b);
    cJSON_Delete(ours);
    cJSON_Delete(theirs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        fuzz_init();
        ready = true;
    }
    static const struct policy pols[2] = {
        { MULTI_ARCH_AUTO, UNKNOWN_IMAGE_WARN },
        { MULTI_ARCH_ON, UNKNOWN_IMAGE_DENY },
    };
    const struct policy *pol = &pols[size & 1];
    for (int mutate = 0; mutate < 2; mutate++) {
        struct webhook_result r;
        webhook_handle((const char *)data, size, mutate, snap, pol, 0, &r);
        check(&r, mutate);
        webhook_result_free(&r);
    }
    same_as_cjson((const char *)data, size);
    return 0;
}
