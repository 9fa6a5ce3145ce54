/* regharness.c - start/stop docker-registry for the tests and push images through its API. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <openssl/evp.h>
#include "regharness.h"

static void nap_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

unsigned short reg_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    unsigned short port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &al) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

bool reg_available(void)
{
    return system("command -v " REG_BIN " >/dev/null 2>&1") == 0;
}

void reg_sha256(const void *data, size_t len, char *digest)
{
    unsigned char h[32];
    unsigned int hl = 0;
    EVP_Digest(data, len, h, &hl, EVP_sha256(), NULL);
    int n = snprintf(digest, 72, "sha256:");
    for (unsigned i = 0; i < 32; i++)
        n += snprintf(digest + n, (size_t)(72 - n), "%02x", h[i]);
}

static CURL *client(const struct reg *r)
{
    CURL *h = curl_easy_init();
    if (h && r->tls)
        curl_easy_setopt(h, CURLOPT_CAINFO, r->ca);
    if (h) {
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    }
    return h;
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

static size_t grab_location(char *line, size_t sz, size_t nm, void *ud)
{
    size_t n = sz * nm;
    char *loc = ud;
    if (loc && n > 9 && strncasecmp(line, "location:", 9) == 0) {
        size_t i = 9;
        while (i < n && line[i] == ' ')
            i++;
        size_t e = n;
        while (e > i && (line[e - 1] == '\r' || line[e - 1] == '\n'))
            e--;
        if (e - i < 1024) {
            memcpy(loc, line + i, e - i);
            loc[e - i] = '\0';
        }
    }
    return n;
}

/* One request (path, or a whole URL when it starts with "http"); the status code, -1 on
 * transport failure; the Location header into loc (1024 bytes) when loc is not NULL. */
static long request_loc(const struct reg *r, const char *method, const char *path, const char *ctype,
                        const void *body, size_t len, char *loc);
static long request(const struct reg *r, const char *method, const char *path, const char *ctype, const void *body,
                    size_t len)
{
    return request_loc(r, method, path, ctype, body, len, NULL);
}

static long request_loc(const struct reg *r, const char *method, const char *path, const char *ctype,
                        const void *body, size_t len, char *loc)
{
    CURL *h = client(r);
    if (!h)
        return -1;
    char url[1024];
    if (strncmp(path, "http", 4) == 0)
        snprintf(url, sizeof url, "%s", path);
    else
        snprintf(url, sizeof url, "%s://127.0.0.1:%u%s", r->tls ? "https" : "http", r->port, path);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, grab_location);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, loc);
    struct curl_slist *hl = NULL;
    char ct[256];
    if (ctype) {
        snprintf(ct, sizeof ct, "Content-Type: %s", ctype);
        hl = curl_slist_append(hl, ct);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)len);
    }
    long status = -1;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    return status;
}

bool reg_start(struct reg *r, const char *dir, const char *name, const char *root, const char *cert,
               const char *key, const char *ca, const char *auth_yaml, unsigned short port)
{
    memset(r, 0, sizeof *r);
    r->tls = cert != NULL;
    r->port = port ? port : reg_free_port();
    snprintf(r->root, sizeof r->root, "%s", root);
    snprintf(r->conf, sizeof r->conf, "%s/%s.yml", dir, name);
    snprintf(r->log, sizeof r->log, "%s/%s.log", dir, name);
    if (ca)
        snprintf(r->ca, sizeof r->ca, "%s", ca);
    if (!reg_available()) {
        fprintf(stderr, "regharness: %s is not installed (scripts/deps.sh installs Debian's docker-registry)\n", REG_BIN);
        return false;
    }
    FILE *f = fopen(r->conf, "w");
    if (!f)
        return false;
    fprintf(f, "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
               "storage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n"
               "http:\n  addr: 127.0.0.1:%u\n  secret: archgate-test\n",
            root, r->port);
    if (cert)
        fprintf(f, "  tls:\n    certificate: %s\n    key: %s\n", cert, key);
    if (auth_yaml)
        fprintf(f, "auth:\n%s", auth_yaml);
    fclose(f);
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        FILE *lf = freopen(r->log, "w", stdout);
        (void)lf;
        dup2(STDOUT_FILENO, STDERR_FILENO);
        execlp(REG_BIN, REG_BIN, "serve", r->conf, (char *)NULL);
        _exit(127);
    }
    r->pid = pid;
    for (int i = 0; i < 250; i++) {
        long st = request(r, "GET", "/v2/", NULL, NULL, 0);
        if (st == 200 || st == 401)
            return true;
        int ws;
        if (waitpid(pid, &ws, WNOHANG) == pid) {
            r->pid = 0;
            fprintf(stderr, "regharness: %s exited at start (log %s)\n", REG_BIN, r->log);
            return false;
        }
        nap_ms(20);
    }
    fprintf(stderr, "regharness: %s did not answer /v2/ within 5 s (log %s)\n", REG_BIN, r->log);
    reg_stop(r);
    return false;
}

void reg_stop(struct reg *r)
{
    if (r->pid <= 0)
        return;
    kill(r->pid, SIGTERM);
    for (int i = 0; i < 500; i++) {
        if (waitpid(r->pid, NULL, WNOHANG) == r->pid) {
            r->pid = 0;
            return;
        }
        nap_ms(10);
    }
    kill(r->pid, SIGKILL);
    waitpid(r->pid, NULL, 0);
    r->pid = 0;
}

bool reg_push_blob(const struct reg *r, const char *repo, const void *data, size_t len, char *digest)
{
    reg_sha256(data, len, digest);
    char path[512], loc[1024] = "", put[1200];
    snprintf(path, sizeof path, "/v2/%s/blobs/uploads/", repo);
    long st = request_loc(r, "POST", path, NULL, "", 0, loc);
    if (st != 202 || !loc[0]) {
        fprintf(stderr, "regharness: blob upload to %s answered %ld\n", repo, st);
        return false;
    }
    snprintf(put, sizeof put, "%s%sdigest=%s", loc, strchr(loc, '?') ? "&" : "?", digest);
    st = request(r, "PUT", put, "application/octet-stream", data, len);
    if (st != 201)
        fprintf(stderr, "regharness: blob PUT to %s answered %ld\n", repo, st);
    return st == 201;
}

bool reg_push_manifest(const struct reg *r, const char *repo, const char *ref, const char *ctype,
                       const char *body, char *digest, size_t *size)
{
    char d[72];
    reg_sha256(body, strlen(body), d);
    if (digest)
        memcpy(digest, d, 72);
    if (size)
        *size = strlen(body);
    char path[512];
    snprintf(path, sizeof path, "/v2/%s/manifests/%s", repo, ref ? ref : d);
    long st = request(r, "PUT", path, ctype, body, strlen(body));
    if (st != 201)
        fprintf(stderr, "regharness: manifest PUT %s answered %ld\n", path, st);
    return st == 201;
}

bool reg_push_image(const struct reg *r, const char *repo, const char *tag, const char *arch, bool oci,
                    char *digest, size_t *size)
{
    char layer[64], cfg[512], ld[72], cd[72], man[2048];
    int ln = snprintf(layer, sizeof layer, "layer of %s for %s", repo, arch);
    bool unknown = strcmp(arch, "unknown") == 0;
    int cn = snprintf(cfg, sizeof cfg,
                      "{\"architecture\":\"%s\",\"os\":\"%s\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
                      arch, unknown ? "unknown" : "linux");
    if (!reg_push_blob(r, repo, layer, (size_t)ln, ld) || !reg_push_blob(r, repo, cfg, (size_t)cn, cd))
        return false;
    const char *mt = oci ? "application/vnd.oci.image.manifest.v1+json"
                         : "application/vnd.docker.distribution.manifest.v2+json";
    const char *cmt = oci ? "application/vnd.oci.image.config.v1+json" : "application/vnd.docker.container.image.v1+json";
    const char *lmt = oci ? "application/vnd.oci.image.layer.v1.tar+gzip"
                          : "application/vnd.docker.image.rootfs.diff.tar.gzip";
    snprintf(man, sizeof man,
             "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%d},"
             "\"layers\":[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%d}]}",
             mt, cmt, cd, cn, lmt, ld, ln);
    char d[72];
    size_t sz = 0;
    if (!reg_push_manifest(r, repo, NULL, mt, man, d, &sz))
        return false;
    if (tag && !reg_push_manifest(r, repo, tag, mt, man, NULL, NULL))
        return false;
    if (digest)
        memcpy(digest, d, 72);
    if (size)
        *size = sz;
    return true;
}

bool reg_push_index(const struct reg *r, const char *repo, const char *tag, bool oci, const char *const *archs,
                    char *digest)
{
    char body[8192];
    const char *mt = oci ? "application/vnd.oci.image.index.v1+json"
                         : "application/vnd.docker.distribution.manifest.list.v2+json";
    const char *emt = oci ? "application/vnd.oci.image.manifest.v1+json"
                          : "application/vnd.docker.distribution.manifest.v2+json";
    int n = snprintf(body, sizeof body, "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[", mt);
    for (size_t i = 0; archs[i]; i++) {
        char d[72];
        size_t sz = 0;
        if (!reg_push_image(r, repo, NULL, archs[i], oci, d, &sz))
            return false;
        bool unknown = strcmp(archs[i], "unknown") == 0;
        n += snprintf(body + n, sizeof body - (size_t)n,
                      "%s{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"architecture\":\"%s\","
                      "\"os\":\"%s\"%s}%s}",
                      i ? "," : "", emt, d, sz, archs[i], unknown ? "unknown" : "linux",
                      strcmp(archs[i], "arm64") == 0 ? ",\"variant\":\"v8\"" : "",
                      unknown ? ",\"annotations\":{\"vnd.docker.reference.type\":\"attestation-manifest\"}" : "");
    }
    snprintf(body + n, sizeof body - (size_t)n, "]}");
    return reg_push_manifest(r, repo, tag, mt, body, digest, NULL);
}
