/* testutil.h - helpers shared by the unit, integration and benchmark programs. */
#ifndef ARCHGATE_TESTUTIL_H
#define ARCHGATE_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>
#include "cluster.h"

/* Install the allocator hooks (mem.h). Call first in every test program. */
void testutil_init(void);
/* Append "passed failed" to $ARCHGATE_TEST_TOTALS when it is set (scripts/run-tests.sh). */
void testutil_record_totals(unsigned passed, unsigned failed);

/* Whole file, NUL-terminated, mem_malloc'd (mem_free it); NULL if unreadable. */
char *tu_read_file(const char *path, size_t *len);
/* Parse a JSON file / text; NULL on failure (cJSON_Delete it). */
cJSON *tu_load_json(const char *path);
cJSON *tu_parse(const char *text);

/* A snapshot from JSON text: one object, a List, or a JSON array of objects/Lists.
 * NULL (and a message on stderr) when the builder refuses it. */
struct snapshot *tu_snapshot(const char *json_text);
/* A snapshot from a folder of *.json files (source_file_load). */
struct snapshot *tu_snapshot_dir(const char *dir);

/* A pool for a suite's tests: tu_pool_setup / tu_pool_teardown as a suite's init/cleanup. */
extern struct pool *tu_pool;
int tu_pool_setup(void);
int tu_pool_teardown(void);

/* Remove a folder and everything under it (test scratch space); 0 on success. */
int tu_rmtree(const char *dir);

/* Structural JSON equality of two texts (key order ignored). */
bool tu_json_equal(const char *a, const char *b);

/* Benchmarks: the monotonic clock in microseconds; a qsort comparator for doubles. */
double tu_now_us(void);
int tu_cmp_double(const void *a, const void *b);

#endif
