/* itest_registry.c - image architectures from a real registry: Debian's docker-registry (CNCF
 * distribution 2.8) on 127.0.0.1 with TLS from the test CA, filled through its own API with an
 * OCI index (amd64, arm64 and an unknown/unknown attestation entry), a Docker manifest list, a
 * schema 2 image for s390x and an OCI single manifest. The client against it (anonymous, Basic
 * with htpasswd, the bearer-token flow with a token issuer the registry trusts, plain HTTP,
 * mirrors); faults answered within --registry-timeout (a listener that never answers, 500,
 * oversized and malformed manifests, a digest mismatch, wrong credentials, an unknown tag, the
 * registry stopped and started again); the decision end to end through build/archgate. A missing
 * docker-registry binary FAILS these tests (scripts/deps.sh installs it). */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cjson/cJSON.h>
#include "itest.h"
#include "mem.h"
#include "metrics.h"
#include "patch.h"
#include "pool.h"
#include "regharness.h"
#include "registry/auth.h"
#include "registry/client.h"
#include "registry/resolver.h"
#include "testutil.h"
#include "unit.h"

static bool set_up, set_up_ok;
static char dir[320], root[400], ca[400], cert[400], key[400];
static struct reg reg_a;                /* TLS, anonymous */
static char hostA[64];                  /* "127.0.0.1:PORT" */
static char multi_digest[72];

static void nap_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* ---- the fault server: plain HTTP, one thread per connection; the mode is the repository ---- */

static int fault_fd = -1;
static unsigned short fault_port;
static atomic_int fault_hits_slow;
static atomic_int fault_stop;
static char fault_host[64];
static const char *index_body = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
                                "\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                                "\"digest\":\"sha256:0000000000000000000000000000000000000000000000000000000000000000\","
                                "\"size\":1,\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\"}}]}";

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void answer(int fd, int code, const char *ctype, const char *extra, const char *body, size_t len)
{
    char head[512];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
                     code, ctype, len, extra ? extra : "");
    send_all(fd, head, (size_t)n);
    send_all(fd, body, len);
}

static void *fault_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char req[4096];
    size_t n = 0;
    req[0] = '\0';
    while (n < sizeof req - 1 && !strstr(req, "\r\n\r\n")) {
        ssize_t r = recv(fd, req + n, sizeof req - 1 - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
        req[n] = '\0';
    }
    req[n] = '\0';
    const char *mt = "application/vnd.oci.image.index.v1+json";
    if (strstr(req, "/v2/fault/hang/")) {
        while (!atomic_load(&fault_stop))
            nap_ms(20);     /* accepts, never answers */
    } else if (strstr(req, "/v2/fault/e500/")) {
        answer(fd, 500, "text/plain", NULL, "boom", 4);
    } else if (strstr(req, "/v2/fault/big/")) {
        size_t big = 5u * 1024 * 1024;
        char *b = malloc(big);
        if (b) {
            memset(b, ' ', big);
            answer(fd, 200, mt, NULL, b, big);
            free(b);
        }
    } else if (strstr(req, "/v2/fault/badjson/")) {
        answer(fd, 200, mt, NULL, "{\"manifests\": [", 15);
    } else if (strstr(req, "/v2/fault/mismatch/")) {
        answer(fd, 200, mt, NULL, index_body, strlen(index_body));
    } else if (strstr(req, "/v2/fault/headerdigest/")) {
        answer(fd, 200, mt, "Docker-Content-Digest: sha256:1111111111111111111111111111111111111111111111111111111111111111\r\n",
               index_body, strlen(index_body));
    } else if (strstr(req, "/v2/fault/slow/")) {
        atomic_fetch_add(&fault_hits_slow, 1);
        nap_ms(800);
        answer(fd, 200, mt, NULL, index_body, strlen(index_body));
    } else {
        answer(fd, 404, "application/json", NULL, "{}", 2);
    }
    close(fd);
    return NULL;
}

static void *fault_accept(void *arg)
{
    (void)arg;
    for (;;) {
        int c = accept(fault_fd, NULL, NULL);
        if (c < 0)
            return NULL;
        pthread_t t;
        if (pthread_create(&t, NULL, fault_conn, (void *)(intptr_t)c) == 0)
            pthread_detach(t);
        else
            close(c);
    }
}

static bool fault_start(void)
{
    fault_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    int one = 1;
    setsockopt(fault_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fault_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fault_fd, 64) != 0 ||
        getsockname(fault_fd, (struct sockaddr *)&a, &al) != 0)
        return false;
    fault_port = ntohs(a.sin_port);
    snprintf(fault_host, sizeof fault_host, "127.0.0.1:%u", fault_port);
    pthread_t t;
    if (pthread_create(&t, NULL, fault_accept, NULL) != 0)
        return false;
    pthread_detach(t);
    return true;
}

/* ---- set-up, once ---- */

static bool setup(void)
{
    if (set_up)
        return set_up_ok;
    set_up = true;
    snprintf(dir, sizeof dir, "%s/registry", itest_dir);
    snprintf(root, sizeof root, "%s/storage", dir);
    snprintf(ca, sizeof ca, "%s/ca.crt", itest_base);
    snprintf(cert, sizeof cert, "%s/tls.crt", itest_base);
    snprintf(key, sizeof key, "%s/tls.key", itest_base);
    mkdir(dir, 0700);
    mkdir(root, 0700);
    if (!reg_available()) {
        fprintf(stderr, "itest registry: docker-registry is missing: run scripts/deps.sh\n");
        return false;
    }
    if (!reg_start(&reg_a, dir, "a", root, cert, key, ca, NULL, 0))
        return false;
    snprintf(hostA, sizeof hostA, "127.0.0.1:%u", reg_a.port);
    static const char *const two[] = { "amd64", "arm64", "unknown", NULL };
    static const char *const amd[] = { "amd64", "unknown", NULL };
    static const char *const list[] = { "amd64", "arm64", NULL };
    bool ok = reg_push_index(&reg_a, "containerdisks/multi", "1", true, two, multi_digest) &&
              reg_push_index(&reg_a, "containerdisks/amd64only", "1", true, amd, NULL) &&
              reg_push_index(&reg_a, "containerdisks/list", "1", false, list, NULL) &&
              reg_push_image(&reg_a, "containerdisks/s390x", "1", "s390x", false, NULL, NULL) &&
              reg_push_image(&reg_a, "containerdisks/ocisingle", "1", "arm64", true, NULL, NULL) &&
              reg_push_image(&reg_a, "containerdisks/ocisingle", "2", "s390x", true, NULL, NULL) &&
              fault_start();
    set_up_ok = ok;
    return ok;
}

static int suite_cleanup(void)
{
    atomic_store(&fault_stop, 1);
    if (fault_fd >= 0) {
        shutdown(fault_fd, SHUT_RDWR);
        close(fault_fd);
    }
    reg_stop(&reg_a);
    return 0;
}

#define SETUP() CU_ASSERT_FATAL(setup())

static void lookup(struct registry_client *c, const char *image, struct registry_result *out)
{
    struct registry_ref r;
    char err[128];
    memset(out, 0, sizeof *out);
    CU_ASSERT_FATAL(registry_ref_parse(image, &r, err, sizeof err));
    registry_client_lookup(c, NULL, &r, out);
}

static archset A(int a) { return arch_bit(a); }

/* ---- the client against the registry ---- */

static void test_client_kinds(void)
{
    SETUP();
    struct registry_client_opts o = { .ca_file = ca };
    struct registry_client *c = registry_client_new(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    static const struct { const char *repo; archset want; bool index; } cases[] = {
        { "containerdisks/multi:1", 0, true },          /* amd64 | arm64, filled below */
        { "containerdisks/list:1", 0, true },
        { "containerdisks/amd64only:1", 0, true },
        { "containerdisks/s390x:1", 0, false },
        { "containerdisks/ocisingle:1", 0, false },
        { "containerdisks/ocisingle:2", 0, false },
    };
    archset want[] = { A(ARCH_AMD64) | A(ARCH_ARM64), A(ARCH_AMD64) | A(ARCH_ARM64), A(ARCH_AMD64), A(ARCH_S390X),
                       A(ARCH_ARM64), A(ARCH_S390X) };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char image[256];
        struct registry_result res;
        snprintf(image, sizeof image, "%s/%s", hostA, cases[i].repo);
        lookup(c, image, &res);
        CASE_ASSERT(res.status == REG_OK, i, res.why);
        CASE_ASSERT(res.archs == want[i], i, image);
        CASE_ASSERT(res.from_index == cases[i].index, i, image);
    }
    /* by digest (and docker:// as CDI writes it), digest winning over the tag */
    char image[256];
    struct registry_result res;
    snprintf(image, sizeof image, "docker://%s/containerdisks/multi:nosuchtag@%s", hostA, multi_digest);
    lookup(c, image, &res);
    CU_ASSERT_EQUAL(res.status, REG_OK);
    CU_ASSERT_EQUAL(res.archs, A(ARCH_AMD64) | A(ARCH_ARM64));
    /* unknown tag, unknown repository, unknown digest */
    snprintf(image, sizeof image, "%s/containerdisks/multi:nosuchtag", hostA);
    lookup(c, image, &res);
    CU_ASSERT_EQUAL(res.status, REG_NOT_FOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.why, hostA));
    snprintf(image, sizeof image, "%s/nobody/here:1", hostA);
    lookup(c, image, &res);
    CU_ASSERT_EQUAL(res.status, REG_NOT_FOUND);
    snprintf(image, sizeof image, "%s/containerdisks/multi@sha256:%064d", hostA, 0);
    lookup(c, image, &res);
    CU_ASSERT_EQUAL(res.status, REG_NOT_FOUND);
    registry_client_free(c);

    /* without the test CA the registry's certificate is not trusted */
    struct registry_client_opts none = { 0 };
    c = registry_client_new(&none);
    snprintf(image, sizeof image, "%s/containerdisks/multi:1", hostA);
    lookup(c, image, &res);
    CU_ASSERT_EQUAL(res.status, REG_ERROR);
    registry_client_free(c);
}

static void test_insecure_and_mirror(void)
{
    SETUP();
    struct reg plain;
    CU_ASSERT_FATAL(reg_start(&plain, dir, "plain", root, NULL, NULL, NULL, NULL, 0));
    char host[64], image[256];
    snprintf(host, sizeof host, "127.0.0.1:%u", plain.port);
    snprintf(image, sizeof image, "%s/containerdisks/s390x:1", host);
    struct registry_result res;
    /* not listed: HTTPS to a plain port fails */
    struct registry_client_opts o = { .ca_file = ca };
    struct registry_client *c = registry_client_new(&o);
    lookup(c, image, &res);
    CU_ASSERT_EQUAL(res.status, REG_ERROR);
    registry_client_free(c);
    /* listed (among others) */
    char insecure[128];
    snprintf(insecure, sizeof insecure, "other.example:5000,%s", host);
    o.insecure = insecure;
    c = registry_client_new(&o);
    lookup(c, image, &res);
    CU_ASSERT_EQUAL(res.status, REG_OK);
    CU_ASSERT_EQUAL(res.archs, A(ARCH_S390X));
    registry_client_free(c);
    reg_stop(&plain);

    /* a mirror: quay.io is asked at the TLS registry */
    struct registry_mirror m;
    char spec[128];
    snprintf(spec, sizeof spec, "quay.io=%s", hostA);
    CU_ASSERT_FATAL(registry_mirror_parse(spec, &m));
    struct registry_client_opts om = { .ca_file = ca, .mirrors = &m, .nmirrors = 1 };
    c = registry_client_new(&om);
    lookup(c, "quay.io/containerdisks/list:1", &res);
    CU_ASSERT_EQUAL(res.status, REG_OK);
    CU_ASSERT_EQUAL(res.archs, A(ARCH_AMD64) | A(ARCH_ARM64));
    registry_client_free(c);
}

/* A Docker config file for user:pass on host. */
static void write_docker_config(const char *path, const char *host, const char *userpass)
{
    struct pool *p = pool_new(0);
    char *b64 = patch_base64(userpass, strlen(userpass), p);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "{\"auths\": {\"https://%s\": {\"auth\": \"%s\"}}}\n", host, b64 ? b64 : "");
        fclose(f);
    }
    pool_free(p);
}

/* A client with the credentials `userpass` for `host` (written to a Docker config file `name`)
 * is refused `image`: 401, whatever the scheme. */
static void expect_unauthorized(const char *name, const char *host, const char *userpass, const char *image)
{
    char cfgpath[512], err[256];
    struct registry_creds *creds = NULL;
    struct registry_result res;
    snprintf(cfgpath, sizeof cfgpath, "%s/%s", dir, name);
    write_docker_config(cfgpath, host, userpass);
    CU_ASSERT_FATAL(registry_creds_load(cfgpath, &creds, err, sizeof err) == AG_OK);
    struct registry_client_opts o = { .ca_file = ca, .creds = creds };
    struct registry_client *c = registry_client_new(&o);
    lookup(c, image, &res);
    CU_ASSERT_EQUAL(res.status, REG_UNAUTHORIZED);
    registry_client_free(c);
    registry_creds_free(creds);
}

static void test_basic_auth(void)
{
    SETUP();
    char htpasswd[400], cmd[1024];
    snprintf(htpasswd, sizeof htpasswd, "%s/htpasswd", dir);
    snprintf(cmd, sizeof cmd, "htpasswd -Bbn archgate s3cret > '%s'", htpasswd);
    CU_ASSERT_FATAL(system(cmd) == 0);
    char auth[512];
    snprintf(auth, sizeof auth, "  htpasswd:\n    realm: archgate-test\n    path: %s\n", htpasswd);
    struct reg b;
    CU_ASSERT_FATAL(reg_start(&b, dir, "basic", root, cert, key, ca, auth, 0));
    char host[64], image[256], cfgpath[400];
    snprintf(host, sizeof host, "127.0.0.1:%u", b.port);
    snprintf(image, sizeof image, "%s/containerdisks/multi:1", host);
    struct registry_result res;

    struct registry_client_opts o = { .ca_file = ca };
    struct registry_client *c = registry_client_new(&o);
    lookup(c, image, &res);
    CU_ASSERT_EQUAL(res.status, REG_UNAUTHORIZED);
    registry_client_free(c);

    snprintf(cfgpath, sizeof cfgpath, "%s/basic-good.json", dir);
    write_docker_config(cfgpath, host, "archgate:s3cret");
    struct registry_creds *creds = NULL;
    char err[256];
    CU_ASSERT_FATAL(registry_creds_load(cfgpath, &creds, err, sizeof err) == AG_OK);
    o.creds = creds;
    c = registry_client_new(&o);
    lookup(c, image, &res);
    CU_ASSERT_EQUAL(res.status, REG_OK);
    CU_ASSERT_EQUAL(res.archs, A(ARCH_AMD64) | A(ARCH_ARM64));
    snprintf(image, sizeof image, "%s/containerdisks/ocisingle:1", host);     /* the config blob too */
    lookup(c, image, &res);
    CU_ASSERT_EQUAL(res.status, REG_OK);
    CU_ASSERT_EQUAL(res.archs, A(ARCH_ARM64));
    registry_client_free(c);
    registry_creds_free(creds);

    expect_unauthorized("basic-bad.json", host, "archgate:wrong", image);
    reg_stop(&b);
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    int n = 0, ch;
    if (!f)
        return 0;
    while ((ch = fgetc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

/* A token issuer (tests/registry_token_issuer.py; userpass "-": anyone gets a token) and a
 * registry with "token" authentication trusting it. */
static bool token_registry(const char *name, const char *userpass, const char *counts, pid_t *issuer, struct reg *t)
{
    char skey[400], scert[400], cmd[2048];
    snprintf(skey, sizeof skey, "%s/%s.key", dir, name);
    snprintf(scert, sizeof scert, "%s/%s.crt", dir, name);
    snprintf(cmd, sizeof cmd, "openssl req -x509 -newkey rsa:2048 -nodes -keyout '%s' -out '%s' -days 1 "
             "-subj /CN=archgate-token-issuer >/dev/null 2>&1", skey, scert);
    *issuer = -1;
    if (system(cmd) != 0)
        return false;
    unsigned short tport = reg_free_port();
    *issuer = fork();
    if (*issuer < 0)
        return false;
    if (*issuer == 0) {
        char port[16];
        if (!freopen("/dev/null", "w", stdout))
            _exit(126);
        snprintf(port, sizeof port, "%u", tport);
        execlp("python3", "python3", "tests/registry_token_issuer.py", port, cert, key, skey, scert,
               "archgate-issuer", "archgate-registry", userpass, counts, (char *)NULL);
        _exit(127);
    }
    char auth[1024];
    snprintf(auth, sizeof auth, "  token:\n    realm: https://127.0.0.1:%u/token\n    service: archgate-registry\n"
             "    issuer: archgate-issuer\n    rootcertbundle: %s\n", tport, scert);
    if (!reg_start(t, dir, name, root, cert, key, ca, auth, 0))
        return false;
    /* wait for the issuer */
    CURL *h = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "https://127.0.0.1:%u/", tport);
    bool up = false;
    for (int i = 0; h && i < 250 && !up; i++) {
        curl_easy_reset(h);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_CAINFO, ca);
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        up = curl_easy_perform(h) == CURLE_OK;
        if (!up)
            nap_ms(20);
    }
    curl_easy_cleanup(h);
    return up;
}

static void stop_issuer(pid_t issuer)
{
    if (issuer > 0) {
        kill(issuer, SIGTERM);
        waitpid(issuer, NULL, 0);
    }
}

static void test_bearer_token(void)
{
    SETUP();
    char counts[400];
    snprintf(counts, sizeof counts, "%s/tokens.txt", dir);
    pid_t issuer;
    struct reg t = { 0 };
    bool started = token_registry("token", "robot:t0ken", counts, &issuer, &t);
    CU_ASSERT(started);
    if (started) {
        char host[64], image[256], cfgpath[400], err[256];
        snprintf(host, sizeof host, "127.0.0.1:%u", t.port);
        struct registry_result res;
        /* anonymous: the realm refuses */
        struct registry_client_opts o = { .ca_file = ca };
        struct registry_client *c = registry_client_new(&o);
        snprintf(image, sizeof image, "%s/containerdisks/multi:1", host);
        lookup(c, image, &res);
        CU_ASSERT_EQUAL(res.status, REG_UNAUTHORIZED);
        CU_ASSERT_PTR_NOT_NULL(strstr(res.why, "token realm"));
        registry_client_free(c);
        /* with credentials: a token, then reused for the next lookup of the same repository */
        struct registry_creds *creds = NULL;
        snprintf(cfgpath, sizeof cfgpath, "%s/token-good.json", dir);
        write_docker_config(cfgpath, host, "robot:t0ken");
        CU_ASSERT_FATAL(registry_creds_load(cfgpath, &creds, err, sizeof err) == AG_OK);
        o.creds = creds;
        c = registry_client_new(&o);
        int before = count_lines(counts);
        lookup(c, image, &res);
        CU_ASSERT_EQUAL(res.status, REG_OK);
        CU_ASSERT_EQUAL(res.archs, A(ARCH_AMD64) | A(ARCH_ARM64));
        int after_one = count_lines(counts);
        CU_ASSERT_EQUAL(after_one, before + 1);
        snprintf(image, sizeof image, "%s/containerdisks/multi@%s", host, multi_digest);
        lookup(c, image, &res);
        CU_ASSERT_EQUAL(res.status, REG_OK);
        CU_ASSERT_EQUAL(count_lines(counts), after_one);     /* the cached token */
        /* another repository: another scope, another token; through its config blob */
        snprintf(image, sizeof image, "%s/containerdisks/s390x:1", host);
        lookup(c, image, &res);
        CU_ASSERT_EQUAL(res.status, REG_OK);
        CU_ASSERT_EQUAL(res.archs, A(ARCH_S390X));
        CU_ASSERT_EQUAL(count_lines(counts), after_one + 1);
        registry_client_free(c);
        registry_creds_free(creds);
        /* wrong credentials */
        expect_unauthorized("token-bad.json", host, "robot:nope", image);
    }
    reg_stop(&t);
    stop_issuer(issuer);
}

/* Docker Hub's way: anyone gets a token for public images; and a mirror asked with its own
 * credentials. */
static void test_anonymous_token_and_mirror_credentials(void)
{
    SETUP();
    char counts[400];
    snprintf(counts, sizeof counts, "%s/tokens-anon.txt", dir);
    pid_t issuer;
    struct reg t = { 0 };
    bool started = token_registry("token-anon", "-", counts, &issuer, &t);
    CU_ASSERT(started);
    if (started) {
        char host[64], image[256];
        snprintf(host, sizeof host, "127.0.0.1:%u", t.port);
        struct registry_result res;
        struct registry_client_opts o = { .ca_file = ca };
        struct registry_client *c = registry_client_new(&o);
        snprintf(image, sizeof image, "%s/containerdisks/ocisingle:2", host);
        lookup(c, image, &res);
        CU_ASSERT_EQUAL(res.status, REG_OK);
        CU_ASSERT_EQUAL(res.archs, A(ARCH_S390X));
        CU_ASSERT_EQUAL(count_lines(counts), 1);
        registry_client_free(c);
    }
    reg_stop(&t);
    stop_issuer(issuer);

    /* quay.io mirrored to a registry that wants Basic credentials: the mirror's are used */
    char htpasswd[400], cmd[1024], auth[512], cfgpath[400], err[256];
    snprintf(htpasswd, sizeof htpasswd, "%s/htpasswd-mirror", dir);
    snprintf(cmd, sizeof cmd, "htpasswd -Bbn mirror m1rror > '%s'", htpasswd);
    CU_ASSERT_FATAL(system(cmd) == 0);
    snprintf(auth, sizeof auth, "  htpasswd:\n    realm: archgate-test\n    path: %s\n", htpasswd);
    struct reg b;
    CU_ASSERT_FATAL(reg_start(&b, dir, "mirror", root, cert, key, ca, auth, 0));
    char mhost[64], spec[128];
    snprintf(mhost, sizeof mhost, "127.0.0.1:%u", b.port);
    snprintf(cfgpath, sizeof cfgpath, "%s/mirror-creds.json", dir);
    FILE *f = fopen(cfgpath, "w");
    CU_ASSERT_FATAL(f != NULL);
    /* base64("mirror:m1rror") and base64("quay:wrong") */
    fprintf(f, "{\"auths\": {\"%s\": {\"auth\": \"bWlycm9yOm0xcnJvcg==\"}, \"quay.io\": {\"auth\": \"cXVheTp3cm9uZw==\"}}}\n",
            mhost);
    fclose(f);
    struct registry_creds *creds = NULL;
    CU_ASSERT_FATAL(registry_creds_load(cfgpath, &creds, err, sizeof err) == AG_OK);
    struct registry_mirror m;
    snprintf(spec, sizeof spec, "quay.io=%s", mhost);
    CU_ASSERT_FATAL(registry_mirror_parse(spec, &m));
    struct registry_client_opts om = { .ca_file = ca, .mirrors = &m, .nmirrors = 1, .creds = creds };
    struct registry_client *c = registry_client_new(&om);
    struct registry_result res;
    lookup(c, "quay.io/containerdisks/multi:1", &res);
    CU_ASSERT_EQUAL(res.status, REG_OK);
    CU_ASSERT_EQUAL(res.archs, A(ARCH_AMD64) | A(ARCH_ARM64));
    registry_client_free(c);
    registry_creds_free(creds);
    reg_stop(&b);
}

/* ---- the resolver: deadlines, faults, sharing, the cache ---- */

static _Atomic uint64_t fake_now;
static uint64_t fake_clock(void) { return atomic_load(&fake_now); }

static void resolver_up(unsigned timeout_ms, const char *insecure)
{
    struct registry_resolver_opts o = {
        .client = { .ca_file = ca, .insecure = insecure, .timeout_ms = 2000 },
        .timeout_ms = timeout_ms, .now_ms = fake_clock,
    };
    char err[128];
    atomic_store(&fake_now, 1000000);
    CU_ASSERT_FATAL(registry_resolver_start(&o, err, sizeof err) == AG_OK);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Resolve with the request deadline; seconds taken into *secs. */
static void resolve(const char *image, struct registry_result *res, bool *hit, double *secs)
{
    double t0 = mono_s();
    registry_resolve_one(image, registry_now_ms() + 500, res, hit);
    *secs = mono_s() - t0;
}

static void test_faults_within_timeout(void)
{
    SETUP();
    resolver_up(500, fault_host);
    static const struct { const char *path; enum registry_status want; const char *why; } cases[] = {
        { "fault/hang/x:1", REG_TIMEOUT, "did not answer within 0.5s" },
        { "fault/e500/x:1", REG_ERROR, "answered 500" },
        { "fault/big/x:1", REG_ERROR, "larger than 4096 KiB" },
        { "fault/badjson/x:1", REG_ERROR, "not JSON" },
        { "fault/mismatch/x@sha256:2222222222222222222222222222222222222222222222222222222222222222", REG_ERROR,
          "does not match digest" },
        { "fault/headerdigest/x:1", REG_ERROR, "does not match digest" },
        { "fault/missing/x:1", REG_NOT_FOUND, "(404)" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char image[256];
        snprintf(image, sizeof image, "%s/%s", fault_host, cases[i].path);
        struct registry_result res;
        bool hit = true;
        double secs;
        resolve(image, &res, &hit, &secs);
        CASE_ASSERT(res.status == cases[i].want, i, res.why);
        CASE_ASSERT(strstr(res.why, cases[i].why) != NULL, i, res.why);
        CASE_ASSERT(secs < 0.5 + 0.25, i, cases[i].path);
        CASE_ASSERT(!hit, i, cases[i].path);
        /* the failure is cached: asked again, answered at once from the cache (the hang: still
         * pending, so again at the deadline) */
        if (cases[i].want != REG_TIMEOUT) {
            resolve(image, &res, &hit, &secs);
            CASE_ASSERT(hit && res.status == cases[i].want, i, "negative entry");
            CASE_ASSERT(secs < 0.05, i, "negative entry is immediate");
        }
    }
    /* an unknown tag on the real registry, wrong credentials on the Basic one are in the client
     * tests; here their answers come through the resolver in time too */
    char image[256];
    struct registry_result res;
    bool hit;
    double secs;
    snprintf(image, sizeof image, "%s/containerdisks/multi:nosuchtag", hostA);
    resolve(image, &res, &hit, &secs);
    CU_ASSERT_EQUAL(res.status, REG_NOT_FOUND);
    CU_ASSERT(secs < 0.75);
    /* failures are kept 30 s: after that the registry is asked again */
    atomic_fetch_add(&fake_now, 31000);
    resolve(image, &res, &hit, &secs);
    CU_ASSERT_FALSE(hit);
    registry_resolver_stop();
}

struct share_arg { const char *image; struct registry_result res; double secs; };

static void *share_thread(void *p)
{
    struct share_arg *a = p;
    double t0 = mono_s();
    registry_resolve_one(a->image, registry_now_ms() + 300, &a->res, NULL);
    a->secs = mono_s() - t0;
    return NULL;
}

static void test_late_result_and_sharing(void)
{
    SETUP();
    resolver_up(300, fault_host);
    char image[256];
    snprintf(image, sizeof image, "%s/fault/slow/x:1", fault_host);
    atomic_store(&fault_hits_slow, 0);
    /* eight requests at once share one lookup; each gives up at its deadline (the registry
     * answers after 800 ms) */
    struct share_arg args[8];
    pthread_t th[8];
    for (int i = 0; i < 8; i++) {
        args[i].image = image;
        CU_ASSERT_FATAL(pthread_create(&th[i], NULL, share_thread, &args[i]) == 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        CU_ASSERT_EQUAL(args[i].res.status, REG_TIMEOUT);
        CU_ASSERT(args[i].secs < 0.3 + 0.2);
    }
    /* the lookup goes on after its requesters gave up, and fills the cache */
    nap_ms(900);
    CU_ASSERT_EQUAL(atomic_load(&fault_hits_slow), 1);
    struct registry_result res;
    bool hit = false;
    registry_resolve_one(image, registry_now_ms() + 300, &res, &hit);
    CU_ASSERT(hit);
    CU_ASSERT_EQUAL(res.status, REG_OK);
    CU_ASSERT_EQUAL(res.archs, A(ARCH_ARM64));
    CU_ASSERT_EQUAL(atomic_load(&fault_hits_slow), 1);
    /* a tag is kept for the TTL (1 h), then asked again */
    atomic_fetch_add(&fake_now, 3599000);
    registry_resolve_one(image, registry_now_ms() + 300, &res, &hit);
    CU_ASSERT(hit);
    atomic_fetch_add(&fake_now, 2000);
    registry_resolve_one(image, registry_now_ms() + 300, &res, &hit);
    CU_ASSERT_FALSE(hit);
    nap_ms(900);
    CU_ASSERT_EQUAL(atomic_load(&fault_hits_slow), 2);
    registry_resolver_stop();
}

static void test_registry_restart(void)
{
    SETUP();
    resolver_up(500, NULL);
    char multi[256], list[256];
    snprintf(multi, sizeof multi, "%s/containerdisks/multi:1", hostA);
    snprintf(list, sizeof list, "%s/containerdisks/list:1", hostA);
    struct registry_result res;
    bool hit;
    double secs;
    resolve(multi, &res, &hit, &secs);
    CU_ASSERT_EQUAL(res.status, REG_OK);
    CU_ASSERT_FALSE(hit);
    unsigned short port = reg_a.port;
    reg_stop(&reg_a);
    /* stopped: what is cached is still answered; a new reference fails fast, and is cached */
    resolve(multi, &res, &hit, &secs);
    CU_ASSERT(hit && res.status == REG_OK);
    resolve(list, &res, &hit, &secs);
    CU_ASSERT_EQUAL(res.status, REG_ERROR);
    CU_ASSERT(secs < 0.75);
    resolve(list, &res, &hit, &secs);
    CU_ASSERT(hit && res.status == REG_ERROR);
    /* started again: once the failure has expired, the registry is asked again */
    CU_ASSERT_FATAL(reg_start(&reg_a, dir, "a", root, cert, key, ca, NULL, port));
    atomic_fetch_add(&fake_now, 31000);
    resolve(list, &res, &hit, &secs);
    CU_ASSERT_FALSE(hit);
    CU_ASSERT_EQUAL(res.status, REG_OK);
    CU_ASSERT_EQUAL(res.archs, A(ARCH_AMD64) | A(ARCH_ARM64));
    registry_resolver_stop();
}

/* ---- the decision end to end through build/archgate ---- */

static char cluster_dir[400];

/* A cluster whose only eligible node is an arm64 worker (the amd64 node is the control plane). */
static void write_cluster(void)
{
    snprintf(cluster_dir, sizeof cluster_dir, "%s/cluster", dir);
    mkdir(cluster_dir, 0700);
    char path[512];
    snprintf(path, sizeof path, "%s/nodes.json", cluster_dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fputs("{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":["
          "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"arm-w1\",\"labels\":{"
          "\"kubernetes.io/arch\":\"arm64\",\"kubernetes.io/os\":\"linux\",\"node-role.kubernetes.io/worker\":\"\","
          "\"kubevirt.io/schedulable\":\"true\"}},\"spec\":{},\"status\":{\"nodeInfo\":{\"architecture\":\"arm64\"}}},"
          "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"cp-x1\",\"labels\":{"
          "\"kubernetes.io/arch\":\"amd64\",\"node-role.kubernetes.io/control-plane\":\"\"}},"
          "\"spec\":{\"taints\":[{\"key\":\"node-role.kubernetes.io/control-plane\",\"effect\":\"NoSchedule\"}]},"
          "\"status\":{\"nodeInfo\":{\"architecture\":\"amd64\"}}}]}\n", f);
    fclose(f);
}

/* A CREATE review of a VM booting containerDisk `image`; annotation (may be NULL) is the value
 * of archgate.io/image-architectures. mem_free the result. */
static char *vm_review(const char *uid, const char *image, const char *annotation, size_t *len)
{
    char ann[256] = "";
    if (annotation)
        snprintf(ann, sizeof ann, ",\"annotations\":{\"archgate.io/image-architectures\":\"%s\"}", annotation);
    char *b = mem_malloc(4096);
    if (!b)
        return NULL;
    int n = snprintf(b, 4096,
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"%s\","
        "\"kind\":{\"group\":\"kubevirt.io\",\"version\":\"v1\",\"kind\":\"VirtualMachine\"},"
        "\"resource\":{\"group\":\"kubevirt.io\",\"version\":\"v1\",\"resource\":\"virtualmachines\"},"
        "\"name\":\"disk-vm\",\"namespace\":\"vms\",\"operation\":\"CREATE\",\"userInfo\":{\"username\":\"t\"},"
        "\"object\":{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":\"VirtualMachine\",\"metadata\":{\"name\":\"disk-vm\","
        "\"namespace\":\"vms\"%s},\"spec\":{\"runStrategy\":\"Always\",\"template\":{\"spec\":{\"domain\":{\"devices\":{}},"
        "\"volumes\":[{\"name\":\"root\",\"containerDisk\":{\"image\":\"%s\"}}]}}}}}}",
        uid, ann, image);
    *len = (size_t)n;
    return b;
}

/* POST the review; the parsed response (cJSON_Delete it) or NULL. */
static cJSON *admit(const struct server *sv, const char *path, const char *image, const char *annotation,
                    double *secs)
{
    size_t len = 0;
    char *body = vm_review("6a2c1f0e-0000-4000-8000-000000000001", image, annotation, &len);
    CURL *h = client_new(NULL);
    struct reply r;
    double t0 = mono_s();
    bool ok = body && h && https(h, sv->port, "POST", path, "application/json", body, len, &r) && r.status == 200;
    if (secs)
        *secs = mono_s() - t0;
    cJSON *resp = NULL;
    if (ok) {
        cJSON *doc = cJSON_Parse(r.body);
        resp = doc ? cJSON_DetachItemFromObjectCaseSensitive(doc, "response") : NULL;
        cJSON_Delete(doc);
    }
    if (h)
        reply_free(&r);
    curl_easy_cleanup(h);
    mem_free(body);
    return resp;
}

static bool allowed(const cJSON *resp)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(resp, "allowed"));
}

static const char *message(const cJSON *resp)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(resp, "status");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(st, "message");
    return cJSON_IsString(m) ? m->valuestring : "";
}

/* All warnings joined by " | ". */
static void warnings(const cJSON *resp, char *buf, size_t len)
{
    buf[0] = '\0';
    size_t n = 0;
    const cJSON *w;
    cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(resp, "warnings")) {
        if (cJSON_IsString(w))
            n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s | ", w->valuestring);
        if (n >= len)
            break;
    }
}

static char *patch_text(const cJSON *resp)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(resp, "patch");
    static char text[4096];
    text[0] = '\0';
    if (!cJSON_IsString(p))
        return text;
    struct pool *pool = pool_new(0);
    char *dec = NULL;
    size_t dl = 0;
    if (patch_base64_decode(p->valuestring, pool, &dec, &dl))
        snprintf(text, sizeof text, "%s", dec);
    pool_free(pool);
    return text;
}

static bool launch(struct server *sv, const char *const *extra)
{
    const char *args[40] = { "serve", "--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key,
                             "--cluster-state", cluster_dir, "--registry-ca", ca, "--multi-arch", "on" };
    size_t n = 13;
    for (size_t i = 0; extra && extra[i] && n < 39; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    return server_launch(sv, args, true);
}

static void test_end_to_end(void)
{
    SETUP();
    write_cluster();
    struct server sv;
    CU_ASSERT_FATAL(launch(&sv, NULL));
    char amd[256], multi[256], want[512], w[2048];
    snprintf(amd, sizeof amd, "%s/containerdisks/amd64only:1", hostA);
    snprintf(multi, sizeof multi, "%s/containerdisks/multi:1", hostA);

    /* an index listing amd64 only, only arm64 nodes eligible: denied, naming the source */
    cJSON *resp = admit(&sv, "/validate", amd, NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(resp);
    CU_ASSERT_FALSE(allowed(resp));
    snprintf(want, sizeof want, "containerDisk %s (registry index: amd64) is built for amd64, but no eligible node runs amd64", amd);
    if (!strstr(message(resp), want))
        fprintf(stderr, "\nmessage: %s\n", message(resp));
    CU_ASSERT_PTR_NOT_NULL(strstr(message(resp), want));
    cJSON_Delete(resp);

    /* a multi-platform index: allowed; /mutate pins it to the eligible nodes' arm64 */
    resp = admit(&sv, "/validate", multi, NULL, NULL);
    CU_ASSERT(resp && allowed(resp));
    cJSON_Delete(resp);
    resp = admit(&sv, "/mutate", multi, NULL, NULL);
    CU_ASSERT_FATAL(resp != NULL);
    CU_ASSERT(allowed(resp));
    const char *pt = patch_text(resp);
    CU_ASSERT_PTR_NOT_NULL(strstr(pt, "\"path\":\"/spec/template/spec/architecture\",\"value\":\"arm64\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(pt, "\"kubernetes.io/arch\":\"arm64\""));
    if (!strstr(pt, "arm64"))
        fprintf(stderr, "\npatch: %s\n", pt);
    cJSON_Delete(resp);

    /* the single s390x manifest (through its config blob): denied, "registry manifest" */
    char s390[256];
    snprintf(s390, sizeof s390, "%s/containerdisks/s390x:1", hostA);
    resp = admit(&sv, "/validate", s390, NULL, NULL);
    CU_ASSERT(resp && !allowed(resp));
    snprintf(want, sizeof want, "containerDisk %s (registry manifest: s390x)", s390);
    CU_ASSERT(resp && strstr(message(resp), want) != NULL);
    cJSON_Delete(resp);

    /* the annotation wins over the registry */
    resp = admit(&sv, "/validate", amd, "arm64", NULL);
    CU_ASSERT(resp && allowed(resp));
    cJSON_Delete(resp);

    /* an unknown tag: allowed with the unknown-image warning and why */
    char missing[256];
    snprintf(missing, sizeof missing, "%s/containerdisks/multi:nosuchtag", hostA);
    resp = admit(&sv, "/validate", missing, NULL, NULL);
    CU_ASSERT_FATAL(resp != NULL);
    CU_ASSERT(allowed(resp));
    warnings(resp, w, sizeof w);
    CU_ASSERT_PTR_NOT_NULL(strstr(w, "the boot image architecture is unknown"));
    CU_ASSERT_PTR_NOT_NULL(strstr(w, "(404)"));
    cJSON_Delete(resp);

    /* a reference that does not parse: unknown, and the warning names it */
    resp = admit(&sv, "/validate", "quay.io/Upper/Case:1", NULL, NULL);
    CU_ASSERT_FATAL(resp != NULL);
    CU_ASSERT(allowed(resp));
    warnings(resp, w, sizeof w);
    CU_ASSERT_PTR_NOT_NULL(strstr(w, "containerDisk quay.io/Upper/Case:1: not an image reference"));
    cJSON_Delete(resp);

    CU_ASSERT(server_metric(&sv, "archgate_registry_lookups_total{result=\"fetched\"}") >= 3);
    CU_ASSERT(server_metric(&sv, "archgate_registry_lookups_total{result=\"hit\"}") >= 1);
    CU_ASSERT(server_metric(&sv, "archgate_registry_lookups_total{result=\"not_found\"}") == 1);
    CU_ASSERT(server_metric(&sv, "archgate_registry_cache_entries") >= 4);
    CU_ASSERT(server_metric(&sv, "archgate_registry_lookup_duration_seconds_count") >= 4);
    server_stop(&sv, SIGTERM, NULL);

    /* the catalog wins over the registry: no lookup at all */
    char catalog[512];
    snprintf(catalog, sizeof catalog, "%s/catalog.json", dir);
    FILE *f = fopen(catalog, "w");
    CU_ASSERT_FATAL(f != NULL);
    fprintf(f, "{\"images\": {\"%s\": [\"arm64\"]}}\n", amd);
    fclose(f);
    const char *with_catalog[] = { "--image-catalog", catalog, NULL };
    CU_ASSERT_FATAL(launch(&sv, with_catalog));
    resp = admit(&sv, "/validate", amd, NULL, NULL);
    CU_ASSERT(resp && allowed(resp));
    cJSON_Delete(resp);
    CU_ASSERT(server_metric(&sv, "archgate_registry_lookups_total{result=\"fetched\"}") == 0);
    server_stop(&sv, SIGTERM, NULL);

    /* --registry-lookup off: unknown, as before this feature */
    const char *off[] = { "--registry-lookup", "off", NULL };
    CU_ASSERT_FATAL(launch(&sv, off));
    resp = admit(&sv, "/validate", amd, NULL, NULL);
    CU_ASSERT(resp && allowed(resp));
    warnings(resp, w, sizeof w);
    CU_ASSERT_PTR_NOT_NULL(strstr(w, "the boot image architecture is unknown"));
    CU_ASSERT_PTR_NULL(strstr(w, "registry"));
    cJSON_Delete(resp);
    server_stop(&sv, SIGTERM, NULL);
}

static void test_end_to_end_timeout(void)
{
    SETUP();
    write_cluster();
    struct server sv;
    const char *extra[] = { "--registry-timeout", "500ms", "--registry-insecure", fault_host, NULL };
    CU_ASSERT_FATAL(launch(&sv, extra));
    char image[256], w[2048];
    snprintf(image, sizeof image, "%s/fault/hang/e2e:1", fault_host);
    double secs = 0;
    cJSON *resp = admit(&sv, "/validate", image, NULL, &secs);
    CU_ASSERT_FATAL(resp != NULL);
    CU_ASSERT(allowed(resp));
    CU_ASSERT(secs < 0.5 + 0.3);
    CU_ASSERT(secs >= 0.45);
    warnings(resp, w, sizeof w);
    char want[256];
    snprintf(want, sizeof want, "registry %s did not answer within 0.5s", fault_host);
    if (!strstr(w, want))
        fprintf(stderr, "\nwarnings: %s\n", w);
    CU_ASSERT_PTR_NOT_NULL(strstr(w, want));
    cJSON_Delete(resp);
    /* /mutate waits the same, then admits untouched */
    resp = admit(&sv, "/mutate", image, NULL, &secs);
    CU_ASSERT(resp && allowed(resp));
    CU_ASSERT(secs < 0.5 + 0.3);
    cJSON_Delete(resp);
    CU_ASSERT(server_metric(&sv, "archgate_registry_lookups_total{result=\"request_timeout\"}") == 2);
    /* two failing lookups on one host: one warning line (at most one a minute per host) */
    for (int i = 0; i < 2; i++) {
        snprintf(image, sizeof image, "%s/fault/e500/warn%d:1", fault_host, i);
        resp = admit(&sv, "/validate", image, NULL, &secs);
        CU_ASSERT(resp && allowed(resp));
        cJSON_Delete(resp);
    }
    CU_ASSERT(server_metric(&sv, "archgate_registry_lookups_total{result=\"error\"}") == 2);
    char *log = tu_read_file(sv.log, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(log);
    int lines = 0;
    for (const char *p = log; (p = strstr(p, "registry lookup of ")) != NULL; p++)
        lines++;
    CU_ASSERT_EQUAL(lines, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "fault/e500/warn0:1 failed: registry"));
    mem_free(log);
    /* the server stops promptly although a lookup still hangs (it is aborted) */
    double stop_s = 0;
    CU_ASSERT_EQUAL(server_stop(&sv, SIGTERM, &stop_s), 0);
    CU_ASSERT(stop_s < 1.5);
}

static void test_review_cli(void)
{
    SETUP();
    write_cluster();
    char amd[256], in[512];
    snprintf(amd, sizeof amd, "%s/containerdisks/amd64only:1", hostA);
    snprintf(in, sizeof in, "%s/review-amd.json", dir);
    size_t len = 0;
    char *body = vm_review("6a2c1f0e-0000-4000-8000-000000000002", amd, NULL, &len);
    FILE *f = fopen(in, "w");
    CU_ASSERT_FATAL(f && body);
    fwrite(body, 1, len, f);
    fclose(f);
    mem_free(body);
    static char out[65536], err[4096];
    const char *args[] = { "review", "--cluster-state", cluster_dir, "--registry-ca", ca, NULL };
    int rc = itest_run_stdin(args, in, out, sizeof out, err, sizeof err);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "(registry index: amd64)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"allowed\":false"));
    /* a --registry-auth file that is not there: anonymous (the optional Secret is absent) */
    const char *absent[] = { "review", "--cluster-state", cluster_dir, "--registry-ca", ca, "--registry-auth",
                             "/nonexistent/config.json", NULL };
    rc = itest_run_stdin(absent, in, out, sizeof out, err, sizeof err);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "(registry index: amd64)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "anonymously"));
    /* one that is there but malformed is an error of the command */
    char badcfg[512];
    snprintf(badcfg, sizeof badcfg, "%s/bad-docker-config.json", dir);
    f = fopen(badcfg, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs("{\"auths\": [", f);
    fclose(f);
    const char *bad[] = { "review", "--cluster-state", cluster_dir, "--registry-auth", badcfg, NULL };
    rc = itest_run_stdin(bad, in, out, sizeof out, err, sizeof err);
    CU_ASSERT_EQUAL(rc, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "registry"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "bad-docker-config.json"));
    /* serve --check reads the credentials and prints the registry settings */
    const char *check_bad[] = { "serve", "--check", "--tls-cert", cert, "--tls-key", key, "--registry-auth", badcfg, NULL };
    rc = itest_run(check_bad, out, sizeof out, err, sizeof err);
    CU_ASSERT_NOT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "configuration invalid: registry credentials"));
    char goodcfg[512];
    snprintf(goodcfg, sizeof goodcfg, "%s/good-docker-config.json", dir);
    write_docker_config(goodcfg, "quay.io", "a:b");
    const char *check_good[] = { "serve", "--check", "--tls-cert", cert, "--tls-key", key, "--registry-auth", goodcfg,
                                 "--registry-timeout", "2.5s", "--registry-mirror", "quay.io=mirror.local:5000", NULL };
    rc = itest_run(check_good, out, sizeof out, err, sizeof err);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "registry credentials: 1 registries"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "registry-timeout      2500ms"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "registry-mirror       quay.io=mirror.local:5000"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "configuration OK"));
}

/* A HyperConverged edit whose golden images come from this registry: the annotation against the
 * index, both ways; a registry that cannot be read says nothing (issue 12). */
static void test_hyperconverged_sources(void)
{
    SETUP();
    write_cluster();
    char in[512], nowhere[64];
    snprintf(in, sizeof in, "%s/review-hco.json", dir);
    snprintf(nowhere, sizeof nowhere, "127.0.0.1:%u", reg_free_port());
#define HDICT(name, host, repo, archs) \
    "{\"metadata\":{\"name\":\"" name "\",\"annotations\":{\"ssp.kubevirt.io/dict.architectures\":\"" archs "\"}}," \
    "\"spec\":{\"template\":{\"spec\":{\"source\":{\"registry\":{\"url\":\"docker://%s/" repo "\"}}}}}}"
    FILE *f = fopen(in, "w");
    CU_ASSERT_FATAL(f != NULL);
    fprintf(f,
            "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"h-1\","
            "\"kind\":{\"group\":\"hco.kubevirt.io\",\"version\":\"v1beta1\",\"kind\":\"HyperConverged\"},"
            "\"resource\":{\"group\":\"hco.kubevirt.io\",\"version\":\"v1beta1\",\"resource\":\"hyperconvergeds\"},"
            "\"name\":\"kubevirt-hyperconverged\",\"namespace\":\"kubevirt-hyperconverged\",\"operation\":\"CREATE\","
            "\"object\":{\"apiVersion\":\"hco.kubevirt.io/v1beta1\",\"kind\":\"HyperConverged\",\"metadata\":{"
            "\"name\":\"kubevirt-hyperconverged\",\"namespace\":\"kubevirt-hyperconverged\"},\"spec\":{"
            "\"featureGates\":{\"enableMultiArchBootImageImport\":true},\"dataImportCronTemplates\":["
            HDICT("agree", "%s", "containerdisks/multi:1", "amd64,arm64") ","
            HDICT("disagree", "%s", "containerdisks/amd64only:1", "amd64,arm64") ","
            HDICT("more", "%s", "containerdisks/multi:1", "arm64") ","
            HDICT("unreachable", "%s", "x/y:1", "amd64") "]}}}}",
            hostA, hostA, hostA, nowhere);
#undef HDICT
    fclose(f);
    static char out[65536], err[4096];
    const char *args[] = { "review", "--cluster-state", cluster_dir, "--registry-ca", ca, "--registry-timeout", "1s",
                           NULL };
    double t0 = mono_s();
    int rc = itest_run_stdin(args, in, out, sizeof out, err, sizeof err);
    double secs = mono_s() - t0;
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"allowed\":true"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "golden image disagree: annotated arm64, but its registry index lists only amd64"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "golden image more: its registry index also lists amd64, which the annotation "
                                       "leaves out"));
    CU_ASSERT_PTR_NULL(strstr(out, "golden image agree: annotated amd64, arm64, but its"));
    CU_ASSERT_PTR_NULL(strstr(out, "golden image agree: its"));
    CU_ASSERT_PTR_NULL(strstr(out, "golden image unreachable: annotated amd64, but its"));
    CU_ASSERT_PTR_NULL(strstr(out, "golden image unreachable: its"));
    /* the other warnings stay: the cluster's only workload node is arm64 */
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "golden image unreachable: annotated amd64, but no workload node runs it"));
    CU_ASSERT(secs < 1.0 + 1.5);
    /* with lookups off, nothing is said about the registry */
    const char *off[] = { "review", "--cluster-state", cluster_dir, "--registry-lookup", "off", NULL };
    rc = itest_run_stdin(off, in, out, sizeof out, err, sizeof err);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NULL(strstr(out, "registry index"));
}

UNIT_SUITE("itest_registry", NULL, suite_cleanup,
           { "the client reads index, list, schema 2 and OCI manifests from docker-registry", test_client_kinds },
           { "plain HTTP only for --registry-insecure hosts; a mirror", test_insecure_and_mirror },
           { "Basic authentication (htpasswd) from a Docker config file", test_basic_auth },
           { "bearer-token challenge with a token issuer the registry trusts; tokens reused", test_bearer_token },
           { "anonymous bearer tokens; a mirror asked with its own credentials", test_anonymous_token_and_mirror_credentials },
           { "faults are answered within --registry-timeout; failures cached 30 s", test_faults_within_timeout },
           { "concurrent requests share one lookup; a late result fills the cache; tag TTL", test_late_result_and_sharing },
           { "the registry stopped and started again mid-run", test_registry_restart },
           { "end to end: deny, /mutate pins, source in messages, catalog and annotation win, off", test_end_to_end },
           { "end to end: a registry that never answers costs --registry-timeout, no more", test_end_to_end_timeout },
           { "archgate review asks the registry too; --registry-auth; serve --check", test_review_cli },
           { "a HyperConverged edit: golden-image annotations against the registry", test_hyperconverged_sources })
