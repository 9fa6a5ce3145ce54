/* fuzz_patch.c - libFuzzer target: the JSON Patch builder and base64.
 *
 * Input: records separated by NUL bytes. In each record, fields are separated by 0x01; the
 * record's first byte is a control byte (bit 0: replace instead of add, bit 1: the value is an
 * object {map_key: value}; the seeds use '@' 'A' 'B' 'C'); the last field is the value, the one
 * before it the map key (bit 1), the others (up to MAX_SEGS) are path segments joined with
 * patch_pointer_join. Every record is one op (past PATCH_MAX_OPS patch_add must refuse).
 * Checked, aborting on a violation:
 *  - patch_to_json parses (cJSON) as an array of one object per op with exactly op, path and
 *    value; the path is the joined pointer byte for byte, its segments unescape (RFC 6901) to the
 *    fuzzer's segments; strings come back as written (invalid UTF-8 bytes as U+FFFD, by an
 *    independent check of UTF-8 well-formedness);
 *  - base64: decode(encode(x)) == x for the whole input (bytes, NULs included) and for each
 *    record; every record that decodes re-encodes to itself (one encoding per value). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "patch.h"
#include "pool.h"
#include "log.h"
#include "mem.h"

#define MAX_RECORDS 24
#define MAX_SEGS    8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_patch: invariant violated: %s\n", what);
    abort();
}

/* Length of a well-formed UTF-8 sequence at s (Unicode table 3-7), 0 when none starts there.
 * Written from the code point, not the byte table, to check jsonw's independently. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0) {
        n = 2;
        cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3;
        cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;   /* also stops at the NUL */
        cp = cp << 6 | (s[i] & 0x3F);
    }
    static const uint32_t min[5] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* What a JSON string written by jsonw reads back as: each byte that starts no well-formed
 * sequence becomes U+FFFD. Into `pool`. */
static char *expected_text(struct pool *pool, const char *s)
{
    size_t len = strlen(s);
    char *out = pool_alloc(pool, len * 3 + 1);
    if (!out)
        fail("out of memory");
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t k = utf8_len(p);
        if (k == 0) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            p++;
        } else {
            memcpy(out + o, p, k);
            o += k;
            p += k;
        }
    }
    out[o] = '\0';
    return out;
}

static bool valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t k = utf8_len(p);
        if (!k)
            return false;
        p += k;
    }
    return true;
}

struct rec {
    unsigned ctl;
    const char *segs[MAX_SEGS];
    size_t nsegs;
    const char *map_key;
    const char *value;
    const char *path;
};

/* Unescape the RFC 6901 pointer `path` and compare its segments with r's (as they read back
 * from JSON when `read_back`: invalid UTF-8 bytes as U+FFFD). */
static void check_pointer(const char *path, const struct rec *r, bool read_back, struct pool *pool)
{
    if (r->nsegs == 0) {
        if (path[0] != '\0')
            fail("a pointer of no segments is not empty");
        return;
    }
    const char *p = path;
    for (size_t i = 0; i < r->nsegs; i++) {
        if (*p != '/')
            fail("a pointer segment does not start with '/'");
        p++;
        size_t end = strcspn(p, "/");
        char *seg = pool_alloc(pool, end + 1);
        if (!seg)
            fail("out of memory");
        size_t o = 0;
        for (size_t k = 0; k < end; k++) {
            if (p[k] == '~') {
                if (k + 1 >= end || (p[k + 1] != '0' && p[k + 1] != '1'))
                    fail("'~' in a pointer not followed by 0 or 1");
                seg[o++] = p[k + 1] == '0' ? '~' : '/';
                k++;
            } else {
                seg[o++] = p[k];
            }
        }
        seg[o] = '\0';
        if (strcmp(seg, read_back ? expected_text(pool, r->segs[i]) : r->segs[i]) != 0)
            fail("a pointer segment does not unescape to what was joined");
        p += end;
    }
    if (*p)
        fail("a pointer has more segments than were joined");
}

static void check_string(const cJSON *j, const char *want, struct pool *pool, const char *what)
{
    if (!cJSON_IsString(j))
        fail(what);
    if (strcmp(j->valuestring, expected_text(pool, want)) != 0)
        fail(what);
    if (valid_utf8(want) && strcmp(j->valuestring, want) != 0)
        fail(what);
}

static void check_base64(const void *bytes, size_t len, struct pool *pool)
{
    char *enc = patch_base64(bytes, len, pool), *dec = NULL;
    size_t dlen = 0;
    if (!enc)
        fail("patch_base64 returned NULL");
    if (strlen(enc) != (len + 2) / 3 * 4)
        fail("base64 length is not 4 * ceil(n / 3)");
    if (!patch_base64_decode(enc, pool, &dec, &dlen))
        fail("base64 of bytes does not decode");
    if (dlen != len || (len && memcmp(dec, bytes, len) != 0) || dec[dlen] != '\0')
        fail("decode(encode(x)) != x");
}

/* A string that decodes must be the one encoding of what it decodes to. */
static void check_decode(const char *s, struct pool *pool)
{
    char *dec = NULL;
    size_t dlen = 0;
    if (!patch_base64_decode(s, pool, &dec, &dlen))
        return;
    if (!dec || dec[dlen] != '\0')
        fail("decoded base64 not NUL-terminated");
    char *enc = patch_base64(dec, dlen, pool);
    if (!enc || strcmp(enc, s) != 0)
        fail("a base64 text that decodes is not the encoding of its bytes");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        mem_install_cjson_hooks();
        log_setup(LOG_ERROR, LOG_TEXT);
        ready = true;
    }
    long live = mem_live();
    struct pool *pool = pool_new(0);
    if (!pool)
        fail("out of memory");

    check_base64(data, size, pool);

    /* a NUL-terminated copy to cut into records and fields in place */
    char *buf = pool_alloc(pool, size + 1);
    if (!buf)
        fail("out of memory");
    memcpy(buf, data, size);
    buf[size] = '\0';

    struct rec recs[MAX_RECORDS];
    size_t nrec = 0;
    for (size_t start = 0; start < size && nrec < MAX_RECORDS;) {
        char *rs = buf + start;
        size_t rlen = strlen(rs);
        start += rlen + 1;
        check_decode(rs, pool);
        check_base64(rs, rlen, pool);
        if (rlen == 0)
            continue;
        struct rec *r = &recs[nrec++];
        memset(r, 0, sizeof *r);
        r->ctl = (unsigned char)rs[0];
        char *fields[MAX_SEGS + 2];
        size_t nf = 0;
        char *f = rs + 1;
        for (;;) {
            char *sep = strchr(f, '\x01');
            if (nf < MAX_SEGS + 2)
                fields[nf++] = f;
            else
                fields[nf - 1] = f;     /* past the limit: the last field is still the value */
            if (!sep)
                break;
            *sep = '\0';
            f = sep + 1;
        }
        r->value = fields[--nf];
        if ((r->ctl & 2) && nf > 0)
            r->map_key = fields[--nf];
        else if (r->ctl & 2)
            r->map_key = "";
        for (size_t i = 0; i < nf && r->nsegs < MAX_SEGS; i++)
            r->segs[r->nsegs++] = fields[i];
        r->path = "";
        for (size_t i = 0; i < r->nsegs; i++) {
            char *joined = patch_pointer_join(pool, r->path, r->segs[i]);
            if (!joined)
                fail("patch_pointer_join returned NULL");
            if (strncmp(joined, r->path, strlen(r->path)) != 0)
                fail("patch_pointer_join does not keep its base");
            r->path = joined;
        }
        check_pointer(r->path, r, false, pool);
    }

    struct patch p;
    memset(&p, 0, sizeof p);
    for (size_t i = 0; i < nrec; i++) {
        enum ag_result res = patch_add(&p, (recs[i].ctl & 1) ? PATCH_REPLACE : PATCH_ADD, recs[i].path,
                                       recs[i].map_key, recs[i].value);
        if (i < PATCH_MAX_OPS ? res != AG_OK : res != AG_ETOOBIG)
            fail("patch_add accepted past the limit or refused below it");
    }
    if (patch_add(&p, PATCH_ADD, NULL, NULL, "v") != AG_EINVAL || patch_add(&p, PATCH_ADD, "", NULL, NULL) != AG_EINVAL)
        fail("patch_add took a NULL path or value");
    size_t nops = nrec < PATCH_MAX_OPS ? nrec : PATCH_MAX_OPS;
    if (p.n != nops)
        fail("patch op count");

    char *text = patch_to_json(&p, pool);
    if (!text)
        fail("patch_to_json returned NULL");
    cJSON *arr = cJSON_Parse(text);
    if (!cJSON_IsArray(arr) || (size_t)cJSON_GetArraySize(arr) != nops)
        fail("patch_to_json is not a JSON array of one element per op");
    size_t i = 0;
    const cJSON *el;
    cJSON_ArrayForEach(el, arr) {
        const struct rec *r = &recs[i++];
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(el, "op");
        const cJSON *path = cJSON_GetObjectItemCaseSensitive(el, "path");
        const cJSON *value = cJSON_GetObjectItemCaseSensitive(el, "value");
        if (!cJSON_IsObject(el) || cJSON_GetArraySize(el) != 3)
            fail("an op is not an object of exactly op, path and value");
        if (!cJSON_IsString(op) || strcmp(op->valuestring, (r->ctl & 1) ? "replace" : "add") != 0)
            fail("op is not the one added");
        check_string(path, r->path, pool, "path does not read back as joined");
        check_pointer(path->valuestring, r, true, pool);
        if (r->ctl & 2) {
            if (!cJSON_IsObject(value) || cJSON_GetArraySize(value) != 1 || !value->child->string)
                fail("a map value is not an object of one member");
            const char *key = value->child->string;
            if (strcmp(key, expected_text(pool, r->map_key)) != 0)
                fail("the map key does not read back");
            check_string(value->child, r->value, pool, "the map value does not read back");
        } else {
            check_string(value, r->value, pool, "the value does not read back");
        }
    }
    cJSON_Delete(arr);

    /* measuring and writing must agree also for the empty patch and the full one */
    struct patch empty = { .n = 0 };
    char *e = patch_to_json(&empty, pool);
    if (!e || strcmp(e, "[]") != 0)
        fail("the empty patch is not []");
    char *b = patch_base64(text, strlen(text), pool), *back = NULL;
    size_t blen = 0;
    if (!b || !patch_base64_decode(b, pool, &back, &blen) || blen != strlen(text) || strcmp(back, text) != 0)
        fail("the patch does not survive base64");

    pool_free(pool);
    if (mem_live() != live)
        fail("allocations outlive the input");
    return 0;
}
