/* itest.h - helpers of the integration tests (the real build/archgate over TLS, libcurl as the
 * client), and a small OpenSSL certificate generator shared with test_tlsfiles.c. */
#ifndef ARCHGATE_ITEST_H
#define ARCHGATE_ITEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define ITEST_EXAMPLE "tests/fixtures/examples/01-deny-arm64-image-outside-vm-pool"

/* The temporary folder of this run, and a base certificate pair (ca.crt, tls.crt, tls.key in
 * itest_base) made by certs/gen-certs.sh; both set up by itest_main.c. */
extern char itest_dir[];
extern char itest_base[];

/* A running `archgate serve`. */
struct server {
    pid_t pid;
    unsigned short port;
    char log[512];              /* its stdout and stderr */
};

struct kubefake;

/* Write `text` to `path`; false on any error. */
bool itest_write_file(const char *path, const char *text);
/* Put every item of the List in `file` into the stand-in's collection `path` (only those of kind
 * `only_kind` when not NULL). */
bool itest_fake_put_file(struct kubefake *f, const char *file, const char *path, const char *only_kind);
/* The stand-in kube-apiserver on itest_base's certificate, serving every kind the cluster source
 * lists (HyperConverged v1 not: a CRD version the cluster does not serve, counted as empty) with
 * the sample cluster's nodes, DataSources, HyperConverged and KubeVirt in them, and requiring the
 * bearer token "itest-token". NULL on failure. */
struct kubefake *itest_fake_cluster(void);
/* A kubeconfig at `path` for https://127.0.0.1:PORT with itest_base's CA and "itest-token". */
bool itest_write_kubeconfig(const char *path, unsigned port);

/* Run certs/gen-certs.sh OUTDIR with extra arguments (may be ""). */
bool itest_gen_certs(const char *outdir, const char *extra);
/* path = dir/name (into a static-free caller buffer). */
void itest_path(char *buf, size_t len, const char *dir, const char *name);
/* Start `archgate serve --listen 127.0.0.1:0 --tls-cert .. --tls-key .. --cluster-state EXAMPLE
 * --cert-poll-interval 200ms <extra...>` and wait (5 s at most) until /readyz answers 200. */
bool server_start(struct server *s, const char *cert, const char *key, const char *const *extra);
/* Start `archgate <args>` (args without argv[0]; must make it log "serving on 127.0.0.1:PORT")
 * and wait for the port; with wait_ready also until /readyz answers 200 (5 s at most). */
bool server_launch(struct server *s, const char *const *args, bool wait_ready);
/* Send `sig`, wait for the exit (10 s at most, then SIGKILL). Returns the exit status, -1 when
 * killed; *seconds (optional) is the time from the signal to the exit. */
int server_stop(struct server *s, int sig, double *seconds);
/* Run archgate to completion (10 s at most) with `args` (NULL-terminated, without argv[0]);
 * stdout and stderr captured (truncated) into out/err. Returns the exit status, -1 on failure. */
int itest_run(const char *const *args, char *out, size_t outlen, char *err, size_t errlen);
/* The same with stdin read from `in_path` (NULL: /dev/null). */
int itest_run_stdin(const char *const *args, const char *in_path, char *out, size_t outlen, char *err,
                    size_t errlen);

/* One HTTPS exchange. */
struct reply {
    CURLcode rc;
    long status;
    char *body;                 /* NUL-terminated, free with reply_free */
    size_t len;
    char ctype[128];
    char allow[64];
    char connection[32];        /* the Connection header, "" when absent */
    long connects;              /* CURLINFO_NUM_CONNECTS: 0 when the connection was reused */
    char serial[160];           /* peer certificate serial (CURLOPT_CERTINFO), "" when not asked */
    char expire[80];
};
/* A curl handle trusting itest_base/ca.crt (or `ca` when not NULL). */
CURL *client_new(const char *ca);
/* method "GET", "HEAD", "POST", ...; body NULL for none; ctype NULL for none. https_ex can
 * upload chunked (in five pieces `chunk_delay_ms` apart) and ask for the peer certificate. */
bool https(CURL *h, unsigned short port, const char *method, const char *path, const char *ctype,
           const char *body, size_t len, struct reply *r);
bool https_ex(CURL *h, unsigned short port, const char *method, const char *path, const char *ctype,
              const char *body, size_t len, bool chunked, long chunk_delay_ms, bool certinfo,
              struct reply *r);
void reply_free(struct reply *r);
/* Chunked uploads that have begun sending (https_ex with chunked), process-wide. */
int itest_uploads_started(void);

/* The review of ITEST_EXAMPLE with request.uid replaced; mem_free it. */
char *review_with_uid(const char *uid, size_t *len);
/* Value of one metric line (exact name with labels) in an exposition text; -1 when absent. */
double metric_value(const char *text, const char *series);
/* Fetch /metrics and return one series' value; -1 on failure. */
double server_metric(const struct server *s, const char *series);

/* Self-signed EC P-256 pair valid from now+nb_s to now+na_s (seconds), written as PEM. */
static inline bool certgen_pair(const char *cert_path, const char *key_path, long nb_s, long na_s, long serial)
{
    bool ok = false;
    FILE *f = NULL;
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    if (!k || !x)
        goto cleanup;
    X509_NAME *n = X509_get_subject_name(x);
    if (!X509_set_version(x, 2) || !ASN1_INTEGER_set(X509_get_serialNumber(x), serial) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), nb_s) || !X509_gmtime_adj(X509_getm_notAfter(x), na_s) ||
        !X509_set_pubkey(x, k) ||
        !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1", -1, -1, 0) ||
        !X509_set_issuer_name(x, n) || !X509_sign(x, k, EVP_sha256()))
        goto cleanup;
    f = fopen(cert_path, "w");
    if (!f || !PEM_write_X509(f, x))
        goto cleanup;
    fclose(f);
    f = fopen(key_path, "w");
    if (!f || !PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL))
        goto cleanup;
    ok = true;
cleanup:
    if (f)
        fclose(f);
    X509_free(x);
    EVP_PKEY_free(k);
    return ok;
}

#endif
