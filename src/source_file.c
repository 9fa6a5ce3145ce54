/* source_file.c - cluster state from a folder of `kubectl get -o json` files and an image
 * catalog file: loading them into a snapshot, fingerprinting them, and a watcher thread that
 * reloads and publishes when they change or when asked to. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "source_file.h"
#include "clock.h"
#include "hash.h"
#include "fileio.h"
#include "liststream.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"

#define SOURCE_FILE_MAX_FILES 10000     /* *.json files in one folder */

/* ---- reading ------------------------------------------------------------------------------ */

static bool is_json_name(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 5 && strcmp(name + n - 5, ".json") == 0;
}

/* Parse a whole file as one JSON value; only whitespace may follow it. */
static enum ag_result parse_file(const char *path, cJSON **out, char *err, size_t errlen)
{
    return fileio_read_json(path, SOURCE_FILE_MAX_REST, out, err, errlen);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of the *.json regular files of `dir`, sorted; mem_malloc'd array of mem_malloc'd strings. */
static enum ag_result list_dir(const char *dir, char ***out, size_t *nout, char *err, size_t errlen)
{
    enum ag_result r = AG_EIO;
    char **names = NULL;
    size_t n = 0, cap = 0;
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return AG_EIO;
    }
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno) {
                snprintf(err, errlen, "%s: %s", dir, strerror(errno));
                goto out;
            }
            break;
        }
        if (!is_json_name(e->d_name))
            continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, 0) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (n == cap) {
            if (cap >= SOURCE_FILE_MAX_FILES) {
                snprintf(err, errlen, "%s: more than %d JSON files", dir, SOURCE_FILE_MAX_FILES);
                r = AG_ETOOBIG;
                goto out;
            }
            size_t ncap = cap ? cap * 2 : 16;
            char **nn = mem_realloc(names, ncap * sizeof *nn);
            if (!nn)
                goto nomem;
            names = nn;
            cap = ncap;
        }
        if (!(names[n] = mem_strdup(e->d_name)))
            goto nomem;
        n++;
    }
    if (n > 1)
        qsort(names, n, sizeof *names, cmp_names);
    *out = names;
    *nout = n;
    names = NULL;
    n = 0;
    r = AG_OK;
    goto out;
nomem:
    snprintf(err, errlen, "%s: out of memory", dir);
    r = AG_ENOMEM;
out:
    for (size_t i = 0; i < n; i++)
        mem_free(names[i]);
    mem_free(names);
    closedir(d);
    return r;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        mem_free(names[i]);
    mem_free(names);
}

/* Reading one file item by item: the List's items go to the builder as they are parsed. */
struct file_read {
    source_file_object_fn fn;
    void *ctx;
    const char *name;           /* the file's name in the folder */
    struct liststream *ls;
    cJSON *kindless;            /* items without a kind: they take the List's, known at its end */
    char berr[512];
};

static enum ag_result file_item(const cJSON *item, size_t index, void *ctx, char *err, size_t errlen)
{
    struct file_read *fr = ctx;
    if (!cJSON_IsObject(item)) {
        snprintf(err, errlen, "item %zu is not an object", index);
        return AG_EINVAL;
    }
    if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(item, "kind"))) {
        /* kept past the call: copied out of the item's arena */
        int depth = mem_arena_pause();
        cJSON *copy = cJSON_Duplicate(item, true);
        if (copy && !fr->kindless)
            fr->kindless = cJSON_CreateArray();
        bool ok = copy && fr->kindless && cJSON_AddItemToArray(fr->kindless, copy);
        mem_arena_resume(depth);
        if (!ok) {
            cJSON_Delete(copy);
            snprintf(err, errlen, "out of memory");
            return AG_ENOMEM;
        }
        return AG_OK;
    }
    return fr->fn(item, fr->name, fr->ctx, err, errlen);
}

static enum ag_result file_chunk(const char *data, size_t n, void *ctx)
{
    struct file_read *fr = ctx;
    return liststream_feed(fr->ls, data, n, fr->berr, sizeof fr->berr);
}

/* Hand one file's objects to fn: an object, a List, or a JSON array of them. A List is read item
 * by item, so the memory a file takes is one item's, not the whole file's. */
static enum ag_result read_file(const char *path, const char *name, source_file_object_fn fn, void *ctx, char *err,
                                size_t errlen)
{
    struct file_read fr = { .fn = fn, .ctx = ctx, .name = name };
    cJSON *j = NULL;
    size_t nitems = 0;
    int eno = 0;
    enum ag_result r = AG_ENOMEM;
    if (!(fr.ls = liststream_new("items", SOURCE_FILE_MAX_OBJECT, SOURCE_FILE_MAX_REST, SOURCE_FILE_MAX_NESTING,
                                 file_item, &fr))) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    r = fileio_read_chunks(path, SOURCE_FILE_MAX_BYTES, SOURCE_FILE_CHUNK, file_chunk, &fr, &eno);
    if (r == AG_OK)
        r = liststream_finish(fr.ls, &j, &nitems, fr.berr, sizeof fr.berr);
    if (r == AG_EIO && eno)
        snprintf(err, errlen, "%s: %s", path, strerror(eno));
    else if (r == AG_ETOOBIG && !fr.berr[0])
        snprintf(err, errlen, "%s: larger than %llu bytes", path, SOURCE_FILE_MAX_BYTES);
    else if (r == AG_ENOMEM)
        snprintf(err, errlen, "%s: out of memory", path);
    else if (r != AG_OK)
        snprintf(err, errlen, "%s: %s", path, fr.berr);
    if (r != AG_OK)
        goto out;

    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(j, "kind");
    size_t klen = cJSON_IsString(kind) ? strlen(kind->valuestring) : 0;
    bool is_list = klen >= 4 && strcmp(kind->valuestring + klen - 4, "List") == 0;
    if (nitems && !is_list) {
        snprintf(err, errlen, "%s: has items but is not a List (kind %s)", path,
                 cJSON_IsString(kind) ? kind->valuestring : "missing");
        r = AG_EINVAL;
        goto out;
    }
    if (fr.kindless) {
        /* put them back for the builder, which gives them the List's kind */
        cJSON_ReplaceItemInObjectCaseSensitive(j, "items", fr.kindless);
        fr.kindless = NULL;
    }
    if (cJSON_IsArray(j)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, j) {
            if ((r = fn(it, name, ctx, fr.berr, sizeof fr.berr)) != AG_OK)
                break;
        }
    } else {
        r = fn(j, name, ctx, fr.berr, sizeof fr.berr);
    }
    if (r != AG_OK)
        snprintf(err, errlen, "%s: %s", path, fr.berr);
out:
    cJSON_Delete(j);
    cJSON_Delete(fr.kindless);
    liststream_free(fr.ls);
    return r;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

enum ag_result source_file_each(const char *dir, source_file_object_fn fn, void *ctx, char *err, size_t errlen)
{
    char **names = NULL;
    size_t nnames = 0;
    char *path = NULL;
    enum ag_result r = list_dir(dir, &names, &nnames, err, errlen);
    for (size_t i = 0; r == AG_OK && i < nnames; i++) {
        size_t plen = strlen(dir) + 1 + strlen(names[i]) + 1;
        mem_free(path);
        if (!(path = mem_malloc(plen))) {
            snprintf(err, errlen, "out of memory");
            r = AG_ENOMEM;
            break;
        }
        snprintf(path, plen, "%s/%s", dir, names[i]);
        r = read_file(path, names[i], fn, ctx, err, errlen);
    }
    free_names(names, nnames);
    mem_free(path);
    return r;
}

static enum ag_result add_to_builder(const cJSON *obj, const char *file, void *ctx, char *err, size_t errlen)
{
    (void)file;
    return cluster_builder_add(ctx, obj, err, errlen);
}

enum ag_result source_file_load(const char *dir, const char *catalog, struct snapshot **out,
                                char *err, size_t errlen)
{
    enum ag_result r = AG_ENOMEM;
    struct timespec t0;
    char dummy[1];

    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    *out = NULL;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct cluster_builder *b = cluster_builder_new();
    if (!b) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (dir && (r = source_file_each(dir, add_to_builder, b, err, errlen)) != AG_OK)
        goto out;
    if (catalog) {
        cJSON *j = NULL;
        char berr[512] = "";
        if ((r = parse_file(catalog, &j, err, errlen)) != AG_OK)
            goto out;
        r = cluster_builder_add_catalog(b, j, berr, sizeof berr);
        cJSON_Delete(j);
        if (r != AG_OK) {
            snprintf(err, errlen, "%s: %s", catalog, berr);
            goto out;
        }
    }
    struct snapshot *s = cluster_builder_finish(b);
    b = NULL;
    if (!s) {
        snprintf(err, errlen, "%s: out of memory building the snapshot", dir ? dir : "cluster state");
        r = AG_ENOMEM;
        goto out;
    }
    log_info("cluster state loaded from %s%s%s: %zu nodes, %zu DataSources, %zu PVCs, %zu preferences, "
             "%zu catalog entries in %.1f ms", dir ? dir : "(none)", catalog ? " and " : "",
             catalog ? catalog : "", s->nnodes, s->ndatasources, s->npvcs, s->npreferences, s->ncatalog,
             seconds_since(&t0) * 1e3);
    *out = s;
    r = AG_OK;
out:
    cluster_builder_free(b);
    return r;
}

/* ---- fingerprint -------------------------------------------------------------------------- */

static uint64_t stat_hash(const char *name, const struct stat *st)
{
    uint64_t h = HASH_FNV1A_START;
    long long v[5] = { (long long)st->st_size, (long long)st->st_mtim.tv_sec, (long long)st->st_mtim.tv_nsec,
                       (long long)st->st_ino, (long long)st->st_dev };
    h = hash_fnv1a(h, name, strlen(name) + 1);
    return hash_fnv1a(h, v, sizeof v);
}

unsigned long long source_file_stamp(const char *dir, const char *catalog)
{
    /* Per-entry hashes are summed, so the order readdir returns does not matter. */
    uint64_t sum = 0x9e3779b97f4a7c15ull, count = 0;
    struct stat st;
    if (dir) {
        DIR *d = opendir(dir);
        if (!d) {
            sum += (uint64_t)errno * 0x100000001b3ull + 1;
        } else {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (!is_json_name(e->d_name) || fstatat(dirfd(d), e->d_name, &st, 0) != 0)
                    continue;
                sum += stat_hash(e->d_name, &st);
                count++;
            }
            closedir(d);
        }
    }
    if (catalog) {
        if (stat(catalog, &st) == 0)
            sum += stat_hash(catalog, &st) * 3;
        else
            sum += (uint64_t)errno * 7 + 2;
    }
    return (unsigned long long)hash_fnv1a(sum, &count, sizeof count);
}

/* ---- watcher ------------------------------------------------------------------------------ */

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool cond_ready;
    bool running, stop, force;
    pthread_t thread;
    char *dir, *catalog;
    unsigned interval_ms;
    unsigned long long stamp;
    bool first_done;                /* the first load, made by the thread, and its result */
    enum ag_result first_r;
    char first_err[1024];
} watch = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Load and publish; the first load's failure is the start's to report, a later one is logged
 * and the current snapshot stays. */
static enum ag_result reload(bool first, char *err, size_t errlen)
{
    struct snapshot *s = NULL;
    unsigned long long stamp = source_file_stamp(watch.dir, watch.catalog);
    enum ag_result r = source_file_load(watch.dir, watch.catalog, &s, err, errlen);
    /* Remember the stamp of what was tried, so a broken file is reported once, not every poll. */
    watch.stamp = stamp;
    if (r != AG_OK) {
        if (!first) {
            log_error("cluster state reload failed, keeping the current state: %s", err);
            metrics_cluster_reload(false);
        }
        return r;
    }
    snapshot_publish(s);
    mem_give_back();
    metrics_cluster_reload(true);
    if (!first)
        log_info("cluster state reloaded (generation %llu)", (unsigned long long)snapshot_generation());
    return AG_OK;
}

static void *watch_main(void *arg)
{
    (void)arg;
    char err[sizeof watch.first_err] = "";
    enum ag_result r = reload(true, err, sizeof err);
    pthread_mutex_lock(&watch.lock);
    watch.first_r = r;
    snprintf(watch.first_err, sizeof watch.first_err, "%s", err);
    watch.first_done = true;
    pthread_cond_broadcast(&watch.cond);
    while (r == AG_OK && !watch.stop) {
        struct timespec deadline = clock_deadline(CLOCK_MONOTONIC, watch.interval_ms);
        while (!watch.stop && !watch.force) {
            if (pthread_cond_timedwait(&watch.cond, &watch.lock, &deadline) == ETIMEDOUT)
                break;
        }
        if (watch.stop)
            break;
        bool force = watch.force;
        watch.force = false;
        pthread_mutex_unlock(&watch.lock);
        /* dir, catalog and stamp are only written by this thread while it runs */
        char rerr[1024] = "";
        if (force || source_file_stamp(watch.dir, watch.catalog) != watch.stamp)
            reload(false, rerr, sizeof rerr);
        pthread_mutex_lock(&watch.lock);
    }
    pthread_mutex_unlock(&watch.lock);
    return NULL;
}

enum ag_result source_file_watch_start(const char *dir, const char *catalog, unsigned interval_ms, char *err,
                                       size_t errlen)
{
    enum ag_result r = AG_ENOMEM;
    if (errlen)
        err[0] = '\0';
    pthread_mutex_lock(&watch.lock);
    if (watch.running) {
        r = AG_EINTERNAL;
        goto out;
    }
    if (!watch.cond_ready) {
        pthread_condattr_t ca;
        if (pthread_condattr_init(&ca) != 0) {
            r = AG_EINTERNAL;
            goto out;
        }
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        int e = pthread_cond_init(&watch.cond, &ca);
        pthread_condattr_destroy(&ca);
        if (e != 0) {
            r = AG_EINTERNAL;
            goto out;
        }
        watch.cond_ready = true;
    }
    watch.dir = dir ? mem_strdup(dir) : NULL;
    watch.catalog = catalog ? mem_strdup(catalog) : NULL;
    if ((dir && !watch.dir) || (catalog && !watch.catalog))
        goto fail;
    watch.interval_ms = interval_ms ? interval_ms : 1000;
    watch.stop = false;
    watch.force = false;
    watch.first_done = false;
    if (pthread_create(&watch.thread, NULL, watch_main, NULL) != 0) {
        r = AG_EINTERNAL;
        snprintf(err, errlen, "cannot start the cluster-state watcher");
        goto fail;
    }
    while (!watch.first_done)
        pthread_cond_wait(&watch.cond, &watch.lock);
    if (watch.first_r != AG_OK) {
        r = watch.first_r;
        snprintf(err, errlen, "%s", watch.first_err);
        pthread_mutex_unlock(&watch.lock);
        pthread_join(watch.thread, NULL);     /* it ended after the failed load */
        pthread_mutex_lock(&watch.lock);
        goto fail;
    }
    watch.running = true;
    r = AG_OK;
    goto out;
fail:
    mem_free(watch.dir);
    mem_free(watch.catalog);
    watch.dir = watch.catalog = NULL;
out:
    pthread_mutex_unlock(&watch.lock);
    if (r != AG_OK && errlen && !err[0])
        snprintf(err, errlen, "%s", r == AG_ENOMEM ? "out of memory" : "cannot start the cluster-state watcher");
    return r;
}

void source_file_reload_now(void)
{
    pthread_mutex_lock(&watch.lock);
    if (watch.running) {
        watch.force = true;
        pthread_cond_signal(&watch.cond);
    }
    pthread_mutex_unlock(&watch.lock);
}

void source_file_watch_stop(void)
{
    pthread_mutex_lock(&watch.lock);
    if (!watch.running || watch.stop) {
        pthread_mutex_unlock(&watch.lock);
        return;
    }
    watch.stop = true;
    pthread_cond_signal(&watch.cond);
    pthread_t t = watch.thread;
    pthread_mutex_unlock(&watch.lock);
    pthread_join(t, NULL);
    pthread_mutex_lock(&watch.lock);
    watch.running = false;
    watch.stop = false;
    mem_free(watch.dir);
    mem_free(watch.catalog);
    watch.dir = watch.catalog = NULL;
    pthread_mutex_unlock(&watch.lock);
}
