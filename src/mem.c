/* mem.c - the process allocator wrapper: failure injection and live counts for tests, and the
 * cJSON hooks. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "mem.h"

static atomic_long fail_countdown = -1;   /* -1: never fail */
static atomic_long live;

static int should_fail(void)
{
    long c = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
    if (c < 0)
        return 0;
    if (c == 0)
        return 1;
    atomic_fetch_sub_explicit(&fail_countdown, 1, memory_order_relaxed);
    return 0;
}

void *mem_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    void *p = malloc(n ? n : 1);
    if (p)
        atomic_fetch_add_explicit(&live, 1, memory_order_relaxed);
    return p;
}

void *mem_calloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return NULL;
    void *p = mem_malloc(count * size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

void *mem_realloc(void *p, size_t n)
{
    if (!p)
        return mem_malloc(n);
    if (should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

void mem_free(void *p)
{
    if (!p)
        return;
    atomic_fetch_sub_explicit(&live, 1, memory_order_relaxed);
    free(p);
}

char *mem_strndup(const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *d = mem_malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *mem_strdup(const char *s)
{
    return s ? mem_strndup(s, strlen(s)) : NULL;
}

static void *hook_malloc(size_t n) { return mem_malloc(n); }
static void hook_free(void *p) { mem_free(p); }

void mem_install_cjson_hooks(void)
{
    cJSON_Hooks h = { hook_malloc, hook_free };
    cJSON_InitHooks(&h);
}

void mem_fail_after(long n)
{
    atomic_store(&fail_countdown, n < 0 ? -1 : n);
}

long mem_live(void)
{
    return atomic_load(&live);
}
