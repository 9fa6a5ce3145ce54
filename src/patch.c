/* patch.c - RFC 6902 JSON Patch building and its JSON text, RFC 6901 pointer escaping,
 * base64 (RFC 4648, standard alphabet), and the JSON string quoting the encoders share. */
#include <string.h>
#include <stdint.h>
#include "patch.h"
#include "jsonw.h"

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


static void patch_write(struct jsonw *w, const struct patch *p)
{
    jsonw_raw(w, "[");
    for (size_t i = 0; i < p->n; i++) {
        const struct patch_op *o = &p->ops[i];
        jsonw_raw(w, i ? ",{\"op\":" : "{\"op\":");
        jsonw_raw(w, o->op == PATCH_REPLACE ? "\"replace\"" : "\"add\"");
        jsonw_raw(w, ",\"path\":");
        jsonw_str(w, o->path);
        jsonw_raw(w, ",\"value\":");
        if (o->map_key) {
            jsonw_raw(w, "{");
            jsonw_str(w, o->map_key);
            jsonw_raw(w, ":");
            jsonw_str(w, o->value);
            jsonw_raw(w, "}");
        } else {
            jsonw_str(w, o->value);
        }
        jsonw_raw(w, "}");
    }
    jsonw_raw(w, "]");
}

char *patch_to_json(const struct patch *p, struct pool *pool)
{
    if (!p || !pool || p->n > PATCH_MAX_OPS)
        return NULL;
    struct jsonw w = { NULL, 0 };
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
