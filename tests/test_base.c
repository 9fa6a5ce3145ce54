/* test_base.c - the small shared modules: architecture names and sets, the pool, the allocator. */
#include <stdint.h>
#include <string.h>
#include "unit.h"
#include "arch.h"
#include "mem.h"
#include "pool.h"
#include "result.h"

static void test_arch_parse(void)
{
    static const struct { const char *in; int want; } cases[] = {
        { "amd64", ARCH_AMD64 }, { "x86_64", ARCH_AMD64 }, { "AMD64", ARCH_AMD64 }, { "arm64", ARCH_ARM64 },
        { "aarch64", ARCH_ARM64 }, { "AArch64", ARCH_ARM64 }, { "s390x", ARCH_S390X }, { "ppc64le", ARCH_PPC64LE },
        { "riscv64", ARCH_RISCV64 }, { "", ARCH_NONE }, { "sparc", ARCH_NONE }, { "amd64 ", ARCH_NONE },
        { NULL, ARCH_NONE },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CU_ASSERT_EQUAL(arch_parse(cases[i].in), cases[i].want);
    CU_ASSERT_STRING_EQUAL(arch_name(ARCH_ARM64), "arm64");
    CU_ASSERT_STRING_EQUAL(arch_name(ARCH_NONE), "unknown");
    CU_ASSERT_STRING_EQUAL(arch_name(ARCH_COUNT), "unknown");
    CU_ASSERT_TRUE(arch_is_vm_capable(ARCH_S390X));
    CU_ASSERT_FALSE(arch_is_vm_capable(ARCH_PPC64LE));
}

static void test_arch_sets(void)
{
    archset s = 0;
    char buf[64];
    CU_ASSERT_TRUE(arch_set_parse_list("arm64, x86_64 ,s390x", &s));
    CU_ASSERT_EQUAL(s, arch_bit(ARCH_AMD64) | arch_bit(ARCH_ARM64) | arch_bit(ARCH_S390X));
    CU_ASSERT_STRING_EQUAL(arch_set_format(s, buf, sizeof buf), "amd64, arm64, s390x");
    CU_ASSERT_EQUAL(arch_set_count(s), 3);
    CU_ASSERT_EQUAL(arch_set_single(s), ARCH_NONE);
    CU_ASSERT_EQUAL(arch_set_single(arch_bit(ARCH_ARM64)), ARCH_ARM64);
    CU_ASSERT_STRING_EQUAL(arch_set_format(0, buf, sizeof buf), "none");
    archset keep = arch_bit(ARCH_ARM);
    s = keep;
    CU_ASSERT_FALSE(arch_set_parse_list("amd64,sparc", &s));
    CU_ASSERT_FALSE(arch_set_parse_list("", &s));
    CU_ASSERT_FALSE(arch_set_parse_list(" , ,", &s));
    CU_ASSERT_FALSE(arch_set_parse_list("averyveryveryveryverylongarchitecturename", &s));
    CU_ASSERT_FALSE(arch_set_parse_list(NULL, &s));
    CU_ASSERT_EQUAL(s, keep);
    CU_ASSERT_TRUE(arch_set_parse_list("amd64,,amd64", &s));
    CU_ASSERT_EQUAL(s, arch_bit(ARCH_AMD64));
    /* truncation never overflows */
    char tiny[8];
    arch_set_format(arch_bit(ARCH_AMD64) | arch_bit(ARCH_ARM64), tiny, sizeof tiny);
    CU_ASSERT(strlen(tiny) < sizeof tiny);
}

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

UNIT_SUITE("base", NULL, NULL,
           { "architecture names", test_arch_parse },
           { "architecture sets", test_arch_sets },
           { "pool", test_pool },
           { "allocation failure", test_allocation_failure })
