/* manifest.h - what archgate reads from registry documents: the platforms of an OCI image index
 * or Docker manifest list, the config digest of a single manifest, the architecture of a config
 * blob; and whether bytes match their digest. Pure: no I/O. */
#ifndef ARCHGATE_REGISTRY_MANIFEST_H
#define ARCHGATE_REGISTRY_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include "arch.h"
#include "result.h"
#include "registry/ref.h"

#define REGISTRY_MANIFEST_MAX (4u * 1024u * 1024u)   /* largest manifest or index read */
#define REGISTRY_CONFIG_MAX (1u * 1024u * 1024u)     /* largest config blob read */

/* The Accept header of a manifest request: both index kinds and both manifest kinds. */
#define REGISTRY_MANIFEST_ACCEPT                                                  \
    "application/vnd.oci.image.index.v1+json, "                                   \
    "application/vnd.docker.distribution.manifest.list.v2+json, "                 \
    "application/vnd.oci.image.manifest.v1+json, "                                \
    "application/vnd.docker.distribution.manifest.v2+json"

enum registry_doc_kind { REGISTRY_DOC_INDEX, REGISTRY_DOC_MANIFEST };

struct registry_manifest {
    enum registry_doc_kind kind;
    archset archs;                              /* INDEX: architectures of its linux entries */
    char config_digest[REGISTRY_DIGEST_MAX + 1]; /* MANIFEST: the config blob to read */
};

/* Parse a manifest body; `ctype` is the Content-Type answered (may be NULL; the body's own
 * mediaType wins). AG_EINVAL with a reason for malformed JSON, an unknown media type, an index
 * that lists no linux platform archgate knows, a manifest without a valid config digest;
 * AG_ETOOBIG over REGISTRY_MANIFEST_MAX. */
enum ag_result registry_manifest_parse(const char *body, size_t len, const char *ctype,
                                       struct registry_manifest *out, char *err, size_t errlen);

/* The architecture of an image config blob ({"architecture": "arm64", "os": "linux", ...}). */
enum ag_result registry_config_parse(const char *body, size_t len, archset *out, char *err, size_t errlen);

/* Does sha256/sha512 of body equal `digest`? */
bool registry_digest_matches(const char *digest, const void *body, size_t len);

#endif
