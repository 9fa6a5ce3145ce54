/* test_examples.c - the worked examples of docs/design.md (tests/fixtures/examples): each review,
 * through the whole request path (webhook_handle), must give the example's response. */
#include <stdio.h>
#include <string.h>
#include "unit.h"
#include "testutil.h"
#include "mem.h"
#include "webhook.h"

#define EX "tests/fixtures/examples/"

struct example {
    const char *dir;
    bool mutate;
    struct policy policy;
    bool exact;         /* compare the whole response; else the checks in the test below */
};

static const struct example examples[] = {
    { "01-deny-arm64-image-outside-vm-pool", false, { MULTI_ARCH_AUTO, UNKNOWN_IMAGE_WARN }, true },
    { "02-allow-pinned-arm64-vm", false, { MULTI_ARCH_AUTO, UNKNOWN_IMAGE_WARN }, true },
    { "03-mutate-pins-registry-image-to-arm64", true, { MULTI_ARCH_ON, UNKNOWN_IMAGE_WARN }, true },
    { "04-multiarch-off-same-vm-warns", true, { MULTI_ARCH_OFF, UNKNOWN_IMAGE_WARN }, true },
    { "05-switch-rhel9-to-amd64-sibling", true, { MULTI_ARCH_AUTO, UNKNOWN_IMAGE_WARN }, true },
    { "06-unknown-pvc-image-warns", false, { MULTI_ARCH_AUTO, UNKNOWN_IMAGE_WARN }, true },
    /* 07's published warning is longer than the 120 characters a warning may have: checked apart */
    { "07-cordoned-amd64-node-warns", false, { MULTI_ARCH_ON, UNKNOWN_IMAGE_WARN }, false },
    { "08-stop-unschedulable-vm-allowed", false, { MULTI_ARCH_AUTO, UNKNOWN_IMAGE_WARN }, true },
};

/* Run one example; returns the parsed response body (cJSON_Delete it) or NULL. */
static cJSON *run_example(const struct example *ex, cJSON **expected)
{
    char path[512];
    snprintf(path, sizeof path, EX "%s/cluster", ex->dir);
    struct snapshot *snap = tu_snapshot_dir(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(snap);
    snprintf(path, sizeof path, EX "%s/review.json", ex->dir);
    size_t len = 0;
    char *body = tu_read_file(path, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    struct webhook_result res;
    webhook_handle(body, len, ex->mutate, snap, &ex->policy, 0, &res);
    CU_ASSERT_EQUAL(res.http_status, 200);
    cJSON *got = res.body ? cJSON_ParseWithLength(res.body, res.body_len) : NULL;
    webhook_result_free(&res);
    mem_free(body);
    snapshot_release(snap);
    snprintf(path, sizeof path, EX "%s/response.json", ex->dir);
    *expected = tu_load_json(path);
    cJSON_DeleteItemFromObject(*expected, "patch_decoded");   /* for reading only */
    return got;
}

static void test_exact_examples(void)
{
    for (size_t i = 0; i < sizeof examples / sizeof examples[0]; i++) {
        if (!examples[i].exact)
            continue;
        cJSON *want = NULL;
        cJSON *got = run_example(&examples[i], &want);
        CU_ASSERT_PTR_NOT_NULL(got);
        CU_ASSERT_PTR_NOT_NULL(want);
        if (!got || !want || !cJSON_Compare(got, want, 1)) {
            char *g = got ? cJSON_PrintUnformatted(got) : NULL;
            char *w = want ? cJSON_PrintUnformatted(want) : NULL;
            fprintf(stderr, "\nexample %s:\n got  %s\n want %s\n", examples[i].dir, g ? g : "(none)", w ? w : "(none)");
            cJSON_free(g);
            cJSON_free(w);
            CU_FAIL("response differs from the worked example");
        }
        cJSON_Delete(got);
        cJSON_Delete(want);
    }
}

static void test_cordoned_example(void)
{
    cJSON *want = NULL;
    cJSON *got = run_example(&examples[6], &want);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(got, "response");
    CU_ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(resp, "allowed")));
    CU_ASSERT_PTR_NULL(cJSON_GetObjectItemCaseSensitive(resp, "patch"));
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(resp, "warnings");
    CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(w), 1);
    const char *text = cJSON_GetStringValue(cJSON_GetArrayItem(w, 0));
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "rhel9-amd64"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "cordoned"));
    CU_ASSERT(strlen(text) < 120);
    CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(resp, "uid")),
                           "45c03c1e-b966-517d-ab78-c5495e8bffca");
    cJSON_Delete(got);
    cJSON_Delete(want);
}

/* The main reason of each example's answer, as the metrics label it. */
static void test_reason_classes(void)
{
    static const enum reason_class want[] = {
        RC_NO_NODE_FOR_IMAGE, RC_NONE, RC_PINNED, RC_HETEROGENEOUS, RC_SIBLING_SWITCH, RC_UNKNOWN_IMAGE,
        RC_CORDONED_ONLY, RC_NONE,
    };
    for (size_t i = 0; i < sizeof examples / sizeof examples[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, EX "%s/cluster", examples[i].dir);
        struct snapshot *snap = tu_snapshot_dir(path);
        CU_ASSERT_PTR_NOT_NULL_FATAL(snap);
        snprintf(path, sizeof path, EX "%s/review.json", examples[i].dir);
        size_t len = 0;
        char *body = tu_read_file(path, &len);
        struct webhook_result res;
        webhook_handle(body, len, examples[i].mutate, snap, &examples[i].policy, 0, &res);
        CASE_ASSERT(res.reason == want[i], i, reason_class_name(res.reason));
        webhook_result_free(&res);
        mem_free(body);
        snapshot_release(snap);
    }
}

UNIT_SUITE("examples", NULL, NULL,
           { "main reason of each answer", test_reason_classes },
           { "worked examples give their responses", test_exact_examples },
           { "example 07: cordoned node warns", test_cordoned_example })
