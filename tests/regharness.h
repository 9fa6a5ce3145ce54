/* regharness.h - a real registry for the tests: Debian's docker-registry (CNCF distribution 2.8)
 * started on 127.0.0.1 with TLS from the test CA (or plain HTTP), over a storage folder the tests
 * fill through the registry's own HTTP API (blob uploads, manifest PUTs). */
#ifndef ARCHGATE_REGHARNESS_H
#define ARCHGATE_REGHARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <curl/curl.h>

#define REG_BIN "docker-registry"

struct reg {
    pid_t pid;
    unsigned short port;
    bool tls;
    char root[256];         /* storage folder */
    char conf[320];
    char log[320];
    char ca[320];           /* CA that signed its certificate */
};

/* An unused TCP port on 127.0.0.1 (bound and released). */
unsigned short reg_free_port(void);
/* Is the docker-registry binary installed? */
bool reg_available(void);
/* Start docker-registry: storage in `root`, config and log in `dir`, TLS with cert/key (NULL:
 * plain HTTP), `auth_yaml` (NULL: anonymous) is the config's "auth:" section body, indented by
 * two spaces. port 0 picks one. Waits (5 s at most) until /v2/ answers. */
bool reg_start(struct reg *r, const char *dir, const char *name, const char *root, const char *cert,
               const char *key, const char *ca, const char *auth_yaml, unsigned short port);
/* SIGTERM, wait; SIGKILL after 5 s. */
void reg_stop(struct reg *r);

/* Push (anonymous registry): a blob; its digest into digest (72 bytes). */
bool reg_push_blob(const struct reg *r, const char *repo, const void *data, size_t len, char *digest);
/* PUT a manifest under `ref` (tag or digest); its digest into digest and size into *size. */
bool reg_push_manifest(const struct reg *r, const char *repo, const char *ref, const char *ctype,
                       const char *body, char *digest, size_t *size);
/* A single-platform image for `arch` (config + one few-byte layer + manifest), OCI or Docker
 * schema 2, tagged `tag` (NULL: by digest only). */
bool reg_push_image(const struct reg *r, const char *repo, const char *tag, const char *arch, bool oci,
                    char *digest, size_t *size);
/* An index (oci) or manifest list of one image per arch (an arch "unknown" makes an attestation
 * entry with platform unknown/unknown), tagged `tag`. */
bool reg_push_index(const struct reg *r, const char *repo, const char *tag, bool oci, const char *const *archs,
                    char *digest);
/* sha256:<hex> of bytes. */
void reg_sha256(const void *data, size_t len, char *digest);

#endif
