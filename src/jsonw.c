/* jsonw.c - writing JSON text by hand: string quoting (escapes, UTF-8 checks) and a two-pass
 * writer that measures first and then writes into one exact allocation. Used by the response
 * encoder, the patch encoder and the JSON log format. */
#include <string.h>
#include "jsonw.h"

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

size_t jsonw_quote(char *dst, const char *s)
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

void jsonw_raw(struct jsonw *w, const char *s)
{
    size_t n = strlen(s);
    if (w->buf)
        memcpy(w->buf + w->len, s, n);
    w->len += n;
}

void jsonw_str(struct jsonw *w, const char *s)
{
    w->len += jsonw_quote(w->buf ? w->buf + w->len : NULL, s);
}
