/* manifest.c - the registry documents archgate reads (OCI image spec, Docker image manifest v2
 * schema 2): index/list -> linux platforms; manifest -> config digest; config -> architecture.
 * Entries with architecture "unknown" (buildx attestation manifests) and platforms archgate
 * does not know are skipped; an arm64 variant (v8) is arm64. */
#include <stdio.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include "registry/manifest.h"

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

static enum ag_result fail(char *err, size_t errlen, enum ag_result r, const char *why)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", why);
    return r;
}

/* ctype up to its parameters equals mt */
static bool ctype_is(const char *ctype, const char *mt)
{
    if (!ctype)
        return false;
    size_t n = strlen(mt);
    return strncmp(ctype, mt, n) == 0 && (ctype[n] == '\0' || ctype[n] == ';' || ctype[n] == ' ');
}

static const char *str_member(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

enum ag_result registry_manifest_parse(const char *body, size_t len, const char *ctype,
                                       struct registry_manifest *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (len > REGISTRY_MANIFEST_MAX)
        return fail(err, errlen, AG_ETOOBIG, "manifest larger than 4 MiB");
    if (!body || len == 0)
        return fail(err, errlen, AG_EINVAL, "empty manifest");
    cJSON *doc = cJSON_ParseWithLength(body, len);
    if (!doc)
        return fail(err, errlen, AG_EINVAL, "manifest is not JSON");
    enum ag_result r = AG_EINVAL;
    if (!cJSON_IsObject(doc)) {
        r = fail(err, errlen, AG_EINVAL, "manifest is not a JSON object");
        goto done;
    }
    const char *mt = str_member(doc, "mediaType");
    const cJSON *manifests = cJSON_GetObjectItemCaseSensitive(doc, "manifests");
    const cJSON *config = cJSON_GetObjectItemCaseSensitive(doc, "config");
    bool index, single;
    if (mt) {
        index = strcmp(mt, MT_OCI_INDEX) == 0 || strcmp(mt, MT_DOCKER_LIST) == 0;
        single = strcmp(mt, MT_OCI_MANIFEST) == 0 || strcmp(mt, MT_DOCKER_MANIFEST) == 0;
    } else if (ctype_is(ctype, MT_OCI_INDEX) || ctype_is(ctype, MT_DOCKER_LIST)) {
        index = true, single = false;
    } else if (ctype_is(ctype, MT_OCI_MANIFEST) || ctype_is(ctype, MT_DOCKER_MANIFEST)) {
        index = false, single = true;
    } else {
        /* OCI allows the mediaType to be absent: judge by shape */
        index = cJSON_IsArray(manifests) && !config;
        single = cJSON_IsObject(config) && !manifests;
    }
    if (!index && !single) {
        r = fail(err, errlen, AG_EINVAL, "not an image index or image manifest (media type)");
        goto done;
    }
    if (index) {
        if (!cJSON_IsArray(manifests)) {
            r = fail(err, errlen, AG_EINVAL, "image index without a manifests list");
            goto done;
        }
        out->kind = REGISTRY_DOC_INDEX;
        const cJSON *m;
        cJSON_ArrayForEach(m, manifests) {
            const cJSON *p = cJSON_IsObject(m) ? cJSON_GetObjectItemCaseSensitive(m, "platform") : NULL;
            if (!cJSON_IsObject(p))
                continue;
            const char *os = str_member(p, "os");
            const char *arch = str_member(p, "architecture");
            if (!os || !arch || strcmp(os, "linux") != 0 || strcmp(arch, "unknown") == 0)
                continue;
            int a = arch_parse(arch);
            if (a == ARCH_NONE)
                continue;
            out->archs |= arch_bit(a);
        }
        if (!out->archs) {
            r = fail(err, errlen, AG_EINVAL, "image index lists no linux platform");
            goto done;
        }
        r = AG_OK;
        goto done;
    }
    out->kind = REGISTRY_DOC_MANIFEST;
    const char *d = cJSON_IsObject(config) ? str_member(config, "digest") : NULL;
    if (!d || strlen(d) > REGISTRY_DIGEST_MAX || !registry_digest_valid(d)) {
        r = fail(err, errlen, AG_EINVAL, "image manifest without a valid config digest");
        goto done;
    }
    memcpy(out->config_digest, d, strlen(d) + 1);
    r = AG_OK;
done:
    cJSON_Delete(doc);
    return r;
}

enum ag_result registry_config_parse(const char *body, size_t len, archset *out, char *err, size_t errlen)
{
    *out = 0;
    if (len > REGISTRY_CONFIG_MAX)
        return fail(err, errlen, AG_ETOOBIG, "image config larger than 1 MiB");
    if (!body || len == 0)
        return fail(err, errlen, AG_EINVAL, "empty image config");
    cJSON *doc = cJSON_ParseWithLength(body, len);
    if (!doc)
        return fail(err, errlen, AG_EINVAL, "image config is not JSON");
    enum ag_result r;
    const char *arch = cJSON_IsObject(doc) ? str_member(doc, "architecture") : NULL;
    const char *os = cJSON_IsObject(doc) ? str_member(doc, "os") : NULL;
    int a = arch ? arch_parse(arch) : ARCH_NONE;
    if (!arch)
        r = fail(err, errlen, AG_EINVAL, "image config names no architecture");
    else if (os && strcmp(os, "linux") != 0)
        r = fail(err, errlen, AG_EINVAL, "image config is not for linux");
    else if (a == ARCH_NONE)
        r = fail(err, errlen, AG_EINVAL, "image config names an unknown architecture");
    else {
        *out = arch_bit(a);
        r = AG_OK;
    }
    cJSON_Delete(doc);
    return r;
}

bool registry_digest_matches(const char *digest, const void *body, size_t len)
{
    if (!digest || !registry_digest_valid(digest))
        return false;
    const EVP_MD *md = strncmp(digest, "sha256:", 7) == 0 ? EVP_sha256() : EVP_sha512();
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned int hl = 0;
    if (!EVP_Digest(body, len, h, &hl, md, NULL))
        return false;
    static const char hex[] = "0123456789abcdef";
    const char *want = digest + 7;
    if (strlen(want) != (size_t)hl * 2)
        return false;
    for (unsigned i = 0; i < hl; i++)
        if (want[2 * i] != hex[h[i] >> 4] || want[2 * i + 1] != hex[h[i] & 15])
            return false;
    return true;
}
