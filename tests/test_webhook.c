/* test_webhook.c - webhook_handle end to end: status codes, uid echo, scope, the answers for
 * unreadable VMs, and an allocation-failure sweep (no crash, no leak, always an answer).
 * The decision rules themselves are tested in test_decide.c. */
#include <stdio.h>
#include <string.h>
#include <CUnit/CUnit.h>
#include "unit.h"
#include "testutil.h"
#include "webhook.h"
#include "cluster.h"
#include "mem.h"

#define EX "tests/fixtures/examples/"
#define EX01 EX "01-deny-arm64-image-outside-vm-pool"
#define EX02 EX "02-allow-pinned-arm64-vm"
#define EX05 EX "05-switch-rhel9-to-amd64-sibling"

static struct snapshot *snap01, *snap05;
static const struct policy pol_default = { MULTI_ARCH_AUTO, UNKNOWN_IMAGE_WARN };

static int setup(void)
{
    snap01 = tu_snapshot_dir(EX01 "/cluster");
    snap05 = tu_snapshot_dir(EX05 "/cluster");
    return snap01 && snap05 ? 0 : 1;
}

static int teardown(void)
{
    snapshot_release(snap01);
    snapshot_release(snap05);
    snap01 = snap05 = NULL;
    return 0;
}

static void handle_text(const char *body, bool mutate, const struct snapshot *s, struct webhook_result *out)
{
    webhook_handle(body, body ? strlen(body) : 0, mutate, s, &pol_default, 0, out);
}

/* The example's review as a cJSON tree, to edit. */
static cJSON *load_review(const char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/review.json", dir);
    cJSON *j = tu_load_json(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    return j;
}

static cJSON *req_of(cJSON *review)
{
    cJSON *r = cJSON_GetObjectItemCaseSensitive(review, "request");
    CU_ASSERT_FATAL(cJSON_IsObject(r));
    return r;
}

static void set_str(cJSON *obj, const char *key, const char *value)
{
    cJSON *v = cJSON_CreateString(value);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    if (cJSON_GetObjectItemCaseSensitive(obj, key))
        cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v);
    else
        cJSON_AddItemToObject(obj, key, v);
}

/* Run webhook_handle on a tree; the result is the caller's. */
static void handle_tree(const cJSON *review, bool mutate, const struct snapshot *s, struct webhook_result *out)
{
    char *text = cJSON_PrintUnformatted(review);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    handle_text(text, mutate, s, out);
    cJSON_free(text);
}

/* The response member of a 200/500 body (root returned for cJSON_Delete). */
static const cJSON *response_of(const struct webhook_result *r, cJSON **root)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(r->body);
    CU_ASSERT_EQUAL(strlen(r->body), r->body_len);
    *root = tu_parse(r->body);
    CU_ASSERT_PTR_NOT_NULL_FATAL(*root);
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(*root, "response");
    CU_ASSERT_FATAL(cJSON_IsObject(resp));
    return resp;
}

static void test_bad_requests(void)
{
    static const struct { const char *body, *reason; } cases[] = {
        { "", "empty body\n" },
        { "   ", "empty body\n" },
        { "{} x", "not valid JSON near byte 3\n" },
        { "[]", "not a JSON object\n" },
        { "{\"apiVersion\":\"admission.k8s.io/v1beta1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"x\"}}",
          "apiVersion: admission.k8s.io/v1 required, got \"admission.k8s.io/v1beta1\"\n" },
        { "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}", "request: missing\n" },
        { "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"kind\":{}}}",
          "request.uid: missing\n" },
    };
    long live = mem_live();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct webhook_result r;
        handle_text(cases[i].body, false, snap01, &r);
        CU_ASSERT_EQUAL(r.http_status, 400);
        CU_ASSERT_PTR_NOT_NULL_FATAL(r.body);
        CU_ASSERT_STRING_EQUAL(r.body, cases[i].reason);
        CU_ASSERT_EQUAL(r.body_len, strlen(cases[i].reason));
        CU_ASSERT_STRING_EQUAL(r.uid, "");
        webhook_result_free(&r);
        CU_ASSERT_PTR_NULL(r.body);
    }
    /* NULL body */
    struct webhook_result r;
    webhook_handle(NULL, 0, true, snap01, &pol_default, 0, &r);
    CU_ASSERT_EQUAL(r.http_status, 400);
    webhook_result_free(&r);

    /* in scope without an object */
    cJSON *rv = load_review(EX01);
    cJSON_DeleteItemFromObjectCaseSensitive(req_of(rv), "object");
    handle_tree(rv, false, snap01, &r);
    CU_ASSERT_EQUAL(r.http_status, 400);
    CU_ASSERT_STRING_EQUAL(r.body, "request.object: missing for CREATE\n");
    CU_ASSERT_STRING_EQUAL(r.uid, "96b5c0ab-56ae-55b7-832e-fe8edab55826");
    webhook_result_free(&r);
    cJSON_ReplaceItemInObjectCaseSensitive(req_of(rv), "operation", cJSON_CreateString("UPDATE"));
    cJSON_AddItemToObject(req_of(rv), "object", cJSON_CreateNull());
    handle_tree(rv, true, snap01, &r);
    CU_ASSERT_EQUAL(r.http_status, 400);
    CU_ASSERT_STRING_EQUAL(r.body, "request.object: missing for UPDATE\n");
    webhook_result_free(&r);
    cJSON_Delete(rv);
    CU_ASSERT_EQUAL(mem_live(), live);
}

static void test_uid_echo_and_log_fields(void)
{
    long live = mem_live();
    struct webhook_result r;
    size_t len = 0;
    char *body = tu_read_file(EX02 "/review.json", &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    struct snapshot *s = tu_snapshot_dir(EX02 "/cluster");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    webhook_handle(body, len, false, s, &pol_default, 0, &r);
    CU_ASSERT_EQUAL(r.http_status, 200);
    cJSON *root;
    const cJSON *resp = response_of(&r, &root);
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(resp, "uid")->valuestring, "d7b02b4e-d99a-5f11-ac67-b0fd71bf45e4");
    CU_ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(resp, "allowed")));
    CU_ASSERT_TRUE(r.allowed);
    CU_ASSERT_STRING_EQUAL(r.uid, "d7b02b4e-d99a-5f11-ac67-b0fd71bf45e4");
    CU_ASSERT_STRING_EQUAL(r.kind, "VirtualMachine");
    CU_ASSERT_STRING_EQUAL(r.operation, "CREATE");
    CU_ASSERT_STRING_EQUAL(r.ns, "vms");
    CU_ASSERT_NOT_EQUAL(r.name[0], '\0');
    cJSON_Delete(root);
    webhook_result_free(&r);

    /* a long name is truncated (at a UTF-8 boundary) in the log copy, not in the answer */
    cJSON *rv = load_review(EX02);
    char name[300];
    memset(name, 'n', sizeof name - 1);
    for (size_t i = 120; i < 140; i += 2)
        memcpy(name + i, "\xc3\xa9", 2);
    name[sizeof name - 1] = '\0';
    set_str(req_of(rv), "name", name);
    handle_tree(rv, false, s, &r);
    CU_ASSERT_EQUAL(r.http_status, 200);
    CU_ASSERT_TRUE(strlen(r.name) <= sizeof r.name - 1);
    CU_ASSERT_EQUAL(strncmp(r.name, name, strlen(r.name)), 0);
    CU_ASSERT_NOT_EQUAL((unsigned char)r.name[strlen(r.name) - 1], 0xc3);   /* no half character */
    webhook_result_free(&r);
    cJSON_Delete(rv);

    snapshot_release(s);
    mem_free(body);
    CU_ASSERT_EQUAL(mem_live(), live);
}

/* Allowed untouched: 200, allowed, no patch, no status, VC_SKIPPED. */
static void expect_skipped(const cJSON *rv, bool mutate, const char *what)
{
    struct webhook_result r;
    handle_tree(rv, mutate, snap01, &r);
    CU_ASSERT_EQUAL(r.http_status, 200);
    if (r.http_status != 200 || !r.body) {
        fprintf(stderr, "\n%s: status %d body %s\n", what, r.http_status, r.body ? r.body : "(null)");
        webhook_result_free(&r);
        return;
    }
    cJSON *root;
    const cJSON *resp = response_of(&r, &root);
    CU_ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(resp, "allowed")));
    CU_ASSERT_PTR_NULL(cJSON_GetObjectItemCaseSensitive(resp, "patch"));
    CU_ASSERT_PTR_NULL(cJSON_GetObjectItemCaseSensitive(resp, "status"));
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(resp, "uid")->valuestring, "96b5c0ab-56ae-55b7-832e-fe8edab55826");
    CU_ASSERT_EQUAL(r.cls, VC_SKIPPED);
    CU_ASSERT_TRUE(r.allowed);
    if (r.cls != VC_SKIPPED)
        fprintf(stderr, "\n%s: class %d\n", what, r.cls);
    cJSON_Delete(root);
    webhook_result_free(&r);
}

static void test_out_of_scope(void)
{
    long live = mem_live();
    /* example 01 is denied in scope: each change below takes it out of scope */
    static const struct { const char *where, *key, *value; } edits[] = {
        { "request", "operation", "CONNECT" },
        { "request", "operation", "PATCH" },
        { "request", "subResource", "status" },
        { "kind", "kind", "VirtualMachineInstanceMigration" },
        { "kind", "version", "v1alpha3" },
        { "kind", "group", "pool.kubevirt.io" },
        { "kind", "group", "" },
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        for (int mutate = 0; mutate < 2; mutate++) {
            cJSON *rv = load_review(EX01);
            cJSON *req = req_of(rv);
            cJSON *target = strcmp(edits[i].where, "kind") == 0 ? cJSON_GetObjectItemCaseSensitive(req, "kind") : req;
            set_str(target, edits[i].key, edits[i].value);
            expect_skipped(rv, mutate, edits[i].value);
            cJSON_Delete(rv);
        }
    }
    /* DELETE with object null and oldObject set */
    cJSON *rv = load_review(EX01);
    cJSON *req = req_of(rv);
    cJSON *obj = cJSON_DetachItemFromObjectCaseSensitive(req, "object");
    cJSON_AddItemToObject(req, "oldObject", obj);
    cJSON_AddItemToObject(req, "object", cJSON_CreateNull());
    set_str(req, "operation", "DELETE");
    expect_skipped(rv, false, "DELETE");
    expect_skipped(rv, true, "DELETE");
    /* a VMI on UPDATE is out of scope too */
    set_str(cJSON_GetObjectItemCaseSensitive(req, "kind"), "kind", "VirtualMachineInstance");
    set_str(req, "operation", "UPDATE");
    cJSON_ReplaceItemInObjectCaseSensitive(req, "object", cJSON_Duplicate(obj, 1));
    expect_skipped(rv, false, "VMI UPDATE");
    /* dryRun changes nothing */
    cJSON_AddItemToObject(req, "dryRun", cJSON_CreateTrue());
    expect_skipped(rv, false, "VMI UPDATE dryRun");
    cJSON_Delete(rv);
    CU_ASSERT_EQUAL(mem_live(), live);
}

static void test_no_snapshot(void)
{
    long live = mem_live();
    size_t len = 0;
    char *body = tu_read_file(EX01 "/review.json", &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    for (int mutate = 0; mutate < 2; mutate++) {
        struct webhook_result r;
        webhook_handle(body, len, mutate, NULL, &pol_default, 0, &r);
        CU_ASSERT_EQUAL(r.http_status, 500);
        cJSON *root;
        const cJSON *resp = response_of(&r, &root);
        CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(resp, "uid")->valuestring, "96b5c0ab-56ae-55b7-832e-fe8edab55826");
        CU_ASSERT_TRUE(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(resp, "allowed")));
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(resp, "status");
        CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(st, "code")->valueint, 500);
        CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(st, "message")->valuestring, "cluster state is not loaded yet");
        CU_ASSERT_FALSE(r.allowed);
        cJSON_Delete(root);
        webhook_result_free(&r);
    }
    mem_free(body);
    CU_ASSERT_EQUAL(mem_live(), live);
}

static void test_unreadable_vm(void)
{
    long live = mem_live();
    cJSON *rv = load_review(EX01);
    cJSON *tspec = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(req_of(rv), "object"), "spec"),
        "template"), "spec");
    CU_ASSERT_FATAL(cJSON_IsObject(tspec));
    cJSON_DeleteItemFromObjectCaseSensitive(tspec, "nodeSelector");
    cJSON_AddItemToObject(tspec, "nodeSelector", cJSON_CreateString("not a map"));

    struct webhook_result r;
    handle_tree(rv, false, snap01, &r);
    CU_ASSERT_EQUAL(r.http_status, 200);
    cJSON *root;
    const cJSON *resp = response_of(&r, &root);
    CU_ASSERT_TRUE(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(resp, "allowed")));
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(resp, "status");
    CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(st, "code")->valueint, 422);
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(st, "reason")->valuestring, "Invalid");
    const char *message = cJSON_GetObjectItemCaseSensitive(st, "message")->valuestring;
    CU_ASSERT_EQUAL(strncmp(message, "spec.template.spec.nodeSelector: ", 33), 0);
    const cJSON *details = cJSON_GetObjectItemCaseSensitive(st, "details");
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(details, "name")->valuestring, "analytics-arm");
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(details, "group")->valuestring, "kubevirt.io");
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(details, "kind")->valuestring, "virtualmachines");
    const cJSON *causes = cJSON_GetObjectItemCaseSensitive(details, "causes");
    CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(causes), 1);
    const cJSON *c0 = cJSON_GetArrayItem(causes, 0);
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(c0, "type")->valuestring, "FieldValueInvalid");
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(c0, "field")->valuestring, "spec.template.spec.nodeSelector");
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(c0, "message")->valuestring, message);
    CU_ASSERT_EQUAL(r.cls, VC_DENIED);
    CU_ASSERT_FALSE(r.allowed);
    cJSON_Delete(root);
    webhook_result_free(&r);

    handle_tree(rv, true, snap01, &r);
    CU_ASSERT_EQUAL(r.http_status, 200);
    resp = response_of(&r, &root);
    CU_ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(resp, "allowed")));
    CU_ASSERT_PTR_NULL(cJSON_GetObjectItemCaseSensitive(resp, "patch"));
    const cJSON *warnings = cJSON_GetObjectItemCaseSensitive(resp, "warnings");
    CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(warnings), 1);
    const char *w = cJSON_GetArrayItem(warnings, 0)->valuestring;
    CU_ASSERT_EQUAL(strncmp(w, "archgate cannot read this VM: spec.template.spec.nodeSelector: ", 63), 0);
    CU_ASSERT_TRUE(strlen(w) < WARNING_MAX_LEN);
    CU_ASSERT_TRUE(r.allowed);
    CU_ASSERT_EQUAL(r.cls, VC_WARNED);
    cJSON_Delete(root);
    webhook_result_free(&r);
    cJSON_Delete(rv);

    /* a long non-ASCII reason: the warning is cut below 120 bytes at a character boundary */
    rv = load_review(EX01);
    cJSON *spec = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(req_of(rv), "object"), "spec");
    char kind[81];
    for (size_t i = 0; i < 80; i += 2)
        memcpy(kind + i, "\xc3\xa9", 2);
    kind[80] = '\0';
    cJSON *pref = cJSON_AddObjectToObject(spec, "preference");
    CU_ASSERT_PTR_NOT_NULL_FATAL(pref);
    cJSON_AddStringToObject(pref, "name", "p");
    cJSON_AddStringToObject(pref, "kind", kind);
    handle_tree(rv, true, snap01, &r);
    CU_ASSERT_EQUAL(r.http_status, 200);
    resp = response_of(&r, &root);
    warnings = cJSON_GetObjectItemCaseSensitive(resp, "warnings");
    CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(warnings), 1);
    w = cJSON_GetArrayItem(warnings, 0)->valuestring;
    size_t wl = strlen(w);
    CU_ASSERT_TRUE(wl < WARNING_MAX_LEN && wl > WARNING_MAX_LEN - 4);
    CU_ASSERT_EQUAL(strncmp(w, "archgate cannot read this VM: spec.preference.kind: ", 52), 0);
    CU_ASSERT_EQUAL((unsigned char)w[wl - 1], 0xa9);        /* ends on a whole character */
    CU_ASSERT_EQUAL((unsigned char)w[wl - 2], 0xc3);
    CU_ASSERT_PTR_NULL(strstr(r.body, "\\ufffd"));
    cJSON_Delete(root);
    webhook_result_free(&r);
    cJSON_Delete(rv);
    CU_ASSERT_EQUAL(mem_live(), live);
}

/* For N = 0, 1, ...: fail every allocation after the Nth, handle the review, and check that
 * an answer came back and nothing leaked; stop when a run completes without failing. */
static void sweep(const char *dir, bool mutate, const struct snapshot *s, const struct policy *pol)
{
    char path[256];
    snprintf(path, sizeof path, "%s/review.json", dir);
    size_t len = 0;
    char *body = tu_read_file(path, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);

    /* the answer with no failure, to recognise the run that completed */
    struct webhook_result ok;
    webhook_handle(body, len, mutate, s, pol, 0, &ok);
    CU_ASSERT_EQUAL_FATAL(ok.http_status, 200);

    long live = mem_live();
    bool completed = false;
    long n;
    for (n = 0; n < 200000 && !completed; n++) {
        struct webhook_result r;
        mem_fail_after(n);
        webhook_handle(body, len, mutate, s, pol, 0, &r);
        mem_fail_after(-1);
        bool status_ok = r.http_status == 200 || r.http_status == 400 || r.http_status == 500;
        CU_ASSERT_TRUE(status_ok);
        CU_ASSERT_TRUE(r.body != NULL || r.http_status == 500);
        if (r.body && r.http_status != 400) {
            cJSON *root = tu_parse(r.body);
            CU_ASSERT_PTR_NOT_NULL(root);
            cJSON_Delete(root);
        }
        if (r.http_status == 200 && r.body && strcmp(r.body, ok.body) == 0)
            completed = true;
        webhook_result_free(&r);
        if (mem_live() != live) {
            CU_FAIL("allocation failure leaked");
            fprintf(stderr, "\n%s: leak after failing allocation %ld (%ld live, %ld before)\n",
                    dir, n, mem_live(), live);
            break;
        }
    }
    CU_ASSERT_TRUE(completed);
    CU_ASSERT_TRUE(n > 1);
    webhook_result_free(&ok);
    mem_free(body);
}

static void test_allocation_failure_sweep(void)
{
    sweep(EX01, false, snap01, &pol_default);
    sweep(EX05, true, snap05, &pol_default);
}

/* A stale cluster view: every decided answer, allowed or denied, carries the warning. */
static void test_stale_warning(void)
{
    static const struct { const char *dir; bool mutate; bool allowed; } cases[] = {
        { EX01, false, false },     /* denied */
        { EX05, true, true },       /* mutated */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/review.json", cases[i].dir);
        size_t len = 0;
        char *body = tu_read_file(path, &len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(body);
        const struct snapshot *s = i == 0 ? snap01 : snap05;
        for (unsigned stale = 0; stale <= 130; stale += 130) {
            struct webhook_result r;
            webhook_handle(body, len, cases[i].mutate, s, &pol_default, stale, &r);
            CU_ASSERT_EQUAL(r.http_status, 200);
            CU_ASSERT_EQUAL(r.allowed, cases[i].allowed);
            const char *w = r.body ? strstr(r.body, "archgate's view of the cluster is 130 s old") : NULL;
            CU_ASSERT_EQUAL(w != NULL, stale > 0);
            webhook_result_free(&r);
        }
        mem_free(body);
    }
}

UNIT_SUITE("webhook", setup, teardown,
           { "stale cluster view warns on every answer", test_stale_warning },
           { "400 for unusable requests", test_bad_requests },
           { "uid echo and log fields", test_uid_echo_and_log_fields },
           { "out of scope: allowed untouched", test_out_of_scope },
           { "no snapshot: 500 with the uid", test_no_snapshot },
           { "unreadable VM: 422 on validate, warning on mutate", test_unreadable_vm },
           { "allocation-failure sweep", test_allocation_failure_sweep })
