/* faults.c - `make faults`: the real build/archgate under load through five faults, each printing
 * what was lost (the aim is nothing): certificate rotation by a Secret-style ..data symlink swap;
 * SIGTERM with requests in flight; the stand-in kube-apiserver (build/kubefake_server) killed -9
 * and restarted on the same port; 1,000 idle TLS connections held open; a client writing one byte
 * per second. Prints a table and exits 1 when something that should not be lost was lost.
 *
 *   build/faults [rotation|sigterm|kube|idle|trickle ...]      (default: all, about 2 minutes) */
#include <fcntl.h>
#include <stdarg.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "loadutil.h"
#include "mem.h"
#include "testutil.h"

#define MAX_REVIEWS 32
#define MAX_LOAD_THREADS 8
#define IDLE_CONNS 1000

static struct lu_review reviews[MAX_REVIEWS];
static size_t n_reviews;

/* ---- background load ---------------------------------------------------------------------- */

struct load {
    unsigned short port;
    int threads;
    int fresh_every;            /* a new connection every N requests (0: keep-alive only) */
    long pause_ms;
    atomic_int stop;
    atomic_uint tags;
    atomic_long cut_us;         /* failures of requests started after this (µs, 0: never) are "after" */
    atomic_ulong sent, ok, failed, after, stale;
    struct lu_lat lat;
    pthread_t th[MAX_LOAD_THREADS];
    int started;
};

static long now_us(void)
{
    return (long)(lu_now() * 1e6);
}

static void *load_main(void *arg)
{
    struct load *l = arg;
    unsigned tag = 10 + atomic_fetch_add(&l->tags, 1);
    unsigned seed = 0xfa170000u + tag;
    unsigned long i = 0;
    int logged = 0;
    CURL *h = client_new(NULL);
    while (h && !atomic_load(&l->stop)) {
        const struct lu_review *r = &reviews[(unsigned)rand_r(&seed) % n_reviews];
        char uid[64];
        struct reply rep;
        bool stale = false;
        memset(&rep, 0, sizeof rep);
        char *b = lu_review_body(r, tag, ++i, uid, sizeof uid);
        curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, l->fresh_every && i % (unsigned long)l->fresh_every == 0 ? 1L : 0L);
        long t0 = now_us();
        bool ok = b && https(h, l->port, "POST", r->path, "application/json", b, r->len, &rep) && rep.status == 200 &&
                  lu_answer_ok(r, uid, rep.body, &stale);
        double dt = (double)(now_us() - t0) / 1e6;
        atomic_fetch_add(&l->sent, 1);
        if (ok) {
            atomic_fetch_add(&l->ok, 1);
            lu_lat_add(&l->lat, dt);
            if (stale)
                atomic_fetch_add(&l->stale, 1);
        } else {
            long cut = atomic_load(&l->cut_us);
            if (cut && t0 >= cut) {
                atomic_fetch_add(&l->after, 1);
            } else {
                atomic_fetch_add(&l->failed, 1);
                if (logged++ < 3)
                    fprintf(stderr, "    failed: %s status %ld curl %d %.160s\n", r->name, rep.status, (int)rep.rc,
                            rep.body ? rep.body : "");
            }
        }
        reply_free(&rep);
        mem_free(b);
        if (l->pause_ms)
            lu_sleep_ms(l->pause_ms);
    }
    curl_easy_cleanup(h);
    return NULL;
}

static bool load_start(struct load *l, unsigned short port, int threads, int fresh_every, long pause_ms)
{
    memset(l, 0, sizeof *l);
    l->port = port;
    l->threads = threads > MAX_LOAD_THREADS ? MAX_LOAD_THREADS : threads;
    l->fresh_every = fresh_every;
    l->pause_ms = pause_ms;
    if (!lu_lat_init(&l->lat, 1u << 20))
        return false;
    for (int i = 0; i < l->threads; i++)
        if (pthread_create(&l->th[l->started], NULL, load_main, l) == 0)
            l->started++;
    return l->started == l->threads;
}

static void load_stop(struct load *l)
{
    atomic_store(&l->stop, 1);
    for (int i = 0; i < l->started; i++)
        pthread_join(l->th[i], NULL);
    l->started = 0;
}

/* ---- results ------------------------------------------------------------------------------ */

struct row {
    char fault[48];
    unsigned long sent, failed;
    char notes[640];
    bool lost;
};
static struct row rows[8];
static int n_rows;

static struct row *row_new(const char *fault)
{
    struct row *r = &rows[n_rows++];
    memset(r, 0, sizeof *r);
    snprintf(r->fault, sizeof r->fault, "%s", fault);
    return r;
}

static void row_note(struct row *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void row_note(struct row *r, const char *fmt, ...)
{
    size_t n = strlen(r->notes);
    va_list ap;
    va_start(ap, fmt);
    if (n + 3 < sizeof r->notes) {
        if (n)
            r->notes[n++] = ';', r->notes[n++] = ' ', r->notes[n] = '\0';
        vsnprintf(r->notes + n, sizeof r->notes - n, fmt, ap);
    }
    va_end(ap);
}

static void row_load(struct row *r, struct load *l)
{
    r->sent += atomic_load(&l->sent);
    r->failed += atomic_load(&l->failed);
    if (atomic_load(&l->failed))
        r->lost = true;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static long readyz(unsigned short port, char *text, size_t len)
{
    CURL *h = client_new(NULL);
    struct reply r;
    memset(&r, 0, sizeof r);
    long status = h && https(h, port, "GET", "/readyz", NULL, NULL, 0, &r) ? r.status : -1;
    snprintf(text, len, "%s", r.body ? r.body : "");
    reply_free(&r);
    curl_easy_cleanup(h);
    return status;
}

/* The serial of the certificate a new connection is served; "" on failure. */
static void served_serial(unsigned short port, char *out, size_t len)
{
    CURL *h = client_new(NULL);
    struct reply r;
    memset(&r, 0, sizeof r);
    out[0] = '\0';
    if (h && https_ex(h, port, "GET", "/healthz", NULL, NULL, 0, false, 0, true, &r))
        snprintf(out, len, "%s", r.serial);
    reply_free(&r);
    curl_easy_cleanup(h);
}

/* The sum of every series of a metric (all label sets) from /metrics; -1 on failure. */
static double metric_sum(unsigned short port, const char *name)
{
    CURL *h = client_new(NULL);
    struct reply r;
    double sum = -1;
    size_t n = strlen(name);
    memset(&r, 0, sizeof r);
    if (h && https(h, port, "GET", "/metrics", NULL, NULL, 0, &r) && r.status == 200) {
        sum = 0;
        for (const char *p = r.body; p && *p;) {
            const char *eol = strchr(p, '\n');
            if (strncmp(p, name, n) == 0 && (p[n] == '{' || p[n] == ' ')) {
                const char *sp = strchr(p + n, ' ');
                if (sp && (!eol || sp < eol))
                    sum += strtod(sp + 1, NULL);
            }
            p = eol ? eol + 1 : NULL;
        }
    }
    reply_free(&r);
    curl_easy_cleanup(h);
    return sum;
}

static bool run_sh(const char *cmd)
{
    return system(cmd) == 0;
}

static void print_latency(struct row *r, const char *what, struct lu_lat *lat)
{
    row_note(r, "%s p50 %.2f ms p99 %.2f ms", what, lu_lat_pct(lat, 50) * 1e3, lu_lat_pct(lat, 99) * 1e3);
}

/* ---- 1. certificate rotation -------------------------------------------------------------- */

static void fault_rotation(void)
{
    struct row *row = row_new("certificate rotation");
    char live[400], cmd[2400], crt[500], key[500];
    snprintf(live, sizeof live, "%s/rotation", itest_dir);
    /* Two pairs under the same CA as the clients trust, laid out as a Secret volume. */
    snprintf(cmd, sizeof cmd,
             "set -e; mkdir -p '%s/..a' '%s/..b'; for p in a b; do cp '%s/ca.crt' '%s/ca.key' '%s/..'$p/; "
             "sh certs/gen-certs.sh '%s/..'$p --reuse-ca >/dev/null 2>&1; done; cd '%s'; ln -s ..a ..data; "
             "ln -s ..data/tls.crt tls.crt; ln -s ..data/tls.key tls.key",
             live, live, itest_base, itest_base, live, live, live);
    struct server s;
    struct load l;
    snprintf(crt, sizeof crt, "%s/tls.crt", live);
    snprintf(key, sizeof key, "%s/tls.key", live);
    const char *extra[] = { "--cert-poll-interval", "200ms", NULL };
    if (!run_sh(cmd) || !lu_server_start(&s, crt, key, LU_SAMPLES "/cluster", extra)) {
        row->lost = true;
        row_note(row, "could not set up");
        return;
    }
    char before[160], after[160];
    served_serial(s.port, before, sizeof before);
    load_start(&l, s.port, 3, 2, 2);
    lu_sleep_ms(1000);
    int swaps = 0;
    for (int i = 0; i < 7; i++) {
        snprintf(cmd, sizeof cmd, "cd '%s' && ln -sfn %s ..data_tmp && mv -T ..data_tmp ..data", live,
                 i % 2 == 0 ? "..b" : "..a");
        swaps += run_sh(cmd);
        lu_sleep_ms(1000);
    }
    /* ends on ..b: a new connection must see the other serial */
    double t0 = lu_now();
    after[0] = '\0';
    while (lu_now() - t0 < 10) {
        served_serial(s.port, after, sizeof after);
        if (after[0] && strcmp(after, before) != 0)
            break;
        lu_sleep_ms(100);
    }
    load_stop(&l);
    row_load(row, &l);
    bool changed = after[0] && before[0] && strcmp(after, before) != 0;
    double ok_reloads = server_metric(&s, "archgate_certificate_reloads_total{result=\"success\"}");
    row_note(row, "%d swaps 1 s apart, a new connection every 2nd request; reloads counted %.0f; "
             "serial %s -> %s (%s)", swaps, ok_reloads, before, after, changed ? "new pair served" : "NOT CHANGED");
    print_latency(row, "served", &l.lat);
    if (!changed || swaps != 7)
        row->lost = true;
    int rc = server_stop(&s, SIGTERM, NULL);
    if (rc != 0) {
        row->lost = true;
        row_note(row, "exit status %d", rc);
    }
    lu_lat_free(&l.lat);
}

/* ---- 2. SIGTERM with requests in flight --------------------------------------------------- */

#define INFLIGHT 8

struct slow_arg {
    unsigned short port;
    int idx;
    bool answered;
    long status;
    int rc;
};

static void *slow_upload(void *arg)
{
    struct slow_arg *a = arg;
    const struct lu_review *r = &reviews[(size_t)a->idx % n_reviews];
    char uid[64];
    struct reply rep;
    memset(&rep, 0, sizeof rep);
    CURL *h = client_new(NULL);
    char *b = lu_review_body(r, 90, (unsigned long)a->idx, uid, sizeof uid);
    bool done = h && b && https_ex(h, a->port, "POST", r->path, "application/json", b, r->len, true, 250, false, &rep);
    a->answered = done && rep.status == 200 && lu_answer_ok(r, uid, rep.body, NULL);
    a->status = rep.status;
    a->rc = (int)rep.rc;
    reply_free(&rep);
    mem_free(b);
    curl_easy_cleanup(h);
    return NULL;
}

static void fault_sigterm(void)
{
    struct row *row = row_new("SIGTERM with requests in flight");
    struct server s;
    struct load l;
    const char *extra[] = { "--shutdown-grace", "10s", NULL };
    if (!lu_server_start(&s, NULL, NULL, LU_SAMPLES "/cluster", extra)) {
        row->lost = true;
        row_note(row, "could not start");
        return;
    }
    load_start(&l, s.port, 2, 0, 2);
    lu_sleep_ms(1000);
    struct slow_arg args[INFLIGHT];
    pthread_t th[INFLIGHT];
    int started = 0, base = itest_uploads_started();
    for (int i = 0; i < INFLIGHT; i++) {
        args[i] = (struct slow_arg){ s.port, i, false, 0, 0 };
        if (pthread_create(&th[started], NULL, slow_upload, &args[i]) == 0)
            started++;
    }
    for (int i = 0; i < 200 && itest_uploads_started() - base < started; i++)
        lu_sleep_ms(10);
    lu_sleep_ms(300);           /* every upload has sent its first pieces and waits to send more */
    atomic_store(&l.cut_us, now_us());
    double secs = 0;
    int rc = server_stop(&s, SIGTERM, &secs);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    load_stop(&l);
    int answered = 0;
    for (int i = 0; i < started; i++) {
        answered += args[i].answered;
        if (!args[i].answered)
            fprintf(stderr, "    in flight, not answered: status %ld curl %d\n", args[i].status, args[i].rc);
    }
    row->sent = (unsigned long)started + atomic_load(&l.sent);
    row->failed = (unsigned long)(started - answered) + atomic_load(&l.failed);
    row_note(row, "%d chunked uploads in flight (5 pieces 250 ms apart): %d answered 200 with the right verdict; "
             "keep-alive load: %lu before the signal, %lu failed of those started before it, %lu started after "
             "(refused, expected); exit %d after %.2f s",
             started, answered, atomic_load(&l.ok), atomic_load(&l.failed), atomic_load(&l.after), rc, secs);
    if (answered != started || rc != 0 || started != INFLIGHT)
        row->lost = true;
    if (atomic_load(&l.failed))
        row->lost = true;
    lu_lat_free(&l.lat);
}

/* ---- 3. kube-apiserver killed and restarted ----------------------------------------------- */

static pid_t spawn_kubefake(unsigned short port, const char *log)
{
    char crt[400], key[400], p[16];
    const char *bin = getenv("KUBEFAKE_BIN") ? getenv("KUBEFAKE_BIN") : "build/kubefake_server";
    itest_path(crt, sizeof crt, itest_base, "tls.crt");
    itest_path(key, sizeof key, itest_base, "tls.key");
    snprintf(p, sizeof p, "%u", (unsigned)port);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        _exit(127);
    dup2(fd, 1);
    dup2(fd, 2);
    execl(bin, bin, "--port", p, "--tls-cert", crt, "--tls-key", key, "--cluster", LU_SAMPLES "/cluster",
          "--token", "faults-token", (char *)NULL);
    _exit(127);
}

/* Wait for "kubefake listening on 127.0.0.1:PORT" in log; the port, 0 on failure. */
static unsigned short kubefake_wait(pid_t pid, const char *log)
{
    static const char mark[] = "listening on 127.0.0.1:";
    for (int i = 0; i < 500; i++) {
        char *t = tu_read_file(log, NULL);
        const char *m = t ? strstr(t, mark) : NULL;
        long port = m ? strtol(m + sizeof mark - 1, NULL, 10) : 0;
        mem_free(t);
        if (port > 0 && port < 65536)
            return (unsigned short)port;
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return 0;
        lu_sleep_ms(10);
    }
    return 0;
}

static void fault_kube(void)
{
    struct row *row = row_new("kube-apiserver killed -9, restarted");
    char log[400], kc[400], text[2048], ca[400], body[512] = "";
    snprintf(log, sizeof log, "%s/kubefake.log", itest_dir);
    snprintf(kc, sizeof kc, "%s/kubeconfig", itest_dir);
    itest_path(ca, sizeof ca, itest_base, "ca.crt");
    pid_t kf = spawn_kubefake(0, log);
    unsigned short kport = kf > 0 ? kubefake_wait(kf, log) : 0;
    FILE *f = fopen(kc, "w");
    if (f) {
        fprintf(f,
                "apiVersion: v1\nkind: Config\ncurrent-context: fake\n"
                "clusters:\n- name: fake\n  cluster:\n    server: https://127.0.0.1:%u\n    certificate-authority: %s\n"
                "users:\n- name: archgate\n  user:\n    token: faults-token\n"
                "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: archgate\n",
                (unsigned)kport, ca);
        fclose(f);
    }
    struct server s;
    struct load l;
    const char *extra[] = { "--kubeconfig", kc, "--max-staleness", "2s", NULL };
    if (!kport || !f || !lu_server_start(&s, NULL, NULL, NULL, extra)) {
        row->lost = true;
        row_note(row, "could not set up (kubefake port %u)", (unsigned)kport);
        if (kf > 0) {
            kill(kf, SIGKILL);
            waitpid(kf, NULL, 0);
        }
        return;
    }
    load_start(&l, s.port, 2, 0, 2);
    lu_sleep_ms(2000);
    double restarts0 = metric_sum(s.port, "archgate_kube_watch_restarts_total");
    double errors0 = metric_sum(s.port, "archgate_kube_request_errors_total");
    double relists0 = metric_sum(s.port, "archgate_kube_relists_total");
    kill(kf, SIGKILL);
    waitpid(kf, NULL, 0);
    double t_kill = lu_now(), t_stale = -1, t_restart = -1, t_clear = -1;
    long not_ready = 0, polls = 0;
    /* down for 6 s: longer than --max-staleness 2s, so the stale warning shows */
    while (lu_now() - t_kill < 6) {
        long st = readyz(s.port, text, sizeof text);
        polls++;
        not_ready += st != 200;
        if (t_stale < 0 && strstr(text, "stale")) {
            t_stale = lu_now() - t_kill;
            snprintf(body, sizeof body, "%.400s", text);
            body[strcspn(body, "\r\n")] = '\0';
        }
        lu_sleep_ms(200);
    }
    unsigned long stale_answers = atomic_load(&l.stale);
    snprintf(log, sizeof log, "%s/kubefake-2.log", itest_dir);
    kf = spawn_kubefake(kport, log);
    unsigned short again = kf > 0 ? kubefake_wait(kf, log) : 0;
    t_restart = lu_now();
    while (again && lu_now() - t_restart < 45) {
        long st = readyz(s.port, text, sizeof text);
        polls++;
        not_ready += st != 200;
        if (st == 200 && !strstr(text, "stale")) {
            t_clear = lu_now() - t_restart;
            break;
        }
        lu_sleep_ms(100);
    }
    /* answers lose the warning too */
    unsigned long stale_mark = atomic_load(&l.stale);
    lu_sleep_ms(500);
    bool warning_gone = atomic_load(&l.stale) == stale_mark;
    double restarts1 = metric_sum(s.port, "archgate_kube_watch_restarts_total");
    double errors1 = metric_sum(s.port, "archgate_kube_request_errors_total");
    double relists1 = metric_sum(s.port, "archgate_kube_relists_total");
    load_stop(&l);
    row_load(row, &l);
    row_note(row, "down 6 s (--max-staleness 2s): /readyz said stale %.1f s after the kill (\"%.60s\"), "
             "%lu answers carried the stale warning, /readyz not 200 in %ld of %ld polls; restarted on port %u: "
             "%s%.1f s after the restart; warning gone from answers: %s; kube metrics before -> after: "
             "request errors %.0f -> %.0f, watch restarts %.0f -> %.0f, relists %.0f -> %.0f",
             t_stale, body, stale_answers, not_ready, polls, (unsigned)again,
             t_clear >= 0 ? "stale note cleared " : "NOT RECOVERED within 45 s", t_clear >= 0 ? t_clear : 45.0,
             warning_gone ? "yes" : "NO", errors0, errors1, restarts0, restarts1, relists0, relists1);
    print_latency(row, "served", &l.lat);
    if (t_clear < 0 || !warning_gone || not_ready > 0 || t_stale < 0 || !again)
        row->lost = true;
    int rc = server_stop(&s, SIGTERM, NULL);
    if (rc != 0) {
        row->lost = true;
        row_note(row, "archgate exit status %d", rc);
    }
    if (kf > 0) {
        kill(kf, SIGTERM);
        if (waitpid(kf, NULL, 0) != kf)
            row_note(row, "kubefake did not stop");
    }
    lu_lat_free(&l.lat);
}

/* ---- 4. 1,000 idle connections ------------------------------------------------------------ */

static void fault_idle(void)
{
    struct row *row = row_new("1,000 idle TLS connections");
    long lim = lu_raise_nofile(IDLE_CONNS * 2 + 256);
    if (lim < IDLE_CONNS + 200) {
        row_note(row, "skipped: RLIMIT_NOFILE is %ld", lim);
        return;
    }
    struct server s;
    struct load l;
    const char *extra[] = { "--max-connections", "2048", NULL };
    char ca[400];
    itest_path(ca, sizeof ca, itest_base, "ca.crt");
    SSL_CTX *ctx = lu_tls_ctx(ca);
    struct lu_tls *conns = mem_calloc(IDLE_CONNS, sizeof *conns);
    if (!ctx || !conns || !lu_server_start(&s, NULL, NULL, LU_SAMPLES "/cluster", extra)) {
        row->lost = true;
        row_note(row, "could not set up");
        SSL_CTX_free(ctx);
        mem_free(conns);
        return;
    }
    long fd0 = lu_fd_count(s.pid), rss0 = lu_rss_kb(s.pid);
    /* baseline: the same load with no idle connection */
    load_start(&l, s.port, 2, 10, 2);
    lu_sleep_ms(3000);
    load_stop(&l);
    row_load(row, &l);
    print_latency(row, "without idle connections", &l.lat);
    lu_lat_free(&l.lat);

    double t0 = lu_now();
    int opened = 0;
    for (int i = 0; i < IDLE_CONNS; i++) {
        conns[i].fd = -1;
        opened += lu_tls_open(&conns[i], ctx, s.port, 5000);
    }
    double t_open = lu_now() - t0;
    lu_sleep_ms(300);
    long fd1 = lu_fd_count(s.pid), rss1 = lu_rss_kb(s.pid);
    load_start(&l, s.port, 2, 10, 2);
    lu_sleep_ms(5000);
    load_stop(&l);
    row_load(row, &l);
    int still = 0;
    for (int i = 0; i < IDLE_CONNS; i++)
        still += conns[i].ssl && !lu_tls_closed(&conns[i], 0);
    for (int i = 0; i < IDLE_CONNS; i++)
        lu_tls_close(&conns[i]);
    lu_sleep_ms(1000);
    long fd2 = lu_fd_count(s.pid);
    row_note(row, "%d of %d opened (TLS handshake done) in %.1f s, %d still open after the load; server fds %ld -> %ld "
             "-> %ld after closing, RSS %ld -> %ld KiB",
             opened, IDLE_CONNS, t_open, still, fd0, fd1, fd2, rss0, rss1);
    print_latency(row, "with them held (keep-alive, every 10th request on a new connection)", &l.lat);
    if (opened < IDLE_CONNS || still < opened || fd2 > fd0 + 3)
        row->lost = true;
    lu_lat_free(&l.lat);
    int rc = server_stop(&s, SIGTERM, NULL);
    if (rc != 0) {
        row->lost = true;
        row_note(row, "exit status %d", rc);
    }
    mem_free(conns);
    SSL_CTX_free(ctx);
}

/* ---- 5. one byte per second ---------------------------------------------------------------- */

#define TRICKLE_S 12

static void fault_trickle(void)
{
    struct row *row = row_new("client sending 1 byte/s");
    struct server s;
    struct load l;
    const char *extra[] = { "--idle-timeout", "5s", NULL };
    char ca[400];
    itest_path(ca, sizeof ca, itest_base, "ca.crt");
    SSL_CTX *ctx = lu_tls_ctx(ca);
    if (!ctx || !lu_server_start(&s, NULL, NULL, LU_SAMPLES "/cluster", extra)) {
        row->lost = true;
        row_note(row, "could not set up");
        SSL_CTX_free(ctx);
        return;
    }
    struct lu_tls trickle = { -1, NULL }, silent = { -1, NULL };
    bool t_ok = lu_tls_open(&trickle, ctx, s.port, 5000);
    bool s_ok = lu_tls_open(&silent, ctx, s.port, 5000);
    double t0 = lu_now(), silent_closed = -1, trickle_closed = -1;
    load_start(&l, s.port, 2, 0, 2);
    static const char req[] = "POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                              "Content-Length: 2\r\n\r\n{}";
    int sent_bytes = 0;
    double t_last = t0;
    /* one byte a second for TRICKLE_S seconds, watching both connections */
    while (t_ok && trickle_closed < 0 && sent_bytes < TRICKLE_S && sent_bytes < (int)sizeof req - 1) {
        if (!lu_tls_write(&trickle, req + sent_bytes, 1)) {
            trickle_closed = lu_now() - t0;
            break;
        }
        sent_bytes++;
        double step = lu_now();
        t_last = step;
        if (lu_tls_closed(&trickle, 0))
            trickle_closed = lu_now() - t0;
        while (lu_now() - step < 1.0) {
            if (s_ok && silent_closed < 0 && lu_tls_closed(&silent, 100))
                silent_closed = lu_now() - t0;
            else
                lu_sleep_ms(silent_closed < 0 ? 0 : 100);
        }
    }
    double last_byte = t_last - t0, after_last = -1;
    if (t_ok && trickle_closed < 0 && lu_tls_closed(&trickle, 15000))
        after_last = lu_now() - t_last;
    if (s_ok && silent_closed < 0 && lu_tls_closed(&silent, 1000))
        silent_closed = lu_now() - t0;
    load_stop(&l);
    row_load(row, &l);
    print_latency(row, "others served", &l.lat);
    if (trickle_closed >= 0)
        row_note(row, "the trickling client was closed after %.1f s (%d bytes sent)", trickle_closed, sent_bytes);
    else
        row_note(row, "the trickling client was NOT closed while it sent (%d bytes over %.0f s: each byte resets the "
                 "idle timer); closed %.1f s after its last byte (--idle-timeout 5s)",
                 sent_bytes, last_byte, after_last);
    row_note(row, "a connection that sent nothing was closed after %.1f s", silent_closed);
    if (!t_ok || !s_ok || silent_closed < 0 || silent_closed > 8 || (trickle_closed < 0 && (after_last < 0 || after_last > 8)))
        row->lost = true;
    lu_tls_close(&trickle);
    lu_tls_close(&silent);
    int rc = server_stop(&s, SIGTERM, NULL);
    if (rc != 0) {
        row->lost = true;
        row_note(row, "exit status %d", rc);
    }
    SSL_CTX_free(ctx);
    lu_lat_free(&l.lat);
}

/* ---- main ----------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    void (*fn)(void);
} faults[] = {
    { "rotation", fault_rotation }, { "sigterm", fault_sigterm }, { "kube", fault_kube },
    { "idle", fault_idle },         { "trickle", fault_trickle },
};

int main(int argc, char **argv)
{
    size_t nf = sizeof faults / sizeof faults[0];
    for (int i = 1; i < argc; i++) {
        size_t k = 0;
        while (k < nf && strcmp(argv[i], faults[k].name) != 0)
            k++;
        if (k == nf) {
            fprintf(stderr, "usage: %s [rotation|sigterm|kube|idle|trickle ...]\n", argv[0]);
            return 2;
        }
    }
    /* raised before any server starts: archgate inherits the limit */
    lu_raise_nofile(IDLE_CONNS * 2 + 256);
    if (!lu_setup("faults"))
        return 2;
    n_reviews = lu_reviews_load(reviews, MAX_REVIEWS, LU_SAMPLES "/cluster");
    if (n_reviews == 0)
        return 2;
    double load1 = 0;
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        if (fscanf(la, "%lf", &load1) != 1)
            load1 = 0;
        fclose(la);
    }
    printf("faults: load average %.2f at start\n", load1);
    double t0 = lu_now();
    for (size_t k = 0; k < nf; k++) {
        bool want = argc < 2;
        for (int i = 1; i < argc; i++)
            want = want || strcmp(argv[i], faults[k].name) == 0;
        if (!want)
            continue;
        double t = lu_now();
        printf("faults: %s ...\n", faults[k].name);
        fflush(stdout);
        faults[k].fn();
        printf("faults: %s done in %.1f s\n", faults[k].name, lu_now() - t);
        fflush(stdout);
    }
    int lost = 0;
    printf("\n%-38s %8s %7s  %s\n", "fault", "requests", "failed", "notes");
    for (int i = 0; i < n_rows; i++) {
        printf("%-38s %8lu %7lu  %s%s\n", rows[i].fault, rows[i].sent, rows[i].failed, rows[i].lost ? "LOST: " : "",
               rows[i].notes);
        lost += rows[i].lost;
    }
    printf("faults: %s in %.0f s\n", lost ? "FAILED" : "nothing lost", lu_now() - t0);
    lu_reviews_free(reviews, n_reviews);
    lu_teardown(lost != 0);
    return lost ? 1 : 0;
}
