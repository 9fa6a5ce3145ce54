/* jsonw.h - writing JSON text by hand: string quoting and a two-pass (measure, then write) writer. */
#ifndef ARCHGATE_JSONW_H
#define ARCHGATE_JSONW_H

#include <stddef.h>

/* `s` (NULL: "") as a quoted JSON string: '"', '\\' and control characters escaped, valid UTF-8
 * passed through, each byte of an invalid UTF-8 sequence written as \ufffd. Writes to `dst`
 * when it is not NULL (no NUL added) and returns the length either way, so a caller can measure
 * first. */
size_t jsonw_quote(char *dst, const char *s);

/* A writer: with buf NULL it only adds up len; run the same writes again with a buffer of
 * len (+1 for a NUL the caller adds) to produce the text. */
struct jsonw {
    char *buf;
    size_t len;
};

void jsonw_raw(struct jsonw *w, const char *s);     /* text as is */
void jsonw_str(struct jsonw *w, const char *s);     /* a quoted JSON string */

#endif
