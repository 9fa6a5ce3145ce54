/* test_patch.c - JSON Patch text, RFC 6901 pointer escaping, base64 and JSON string quoting. */
#include <string.h>
#include <CUnit/CUnit.h>
#include "unit.h"
#include "testutil.h"
#include "patch.h"
#include "jsonw.h"
#include "pool.h"
#include "mem.h"

#define EX "tests/fixtures/examples/"

static struct pool *pool;

static int setup(void)
{
    pool = pool_new(0);
    return pool ? 0 : 1;
}

static int teardown(void)
{
    pool_free(pool);
    pool = NULL;
    return 0;
}

static void test_pointer_escaping(void)
{
    static const struct { const char *base, *seg, *want; } cases[] = {
        { "/metadata/labels", "kubernetes.io/arch", "/metadata/labels/kubernetes.io~1arch" },
        { "/a", "m~n", "/a/m~0n" },
        { "/a", "~/", "/a/~0~1" },
        { "/a", "/~", "/a/~1~0" },
        { "/a", "~1", "/a/~01" },
        { "/a", "", "/a/" },
        { "", "spec", "/spec" },
        { "", "", "/" },
        { "/spec/template/spec", "nodeSelector", "/spec/template/spec/nodeSelector" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = patch_pointer_join(pool, cases[i].base, cases[i].seg);
        CU_ASSERT_PTR_NOT_NULL_FATAL(got);
        CU_ASSERT_STRING_EQUAL(got, cases[i].want);
    }
    CU_ASSERT_PTR_NULL(patch_pointer_join(pool, NULL, "x"));
    CU_ASSERT_PTR_NULL(patch_pointer_join(pool, "/a", NULL));
}

static void test_add_limits(void)
{
    struct patch p = { .n = 0 };
    for (int i = 0; i < PATCH_MAX_OPS; i++)
        CU_ASSERT_EQUAL(patch_add(&p, PATCH_ADD, "/a", NULL, "v"), AG_OK);
    CU_ASSERT_EQUAL(p.n, PATCH_MAX_OPS);
    CU_ASSERT_EQUAL(patch_add(&p, PATCH_ADD, "/a", NULL, "v"), AG_ETOOBIG);
    CU_ASSERT_EQUAL(p.n, PATCH_MAX_OPS);
    struct patch q = { .n = 0 };
    CU_ASSERT_EQUAL(patch_add(&q, PATCH_ADD, NULL, NULL, "v"), AG_EINVAL);
    CU_ASSERT_EQUAL(patch_add(&q, PATCH_ADD, "/a", NULL, NULL), AG_EINVAL);
    CU_ASSERT_EQUAL(q.n, 0);
}

static void ops_example03(struct patch *p)
{
    p->n = 0;
    CU_ASSERT_EQUAL(patch_add(p, PATCH_ADD, "/spec/template/spec/nodeSelector", "kubernetes.io/arch", "arm64"), AG_OK);
    CU_ASSERT_EQUAL(patch_add(p, PATCH_ADD, "/spec/template/spec/architecture", NULL, "arm64"), AG_OK);
}

static void ops_example05(struct patch *p)
{
    p->n = 0;
    CU_ASSERT_EQUAL(patch_add(p, PATCH_ADD, "/spec/template/spec/nodeSelector", "kubernetes.io/arch", "amd64"), AG_OK);
    CU_ASSERT_EQUAL(patch_add(p, PATCH_REPLACE, "/spec/dataVolumeTemplates/0/spec/sourceRef/name", NULL, "rhel9-amd64"), AG_OK);
}

static void test_to_json_exact(void)
{
    struct patch p;
    ops_example05(&p);
    char *j = patch_to_json(&p, pool);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_STRING_EQUAL(j,
        "[{\"op\":\"add\",\"path\":\"/spec/template/spec/nodeSelector\",\"value\":{\"kubernetes.io/arch\":\"amd64\"}},"
        "{\"op\":\"replace\",\"path\":\"/spec/dataVolumeTemplates/0/spec/sourceRef/name\",\"value\":\"rhel9-amd64\"}]");

    struct patch empty = { .n = 0 };
    j = patch_to_json(&empty, pool);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_STRING_EQUAL(j, "[]");

    /* values needing escapes stay valid JSON */
    struct patch odd = { .n = 0 };
    CU_ASSERT_EQUAL(patch_add(&odd, PATCH_ADD, "/a/b~1c", "k\"ey", "v\\al\n"), AG_OK);
    j = patch_to_json(&odd, pool);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_STRING_EQUAL(j, "[{\"op\":\"add\",\"path\":\"/a/b~1c\",\"value\":{\"k\\\"ey\":\"v\\\\al\\n\"}}]");
    cJSON *parsed = tu_parse(j);
    CU_ASSERT_PTR_NOT_NULL(parsed);
    cJSON_Delete(parsed);
}

/* The `patch` of the example's response.json. */
static char *example_patch(const char *dir)
{
    char path[256];
    snprintf(path, sizeof path, EX "%s/response.json", dir);
    cJSON *r = tu_load_json(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(r, "response");
    const cJSON *patch = cJSON_GetObjectItemCaseSensitive(resp, "patch");
    CU_ASSERT_FATAL(cJSON_IsString(patch));
    char *copy = pool_strdup(pool, patch->valuestring);
    cJSON_Delete(r);
    return copy;
}

static void test_examples_byte_identical(void)
{
    struct patch p;
    ops_example03(&p);
    char *j = patch_to_json(&p, pool);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    char *b = patch_base64(j, strlen(j), pool);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_STRING_EQUAL(b, example_patch("03-mutate-pins-registry-image-to-arm64"));

    ops_example05(&p);
    j = patch_to_json(&p, pool);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    b = patch_base64(j, strlen(j), pool);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_STRING_EQUAL(b, example_patch("05-switch-rhel9-to-amd64-sibling"));
}

static void test_base64_vectors(void)
{
    static const struct { const char *plain, *enc; } v[] = {
        { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
        { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char *e = patch_base64(v[i].plain, strlen(v[i].plain), pool);
        CU_ASSERT_PTR_NOT_NULL_FATAL(e);
        CU_ASSERT_STRING_EQUAL(e, v[i].enc);
        char *d = NULL;
        size_t dlen = 99;
        CU_ASSERT_TRUE_FATAL(patch_base64_decode(v[i].enc, pool, &d, &dlen));
        CU_ASSERT_EQUAL(dlen, strlen(v[i].plain));
        CU_ASSERT_STRING_EQUAL(d, v[i].plain);
    }
    /* every byte value, both alphabet ends (+ and /) */
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    char *e = patch_base64(all, sizeof all, pool);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_PTR_NOT_NULL(strchr(e, '+'));
    CU_ASSERT_PTR_NOT_NULL(strchr(e, '/'));
    char *d = NULL;
    size_t dlen = 0;
    CU_ASSERT_TRUE_FATAL(patch_base64_decode(e, pool, &d, &dlen));
    CU_ASSERT_EQUAL(dlen, sizeof all);
    CU_ASSERT_EQUAL(memcmp(d, all, sizeof all), 0);
}

static void test_base64_decode_rejects(void)
{
    static const char *bad[] = {
        "Zg=", "Zg", "Z", "Zm9vY", "Zm9v!A==", "Zm 9v", "Zm9v\n", "====", "Z===",
        "Zg==Zg==", "Zm=v", "Zh==", "Zm9=", "Zm-v", "Zm_v", "=Zm9",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *d = NULL;
        size_t dlen = 0;
        CU_ASSERT_FALSE(patch_base64_decode(bad[i], pool, &d, &dlen));
    }
    char *d = NULL;
    CU_ASSERT_FALSE(patch_base64_decode(NULL, pool, &d, NULL));
}

static void test_json_quote(void)
{
    static const struct { const char *in, *want; } cases[] = {
        { "plain", "\"plain\"" },
        { "q\"b\\s", "\"q\\\"b\\\\s\"" },
        { "\n\r\t\b\f", "\"\\n\\r\\t\\b\\f\"" },
        { "\x01\x1f\x7f", "\"\\u0001\\u001f\x7f\"" },
        { "h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"" },
        { "\xff", "\"\\ufffd\"" },
        { "a\xc3", "\"a\\ufffd\"" },                 /* truncated sequence */
        { "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"" }, /* UTF-16 surrogate */
        { "\xc0\xaf", "\"\\ufffd\\ufffd\"" },         /* overlong */
        { "", "\"\"" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[128];
        size_t n = jsonw_quote(NULL, cases[i].in);
        CU_ASSERT_EQUAL_FATAL(n, strlen(cases[i].want));
        CU_ASSERT_EQUAL(jsonw_quote(buf, cases[i].in), n);
        buf[n] = '\0';
        CU_ASSERT_STRING_EQUAL(buf, cases[i].want);
    }
}

UNIT_SUITE("patch", setup, teardown,
           { "pointer escaping", test_pointer_escaping },
           { "patch_add limits", test_add_limits },
           { "patch_to_json exact text", test_to_json_exact },
           { "examples 03 and 05 byte-identical", test_examples_byte_identical },
           { "base64 RFC 4648 vectors", test_base64_vectors },
           { "base64 decode rejects malformed", test_base64_decode_rejects },
           { "JSON string quoting", test_json_quote })
