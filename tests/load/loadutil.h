/* loadutil.h - what the soak and fault programs share (tests/load/): clocks, the server's RSS and
 * open descriptors from /proc, latency samples, sample reviews with their expected answers,
 * a raw OpenSSL client for slow and idle connections, and starting archgate on the sample
 * cluster. Built on tests/itest_util.c (the integration tests' launcher and libcurl client). */
#ifndef ARCHGATE_LOADUTIL_H
#define ARCHGATE_LOADUTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <openssl/ssl.h>
#include "itest.h"

#define LU_SAMPLES "manifests/samples"

double lu_now(void);
void lu_sleep_ms(long ms);

/* VmRSS in KiB and the number of open descriptors of a process; -1 when unreadable. */
long lu_rss_kb(pid_t pid);
long lu_fd_count(pid_t pid);

/* Raise RLIMIT_NOFILE (soft) to at least `want` (up to the hard limit); the new soft limit. */
long lu_raise_nofile(long want);

/* Latency samples (seconds), thread-safe, bounded (samples past the cap are dropped). */
struct lu_lat {
    pthread_mutex_t mu;
    double *v;
    size_t n, cap;
};
bool lu_lat_init(struct lu_lat *l, size_t cap);
void lu_lat_add(struct lu_lat *l, double s);
double lu_lat_pct(struct lu_lat *l, double pct);        /* sorts; 0 when empty */
void lu_lat_free(struct lu_lat *l);

/* A sample review for one endpoint, with a fixed-width uid that each request overwrites, and the
 * answer `archgate review` gives for it (the expected verdict and patch). */
#define LU_UID_LEN 36
struct lu_review {
    char name[96];
    const char *path;           /* "/validate" or "/mutate" */
    char *body;                 /* template; uid at body + uid_off */
    size_t len, uid_off;
    bool allowed;
    char *patch;                /* base64 patch expected, NULL when none */
};
/* Load every manifests/samples/reviews/ file (*.json) for both endpoints (at most `max`); the count, 0 on
 * failure. `cluster` is the --cluster-state folder the expected answers come from. */
size_t lu_reviews_load(struct lu_review *out, size_t max, const char *cluster);
void lu_reviews_free(struct lu_review *r, size_t n);
/* A copy of the review body with uid "soak-<tag>-<counter>" padded to LU_UID_LEN (mem_free). */
char *lu_review_body(const struct lu_review *r, unsigned tag, unsigned long counter, char *uid, size_t uidlen);
/* The answer matches: 200 body is an AdmissionReview with this uid, the expected allowed and patch.
 * *stale (optional) is set when the answer carries the stale-view warning. */
bool lu_answer_ok(const struct lu_review *r, const char *uid, const char *body, bool *stale);

/* A raw TLS connection (OpenSSL), for clients libcurl cannot play: slow writers, idle holders. */
SSL_CTX *lu_tls_ctx(const char *ca_file);
struct lu_tls {
    int fd;
    SSL *ssl;
};
/* TCP connect to 127.0.0.1:port and complete the TLS handshake (timeout_ms for both). */
bool lu_tls_open(struct lu_tls *c, SSL_CTX *ctx, unsigned short port, long timeout_ms);
void lu_tls_close(struct lu_tls *c);
/* Write all of buf; false on error. */
bool lu_tls_write(struct lu_tls *c, const void *buf, size_t len);
/* Read one HTTP/1.1 response with a Content-Length body (timeout_ms overall): its status and body
 * (mem_free). False on error, close or timeout. */
bool lu_tls_response(struct lu_tls *c, long timeout_ms, int *status, char **body);
/* True when the peer has closed (or reset) the connection: a read returns EOF or an error
 * within wait_ms. */
bool lu_tls_closed(struct lu_tls *c, long wait_ms);

/* Start `archgate serve` on 127.0.0.1:0 with itest_base's certificate pair (or cert/key when not
 * NULL), --cluster-state `cluster` (NULL: none) and extra flags; waits until ready. */
bool lu_server_start(struct server *s, const char *cert, const char *key, const char *cluster,
                     const char *const *extra);

/* Set up itest_dir (mkdtemp under /tmp with `prefix`) and itest_base certificates; curl init. */
bool lu_setup(const char *prefix);
/* Remove itest_dir unless keep. */
void lu_teardown(bool keep);

#endif
