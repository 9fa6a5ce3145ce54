/* test_liststream.c - the item-by-item List reader: items handed over as they complete whatever
 * the chunk sizes, the rest with the array emptied, documents of other shapes whole, and every
 * malformed input refused at its byte, with the limits and the callback's stop honoured. */
#include <stdio.h>
#include <string.h>
#include "unit.h"
#include "liststream.h"
#include "mem.h"

struct seen {
    size_t n;
    char names[8][32];
    size_t stop_at;             /* stop (AG_EINVAL) on this index; (size_t)-1: never */
};

static enum ag_result on_item(const cJSON *item, size_t index, void *ctx, char *err, size_t errlen)
{
    struct seen *s = ctx;
    if (index == s->stop_at) {
        snprintf(err, errlen, "stopped at %zu", index);
        return AG_EINVAL;
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(item, "name");
    if (s->n < 8)
        snprintf(s->names[s->n], sizeof s->names[0], "%s", cJSON_IsString(name) ? name->valuestring :
                 cJSON_IsNumber(item) ? "number" : cJSON_IsString(item) ? item->valuestring : "?");
    s->n++;
    return AG_OK;
}

/* Read `doc` in chunks of `chunk` bytes. Returns the result; *rest and err as the reader gives. */
static enum ag_result run(const char *doc, size_t chunk, size_t max_item, struct seen *s, cJSON **rest, char *err,
                          size_t errlen)
{
    *rest = NULL;
    struct liststream *ls = liststream_new("items", max_item, 4096, 32, on_item, s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ls);
    size_t len = strlen(doc);
    enum ag_result r = AG_OK;
    for (size_t off = 0; r == AG_OK && off < len; off += chunk)
        r = liststream_feed(ls, doc + off, len - off < chunk ? len - off : chunk, err, errlen);
    size_t n = 0;
    if (r == AG_OK)
        r = liststream_finish(ls, rest, &n, err, errlen);
    if (r == AG_OK)
        CU_ASSERT_EQUAL(n, s->n);
    liststream_free(ls);
    return r;
}

static void test_items(void)
{
    const char *doc = "{\"apiVersion\":\"v1\",\"items\":[ {\"name\":\"a\",\"x\":[1,{\"y\":\"]}\\\"\"}]},\n"
                      "{\"name\":\"b\"} , \"str]ing\", -1.5e3, true, null, [] ],\"kind\":\"List\",\"metadata\":{}}";
    for (size_t chunk = 1; chunk <= strlen(doc); chunk += chunk < 8 ? 1 : 13) {
        struct seen s = { .stop_at = (size_t)-1 };
        cJSON *rest = NULL;
        char err[256] = "";
        CU_ASSERT_EQUAL_FATAL(run(doc, chunk, 1024, &s, &rest, err, sizeof err), AG_OK);
        CU_ASSERT_EQUAL(s.n, 7);
        CU_ASSERT_STRING_EQUAL(s.names[0], "a");
        CU_ASSERT_STRING_EQUAL(s.names[1], "b");
        CU_ASSERT_STRING_EQUAL(s.names[2], "str]ing");
        CU_ASSERT_STRING_EQUAL(s.names[3], "number");
        /* the rest: everything else, the array empty */
        char *text = cJSON_PrintUnformatted(rest);
        CU_ASSERT_STRING_EQUAL(text, "{\"apiVersion\":\"v1\",\"items\":[],\"kind\":\"List\",\"metadata\":{}}");
        cJSON_free(text);
        cJSON_Delete(rest);
    }
}

static void test_other_shapes(void)
{
    const char *docs[] = {
        "{\"kind\":\"Node\",\"metadata\":{\"name\":\"n\"}}",               /* no items */
        "[{\"items\":[1,2]}]",                                            /* a top-level array */
        "{\"spec\":{\"items\":[1,2]}}",                                   /* items deeper down */
        "{\"it\\u0065ms\":[1,2]}",                                        /* an escaped name */
        "{\"items\":{\"a\":1}}",                                          /* items not an array */
        "{\"item\":[1], \"itemsx\":[2], \"x\":\"items\"}",                /* near misses */
        "  \"items\"  ",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        struct seen s = { .stop_at = (size_t)-1 };
        cJSON *rest = NULL, *whole = cJSON_Parse(docs[i]);
        char err[256] = "";
        CASE_ASSERT(run(docs[i], 3, 1024, &s, &rest, err, sizeof err) == AG_OK, i, docs[i]);
        CASE_ASSERT(s.n == 0, i, docs[i]);
        CASE_ASSERT(cJSON_Compare(rest, whole, true), i, docs[i]);
        cJSON_Delete(rest);
        cJSON_Delete(whole);
    }
}

static void test_malformed(void)
{
    static const struct { const char *doc; const char *err; } cases[] = {
        { "", "not valid JSON near byte 0" },
        { "{\"items\":[1,]}", "not valid JSON near byte 12" },          /* trailing comma */
        { "{\"items\":[,1]}", "not valid JSON near byte 10" },
        { "{\"items\":[1 2]}", "not valid JSON near byte 12" },         /* missing comma */
        { "{\"items\":[{\"a\":1]]}", "not valid JSON near byte 16" },    /* wrong closer inside an item */
        { "{\"items\":[{\"a\":tru}]}", "not valid JSON near byte 18" },
        { "{\"items\":[\"\xff\"]}", "not valid JSON near byte 11" },       /* bad UTF-8 inside an item */
        { "{\"items\":[\"a\\u0000\"]}", "not valid JSON near byte 12" },
        { "{\"items\":[{}]", "not valid JSON near byte 13" },           /* cut short after the array */
        { "{\"items\":[{}", "not valid JSON near byte 12" },            /* cut short inside it */
        { "{\"items\":[{}]}}", "not valid JSON near byte 14" },         /* trailing byte after the array */
        { "{\"items\":[{}], \"kind\" \"List\"}", "not valid JSON near byte 22" },
        { "{\"items\":[12", "not valid JSON near byte 12" },
        { "{\"items\":[1e]}", "not valid JSON near byte 12" },
        { "{\"items\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}", "nested deeper than 32" },
        { "{\"items\":[{\"a\":\"0123456789012345678901234567890123456789\"}]}", "an item of items larger than 40 bytes (it starts at byte 10)" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (size_t chunk = 1; chunk <= 64; chunk *= 4) {
            struct seen s = { .stop_at = (size_t)-1 };
            cJSON *rest = NULL;
            char err[256] = "";
            enum ag_result r = run(cases[i].doc, chunk, 40, &s, &rest, err, sizeof err);
            CASE_ASSERT(r == AG_EINVAL || r == AG_ETOOBIG, i, cases[i].doc);
            CASE_ASSERT(rest == NULL, i, cases[i].doc);
            CASE_ASSERT(strstr(err, cases[i].err) != NULL, i, err);
        }
    }
}

static void test_stop_and_misuse(void)
{
    struct seen s = { .stop_at = 1 };
    cJSON *rest = NULL;
    char err[256] = "";
    CU_ASSERT_EQUAL(run("{\"items\":[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":\"c\"}]}", 5, 1024, &s, &rest, err,
                        sizeof err), AG_EINVAL);
    CU_ASSERT_STRING_EQUAL(err, "stopped at 1");
    CU_ASSERT_EQUAL(s.n, 1);
    /* after a failure, nothing more */
    struct liststream *ls = liststream_new("items", 100, 100, 8, on_item, &s);
    CU_ASSERT_EQUAL(liststream_feed(ls, "]", 1, err, sizeof err), AG_OK);       /* the rest is checked at the end */
    CU_ASSERT_EQUAL(liststream_finish(ls, &rest, NULL, err, sizeof err), AG_EINVAL);
    CU_ASSERT_EQUAL(liststream_feed(ls, "{}", 2, err, sizeof err), AG_EINVAL);
    CU_ASSERT_EQUAL(liststream_finish(ls, &rest, NULL, err, sizeof err), AG_EINVAL);
    liststream_free(ls);
    /* the rest has its own limit */
    ls = liststream_new("items", 100, 10, 8, on_item, &s);
    CU_ASSERT_EQUAL(liststream_feed(ls, "{\"kind\":\"NodeList\"}", 19, err, sizeof err), AG_ETOOBIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "larger than 10 bytes outside its items"));
    liststream_free(ls);
    CU_ASSERT_PTR_NULL(liststream_new(NULL, 1, 1, 1, on_item, NULL));
    CU_ASSERT_PTR_NULL(liststream_new("items", 1, 1, 1, NULL, NULL));
    liststream_free(NULL);
}

static void test_out_of_memory(void)
{
    const char *doc = "{\"items\":[{\"name\":\"a\"},{\"name\":\"b\"}],\"kind\":\"List\"}";
    long live = mem_live();
    for (long n = 0; n < 40; n++) {
        struct seen s = { .stop_at = (size_t)-1 };
        char err[256] = "";
        cJSON *rest = NULL;
        mem_fail_after(n);
        struct liststream *ls = liststream_new("items", 1024, 1024, 16, on_item, &s);
        enum ag_result r = ls ? liststream_feed(ls, doc, strlen(doc), err, sizeof err) : AG_ENOMEM;
        if (r == AG_OK)
            r = liststream_finish(ls, &rest, NULL, err, sizeof err);
        mem_fail_after(-1);
        CASE_ASSERT(r == AG_OK || r == AG_ENOMEM, (size_t)n, err);
        cJSON_Delete(rest);
        liststream_free(ls);
    }
    CU_ASSERT_EQUAL(mem_live(), live);
}

UNIT_SUITE("liststream", NULL, NULL,
           { "items handed over whatever the chunk size; the rest kept with the array empty", test_items },
           { "documents of other shapes come back whole", test_other_shapes },
           { "malformed input refused at its byte, limits", test_malformed },
           { "the callback stops it; use after failure; bad arguments", test_stop_and_misuse },
           { "allocation failures", test_out_of_memory });
