/* log.c - levelled one-line logs to stderr, as text or JSON. Each line is built in a bounded
 * stack buffer (truncated when longer) and written with one write(2), so lines written by
 * concurrent threads never interleave. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "log.h"
#include "jsonw.h"

#define LOG_LINE_MAX 2048
#define LOG_MSG_MAX 1024
#define FIELD_MAX 200       /* a request log field, quoted; 8 of them fit in a line */

enum log_level log_min_level = LOG_INFO;
static enum log_format log_fmt = LOG_TEXT;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_setup(enum log_level level, enum log_format format)
{
    log_min_level = level;
    log_fmt = format;
}

bool log_parse_level(const char *s, enum log_level *out)
{
    if (!s || !out)
        return false;
    for (int i = LOG_DEBUG; i <= LOG_ERROR; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return true;
        }
    }
    return false;
}

bool log_parse_format(const char *s, enum log_format *out)
{
    if (!s || !out)
        return false;
    if (strcmp(s, "text") == 0)
        *out = LOG_TEXT;
    else if (strcmp(s, "json") == 0)
        *out = LOG_JSON;
    else
        return false;
    return true;
}

static const char *level_name(enum log_level l)
{
    return (l >= LOG_DEBUG && l <= LOG_ERROR) ? level_names[l] : "error";
}

/* A line under construction; `len` stays below LOG_LINE_MAX - 2 so "}" and "\n" always fit. */
struct line {
    char buf[LOG_LINE_MAX];
    size_t len;
    bool full;
};

static size_t line_room(const struct line *l)
{
    return LOG_LINE_MAX - 3 - l->len;
}

static void line_raw(struct line *l, const char *s, size_t n)
{
    if (n > line_room(l)) {
        n = line_room(l);
        l->full = true;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void line_str(struct line *l, const char *s)
{
    line_raw(l, s, strlen(s));
}

/* A JSON string of at most `cap` bytes (quotes included): longer text is cut, never inside an
 * escape or a UTF-8 sequence, and the string is always closed. The caps of the callers add up
 * to less than a line, so JSON lines stay complete. */
static void line_json_str(struct line *l, const char *s, size_t cap)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    if (cap > line_room(l))
        cap = line_room(l);
    if (cap < 2) {
        l->full = true;
        return;
    }
    size_t used = 1;
    line_raw(l, "\"", 1);
    while (*p) {
        /* quote one character (one UTF-8 sequence) at a time */
        size_t k = 1;
        if (*p >= 0xC0)
            while (k < 4 && (p[k] & 0xC0) == 0x80)
                k++;
        char piece[5], quoted[32];
        memcpy(piece, p, k);
        piece[k] = '\0';
        size_t q = jsonw_quote(quoted, piece) - 2;     /* without its quotes */
        if (used + q + 1 > cap) {
            l->full = true;
            break;
        }
        line_raw(l, quoted + 1, q);
        used += q;
        p += k;
    }
    line_raw(l, "\"", 1);
}

/* Text values: control characters become spaces so a value cannot start a new line. */
static void line_text(struct line *l, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p && line_room(l) > 0; p++) {
        char c = (*p < 0x20 || *p == 0x7f) ? ' ' : (char)*p;
        line_raw(l, &c, 1);
    }
}

/* A logfmt value: bare when it has no space, quote, '=' or control character, else quoted. */
static void line_text_value(struct line *l, const char *s)
{
    bool quote = !s || !*s;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p && !quote; p++)
        if (*p <= 0x20 || *p == '"' || *p == '=' || *p == 0x7f || *p == '\\')
            quote = true;
    if (quote)
        line_json_str(l, s, FIELD_MAX);
    else
        line_text(l, s);
}

static void line_start(struct line *l, enum log_level level)
{
    struct timespec ts;
    struct tm tm;
    char stamp[40];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + n, sizeof stamp - n, ".%03ldZ", (long)(ts.tv_nsec / 1000000));
    l->len = 0;
    l->full = false;
    if (log_fmt == LOG_JSON) {
        line_str(l, "{\"ts\":\"");
        line_str(l, stamp);
        line_str(l, "\",\"level\":\"");
        line_str(l, level_name(level));
        line_str(l, "\"");
    } else {
        line_str(l, stamp);
        line_str(l, " ");
        line_str(l, level_name(level));
        line_str(l, " ");
    }
}

static void line_emit(struct line *l)
{
    if (log_fmt == LOG_JSON)
        l->buf[l->len++] = '}';     /* outside the room: always fits */
    l->buf[l->len++] = '\n';
    const char *p = l->buf;
    size_t left = l->len;
    while (left > 0) {
        ssize_t w = write(STDERR_FILENO, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += w;
        left -= (size_t)w;
    }
}

void log_write(enum log_level level, const char *fmt, ...)
{
    if (level < log_min_level || !fmt)
        return;
    int saved = errno;
    char msg[LOG_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct line l;
    line_start(&l, level);
    if (log_fmt == LOG_JSON) {
        line_str(&l, ",\"msg\":");
        line_json_str(&l, msg, LOG_LINE_MAX - 96);
    } else {
        line_text(&l, msg);
    }
    line_emit(&l);
    errno = saved;
}

static void field_str(struct line *l, const char *key, const char *value)
{
    if (log_fmt == LOG_JSON) {
        line_str(l, ",\"");
        line_str(l, key);
        line_str(l, "\":");
        line_json_str(l, value ? value : "", FIELD_MAX);
    } else {
        line_str(l, " ");
        line_str(l, key);
        line_str(l, "=");
        line_text_value(l, value);
    }
}

static void field_long(struct line *l, const char *key, long value)
{
    char num[24];
    snprintf(num, sizeof num, "%ld", value);
    if (log_fmt == LOG_JSON) {
        line_str(l, ",\"");
        line_str(l, key);
        line_str(l, "\":");
    } else {
        line_str(l, " ");
        line_str(l, key);
        line_str(l, "=");
    }
    line_str(l, num);
}

void log_request(const char *endpoint, const char *uid, const char *kind, const char *ns,
                 const char *name, const char *op, const char *verdict, int http_status, long micros)
{
    enum log_level level = http_status >= 500 ? LOG_WARN : LOG_INFO;
    if (level < log_min_level)
        return;
    int saved = errno;
    char object[256];
    if (ns && *ns)
        snprintf(object, sizeof object, "%s/%s", ns, name ? name : "");
    else
        snprintf(object, sizeof object, "%s", name ? name : "");
    struct line l;
    line_start(&l, level);
    if (log_fmt == LOG_JSON)
        line_str(&l, ",\"msg\":\"admission\"");
    else
        line_str(&l, "admission");
    field_str(&l, "endpoint", endpoint);
    field_str(&l, "uid", uid);
    field_str(&l, "kind", kind);
    field_str(&l, "object", object);
    field_str(&l, "op", op);
    field_str(&l, "verdict", verdict);
    field_long(&l, "status", http_status);
    field_long(&l, "us", micros);
    line_emit(&l);
    errno = saved;
}
