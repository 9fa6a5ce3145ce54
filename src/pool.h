/* pool.h - a bump allocator: many small allocations, one free.
 *
 * Used for everything that lives exactly as long as one request (the VM facts, the verdict,
 * messages) and for everything that lives as long as one cluster snapshot. Memory comes from
 * mem_malloc in chunks; pool_free releases all of it. Not thread-safe: one owner at a time. */
#ifndef ARCHGATE_POOL_H
#define ARCHGATE_POOL_H

#include <stddef.h>
#include <stdarg.h>

struct pool;

/* NULL on allocation failure. `chunk` is the size of each chunk (0: 16 KiB). */
struct pool *pool_new(size_t chunk);
void pool_free(struct pool *p);            /* NULL is fine */
void pool_reset(struct pool *p);           /* keep the first chunk, forget every allocation */

void *pool_alloc(struct pool *p, size_t n);     /* 16-byte aligned, uninitialised; NULL on failure */
void *pool_zalloc(struct pool *p, size_t n);    /* zeroed */
char *pool_strdup(struct pool *p, const char *s);           /* NULL if s is NULL or on failure */
char *pool_strndup(struct pool *p, const char *s, size_t n);
/* snprintf into the pool; NULL on failure. */
char *pool_printf(struct pool *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *pool_vprintf(struct pool *p, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

size_t pool_bytes(const struct pool *p);   /* bytes of chunks held */
size_t pool_used(const struct pool *p);    /* bytes handed out (alignment included): a pool of one chunk this size holds the same allocations */

#endif
