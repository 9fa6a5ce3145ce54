/* clock.h - the time reads every thread shares: monotonic milliseconds, and deadlines for
 * pthread_cond_timedwait and sigtimedwait built one way. */
#ifndef ARCHGATE_CLOCK_H
#define ARCHGATE_CLOCK_H

#include <time.h>

/* CLOCK_MONOTONIC in milliseconds. */
long long clock_mono_ms(void);

/* Add `ms` (>= 0) to *t, keeping tv_nsec below one second. */
void clock_add_ms(struct timespec *t, long long ms);

/* `clock` (CLOCK_MONOTONIC or CLOCK_REALTIME) now, plus `ms`: a deadline for a condition
 * variable that waits on that clock. */
struct timespec clock_deadline(clockid_t clock, long long ms);

#endif
