/* testutil.c - helpers shared by the test programs: files, JSON, snapshots, totals. */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "testutil.h"
#include "mem.h"
#include "source_file.h"
#include "pool.h"

void testutil_init(void)
{
    mem_install_cjson_hooks();
}

void testutil_record_totals(unsigned passed, unsigned failed)
{
    const char *path = getenv("ARCHGATE_TEST_TOTALS");
    if (!path || !*path)
        return;
    FILE *f = fopen(path, "a");
    if (!f)
        return;
    fprintf(f, "%u %u\n", passed, failed);
    fclose(f);
}

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            size_t ncap = cap ? cap * 2 : 8192;
            char *nb = mem_realloc(buf, ncap);
            if (!nb) {
                mem_free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap = ncap;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

cJSON *tu_parse(const char *text)
{
    return text ? cJSON_Parse(text) : NULL;
}

cJSON *tu_load_json(const char *path)
{
    char *t = tu_read_file(path, NULL);
    cJSON *j = tu_parse(t);
    mem_free(t);
    return j;
}

struct snapshot *tu_snapshot(const char *json_text)
{
    char err[512] = "";
    cJSON *j = tu_parse(json_text);
    if (!j) {
        fprintf(stderr, "tu_snapshot: fixture is not JSON\n");
        return NULL;
    }
    struct cluster_builder *b = cluster_builder_new();
    if (!b) {
        cJSON_Delete(j);
        return NULL;
    }
    enum ag_result r = AG_OK;
    if (cJSON_IsArray(j)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, j) {
            r = cluster_builder_add(b, it, err, sizeof err);
            if (r != AG_OK)
                break;
        }
    } else {
        r = cluster_builder_add(b, j, err, sizeof err);
    }
    cJSON_Delete(j);
    if (r != AG_OK) {
        fprintf(stderr, "tu_snapshot: %s\n", err);
        cluster_builder_free(b);
        return NULL;
    }
    return cluster_builder_finish(b);
}

struct snapshot *tu_snapshot_dir(const char *dir)
{
    char err[512] = "";
    struct snapshot *s = NULL;
    if (source_file_load(dir, NULL, &s, err, sizeof err) != AG_OK) {
        fprintf(stderr, "tu_snapshot_dir: %s\n", err);
        return NULL;
    }
    return s;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

int tu_rmtree(const char *dir)
{
    return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

struct pool *tu_pool;

int tu_pool_setup(void)
{
    tu_pool = pool_new(0);
    return tu_pool ? 0 : 1;
}

int tu_pool_teardown(void)
{
    pool_free(tu_pool);
    tu_pool = NULL;
    return 0;
}

bool tu_json_equal(const char *a, const char *b)
{
    cJSON *ja = tu_parse(a), *jb = tu_parse(b);
    bool eq = ja && jb && cJSON_Compare(ja, jb, 1);
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    return eq;
}

double tu_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int tu_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
