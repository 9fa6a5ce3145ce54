/* test_arch.c - architecture names (GOARCH and uname spellings) and architecture sets. */
#include <string.h>
#include "unit.h"
#include "arch.h"

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

UNIT_SUITE("arch", NULL, NULL,
           { "architecture names", test_arch_parse },
           { "architecture sets", test_arch_sets })
