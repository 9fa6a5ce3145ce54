/* test_clock.c - deadlines carry into the seconds; monotonic milliseconds do not go back. */
#include <time.h>
#include "unit.h"
#include "clock.h"

static void test_add_ms(void)
{
    struct timespec t = { 5, 999999999L };
    clock_add_ms(&t, 1999);
    CU_ASSERT_EQUAL(t.tv_sec, 7);
    CU_ASSERT_EQUAL(t.tv_nsec, 998999999L);
    struct timespec u = { 1, 0 };
    clock_add_ms(&u, 0);
    CU_ASSERT_EQUAL(u.tv_sec, 1);
    CU_ASSERT_EQUAL(u.tv_nsec, 0);
    clock_add_ms(&u, 86400LL * 1000 * 30);      /* a month: no overflow of the milliseconds */
    CU_ASSERT_EQUAL(u.tv_sec, 1 + 86400L * 30);
}

static void test_deadline(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct timespec d = clock_deadline(CLOCK_REALTIME, 2500);
    double ahead = (double)(d.tv_sec - now.tv_sec) + (double)(d.tv_nsec - now.tv_nsec) / 1e9;
    CU_ASSERT(ahead >= 2.5 && ahead < 3.5);
    CU_ASSERT(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L);
    long long a = clock_mono_ms();
    nanosleep(&(struct timespec){ 0, 20000000L }, NULL);
    CU_ASSERT(clock_mono_ms() - a >= 20);
}

UNIT_SUITE("clock", NULL, NULL,
           { "clock_add_ms carries into the seconds", test_add_ms },
           { "deadlines and monotonic milliseconds", test_deadline })
