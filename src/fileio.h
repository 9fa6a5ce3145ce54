/* fileio.h - reading a whole file with a size limit (or in chunks), and JSON text that must be
 * one value. */
#ifndef ARCHGATE_FILEIO_H
#define ARCHGATE_FILEIO_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include "result.h"

/* Read the file (or pipe) `path`, at most `max` bytes, into a NUL-terminated mem_malloc'd buffer
 * (caller mem_free's *out). AG_EIO with *eno set (EISDIR for a folder) when it cannot be read;
 * AG_ETOOBIG when larger than `max` (also when it grew while being read); AG_ENOMEM. */
enum ag_result fileio_read(const char *path, size_t max, char **out, size_t *len, int *eno);

/* Read the file (or pipe) `path` in chunks of at most `chunk` bytes, each handed to `fn`, up to
 * `max` bytes in all: for files too large to hold at once. Errors as fileio_read (AG_ETOOBIG once
 * more than `max` bytes were seen: the chunks before were already handed over); the callback's
 * result (anything but AG_OK) stops the reading and is returned. */
typedef enum ag_result (*fileio_chunk_fn)(const char *data, size_t n, void *ctx);
enum ag_result fileio_read_chunks(const char *path, size_t max, size_t chunk, fileio_chunk_fn fn, void *ctx,
                                  int *eno);

/* Parse `len` bytes as exactly one JSON value (whitespace may surround it). NULL when it is not
 * (or on allocation failure); then *bad_at (optional) is the byte offset cJSON stopped at. */
cJSON *fileio_parse_json(const char *buf, size_t len, size_t *bad_at);

/* A file of at most `max` bytes holding one JSON value. On failure `err` is one line naming the
 * file: "<path>: <strerror>", "<path>: larger than N bytes", "<path>: not valid JSON near byte N". */
enum ag_result fileio_read_json(const char *path, size_t max, cJSON **out, char *err, size_t errlen);

#endif
