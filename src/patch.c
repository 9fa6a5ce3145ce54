/* patch.c - RFC 6902 JSON Patch building and its JSON text, RFC 6901 pointer escaping,
 * base64 (RFC 4648, standard alphabet), and the JSON string quoting the encoders share. */
#include <string.h>
#include <stdint.h>
#include "patch.h"

enum ag_result patch_add(struct patch *p, enum patch_opkind op, const char *path,
                         const char *map_key, const char *value)
{
    if (!p || !path || !value)
        return AG_EINVAL;
    if (p->n >= PATCH_MAX_OPS)
        return AG_ETOOBIG;
    struct patch_op *o = &p->ops[p->n];
    o->op = op;
    o->path = path;
    o->map_key = map_key;
    o->value = value;
    p->n++;
    return AG_OK;
}

char *patch_pointer_join(struct pool *pool, const char *base, const char *segment)
{
    if (!pool || !base || !segment)
        return NULL;
    size_t blen = strlen(base), n = blen + 1;
    for (const char *c = segment; *c; c++)
        n += (*c == '~' || *c == '/') ? 2 : 1;
    char *out = pool_alloc(pool, n + 1);
    if (!out)
        return NULL;
    memcpy(out, base, blen);
    char *w = out + blen;
    *w++ = '/';
    for (const char *c = segment; *c; c++) {
        if (*c == '~') {
            *w++ = '~';
            *w++ = '0';
        } else if (*c == '/') {
            *w++ = '~';
            *w++ = '1';
        } else {
            *w++ = *c;
        }
    }
    *w = '\0';
    return out;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when s does not start one. */
static size_t utf8_seq_len(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned char lo = 0x80, hi = 0xBF;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;          /* no UTF-16 surrogates */
        if (s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80)
            return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned char lo = 0x80, hi = 0xBF;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;          /* nothing above U+10FFFF */
        if (s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        return 4;
    }
    return 0;
}

size_t patch_json_quote(char *dst, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = 0;
#define PUT(ch) do { if (dst) dst[n] = (char)(ch); n++; } while (0)
    PUT('"');
    while (*p) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            PUT('\\');
            PUT(c);
            p++;
        } else if (c < 0x20) {
            PUT('\\');
            switch (c) {
            case '\n': PUT('n'); break;
            case '\r': PUT('r'); break;
            case '\t': PUT('t'); break;
            case '\b': PUT('b'); break;
            case '\f': PUT('f'); break;
            default:
                PUT('u'); PUT('0'); PUT('0');
                PUT(hex[c >> 4]);
                PUT(hex[c & 15]);
                break;
            }
            p++;
        } else if (c < 0x80) {
            PUT(c);
            p++;
        } else {
            /* utf8_seq_len reads at most up to the NUL: a NUL fails the continuation test. */
            size_t k = utf8_seq_len(p);
            if (k == 0) {
                PUT('\\'); PUT('u'); PUT('f'); PUT('f'); PUT('f'); PUT('d');
                p++;
            } else {
                for (size_t i = 0; i < k; i++)
                    PUT(p[i]);
                p += k;
            }
        }
    }
    PUT('"');
#undef PUT
    return n;
}

/* Two-pass writer: with buf NULL it only counts, then the caller allocates and writes. */
struct jw {
    char *buf;
    size_t len;
};

static void jw_raw(struct jw *w, const char *s)
{
    size_t n = strlen(s);
    if (w->buf)
        memcpy(w->buf + w->len, s, n);
    w->len += n;
}

static void jw_str(struct jw *w, const char *s)
{
    w->len += patch_json_quote(w->buf ? w->buf + w->len : NULL, s);
}

static void patch_write(struct jw *w, const struct patch *p)
{
    jw_raw(w, "[");
    for (size_t i = 0; i < p->n; i++) {
        const struct patch_op *o = &p->ops[i];
        jw_raw(w, i ? ",{\"op\":" : "{\"op\":");
        jw_raw(w, o->op == PATCH_REPLACE ? "\"replace\"" : "\"add\"");
        jw_raw(w, ",\"path\":");
        jw_str(w, o->path);
        jw_raw(w, ",\"value\":");
        if (o->map_key) {
            jw_raw(w, "{");
            jw_str(w, o->map_key);
            jw_raw(w, ":");
            jw_str(w, o->value);
            jw_raw(w, "}");
        } else {
            jw_str(w, o->value);
        }
        jw_raw(w, "}");
    }
    jw_raw(w, "]");
}

char *patch_to_json(const struct patch *p, struct pool *pool)
{
    if (!p || !pool || p->n > PATCH_MAX_OPS)
        return NULL;
    struct jw w = { NULL, 0 };
    patch_write(&w, p);
    char *out = pool_alloc(pool, w.len + 1);
    if (!out)
        return NULL;
    size_t want = w.len;
    w.buf = out;
    w.len = 0;
    patch_write(&w, p);
    if (w.len != want)      /* the two passes must agree */
        return NULL;
    out[w.len] = '\0';
    return out;
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *patch_base64(const void *data, size_t len, struct pool *pool)
{
    if (!pool || (!data && len))
        return NULL;
    if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
        return NULL;
    const unsigned char *in = data;
    size_t outlen = (len + 2) / 3 * 4;
    char *out = pool_alloc(pool, outlen + 1);
    if (!out)
        return NULL;
    char *w = out;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *w++ = b64_alphabet[(v >> 18) & 63];
        *w++ = b64_alphabet[(v >> 12) & 63];
        *w++ = b64_alphabet[(v >> 6) & 63];
        *w++ = b64_alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        *w++ = b64_alphabet[(v >> 18) & 63];
        *w++ = b64_alphabet[(v >> 12) & 63];
        *w++ = '=';
        *w++ = '=';
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        *w++ = b64_alphabet[(v >> 18) & 63];
        *w++ = b64_alphabet[(v >> 12) & 63];
        *w++ = b64_alphabet[(v >> 6) & 63];
        *w++ = '=';
    }
    *w = '\0';
    return out;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Strict: length a multiple of 4, only alphabet characters, '=' only as the last one or two
 * characters, and the bits the padding discards must be zero (one encoding per input). */
bool patch_base64_decode(const char *b64, struct pool *pool, char **out, size_t *outlen)
{
    if (!b64 || !pool || !out)
        return false;
    size_t n = strlen(b64);
    if (n % 4 != 0)
        return false;
    size_t pad = 0;
    if (n >= 1 && b64[n - 1] == '=') {
        pad++;
        if (b64[n - 2] == '=')
            pad++;
    }
    size_t dlen = n / 4 * 3 - pad;
    unsigned char *d = pool_alloc(pool, dlen + 1);
    if (!d)
        return false;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        bool last = i + 4 == n;
        int v[4];
        for (size_t k = 0; k < 4; k++) {
            char c = b64[i + k];
            if (c == '=' && last && k >= 4 - pad) {
                v[k] = 0;
                continue;
            }
            v[k] = b64_value(c);
            if (v[k] < 0)
                return false;
        }
        uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        if (last && pad == 2 && (x & 0xFFFF) != 0)
            return false;
        if (last && pad == 1 && (x & 0xFF) != 0)
            return false;
        d[o++] = (unsigned char)(x >> 16);
        if (!(last && pad == 2))
            d[o++] = (unsigned char)(x >> 8);
        if (!(last && pad >= 1))
            d[o++] = (unsigned char)x;
    }
    d[o] = '\0';
    *out = (char *)d;
    if (outlen)
        *outlen = o;
    return true;
}
