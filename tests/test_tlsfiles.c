/* test_tlsfiles.c - the certificate file checks: good pair, expired, not yet valid, key of
 * another pair, missing, garbage, empty and oversized files, allocation failure, and the
 * change stamp across a Secret-volume style symlink swap. Certificates are made here with the
 * OpenSSL API (itest.h certgen_pair). */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "itest.h"
#include "mem.h"
#include "tlsfiles.h"
#include "unit.h"
#include "testutil.h"

static char dir[64];
static char good_crt[128], good_key[128], other_crt[128], other_key[128];

static void path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", dir, name);
}

static bool write_file(const char *p, const char *data, size_t len)
{
    FILE *f = fopen(p, "wb");
    if (!f)
        return false;
    bool ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

static int suite_init(void)
{
    snprintf(dir, sizeof dir, "/tmp/archgate-tlsfiles.XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    path(good_crt, sizeof good_crt, "good.crt");
    path(good_key, sizeof good_key, "good.key");
    path(other_crt, sizeof other_crt, "other.crt");
    path(other_key, sizeof other_key, "other.key");
    return certgen_pair(good_crt, good_key, -3600, 10 * 86400, 1) &&
                   certgen_pair(other_crt, other_key, -3600, 20 * 86400, 2)
               ? 0
               : 1;
}

static int suite_cleanup(void)
{
    return tu_rmtree(dir);
}

/* Load and expect failure with `result`; the message must contain both fragments. */
static void expect_fail(const char *crt, const char *key, enum ag_result result, const char *frag1,
                        const char *frag2)
{
    struct tls_pair p;
    char err[1024] = "";
    long live = mem_live();
    CU_ASSERT_EQUAL(tlsfiles_load(crt, key, &p, err, sizeof err), result);
    CU_ASSERT_PTR_NULL(p.cert_pem);
    CU_ASSERT_PTR_NULL(p.key_pem);
    CU_ASSERT_PTR_NULL(strchr(err, '\n'));
    if (frag1 && !strstr(err, frag1))
        fprintf(stderr, "\n  message \"%s\" lacks \"%s\"\n", err, frag1);
    CU_ASSERT(!frag1 || strstr(err, frag1) != NULL);
    CU_ASSERT(!frag2 || strstr(err, frag2) != NULL);
    CU_ASSERT_EQUAL(mem_live(), live);
}

static void test_good_pair(void)
{
    struct tls_pair p;
    char err[256] = "";
    long live = mem_live();
    time_t now = time(NULL);
    CU_ASSERT_EQUAL_FATAL(tlsfiles_load(good_crt, good_key, &p, err, sizeof err), AG_OK);
    CU_ASSERT_STRING_EQUAL(err, "");
    CU_ASSERT(p.not_after >= now + 10 * 86400 - 5 && p.not_after <= now + 10 * 86400 + 5);
    CU_ASSERT(p.not_before >= now - 3600 - 5 && p.not_before <= now - 3600 + 5);
    CU_ASSERT(strncmp(p.cert_pem, "-----BEGIN CERTIFICATE-----", 27) == 0);
    CU_ASSERT_EQUAL(strlen(p.cert_pem), p.cert_len);
    CU_ASSERT_PTR_NOT_NULL(strstr(p.key_pem, "PRIVATE KEY"));
    CU_ASSERT_EQUAL(strlen(p.key_pem), p.key_len);
    tlsfiles_free(&p);
    CU_ASSERT_PTR_NULL(p.cert_pem);
    CU_ASSERT_EQUAL(mem_live(), live);
    tlsfiles_free(&p);      /* twice is harmless */
}

static void test_expired(void)
{
    char crt[128], key[128];
    path(crt, sizeof crt, "expired.crt");
    path(key, sizeof key, "expired.key");
    CU_ASSERT_FATAL(certgen_pair(crt, key, -10 * 86400, -86400, 3));
    expect_fail(crt, key, AG_EINVAL, crt, ": certificate expired on ");
    /* The date is RFC 3339 in UTC: 2026-01-01T00:00:00Z */
    struct tls_pair p;
    char err[512];
    tlsfiles_load(crt, key, &p, err, sizeof err);
    const char *d = strstr(err, "expired on ");
    CU_ASSERT_FATAL(d != NULL);
    d += strlen("expired on ");
    CU_ASSERT(strlen(d) == 20 && d[4] == '-' && d[10] == 'T' && d[19] == 'Z');
}

static void test_not_yet_valid(void)
{
    char crt[128], key[128];
    path(crt, sizeof crt, "future.crt");
    path(key, sizeof key, "future.key");
    CU_ASSERT_FATAL(certgen_pair(crt, key, 86400, 2 * 86400, 4));
    expect_fail(crt, key, AG_EINVAL, crt, ": certificate not valid before ");
}

static void test_mismatched_key(void)
{
    char want[512];
    snprintf(want, sizeof want, "%s: does not match the certificate %s", other_key, good_crt);
    expect_fail(good_crt, other_key, AG_EINVAL, want, NULL);
}

static void test_missing_files(void)
{
    char missing[128], want[256];
    path(missing, sizeof missing, "missing.pem");
    snprintf(want, sizeof want, "%s: cannot read: No such file or directory", missing);
    expect_fail(missing, good_key, AG_EIO, want, NULL);
    expect_fail(good_crt, missing, AG_EIO, want, NULL);
    expect_fail(dir, good_key, AG_EIO, dir, "cannot read");      /* a directory */
    expect_fail(NULL, good_key, AG_EINVAL, NULL, NULL);
}

static void test_garbage_and_empty(void)
{
    char junk[128], empty[128];
    path(junk, sizeof junk, "junk.pem");
    path(empty, sizeof empty, "empty.pem");
    CU_ASSERT_FATAL(write_file(junk, "-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n", 66));
    CU_ASSERT_FATAL(write_file(empty, "", 0));
    expect_fail(junk, good_key, AG_EINVAL, junk, ": not a PEM certificate");
    expect_fail(empty, good_key, AG_EINVAL, empty, ": not a PEM certificate");
    expect_fail(good_crt, junk, AG_EINVAL, junk, ": not a PEM private key");
    expect_fail(good_crt, empty, AG_EINVAL, empty, ": not a PEM private key");
    /* A certificate given as the key, and a key given as the certificate. */
    expect_fail(good_crt, good_crt, AG_EINVAL, "not a PEM private key", NULL);
    expect_fail(good_key, good_key, AG_EINVAL, "not a PEM certificate", NULL);
}

static void test_oversized(void)
{
    char big[128];
    path(big, sizeof big, "big.pem");
    size_t n = 1024 * 1024 + 1;
    char *data = mem_malloc(n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(data);
    memset(data, 'A', n);
    CU_ASSERT_FATAL(write_file(big, data, n));
    mem_free(data);
    expect_fail(big, good_key, AG_ETOOBIG, big, "larger than 1 MiB");
    expect_fail(good_crt, big, AG_ETOOBIG, big, NULL);
}

static void test_allocation_failure(void)
{
    for (long k = 0; k < 3; k++) {
        struct tls_pair p;
        char err[256] = "";
        long live = mem_live();
        mem_fail_after(k);
        enum ag_result r = tlsfiles_load(good_crt, good_key, &p, err, sizeof err);
        mem_fail_after(-1);
        CU_ASSERT(r == AG_ENOMEM || r == AG_OK);
        if (r == AG_OK)
            tlsfiles_free(&p);
        else
            CU_ASSERT_PTR_NOT_NULL(strstr(err, "out of memory"));
        CU_ASSERT_EQUAL(mem_live(), live);
    }
}

/* Kubernetes Secret volume layout: tls.crt -> ..data/tls.crt, ..data -> ..v1, swapped by rename. */
static void test_stamp_symlink_swap(void)
{
    char v1[128], v2[128], data[128], tmp[128], crt[128], key[128], cmd[2048];
    path(v1, sizeof v1, "..v1");
    path(v2, sizeof v2, "..v2");
    path(data, sizeof data, "..data");
    path(tmp, sizeof tmp, "..data_tmp");
    path(crt, sizeof crt, "tls.crt");
    path(key, sizeof key, "tls.key");
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' '%s' && cp '%s' '%s/tls.crt' && cp '%s' '%s/tls.key' && "
             "cp '%s' '%s/tls.crt' && cp '%s' '%s/tls.key'",
             v1, v2, good_crt, v1, good_key, v1, other_crt, v2, other_key, v2);
    CU_ASSERT_FATAL(system(cmd) == 0);
    CU_ASSERT_FATAL(symlink("..v1", data) == 0);
    CU_ASSERT_FATAL(symlink("..data/tls.crt", crt) == 0);
    CU_ASSERT_FATAL(symlink("..data/tls.key", key) == 0);

    unsigned long long s1 = tlsfiles_stamp(crt, key);
    CU_ASSERT_EQUAL(tlsfiles_stamp(crt, key), s1);          /* stable while nothing changes */
    CU_ASSERT_FATAL(symlink("..v2", tmp) == 0);
    CU_ASSERT_FATAL(rename(tmp, data) == 0);
    unsigned long long s2 = tlsfiles_stamp(crt, key);
    CU_ASSERT_NOT_EQUAL(s2, s1);
    struct tls_pair p;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(tlsfiles_load(crt, key, &p, err, sizeof err), AG_OK);
    CU_ASSERT(p.not_after > time(NULL) + 15 * 86400);        /* the "other" pair: 20 days */
    tlsfiles_free(&p);

    /* Only the key replaced; then a file vanishing. */
    CU_ASSERT_FATAL(unlink(key) == 0);
    CU_ASSERT_FATAL(symlink(good_key, key) == 0);
    unsigned long long s3 = tlsfiles_stamp(crt, key);
    CU_ASSERT_NOT_EQUAL(s3, s2);
    CU_ASSERT_FATAL(unlink(key) == 0);
    unsigned long long s4 = tlsfiles_stamp(crt, key);
    CU_ASSERT_NOT_EQUAL(s4, s3);
    CU_ASSERT_EQUAL(tlsfiles_stamp(crt, key), s4);
}

UNIT_SUITE("tlsfiles", suite_init, suite_cleanup,
           { "good pair loads with its validity", test_good_pair },
           { "expired certificate names the file and the date", test_expired },
           { "not yet valid certificate", test_not_yet_valid },
           { "key of another pair", test_mismatched_key },
           { "missing files and a directory", test_missing_files },
           { "garbage and empty files", test_garbage_and_empty },
           { "files over 1 MiB", test_oversized },
           { "allocation failure leaks nothing", test_allocation_failure },
           { "stamp follows a ..data symlink swap", test_stamp_symlink_swap })
