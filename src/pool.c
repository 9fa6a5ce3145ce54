/* pool.c - bump allocator in chunks from mem_malloc; one free for everything. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "pool.h"
#include "mem.h"

#define POOL_ALIGN 16

struct chunk {
    struct chunk *next;
    size_t size;        /* usable bytes after the header */
    size_t used;
    _Alignas(16) unsigned char data[];
};

struct pool {
    struct chunk *head;     /* current chunk (newest) */
    size_t chunk_size;
    size_t bytes;
};

struct pool *pool_new(size_t chunk)
{
    struct pool *p = mem_malloc(sizeof *p);
    if (!p)
        return NULL;
    p->head = NULL;
    p->chunk_size = chunk ? chunk : 16 * 1024;
    p->bytes = 0;
    return p;
}

void pool_free(struct pool *p)
{
    if (!p)
        return;
    struct chunk *c = p->head;
    while (c) {
        struct chunk *n = c->next;
        mem_free(c);
        c = n;
    }
    mem_free(p);
}

void pool_reset(struct pool *p)
{
    if (!p)
        return;
    /* keep one chunk of the normal size (oversized blocks are freed), forget the rest */
    struct chunk *c = p->head, *keep = NULL;
    p->head = NULL;
    p->bytes = 0;
    while (c) {
        struct chunk *n = c->next;
        if (!keep && c->size == p->chunk_size) {
            keep = c;
        } else {
            mem_free(c);
        }
        c = n;
    }
    if (keep) {
        keep->used = 0;
        keep->next = NULL;
        p->head = keep;
        p->bytes = keep->size;
    }
}

void *pool_alloc(struct pool *p, size_t n)
{
    if (!p)
        return NULL;
    size_t need = (n + POOL_ALIGN - 1) & ~(size_t)(POOL_ALIGN - 1);
    if (need < n)
        return NULL;
    struct chunk *c = p->head;
    if (!c || c->size - c->used < need) {
        size_t size = need > p->chunk_size ? need : p->chunk_size;
        if (size > SIZE_MAX - sizeof(struct chunk))
            return NULL;
        struct chunk *nc = mem_malloc(sizeof(struct chunk) + size);
        if (!nc)
            return NULL;
        nc->size = size;
        nc->used = 0;
        if (c && need > p->chunk_size) {
            /* an oversized block: put it behind the current chunk so the current one keeps filling */
            nc->next = c->next;
            c->next = nc;
            nc->used = need;
            p->bytes += size;
            return nc->data;
        }
        nc->next = c;
        p->head = nc;
        p->bytes += size;
        c = nc;
    }
    void *r = c->data + c->used;
    c->used += need;
    return r;
}

void *pool_zalloc(struct pool *p, size_t n)
{
    void *r = pool_alloc(p, n);
    if (r)
        memset(r, 0, n);
    return r;
}

char *pool_strndup(struct pool *p, const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *d = pool_alloc(p, n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *pool_strdup(struct pool *p, const char *s)
{
    return s ? pool_strndup(p, s, strlen(s)) : NULL;
}

char *pool_vprintf(struct pool *p, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    char *d = pool_alloc(p, (size_t)n + 1);
    if (!d)
        return NULL;
    vsnprintf(d, (size_t)n + 1, fmt, ap);
    return d;
}

char *pool_printf(struct pool *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *r = pool_vprintf(p, fmt, ap);
    va_end(ap);
    return r;
}

size_t pool_used(const struct pool *p)
{
    size_t n = 0;
    for (const struct chunk *c = p ? p->head : NULL; c; c = c->next)
        n += c->used;
    return n;
}

size_t pool_bytes(const struct pool *p)
{
    return p ? p->bytes : 0;
}
