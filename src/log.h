/* log.h - levelled one-line logs to stderr, as text or JSON; nothing is formatted below the level. */
#ifndef ARCHGATE_LOG_H
#define ARCHGATE_LOG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_TEXT = 0, LOG_JSON };

extern enum log_level log_min_level;

void log_setup(enum log_level level, enum log_format format);
bool log_parse_level(const char *s, enum log_level *out);
bool log_parse_format(const char *s, enum log_format *out);

/* text: "2026-11-29T11:07:20.123Z info message"; json: {"ts":..,"level":..,"msg":..}. */
void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One admission request: text "... info admission uid=.. kind=.. object=ns/name op=.. verdict=.. us=..";
 * json carries the same as fields. Never the object. */
void log_request(const char *endpoint, const char *uid, const char *kind, const char *ns,
                 const char *name, const char *op, const char *verdict, int http_status, long micros);

#define LOG_AT(lvl, ...) do { if ((lvl) >= log_min_level) log_write((lvl), __VA_ARGS__); } while (0)
#define log_debug(...) LOG_AT(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  LOG_AT(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  LOG_AT(LOG_WARN, __VA_ARGS__)
#define log_error(...) LOG_AT(LOG_ERROR, __VA_ARGS__)

#endif
