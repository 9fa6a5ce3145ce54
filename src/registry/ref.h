/* ref.h - image references by the distribution reference grammar.
 *
 * "fedora" is docker.io/library/fedora:latest; "docker://" (CDI's registry URLs) is dropped; a
 * digest wins over a tag for the lookup. Docker Hub is served by registry-1.docker.io. */
#ifndef ARCHGATE_REGISTRY_REF_H
#define ARCHGATE_REGISTRY_REF_H

#include <stdbool.h>
#include <stddef.h>

#define REGISTRY_NAME_MAX 255       /* host + "/" + repository, as the grammar limits it */
#define REGISTRY_TAG_MAX 128
#define REGISTRY_DIGEST_MAX 136     /* "sha512:" + 128 hex */

struct registry_ref {
    char host[REGISTRY_NAME_MAX + 1];   /* "quay.io", "127.0.0.1:5000", "docker.io" */
    char repo[REGISTRY_NAME_MAX + 1];   /* "containerdisks/fedora", "library/fedora" */
    char tag[REGISTRY_TAG_MAX + 1];     /* "41"; "latest" when neither tag nor digest is given */
    char digest[REGISTRY_DIGEST_MAX + 1];   /* "sha256:<64 hex>", "" when none */
};

/* Parse `s`. false with a one-line reason in err when it is not a reference. */
bool registry_ref_parse(const char *s, struct registry_ref *out, char *err, size_t errlen);

/* The host the API is asked on: registry-1.docker.io for docker.io, else host. */
const char *registry_ref_api_host(const struct registry_ref *r);

/* What GET /v2/<repo>/manifests/<X> asks for: the digest when there is one, else the tag. */
const char *registry_ref_manifest_ref(const struct registry_ref *r);

/* True when the lookup is by digest (content-addressed: it never changes). */
static inline bool registry_ref_by_digest(const struct registry_ref *r) { return r->digest[0] != '\0'; }

/* Canonical text: "host/repo:tag", "host/repo@digest" or "host/repo:tag@digest". false when
 * it does not fit. */
bool registry_ref_format(const struct registry_ref *r, char *buf, size_t len);

/* Is `digest` "sha256:<64 lowercase hex>" or "sha512:<128 lowercase hex>"? */
bool registry_digest_valid(const char *digest);

#endif
