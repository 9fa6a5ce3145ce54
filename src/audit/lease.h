/* lease.h - leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics:
 * the holder renews every retry period; it stops leading when it has not renewed for the renew
 * deadline; a follower takes the Lease over when the record it last saw has not changed for
 * the lease duration (measured on its own clock, as client-go does); the leader gives the Lease
 * up (empty holderIdentity) when stopped with release. Updates use the Lease's
 * resourceVersion, so two candidates never both win (the loser gets 409 Conflict). */
#ifndef ARCHGATE_AUDIT_LEASE_H
#define ARCHGATE_AUDIT_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include "kube_client.h"
#include "result.h"

/* client-go's defaults (LeaseDuration, RenewDeadline, RetryPeriod). */
#define LEASE_DURATION_MS       15000u
#define LEASE_RENEW_DEADLINE_MS 10000u
#define LEASE_RETRY_MS          2000u

/* Tests only: "DURATION_MS,RENEW_MS,RETRY_MS" in this environment variable shortens the timings
 * (each from 100 ms, duration > renew deadline > retry). */
#define LEASE_TIMINGS_ENV "ARCHGATE_TEST_LEASE_TIMINGS_MS"

struct lease_opts {
    const struct kube_config *cfg;
    const char *ns, *name, *identity;
    unsigned duration_ms, renew_deadline_ms, retry_ms;
    void (*on_change)(bool leading);    /* called on the lease thread when leadership changes (may be NULL) */
};

/* Fill the timings: client-go's defaults, or LEASE_TIMINGS_ENV when set and valid. */
void lease_timings(struct lease_opts *o);

enum ag_result lease_start(const struct lease_opts *o, char *err, size_t errlen);
/* Stop the thread; with release, a leader gives the Lease up first so a follower takes over at
 * its next retry. Fine when not started. */
void lease_stop(bool release);
bool lease_leading(void);

#endif
