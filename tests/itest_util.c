/* itest_util.c - what the integration tests share: starting and stopping the real binary,
 * certificates from certs/gen-certs.sh, HTTPS requests through libcurl, metrics look-ups. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "itest.h"
#include "kube_store.h"
#include "kubefake.h"
#include "mem.h"
#include "testutil.h"

static const char *bin_path(void)
{
    const char *b = getenv("ARCHGATE_BIN");
    return b && *b ? b : "build/archgate";
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void itest_path(char *buf, size_t len, const char *dir, const char *name)
{
    snprintf(buf, len, "%s/%s", dir, name);
}

bool itest_gen_certs(const char *outdir, const char *extra)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "sh certs/gen-certs.sh '%s' %s >/dev/null 2>&1", outdir, extra ? extra : "");
    return system(cmd) == 0;
}

/* fork + exec archgate with stdout/stderr to `log`; argv without argv[0]. */
static pid_t spawn(const char *const *args, const char *in_path, const char *out_path, const char *err_path)
{
    const char *argv[64];
    size_t n = 0;
    argv[n++] = bin_path();
    for (size_t i = 0; args[i] && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    int e = strcmp(out_path, err_path) == 0 ? o : open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    int i = open(in_path ? in_path : "/dev/null", O_RDONLY);
    if (o < 0 || e < 0 || i < 0)
        _exit(127);
    dup2(i, 0);
    dup2(o, 1);
    dup2(e, 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execv(argv[0], (char *const *)argv);
    _exit(127);
}

static int wait_exit(pid_t pid, double timeout_s)
{
    double deadline = now_s() + timeout_s;
    int st = 0;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        if (r < 0)
            return -1;
        if (now_s() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        sleep_ms(5);
    }
}

static unsigned short port_from_log(const char *path)
{
    static const char mark[] = "serving on 127.0.0.1:";
    char *text = tu_read_file(path, NULL);
    unsigned short port = 0;
    const char *p = text ? strstr(text, mark) : NULL;
    if (p) {
        char *end = NULL;
        long v = strtol(p + sizeof mark - 1, &end, 10);
        if (end != p + sizeof mark - 1 && v > 0 && v < 65536)
            port = (unsigned short)v;
    }
    mem_free(text);
    return port;
}

bool server_launch(struct server *s, const char *const *args, bool wait_ready)
{
    static atomic_int seq;
    memset(s, 0, sizeof *s);
    snprintf(s->log, sizeof s->log, "%s/server-%d.log", itest_dir, atomic_fetch_add(&seq, 1));
    s->pid = spawn(args, NULL, s->log, s->log);
    if (s->pid < 0)
        return false;
    double deadline = now_s() + 5;
    while (!s->port && now_s() < deadline) {
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            s->pid = 0;
            return false;
        }
        sleep_ms(10);
        s->port = port_from_log(s->log);
    }
    if (!wait_ready && s->port)
        return true;
    CURL *h = client_new(NULL);
    bool ready = false;
    while (s->port && h && now_s() < deadline && !ready) {
        struct reply r;
        ready = https(h, s->port, "GET", "/readyz", NULL, NULL, 0, &r) && r.status == 200;
        reply_free(&r);
        if (!ready)
            sleep_ms(20);
    }
    curl_easy_cleanup(h);
    if (!ready) {
        fprintf(stderr, "server did not become ready; log %s\n", s->log);
        server_stop(s, SIGKILL, NULL);
    }
    return ready;
}

bool server_start(struct server *s, const char *cert, const char *key, const char *const *extra)
{
    const char *args[48] = { "serve", "--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key,
                             "--cluster-state", ITEST_EXAMPLE "/cluster", "--cert-poll-interval", "200ms" };
    size_t n = 11;
    for (size_t i = 0; extra && extra[i] && n < 47; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    return server_launch(s, args, true);
}

int server_stop(struct server *s, int sig, double *seconds)
{
    if (s->pid <= 0)
        return -1;
    double t0 = now_s();
    kill(s->pid, sig);
    int rc = wait_exit(s->pid, 10);
    if (seconds)
        *seconds = now_s() - t0;
    s->pid = 0;
    return rc;
}

int itest_run(const char *const *args, char *out, size_t outlen, char *err, size_t errlen)
{
    return itest_run_stdin(args, NULL, out, outlen, err, errlen);
}

int itest_run_stdin(const char *const *args, const char *in_path, char *out, size_t outlen, char *err,
                    size_t errlen)
{
    static atomic_int seq;
    char op[512], ep[512];
    int id = atomic_fetch_add(&seq, 1);
    snprintf(op, sizeof op, "%s/run-%d.out", itest_dir, id);
    snprintf(ep, sizeof ep, "%s/run-%d.err", itest_dir, id);
    pid_t pid = spawn(args, in_path, op, ep);
    if (pid < 0)
        return -1;
    int rc = wait_exit(pid, 10);
    char *o = tu_read_file(op, NULL), *e = tu_read_file(ep, NULL);
    snprintf(out, outlen, "%s", o ? o : "");
    snprintf(err, errlen, "%s", e ? e : "");
    mem_free(o);
    mem_free(e);
    return rc;
}

/* ---- libcurl ---------------------------------------------------------------------------- */

CURL *client_new(const char *ca)
{
    char path[600];
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    if (!ca) {
        itest_path(path, sizeof path, itest_base, "ca.crt");
        ca = path;
    }
    curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    return h;
}

struct sink { char *buf; size_t len, cap; };

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct sink *s = arg;
    size_t n = size * nmemb;
    if (s->len + n + 1 > s->cap) {
        size_t ncap = s->cap ? s->cap : 4096;
        while (ncap < s->len + n + 1)
            ncap *= 2;
        if (ncap > 16 * 1024 * 1024)
            return 0;
        char *nb = mem_realloc(s->buf, ncap);
        if (!nb)
            return 0;
        s->buf = nb;
        s->cap = ncap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    s->buf[s->len] = '\0';
    return n;
}

static void header_value(const char *line, size_t n, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return;
    const char *v = line + nl + 1;
    const char *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    snprintf(out, outlen, "%.*s", (int)(end - v), v);
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    struct reply *r = arg;
    size_t n = size * nmemb;
    header_value(data, n, "Content-Type", r->ctype, sizeof r->ctype);
    header_value(data, n, "Allow", r->allow, sizeof r->allow);
    header_value(data, n, "Connection", r->connection, sizeof r->connection);
    return n;
}

struct upload {
    const char *data;
    size_t len, off;
    long delay_ms;
    int pieces;
};

static atomic_int uploads_started;

int itest_uploads_started(void)
{
    return atomic_load(&uploads_started);
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *arg)
{
    struct upload *u = arg;
    size_t room = size * nmemb;
    if (u->off >= u->len)
        return 0;
    if (u->off == 0)
        atomic_fetch_add(&uploads_started, 1);
    if (u->delay_ms > 0 && u->off > 0)
        sleep_ms(u->delay_ms);
    size_t piece = u->delay_ms > 0 ? u->len / 5 + 1 : u->len;
    size_t n = u->len - u->off;
    if (n > piece)
        n = piece;
    if (n > room)
        n = room;
    memcpy(buf, u->data + u->off, n);
    u->off += n;
    u->pieces++;
    return n;
}

static void certinfo(CURL *h, struct reply *r)
{
    struct curl_certinfo *ci = NULL;
    if (curl_easy_getinfo(h, CURLINFO_CERTINFO, &ci) != CURLE_OK || !ci || ci->num_of_certs < 1)
        return;
    for (struct curl_slist *l = ci->certinfo[0]; l; l = l->next) {
        header_value(l->data, strlen(l->data), "Serial Number", r->serial, sizeof r->serial);
        header_value(l->data, strlen(l->data), "Expire date", r->expire, sizeof r->expire);
    }
}

bool https_ex(CURL *h, unsigned short port, const char *method, const char *path, const char *ctype,
              const char *body, size_t len, bool chunked, long chunk_delay_ms, bool want_certinfo,
              struct reply *r)
{
    char url[512];
    struct sink sink = { NULL, 0, 0 };
    struct upload up = { body, len, 0, chunk_delay_ms, 0 };
    struct curl_slist *hdrs = NULL;
    char cth[160];

    memset(r, 0, sizeof *r);
    snprintf(url, sizeof url, "https://127.0.0.1:%u%s", (unsigned)port, path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_CERTINFO, want_certinfo ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);     /* resets POST and NOBODY: set them after */
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    if (ctype) {
        snprintf(cth, sizeof cth, "Content-Type: %s", ctype);
        hdrs = curl_slist_append(hdrs, cth);
    }
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (strcmp(method, "POST") == 0 || (body && strcmp(method, "GET") != 0)) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        if (chunked) {
            hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
            curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(h, CURLOPT_READDATA, &up);
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, -1L);
        } else {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
        }
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 && strcmp(method, "POST") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    else
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    r->rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &r->connects);
    if (want_certinfo)
        certinfo(h, r);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    if (!sink.buf)
        sink.buf = mem_strdup("");
    r->body = sink.buf;
    r->len = sink.len;
    return r->rc == CURLE_OK;
}

bool https(CURL *h, unsigned short port, const char *method, const char *path, const char *ctype,
           const char *body, size_t len, struct reply *r)
{
    return https_ex(h, port, method, path, ctype, body, len, false, 0, false, r);
}

void reply_free(struct reply *r)
{
    mem_free(r->body);
    r->body = NULL;
}

char *review_with_uid(const char *uid, size_t *len)
{
    cJSON *j = tu_load_json(ITEST_EXAMPLE "/review.json");
    cJSON *req = j ? cJSON_GetObjectItemCaseSensitive(j, "request") : NULL;
    char *out = NULL;
    if (req && cJSON_ReplaceItemInObjectCaseSensitive(req, "uid", cJSON_CreateString(uid))) {
        char *txt = cJSON_PrintUnformatted(j);
        if (txt) {
            out = mem_strdup(txt);
            cJSON_free(txt);
        }
    }
    cJSON_Delete(j);
    if (out && len)
        *len = strlen(out);
    return out;
}

double metric_value(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p;) {
        const char *eol = strchr(p, '\n');
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p = eol ? eol + 1 : NULL;
    }
    return -1;
}

double server_metric(const struct server *s, const char *series)
{
    CURL *h = client_new(NULL);
    struct reply r;
    double v = -1;
    memset(&r, 0, sizeof r);
    if (h && https(h, s->port, "GET", "/metrics", NULL, NULL, 0, &r) && r.status == 200)
        v = metric_value(r.body, series);
    reply_free(&r);
    curl_easy_cleanup(h);
    return v;
}

/* ---- the stand-in kube-apiserver with the sample cluster ----------------------------------- */

bool itest_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    bool ok = f && fputs(text, f) >= 0;
    return f ? fclose(f) == 0 && ok : false;
}

bool itest_fake_put_file(struct kubefake *f, const char *file, const char *path, const char *only_kind)
{
    cJSON *j = tu_load_json(file);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(j, "items"), *it;
    bool ok = j && items;
    cJSON_ArrayForEach(it, items) {
        const char *k = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "kind"));
        if (only_kind && (!k || strcmp(k, only_kind) != 0))
            continue;
        char *t = cJSON_PrintUnformatted(it);
        ok = ok && t && kubefake_put(f, path, t) != 0;
        cJSON_free(t);
    }
    cJSON_Delete(j);
    return ok;
}

struct kubefake *itest_fake_cluster(void)
{
    char crt[600], key[600];
    itest_path(crt, sizeof crt, itest_base, "tls.crt");
    itest_path(key, sizeof key, itest_base, "tls.key");
    const struct kube_kind *K = kube_kinds(NULL);
    struct kubefake *f = kubefake_start(crt, key);
    if (!f)
        return NULL;
    for (unsigned k = 0; k < KK_COUNT; k++)
        if (k != KK_HCO_V1)
            kubefake_collection(f, K[k].path, K[k].list_kind, K[k].api_version, K[k].kind);
    if (!itest_fake_put_file(f, "manifests/samples/cluster/nodes.json", K[KK_NODE].path, NULL) ||
        !itest_fake_put_file(f, "manifests/samples/cluster/datasources.json", K[KK_DATASOURCE].path, NULL) ||
        !itest_fake_put_file(f, "manifests/samples/cluster/hyperconverged.json", K[KK_HCO_V1BETA1].path, NULL) ||
        !itest_fake_put_file(f, "manifests/samples/cluster/kubevirt.json", K[KK_KUBEVIRT].path, NULL)) {
        kubefake_stop(f);
        return NULL;
    }
    kubefake_require_token(f, "itest-token");
    return f;
}

bool itest_write_kubeconfig(const char *path, unsigned port)
{
    char ca[600], text[2048];
    itest_path(ca, sizeof ca, itest_base, "ca.crt");
    snprintf(text, sizeof text,
             "apiVersion: v1\nkind: Config\ncurrent-context: fake\n"
             "clusters:\n- name: fake\n  cluster:\n    server: https://127.0.0.1:%u\n    certificate-authority: %s\n"
             "users:\n- name: archgate\n  user:\n    token: itest-token\n"
             "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: archgate\n",
             port, ca);
    return itest_write_file(path, text);
}
