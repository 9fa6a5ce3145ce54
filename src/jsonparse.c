/* jsonparse.c - a strict JSON (RFC 8259) parser into a cJSON tree that can leave members out.
 * Recursive descent, bounded by the nesting limit; a value that is left out goes through the
 * same grammar with no allocation. Strings are scanned a byte class at a time from a table. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "jsonparse.h"
#include "mem.h"

struct parser {
    const unsigned char *s;
    size_t len, pos;
    unsigned max_depth, depth;
    json_keep_fn keep;
    void *ctx;
    enum json_parse_result err;
    const char *path[JSON_PARSE_MAX_DEPTH];
};

/* Byte classes inside a string: 0 plain ASCII, 1 the closing quote, 2 a backslash, 3 not
 * allowed unescaped (a control character), 4 the first byte of a UTF-8 sequence to check. */
static const unsigned char str_class[256] = {
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    ['"'] = 1, ['\\'] = 2, [0x80 ... 0xFF] = 4,
};

/* The bytes of the 8 at s that are not plain ASCII inside a string (a quote, a backslash, a
 * control character, or above 0x7F), as the high bit of each byte of the result: zero when
 * there is none. Most of a review is string bytes; this looks at eight per step on any
 * architecture. Each test can also flag a byte above (more significant than) a byte it truly
 * matches, never one below, so the least significant flag is always a true one. */
static inline uint64_t word_specials(const unsigned char *s)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t w;
    memcpy(&w, s, sizeof w);
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    return (((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w) | w) & highs;
}

/* The offset of the first byte at or after i that is not plain ASCII inside a string, or len. */
static inline size_t next_special(const struct parser *p, size_t i)
{
    while (p->len - i >= 8) {
        uint64_t m = word_specials(p->s + i);
        if (m) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            /* the first byte in memory is the least significant: its flag is exact */
            return i + (size_t)__builtin_ctzll(m) / 8;
#else
            break;      /* big-endian: find it byte by byte below */
#endif
        }
        i += 8;
    }
    while (i < p->len && str_class[p->s[i]] == 0)
        i++;
    return i;
}

static bool fail(struct parser *p, enum json_parse_result why)
{
    if (p->err == JSON_PARSE_OK)
        p->err = why;
    return false;
}

static inline void skip_ws(struct parser *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
            return;
        p->pos++;
    }
}

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The four hex digits at s[i..i+4) as a number, or -1. */
static long hex4(const struct parser *p, size_t i)
{
    if (p->len - i < 4)
        return -1;
    long v = 0;
    for (size_t k = 0; k < 4; k++) {
        int d = hex_digit(p->s[i + k]);
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* After a backslash at s[i]: the length of the escape (2, 6, or 12 for a surrogate pair) and
 * its code point, or 0 when it is not a valid escape. */
static size_t escape_at(const struct parser *p, size_t i, unsigned long *cp)
{
    if (p->len - i < 2)
        return 0;
    switch (p->s[i + 1]) {
    case '"': *cp = '"'; return 2;
    case '\\': *cp = '\\'; return 2;
    case '/': *cp = '/'; return 2;
    case 'b': *cp = '\b'; return 2;
    case 'f': *cp = '\f'; return 2;
    case 'n': *cp = '\n'; return 2;
    case 'r': *cp = '\r'; return 2;
    case 't': *cp = '\t'; return 2;
    case 'u': break;
    default: return 0;
    }
    long hi = hex4(p, i + 2);
    if (hi < 0 || (hi >= 0xDC00 && hi <= 0xDFFF))
        return 0;   /* not hex, or a low surrogate with no high one before it */
    if (hi < 0xD800 || hi > 0xDBFF) {
        *cp = (unsigned long)hi;
        return 6;
    }
    /* a high surrogate: a low one must follow */
    if (p->len - i < 12 || p->s[i + 6] != '\\' || p->s[i + 7] != 'u')
        return 0;
    long lo = hex4(p, i + 8);
    if (lo < 0xDC00 || lo > 0xDFFF)
        return 0;
    *cp = 0x10000 + (((unsigned long)hi - 0xD800) << 10) + ((unsigned long)lo - 0xDC00);
    return 12;
}

/* The length of the UTF-8 sequence starting at s[i] (a byte above 0x7F), or 0 when it is not
 * well-formed UTF-8 (RFC 3629: no overlong form, no surrogate, nothing above U+10FFFF). */
static size_t utf8_at(const struct parser *p, size_t i)
{
    const unsigned char *s = p->s + i;
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t n;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;      /* overlong below U+0800 */
        else if (c == 0xED)
            hi = 0x9F;      /* U+D800..U+DFFF */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;      /* overlong below U+10000 */
        else if (c == 0xF4)
            hi = 0x8F;      /* above U+10FFFF */
    } else {
        return 0;
    }
    if (p->len - i < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t k = 2; k < n; k++)
        if (s[k] < 0x80 || s[k] > 0xBF)
            return 0;
    return n;
}

/* A string whose opening quote is at p->pos. Checks it; when `out` is not NULL, also decodes
 * it into a new allocation. p->pos ends after the closing quote. */
static bool parse_string(struct parser *p, char **out)
{
    size_t start = ++p->pos, i = start;
    bool escaped = false;
    unsigned long cp;
    for (;;) {
        i = next_special(p, i);
        if (i >= p->len) {
            p->pos = i;
            return fail(p, JSON_PARSE_SYNTAX);
        }
        unsigned char k = str_class[p->s[i]];
        if (k == 1)
            break;
        if (k == 3) {
            p->pos = i;
            return fail(p, JSON_PARSE_SYNTAX);
        }
        if (k == 4) {
            size_t n = utf8_at(p, i);
            if (!n) {
                p->pos = i;
                return fail(p, JSON_PARSE_SYNTAX);
            }
            i += n;
            continue;
        }
        size_t n = escape_at(p, i, &cp);
        if (!n || cp == 0) {
            /* \u0000 is JSON, but a C string would end there: "a\u0000b" would read as "a",
             * and a member name could pass for another one */
            p->pos = i;
            return fail(p, n ? JSON_PARSE_NUL : JSON_PARSE_SYNTAX);
        }
        escaped = true;
        i += n;
    }
    p->pos = i + 1;
    if (!out)
        return true;
    /* decoded, a string is never longer than its text */
    char *d = cJSON_malloc(i - start + 1);
    if (!d)
        return fail(p, JSON_PARSE_NOMEM);
    *out = d;
    if (!escaped) {
        memcpy(d, p->s + start, i - start);
        d[i - start] = '\0';
        return true;
    }
    size_t o = 0;
    for (size_t j = start; j < i;) {
        if (p->s[j] != '\\') {
            d[o++] = (char)p->s[j++];
            continue;
        }
        j += escape_at(p, j, &cp);  /* checked above */
        if (cp < 0x80) {
            d[o++] = (char)cp;
        } else if (cp < 0x800) {
            d[o++] = (char)(0xC0 | (cp >> 6));
            d[o++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            d[o++] = (char)(0xE0 | (cp >> 12));
            d[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            d[o++] = (char)(0x80 | (cp & 0x3F));
        } else {
            d[o++] = (char)(0xF0 | (cp >> 18));
            d[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            d[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            d[o++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    d[o] = '\0';
    return true;
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at p->pos; sets item's value when given. */
static bool parse_number(struct parser *p, cJSON *item)
{
    const unsigned char *s = p->s;
    size_t start = p->pos, i = start, n = p->len;
    if (i < n && s[i] == '-')
        i++;
    if (i >= n || !is_digit(s[i]))
        goto bad;
    if (s[i] == '0')
        i++;
    else
        while (i < n && is_digit(s[i]))
            i++;
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || !is_digit(s[i]))
            goto bad;
        while (i < n && is_digit(s[i]))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || !is_digit(s[i]))
            goto bad;
        while (i < n && is_digit(s[i]))
            i++;
    }
    p->pos = i;
    if (!item)
        return true;
    /* strtod needs a terminated copy; the text is plain ASCII in the grammar above, and '.' is
     * the decimal point because archgate never calls setlocale (the C locale stays) */
    char small[64], *buf = small;
    size_t tl = i - start;
    if (tl >= sizeof small && !(buf = mem_malloc(tl + 1)))
        return fail(p, JSON_PARSE_NOMEM);
    memcpy(buf, s + start, tl);
    buf[tl] = '\0';
    double v = strtod(buf, NULL);
    if (buf != small)
        mem_free(buf);
    item->type = cJSON_Number;
    item->valuedouble = v;
    /* as cJSON does: the int view saturates */
    item->valueint = v >= INT_MAX ? INT_MAX : v <= (double)INT_MIN ? INT_MIN : (int)v;
    return true;
bad:
    p->pos = i;
    return fail(p, JSON_PARSE_SYNTAX);
}

static bool literal(struct parser *p, const char *word, size_t n)
{
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0) {
        /* point at the first byte that differs */
        while (p->pos < p->len && n && p->s[p->pos] == (unsigned char)*word) {
            p->pos++;
            word++;
            n--;
        }
        return fail(p, JSON_PARSE_SYNTAX);
    }
    p->pos += n;
    return true;
}

/* A new node appended to `parent`'s children (cJSON's layout: the first child's prev is the
 * last child), so a tree cut short by an error is always whole enough for cJSON_Delete. */
static cJSON *append(struct parser *p, cJSON *parent, cJSON **tail)
{
    cJSON *c = cJSON_malloc(sizeof *c);
    if (!c) {
        fail(p, JSON_PARSE_NOMEM);
        return NULL;
    }
    memset(c, 0, sizeof *c);
    if (*tail) {
        (*tail)->next = c;
        c->prev = *tail;
    } else {
        parent->child = c;
    }
    parent->child->prev = c;
    *tail = c;
    return c;
}

static bool parse_value(struct parser *p, cJSON *item);

/* The object or array whose opening bracket is at p->pos. */
static bool parse_container(struct parser *p, cJSON *item, bool is_object)
{
    if (++p->depth > p->max_depth)
        return fail(p, JSON_PARSE_DEPTH);
    unsigned level = p->depth;      /* path[level - 1]: the member name at this level */
    unsigned char close = is_object ? '}' : ']';
    if (item)
        item->type = is_object ? cJSON_Object : cJSON_Array;
    cJSON *tail = NULL;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        p->depth--;
        return true;
    }
    for (;;) {
        cJSON *child = NULL;
        if (is_object) {
            if (p->pos >= p->len || p->s[p->pos] != '"')
                return fail(p, JSON_PARSE_SYNTAX);
            char *key = NULL;
            if (!parse_string(p, item ? &key : NULL))
                return false;
            if (item && p->keep && !p->keep(p->path, level - 1, key, p->ctx)) {
                cJSON_free(key);
            } else if (item) {
                if (!(child = append(p, item, &tail))) {
                    cJSON_free(key);
                    return false;
                }
                child->string = key;
            }
            p->path[level - 1] = item ? (child ? child->string : NULL) : NULL;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':')
                return fail(p, JSON_PARSE_SYNTAX);
            p->pos++;
        } else {
            if (item && !(child = append(p, item, &tail)))
                return false;
            p->path[level - 1] = NULL;
        }
        skip_ws(p);
        if (!parse_value(p, child))
            return false;
        skip_ws(p);
        if (p->pos >= p->len)
            return fail(p, JSON_PARSE_SYNTAX);
        unsigned char c = p->s[p->pos];
        if (c == close) {
            p->pos++;
            p->depth--;
            return true;
        }
        if (c != ',')
            return fail(p, JSON_PARSE_SYNTAX);
        p->pos++;
        skip_ws(p);
    }
}

/* A value at p->pos (whitespace skipped). item NULL: check it only. */
static bool parse_value(struct parser *p, cJSON *item)
{
    if (p->pos >= p->len)
        return fail(p, JSON_PARSE_SYNTAX);
    switch (p->s[p->pos]) {
    case '{':
        return parse_container(p, item, true);
    case '[':
        return parse_container(p, item, false);
    case '"':
        if (item) {
            item->type = cJSON_String;
            return parse_string(p, &item->valuestring);
        }
        return parse_string(p, NULL);
    case 't':
        if (item) {
            item->type = cJSON_True;
            item->valueint = 1;     /* as cJSON's parser sets it */
        }
        return literal(p, "true", 4);
    case 'f':
        if (item)
            item->type = cJSON_False;
        return literal(p, "false", 5);
    case 'n':
        if (item)
            item->type = cJSON_NULL;
        return literal(p, "null", 4);
    default:
        return parse_number(p, item);
    }
}

enum json_parse_result json_parse(const char *s, size_t len, unsigned max_depth, json_keep_fn keep,
                                  void *ctx, cJSON **out, size_t *err_at)
{
    if (out)
        *out = NULL;
    if (err_at)
        *err_at = 0;
    if (!out || (!s && len))
        return JSON_PARSE_SYNTAX;
    struct parser ps, *p = &ps;
    p->s = (const unsigned char *)s;
    p->len = len;
    p->pos = 0;
    p->max_depth = max_depth < JSON_PARSE_MAX_DEPTH ? max_depth : JSON_PARSE_MAX_DEPTH;
    p->depth = 0;
    p->keep = keep;
    p->ctx = ctx;
    p->err = JSON_PARSE_OK;

    cJSON *root = cJSON_malloc(sizeof *root);
    if (!root)
        return JSON_PARSE_NOMEM;
    memset(root, 0, sizeof *root);
    skip_ws(p);
    if (parse_value(p, root)) {
        skip_ws(p);
        if (p->pos < p->len)
            fail(p, JSON_PARSE_SYNTAX);
    }
    enum json_parse_result r = p->err;
    if (err_at)
        *err_at = p->pos < len ? p->pos : len;
    if (r != JSON_PARSE_OK) {
        cJSON_Delete(root);
        return r;
    }
    *out = root;
    return JSON_PARSE_OK;
}
