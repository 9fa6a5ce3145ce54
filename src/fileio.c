/* fileio.c - reading a whole file with a size limit (or in chunks), and JSON text that must be
 * one value.
 * Shared by the certificate checks, the kubeconfig and token readers, the cluster-state folder
 * and the image catalog. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fileio.h"
#include "mem.h"

/* Open `path` for reading: a file (or pipe) within `max` bytes as far as fstat can tell. AG_OK
 * with *fd open; AG_EIO with *eno set (EISDIR for a folder); AG_ETOOBIG. */
static enum ag_result open_limited(const char *path, size_t max, int *fd, struct stat *st, int *eno)
{
    *eno = 0;
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    enum ag_result r = AG_EIO;
    if (*fd < 0 || fstat(*fd, st) != 0)
        *eno = errno;
    else if (S_ISDIR(st->st_mode))
        *eno = EISDIR;
    else if (S_ISREG(st->st_mode) && (unsigned long long)st->st_size > max)
        r = AG_ETOOBIG;
    else
        return AG_OK;
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
    return r;
}

enum ag_result fileio_read(const char *path, size_t max, char **out, size_t *len, int *eno)
{
    char *data = NULL;
    struct stat st;
    int fd;
    *out = NULL;
    *len = 0;
    enum ag_result r = open_limited(path, max, &fd, &st, eno);
    if (r != AG_OK)
        return r;
    r = AG_EIO;
    /* Room for what fstat saw plus one byte, so a file that grew meanwhile is noticed; a pipe
     * (--kubeconfig <(...)) starts small and grows up to the limit. */
    size_t cap = (S_ISREG(st.st_mode) ? (size_t)st.st_size : 4096) + 2, n = 0;
    if (cap > max + 2)
        cap = max + 2;
    data = mem_malloc(cap);
    if (!data) {
        r = AG_ENOMEM;
        goto cleanup;
    }
    for (;;) {
        if (n == cap - 1) {
            if (n > max) {
                r = AG_ETOOBIG;
                goto cleanup;
            }
            size_t ncap = cap * 2 > max + 2 ? max + 2 : cap * 2;
            char *nd = mem_realloc(data, ncap);
            if (!nd) {
                r = AG_ENOMEM;
                goto cleanup;
            }
            data = nd;
            cap = ncap;
        }
        ssize_t got = read(fd, data + n, cap - 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            *eno = errno;
            goto cleanup;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    if (n > max) {
        r = AG_ETOOBIG;
        goto cleanup;
    }
    data[n] = '\0';
    *out = data;
    *len = n;
    data = NULL;
    r = AG_OK;
cleanup:
    if (fd >= 0)
        close(fd);
    mem_free(data);
    return r;
}

enum ag_result fileio_read_chunks(const char *path, size_t max, size_t chunk, fileio_chunk_fn fn, void *ctx,
                                  int *eno)
{
    struct stat st;
    size_t total = 0;
    char *data = NULL;
    int fd;
    enum ag_result r = open_limited(path, max, &fd, &st, eno);
    if (r != AG_OK)
        return r;
    if (!chunk || !(data = mem_malloc(chunk))) {
        r = AG_ENOMEM;
        goto cleanup;
    }
    for (;;) {
        ssize_t got = read(fd, data, chunk);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            *eno = errno;
            r = AG_EIO;
            goto cleanup;
        }
        if (got == 0)
            break;
        if ((size_t)got > max - total) {
            r = AG_ETOOBIG;     /* it grew while being read, or a pipe */
            goto cleanup;
        }
        total += (size_t)got;
        if ((r = fn(data, (size_t)got, ctx)) != AG_OK)
            goto cleanup;
    }
    r = AG_OK;
cleanup:
    if (fd >= 0)
        close(fd);
    mem_free(data);
    return r;
}

cJSON *fileio_parse_json(const char *buf, size_t len, size_t *bad_at)
{
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    size_t at = end && end >= buf ? (size_t)(end - buf) : 0;
    if (j) {
        while (at < len && (buf[at] == ' ' || buf[at] == '\n' || buf[at] == '\r' || buf[at] == '\t'))
            at++;
        if (at < len) {
            cJSON_Delete(j);
            j = NULL;
        }
    }
    if (!j && bad_at)
        *bad_at = at;
    return j;
}

enum ag_result fileio_read_json(const char *path, size_t max, cJSON **out, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t len = 0;
    int eno = 0;
    *out = NULL;
    enum ag_result r = fileio_read(path, max, &buf, &len, &eno);
    if (r == AG_EIO)
        snprintf(err, errlen, "%s: %s", path, strerror(eno));
    else if (r == AG_ETOOBIG)
        snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
    else if (r == AG_ENOMEM)
        snprintf(err, errlen, "%s: out of memory", path);
    if (r != AG_OK)
        return r;
    size_t at = 0;
    cJSON *j = fileio_parse_json(buf, len, &at);
    mem_free(buf);
    if (!j) {
        /* cJSON gives no separate signal for running out of memory: both read as invalid */
        snprintf(err, errlen, "%s: not valid JSON near byte %zu", path, at);
        return AG_EINVAL;
    }
    *out = j;
    return AG_OK;
}
