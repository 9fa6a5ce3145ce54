/* tlsfiles.h - OpenSSL checks of the serving certificate and key files.
 *
 * Before serving and before every reload: both readable PEM, the key matches the certificate,
 * the certificate is valid now. */
#ifndef ARCHGATE_TLSFILES_H
#define ARCHGATE_TLSFILES_H

#include <stddef.h>
#include <time.h>
#include "result.h"

struct tls_pair {
    char *cert_pem;     /* file contents, mem_malloc'd, NUL-terminated */
    size_t cert_len;
    char *key_pem;
    size_t key_len;
    time_t not_before, not_after;
};

/* Read and check the pair. On failure `err` is one line naming the file and the problem
 * ("/path/tls.crt: certificate expired on 2026-01-01T00:00:00Z"). */
enum ag_result tlsfiles_load(const char *cert_path, const char *key_path, struct tls_pair *out,
                             char *err, size_t errlen);
void tlsfiles_free(struct tls_pair *p);

/* A cheap fingerprint of the two files (inode, size, mtime of the resolved paths) that changes
 * when a Secret volume swaps its symlink. */
unsigned long long tlsfiles_stamp(const char *cert_path, const char *key_path);

#endif
