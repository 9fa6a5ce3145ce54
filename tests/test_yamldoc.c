/* test_yamldoc.c - YAML/JSON manifest text -> cJSON documents: scalar typing as Kubernetes
 * does it, document streams, and every refusal (with its line and column), plus an allocation
 * failure sweep (no crash, no leak). */
#include <stdio.h>
#include <string.h>
#include <CUnit/CUnit.h>
#include "unit.h"
#include "testutil.h"
#include "check/yamldoc.h"
#include "mem.h"

struct docs {
    cJSON *all;         /* array of {"index":, "line":, "doc":} */
};

static enum ag_result collect(cJSON *doc, size_t index, unsigned line, void *ctx)
{
    struct docs *d = ctx;
    cJSON *e = cJSON_CreateObject();
    if (!e) {
        cJSON_Delete(doc);
        return AG_ENOMEM;
    }
    cJSON_AddNumberToObject(e, "index", (double)index);
    cJSON_AddNumberToObject(e, "line", line);
    cJSON_AddItemToObject(e, "doc", doc);
    cJSON_AddItemToArray(d->all, e);
    return AG_OK;
}

/* Parse text; on success the documents as one JSON text (caller cJSON_free's), else NULL. */
static enum ag_result parse(const char *text, char **json, char *err, size_t errlen)
{
    struct docs d = { cJSON_CreateArray() };
    enum ag_result r = yamldoc_parse(text, strlen(text), NULL, collect, &d, err, errlen);
    *json = NULL;
    if (r == AG_OK) {
        cJSON *only = cJSON_CreateArray();
        cJSON *e;
        cJSON_ArrayForEach(e, d.all)
            cJSON_AddItemReferenceToArray(only, cJSON_GetObjectItemCaseSensitive(e, "doc"));
        *json = cJSON_PrintUnformatted(only);
        cJSON_Delete(only);
    }
    cJSON_Delete(d.all);
    return r;
}

static void test_scalar_typing(void)
{
    static const struct { const char *yaml, *json; } cases[] = {
        { "a: 1", "[{\"a\":1}]" },
        { "a: -12", "[{\"a\":-12}]" },
        { "a: 1_000", "[{\"a\":1000}]" },
        { "a: 0x1F", "[{\"a\":31}]" },
        { "a: 0o17", "[{\"a\":15}]" },
        { "a: 017", "[{\"a\":15}]" },
        { "a: 0b101", "[{\"a\":5}]" },
        { "a: 08", "[{\"a\":8}]" },
        { "a: 1.5", "[{\"a\":1.5}]" },
        { "a: 1e3", "[{\"a\":1000}]" },
        { "a: .5", "[{\"a\":0.5}]" },
        { "a: true", "[{\"a\":true}]" },
        { "a: yes", "[{\"a\":true}]" },
        { "a: On", "[{\"a\":true}]" },
        { "a: n", "[{\"a\":false}]" },
        { "a: OFF", "[{\"a\":false}]" },
        { "a: ~", "[{\"a\":null}]" },
        { "a: null", "[{\"a\":null}]" },
        { "a:", "[{\"a\":null}]" },
        { "a: 'true'", "[{\"a\":\"true\"}]" },
        { "a: \"1\"", "[{\"a\":\"1\"}]" },
        { "a: !!str 12", "[{\"a\":\"12\"}]" },
        { "a: 2Gi", "[{\"a\":\"2Gi\"}]" },
        { "a: 1.2.3", "[{\"a\":\"1.2.3\"}]" },
        { "a: 2001-12-14", "[{\"a\":\"2001-12-14\"}]" },
        { "a: 0x", "[{\"a\":\"0x\"}]" },
        { "a: +", "[{\"a\":\"+\"}]" },
        { "a: -.NaN", "[{\"a\":\"-.NaN\"}]" },
        { "a: |\n  x\n  y\n", "[{\"a\":\"x\\ny\\n\"}]" },
        { "a: >-\n  x\n  y\n", "[{\"a\":\"x y\"}]" },
        { "1e30: a\n1.5: b\n0x10: c", "[{\"1e+30\":\"a\",\"1.5\":\"b\",\"16\":\"c\"}]" },
        { "yes: 1\n2: b\n'on': c", "[{\"true\":1,\"2\":\"b\",\"on\":\"c\"}]" },
        { "a: [1, two, {b: null}]", "[{\"a\":[1,\"two\",{\"b\":null}]}]" },
        { "- 1\n- x", "[[1,\"x\"]]" },
        { "a: \"\\u00e9\\t\"", "[{\"a\":\"\xc3\xa9\\t\"}]" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "", *json = NULL;
        enum ag_result r = parse(cases[i].yaml, &json, err, sizeof err);
        CASE_ASSERT(r == AG_OK, i, cases[i].yaml);
        CASE_ASSERT(json && tu_json_equal(json, cases[i].json), i, cases[i].yaml);
        if (json && !tu_json_equal(json, cases[i].json))
            fprintf(stderr, "\ncase %zu: got %s want %s\n", i, json, cases[i].json);
        cJSON_free(json);
    }
}

static void test_documents(void)
{
    static const char text[] =
        "# comment\n"
        "a: 1\n"
        "---\n"
        "# only a comment\n"
        "---\n"
        "---\n"
        "b: 2\n"
        "...\n"
        "--- {c: 3}\n";
    struct docs d = { cJSON_CreateArray() };
    char err[256] = "";
    CU_ASSERT_EQUAL_FATAL(yamldoc_parse(text, strlen(text), NULL, collect, &d, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(d.all), 3);
    static const int want_index[] = { 0, 3, 4 }, want_line[] = { 2, 7, 9 };
    for (int i = 0; i < 3; i++) {
        const cJSON *e = cJSON_GetArrayItem(d.all, i);
        CASE_ASSERT(cJSON_GetObjectItemCaseSensitive(e, "index")->valueint == want_index[i], i, "index");
        CASE_ASSERT(cJSON_GetObjectItemCaseSensitive(e, "line")->valueint == want_line[i], i, "line");
    }
    cJSON_Delete(d.all);

    /* JSON text: one value, strict; line of the value */
    char *json = NULL;
    CU_ASSERT_EQUAL(parse("\n\n{\"a\": [1, true, null, \"x\"]}\n", &json, err, sizeof err), AG_OK);
    CU_ASSERT_TRUE(json && tu_json_equal(json, "[{\"a\":[1,true,null,\"x\"]}]"));
    cJSON_free(json);
    /* an empty file and a comment-only file have no documents */
    CU_ASSERT_EQUAL(parse("", &json, err, sizeof err), AG_OK);
    CU_ASSERT_STRING_EQUAL(json, "[]");
    cJSON_free(json);
    CU_ASSERT_EQUAL(parse("# nothing\n", &json, err, sizeof err), AG_OK);
    CU_ASSERT_STRING_EQUAL(json, "[]");
    cJSON_free(json);
}

/* A callback's error stops the parse and is returned. */
static enum ag_result stop_at_second(cJSON *doc, size_t index, unsigned line, void *ctx)
{
    (void)line;
    int *calls = ctx;
    (*calls)++;
    cJSON_Delete(doc);
    return index == 1 ? AG_EIO : AG_OK;
}

static void test_callback_stops(void)
{
    static const char text[] = "a: 1\n---\nb: 2\n---\nc: 3\n";
    int calls = 0;
    char err[64];
    CU_ASSERT_EQUAL(yamldoc_parse(text, strlen(text), NULL, stop_at_second, &calls, err, sizeof err), AG_EIO);
    CU_ASSERT_EQUAL(calls, 2);
}

static void test_refusals(void)
{
    static const struct { const char *text, *want; } cases[] = {
        { "a: 1\nb:\n\tc: 2\n", "line 3, column 1: a tab character" },
        { "a: 1\nb: 2\na: 3\n", "line 3, column 1: duplicate key \"a\"" },
        { "m:\n  k: 1\n  x: {k: 2, k: 3}\n", "line 3, column 13: duplicate key \"k\"" },
        { "true: 1\nyes: 2\n", "line 2, column 1: duplicate key \"true\"" },
        { "a: &x 1\n", "line 1, column 4: anchor &x: anchors and aliases are not supported" },
        { "a: &x [1]\nb: *x\n", "line 1, column 4: anchor &x" },
        { "b: *x\n", "line 1, column 4: alias *x" },
        { "a:\n  <<: {b: 1}\n", "line 2, column 3: merge keys (<<) are not supported" },
        { "? [a]\n: 1\n", "line 1, column 3: a mapping key must be a scalar, not a sequence" },
        { "a: \"x\\0y\"\n", "line 1, column 4: a string holds a NUL character" },
        { "a: .inf\n", "line 1, column 4: .inf: infinity and NaN have no JSON form" },
        { "a: -.Inf\n", "-.Inf: infinity and NaN" },
        { "a: \"open\n", "line 2, column 1: found unexpected end of stream" },
        { "a: b: c\n", "line 1, column 5: mapping values are not allowed" },
        { "\x01\x02\x03", "line 1, column 1: control characters are not allowed" },
        { "a: \xff\xfe\n", "invalid" },
        { "{\"a\": 1,}", "line 1, column 9: not valid JSON" },
        { "{\"a\": 1,\n \"a\": 2}", "(top level): duplicate key \"a\"" },
        { "{\"m\": {\"x\": 1, \"x\": 2}}", "m: duplicate key \"x\"" },
        { "[\"\\u0000\"]", "a JSON string holds \\u0000" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "", *json = NULL;
        enum ag_result r = parse(cases[i].text, &json, err, sizeof err);
        CASE_ASSERT(r == AG_EINVAL, i, cases[i].want);
        CASE_ASSERT(strstr(err, cases[i].want) != NULL, i, cases[i].want);
        if (!strstr(err, cases[i].want))
            fprintf(stderr, "\ncase %zu: got \"%s\"\n", i, err);
        cJSON_free(json);
    }
}

static void test_limits(void)
{
    char err[256];
    char *json = NULL;
    struct docs d = { cJSON_CreateArray() };
    /* depth: 61 nested flow sequences are refused, 60 pass */
    char deep[256];
    for (int n = 60; n <= 61; n++) {
        memset(deep, '[', (size_t)n);
        memset(deep + n, ']', (size_t)n);
        deep[2 * n] = '\0';
        /* the same through the YAML path: "x: " in front */
        char y[300];
        snprintf(y, sizeof y, "x: %s", deep);
        enum ag_result want = n <= YAMLDOC_MAX_DEPTH - 1 ? AG_OK : AG_EINVAL;
        CU_ASSERT_EQUAL(yamldoc_parse(y, strlen(y), NULL, collect, &d, err, sizeof err), want);
        if (want != AG_OK)
            CU_ASSERT_PTR_NOT_NULL(strstr(err, "nested deeper than 60 levels"));
        CU_ASSERT_EQUAL(yamldoc_parse(deep, strlen(deep), NULL, collect, &d, err, sizeof err),
                        n <= YAMLDOC_MAX_DEPTH ? AG_OK : AG_EINVAL);
    }
    /* values and documents */
    const struct yamldoc_limits small = { 10, 5, 2 };
    static const char five[] = "[1, 2, 3, 4]", six[] = "[1, 2, 3, 4, 5]";
    CU_ASSERT_EQUAL(yamldoc_parse(five, strlen(five), &small, collect, &d, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(yamldoc_parse(six, strlen(six), &small, collect, &d, err, sizeof err), AG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "more than 5 values"));
    static const char y6[] = "- 1\n- 2\n- 3\n- 4\n- 5\n";
    CU_ASSERT_EQUAL(yamldoc_parse(y6, strlen(y6), &small, collect, &d, err, sizeof err), AG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "line 5, column 3: more than 5 values"));
    static const char docs3[] = "a: 1\n---\nb: 1\n---\nc: 1\n";
    CU_ASSERT_EQUAL(yamldoc_parse(docs3, strlen(docs3), &small, collect, &d, err, sizeof err), AG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "line 4, column 1: more than 2 documents"));
    cJSON_Delete(d.all);
    (void)json;
}

/* One mapping of 200,000 keys (a VM with that many labels fits the 8 MiB --max-file): every key
 * kept, in linear time. Adding a key once counted the mapping's members: about three minutes
 * for this input; now well under a second (the bound leaves room for valgrind). */
static void test_wide_mapping(void)
{
    enum { KEYS = 200000 };
    size_t cap = (size_t)KEYS * 24, len = 0;
    char *y = mem_malloc(cap);
    CU_ASSERT_PTR_NOT_NULL_FATAL(y);
    for (int i = 0; i < KEYS; i++)
        len += (size_t)snprintf(y + len, cap - len, "k%06d: %d\n", i, i);
    struct docs d = { cJSON_CreateArray() };
    char err[256];
    double t0 = tu_now_us();
    CU_ASSERT_EQUAL(yamldoc_parse(y, len, NULL, collect, &d, err, sizeof err), AG_OK);
    CU_ASSERT(tu_now_us() - t0 < 30e6);
    cJSON *doc = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(d.all, 0), "doc");
    CU_ASSERT_EQUAL(cJSON_GetArraySize(doc), KEYS);
    CU_ASSERT_EQUAL(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(doc, "k199999")), 199999);
    cJSON_Delete(d.all);
    mem_free(y);
}

/* Every allocation failing in turn: an error, never a crash or a leak. */
static void test_alloc_failures(void)
{
    char *text = tu_read_file("tests/fixtures/check/multi.yaml", NULL);
    char *jtext = tu_read_file("tests/fixtures/check/list.json", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(jtext);
    const char *inputs[] = { text, jtext };
    for (size_t k = 0; k < 2; k++) {
        bool succeeded = false;
        for (long n = 0; n < 20000 && !succeeded; n += n < 200 ? 1 : 37) {
            long live = mem_live();
            struct docs d = { cJSON_CreateArray() };
            char err[256];
            mem_fail_after(n);
            enum ag_result r = d.all ? yamldoc_parse(inputs[k], strlen(inputs[k]), NULL, collect, &d, err, sizeof err)
                                     : AG_ENOMEM;
            mem_fail_after(-1);
            CASE_ASSERT(r == AG_OK || r == AG_ENOMEM, (size_t)n, "ok or out of memory");
            succeeded = r == AG_OK;
            cJSON_Delete(d.all);
            CASE_ASSERT(mem_live() == live, (size_t)n, "nothing leaked");
        }
        CU_ASSERT_TRUE(succeeded);
    }
    mem_free(text);
    mem_free(jtext);
}

UNIT_SUITE("yamldoc", NULL, NULL,
           { "a mapping of 200,000 keys: all kept, in linear time", test_wide_mapping },
           { "plain scalars typed as sigs.k8s.io/yaml types them", test_scalar_typing },
           { "document streams, empty documents, JSON text", test_documents },
           { "a callback error stops the parse", test_callback_stops },
           { "refusals name line and column", test_refusals },
           { "depth, value and document limits", test_limits },
           { "allocation failures: an error, no leak", test_alloc_failures })
