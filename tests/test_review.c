/* test_review.c - AdmissionReview decoding (every malformed shape refused with its reason,
 * valid reviews read) and response encoding (shape, key order, escaping). */
#include <stdio.h>
#include <string.h>
#include <CUnit/CUnit.h>
#include "unit.h"
#include "testutil.h"
#include "review.h"
#include "patch.h"
#include "pool.h"
#include "mem.h"

#define SAMPLE "tests/fixtures/reviews/admissionreview-create-vm-kube-apiserver-1.26.json"
#define EX "tests/fixtures/examples/"

#define HEAD "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
#define KIND "\"kind\":{\"group\":\"kubevirt.io\",\"version\":\"v1\",\"kind\":\"VirtualMachine\"}"
#define RES "\"resource\":{\"group\":\"kubevirt.io\",\"version\":\"v1\",\"resource\":\"virtualmachines\"}"
/* A request with every required field; X is spliced in before the closing braces. */
#define REQ(X) HEAD "\"request\":{\"uid\":\"u1\"," KIND "," RES ",\"operation\":\"CREATE\"" X "}}"

static void expect_invalid(const char *body, size_t len, const char *prefix)
{
    struct review_request r;
    char err[256];
    long live = mem_live();
    enum ag_result rc = review_decode(body, len, &r, err, sizeof err);
    CU_ASSERT_EQUAL(rc, AG_EINVAL);
    if (rc != AG_EINVAL) {
        fprintf(stderr, "\nexpected EINVAL \"%s\", got %d for %.80s\n", prefix, rc, body);
        if (rc == AG_OK)
            review_free(&r);
        return;
    }
    bool ok = strncmp(err, prefix, strlen(prefix)) == 0;
    CU_ASSERT_TRUE(ok);
    if (!ok)
        fprintf(stderr, "\nwanted prefix \"%s\", got \"%s\"\n", prefix, err);
    CU_ASSERT_PTR_NULL(strchr(err, '\n'));
    CU_ASSERT_PTR_NULL(r.root);
    CU_ASSERT_EQUAL(mem_live(), live);
}

static void test_malformed_table(void)
{
    static const struct { const char *body, *prefix; } cases[] = {
        { "", "empty body" },
        { " \n\t\r ", "empty body" },
        { "hello", "not valid JSON near byte 0" },
        { "{\"apiVersion\":", "not valid JSON near byte" },
        { HEAD "\"request\":{\"uid\":\"u1\"", "not valid JSON near byte" },
        { "{} x", "not valid JSON near byte 3" },
        { "{}{}", "not valid JSON near byte 2" },
        { REQ(",\"name\":\"a\\u0000b\"") , "a string holds \\u0000 near byte" },
        { REQ(",\"name\":\"\xc0\x80\"") , "not valid JSON near byte" },
        { "[1,2]", "not a JSON object" },
        { "\"str\"", "not a JSON object" },
        { "42", "not a JSON object" },
        { "null", "not a JSON object" },
        { "{\"kind\":\"AdmissionReview\"}", "apiVersion: admission.k8s.io/v1 required, got nothing" },
        { "{\"apiVersion\":\"admission.k8s.io/v1beta1\",\"kind\":\"AdmissionReview\",\"request\":{}}",
          "apiVersion: admission.k8s.io/v1 required, got \"admission.k8s.io/v1beta1\"" },
        { "{\"apiVersion\":7,\"kind\":\"AdmissionReview\"}", "apiVersion: admission.k8s.io/v1 required, got a non-string" },
        { "{\"apiVersion\":\"v1\\nx\",\"kind\":\"AdmissionReview\"}", "apiVersion: admission.k8s.io/v1 required, got \"v1?x\"" },
        { "{\"APIVERSION\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}", "apiVersion:" },
        { "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"Status\"}", "kind: AdmissionReview required, got \"Status\"" },
        { "{\"apiVersion\":\"admission.k8s.io/v1\"}", "kind: AdmissionReview required, got nothing" },
        { HEAD "\"response\":{}}", "request: missing" },
        { HEAD "\"request\":\"x\"}", "request: must be an object" },
        { HEAD "\"request\":[]}", "request: must be an object" },
        { HEAD "\"request\":null}", "request: must be an object" },
        { HEAD "\"request\":{}}", "request.uid: missing" },
        { HEAD "\"request\":{\"uid\":5}}", "request.uid: must be a string" },
        { HEAD "\"request\":{\"uid\":null}}", "request.uid: must be a string" },
        { HEAD "\"request\":{\"uid\":\"\"}}", "request.uid: empty" },
        { HEAD "\"request\":{\"uid\":\"u1\"," RES ",\"operation\":\"CREATE\"}}", "request.kind: missing" },
        { HEAD "\"request\":{\"uid\":\"u1\",\"kind\":\"VirtualMachine\"," RES ",\"operation\":\"CREATE\"}}",
          "request.kind: must be an object" },
        { HEAD "\"request\":{\"uid\":\"u1\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":3}," RES ",\"operation\":\"CREATE\"}}",
          "request.kind.kind: must be a string" },
        { HEAD "\"request\":{\"uid\":\"u1\",\"kind\":{\"group\":\"\",\"version\":\"v1\"}," RES ",\"operation\":\"CREATE\"}}",
          "request.kind.kind: missing" },
        { HEAD "\"request\":{\"uid\":\"u1\",\"kind\":{\"group\":1,\"version\":\"v1\",\"kind\":\"Pod\"}," RES ",\"operation\":\"CREATE\"}}",
          "request.kind.group: must be a string" },
        { HEAD "\"request\":{\"uid\":\"u1\"," KIND ",\"operation\":\"CREATE\"}}", "request.resource: missing" },
        { HEAD "\"request\":{\"uid\":\"u1\"," KIND ",\"resource\":\"vms\",\"operation\":\"CREATE\"}}",
          "request.resource: must be an object" },
        { HEAD "\"request\":{\"uid\":\"u1\"," KIND "," RES "}}", "request.operation: missing" },
        { HEAD "\"request\":{\"uid\":\"u1\"," KIND "," RES ",\"operation\":1}}", "request.operation: must be a string" },
        { REQ(",\"object\":\"vm\""), "request.object: must be an object" },
        { REQ(",\"object\":[]"), "request.object: must be an object" },
        { REQ(",\"oldObject\":true"), "request.oldObject: must be an object" },
        { REQ(",\"dryRun\":\"true\""), "request.dryRun: must be a boolean" },
        { REQ(",\"name\":5"), "request.name: must be a string" },
        { REQ(",\"namespace\":{}"), "request.namespace: must be a string" },
        { REQ(",\"subResource\":[]"), "request.subResource: must be a string" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_invalid(cases[i].body, strlen(cases[i].body), cases[i].prefix);
}

/* A review whose uid, or name, is a string of `n` 'a's. */
static char *review_with_long(const char *field, size_t n)
{
    size_t cap = n + 512;
    char *buf = mem_malloc(cap);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    char *filler = mem_malloc(n + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(filler);
    memset(filler, 'a', n);
    filler[n] = '\0';
    if (strcmp(field, "uid") == 0)
        snprintf(buf, cap, HEAD "\"request\":{\"uid\":\"%s\"," KIND "," RES ",\"operation\":\"CREATE\"}}", filler);
    else
        snprintf(buf, cap, REQ(",\"%s\":\"%s\""), field, filler);
    mem_free(filler);
    return buf;
}

static void test_limits(void)
{
    char *b = review_with_long("uid", 300);
    expect_invalid(b, strlen(b), "request.uid: longer than 256 bytes");
    mem_free(b);

    b = review_with_long("uid", 256);           /* at the limit: fine */
    struct review_request r;
    char err[256];
    CU_ASSERT_EQUAL(review_decode(b, strlen(b), &r, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(strlen(r.uid), 256);
    review_free(&r);
    mem_free(b);

    b = review_with_long("name", 2 * 1024 * 1024);
    expect_invalid(b, strlen(b), "request.name: longer than");
    mem_free(b);
    b = review_with_long("namespace", REVIEW_MAX_STRING + 1);
    expect_invalid(b, strlen(b), "request.namespace: longer than");
    mem_free(b);
}

/* `depth` nested arrays as request.object.spec. */
static char *deep_review(size_t depth)
{
    size_t cap = 2 * depth + 512;
    char *buf = mem_malloc(cap);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    size_t n = (size_t)snprintf(buf, cap, "%s", HEAD "\"request\":{\"uid\":\"u1\"," KIND "," RES
                                ",\"operation\":\"CREATE\",\"object\":{\"spec\":");
    for (size_t i = 0; i < depth; i++)
        buf[n++] = '[';
    for (size_t i = 0; i < depth; i++)
        buf[n++] = ']';
    snprintf(buf + n, cap - n, "}}}");
    return buf;
}

/* n opening and n closing square brackets as two strings (n < 70). */
static void bracket_runs(char *opens, char *closes, size_t n)
{
    memset(opens, '[', n);
    opens[n] = '\0';
    memset(closes, ']', n);
    closes[n] = '\0';
}

static void test_nesting(void)
{
    /* root + request + object = 3 levels; 62 arrays more reach 65 */
    char *b = deep_review(62);
    expect_invalid(b, strlen(b), "JSON nests deeper than 64 levels");
    mem_free(b);

    b = deep_review(61);              /* exactly 64: parsed */
    struct review_request r;
    char err[256];
    CU_ASSERT_EQUAL(review_decode(b, strlen(b), &r, err, sizeof err), AG_OK);
    review_free(&r);
    mem_free(b);

    b = deep_review(100000);
    expect_invalid(b, strlen(b), "JSON nests deeper than 64 levels");
    mem_free(b);

    /* brackets inside strings do not count, escaped quotes do not end a string */
    char s[1024];
    char brackets[200];
    memset(brackets, '[', sizeof brackets - 1);
    brackets[sizeof brackets - 1] = '\0';
    snprintf(s, sizeof s, REQ(",\"name\":\"\\\"%s\""), brackets);
    CU_ASSERT_EQUAL(review_decode(s, strlen(s), &r, err, sizeof err), AG_OK);
    review_free(&r);

    /* an even run of backslashes does not escape the quote after it: the brackets that follow are
     * structure again, and 65 of them are too deep */
    char deep[1024];
    char opens[70], closes[70];
    bracket_runs(opens, closes, 65);
    snprintf(deep, sizeof deep, REQ(",\"name\":\"a\\\\\",\"x\":%s%s"), opens, closes);
    expect_invalid(deep, strlen(deep), "JSON nests deeper than 64 levels");
    /* the same with an odd run: the brackets stay inside the string */
    snprintf(deep, sizeof deep, REQ(",\"name\":\"a\\\\\\\"%s%s\""), opens, closes);
    CU_ASSERT_EQUAL(review_decode(deep, strlen(deep), &r, err, sizeof err), AG_OK);
    review_free(&r);

    /* 100,000 unclosed openers alone: refused at the 65th, nothing deeper is entered */
    size_t n = 100000;
    char *open = mem_malloc(n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(open);
    memset(open, '[', n);
    expect_invalid(open, n, "JSON nests deeper than 64 levels");
    /* '{' must be followed by a member name: the second one is already a syntax error */
    memset(open, '{', n);
    expect_invalid(open, n, "not valid JSON near byte 1");
    mem_free(open);
}

static void test_not_nul_terminated(void)
{
    /* a valid review followed by bytes outside len: only len is read */
    const char *text = REQ("") "GARBAGE";
    size_t len = strlen(text) - strlen("GARBAGE");
    char *copy = mem_malloc(len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
    memcpy(copy, text, len);                /* no NUL anywhere */
    struct review_request r;
    char err[256];
    CU_ASSERT_EQUAL(review_decode(copy, len, &r, err, sizeof err), AG_OK);
    CU_ASSERT_STRING_EQUAL(r.uid, "u1");
    review_free(&r);
    /* cut in the middle: invalid, no read past len */
    expect_invalid(copy, len - 2, "not valid JSON near byte");
    mem_free(copy);
    /* an embedded NUL is not whitespace */
    const char nul[] = "{}\0";
    expect_invalid(nul, 3, "not valid JSON near byte 2");
}

static void test_decode_apiserver_sample(void)
{
    size_t len = 0;
    char *body = tu_read_file(SAMPLE, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    struct review_request r;
    char err[256] = "";
    CU_ASSERT_EQUAL_FATAL(review_decode(body, len, &r, err, sizeof err), AG_OK);
    CU_ASSERT_STRING_EQUAL(r.uid, "13e9957f-11c6-4b1f-aba0-68bec6fbaa03");
    CU_ASSERT_STRING_EQUAL(r.group, "kubevirt.io");
    CU_ASSERT_STRING_EQUAL(r.version, "v1");
    CU_ASSERT_STRING_EQUAL(r.kind, "VirtualMachine");
    CU_ASSERT_STRING_EQUAL(r.resource, "virtualmachines");
    CU_ASSERT_STRING_EQUAL(r.subresource, "");
    CU_ASSERT_STRING_EQUAL(r.name, "vm-denied");
    CU_ASSERT_STRING_EQUAL(r.ns, "default");
    CU_ASSERT_STRING_EQUAL(r.operation, "CREATE");
    CU_ASSERT_EQUAL(r.op, OP_CREATE);
    CU_ASSERT_PTR_NOT_NULL(r.object);
    CU_ASSERT_PTR_NULL(r.old_object);           /* "oldObject": null */
    CU_ASSERT_FALSE(r.dry_run);
    CU_ASSERT_TRUE(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(r.object, "spec")));
    review_free(&r);
    CU_ASSERT_PTR_NULL(r.root);
    mem_free(body);
}

static void test_decode_ops(void)
{
    static const struct { const char *body; enum operation op; bool object, old, dry; const char *sub; } cases[] = {
        { HEAD "\"request\":{\"uid\":\"d\"," KIND "," RES ",\"operation\":\"DELETE\",\"object\":null,"
               "\"oldObject\":{\"metadata\":{}},\"dryRun\":true}}", OP_DELETE, false, true, true, "" },
        { HEAD "\"request\":{\"uid\":\"c\"," KIND "," RES ",\"operation\":\"CONNECT\",\"subResource\":\"console\","
               "\"object\":{\"kind\":\"VirtualMachineInstanceConsoleOptions\"}}}", OP_CONNECT, true, false, false, "console" },
        { REQ(",\"object\":{},\"oldObject\":{}"), OP_CREATE, true, true, false, "" },
        { HEAD "\"request\":{\"uid\":\"x\"," KIND "," RES ",\"operation\":\"UPDATE\",\"object\":{},\"oldObject\":{}}}",
          OP_UPDATE, true, true, false, "" },
        { HEAD "\"request\":{\"uid\":\"x\"," KIND "," RES ",\"operation\":\"create\"}}", OP_OTHER, false, false, false, "" },
        { HEAD "\"request\":{\"uid\":\"x\"," KIND "," RES ",\"operation\":\"PATCH\",\"name\":null,\"dryRun\":null}}",
          OP_OTHER, false, false, false, "" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct review_request r;
        char err[256] = "";
        enum ag_result rc = review_decode(cases[i].body, strlen(cases[i].body), &r, err, sizeof err);
        CU_ASSERT_EQUAL(rc, AG_OK);
        if (rc != AG_OK) {
            fprintf(stderr, "\ncase %zu: %s\n", i, err);
            continue;
        }
        CU_ASSERT_EQUAL(r.op, cases[i].op);
        CU_ASSERT_EQUAL(r.object != NULL, cases[i].object);
        CU_ASSERT_EQUAL(r.old_object != NULL, cases[i].old);
        CU_ASSERT_EQUAL(r.dry_run, cases[i].dry);
        CU_ASSERT_STRING_EQUAL(r.subresource, cases[i].sub);
        CU_ASSERT_STRING_EQUAL(r.name, "");
        CU_ASSERT_STRING_EQUAL(r.ns, "");
        review_free(&r);
    }
    /* core group: group "" */
    const char *pod = HEAD "\"request\":{\"uid\":\"p\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
                      "\"resource\":{\"group\":\"\",\"version\":\"v1\",\"resource\":\"pods\"},\"operation\":\"CREATE\"}}";
    struct review_request r;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(review_decode(pod, strlen(pod), &r, err, sizeof err), AG_OK);
    CU_ASSERT_STRING_EQUAL(r.group, "");
    CU_ASSERT_STRING_EQUAL(r.kind, "Pod");
    CU_ASSERT_STRING_EQUAL(r.resource, "pods");
    review_free(&r);
}

static void test_decode_examples(void)
{
    static const char *dirs[] = {
        "01-deny-arm64-image-outside-vm-pool", "02-allow-pinned-arm64-vm",
        "03-mutate-pins-registry-image-to-arm64", "04-multiarch-off-same-vm-warns",
        "05-switch-rhel9-to-amd64-sibling", "06-unknown-pvc-image-warns",
        "07-cordoned-amd64-node-warns", "08-stop-unschedulable-vm-allowed",
    };
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, EX "%s/review.json", dirs[i]);
        size_t len = 0;
        char *body = tu_read_file(path, &len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(body);
        struct review_request r;
        char err[256] = "";
        CU_ASSERT_EQUAL(review_decode(body, len, &r, err, sizeof err), AG_OK);
        CU_ASSERT_PTR_NOT_NULL(r.object);
        CU_ASSERT_EQUAL(r.old_object != NULL, r.op == OP_UPDATE);
        review_free(&r);
        mem_free(body);
    }
}

/* Parse the encoded response and return its "response" member (root in *root). */
static const cJSON *parse_response(const char *text, cJSON **root)
{
    *root = tu_parse(text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(*root);
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(*root, "apiVersion")->valuestring, "admission.k8s.io/v1");
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(*root, "kind")->valuestring, "AdmissionReview");
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(*root, "response");
    CU_ASSERT_FATAL(cJSON_IsObject(resp));
    return resp;
}

static void test_encode_allowed(void)
{
    struct pool *pool = pool_new(0);
    struct verdict v = { .cls = VC_ALLOWED, .allowed = true };
    char *j = review_encode("d7b02b4e-d99a-5f11-ac67-b0fd71bf45e4", &v, pool);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_STRING_EQUAL(j, "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"response\":"
                              "{\"uid\":\"d7b02b4e-d99a-5f11-ac67-b0fd71bf45e4\",\"allowed\":true}}");
    char *expected = tu_read_file(EX "02-allow-pinned-arm64-vm/response.json", NULL);
    CU_ASSERT_TRUE(tu_json_equal(j, expected));
    mem_free(expected);
    pool_free(pool);
}

static void test_encode_denied(void)
{
    struct pool *pool = pool_new(0);
    const char *m = "image DataSource openshift-virtualization-os-images/rhel9-arm64 (arm64) is built for arm64, "
                    "but no eligible node runs arm64 (eligible: 2 amd64; 1 amd64 excluded by the workload node "
                    "placement; 1 arm64 excluded by the workload node placement)";
    struct verdict v = {
        .cls = VC_DENIED, .allowed = false, .code = 422, .reason = "Invalid", .message = m,
        .causes = { { "FieldValueInvalid", "spec.template.spec.volumes", m } }, .ncauses = 1,
        .details_name = "analytics-arm", .details_group = "kubevirt.io", .details_kind = "virtualmachines",
    };
    char *j = review_encode("96b5c0ab-56ae-55b7-832e-fe8edab55826", &v, pool);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    char *expected = tu_read_file(EX "01-deny-arm64-image-outside-vm-pool/response.json", NULL);
    CU_ASSERT_TRUE(tu_json_equal(j, expected));
    mem_free(expected);
    /* key order */
    const char *keys[] = { "\"uid\"", "\"allowed\":false", "\"status\"", "\"code\":422", "\"reason\"", "\"message\"",
                           "\"details\"", "\"name\"", "\"group\"", "\"kind\":\"virtualmachines\"", "\"causes\"",
                           "\"type\"", "\"field\"" };
    const char *at = j;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *f = strstr(at, keys[i]);
        CU_ASSERT_PTR_NOT_NULL(f);
        if (f)
            at = f;
    }
    CU_ASSERT_PTR_NULL(strstr(j, "patch"));
    CU_ASSERT_PTR_NULL(strstr(j, "warnings"));

    /* no name (generateName): details.name omitted */
    v.details_name = NULL;
    j = review_encode("u", &v, pool);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    cJSON *root;
    const cJSON *resp = parse_response(j, &root);
    const cJSON *details = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(resp, "status"), "details");
    CU_ASSERT_PTR_NULL(cJSON_GetObjectItemCaseSensitive(details, "name"));
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(details, "group")->valuestring, "kubevirt.io");
    CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(details, "causes")), 1);
    cJSON_Delete(root);
    pool_free(pool);
}

static void test_encode_patched_and_warnings(void)
{
    struct pool *pool = pool_new(0);
    struct verdict v = { .cls = VC_MUTATED, .allowed = true };
    CU_ASSERT_EQUAL(patch_add(&v.patch, PATCH_ADD, "/spec/template/spec/nodeSelector", "kubernetes.io/arch", "amd64"), AG_OK);
    CU_ASSERT_EQUAL(patch_add(&v.patch, PATCH_REPLACE, "/spec/dataVolumeTemplates/0/spec/sourceRef/name", NULL, "rhel9-amd64"), AG_OK);
    v.warnings[0] = "switched DataSource openshift-virtualization-os-images/rhel9 (arm64) to its amd64 sibling rhel9-amd64";
    v.nwarnings = 1;
    char *j = review_encode("355e74b8-df1d-5ef6-b9be-583839fed21b", &v, pool);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);

    /* equal to the example once its reading aid is dropped */
    cJSON *ex = tu_load_json(EX "05-switch-rhel9-to-amd64-sibling/response.json");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ex);
    cJSON_DeleteItemFromObjectCaseSensitive(ex, "patch_decoded");
    char *ex_text = cJSON_PrintUnformatted(ex);
    CU_ASSERT_STRING_EQUAL(j, ex_text);     /* byte-identical: same key order, no spaces */
    cJSON_free(ex_text);
    cJSON_Delete(ex);

    cJSON *root;
    const cJSON *resp = parse_response(j, &root);
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(resp, "patchType")->valuestring, "JSONPatch");
    char *decoded = NULL;
    size_t dlen = 0;
    CU_ASSERT_TRUE_FATAL(patch_base64_decode(cJSON_GetObjectItemCaseSensitive(resp, "patch")->valuestring,
                                             pool, &decoded, &dlen));
    CU_ASSERT_STRING_EQUAL(decoded, patch_to_json(&v.patch, pool));
    CU_ASSERT_PTR_NULL(cJSON_GetObjectItemCaseSensitive(resp, "status"));
    cJSON_Delete(root);

    /* warnings only */
    struct verdict w = { .cls = VC_WARNED, .allowed = true, .nwarnings = 2, .warnings = { "one", "two" } };
    j = review_encode("u", &w, pool);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_STRING_EQUAL(j, "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"response\":"
                              "{\"uid\":\"u\",\"allowed\":true,\"warnings\":[\"one\",\"two\"]}}");
    pool_free(pool);
}

static void test_encode_escaping(void)
{
    static const char *strs[] = {
        "quote \" backslash \\ slash /",
        "new\nline\rtab\t",
        "ctl \x01\x02\x1f del \x7f",
        "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x90\xa7",
        "</script>",
    };
    struct pool *pool = pool_new(0);
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        const char *s = strs[i];
        struct verdict v = {
            .cls = VC_DENIED, .allowed = false, .code = 422, .reason = "Invalid", .message = s,
            .causes = { { "FieldValueInvalid", s, s } }, .ncauses = 1,
            .warnings = { s }, .nwarnings = 1,
            .details_name = s, .details_group = "kubevirt.io", .details_kind = "virtualmachines",
        };
        char *j = review_encode(s, &v, pool);
        CU_ASSERT_PTR_NOT_NULL_FATAL(j);
        cJSON *root;
        const cJSON *resp = parse_response(j, &root);
        CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(resp, "uid")->valuestring, s);
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(resp, "status");
        CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(st, "message")->valuestring, s);
        const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(st, "details"), "causes"), 0);
        CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(c0, "field")->valuestring, s);
        CU_ASSERT_STRING_EQUAL(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(resp, "warnings"), 0)->valuestring, s);
        cJSON_Delete(root);
        /* no raw control character in the output */
        for (const char *p = j; *p; p++)
            CU_ASSERT_TRUE((unsigned char)*p >= 0x20);

        char *e = review_encode_error(s, 500, s);
        CU_ASSERT_PTR_NOT_NULL_FATAL(e);
        resp = parse_response(e, &root);
        CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(resp, "uid")->valuestring, s);
        CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(resp, "status"), "message")->valuestring, s);
        cJSON_Delete(root);
        mem_free(e);
    }
    /* invalid UTF-8 is replaced, the output stays parseable */
    struct verdict v = { .allowed = true };
    char *j = review_encode("bad\xff\xc3", &v, pool);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    cJSON *root;
    const cJSON *resp = parse_response(j, &root);
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(resp, "uid")->valuestring, "bad\xef\xbf\xbd\xef\xbf\xbd");
    cJSON_Delete(root);
    pool_free(pool);
}

static void test_encode_error(void)
{
    char *e = review_encode_error("abc", 500, "cluster state is not loaded yet");
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_STRING_EQUAL(e, "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"response\":"
                              "{\"uid\":\"abc\",\"allowed\":false,\"status\":{\"code\":500,"
                              "\"message\":\"cluster state is not loaded yet\"}}}");
    mem_free(e);
    e = review_encode_error(NULL, 500, "x");
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_PTR_NOT_NULL(strstr(e, "\"uid\":\"\""));
    mem_free(e);
    /* allocation failure: NULL, nothing leaked */
    long live = mem_live();
    mem_fail_after(0);
    e = review_encode_error("abc", 500, "x");
    mem_fail_after(-1);
    CU_ASSERT_PTR_NULL(e);
    CU_ASSERT_EQUAL(mem_live(), live);
}

static void test_decode_allocation_failure(void)
{
    size_t len = 0;
    char *body = tu_read_file(SAMPLE, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    long live = mem_live();
    bool completed = false;
    for (long n = 0; n < 100000 && !completed; n++) {
        struct review_request r;
        char err[256] = "";
        mem_fail_after(n);
        enum ag_result rc = review_decode(body, len, &r, err, sizeof err);
        mem_fail_after(-1);
        CU_ASSERT_TRUE(rc == AG_OK || rc == AG_ENOMEM);
        if (rc == AG_OK) {
            completed = true;
            review_free(&r);
        }
        CU_ASSERT_EQUAL(mem_live(), live);
    }
    CU_ASSERT_TRUE(completed);
    mem_free(body);
}

/* What no rule reads is checked but not kept: managedFields, the status, and every annotation but
 * archgate's own, under object and oldObject; the same names elsewhere are kept. */
static void test_left_out_members(void)
{
#define OBJ(N) "{\"metadata\":{\"name\":\"" N "\",\"labels\":{\"a\":\"1\"},\"annotations\":{" \
    "\"kubectl.kubernetes.io/last-applied-configuration\":\"{\\\"x\\\":[1]}\"," \
    "\"archgate.io/image-architectures\":\"arm64\",\"other\":\"o\"},\"managedFields\":[{\"manager\":" \
    "\"kubectl\",\"fieldsV1\":{\"f:spec\":{}}}]},\"spec\":{\"running\":true},\"status\":{\"ready\":false}}"
    const char *body = REQ(",\"object\":" OBJ("new") ",\"oldObject\":" OBJ("old") ",\"status\":{\"kept\":1}");
    struct review_request r;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(review_decode(body, strlen(body), &r, err, sizeof err), AG_OK);
    const cJSON *objs[2] = { r.object, r.old_object };
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_PTR_NOT_NULL_FATAL(objs[i]);
        char *text = cJSON_PrintUnformatted(objs[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(text);
        char want[512];
        snprintf(want, sizeof want,
                 "{\"metadata\":{\"name\":\"%s\",\"labels\":{\"a\":\"1\"},\"annotations\":{"
                 "\"archgate.io/image-architectures\":\"arm64\"}},\"spec\":{\"running\":true}}",
                 i ? "old" : "new");
        CU_ASSERT_STRING_EQUAL(text, want);
        cJSON_free(text);
    }
    /* request.status is not under an object: kept */
    CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r.root, "request"),
                                                            "status"));
    review_free(&r);

    /* left out, still checked: bad syntax in managedFields, a bad escape in an annotation, and
     * nesting inside the status all refuse the review */
    const char *bad[] = {
        REQ(",\"object\":{\"metadata\":{\"managedFields\":[{\"manager\":}]}}"),
        REQ(",\"object\":{\"metadata\":{\"annotations\":{\"x\":\"\\q\"}}}"),
        REQ(",\"oldObject\":{\"status\":{\"a\":01}}"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_invalid(bad[i], strlen(bad[i]), "not valid JSON near byte");
    char deep[1024];
    char opens[70], closes[70];
    bracket_runs(opens, closes, 62);
    /* root, request, object = 3 levels; 62 arrays as the status reach 65 */
    snprintf(deep, sizeof deep, REQ(",\"object\":{\"status\":%s%s}"), opens, closes);
    expect_invalid(deep, strlen(deep), "JSON nests deeper than 64 levels");
    snprintf(deep, sizeof deep, REQ(",\"object\":{\"status\":%s%s}"), opens + 1, closes + 1);
    CU_ASSERT_EQUAL(review_decode(deep, strlen(deep), &r, err, sizeof err), AG_OK);
    review_free(&r);
#undef OBJ
}

UNIT_SUITE("review", NULL, NULL,
           { "malformed reviews refused with their reason", test_malformed_table },
           { "uid and string length limits", test_limits },
           { "nesting limit (65 and 100000 deep)", test_nesting },
           { "body not NUL-terminated", test_not_nul_terminated },
           { "decode the kube-apiserver sample", test_decode_apiserver_sample },
           { "decode DELETE, CONNECT, UPDATE, other ops", test_decode_ops },
           { "decode the example reviews", test_decode_examples },
           { "managedFields, status, other annotations: checked, not kept", test_left_out_members },
           { "encode allowed", test_encode_allowed },
           { "encode denied with causes and details", test_encode_denied },
           { "encode patch and warnings", test_encode_patched_and_warnings },
           { "encode escapes any string", test_encode_escaping },
           { "encode internal error", test_encode_error },
           { "decode under allocation failure", test_decode_allocation_failure })
