/* tlsfiles.c - OpenSSL checks of the serving certificate and key files: read (bounded), parse,
 * key matches certificate, valid now; and a cheap stamp of the files for change detection. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "mem.h"
#include "tlsfiles.h"
#include "fileio.h"

#define TLSFILE_MAX (1024 * 1024)

/* Read a whole file (at most TLSFILE_MAX bytes) into a NUL-terminated mem_malloc'd buffer. */
static enum ag_result read_bounded(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    int eno = 0;
    enum ag_result r = fileio_read(path, TLSFILE_MAX, out, len, &eno);
    if (r == AG_EIO)
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(eno));
    else if (r == AG_ETOOBIG)
        snprintf(err, errlen, "%s: larger than 1 MiB, not a certificate file", path);
    else if (r == AG_ENOMEM)
        snprintf(err, errlen, "%s: out of memory", path);
    return r;
}

static bool asn1_to_time(const ASN1_TIME *t, time_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return false;
    *out = timegm(&tm);
    return true;
}

static void format_rfc3339(time_t t, char *buf, size_t len)
{
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, len, "@%lld", (long long)t);
}

enum ag_result tlsfiles_load(const char *cert_path, const char *key_path, struct tls_pair *out,
                             char *err, size_t errlen)
{
    enum ag_result r = AG_EINVAL;
    struct tls_pair p;
    BIO *bio = NULL;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    char when[40];

    memset(&p, 0, sizeof p);
    memset(out, 0, sizeof *out);
    if (!cert_path || !key_path) {
        snprintf(err, errlen, "no certificate or key file given");
        goto cleanup;
    }
    r = read_bounded(cert_path, &p.cert_pem, &p.cert_len, err, errlen);
    if (r != AG_OK)
        goto cleanup;
    r = read_bounded(key_path, &p.key_pem, &p.key_len, err, errlen);
    if (r != AG_OK)
        goto cleanup;
    r = AG_EINVAL;

    bio = BIO_new_mem_buf(p.cert_pem, (int)p.cert_len);
    if (!bio) {
        r = AG_ENOMEM;
        snprintf(err, errlen, "%s: out of memory", cert_path);
        goto cleanup;
    }
    cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    bio = NULL;
    if (!cert) {
        snprintf(err, errlen, "%s: not a PEM certificate", cert_path);
        goto cleanup;
    }

    bio = BIO_new_mem_buf(p.key_pem, (int)p.key_len);
    if (!bio) {
        r = AG_ENOMEM;
        snprintf(err, errlen, "%s: out of memory", key_path);
        goto cleanup;
    }
    /* An empty passphrase callback result: an encrypted key fails instead of prompting. */
    key = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"");
    if (!key) {
        snprintf(err, errlen, "%s: not a PEM private key", key_path);
        goto cleanup;
    }
    if (X509_check_private_key(cert, key) != 1) {
        snprintf(err, errlen, "%s: does not match the certificate %s", key_path, cert_path);
        goto cleanup;
    }
    if (!asn1_to_time(X509_get0_notBefore(cert), &p.not_before) ||
        !asn1_to_time(X509_get0_notAfter(cert), &p.not_after)) {
        snprintf(err, errlen, "%s: certificate has an unreadable validity period", cert_path);
        goto cleanup;
    }
    if (X509_cmp_current_time(X509_get0_notBefore(cert)) >= 0) {
        format_rfc3339(p.not_before, when, sizeof when);
        snprintf(err, errlen, "%s: certificate not valid before %s", cert_path, when);
        goto cleanup;
    }
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0) {
        format_rfc3339(p.not_after, when, sizeof when);
        snprintf(err, errlen, "%s: certificate expired on %s", cert_path, when);
        goto cleanup;
    }
    *out = p;
    memset(&p, 0, sizeof p);
    r = AG_OK;
cleanup:
    BIO_free(bio);
    X509_free(cert);
    EVP_PKEY_free(key);
    ERR_clear_error();
    tlsfiles_free(&p);
    return r;
}

void tlsfiles_free(struct tls_pair *p)
{
    if (!p)
        return;
    if (p->key_pem) {
        OPENSSL_cleanse(p->key_pem, p->key_len);
        mem_free(p->key_pem);
    }
    mem_free(p->cert_pem);
    memset(p, 0, sizeof *p);
}

static uint64_t fnv_mix(uint64_t h, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        h ^= (v >> (i * 8)) & 0xffu;
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t stamp_one(uint64_t h, const char *path)
{
    struct stat st;
    if (!path || stat(path, &st) != 0)
        return fnv_mix(h, (uint64_t)(errno ? errno : ENOENT) | 0x8000000000000000ull);
    h = fnv_mix(h, (uint64_t)st.st_dev);
    h = fnv_mix(h, (uint64_t)st.st_ino);
    h = fnv_mix(h, (uint64_t)st.st_size);
    h = fnv_mix(h, (uint64_t)st.st_mtim.tv_sec);
    h = fnv_mix(h, (uint64_t)st.st_mtim.tv_nsec);
    h = fnv_mix(h, (uint64_t)st.st_ctim.tv_sec);
    h = fnv_mix(h, (uint64_t)st.st_ctim.tv_nsec);
    return h;
}

unsigned long long tlsfiles_stamp(const char *cert_path, const char *key_path)
{
    uint64_t h = 0xcbf29ce484222325ull;
    h = stamp_one(h, cert_path);
    h = stamp_one(h, key_path);
    return (unsigned long long)h;
}
