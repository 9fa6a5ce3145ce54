/* itest_main.c - runs the integration suites (tests/itest_*.c, registered with UNIT_SUITE): the
 * real build/archgate over TLS on 127.0.0.1. Sets up a temporary folder with development
 * certificates first, removes it at the end, and exits with the number of failures. */
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <CUnit/Basic.h>
#include <curl/curl.h>
#include "itest.h"
#include "unit.h"
#include "testutil.h"

char itest_dir[256];
char itest_base[300];

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
    signal(SIGPIPE, SIG_IGN);
    if (access("build/archgate", X_OK) != 0 && !getenv("ARCHGATE_BIN")) {
        fprintf(stderr, "itest: build/archgate not found (run from the repository root after make)\n");
        return 2;
    }
    snprintf(itest_dir, sizeof itest_dir, "/tmp/archgate-itest.XXXXXX");
    if (!mkdtemp(itest_dir)) {
        perror("itest: mkdtemp");
        return 2;
    }
    snprintf(itest_base, sizeof itest_base, "%s/base", itest_dir);
    if (!itest_gen_certs(itest_base, "")) {
        fprintf(stderr, "itest: certs/gen-certs.sh failed\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
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
    curl_global_cleanup();
    if (failed == 0 && !getenv("ARCHGATE_ITEST_KEEP"))
        tu_rmtree(itest_dir);
    else
        fprintf(stderr, "itest: logs and certificates kept in %s\n", itest_dir);
    if (err != CUE_SUCCESS)
        return 2;
    return failed ? 1 : 0;
}
