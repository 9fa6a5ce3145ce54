/* test_pool.c - the bump pool and the allocator under it (failure injection, live counts). */
#include <stdint.h>
#include <string.h>
#include <time.h>
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

/* Wait up to 5 s for the trimmer to have made `n` trims. */
static bool trims_reach(unsigned long long n)
{
    for (int i = 0; i < 500 && mem_trims() < n; i++)
        nanosleep(&(struct timespec){ 0, 10000000L }, NULL);
    return mem_trims() >= n;
}

/* The trimmer: nothing without it; a request is served; one made during the pause after a trim
 * is served after it, not dropped; many such requests make one trim; stop and start again. */
static void test_trimmer(void)
{
    unsigned long long t0 = mem_trims();
    mem_give_back();
    nanosleep(&(struct timespec){ 0, 50000000L }, NULL);
    CU_ASSERT_EQUAL(mem_trims(), t0);
    CU_ASSERT_TRUE_FATAL(mem_trimmer_start());
    CU_ASSERT_TRUE(mem_trimmer_start());            /* already running: fine, no second thread */
    CU_ASSERT_TRUE(trims_reach(t0 + 1));            /* the request made before the start */
    CU_ASSERT_EQUAL(mem_trims(), t0 + 1);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    mem_give_back();                                /* within the second after a trim */
    mem_give_back();
    mem_give_back();
    CU_ASSERT_TRUE(trims_reach(t0 + 2));
    clock_gettime(CLOCK_MONOTONIC, &b);
    double waited = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    CU_ASSERT(waited >= 0.5);                       /* held back until the second was over */
    nanosleep(&(struct timespec){ 0, 300000000L }, NULL);
    CU_ASSERT_EQUAL(mem_trims(), t0 + 2);           /* three requests, one trim */
    mem_trimmer_stop();
    mem_give_back();
    nanosleep(&(struct timespec){ 0, 50000000L }, NULL);
    CU_ASSERT_EQUAL(mem_trims(), t0 + 2);
    CU_ASSERT_TRUE_FATAL(mem_trimmer_start());
    mem_give_back();
    CU_ASSERT_TRUE(trims_reach(t0 + 3));
    mem_trimmer_stop();
}

UNIT_SUITE("pool", NULL, NULL,
           { "pool", test_pool },
           { "allocation failure", test_allocation_failure },
           { "trimmer: asked, served once a second, never dropped", test_trimmer })
