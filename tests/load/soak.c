/* soak.c - `make soak`: the real build/archgate on the sample cluster under minutes of mixed
 * traffic (valid reviews on both endpoints, malformed bodies, bodies over --max-body with
 * Content-Length and chunked, slow clients writing a request in pieces), sampling its RSS and open
 * descriptors every second. Fails when a valid request is not answered with the right verdict,
 * when descriptors or RSS grow, or when the server dies or does not stop cleanly.
 *
 *   build/soak [SECONDS]        (default $SOAK_SECONDS, else 600) */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "loadutil.h"
#include "mem.h"

#define CLIENTS 3               /* libcurl keep-alive clients (the machine has 2 cores, shared) */
#define SLOW_CLIENTS 1
#define MAX_REVIEWS 32
#define MAX_SAMPLES 7200
#define BIG_BODY (2u * 1024 * 1024)
#define SLOW_PIECES 6
#define SLOW_PIECE_MS 300

enum cat { C_VALID, C_SLOW, C_MALFORMED, C_BIG_CLEN, C_BIG_CHUNKED, C_PROBE, C_COUNT };
static const char *const cat_name[C_COUNT] = {
    "valid reviews (libcurl, keep-alive; 5% on a new connection)",
    "valid reviews from slow clients (6 pieces, 300 ms apart)",
    "malformed (not JSON, wrong apiVersion, no uid, empty, wrong Content-Type): want 400",
    "2 MiB body with Content-Length over --max-body 1MiB: want 413",
    "2 MiB body chunked over --max-body 1MiB: want 413",
    "GET /healthz, /readyz, /metrics: want 200",
};

struct counts {
    atomic_ulong sent, ok, wrong_status, transport, wrong_answer;
};
static struct counts cnt[C_COUNT];
static atomic_int stop_flag;
static struct lu_review reviews[MAX_REVIEWS];
static size_t n_reviews;
static struct server srv;
static char *big;               /* BIG_BODY bytes of a JSON string */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static int logged;

static void note_failure(enum cat c, const char *what, long status, int rc, const char *body)
{
    pthread_mutex_lock(&log_mu);
    if (logged++ < 12)
        fprintf(stderr, "  failure [%s]: %s: status %ld curl %d %.200s\n", cat_name[c], what, status, rc,
                body ? body : "");
    pthread_mutex_unlock(&log_mu);
}

/* Count one exchange of category c that wanted `want` (0: a valid review checked by `r`). */
static void account(enum cat c, bool done, const struct reply *rep, long want, const struct lu_review *r,
                    const char *uid)
{
    atomic_fetch_add(&cnt[c].sent, 1);
    if (!done) {
        atomic_fetch_add(&cnt[c].transport, 1);
        note_failure(c, r ? r->name : "request", rep->status, (int)rep->rc, NULL);
        return;
    }
    long expect = want ? want : 200;
    if (rep->status != expect) {
        atomic_fetch_add(&cnt[c].wrong_status, 1);
        note_failure(c, r ? r->name : "request", rep->status, 0, rep->body);
        return;
    }
    if (r && !lu_answer_ok(r, uid, rep->body, NULL)) {
        atomic_fetch_add(&cnt[c].wrong_answer, 1);
        note_failure(c, r->name, rep->status, 0, rep->body);
        return;
    }
    atomic_fetch_add(&cnt[c].ok, 1);
}

static void *client_main(void *arg)
{
    unsigned tag = (unsigned)(uintptr_t)arg;
    unsigned seed = 0x5eed0000u + tag;
    unsigned long seq = 0;
    CURL *h = client_new(NULL);
    static const char *const malformed[] = {
        "this is not JSON {",
        "{\"apiVersion\":\"admission.k8s.io/v1beta1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"x\"}}",
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"kind\":{}}}",
        "",
    };
    if (!h)
        return NULL;
    while (!atomic_load(&stop_flag)) {
        unsigned dice = (unsigned)rand_r(&seed) % 100;
        struct reply rep;
        bool done;
        memset(&rep, 0, sizeof rep);
        curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, dice % 20 == 0 ? 1L : 0L);
        if (dice < 80) {
            const struct lu_review *r = &reviews[(unsigned)rand_r(&seed) % n_reviews];
            char uid[64];
            char *b = lu_review_body(r, tag, ++seq, uid, sizeof uid);
            done = b && https(h, srv.port, "POST", r->path, "application/json", b, r->len, &rep);
            account(C_VALID, done, &rep, 0, r, uid);
            mem_free(b);
        } else if (dice < 92) {
            unsigned k = (unsigned)rand_r(&seed) % 5;
            const struct lu_review *r = &reviews[0];
            if (k < 4)
                done = https(h, srv.port, "POST", dice & 1 ? "/mutate" : "/validate", "application/json",
                             malformed[k], strlen(malformed[k]), &rep);
            else
                done = https(h, srv.port, "POST", "/validate", "text/plain", r->body, r->len, &rep);
            account(C_MALFORMED, done, &rep, 400, NULL, NULL);
        } else if (dice < 94) {
            done = https(h, srv.port, "POST", "/validate", "application/json", big, BIG_BODY, &rep);
            account(C_BIG_CLEN, done, &rep, 413, NULL, NULL);
        } else if (dice < 96) {
            done = https_ex(h, srv.port, "POST", "/validate", "application/json", big, BIG_BODY, true, 0, false,
                            &rep);
            account(C_BIG_CHUNKED, done, &rep, 413, NULL, NULL);
        } else {
            static const char *const probes[] = { "/healthz", "/readyz", "/metrics" };
            done = https(h, srv.port, "GET", probes[dice % 3], NULL, NULL, 0, &rep);
            account(C_PROBE, done, &rep, 200, NULL, NULL);
        }
        reply_free(&rep);
        lu_sleep_ms(1);         /* leave some CPU to the other work on this machine */
    }
    curl_easy_cleanup(h);
    return NULL;
}

/* A client that writes each request in SLOW_PIECES pieces SLOW_PIECE_MS apart, over a raw TLS
 * connection kept alive for up to five requests. */
static void *slow_main(void *arg)
{
    unsigned tag = 50 + (unsigned)(uintptr_t)arg;
    unsigned seed = 0x51040000u + tag;
    unsigned long seq = 0;
    char ca[600];
    itest_path(ca, sizeof ca, itest_base, "ca.crt");
    SSL_CTX *ctx = lu_tls_ctx(ca);
    struct lu_tls c = { -1, NULL };
    int uses = 0;
    while (ctx && !atomic_load(&stop_flag)) {
        const struct lu_review *r = &reviews[(unsigned)rand_r(&seed) % n_reviews];
        char uid[64], head[256];
        struct reply rep;
        memset(&rep, 0, sizeof rep);
        if (c.ssl && uses >= 5)
            lu_tls_close(&c);
        if (!c.ssl) {
            uses = 0;
            if (!lu_tls_open(&c, ctx, srv.port, 5000)) {
                account(C_SLOW, false, &rep, 0, r, NULL);
                lu_sleep_ms(100);
                continue;
            }
        }
        uses++;
        char *b = lu_review_body(r, tag, ++seq, uid, sizeof uid);
        int hl = snprintf(head, sizeof head,
                          "POST %s?timeout=10s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          "Content-Length: %zu\r\n\r\n", r->path, r->len);
        size_t total = (size_t)hl + r->len;
        char *all = b ? mem_malloc(total) : NULL;
        bool done = all != NULL;
        if (all) {
            memcpy(all, head, (size_t)hl);
            memcpy(all + hl, b, r->len);
            size_t piece = total / SLOW_PIECES + 1;
            for (size_t off = 0; done && off < total; off += piece) {
                if (off)
                    lu_sleep_ms(SLOW_PIECE_MS);
                done = lu_tls_write(&c, all + off, total - off < piece ? total - off : piece);
            }
        }
        int status = 0;
        char *body = NULL;
        done = done && lu_tls_response(&c, 10000, &status, &body);
        rep.status = status;
        rep.body = body;
        account(C_SLOW, done, &rep, 0, r, uid);
        if (!done)
            lu_tls_close(&c);
        mem_free(body);
        mem_free(all);
        mem_free(b);
    }
    lu_tls_close(&c);
    SSL_CTX_free(ctx);
    return NULL;
}

static long median(long *v, size_t n)
{
    long tmp[16];
    if (n == 0)
        return -1;
    if (n > 16)
        n = 16;
    memcpy(tmp, v, n * sizeof *v);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && tmp[j - 1] > tmp[j]; j--) {
            long t = tmp[j];
            tmp[j] = tmp[j - 1];
            tmp[j - 1] = t;
        }
    return tmp[n / 2];
}

int main(int argc, char **argv)
{
    long seconds = 600;
    const char *env = getenv("SOAK_SECONDS");
    const char *arg = argc > 1 ? argv[1] : env;
    if (arg && *arg) {
        char *end = NULL;
        seconds = strtol(arg, &end, 10);
        if (*end || seconds < 10 || seconds > 86400) {
            fprintf(stderr, "soak: want a duration of 10 to 86400 seconds, got '%s'\n", arg);
            return 2;
        }
    }
    if (!lu_setup("soak"))
        return 2;
    int fail = 0;
    pthread_t th[CLIENTS + SLOW_CLIENTS];
    size_t nth = 0;
    static long rss[MAX_SAMPLES], fds[MAX_SAMPLES];
    size_t ns = 0;
    n_reviews = lu_reviews_load(reviews, MAX_REVIEWS, LU_SAMPLES "/cluster");
    big = mem_malloc(BIG_BODY + 1);
    if (n_reviews == 0 || !big) {
        fprintf(stderr, "soak: cannot prepare the reviews\n");
        return 2;
    }
    memset(big, 'a', BIG_BODY);
    big[0] = '"';
    big[BIG_BODY - 1] = '"';
    big[BIG_BODY] = '\0';

    const char *extra[] = { "--max-body", "1MiB", NULL };
    if (!lu_server_start(&srv, NULL, NULL, LU_SAMPLES "/cluster", extra)) {
        fprintf(stderr, "soak: archgate did not start\n");
        return 2;
    }
    lu_sleep_ms(300);
    long fd_idle_before = lu_fd_count(srv.pid), rss_idle = lu_rss_kb(srv.pid);
    double load1 = 0;
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        if (fscanf(la, "%lf", &load1) != 1)
            load1 = 0;
        fclose(la);
    }
    printf("soak: %ld s of mixed traffic against pid %ld on 127.0.0.1:%u (%zu review/endpoint pairs, "
           "%d curl clients, %d slow clients; load average %.2f)\n",
           seconds, (long)srv.pid, (unsigned)srv.port, n_reviews, CLIENTS, SLOW_CLIENTS, load1);
    printf("soak: before traffic: RSS %ld KiB, %ld open fds\n", rss_idle, fd_idle_before);
    fflush(stdout);

    for (int i = 0; i < CLIENTS; i++)
        if (pthread_create(&th[nth], NULL, client_main, (void *)(uintptr_t)i) == 0)
            nth++;
    for (int i = 0; i < SLOW_CLIENTS; i++)
        if (pthread_create(&th[nth], NULL, slow_main, (void *)(uintptr_t)i) == 0)
            nth++;

    double t0 = lu_now();
    bool died = false;
    while (lu_now() - t0 < (double)seconds && ns < MAX_SAMPLES) {
        lu_sleep_ms(1000);
        if (waitpid(srv.pid, NULL, WNOHANG) == srv.pid) {
            died = true;
            srv.pid = 0;
            break;
        }
        rss[ns] = lu_rss_kb(srv.pid);
        fds[ns] = lu_fd_count(srv.pid);
        ns++;
        if (ns % 60 == 0) {
            printf("soak: %4zu s  RSS %ld KiB  fds %ld  valid %lu/%lu\n", ns, rss[ns - 1], fds[ns - 1],
                   atomic_load(&cnt[C_VALID].ok) + atomic_load(&cnt[C_SLOW].ok),
                   atomic_load(&cnt[C_VALID].sent) + atomic_load(&cnt[C_SLOW].sent));
            fflush(stdout);
        }
    }
    double elapsed = lu_now() - t0;
    atomic_store(&stop_flag, 1);
    for (size_t i = 0; i < nth; i++)
        pthread_join(th[i], NULL);
    lu_sleep_ms(1500);          /* let the server close what the clients closed */
    long fd_idle_after = died ? -1 : lu_fd_count(srv.pid), rss_after = died ? -1 : lu_rss_kb(srv.pid);

    printf("\n%-84s %9s %9s %7s %9s %7s\n", "traffic", "sent", "as-wanted", "status", "transport", "answer");
    unsigned long total = 0;
    for (int c = 0; c < C_COUNT; c++) {
        printf("%-84s %9lu %9lu %7lu %9lu %7lu\n", cat_name[c], atomic_load(&cnt[c].sent), atomic_load(&cnt[c].ok),
               atomic_load(&cnt[c].wrong_status), atomic_load(&cnt[c].transport), atomic_load(&cnt[c].wrong_answer));
        total += atomic_load(&cnt[c].sent);
    }
    printf("total %lu requests in %.0f s (%.0f/s)\n", total, elapsed, (double)total / elapsed);

    size_t warm = ns / 10;
    if (ns < 10 || warm + 5 > ns) {
        fprintf(stderr, "soak: too few samples (%zu)\n", ns);
        fail = 1;
    } else {
        long start = median(&rss[warm], 5), end = median(&rss[ns - 5], 5), max = 0;
        for (size_t i = 0; i < ns; i++)
            max = rss[i] > max ? rss[i] : max;
        printf("RSS (KiB): idle %ld; after warm-up (%zu s) %ld; end %ld; max %ld; after traffic %ld; "
               "growth after warm-up %+.1f%%\n",
               rss_idle, warm, start, end, max, rss_after, 100.0 * (double)(end - start) / (double)start);
        printf("RSS curve (KiB, every 10%%):");
        for (int k = 0; k <= 10; k++) {
            size_t i = k == 10 ? ns - 1 : ns * (size_t)k / 10;
            printf(" %ld", rss[i]);
        }
        printf("\nopen fds: idle before %ld; during traffic after warm-up %ld, at the end %ld; idle after %ld\n",
               fd_idle_before, fds[warm], fds[ns - 1], fd_idle_after);
        if ((double)end > (double)start * 1.20 && end - start > 1024) {
            fprintf(stderr, "soak: FAIL: RSS grew by more than 20%% after warm-up\n");
            fail = 1;
        }
        if (fd_idle_after > fd_idle_before + 3) {
            fprintf(stderr, "soak: FAIL: open descriptors grew from %ld to %ld\n", fd_idle_before, fd_idle_after);
            fail = 1;
        }
    }
    unsigned long valid_bad = 0, invalid_accepted = 0;
    for (int c = C_VALID; c <= C_SLOW; c++)
        valid_bad += atomic_load(&cnt[c].sent) - atomic_load(&cnt[c].ok);
    for (int c = C_MALFORMED; c < C_COUNT; c++)
        invalid_accepted += atomic_load(&cnt[c].wrong_status);
    if (valid_bad) {
        fprintf(stderr, "soak: FAIL: %lu valid requests not answered 200 with the expected verdict\n", valid_bad);
        fail = 1;
    }
    if (invalid_accepted) {
        fprintf(stderr, "soak: FAIL: %lu bad requests answered with an unexpected status\n", invalid_accepted);
        fail = 1;
    }
    if (died) {
        fprintf(stderr, "soak: FAIL: archgate exited during the run (log %s)\n", srv.log);
        fail = 1;
    } else {
        double secs = 0;
        int rc = server_stop(&srv, SIGTERM, &secs);
        printf("SIGTERM: exit status %d after %.2f s\n", rc, secs);
        if (rc != 0) {
            fprintf(stderr, "soak: FAIL: archgate did not exit 0 on SIGTERM\n");
            fail = 1;
        }
    }
    printf("soak: %s\n", fail ? "FAILED" : "passed");
    lu_reviews_free(reviews, n_reviews);
    mem_free(big);
    lu_teardown(fail != 0);
    return fail;
}
