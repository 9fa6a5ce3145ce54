/* test_pool.c - the bump pool and the allocator under it (failure injection, live counts). */
#include <stdint.h>
#include <string.h>
#include "unit.h"
#include "mem.h"
#include "pool.h"
#include "result.h"

static void test_pool(void)
{
    long live = mem_live();
    struct pool *p = pool_new(64);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    char *a = pool_strdup(p, "hello");
    char *b = pool_printf(p, "%s-%d", a, 42);
    CU_ASSERT_STRING_EQUAL(b, "hello-42");
    void *big = pool_alloc(p, 1000);       /* larger than a chunk */
    CU_ASSERT_PTR_NOT_NULL(big);
    memset(big, 1, 1000);
    char *c = pool_strdup(p, "after");
    CU_ASSERT_STRING_EQUAL(c, "after");
    CU_ASSERT_STRING_EQUAL(a, "hello");
    CU_ASSERT_EQUAL(((uintptr_t)pool_alloc(p, 3)) % 16, 0);
    unsigned char *z = pool_zalloc(p, 32);
    CU_ASSERT_PTR_NOT_NULL_FATAL(z);
    CU_ASSERT_EQUAL(z[0] | z[31], 0);
    CU_ASSERT(pool_bytes(p) >= 1000);
    pool_reset(p);
    CU_ASSERT(pool_bytes(p) <= 64);
    CU_ASSERT_STRING_EQUAL(pool_strndup(p, "abcdef", 3), "abc");
    CU_ASSERT_PTR_NULL(pool_strdup(p, NULL));
    pool_free(p);
    pool_free(NULL);
    CU_ASSERT_EQUAL(mem_live(), live);
}

static void test_allocation_failure(void)
{
    long live = mem_live();
    mem_fail_after(0);
    CU_ASSERT_PTR_NULL(mem_malloc(10));
    CU_ASSERT_PTR_NULL(pool_new(0));
    mem_fail_after(1);
    struct pool *p = pool_new(0);          /* the pool struct succeeds */
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_PTR_NULL(pool_alloc(p, 8));  /* its first chunk fails */
    CU_ASSERT_PTR_NULL(pool_printf(p, "%d", 1));
    mem_fail_after(-1);
    CU_ASSERT_PTR_NOT_NULL(pool_alloc(p, 8));
    pool_free(p);
    CU_ASSERT_PTR_NULL(mem_calloc((size_t)-1, 16));   /* overflow refused */
    char *s = mem_strdup("x");
    CU_ASSERT_STRING_EQUAL(s, "x");
    mem_free(s);
    CU_ASSERT_EQUAL(mem_live(), live);
    CU_ASSERT_STRING_EQUAL(ag_result_name(AG_ETOOBIG), "too big");
}

UNIT_SUITE("pool", NULL, NULL,
           { "pool", test_pool },
           { "allocation failure", test_allocation_failure })
