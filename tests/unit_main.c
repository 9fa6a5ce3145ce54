/* unit_main.c - runs every registered CUnit suite (unit.h), optionally only those named on the
 * command line, and exits with the number of failures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <CUnit/Basic.h>
#include "unit.h"
#include "testutil.h"

static struct unit_suite *suites;

void unit_register(struct unit_suite *s)
{
    s->next = suites;
    suites = s;
}

static int wanted(const char *name, int argc, char **argv)
{
    if (argc < 2)
        return 1;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    testutil_init();
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    /* Registration order is reversed by the list; add in file order for readable output. */
    struct unit_suite *rev = NULL;
    while (suites) {
        struct unit_suite *n = suites->next;
        suites->next = rev;
        rev = suites;
        suites = n;
    }
    for (struct unit_suite *s = rev; s; s = s->next) {
        if (!wanted(s->name, argc, argv))
            continue;
        CU_pSuite cs = CU_add_suite(s->name, s->init, s->cleanup);
        if (!cs)
            return 2;
        for (const struct unit_test *t = s->tests; t->name; t++)
            if (!CU_add_test(cs, t->name, t->fn))
                return 2;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_tests_failed();
    unsigned run = CU_get_number_of_tests_run();
    int err = CU_get_error();
    testutil_record_totals(run - failed, failed);
    CU_cleanup_registry();
    if (err != CUE_SUCCESS)
        return 2;
    return failed ? 1 : 0;
}
