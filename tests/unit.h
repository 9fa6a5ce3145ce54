/* unit.h - registration of CUnit suites: each tests/test_<module>.c declares its suite with
 * UNIT_SUITE and it is picked up by unit_main.c (no central list to edit). */
#ifndef ARCHGATE_UNIT_H
#define ARCHGATE_UNIT_H

#include <CUnit/CUnit.h>
#include <stddef.h>
#include <stdio.h>

struct unit_test { const char *name; void (*fn)(void); };
struct unit_suite {
    const char *name;
    int (*init)(void);
    int (*cleanup)(void);
    const struct unit_test *tests;
    struct unit_suite *next;
};

void unit_register(struct unit_suite *s);

/* An assertion inside a table loop that names the case: "case 3 (name): cond". */
#define CASE_ASSERT(cond, idx, what)                                                            \
    do {                                                                                        \
        char msg_[256];                                                                         \
        snprintf(msg_, sizeof msg_, "case %zu (%.120s): %.100s", (size_t)(idx), (what), #cond); \
        CU_assertImplementation((cond) ? CU_TRUE : CU_FALSE, __LINE__, msg_, __FILE__, "", CU_FALSE); \
    } while (0)

/* UNIT_SUITE(name, init, cleanup, {"test a", fn_a}, {"test b", fn_b}) */
#define UNIT_SUITE(sname, sinit, scleanup, ...)                                     \
    static const struct unit_test unit_tests_[] = { __VA_ARGS__, { NULL, NULL } }; \
    static struct unit_suite unit_suite_ = { sname, sinit, scleanup, unit_tests_, NULL }; \
    __attribute__((constructor)) static void unit_register_(void) { unit_register(&unit_suite_); }

#endif
