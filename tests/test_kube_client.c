/* test_kube_client.c - the kube-apiserver client over real HTTPS on 127.0.0.1: a small
 * libmicrohttpd server of this file's own (certificates made here with OpenSSL: a CA, a server
 * and a client certificate it signed, and a second CA with a server of its own) serving JSON,
 * a 404 Status, oversized bodies, chunked line streams with delays, stalls and silences, long
 * lines, the bearer token it saw and a client-certificate check. Also one list and watch
 * against the stand-in kube-apiserver (kubefake.h). */
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "kube_client.h"
#include "kubefake.h"
#include "mem.h"
#include "patch.h"
#include "pool.h"
#include "unit.h"
#include "testutil.h"

/* ---- certificates ---- */

struct cert {
    EVP_PKEY *key;
    X509 *crt;
    char *crt_pem, *key_pem;    /* mem_malloc'd */
    size_t crt_len, key_len;
};

static char *bio_text(BIO *b, size_t *len)
{
    char *data;
    long n = BIO_get_mem_data(b, &data);
    if (n <= 0)
        return NULL;
    char *s = mem_malloc((size_t)n + 1);
    if (!s)
        return NULL;
    memcpy(s, data, (size_t)n);
    s[n] = '\0';
    *len = (size_t)n;
    return s;
}

static bool add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!e)
        return false;
    bool ok = X509_add_ext(x, e, -1) == 1;
    X509_EXTENSION_free(e);
    return ok;
}

/* An EC P-256 certificate: a CA (self-signed when issuer is NULL) or a leaf for 127.0.0.1. */
static bool cert_make(struct cert *c, const struct cert *issuer, bool ca, const char *cn, long serial)
{
    bool ok = false;
    BIO *b1 = NULL, *b2 = NULL;
    memset(c, 0, sizeof *c);
    c->key = EVP_EC_gen("P-256");
    c->crt = X509_new();
    if (!c->key || !c->crt)
        goto cleanup;
    X509 *iss = issuer ? issuer->crt : c->crt;
    EVP_PKEY *ikey = issuer ? issuer->key : c->key;
    X509_NAME *n = X509_get_subject_name(c->crt);
    if (!X509_set_version(c->crt, 2) || !ASN1_INTEGER_set(X509_get_serialNumber(c->crt), serial) ||
        !X509_gmtime_adj(X509_getm_notBefore(c->crt), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(c->crt), 86400) || !X509_set_pubkey(c->crt, c->key) ||
        !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) ||
        !X509_set_issuer_name(c->crt, X509_get_subject_name(iss)))
        goto cleanup;
    if (ca) {
        if (!add_ext(c->crt, iss, NID_basic_constraints, "critical,CA:TRUE") ||
            !add_ext(c->crt, iss, NID_key_usage, "critical,keyCertSign,cRLSign"))
            goto cleanup;
    } else {
        if (!add_ext(c->crt, iss, NID_basic_constraints, "critical,CA:FALSE") ||
            !add_ext(c->crt, iss, NID_key_usage, "critical,digitalSignature") ||
            !add_ext(c->crt, iss, NID_ext_key_usage, "serverAuth,clientAuth") ||
            !add_ext(c->crt, iss, NID_subject_alt_name, "IP:127.0.0.1"))
            goto cleanup;
    }
    if (!X509_sign(c->crt, ikey, EVP_sha256()))
        goto cleanup;
    b1 = BIO_new(BIO_s_mem());
    b2 = BIO_new(BIO_s_mem());
    if (!b1 || !b2 || !PEM_write_bio_X509(b1, c->crt) || !PEM_write_bio_PrivateKey(b2, c->key, NULL, NULL, 0, NULL, NULL))
        goto cleanup;
    c->crt_pem = bio_text(b1, &c->crt_len);
    c->key_pem = bio_text(b2, &c->key_len);
    ok = c->crt_pem && c->key_pem;
cleanup:
    BIO_free(b1);
    BIO_free(b2);
    return ok;
}

static void cert_free(struct cert *c)
{
    EVP_PKEY_free(c->key);
    X509_free(c->crt);
    mem_free(c->crt_pem);
    mem_free(c->key_pem);
    memset(c, 0, sizeof *c);
}

/* ---- the test server ---- */

static atomic_bool quitting;

/* Sleep `ms` in small steps; false when the server is shutting down. */
static bool nap(long ms)
{
    for (long t = 0; t < ms; t += 10) {
        if (atomic_load(&quitting))
            return false;
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep(&ts, NULL);
    }
    return !atomic_load(&quitting);
}

enum gen_kind { GEN_LINES, GEN_STALL, GEN_SILENT };
struct gen {
    enum gen_kind kind;
    int step;
};

static const char *const line_parts[] = { "{\"n\":1}\n", "{\"n\":", "2}\n\n\n", "{\"n\":3}\r\n", "{\"n\":4}\n" };

static ssize_t gen_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct gen *g = cls;
    const char *out = NULL;
    switch (g->kind) {
    case GEN_LINES:
        if (g->step >= (int)(sizeof line_parts / sizeof line_parts[0]))
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (g->step > 0 && !nap(40))
            return MHD_CONTENT_READER_END_WITH_ERROR;
        out = line_parts[g->step++];
        break;
    case GEN_STALL:
        if (g->step++ == 0) {
            out = "first\n";
            break;
        }
        nap(5000);   /* then nothing */
        return MHD_CONTENT_READER_END_WITH_ERROR;
    case GEN_SILENT:
        nap(5000);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = strlen(out);
    if (n > max)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    memcpy(buf, out, n);
    return (ssize_t)n;
}

static void gen_free(void *cls)
{
    free(cls);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *body, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *body)
{
    return reply(conn, status, body, strlen(body));
}

static enum MHD_Result reply_gen(struct MHD_Connection *conn, enum gen_kind kind)
{
    struct gen *g = calloc(1, sizeof *g);
    if (!g)
        return MHD_NO;
    g->kind = kind;
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, gen_read, g, gen_free);
    if (!r) {
        free(g);
        return MHD_NO;
    }
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static bool client_cert_ok(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session)
        return false;
    gnutls_session_t s = (gnutls_session_t)ci->tls_session;
    unsigned st = 0, n = 0;
    if (gnutls_certificate_verify_peers2(s, &st) != 0 || st != 0)
        return false;
    return gnutls_certificate_get_peers(s, &n) != NULL && n > 0;
}

#define BIG_LEN 100000
#define LONG_LINE 10000

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **state)
{
    (void)cls;
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)state;
    if (strcmp(method, "GET") != 0)
        return reply_text(conn, 405, "{\"kind\":\"Status\",\"code\":405}");
    if (strcmp(url, "/json") == 0) {
        const char *accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept");
        const char *ua = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "User-Agent");
        if (!accept || strcmp(accept, "application/json") != 0)
            return reply_text(conn, 400, "{\"message\":\"Accept is not application/json\"}");
        if (!ua || strcmp(ua, "archgate/0.1.0") != 0)
            return reply_text(conn, 400, "{\"message\":\"wrong User-Agent\"}");
        return reply_text(conn, 200, "{\"kind\":\"NodeList\",\"apiVersion\":\"v1\",\"items\":[]}");
    }
    if (strcmp(url, "/gone") == 0)
        return reply_text(conn, 410, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
                                     "\"reason\":\"Expired\",\"code\":410}");
    if (strcmp(url, "/big") == 0 || strcmp(url, "/bigerror") == 0) {
        char *b = malloc(BIG_LEN);
        if (!b)
            return MHD_NO;
        memset(b, 'a', BIG_LEN);
        enum MHD_Result r = reply(conn, url[4] ? 500 : 200, b, BIG_LEN);
        free(b);
        return r;
    }
    if (strcmp(url, "/longline") == 0) {
        static char b[LONG_LINE + 16];
        memset(b, 'x', LONG_LINE);
        memcpy(b + LONG_LINE, "\nshort\n", 7);
        return reply(conn, 200, b, LONG_LINE + 7);
    }
    if (strcmp(url, "/noeol") == 0)
        return reply_text(conn, 200, "a\nb");
    if (strcmp(url, "/token") == 0) {
        const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
        return reply_text(conn, 200, auth ? auth : "none");
    }
    if (strcmp(url, "/clientcert") == 0)
        return client_cert_ok(conn) ? reply_text(conn, 200, "verified") : reply_text(conn, 401, "no client certificate");
    if (strcmp(url, "/lines") == 0)
        return reply_gen(conn, GEN_LINES);
    if (strcmp(url, "/stall") == 0)
        return reply_gen(conn, GEN_STALL);
    if (strcmp(url, "/silent") == 0)
        return reply_gen(conn, GEN_SILENT);
    return reply_text(conn, 404, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
                                 "\"reason\":\"NotFound\",\"code\":404}");
}

static struct MHD_Daemon *serve(const struct cert *c, const struct cert *trust, unsigned short *port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0 };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS;
    if (trust)
        d = MHD_start_daemon(flags, 0, NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, &sa,
                             MHD_OPTION_HTTPS_MEM_CERT, c->crt_pem, MHD_OPTION_HTTPS_MEM_KEY, c->key_pem,
                             MHD_OPTION_HTTPS_MEM_TRUST, trust->crt_pem, MHD_OPTION_END);
    else
        d = MHD_start_daemon(flags, 0, NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, &sa,
                             MHD_OPTION_HTTPS_MEM_CERT, c->crt_pem, MHD_OPTION_HTTPS_MEM_KEY, c->key_pem,
                             MHD_OPTION_END);
    if (!d)
        return NULL;
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *port = i ? i->port : 0;
    return d;
}

/* ---- suite ---- */

static char dir[64];
static char ca_file[128], ca2_file[128], client_crt[128], client_key[128], token_file[128];
static struct cert ca, srv, client, ca2, rogue;
static struct MHD_Daemon *main_d, *rogue_d;
static unsigned short main_port, rogue_port;
static char server_url[64], rogue_url[64];

static bool write_file(const char *p, const char *data)
{
    FILE *f = fopen(p, "wb");
    if (!f)
        return false;
    size_t n = strlen(data);
    bool ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static int suite_init(void)
{
    signal(SIGPIPE, SIG_IGN);
    atomic_store(&quitting, false);
    snprintf(dir, sizeof dir, "/tmp/archgate-kubeclient.XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    snprintf(ca_file, sizeof ca_file, "%s/ca.crt", dir);
    snprintf(ca2_file, sizeof ca2_file, "%s/ca2.crt", dir);
    snprintf(client_crt, sizeof client_crt, "%s/client.crt", dir);
    snprintf(client_key, sizeof client_key, "%s/client.key", dir);
    snprintf(token_file, sizeof token_file, "%s/token", dir);
    if (!cert_make(&ca, NULL, true, "archgate test CA", 1) || !cert_make(&srv, &ca, false, "kube-apiserver", 2) ||
        !cert_make(&client, &ca, false, "system:serviceaccount:archgate:archgate", 3) ||
        !cert_make(&ca2, NULL, true, "another CA", 4) || !cert_make(&rogue, &ca2, false, "impostor", 5))
        return 1;
    if (!write_file(ca_file, ca.crt_pem) || !write_file(ca2_file, ca2.crt_pem) ||
        !write_file(client_crt, client.crt_pem) || !write_file(client_key, client.key_pem))
        return 1;
    main_d = serve(&srv, &ca, &main_port);
    rogue_d = serve(&rogue, NULL, &rogue_port);
    if (!main_d || !rogue_d || !main_port || !rogue_port)
        return 1;
    snprintf(server_url, sizeof server_url, "https://127.0.0.1:%u", main_port);
    snprintf(rogue_url, sizeof rogue_url, "https://127.0.0.1:%u", rogue_port);
    return 0;
}

static int suite_cleanup(void)
{
    atomic_store(&quitting, true);
    if (main_d)
        MHD_stop_daemon(main_d);
    if (rogue_d)
        MHD_stop_daemon(rogue_d);
    main_d = rogue_d = NULL;
    cert_free(&ca);
    cert_free(&srv);
    cert_free(&client);
    cert_free(&ca2);
    cert_free(&rogue);
    return tu_rmtree(dir);
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A client for the main server trusting the CA file, with an optional static token. */
static struct kube_client *client_for(const char *url, const char *ca_path, const char *token)
{
    struct kube_config cfg = { 0 };
    cfg.server = (char *)(uintptr_t)url;
    cfg.ca_file = (char *)(uintptr_t)ca_path;
    cfg.token = (char *)(uintptr_t)token;
    char err[512] = "";
    struct kube_client *c = kube_client_new(&cfg, err, sizeof err);
    if (!c)
        fprintf(stderr, "\n  kube_client_new: %s\n", err);
    return c;
}

/* GET and return the status (-1 on a result other than AG_OK); body copied into out. */
static long get(struct kube_client *c, const char *path, char *out, size_t outlen)
{
    long status = 0;
    char *body = NULL, err[512] = "";
    size_t len = 0;
    enum ag_result r = kube_client_get(c, path, 1 << 20, 5000, &status, &body, &len, err, sizeof err);
    if (r != AG_OK) {
        if (out)
            snprintf(out, outlen, "%s", err);
        return -1;
    }
    if (out)
        snprintf(out, outlen, "%s", body);
    CU_ASSERT_EQUAL(strlen(body), len);
    mem_free(body);
    return status;
}

/* ---- GET ---- */

static void test_get(void)
{
    long live = mem_live();
    struct kube_client *c = client_for(server_url, ca_file, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    long status = 0;
    char *body = NULL, err[512] = "";
    size_t len = 0;
    CU_ASSERT_EQUAL(kube_client_get(c, "/json", 4096, 5000, &status, &body, &len, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(status, 200);   /* the server also checked Accept and User-Agent */
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    CU_ASSERT_STRING_EQUAL(body, "{\"kind\":\"NodeList\",\"apiVersion\":\"v1\",\"items\":[]}");
    CU_ASSERT_EQUAL(len, strlen(body));
    mem_free(body);

    /* A 404 Status is an answer, not a failure. */
    body = NULL;
    CU_ASSERT_EQUAL(kube_client_get(c, "/apis/hco.kubevirt.io/v1/hyperconvergeds", 4096, 5000, &status, &body, &len,
                                    err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(status, 404);
    CU_ASSERT(body && strstr(body, "\"reason\":\"NotFound\"") != NULL);
    mem_free(body);

    /* Two requests on one client: the connection is kept. */
    CU_ASSERT_EQUAL(get(c, "/gone", NULL, 0), 410);

    /* A path without its slash. */
    body = (char *)1;
    CU_ASSERT_EQUAL(kube_client_get(c, "json", 4096, 5000, &status, &body, &len, err, sizeof err), AG_EINVAL);
    CU_ASSERT_PTR_NULL(body);
    kube_client_free(c);
    CU_ASSERT_EQUAL(mem_live(), live);
}

static void test_get_limit(void)
{
    long live = mem_live();
    struct kube_client *c = client_for(server_url, ca_file, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    long status = 0;
    char *body = NULL, err[512] = "";
    size_t len = 0;
    CU_ASSERT_EQUAL(kube_client_get(c, "/big", 64 * 1024, 5000, &status, &body, &len, err, sizeof err), AG_ETOOBIG);
    CU_ASSERT_PTR_NULL(body);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "larger than 65536 bytes"));
    CU_ASSERT_EQUAL(kube_client_get(c, "/big", BIG_LEN - 1, 5000, &status, &body, &len, err, sizeof err), AG_ETOOBIG);
    /* Exactly the limit is fine; the client goes on working after an aborted transfer. */
    CU_ASSERT_EQUAL(kube_client_get(c, "/big", BIG_LEN, 5000, &status, &body, &len, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(status, 200);
    CU_ASSERT_EQUAL(len, BIG_LEN);
    CU_ASSERT(body && body[0] == 'a' && body[BIG_LEN - 1] == 'a' && body[BIG_LEN] == '\0');
    mem_free(body);
    kube_client_free(c);
    CU_ASSERT_EQUAL(mem_live(), live);
}

static void test_get_transport_errors(void)
{
    long live = mem_live();
    char err[512] = "", url[128];
    long status = 7;
    char *body = NULL;
    size_t len = 0;

    /* Timeout: the server sends headers and then nothing. */
    struct kube_client *c = client_for(server_url, ca_file, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    long long t0 = mono_ms();
    CU_ASSERT_EQUAL(kube_client_get(c, "/silent", 4096, 300, &status, &body, &len, err, sizeof err), AG_EIO);
    long long took = mono_ms() - t0;
    CU_ASSERT(took >= 250 && took < 2000);
    snprintf(url, sizeof url, "%s/silent", server_url);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, url));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "Timeout"));
    CU_ASSERT_PTR_NULL(body);
    kube_client_free(c);

    /* Nobody listening. */
    c = client_for("https://127.0.0.1:1", ca_file, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(kube_client_get(c, "/json", 4096, 2000, &status, &body, &len, err, sizeof err), AG_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "https://127.0.0.1:1/json"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "connect"));
    kube_client_free(c);

    /* Configurations the client refuses. */
    struct kube_config cfg = { 0 };
    CU_ASSERT_PTR_NULL(kube_client_new(&cfg, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "https://"));
    cfg.server = (char *)"http://127.0.0.1:8080";
    CU_ASSERT_PTR_NULL(kube_client_new(&cfg, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "http://127.0.0.1:8080"));
    CU_ASSERT_PTR_NULL(kube_client_new(NULL, err, sizeof err));
    CU_ASSERT_EQUAL(mem_live(), live);
}

/* ---- TLS ---- */

static void test_tls_verification(void)
{
    long live = mem_live();
    char out[512];

    /* The rogue server's certificate comes from another CA: refused, by file or by data. */
    struct kube_client *c = client_for(rogue_url, ca_file, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(get(c, "/json", out, sizeof out), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, rogue_url));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "SSL"));
    kube_client_free(c);

    struct kube_config cfg = { 0 };
    char err[512];
    cfg.server = rogue_url;
    cfg.ca_data = ca.crt_pem;
    cfg.ca_len = ca.crt_len;
    c = kube_client_new(&cfg, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(get(c, "/json", out, sizeof out), -1);
    kube_client_free(c);

    /* Its own CA as data: accepted (the data is used). */
    cfg.ca_data = ca2.crt_pem;
    cfg.ca_len = ca2.crt_len;
    c = kube_client_new(&cfg, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(get(c, "/json", out, sizeof out), 200);
    kube_client_free(c);

    /* No CA configured: the system's, which do not know the test CA. */
    c = client_for(server_url, NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(get(c, "/json", out, sizeof out), -1);
    kube_client_free(c);

    /* The right CA but another host name than the certificate's (only IP:127.0.0.1). */
    char url[64];
    snprintf(url, sizeof url, "https://localhost:%u", main_port);
    c = client_for(url, ca_file, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(get(c, "/json", out, sizeof out), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, url));
    kube_client_free(c);
    CU_ASSERT_EQUAL(mem_live(), live);
}

static void test_client_certificate(void)
{
    long live = mem_live();
    char out[512], err[512] = "";
    struct kube_config cfg = { 0 };
    cfg.server = server_url;
    cfg.ca_file = ca_file;

    /* None: the server says 401. */
    struct kube_client *c = kube_client_new(&cfg, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(get(c, "/clientcert", out, sizeof out), 401);
    kube_client_free(c);

    /* Files. */
    cfg.cert_file = client_crt;
    cfg.key_file = client_key;
    c = kube_client_new(&cfg, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(get(c, "/clientcert", out, sizeof out), 200);
    CU_ASSERT_STRING_EQUAL(out, "verified");
    kube_client_free(c);

    /* PEM in memory. */
    cfg.cert_file = cfg.key_file = NULL;
    cfg.cert_data = client.crt_pem;
    cfg.cert_len = client.crt_len;
    cfg.key_data = client.key_pem;
    cfg.key_len = client.key_len;
    c = kube_client_new(&cfg, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(get(c, "/clientcert", out, sizeof out), 200);
    kube_client_free(c);

    /* A certificate from the other CA is not accepted (401 or a failed handshake). */
    cfg.cert_data = rogue.crt_pem;
    cfg.cert_len = rogue.crt_len;
    cfg.key_data = rogue.key_pem;
    cfg.key_len = rogue.key_len;
    c = kube_client_new(&cfg, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    long st = get(c, "/clientcert", out, sizeof out);
    CU_ASSERT(st == 401 || st == -1);
    kube_client_free(c);
    CU_ASSERT_EQUAL(mem_live(), live);
}

/* A kubeconfig with every piece as base64 data, loaded and used. */
static void test_kubeconfig_end_to_end(void)
{
    long live = mem_live();
    struct pool *p = pool_new(0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    char *text = pool_printf(p,
                             "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
                             "clusters:\n- name: test\n  cluster:\n    server: %s\n"
                             "    certificate-authority-data: %s\n"
                             "contexts:\n- name: test\n  context:\n    cluster: test\n    user: admin\n"
                             "users:\n- name: admin\n  user:\n    client-certificate-data: %s\n"
                             "    client-key-data: %s\n",
                             server_url, patch_base64(ca.crt_pem, ca.crt_len, p),
                             patch_base64(client.crt_pem, client.crt_len, p),
                             patch_base64(client.key_pem, client.key_len, p));
    char path[128], err[512] = "", out[512];
    snprintf(path, sizeof path, "%s/kubeconfig", dir);
    CU_ASSERT_FATAL(text && write_file(path, text));
    pool_free(p);
    struct kube_config cfg;
    CU_ASSERT_EQUAL_FATAL(kube_config_load(path, &cfg, err, sizeof err), AG_OK);
    struct kube_client *c = kube_client_new(&cfg, err, sizeof err);
    kube_config_free(&cfg);    /* the client keeps what it needs */
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(get(c, "/clientcert", out, sizeof out), 200);
    kube_client_free(c);
    CU_ASSERT_EQUAL(mem_live(), live);
}

/* ---- line collection ---- */

struct lines {
    char text[8][128];
    size_t n;
    size_t stop_after;          /* fn returns false after this many lines (0: never) */
    size_t longest;
    bool terminated;            /* every line[len] was '\0' */
    long long first_ms;
};

static bool on_line(void *arg, const char *line, size_t len)
{
    struct lines *l = arg;
    if (line[len] != '\0')
        l->terminated = false;
    if (len > l->longest)
        l->longest = len;
    if (l->n == 0)
        l->first_ms = mono_ms();
    if (l->n < 8)
        snprintf(l->text[l->n], sizeof l->text[0], "%.*s", (int)(len < 127 ? len : 127), line);
    l->n++;
    return !(l->stop_after && l->n >= l->stop_after);
}

/* ---- bearer tokens ---- */

static void write_token_rename(const char *tok)
{
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.new", token_file);
    CU_ASSERT_FATAL(write_file(tmp, tok));
    CU_ASSERT_FATAL(rename(tmp, token_file) == 0);
}

static void test_bearer_tokens(void)
{
    long live = mem_live();
    char out[512], err[512] = "";
    struct kube_client *c = client_for(server_url, ca_file, "static-token");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(get(c, "/token", out, sizeof out), 200);
    CU_ASSERT_STRING_EQUAL(out, "Bearer static-token");
    kube_client_free(c);

    c = client_for(server_url, ca_file, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(get(c, "/token", out, sizeof out), 200);
    CU_ASSERT_STRING_EQUAL(out, "none");
    kube_client_free(c);

    /* A token file: read at the first request, re-read when it changes. */
    write_token_rename("tok-1\n");
    struct kube_config cfg = { 0 };
    cfg.server = server_url;
    cfg.ca_file = ca_file;
    cfg.token_file = token_file;
    c = kube_client_new(&cfg, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(get(c, "/token", out, sizeof out), 200);
    CU_ASSERT_STRING_EQUAL(out, "Bearer tok-1");
    /* Rotation the kubelet way (a new file renamed over it). */
    write_token_rename("tok-2-longer");
    CU_ASSERT_EQUAL(get(c, "/token", out, sizeof out), 200);
    CU_ASSERT_STRING_EQUAL(out, "Bearer tok-2-longer");
    CU_ASSERT_EQUAL(get(c, "/token", out, sizeof out), 200);
    CU_ASSERT_STRING_EQUAL(out, "Bearer tok-2-longer");
    /* Rewritten in place with the same length. */
    struct timespec ts = { 0, 20 * 1000000L };
    nanosleep(&ts, NULL);
    CU_ASSERT_FATAL(write_file(token_file, "tok-3-longer"));
    CU_ASSERT_EQUAL(get(c, "/token", out, sizeof out), 200);
    CU_ASSERT_STRING_EQUAL(out, "Bearer tok-3-longer");
    /* Gone or empty for a moment (mid-rotation): the last good token is kept. */
    CU_ASSERT_FATAL(unlink(token_file) == 0);
    CU_ASSERT_EQUAL(get(c, "/token", out, sizeof out), 200);
    CU_ASSERT_STRING_EQUAL(out, "Bearer tok-3-longer");
    write_token_rename("");
    CU_ASSERT_EQUAL(get(c, "/token", out, sizeof out), 200);
    CU_ASSERT_STRING_EQUAL(out, "Bearer tok-3-longer");
    write_token_rename("tok-4");
    CU_ASSERT_EQUAL(get(c, "/token", out, sizeof out), 200);
    CU_ASSERT_STRING_EQUAL(out, "Bearer tok-4");
    /* A token with a line break inside is never sent as a header. */
    write_token_rename("tok-5\nX-Injected: 1");
    CU_ASSERT_EQUAL(get(c, "/token", out, sizeof out), 200);
    CU_ASSERT_STRING_EQUAL(out, "Bearer tok-4");
    kube_client_free(c);

    /* With no good token ever read, the request fails naming the file. */
    CU_ASSERT_FATAL(unlink(token_file) == 0);
    c = kube_client_new(&cfg, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(get(c, "/token", out, sizeof out), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, token_file));
    struct lines l = { .terminated = true };
    long status;
    CU_ASSERT_EQUAL(kube_client_stream(c, "/lines", 1024, 1000, NULL, on_line, &l, &status, err, sizeof err), AG_EIO);
    CU_ASSERT_EQUAL(l.n, 0);
    kube_client_free(c);
    CU_ASSERT_EQUAL(mem_live(), live);
}

/* ---- streams ---- */

static void test_stream_lines(void)
{
    long live = mem_live();
    struct kube_client *c = client_for(server_url, ca_file, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    char err[512] = "";
    long status = 0;
    atomic_bool stop = false;
    struct lines l = { .terminated = true };
    CU_ASSERT_EQUAL(kube_client_stream(c, "/lines", 1024, 2000, &stop, on_line, &l, &status, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(status, 200);
    /* Joined across chunks, empty lines skipped, "\r\n" taken as an end of line. */
    CU_ASSERT_EQUAL_FATAL(l.n, 4);
    CU_ASSERT_STRING_EQUAL(l.text[0], "{\"n\":1}");
    CU_ASSERT_STRING_EQUAL(l.text[1], "{\"n\":2}");
    CU_ASSERT_STRING_EQUAL(l.text[2], "{\"n\":3}");
    CU_ASSERT_STRING_EQUAL(l.text[3], "{\"n\":4}");
    CU_ASSERT(l.terminated);

    /* fn returning false ends the stream: AG_OK. */
    struct lines l2 = { .terminated = true, .stop_after = 2 };
    CU_ASSERT_EQUAL(kube_client_stream(c, "/lines", 1024, 2000, NULL, on_line, &l2, &status, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(l2.n, 2);

    /* A last line without its newline is still handed over. */
    struct lines l3 = { .terminated = true };
    CU_ASSERT_EQUAL(kube_client_stream(c, "/noeol", 1024, 2000, NULL, on_line, &l3, &status, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL_FATAL(l3.n, 2);
    CU_ASSERT_STRING_EQUAL(l3.text[0], "a");
    CU_ASSERT_STRING_EQUAL(l3.text[1], "b");

    /* Already stopped: nothing is requested. */
    atomic_store(&stop, true);
    struct lines l4 = { .terminated = true };
    CU_ASSERT_EQUAL(kube_client_stream(c, "/lines", 1024, 2000, &stop, on_line, &l4, &status, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(l4.n, 0);
    kube_client_free(c);
    CU_ASSERT_EQUAL(mem_live(), live);
}

static void test_stream_error_status(void)
{
    long live = mem_live();
    struct kube_client *c = client_for(server_url, ca_file, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    char err[512] = "";
    long status = 0;
    struct lines l = { .terminated = true };
    CU_ASSERT_EQUAL(kube_client_stream(c, "/gone", 1024, 2000, NULL, on_line, &l, &status, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(status, 410);
    CU_ASSERT_EQUAL_FATAL(l.n, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(l.text[0], "\"reason\":\"Expired\""));

    /* A 404 whose Status is longer than max_line still arrives whole (the limit is 64 KiB). */
    struct lines l2 = { .terminated = true };
    CU_ASSERT_EQUAL(kube_client_stream(c, "/nothing-here", 16, 2000, NULL, on_line, &l2, &status, err, sizeof err),
                    AG_OK);
    CU_ASSERT_EQUAL(status, 404);
    CU_ASSERT_EQUAL(l2.n, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(l2.text[0], "NotFound"));

    /* An error body over 64 KiB: its first 64 KiB. */
    struct lines l3 = { .terminated = true };
    CU_ASSERT_EQUAL(kube_client_stream(c, "/bigerror", 1024, 2000, NULL, on_line, &l3, &status, err, sizeof err),
                    AG_OK);
    CU_ASSERT_EQUAL(status, 500);
    CU_ASSERT_EQUAL(l3.n, 1);
    CU_ASSERT_EQUAL(l3.longest, 64 * 1024);
    CU_ASSERT(l3.terminated);
    kube_client_free(c);
    CU_ASSERT_EQUAL(mem_live(), live);
}

static void test_stream_long_line(void)
{
    long live = mem_live();
    struct kube_client *c = client_for(server_url, ca_file, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    char err[512] = "";
    long status = 0;
    struct lines l = { .terminated = true };
    CU_ASSERT_EQUAL(kube_client_stream(c, "/longline", 4096, 2000, NULL, on_line, &l, &status, err, sizeof err),
                    AG_ETOOBIG);
    CU_ASSERT_EQUAL(l.n, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "longer than 4096 bytes"));
    /* One byte short of the line, and exactly the line. */
    CU_ASSERT_EQUAL(kube_client_stream(c, "/longline", LONG_LINE - 1, 2000, NULL, on_line, &l, &status, err,
                                       sizeof err), AG_ETOOBIG);
    struct lines l2 = { .terminated = true };
    CU_ASSERT_EQUAL(kube_client_stream(c, "/longline", LONG_LINE, 2000, NULL, on_line, &l2, &status, err, sizeof err),
                    AG_OK);
    CU_ASSERT_EQUAL(l2.n, 2);
    CU_ASSERT_EQUAL(l2.longest, LONG_LINE);
    CU_ASSERT_STRING_EQUAL(l2.text[1], "short");
    CU_ASSERT(l2.terminated);
    kube_client_free(c);
    CU_ASSERT_EQUAL(mem_live(), live);
}

static void test_stream_stall(void)
{
    long live = mem_live();
    struct kube_client *c = client_for(server_url, ca_file, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    char err[512] = "", url[128];
    long status = 0;
    struct lines l = { .terminated = true };
    long long t0 = mono_ms();
    CU_ASSERT_EQUAL(kube_client_stream(c, "/stall", 1024, 300, NULL, on_line, &l, &status, err, sizeof err), AG_EIO);
    long long t1 = mono_ms();
    CU_ASSERT_EQUAL(l.n, 1);
    CU_ASSERT_STRING_EQUAL(l.text[0], "first");
    CU_ASSERT_EQUAL(status, 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "stalled"));
    snprintf(url, sizeof url, "%s/stall", server_url);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, url));
    /* Measured from the last byte (the first line). */
    CU_ASSERT(t1 - l.first_ms >= 290 && t1 - l.first_ms < 700);
    CU_ASSERT(t1 - t0 < 1500);
    kube_client_free(c);
    CU_ASSERT_EQUAL(mem_live(), live);
}

struct stopper {
    atomic_bool *stop;
    long delay_ms;
    long long set_ms;
};

static void *stop_later(void *arg)
{
    struct stopper *s = arg;
    struct timespec ts = { s->delay_ms / 1000, (s->delay_ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
    s->set_ms = mono_ms();
    atomic_store(s->stop, true);
    return NULL;
}

static void test_stream_stop(void)
{
    long live = mem_live();
    struct kube_client *c = client_for(server_url, ca_file, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    char err[512] = "";
    long status = 0;
    atomic_bool stop = false;
    struct stopper s = { .stop = &stop, .delay_ms = 300 };
    pthread_t t;
    CU_ASSERT_FATAL(pthread_create(&t, NULL, stop_later, &s) == 0);
    struct lines l = { .terminated = true };
    enum ag_result r = kube_client_stream(c, "/silent", 1024, 10000, &stop, on_line, &l, &status, err, sizeof err);
    long long done = mono_ms();
    pthread_join(t, NULL);
    CU_ASSERT_EQUAL(r, AG_OK);
    CU_ASSERT_EQUAL(l.n, 0);
    CU_ASSERT(done - s.set_ms < 200);
    if (done - s.set_ms >= 200)
        fprintf(stderr, "\n  stop noticed after %lld ms\n", done - s.set_ms);

    /* The client is usable after an interrupted stream. */
    char out[256];
    CU_ASSERT_EQUAL(get(c, "/json", out, sizeof out), 200);
    kube_client_free(c);
    CU_ASSERT_EQUAL(mem_live(), live);
}

/* ---- against the stand-in kube-apiserver ---- */

struct watch_seen {
    struct kubefake *f;
    int added, bookmarks;
    bool put_done;
};

static bool on_event(void *arg, const char *line, size_t len)
{
    (void)len;
    struct watch_seen *w = arg;
    if (strstr(line, "\"type\":\"ADDED\"") && strstr(line, "\"name\":\"n2\""))
        w->added++;
    if (strstr(line, "\"type\":\"BOOKMARK\""))
        w->bookmarks++;
    if (!w->put_done) {
        /* The first event seen: now add a node and ask for a bookmark. */
        w->put_done = true;
        kubefake_put(w->f, "/api/v1/nodes", "{\"metadata\":{\"name\":\"n2\"}}");
        kubefake_bookmark(w->f);
    }
    return !(w->added && w->bookmarks);
}

static void test_kubefake_list_and_watch(void)
{
    long live = mem_live();
    char crt[128], key[128], err[512] = "";
    snprintf(crt, sizeof crt, "%s/srv.crt", dir);
    snprintf(key, sizeof key, "%s/srv.key", dir);
    CU_ASSERT_FATAL(write_file(crt, srv.crt_pem) && write_file(key, srv.key_pem));
    struct kubefake *f = kubefake_start(crt, key);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    kubefake_collection(f, "/api/v1/nodes", "NodeList", "v1", "Node");
    kubefake_put(f, "/api/v1/nodes", "{\"metadata\":{\"name\":\"n1\"}}");
    kubefake_require_token(f, "fake-token");
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%u", kubefake_port(f));

    struct kube_client *c = client_for(url, ca_file, "wrong-token");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    char *body = NULL;
    size_t len;
    long status = 0;
    CU_ASSERT_EQUAL(kube_client_get(c, "/api/v1/nodes?limit=500", 1 << 20, 5000, &status, &body, &len, err, sizeof err),
                    AG_OK);
    CU_ASSERT_EQUAL(status, 401);
    mem_free(body);
    kube_client_free(c);

    c = client_for(url, ca_file, "fake-token");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    body = NULL;
    CU_ASSERT_EQUAL(kube_client_get(c, "/api/v1/nodes?limit=500", 1 << 20, 5000, &status, &body, &len, err, sizeof err),
                    AG_OK);
    CU_ASSERT_EQUAL(status, 200);
    CU_ASSERT(body && strstr(body, "\"NodeList\"") && strstr(body, "\"n1\""));
    mem_free(body);

    char path[128];
    snprintf(path, sizeof path, "/api/v1/nodes?watch=true&allowWatchBookmarks=true&resourceVersion=0&timeoutSeconds=5");
    struct watch_seen w = { .f = f };
    CU_ASSERT_EQUAL(kube_client_stream(c, path, 1 << 20, 3000, NULL, on_event, &w, &status, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(status, 200);
    CU_ASSERT_EQUAL(w.added, 1);
    CU_ASSERT(w.bookmarks >= 1);
    char tok[64];
    kubefake_last_token(f, tok, sizeof tok);
    CU_ASSERT_STRING_EQUAL(tok, "fake-token");
    kube_client_free(c);
    kubefake_stop(f);
    CU_ASSERT_EQUAL(mem_live(), live);
}

UNIT_SUITE("kube_client", suite_init, suite_cleanup,
           { "GET: JSON, 404 Status, headers, bad path", test_get },
           { "GET: body limit is AG_ETOOBIG, exactly the limit is fine", test_get_limit },
           { "GET: timeout, nobody listening, refused configurations", test_get_transport_errors },
           { "TLS: other CA, no CA, wrong host name refused; CA data used", test_tls_verification },
           { "client certificate from files and from memory", test_client_certificate },
           { "kubeconfig with *-data fields, end to end", test_kubeconfig_end_to_end },
           { "bearer token: static, token file rotated, kept mid-rotation", test_bearer_tokens },
           { "stream: lines across chunks, empty lines, fn ends it", test_stream_lines },
           { "stream: non-2xx status body as one line", test_stream_error_status },
           { "stream: line longer than max_line is AG_ETOOBIG", test_stream_long_line },
           { "stream: stall hits the idle timeout", test_stream_stall },
           { "stream: stop flag honoured within 200 ms while idle", test_stream_stop },
           { "list and watch against kubefake", test_kubefake_list_and_watch })
