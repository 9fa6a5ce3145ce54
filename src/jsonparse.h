/* jsonparse.h - a strict JSON (RFC 8259) parser into a cJSON tree that can leave members out.
 * Strict: the grammar exactly (no leading zeros, no trailing commas, no raw control characters
 * in strings), well-formed UTF-8, and escapes that name a code point (no lone surrogates).
 * It refuses one thing JSON allows: \u0000 in a string, which a C string would cut short.
 *
 * The review decoder uses it so that the parts of an AdmissionReview no rule reads (managedFields,
 * most annotations, the status) are checked for syntax but never become tree nodes: on a typical
 * 10 KB review that is more than half the body. The tree is allocated through cJSON's hooks, so
 * cJSON_Delete frees it. One pass: the nesting limit is enforced while parsing, so no recursion
 * deeper than the limit happens on any input. Nothing is read past `len`; no NUL is needed. */
#ifndef ARCHGATE_JSONPARSE_H
#define ARCHGATE_JSONPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

/* Whether to keep the object member `key` (decoded). `path` holds the member names that lead
 * to the object holding it, outermost first (NULL for an array element); `depth` is their
 * number. A member left out is still checked for syntax and nesting. */
typedef bool (*json_keep_fn)(const char *const *path, unsigned depth, const char *key, void *ctx);

enum json_parse_result {
    JSON_PARSE_OK,
    JSON_PARSE_SYNTAX,      /* not JSON; *err_at is the byte offset where it stops being JSON */
    JSON_PARSE_DEPTH,       /* objects and arrays nest deeper than max_depth */
    JSON_PARSE_NUL,         /* a string holds \u0000, which a C string cannot; *err_at is where */
    JSON_PARSE_NOMEM,
};

/* Parse all of s[0..len) (whitespace around the value allowed) into *out. `keep` may be NULL
 * (keep everything). max_depth counts open objects and arrays, at most JSON_PARSE_MAX_DEPTH.
 * On failure *out is NULL and nothing is left allocated. */
#define JSON_PARSE_MAX_DEPTH 256
enum json_parse_result json_parse(const char *s, size_t len, unsigned max_depth, json_keep_fn keep,
                                  void *ctx, cJSON **out, size_t *err_at);

#endif
