/* unit.h - registration of CUnit suites: each tests/test_<module>.c declares its suite with
 * UNIT_SUITE and it is picked up by unit_main.c (no central list to edit). */
#ifndef ARCHGATE_UNIT_H
#define ARCHGATE_UNIT_H

#include <CUnit/CUnit.h>
#include <stddef.h>

struct unit_test { const char *name; void (*fn)(void); };
struct unit_suite {
    const char *name;
    int (*init)(void);
    int (*cleanup)(void);
    const struct unit_test *tests;
    struct unit_suite *next;
};

void unit_register(struct unit_suite *s);

/* UNIT_SUITE(name, init, cleanup, {"test a", fn_a}, {"test b", fn_b}) */
#define UNIT_SUITE(sname, sinit, scleanup, ...)                                     \
    static const struct unit_test unit_tests_[] = { __VA_ARGS__, { NULL, NULL } }; \
    static struct unit_suite unit_suite_ = { sname, sinit, scleanup, unit_tests_, NULL }; \
    __attribute__((constructor)) static void unit_register_(void) { unit_register(&unit_suite_); }

#endif
