/* clock.c - monotonic milliseconds and deadlines (clock.h). */
#include "clock.h"

long long clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void clock_add_ms(struct timespec *t, long long ms)
{
    t->tv_sec += (time_t)(ms / 1000);
    t->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t->tv_nsec >= 1000000000L) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000L;
    }
}

struct timespec clock_deadline(clockid_t clock, long long ms)
{
    struct timespec t;
    clock_gettime(clock, &t);
    clock_add_ms(&t, ms);
    return t;
}
