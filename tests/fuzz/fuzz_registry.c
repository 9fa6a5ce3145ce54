/* fuzz_registry.c - libFuzzer target: what archgate reads from registries and image references.
 *
 * Input: the first byte picks the parser, the rest is its input:
 *   'r' image reference   'm' manifest (no Content-Type)   'i' manifest answered as an OCI index
 *   'c' config blob       'a' WWW-Authenticate value       'd' Docker config file
 *   't' token answer      anything else: every parser on the same bytes.
 * Checked, aborting on a violation:
 *  - a reference that parses has a valid host/repo, its canonical text parses to the same
 *    reference, and the lookup asks for the digest when there is one;
 *  - a manifest that parses is an index with at least one known architecture, or a manifest
 *    with a valid config digest; a config that parses names exactly one architecture;
 *  - a challenge that parses is Basic or Bearer with an http(s) realm; a token holds no line break;
 *  - nothing is left allocated (mem_live) after each input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mem.h"
#include "registry/auth.h"
#include "registry/manifest.h"
#include "registry/ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_registry: invariant violated: %s\n", what);
    abort();
}

static void ref(const char *s)
{
    struct registry_ref r, again;
    char err[128], buf[800];
    if (!registry_ref_parse(s, &r, err, sizeof err)) {
        if (!err[0])
            fail("a refused reference without a reason");
        return;
    }
    if (!r.host[0] || !r.repo[0] || (!r.tag[0] && !r.digest[0]))
        fail("parsed reference lacks host, repository or tag/digest");
    if (r.digest[0] && !registry_digest_valid(r.digest))
        fail("invalid digest kept");
    if (strcmp(registry_ref_manifest_ref(&r), r.digest[0] ? r.digest : r.tag) != 0)
        fail("the digest does not win");
    if (!registry_ref_format(&r, buf, sizeof buf))
        fail("canonical text does not fit");
    if (!registry_ref_parse(buf, &again, err, sizeof err) || memcmp(&r, &again, sizeof r) != 0)
        fail("canonical text does not parse to the same reference");
}

static void manifest(const char *s, size_t n, const char *ctype)
{
    struct registry_manifest m;
    char err[128];
    if (registry_manifest_parse(s, n, ctype, &m, err, sizeof err) != AG_OK)
        return;
    if (m.kind == REGISTRY_DOC_INDEX && m.archs == 0)
        fail("index without an architecture");
    if (m.kind == REGISTRY_DOC_MANIFEST && !registry_digest_valid(m.config_digest))
        fail("manifest without a valid config digest");
    (void)registry_digest_matches(m.config_digest, s, n);
}

static void config(const char *s, size_t n)
{
    archset a = 0;
    char err[128];
    if (registry_config_parse(s, n, &a, err, sizeof err) == AG_OK && arch_set_count(a) != 1)
        fail("config with other than one architecture");
}

static void challenge(const char *s)
{
    struct registry_challenge c;
    if (!registry_challenge_parse(s, &c))
        return;
    if (c.bearer == c.basic)
        fail("challenge neither or both Basic and Bearer");
    if (c.bearer && strncmp(c.realm, "https://", 8) != 0 && strncmp(c.realm, "http://", 7) != 0)
        fail("bearer realm not http(s)");
}

static void creds(const char *s, size_t n)
{
    struct registry_creds *c = NULL;
    char err[128];
    if (registry_creds_parse(s, n, &c, err, sizeof err) == AG_OK) {
        (void)registry_creds_find(c, "docker.io");
        (void)registry_creds_find(c, "quay.io");
        registry_creds_free(c);
    } else if (c) {
        fail("refused config kept credentials");
    }
}

static void token(const char *s, size_t n)
{
    char tok[256], err[128];
    unsigned exp = 0;
    if (registry_token_parse(s, n, tok, sizeof tok, &exp, err, sizeof err) == AG_OK &&
        (strpbrk(tok, "\r\n") || exp < 1 || exp > 86400))
        fail("token with a line break or an expiry out of range");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int hooked;
    if (!hooked) {
        mem_install_cjson_hooks();
        hooked = 1;
    }
    if (size == 0)
        return 0;
    long live = mem_live();
    char *s = malloc(size);
    if (!s)
        return 0;
    size_t n = size - 1;
    memcpy(s, data + 1, n);
    s[n] = '\0';
    switch (data[0]) {
    case 'r': ref(s); break;
    case 'm': manifest(s, n, NULL); break;
    case 'i': manifest(s, n, "application/vnd.oci.image.index.v1+json"); break;
    case 'c': config(s, n); break;
    case 'a': challenge(s); break;
    case 'd': creds(s, n); break;
    case 't': token(s, n); break;
    default:
        ref(s);
        manifest(s, n, NULL);
        config(s, n);
        challenge(s);
        creds(s, n);
        token(s, n);
        break;
    }
    free(s);
    if (mem_live() != live)
        fail("memory left allocated");
    return 0;
}
