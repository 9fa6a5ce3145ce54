/* source_file.h - cluster state from a folder of `kubectl get -o json` files (and the image
 * catalog file), re-read when a file changes and on demand. */
#ifndef ARCHGATE_SOURCE_FILE_H
#define ARCHGATE_SOURCE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>
#include "cluster.h"
#include "result.h"

/* Files are read in chunks and a List item by item, so what a file costs in memory is one item
 * (at most SOURCE_FILE_MAX_OBJECT) plus what is outside its items (at most SOURCE_FILE_MAX_REST:
 * a file that is one object, or a JSON array of objects, is all "rest"). */
#define SOURCE_FILE_MAX_BYTES  (1024ull * 1024 * 1024)  /* larger files are refused */
#define SOURCE_FILE_MAX_OBJECT (16u * 1024 * 1024)      /* one item of a List */
#define SOURCE_FILE_MAX_REST   (64u * 1024 * 1024)      /* a file without items, or outside them */
#define SOURCE_FILE_MAX_NESTING 128
#define SOURCE_FILE_CHUNK      (256u * 1024)

/* Read every *.json file of `dir` (sorted by name; not recursive) and the catalog file (NULL:
 * none) into a new snapshot (refcount 1). Either may be NULL/absent: dir NULL gives an empty
 * cluster. On failure `err` names the file and the reason. */
enum ag_result source_file_load(const char *dir, const char *catalog, struct snapshot **out,
                                char *err, size_t errlen);

/* Every object of every *.json file of `dir` (sorted by name; not recursive), one at a time: a
 * List's items as they are read (each valid only during the call, in the request arena: see
 * liststream.h), a JSON array's elements, or the file's one object. Items of a typed List
 * without a kind come at the end, inside their List (whose kind gives theirs). `file` is the
 * file's name. Stops at the first result other than AG_OK; `err` names the file. */
typedef enum ag_result (*source_file_object_fn)(const cJSON *obj, const char *file, void *ctx, char *err,
                                                size_t errlen);
enum ag_result source_file_each(const char *dir, source_file_object_fn fn, void *ctx, char *err, size_t errlen);

/* A fingerprint of the folder and catalog (names, sizes, mtimes); changes when a file does. */
unsigned long long source_file_stamp(const char *dir, const char *catalog);

/* Background watcher. It first loads the folder and catalog on its own thread and publishes
 * them; start waits for that and returns its result (err says why; no watcher runs then). The
 * first load is the watcher's so that what every snapshot keeps for good (the label maps above
 * all) comes from the same malloc arena as each reload's: loaded on another thread, those objects
 * are replaced one by one as churn touches their nodes, and the first arena's pages stay resident
 * while any of them lives (file mode under churn rose 2.7 MiB over 20 minutes that way).
 * Then it polls the stamp every `interval_ms`, reloads and publishes on change. A failed reload
 * keeps the current snapshot, logs, and counts in metrics. */
enum ag_result source_file_watch_start(const char *dir, const char *catalog, unsigned interval_ms, char *err,
                                       size_t errlen);
void source_file_reload_now(void);      /* async-signal-unsafe: call from the main thread */
void source_file_watch_stop(void);

#endif
