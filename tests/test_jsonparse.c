/* test_jsonparse.c - the strict JSON parser: the same tree as cJSON on valid text, every non-JSON
 * text refused at its exact byte, the nesting limit, the keep callback, a tree cJSON can work on,
 * allocation failure, no read past len. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <CUnit/CUnit.h>
#include "unit.h"
#include "testutil.h"
#include "jsonparse.h"
#include "mem.h"

#define NELEM(a) (sizeof (a) / sizeof (a)[0])

static cJSON not_a_tree;    /* what *out holds before a call: it must be NULL after a failure */

/* ---- helpers ---- */

/* Same type, name, value (the double bit for bit, so -0 is not 0) and children, in order.
 * valueint too: cJSON's parser sets it to 1 on true, and so must json_parse. */
static bool tree_equal(const cJSON *a, const cJSON *b)
{
    if (!a || !b)
        return a == b;
    if (a->type != b->type || a->valueint != b->valueint)
        return false;
    if ((a->string == NULL) != (b->string == NULL) || (a->string && strcmp(a->string, b->string) != 0))
        return false;
    if ((a->valuestring == NULL) != (b->valuestring == NULL) ||
        (a->valuestring && strcmp(a->valuestring, b->valuestring) != 0))
        return false;
    if (memcmp(&a->valuedouble, &b->valuedouble, sizeof a->valuedouble) != 0)
        return false;
    const cJSON *x = a->child, *y = b->child;
    for (; x && y; x = x->next, y = y->next)
        if (!tree_equal(x, y))
            return false;
    return !x && !y;
}

/* cJSON's list layout everywhere: next/prev agree, the first child's prev is the last child, the
 * last child's next is NULL; names on object members only. */
static bool links_ok(const cJSON *item, bool is_member)
{
    if ((item->string != NULL) != is_member)
        return false;
    const cJSON *c = item->child, *last = NULL;
    if (c && !cJSON_IsArray(item) && !cJSON_IsObject(item))
        return false;
    for (; c; c = c->next) {
        if (c != item->child && c->prev != last)
            return false;
        if (!links_ok(c, cJSON_IsObject(item)))
            return false;
        last = c;
    }
    return !item->child || item->child->prev == last;
}

/* A copy of s[0..len) in a buffer of exactly len bytes, no NUL: ASan sees any read past it. */
static char *exact_copy(const char *s, size_t len)
{
    char *b = mem_malloc(len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    if (len)
        memcpy(b, s, len);
    return b;
}

/* Parse with json_parse and with cJSON: both OK, equal trees and equal text. */
static void check_same_as_cjson(const char *doc, size_t len, size_t idx, const char *name)
{
    long live = mem_live();
    char *copy = exact_copy(doc, len);
    cJSON *mine = &not_a_tree;
    size_t at = 12345;
    enum json_parse_result rc = json_parse(copy, len, JSON_PARSE_MAX_DEPTH, NULL, NULL, &mine, &at);
    CASE_ASSERT(rc == JSON_PARSE_OK, idx, name);
    cJSON *theirs = cJSON_ParseWithLength(doc, len);
    CASE_ASSERT(theirs != NULL, idx, name);
    if (rc == JSON_PARSE_OK && theirs) {
        CASE_ASSERT(tree_equal(mine, theirs), idx, name);
        CASE_ASSERT(links_ok(mine, false), idx, name);
        char *a = cJSON_PrintUnformatted(mine), *b = cJSON_PrintUnformatted(theirs);
        CASE_ASSERT(a && b && strcmp(a, b) == 0, idx, name);
        if (a && b && strcmp(a, b) != 0)
            fprintf(stderr, "\ncase %zu: json_parse %s, cJSON %s\n", idx, a, b);
        cJSON_free(a);
        cJSON_free(b);
    }
    if (rc == JSON_PARSE_OK)
        cJSON_Delete(mine);
    cJSON_Delete(theirs);
    mem_free(copy);
    CASE_ASSERT(mem_live() == live, idx, name);
}

/* Not JSON: SYNTAX at byte `at`, *out NULL, nothing left allocated. */
static void check_syntax(const char *doc, size_t len, size_t want_at, json_keep_fn keep, void *ctx,
                         size_t idx, const char *name)
{
    long live = mem_live();
    char *copy = exact_copy(doc, len);
    cJSON *out = &not_a_tree;
    size_t at = 12345;
    enum json_parse_result rc = json_parse(copy, len, JSON_PARSE_MAX_DEPTH, keep, ctx, &out, &at);
    CASE_ASSERT(rc == JSON_PARSE_SYNTAX, idx, name);
    CASE_ASSERT(at == want_at, idx, name);
    if (rc != JSON_PARSE_SYNTAX || at != want_at)
        fprintf(stderr, "\ncase %zu (%s): rc %d at %zu, wanted SYNTAX at %zu\n", idx, name, rc, at, want_at);
    CASE_ASSERT(out == NULL, idx, name);
    if (rc == JSON_PARSE_OK && out != &not_a_tree)
        cJSON_Delete(out);
    mem_free(copy);
    CASE_ASSERT(mem_live() == live, idx, name);
}

/* The keep callback that records every call. Members named in `drop` are left out. */
struct call { char key[32]; unsigned depth; char path[96]; };
struct recorder {
    struct call calls[32];
    size_t n;
    const char *drop[4];
};

static bool record_keep(const char *const *path, unsigned depth, const char *key, void *ctx)
{
    struct recorder *r = ctx;
    if (r->n < NELEM(r->calls)) {
        struct call *c = &r->calls[r->n];
        snprintf(c->key, sizeof c->key, "%s", key);
        c->depth = depth;
        size_t o = 0;
        c->path[0] = '\0';
        for (unsigned i = 0; i < depth && o < sizeof c->path; i++)
            o += (size_t)snprintf(c->path + o, sizeof c->path - o, "%s%s", i ? "/" : "",
                                  path[i] ? path[i] : "#");
    }
    r->n++;
    for (size_t i = 0; i < NELEM(r->drop) && r->drop[i]; i++)
        if (strcmp(key, r->drop[i]) == 0)
            return false;
    return true;
}

/* Leaves out every member whose name starts with "drop" or is "skip". */
static bool keep_not_drop(const char *const *path, unsigned depth, const char *key, void *ctx)
{
    (void)path;
    (void)depth;
    (void)ctx;
    return strncmp(key, "drop", 4) != 0 && strcmp(key, "skip") != 0;
}

static enum json_parse_result parse_text(const char *doc, unsigned max_depth, json_keep_fn keep, void *ctx,
                                         cJSON **out, size_t *at)
{
    *out = &not_a_tree;
    return json_parse(doc, strlen(doc), max_depth, keep, ctx, out, at);
}

/* The unformatted text of a tree (static buffer; "" on failure). */
static const char *text_of(const cJSON *t)
{
    static char buf[4096];
    char *p = cJSON_PrintUnformatted(t);
    snprintf(buf, sizeof buf, "%s", p ? p : "");
    cJSON_free(p);
    return buf;
}

/* ---- 1. valid documents ---- */

static void test_valid_same_as_cjson(void)
{
    static const struct { const char *doc; size_t len; } cases[] = {
        { "{}", 0 }, { "[]", 0 }, { "{\"a\":1}", 0 }, { "[1,2,3]", 0 },
        { "{\"a\":{\"b\":{\"c\":[[],[{}],{\"d\":null}]}},\"e\":[[[[\"deep\"]]]]}", 0 },
        { "[{\"a\":[{\"b\":[]},{}]},[],{\"c\":{}}]", 0 },
        { "\"\"", 0 }, { "\"x\"", 0 }, { "true", 0 }, { "false", 0 }, { "null", 0 },
        { "[true,false,null,\"t\",{\"n\":null}]", 0 },
        /* escapes */
        { "\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"", 0 },
        { "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", 0 },
        { "{\"k\\\"\\\\\\/\\b\\f\\n\\r\\t\":\"v\"}", 0 },
        { "\"\\u0041\\u00e9\\u20AC\\uD83D\\uDE00\"", 0 },
        { "\"\\u001f\\u007f\\u0080\\u07ff\\u0800\\uffff\\ud800\\udc00\\udbff\\udfff\"", 0 },
        /* raw UTF-8 and DEL pass through */
        { "\"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x90\xa7\"", 0 },
        { "{\"\xc3\xa9\":\"\xf0\x9f\x98\x80\"}", 0 },
        { "[\"\x7f\"]", 0 },
        /* UTF-8 at the edges of each form: U+07FF, U+0800, U+D7FF, U+E000, U+10000, U+10FFFF; and
         * after more than eight ASCII bytes (the word-at-a-time scan) */
        { "\"\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"", 0 },
        { "\"abcdefghij\xc3\xa9klmnopqrstuvwxyz\xe2\x82\xac" "0123456789\"", 0 },
        /* numbers */
        { "0", 0 }, { "-0", 0 }, { "12", 0 }, { "-3.25", 0 }, { "1e5", 0 }, { "1.5E-3", 0 },
        { "2E+2", 0 }, { "0.1", 0 }, { "0e0", 0 }, { "-0.0e-0", 0 }, { "1E0", 0 }, { "10", 0 },
        { "12345678901234567890", 0 }, { "-9007199254740993", 0 }, { "18446744073709551616", 0 },
        { "1e400", 0 }, { "-1e400", 0 }, { "1e-400", 0 }, { "123.456e-7", 0 },
        { "[0,-0,12,-3.25,1e5,1.5E-3,2E+2,12345678901234567890,1e400]", 0 },
        { "3e10", 0 }, { "-3e10", 0 }, { "2147483647", 0 }, { "-2147483648", 0 },
        /* whitespace around everything */
        { " \t\r\n{ \"a\" \t: \r\n[ 1 , true ,\"s\" , null , false ] , \"b\":{ } , \"c\" : [ ] }\n\r\t ", 0 },
        { "\n[\n1\n,\n{\n\"x\"\n:\n2\n}\n]\n", 0 },
        { "\t\"s\"\t", 0 }, { " 1 ", 0 }, { "\r\ntrue\r\n", 0 },
        /* names: empty, repeated, escaped */
        { "{\"\":0}", 0 }, { "{\"a\":1,\"a\":2}", 0 }, { "{\"\\u0061\\n\":1}", 0 },
    };
    for (size_t i = 0; i < NELEM(cases); i++)
        check_same_as_cjson(cases[i].doc, cases[i].len ? cases[i].len : strlen(cases[i].doc), i, cases[i].doc);
}

/* Each escape decodes to its exact bytes, as a value and as a member name. */
static void test_escapes_decode(void)
{
    static const struct { const char *lit, *want; } cases[] = {
        { "\\\"", "\"" }, { "\\\\", "\\" }, { "\\/", "/" }, { "\\b", "\b" }, { "\\f", "\f" },
        { "\\n", "\n" }, { "\\r", "\r" }, { "\\t", "\t" },
        { "\\\"\\\\\\/\\b\\f\\n\\r\\t", "\"\\/\b\f\n\r\t" },
        { "\\u0041", "A" }, { "\\u0001", "\x01" }, { "\\u007F", "\x7f" },        /* 1 byte */
        { "\\u0080", "\xc2\x80" }, { "\\u00e9", "\xc3\xa9" }, { "\\u07FF", "\xdf\xbf" },   /* 2 */
        { "\\u0800", "\xe0\xa0\x80" }, { "\\u20AC", "\xe2\x82\xac" }, { "\\uD7FF", "\xed\x9f\xbf" },
        { "\\uE000", "\xee\x80\x80" }, { "\\uFFFF", "\xef\xbf\xbf" },            /* 3 */
        { "\\uD83D\\uDE00", "\xf0\x9f\x98\x80" }, { "\\ud83d\\ude00", "\xf0\x9f\x98\x80" },  /* 4 */
        { "\\uD800\\uDC00", "\xf0\x90\x80\x80" }, { "\\uDBFF\\uDFFF", "\xf4\x8f\xbf\xbf" },
        { "a\\u00e9b\\u20acc\\uD83D\\uDE00d", "a\xc3\xa9" "b\xe2\x82\xac" "c\xf0\x9f\x98\x80" "d" },
        { "caf\xc3\xa9 \xf0\x9f\x90\xa7", "caf\xc3\xa9 \xf0\x9f\x90\xa7" },        /* raw, unescaped */
        { "\xe6\x97\xa5\\n\xe6\x9c\xac", "\xe6\x97\xa5\n\xe6\x9c\xac" },          /* raw and escaped */
        { "plain", "plain" }, { "", "" },
    };
    for (size_t i = 0; i < NELEM(cases); i++) {
        char doc[256];
        size_t at;
        cJSON *t;
        long live = mem_live();
        snprintf(doc, sizeof doc, "\"%s\"", cases[i].lit);
        enum json_parse_result rc = parse_text(doc, 8, NULL, NULL, &t, &at);
        CASE_ASSERT(rc == JSON_PARSE_OK, i, doc);
        if (rc == JSON_PARSE_OK) {
            CASE_ASSERT(cJSON_IsString(t), i, doc);
            CASE_ASSERT(strcmp(t->valuestring, cases[i].want) == 0, i, doc);
            cJSON_Delete(t);
        }
        snprintf(doc, sizeof doc, "{\"%s\":[\"%s\"]}", cases[i].lit, cases[i].lit);
        rc = parse_text(doc, 8, NULL, NULL, &t, &at);
        CASE_ASSERT(rc == JSON_PARSE_OK, i, doc);
        if (rc == JSON_PARSE_OK) {
            CASE_ASSERT(t->child && strcmp(t->child->string, cases[i].want) == 0, i, doc);
            CASE_ASSERT(t->child && t->child->child && strcmp(t->child->child->valuestring, cases[i].want) == 0,
                        i, doc);
            cJSON_Delete(t);
        }
        CASE_ASSERT(mem_live() == live, i, doc);
    }
}

static void test_number_values(void)
{
    static const struct { const char *doc; int vi; double vd; } cases[] = {
        { "0", 0, 0.0 }, { "12", 12, 12.0 }, { "-3.25", -3, -3.25 }, { "1e5", 100000, 1e5 },
        { "1.5E-3", 0, 1.5e-3 }, { "2E+2", 200, 200.0 }, { "-7.9", -7, -7.9 },
        { "3e10", INT_MAX, 3e10 }, { "-3e10", INT_MIN, -3e10 },
        { "2147483647", INT_MAX, 2147483647.0 }, { "2147483648", INT_MAX, 2147483648.0 },
        { "-2147483648", INT_MIN, -2147483648.0 }, { "-2147483649", INT_MIN, -2147483649.0 },
        { "2147483646.5", 2147483646, 2147483646.5 },
        { "12345678901234567890", INT_MAX, 12345678901234567890.0 },
        { "1e400", INT_MAX, HUGE_VAL }, { "-1e400", INT_MIN, -HUGE_VAL }, { "1e-400", 0, 0.0 },
    };
    for (size_t i = 0; i < NELEM(cases); i++) {
        cJSON *t;
        size_t at;
        enum json_parse_result rc = parse_text(cases[i].doc, 4, NULL, NULL, &t, &at);
        CASE_ASSERT(rc == JSON_PARSE_OK, i, cases[i].doc);
        if (rc != JSON_PARSE_OK)
            continue;
        cJSON *c = cJSON_Parse(cases[i].doc);
        CASE_ASSERT(cJSON_IsNumber(t), i, cases[i].doc);
        CASE_ASSERT(t->valueint == cases[i].vi, i, cases[i].doc);
        CASE_ASSERT(t->valuedouble == cases[i].vd, i, cases[i].doc);
        CASE_ASSERT(c && c->valueint == t->valueint, i, cases[i].doc);      /* cJSON agrees */
        cJSON_Delete(c);
        cJSON_Delete(t);
    }
    /* -0 keeps its sign */
    cJSON *t;
    size_t at;
    CU_ASSERT_EQUAL_FATAL(parse_text("-0", 4, NULL, NULL, &t, &at), JSON_PARSE_OK);
    CU_ASSERT_TRUE(t->valuedouble == 0.0 && signbit(t->valuedouble));
    cJSON_Delete(t);
}

/* Numbers around and past the 64-byte stack buffer (63 on the stack, 64 and up on the heap):
 * the same value as strtod on the whole text. cJSON itself reads only 63 bytes of a number, so
 * strtod is the reference here. */
static void test_long_numbers(void)
{
    static const size_t lens[] = { 62, 63, 64, 65, 100, 300 };
    static const char *forms[] = { "%s", "-%s", "0.%s", "%s.5e-250", "-1.%sE+2", "[%s]", "{\"n\":%s}" };
    long live = mem_live();
    size_t idx = 0;
    for (size_t l = 0; l < NELEM(lens); l++) {
        char digits[400];
        for (size_t k = 0; k < lens[l]; k++)
            digits[k] = (char)('1' + k % 9);
        digits[lens[l]] = '\0';
        for (size_t f = 0; f < NELEM(forms); f++, idx++) {
            char doc[512];
            /* the forms are literals from the table above */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
            snprintf(doc, sizeof doc, forms[f], digits);
#pragma GCC diagnostic pop
            const char *num = doc + strspn(doc, "[{\"n:");
            double want = strtod(num, NULL);
            cJSON *t;
            size_t at;
            enum json_parse_result rc = parse_text(doc, 4, NULL, NULL, &t, &at);
            CASE_ASSERT(rc == JSON_PARSE_OK, idx, doc);
            if (rc != JSON_PARSE_OK)
                continue;
            const cJSON *n = t->child ? t->child : t;
            CASE_ASSERT(cJSON_IsNumber(n), idx, doc);
            CASE_ASSERT(memcmp(&n->valuedouble, &want, sizeof want) == 0, idx, doc);
            cJSON_Delete(t);
        }
    }
    CU_ASSERT_EQUAL(mem_live(), live);
}

/* ---- 2. not JSON ---- */

static void test_syntax_errors(void)
{
    static const struct { const char *doc; size_t len, at; const char *name; } cases[] = {
        { "", 0, 0, "empty" },
        { "   ", 0, 3, "only spaces" },
        { " \t\r\n", 0, 4, "only whitespace" },
        /* numbers cJSON reads anyway */
        { "01", 0, 1, NULL }, { "-01", 0, 2, NULL }, { "[01]", 0, 2, NULL }, { "+1", 0, 0, NULL },
        { ".5", 0, 0, NULL }, { "1.", 0, 2, NULL }, { "1.e5", 0, 2, NULL }, { "1e", 0, 2, NULL },
        { "1e+", 0, 3, NULL }, { "1E-x", 0, 3, NULL }, { "1e5.5", 0, 3, NULL }, { "-", 0, 1, NULL },
        { "-a", 0, 1, NULL }, { "0x10", 0, 1, NULL }, { "1 2", 0, 2, NULL }, { "Infinity", 0, 0, NULL },
        { "-Infinity", 0, 1, NULL }, { "NaN", 0, 0, NULL }, { "[1.]", 0, 3, NULL },
        /* trailing commas, missing parts */
        { "[1,]", 0, 3, NULL }, { "{\"a\":1,}", 0, 7, NULL }, { "[,1]", 0, 1, NULL }, { "{,}", 0, 1, NULL },
        { "[1,,2]", 0, 3, NULL }, { "[", 0, 1, NULL }, { "{", 0, 1, NULL }, { "[1,2", 0, 4, NULL },
        { "[1,2,", 0, 5, NULL }, { "{\"a\"", 0, 4, NULL }, { "{\"a\":", 0, 5, NULL }, { "{\"a\":1", 0, 6, NULL },
        { "{\"a\"}", 0, 4, NULL }, { "{\"a\" 1}", 0, 5, NULL }, { "{1:2}", 0, 1, NULL }, { "[1 2]", 0, 3, NULL },
        { "{\"a\":1 \"b\":2}", 0, 7, NULL }, { "{\"a\"::1}", 0, 5, NULL }, { "{'a':1}", 0, 1, NULL },
        { "[1}", 0, 2, NULL }, { "{\"a\":1]", 0, 6, NULL }, { "]", 0, 0, NULL }, { "}", 0, 0, NULL },
        { "\"a\" : 1", 0, 4, NULL },
        /* control characters inside strings */
        { "\"a\tb\"", 0, 2, "raw tab in a string" },
        { "\"a\nb\"", 0, 2, "raw newline in a string" },
        { "\"a\x01" "b\"", 0, 2, "raw 0x01 in a string" },
        { "[\"\x1f\"]", 0, 2, "raw 0x1f in a string" },
        { "{\"k\rx\":1}", 0, 3, "raw CR in a name" },
        /* escapes: the offset is the backslash */
        { "\"\\x\"", 0, 1, NULL }, { "\"\\U0041\"", 0, 1, NULL }, { "\"\\'\"", 0, 1, NULL },
        { "\"ab\\a\"", 0, 3, NULL }, { "\"\\", 0, 1, NULL }, { "\"\\u12G4\"", 0, 1, NULL },
        { "\"\\u12\"", 0, 1, NULL }, { "\"\\u\"", 0, 1, NULL },
        { "\"\\uD800\"", 0, 1, "lone high surrogate" },
        { "\"\\uD800\\u0041\"", 0, 1, "high surrogate then non-surrogate" },
        { "\"\\uD83D\\uD83D\"", 0, 1, "two high surrogates" },
        { "\"\\uDC00\"", 0, 1, "lone low surrogate" },
        { "\"\\uDFFF\\uD800\"", 0, 1, "low then high" },
        { "\"x\\uD83Dabcdefgh\"", 0, 2, "high surrogate then text" },
        { "\"\\uD83D\\uDE0\"", 0, 1, "short low surrogate" },
        { "{\"\\q\":1}", 0, 2, "bad escape in a name" },
        /* literals */
        { "tru", 0, 3, NULL }, { "nul", 0, 3, NULL }, { "fals", 0, 4, NULL }, { "t", 0, 1, NULL },
        { "trUe", 0, 2, NULL }, { "True", 0, 0, NULL }, { "nulll", 0, 4, NULL }, { "falsey", 0, 5, NULL },
        { "[tru]", 0, 4, NULL }, { "{\"a\":[1,{\"b\":tru}]}", 0, 16, NULL }, { "[nan]", 0, 2, NULL },
        /* unterminated strings */
        { "\"abc", 0, 4, "unterminated string" }, { "\"", 0, 1, "a lone quote" },
        { "[\"a", 0, 3, "unterminated string in an array" }, { "{\"a", 0, 3, "unterminated name" },
        { "\"a\\\"", 0, 4, "the escaped quote does not close" },
        /* after the value */
        { "{} x", 0, 3, NULL }, { "{}{}", 0, 2, NULL }, { "[] []", 0, 3, NULL }, { "1,", 0, 1, NULL },
        { "\"a\"\"b\"", 0, 3, NULL }, { "nullx", 0, 4, NULL },
        /* bytes that are not whitespace */
        { "{}\0", 3, 2, "NUL after the value" }, { "[\0]", 3, 1, "NUL in an array" },
        { "\"a\0b\"", 5, 2, "NUL in a string" }, { "\0{}", 3, 0, "NUL before the value" },
        { "\v1", 0, 0, "vertical tab" }, { "\f[]", 0, 0, "form feed before" }, { "[]\f", 0, 2, "form feed after" },
        { "\xef\xbb\xbf{}", 0, 0, "byte order mark" }, { "\xc2\xa0[]", 0, 0, "no-break space" },
        { "'a'", 0, 0, NULL }, { "x", 0, 0, NULL }, { "/*c*/1", 0, 0, NULL },
        /* not well-formed UTF-8: the offset is the sequence's first byte */
        { "\"\xff\"", 0, 1, "0xFF" }, { "\"\xc3\"", 0, 1, "a lead byte then the quote" },
        { "\"\xc0\x80\"", 0, 1, "overlong NUL" }, { "\"\xc1\xbf\"", 0, 1, "overlong 2-byte" },
        { "\"\xe0\x80\x80\"", 0, 1, "overlong 3-byte" }, { "\"\xf0\x80\x80\x80\"", 0, 1, "overlong 4-byte" },
        { "\"\xed\xa0\x80\"", 0, 1, "an encoded surrogate" },
        { "\"\xf4\x90\x80\x80\"", 0, 1, "above U+10FFFF" }, { "\"\xf5\x80\x80\x80\"", 0, 1, "0xF5 lead" },
        { "\"a\x80\"", 0, 2, "a lone continuation byte" }, { "\"\xe2\x82x\"", 0, 1, "a short sequence" },
        { "\"\xe6\x97", 3, 1, "cut at the end of the text" }, { "{\"\xff\":1}", 0, 2, "in a name" },
        { "\"abcdefghijklmnop\xff\"", 0, 17, "after the word-at-a-time scan" },
        { "\xc3\xa9", 0, 0, "outside a string" },
    };
    for (size_t i = 0; i < NELEM(cases); i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].doc);
        check_syntax(cases[i].doc, len, cases[i].at, NULL, NULL, i, cases[i].name ? cases[i].name : cases[i].doc);
    }
}

/* \u0000 is refused on its own code, at its backslash: a C string would end there. Also in a
 * member name, and inside a member the keep callback leaves out. */
static bool keep_none(const char *const *path, unsigned depth, const char *key, void *ctx)
{
    (void)path;
    (void)depth;
    (void)key;
    (void)ctx;
    return false;
}

static void test_nul_escape(void)
{
    static const struct { const char *doc; size_t at; } cases[] = {
        { "\"\\u0000\"", 1 }, { "\"a\\u0000b\"", 2 }, { "{\"re\\u0000x\":1,\"re\":2}", 4 },
        { "[\"ok\",{\"k\":\"\\n\\u0000\"}]", 14 },
    };
    for (size_t i = 0; i < NELEM(cases); i++) {
        for (int leave_out = 0; leave_out < 2; leave_out++) {
            long live = mem_live();
            cJSON *out = &not_a_tree;
            size_t at = 9999;
            enum json_parse_result r = json_parse(cases[i].doc, strlen(cases[i].doc), 64,
                                                  leave_out ? keep_none : NULL, NULL, &out, &at);
            CASE_ASSERT(r == JSON_PARSE_NUL, i, cases[i].doc);
            CASE_ASSERT(at == cases[i].at, i, cases[i].doc);
            CASE_ASSERT(out == NULL, i, cases[i].doc);
            CASE_ASSERT(mem_live() == live, i, cases[i].doc);
        }
    }
    /* U+0000 written any other way is not JSON at all */
    cJSON *out = NULL;
    size_t at = 0;
    CU_ASSERT_EQUAL(json_parse("\"a\0b\"", 5, 64, NULL, NULL, &out, &at), JSON_PARSE_SYNTAX);
    CU_ASSERT_EQUAL(at, 2);
}

/* The scan looks at eight bytes at a time: whatever stops a string is found at its exact byte,
 * at every offset within and across those words, with plain or non-ASCII text before it. */
static void test_stop_at_every_offset(void)
{
    static const struct { const char *stop; enum json_parse_result r; } stops[] = {
        { "\x01", JSON_PARSE_SYNTAX }, { "\x1f", JSON_PARSE_SYNTAX }, { "\xff", JSON_PARSE_SYNTAX },
        { "\\q", JSON_PARSE_SYNTAX }, { "\\u0000", JSON_PARSE_NUL }, { "\"", JSON_PARSE_OK },
    };
    for (size_t k = 0; k < NELEM(stops); k++) {
        for (size_t pre = 0; pre < 40; pre++) {
            for (int utf8 = 0; utf8 < 2; utf8++) {
                char doc[128];
                size_t n = 0;
                doc[n++] = '"';
                for (size_t j = 0; j < pre; j++)
                    doc[n++] = (char)('a' + (int)(j % 26));
                if (utf8 && pre >= 2) {     /* a 2-byte character just before the stop */
                    doc[n - 2] = (char)0xc3;
                    doc[n - 1] = (char)0xa9;
                }
                size_t at = n;
                size_t sl = strlen(stops[k].stop);
                memcpy(doc + n, stops[k].stop, sl);
                n += sl;
                /* more text after, so the stop is inside a word, not at the end of the input */
                memcpy(doc + n, "tail text\"", 10);
                n += stops[k].r == JSON_PARSE_OK ? 0 : 10;
                cJSON *out = NULL;
                size_t err_at = 9999;
                enum json_parse_result r = json_parse(doc, n, 64, NULL, NULL, &out, &err_at);
                char name[64];
                snprintf(name, sizeof name, "stop %zu after %zu bytes%s", k, pre, utf8 ? " (UTF-8)" : "");
                CASE_ASSERT(r == stops[k].r, pre, name);
                if (r == JSON_PARSE_OK) {
                    CASE_ASSERT(out && cJSON_IsString(out) && strlen(out->valuestring) == pre, pre, name);
                } else {
                    CASE_ASSERT(err_at == at, pre, name);
                }
                cJSON_Delete(out);
            }
        }
    }
}

/* ---- 3. nesting ---- */

/* `depth` nested containers around 1: arrays, or arrays and {"k":...} alternately. */
static char *nested(size_t depth, bool mixed, size_t *len)
{
    char *b = mem_malloc(depth * 6 + 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    size_t n = 0;
    for (size_t i = 0; i < depth; i++) {
        if (mixed && i % 2) {
            memcpy(b + n, "{\"k\":", 5);
            n += 5;
        } else {
            b[n++] = '[';
        }
    }
    b[n++] = '1';
    for (size_t i = depth; i-- > 0;)
        b[n++] = mixed && i % 2 ? '}' : ']';
    *len = n;
    return b;
}

static void test_nesting_limit(void)
{
    static const struct { unsigned max; size_t depth; bool mixed; enum json_parse_result want; } cases[] = {
        { 64, 64, false, JSON_PARSE_OK }, { 64, 65, false, JSON_PARSE_DEPTH },
        { 64, 64, true, JSON_PARSE_OK }, { 64, 65, true, JSON_PARSE_DEPTH },
        { 1, 1, false, JSON_PARSE_OK }, { 1, 2, false, JSON_PARSE_DEPTH },
        { 1, 2, true, JSON_PARSE_DEPTH },
        { 0, 0, false, JSON_PARSE_OK }, { 0, 1, false, JSON_PARSE_DEPTH }, { 0, 1, true, JSON_PARSE_DEPTH },
        { 256, 256, false, JSON_PARSE_OK }, { 256, 257, false, JSON_PARSE_DEPTH },
        { 256, 256, true, JSON_PARSE_OK }, { 256, 257, true, JSON_PARSE_DEPTH },
        /* above JSON_PARSE_MAX_DEPTH: capped to it */
        { 257, 256, false, JSON_PARSE_OK }, { 257, 257, false, JSON_PARSE_DEPTH },
        { 1000, 256, true, JSON_PARSE_OK }, { 1000, 257, true, JSON_PARSE_DEPTH },
        { UINT_MAX, 256, false, JSON_PARSE_OK }, { UINT_MAX, 257, false, JSON_PARSE_DEPTH },
        { UINT_MAX, 300, true, JSON_PARSE_DEPTH },
    };
    for (size_t i = 0; i < NELEM(cases); i++) {
        char name[64];
        snprintf(name, sizeof name, "max %u, %zu deep%s", cases[i].max, cases[i].depth, cases[i].mixed ? ", mixed" : "");
        long live = mem_live();
        size_t len;
        char *doc = nested(cases[i].depth, cases[i].mixed, &len);
        cJSON *t = &not_a_tree;
        size_t at;
        enum json_parse_result rc = json_parse(doc, len, cases[i].max, NULL, NULL, &t, &at);
        CASE_ASSERT(rc == cases[i].want, i, name);
        if (rc == JSON_PARSE_OK) {
            cJSON *c = cJSON_ParseWithLength(doc, len);
            CASE_ASSERT(tree_equal(t, c), i, name);
            cJSON_Delete(c);
            cJSON_Delete(t);
        } else {
            CASE_ASSERT(t == NULL, i, name);
        }
        mem_free(doc);
        CASE_ASSERT(mem_live() == live, i, name);
    }
}

static void test_nesting_siblings_and_order(void)
{
    static const struct { const char *doc; unsigned max; enum json_parse_result want; size_t at; } cases[] = {
        /* closed containers give their level back, empty ones too */
        { "[[],[1],{},{\"a\":2},[],[],{}]", 2, JSON_PARSE_OK, 0 },
        { "{\"a\":[],\"b\":{},\"c\":[[]]}", 3, JSON_PARSE_OK, 0 },
        { "{\"a\":[],\"b\":{},\"c\":[[]]}", 2, JSON_PARSE_DEPTH, 0 },
        { "[[[1]],[[2]],[[{}]],[[[]]]]", 3, JSON_PARSE_DEPTH, 0 },
        { "[[[1]],[[2]],[[{}]],[[[]]]]", 4, JSON_PARSE_OK, 0 },
        /* what comes first decides */
        { "[[[", 2, JSON_PARSE_DEPTH, 0 },
        { "[x,[[[", 2, JSON_PARSE_SYNTAX, 1 },
        { "[[1],x,[[[", 2, JSON_PARSE_SYNTAX, 5 },
        /* members left out nest as well */
        { "{\"skip\":[[1]],\"k\":[1]}", 3, JSON_PARSE_OK, 0 },
        { "{\"skip\":[[[1]]],\"k\":1}", 3, JSON_PARSE_DEPTH, 0 },
        { "{\"skip\":{\"a\":{\"b\":{}}}}", 3, JSON_PARSE_DEPTH, 0 },
        { "{\"skip\":{\"a\":{\"b\":1}}}", 3, JSON_PARSE_OK, 0 },
        { "{\"skip\":[[]],\"drop\":[[]],\"k\":[[]]}", 3, JSON_PARSE_OK, 0 },
        { "[{\"drop\":[{\"x\":[[]]}]}]", 5, JSON_PARSE_DEPTH, 0 },
        { "[{\"drop\":[{\"x\":[[]]}]}]", 6, JSON_PARSE_OK, 0 },
    };
    for (size_t i = 0; i < NELEM(cases); i++) {
        long live = mem_live();
        cJSON *t;
        size_t at;
        enum json_parse_result rc = parse_text(cases[i].doc, cases[i].max, keep_not_drop, NULL, &t, &at);
        CASE_ASSERT(rc == cases[i].want, i, cases[i].doc);
        if (rc == JSON_PARSE_SYNTAX)
            CASE_ASSERT(at == cases[i].at, i, cases[i].doc);
        if (rc == JSON_PARSE_OK)
            cJSON_Delete(t);
        else
            CASE_ASSERT(t == NULL, i, cases[i].doc);
        CASE_ASSERT(mem_live() == live, i, cases[i].doc);
    }
}

static void test_nesting_100000(void)
{
    size_t n = 100000;
    long live = mem_live();
    char *b = mem_malloc(2 * n + 16);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    static const struct { const char *head, *open, *close; unsigned max; } cases[] = {
        { "", "[", NULL, JSON_PARSE_MAX_DEPTH },       /* unclosed */
        { "", "[", "]", JSON_PARSE_MAX_DEPTH },        /* closed */
        { "", "[", NULL, 64 },
        { "", "[", NULL, UINT_MAX },
        { "{\"skip\":", "[", NULL, JSON_PARSE_MAX_DEPTH },  /* inside a member left out */
        { "", "{\"a\":", NULL, JSON_PARSE_MAX_DEPTH },
        { "{\"skip\":", "{\"a\":", NULL, 8 },
    };
    for (size_t i = 0; i < NELEM(cases); i++) {
        size_t hl = strlen(cases[i].head), ol = strlen(cases[i].open);
        size_t reps = (2 * n) / (ol + 1), len = 0;
        if (reps > n)
            reps = n;
        memcpy(b, cases[i].head, hl);
        len = hl;
        for (size_t k = 0; k < reps; k++, len += ol)
            memcpy(b + len, cases[i].open, ol);
        if (cases[i].close)
            for (size_t k = 0; k < reps && len < 2 * n + 16; k++)
                b[len++] = cases[i].close[0];
        char name[80];
        snprintf(name, sizeof name, "%s%zu x %s%s, max %u", cases[i].head, reps, cases[i].open,
                 cases[i].close ? " closed" : "", cases[i].max);
        cJSON *t = &not_a_tree;
        size_t at;
        enum json_parse_result rc = json_parse(b, len, cases[i].max, keep_not_drop, NULL, &t, &at);
        CASE_ASSERT(rc == JSON_PARSE_DEPTH, i, name);
        CASE_ASSERT(t == NULL, i, name);
        if (rc == JSON_PARSE_OK)
            cJSON_Delete(t);
    }
    mem_free(b);
    CU_ASSERT_EQUAL(mem_live(), live);
}

/* ---- 4. the keep callback ---- */

static void test_keep_calls(void)
{
    static const char *doc = "{\"a\":{\"b\":[{\"c\":1}],\"d\":2},\"e\":3}";
    static const struct {
        const char *drop[4];
        size_t ncalls;
        struct call want[5];
        const char *tree;
    } cases[] = {
        { { NULL }, 5,
          { { "a", 0, "" }, { "b", 1, "a" }, { "c", 3, "a/b/#" }, { "d", 1, "a" }, { "e", 0, "" } },
          "{\"a\":{\"b\":[{\"c\":1}],\"d\":2},\"e\":3}" },
        /* "c" is inside "b", which is left out: not asked about */
        { { "b" }, 4,
          { { "a", 0, "" }, { "b", 1, "a" }, { "d", 1, "a" }, { "e", 0, "" } },
          "{\"a\":{\"d\":2},\"e\":3}" },
        { { "a" }, 2, { { "a", 0, "" }, { "e", 0, "" } }, "{\"e\":3}" },
        { { "c" }, 5,
          { { "a", 0, "" }, { "b", 1, "a" }, { "c", 3, "a/b/#" }, { "d", 1, "a" }, { "e", 0, "" } },
          "{\"a\":{\"b\":[{}],\"d\":2},\"e\":3}" },
        { { "e", "d" }, 5,
          { { "a", 0, "" }, { "b", 1, "a" }, { "c", 3, "a/b/#" }, { "d", 1, "a" }, { "e", 0, "" } },
          "{\"a\":{\"b\":[{\"c\":1}]}}" },
        { { "a", "e" }, 2, { { "a", 0, "" }, { "e", 0, "" } }, "{}" },
    };
    for (size_t i = 0; i < NELEM(cases); i++) {
        long live = mem_live();
        struct recorder r = { .n = 0 };
        memcpy(r.drop, cases[i].drop, sizeof r.drop);
        cJSON *t;
        size_t at;
        enum json_parse_result rc = parse_text(doc, 8, record_keep, &r, &t, &at);
        CASE_ASSERT(rc == JSON_PARSE_OK, i, cases[i].tree);
        CASE_ASSERT(r.n == cases[i].ncalls, i, cases[i].tree);
        for (size_t k = 0; k < cases[i].ncalls && k < r.n; k++) {
            CASE_ASSERT(strcmp(r.calls[k].key, cases[i].want[k].key) == 0, i, cases[i].want[k].key);
            CASE_ASSERT(r.calls[k].depth == cases[i].want[k].depth, i, cases[i].want[k].key);
            CASE_ASSERT(strcmp(r.calls[k].path, cases[i].want[k].path) == 0, i, cases[i].want[k].key);
        }
        if (rc == JSON_PARSE_OK) {
            CASE_ASSERT(strcmp(text_of(t), cases[i].tree) == 0, i, cases[i].tree);
            CASE_ASSERT(links_ok(t, false), i, cases[i].tree);
            cJSON_Delete(t);
        }
        CASE_ASSERT(mem_live() == live, i, cases[i].tree);
    }
}

/* Paths through arrays, at the root and deeper; names decoded. */
static void test_keep_paths(void)
{
    static const struct { const char *doc; size_t ncalls; struct call want[6]; } cases[] = {
        { "[{\"a\":1}]", 1, { { "a", 1, "#" } } },
        { "[[{\"a\":{\"b\":[[{\"c\":0}]]}}]]", 3,
          { { "a", 2, "#/#" }, { "b", 3, "#/#/a" }, { "c", 6, "#/#/a/b/#/#" } } },
        { "{\"\\u0061\":{\"b\\n\":1,\"\\ud83d\\ude00\":{\"x\\\"y\":[]}}}", 4,
          { { "a", 0, "" }, { "b\n", 1, "a" }, { "\xf0\x9f\x98\x80", 1, "a" }, { "x\"y", 2, "a/\xf0\x9f\x98\x80" } } },
        { "{\"\":{\"\":0}}", 2, { { "", 0, "" }, { "", 1, "" } } },
        { "{\"a\":[1,{\"b\":2},[{\"c\":3}]],\"d\":{}}", 4,
          { { "a", 0, "" }, { "b", 2, "a/#" }, { "c", 3, "a/#/#" }, { "d", 0, "" } } },
        { "{\"a\":{},\"a\":{\"b\":1}}", 3, { { "a", 0, "" }, { "a", 0, "" }, { "b", 1, "a" } } },
    };
    for (size_t i = 0; i < NELEM(cases); i++) {
        struct recorder r = { .n = 0 };
        cJSON *t;
        size_t at;
        enum json_parse_result rc = parse_text(cases[i].doc, 16, record_keep, &r, &t, &at);
        CASE_ASSERT(rc == JSON_PARSE_OK, i, cases[i].doc);
        CASE_ASSERT(r.n == cases[i].ncalls, i, cases[i].doc);
        for (size_t k = 0; k < cases[i].ncalls && k < r.n; k++) {
            CASE_ASSERT(strcmp(r.calls[k].key, cases[i].want[k].key) == 0, i, cases[i].doc);
            CASE_ASSERT(r.calls[k].depth == cases[i].want[k].depth, i, cases[i].doc);
            CASE_ASSERT(strcmp(r.calls[k].path, cases[i].want[k].path) == 0, i, cases[i].doc);
        }
        if (rc == JSON_PARSE_OK)
            cJSON_Delete(t);
    }
    /* a name written with escapes is left out by its decoded form, and kept as the decoded form */
    struct recorder r = { .n = 0, .drop = { "drop" } };
    cJSON *t;
    size_t at;
    CU_ASSERT_EQUAL_FATAL(parse_text("{\"\\u0064rop\":1,\"\\u0061\":2,\"dr\\u006fp\":3}", 4, record_keep, &r, &t, &at),
                          JSON_PARSE_OK);
    CU_ASSERT_STRING_EQUAL(text_of(t), "{\"a\":2}");
    CU_ASSERT_EQUAL(r.n, 3);
    cJSON_Delete(t);
}

/* Members left out are absent, the rest keep their order, and they cost nothing. */
static void test_keep_leaves_out(void)
{
    static const struct { const char *doc, *kept; } cases[] = {
        { "{\"x\":1,\"drop1\":2,\"y\":3,\"drop2\":4,\"z\":5}", "{\"x\":1,\"y\":3,\"z\":5}" },
        { "{\"drop0\":0,\"x\":1,\"drop1\":2}", "{\"x\":1}" },
        { "{\"drop0\":0,\"drop1\":{\"a\":[1,2]}}", "{}" },
        { "{\"x\":{\"drop\":[1,{\"y\":2}],\"y\":\"s\"},\"drop\":\"long string \\u00e9\",\"z\":[{\"drop\":null,\"w\":true}]}",
          "{\"x\":{\"y\":\"s\"},\"z\":[{\"w\":true}]}" },
        { "[{\"drop\":1},{\"a\":1,\"drop\":{}},{\"drop\":[],\"b\":2}]", "[{},{\"a\":1},{\"b\":2}]" },
        { "{\"a\":1,\"drop\":1234567890123456789012345678901234567890123456789012345678901234567890,\"b\":2}",
          "{\"a\":1,\"b\":2}" },
    };
    for (size_t i = 0; i < NELEM(cases); i++) {
        long live = mem_live();
        cJSON *t, *k;
        size_t at;
        enum json_parse_result rc = parse_text(cases[i].doc, 8, keep_not_drop, NULL, &t, &at);
        CASE_ASSERT(rc == JSON_PARSE_OK, i, cases[i].doc);
        if (rc != JSON_PARSE_OK)
            continue;
        long with_drop = mem_live() - live;
        CASE_ASSERT(strcmp(text_of(t), cases[i].kept) == 0, i, cases[i].doc);
        CASE_ASSERT(links_ok(t, false), i, cases[i].doc);
        /* the same tree, and the same number of allocations, as the text without those members */
        CASE_ASSERT(parse_text(cases[i].kept, 8, NULL, NULL, &k, &at) == JSON_PARSE_OK, i, cases[i].kept);
        long without = mem_live() - live - with_drop;
        CASE_ASSERT(tree_equal(t, k), i, cases[i].doc);
        CASE_ASSERT(with_drop == without, i, cases[i].doc);
        cJSON_Delete(k);
        cJSON_Delete(t);
        CASE_ASSERT(mem_live() == live, i, cases[i].doc);
    }
    /* the first child's prev is the last one kept, not the last one read */
    cJSON *t;
    size_t at;
    CU_ASSERT_EQUAL_FATAL(parse_text("{\"a\":1,\"b\":2,\"drop\":3}", 4, keep_not_drop, NULL, &t, &at), JSON_PARSE_OK);
    CU_ASSERT_STRING_EQUAL(t->child->prev->string, "b");
    CU_ASSERT_PTR_NULL(t->child->prev->next);
    cJSON_AddItemToObject(t, "c", cJSON_CreateNumber(4));
    CU_ASSERT_STRING_EQUAL(text_of(t), "{\"a\":1,\"b\":2,\"c\":4}");
    cJSON_Delete(t);
}

/* A syntax error inside a member left out is found at the same byte as when it is kept. */
static void test_keep_syntax_inside_left_out(void)
{
    static const struct { const char *doc; size_t at; } cases[] = {
        { "{\"skip\":[1,2,}],\"k\":1}", 13 },
        { "{\"skip\":{\"a\":01}}", 14 },
        { "{\"skip\":\"bad\\q\"}", 12 },
        { "{\"skip\":\"a\x01\"}", 10 },
        { "{\"skip\":[tru]}", 12 },
        { "{\"skip\":{\"a\" 1}}", 13 },
        { "{\"skip\":[1 2]}", 11 },
        { "{\"skip\":\"\\uD800\"}", 9 },
        { "{\"skip\":{\"\\uDC00\":1}}", 10 },
        { "{\"skip\":[1,2]", 13 },
        { "{\"skip\":1.}", 10 },
        { "{\"skip\":{\"a\":[{\"b\":-}]}}", 20 },
        { "{\"skip\":[\"abc", 13 },
        { "{\"skip\" 1}", 8 },
        { "{\"skip\":{}} x", 12 },  /* after a whole document whose only member is left out */
    };
    for (size_t i = 0; i < NELEM(cases); i++) {
        size_t len = strlen(cases[i].doc);
        check_syntax(cases[i].doc, len, cases[i].at, NULL, NULL, i, cases[i].doc);
        check_syntax(cases[i].doc, len, cases[i].at, keep_not_drop, NULL, i, cases[i].doc);
        struct recorder r = { .n = 0, .drop = { "skip" } };
        check_syntax(cases[i].doc, len, cases[i].at, record_keep, &r, i, cases[i].doc);
        CASE_ASSERT(r.n == 1, i, cases[i].doc);   /* only "skip" itself was asked about */
    }
}

/* ---- 5. a normal cJSON tree ---- */

static void test_tree_is_cjson(void)
{
    long live = mem_live();
    cJSON *t;
    size_t at;
    const char *doc = "{\"list\":[1,\"two\",{\"three\":3},[4],null,true,false],\"obj\":{\"a\":1,\"b\":\"x\"},\"e\":[]}";
    CU_ASSERT_EQUAL_FATAL(parse_text(doc, 8, NULL, NULL, &t, &at), JSON_PARSE_OK);
    CU_ASSERT_TRUE(links_ok(t, false));
    CU_ASSERT_TRUE(cJSON_IsObject(t));
    CU_ASSERT_PTR_NULL(t->next);
    CU_ASSERT_PTR_NULL(t->prev);
    CU_ASSERT_PTR_NULL(t->string);
    cJSON *list = cJSON_GetObjectItemCaseSensitive(t, "list");
    CU_ASSERT_TRUE_FATAL(cJSON_IsArray(list));
    CU_ASSERT_EQUAL(cJSON_GetArraySize(list), 7);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(t), 3);
    CU_ASSERT_STRING_EQUAL(cJSON_GetArrayItem(list, 1)->valuestring, "two");
    CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(list, 2), "three")->valueint, 3);
    CU_ASSERT_TRUE(cJSON_IsNull(cJSON_GetArrayItem(list, 4)));
    CU_ASSERT_TRUE(cJSON_IsTrue(cJSON_GetArrayItem(list, 5)));
    CU_ASSERT_TRUE(cJSON_IsFalse(cJSON_GetArrayItem(list, 6)));
    CU_ASSERT_PTR_NULL(cJSON_GetArrayItem(list, 7));
    CU_ASSERT_PTR_EQUAL(list->child->prev, cJSON_GetArrayItem(list, 6));
    CU_ASSERT_PTR_NULL(cJSON_GetArrayItem(list, 6)->next);
    CU_ASSERT_PTR_NULL(cJSON_GetArrayItem(list, 0)->string);
    CU_ASSERT_PTR_EQUAL(t->child->prev, cJSON_GetObjectItemCaseSensitive(t, "e"));
    CU_ASSERT_PTR_NULL(cJSON_GetObjectItemCaseSensitive(t, "e")->child);
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(t, "obj"), "b")->valuestring, "x");
    CU_ASSERT_PTR_NULL(cJSON_GetObjectItemCaseSensitive(t, "LIST"));
    CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItem(t, "LIST"));

    /* appending goes at the end, on a full and on an empty array */
    cJSON *eight = cJSON_CreateNumber(8);
    CU_ASSERT_TRUE(cJSON_AddItemToArray(list, eight));
    CU_ASSERT_EQUAL(cJSON_GetArraySize(list), 8);
    CU_ASSERT_PTR_EQUAL(cJSON_GetArrayItem(list, 7), eight);
    CU_ASSERT_PTR_EQUAL(list->child->prev, eight);
    CU_ASSERT_TRUE(cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(t, "e"), cJSON_CreateString("z")));
    cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(t, "obj"), "c", "y");
    cJSON_DeleteItemFromArray(list, 0);
    cJSON_DeleteItemFromObjectCaseSensitive(t, "obj");
    CU_ASSERT_TRUE(cJSON_ReplaceItemInArray(list, 0, cJSON_CreateString("TWO")));
    CU_ASSERT_TRUE(links_ok(t, false));
    CU_ASSERT_STRING_EQUAL(text_of(t),
                           "{\"list\":[\"TWO\",{\"three\":3},[4],null,true,false,8],\"e\":[\"z\"]}");

    /* printed (formatted too) and duplicated as cJSON's own tree is */
    cJSON *c = cJSON_Parse(doc);
    cJSON *m;
    CU_ASSERT_EQUAL_FATAL(parse_text(doc, 8, NULL, NULL, &m, &at), JSON_PARSE_OK);
    char *pm = cJSON_Print(m), *pc = cJSON_Print(c);
    CU_ASSERT_TRUE(pm && pc && strcmp(pm, pc) == 0);
    cJSON_free(pm);
    cJSON_free(pc);
    cJSON *dup = cJSON_Duplicate(m, true);
    CU_ASSERT_TRUE(cJSON_Compare(dup, c, true));
    CU_ASSERT_TRUE(cJSON_Compare(m, c, true));
    cJSON *detached = cJSON_DetachItemFromObjectCaseSensitive(m, "list");
    CU_ASSERT_PTR_NOT_NULL(detached);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(m), 2);
    cJSON_AddItemToArray(detached, m);      /* a parsed tree goes inside another one */
    cJSON_Delete(detached);
    cJSON_Delete(dup);
    cJSON_Delete(c);
    cJSON_Delete(t);
    CU_ASSERT_EQUAL(mem_live(), live);      /* cJSON_Delete freed every node, name and string */
}

/* ---- 6. allocation failure ---- */

static void nomem_loop(const char *doc, json_keep_fn keep, long extra, size_t idx)
{
    size_t len = strlen(doc), at;
    long before = mem_live();
    cJSON *ref;
    enum json_parse_result rc = json_parse(doc, len, 16, keep, NULL, &ref, &at);
    CASE_ASSERT(rc == JSON_PARSE_OK, idx, doc);
    if (rc != JSON_PARSE_OK)
        return;
    long nodes = mem_live() - before;    /* every node, name and string of the tree */
    long live = mem_live();
    long failures = 0;
    bool completed = false;
    for (long n = 0; n < 100000 && !completed; n++) {
        cJSON *out = &not_a_tree;
        mem_fail_after(n);
        rc = json_parse(doc, len, 16, keep, NULL, &out, &at);
        mem_fail_after(-1);
        if (rc == JSON_PARSE_OK) {
            completed = true;
            CASE_ASSERT(tree_equal(out, ref), idx, doc);
            CASE_ASSERT(links_ok(out, false), idx, doc);
            cJSON_Delete(out);
        } else {
            failures++;
            CASE_ASSERT(rc == JSON_PARSE_NOMEM, idx, doc);
            CASE_ASSERT(out == NULL, idx, doc);
        }
        CASE_ASSERT(mem_live() == live, idx, doc);
    }
    CASE_ASSERT(completed, idx, doc);
    /* every allocation was a point of failure, the scratch copies of long numbers too */
    CASE_ASSERT(failures >= nodes + extra, idx, doc);
    cJSON_Delete(ref);
    CASE_ASSERT(mem_live() == before, idx, doc);
}

static void test_allocation_failure(void)
{
    static const char *long_num = "1234567890123456789012345678901234567890123456789012345678901234567890.5e-10";
    char doc[1024];
    snprintf(doc, sizeof doc,
             "{\"plain\":\"text\",\"esc\\n\":\"a\\n\\\"\\u00e9\\uD83D\\uDE00\",\"long\":%s,\"n\":-1.5e3,"
             "\"arr\":[1,[2,{\"k\":[true,false,null,\"s\"]}],-%s,\"x\\ty\"],\"empty\":{},\"ea\":[],"
             "\"drop\":{\"a\":[%s,\"\\u20ac\"]},\"obj\":{\"drop2\":\"gone\",\"kept\":{\"deep\":[[[\"z\"]]]}}}",
             long_num, long_num, long_num);
    nomem_loop(doc, NULL, 3, 0);
    nomem_loop(doc, keep_not_drop, 2, 1);
    nomem_loop("\"just a string\"", NULL, 0, 2);
    nomem_loop("[]", NULL, 0, 3);
    nomem_loop(long_num, NULL, 1, 4);

    /* exactly at the stack buffer: 63 bytes need no allocation, 64 do */
    static const struct { const char *num; enum json_parse_result want; } edge[] = {
        { "123456789012345678901234567890123456789012345678901234567890123", JSON_PARSE_OK },
        { "1234567890123456789012345678901234567890123456789012345678901234", JSON_PARSE_NOMEM },
    };
    for (size_t i = 0; i < NELEM(edge); i++) {
        long live = mem_live();
        cJSON *t;
        size_t at;
        mem_fail_after(1);      /* the root node only */
        enum json_parse_result rc = parse_text(edge[i].num, 4, NULL, NULL, &t, &at);
        mem_fail_after(-1);
        CASE_ASSERT(rc == edge[i].want, i, edge[i].num);
        if (rc == JSON_PARSE_OK) {
            CASE_ASSERT(t->valuedouble == strtod(edge[i].num, NULL), i, edge[i].num);
            cJSON_Delete(t);
        } else {
            CASE_ASSERT(t == NULL, i, edge[i].num);
        }
        CASE_ASSERT(mem_live() == live, i, edge[i].num);
    }
}

/* ---- 7. nothing read past len ---- */

static void test_prefixes(void)
{
    static const char *docs[] = {
        ("{\"a\":[1,-2.5e+3,true,false,null,{},[]],\"s\":\"x\\u00e9\\ud83d\\ude00\\n\\\"\\\\\",\"o\":{\"k\":{\"l\":[]}},"
         "\"drop\":[\"q\",{\"r\":1e5}],\"n\":12345678901234567890123456789012345678901234567890123456789012345678901}"),
        "\"ab\\u00e9\\uD83D\\uDE00\\t\"",
        "true", "false", "null",
        "[-0.5e-7,\"\\\\\",\"caf\xc3\xa9\"]",
        " { \"a\" : [ 1 , 2 ] } ",
    };
    long live = mem_live();
    for (size_t d = 0; d < NELEM(docs); d++) {
        size_t len = strlen(docs[d]);
        for (int mode = 0; mode < 2; mode++) {
            json_keep_fn keep = mode ? keep_not_drop : NULL;
            for (size_t k = 0; k <= len; k++) {
                char *b = exact_copy(docs[d], k);
                cJSON *t = &not_a_tree;
                size_t at = 99999;
                enum json_parse_result rc = json_parse(b, k, 8, keep, NULL, &t, &at);
                /* the last document ends in a space: the prefix without it is whole too */
                bool whole = k == len || (d == NELEM(docs) - 1 && k == len - 1);
                if (whole) {
                    CASE_ASSERT(rc == JSON_PARSE_OK, k, docs[d]);
                    if (rc == JSON_PARSE_OK)
                        cJSON_Delete(t);
                } else {
                    CASE_ASSERT(rc == JSON_PARSE_SYNTAX, k, docs[d]);
                    CASE_ASSERT(at <= k, k, docs[d]);
                    CASE_ASSERT(t == NULL, k, docs[d]);
                    if (rc == JSON_PARSE_OK)
                        cJSON_Delete(t);
                }
                mem_free(b);
            }
        }
    }
    CU_ASSERT_EQUAL(mem_live(), live);
}

/* ---- 8. NULL arguments ---- */

static void test_null_arguments(void)
{
    long live = mem_live();
    size_t at = 777;
    cJSON *t = &not_a_tree;
    CU_ASSERT_EQUAL(json_parse("{}", 2, 8, NULL, NULL, NULL, &at), JSON_PARSE_SYNTAX);
    CU_ASSERT_EQUAL(at, 0);
    CU_ASSERT_EQUAL(json_parse("{}", 2, 8, NULL, NULL, NULL, NULL), JSON_PARSE_SYNTAX);
    at = 777;
    CU_ASSERT_EQUAL(json_parse(NULL, 0, 8, NULL, NULL, &t, &at), JSON_PARSE_SYNTAX);
    CU_ASSERT_PTR_NULL(t);
    CU_ASSERT_EQUAL(at, 0);
    t = &not_a_tree;
    CU_ASSERT_EQUAL(json_parse(NULL, 5, 8, NULL, NULL, &t, &at), JSON_PARSE_SYNTAX);
    CU_ASSERT_PTR_NULL(t);
    /* err_at may be NULL */
    t = &not_a_tree;
    CU_ASSERT_EQUAL(json_parse("[1", 2, 8, NULL, NULL, &t, NULL), JSON_PARSE_SYNTAX);
    CU_ASSERT_PTR_NULL(t);
    CU_ASSERT_EQUAL(json_parse("[1]", 3, 8, NULL, NULL, &t, NULL), JSON_PARSE_OK);
    CU_ASSERT_TRUE(cJSON_IsArray(t) && cJSON_GetArraySize(t) == 1);
    cJSON_Delete(t);
    t = &not_a_tree;
    CU_ASSERT_EQUAL(json_parse("[[1]]", 5, 1, NULL, NULL, &t, NULL), JSON_PARSE_DEPTH);
    CU_ASSERT_PTR_NULL(t);
    CU_ASSERT_EQUAL(mem_live(), live);
}

UNIT_SUITE("jsonparse", NULL, NULL,
           { "valid documents give cJSON's tree", test_valid_same_as_cjson },
           { "escapes decode to their UTF-8 bytes", test_escapes_decode },
           { "number values and saturated valueint", test_number_values },
           { "\\u0000 refused on its own code", test_nul_escape },
           { "a string stops at its exact byte at every offset", test_stop_at_every_offset },
           { "numbers longer than the stack buffer", test_long_numbers },
           { "not JSON: refused at the exact byte", test_syntax_errors },
           { "nesting limit, capped at JSON_PARSE_MAX_DEPTH", test_nesting_limit },
           { "nesting: siblings, order, members left out", test_nesting_siblings_and_order },
           { "nesting 100000 deep", test_nesting_100000 },
           { "keep: every call with its path and depth", test_keep_calls },
           { "keep: paths through arrays, names decoded", test_keep_paths },
           { "keep: members left out are absent and cost nothing", test_keep_leaves_out },
           { "keep: syntax errors inside members left out", test_keep_syntax_inside_left_out },
           { "the tree is a normal cJSON tree", test_tree_is_cjson },
           { "allocation failure at every point", test_allocation_failure },
           { "every prefix, nothing read past len", test_prefixes },
           { "NULL arguments", test_null_arguments })
