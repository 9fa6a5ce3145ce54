/* test_registry.c - the registry modules without a network: the reference grammar, the
 * manifest/index/config parser and digest check, WWW-Authenticate parsing, Docker config
 * credentials, token answers and the token cache, and the cache (LRU, TTL on an injected clock,
 * negative entries, digests kept, in-flight sharing and waiting). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "mem.h"
#include "registry/auth.h"
#include "registry/cache.h"
#include "registry/client.h"
#include "registry/manifest.h"
#include "registry/ref.h"
#include "unit.h"

#define D64 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* ---- references ---- */

static void test_ref_valid(void)
{
    static const struct { const char *in, *host, *repo, *tag, *digest, *api; } cases[] = {
        { "fedora", "docker.io", "library/fedora", "latest", "", "registry-1.docker.io" },
        { "fedora:41", "docker.io", "library/fedora", "41", "", "registry-1.docker.io" },
        { "docker.io/fedora", "docker.io", "library/fedora", "latest", "", "registry-1.docker.io" },
        { "index.docker.io/kubevirt/fedora-cloud:1", "docker.io", "kubevirt/fedora-cloud", "1", "", "registry-1.docker.io" },
        { "kubevirt/cirros-container-disk-demo", "docker.io", "kubevirt/cirros-container-disk-demo", "latest", "", "registry-1.docker.io" },
        { "quay.io/containerdisks/fedora:41", "quay.io", "containerdisks/fedora", "41", "", "quay.io" },
        { "docker://quay.io/containerdisks/centos-stream:9", "quay.io", "containerdisks/centos-stream", "9", "", "quay.io" },
        { "127.0.0.1:5000/a/b/c:v1.2_3-x", "127.0.0.1:5000", "a/b/c", "v1.2_3-x", "", "127.0.0.1:5000" },
        { "localhost/disk", "localhost", "disk", "latest", "", "localhost" },
        { "localhost:5000/disk", "localhost:5000", "disk", "latest", "", "localhost:5000" },
        { "quay.io/a/b@" D64, "quay.io", "a/b", "", D64, "quay.io" },
        { "quay.io/a/b:41@" D64, "quay.io", "a/b", "41", D64, "quay.io" },
        { "registry.example.org/golden/rhel9-guest:9.6", "registry.example.org", "golden/rhel9-guest", "9.6", "", "registry.example.org" },
        { "ex.com/a__b/c-d--e/f.g", "ex.com", "a__b/c-d--e/f.g", "latest", "", "ex.com" },
        { "[::1]:5000/disk:1", "[::1]:5000", "disk", "1", "", "[::1]:5000" },
        { "My-Registry.example.com/disk", "My-Registry.example.com", "disk", "latest", "", "My-Registry.example.com" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct registry_ref r;
        char err[128] = "";
        bool ok = registry_ref_parse(cases[i].in, &r, err, sizeof err);
        CASE_ASSERT(ok, i, cases[i].in);
        if (!ok)
            continue;
        CASE_ASSERT(strcmp(r.host, cases[i].host) == 0, i, r.host);
        CASE_ASSERT(strcmp(r.repo, cases[i].repo) == 0, i, r.repo);
        CASE_ASSERT(strcmp(r.tag, cases[i].tag) == 0, i, r.tag);
        CASE_ASSERT(strcmp(r.digest, cases[i].digest) == 0, i, r.digest);
        CASE_ASSERT(strcmp(registry_ref_api_host(&r), cases[i].api) == 0, i, cases[i].in);
        /* the digest wins for the lookup */
        CASE_ASSERT(strcmp(registry_ref_manifest_ref(&r), cases[i].digest[0] ? cases[i].digest : cases[i].tag) == 0,
                    i, "manifest ref");
        CASE_ASSERT(registry_ref_by_digest(&r) == (cases[i].digest[0] != '\0'), i, "by digest");
        /* the canonical text parses to the same reference */
        char buf[700];
        struct registry_ref again;
        CASE_ASSERT(registry_ref_format(&r, buf, sizeof buf), i, "format");
        CASE_ASSERT(registry_ref_parse(buf, &again, err, sizeof err) && memcmp(&r, &again, sizeof r) == 0, i, buf);
    }
    struct registry_ref r;
    char err[64], small[8];
    CU_ASSERT(registry_ref_parse("quay.io/a/b:1", &r, err, sizeof err));
    CU_ASSERT_FALSE(registry_ref_format(&r, small, sizeof small));
}

static void test_ref_invalid(void)
{
    static const char *const bad[] = {
        "", "docker://", ":tag", "@" D64, "Fedora", "quay.io/Upper/case", "quay.io/a//b", "quay.io/a/", "/a",
        "quay.io/-a", "quay.io/a-", "quay.io/a..b", "quay.io/a___b", "quay.io/a:", "quay.io/a:-tag", "quay.io/a:t@g",
        "quay.io/a@sha256:abc", "quay.io/a@md5:0123", "quay.io/a@sha256:" "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
        "quay.io:99999/a", "quay.io:0/a", "quay.io:/a", "-quay.io/a", "quay..io/a", "quay.io./a", "a b", "quay.io/a b",
        "[zz]:5000/a", "quay.io/a:" "0123456789012345678901234567890123456789012345678901234567890123456789"
        "012345678901234567890123456789012345678901234567890123456789",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct registry_ref r;
        char err[128] = "";
        CASE_ASSERT(!registry_ref_parse(bad[i], &r, err, sizeof err), i, bad[i]);
        CASE_ASSERT(err[0] != '\0', i, "a reason");
    }
    struct registry_ref r;
    char err[64];
    CU_ASSERT_FALSE(registry_ref_parse(NULL, &r, err, sizeof err));
    /* a name over 255 characters */
    char longname[400];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    memcpy(longname, "quay.io/", 8);
    CU_ASSERT_FALSE(registry_ref_parse(longname, &r, err, sizeof err));
    longname[250] = '\0';
    CU_ASSERT(registry_ref_parse(longname, &r, err, sizeof err));
}

static void test_mirror_parse(void)
{
    struct registry_mirror m;
    CU_ASSERT(registry_mirror_parse("quay.io=mirror.local:5000", &m));
    CU_ASSERT_STRING_EQUAL(m.from, "quay.io");
    CU_ASSERT_STRING_EQUAL(m.to, "mirror.local:5000");
    static const char *const bad[] = { "quay.io", "=x", "x=", "a/b=c", "a=b/c", "a=b c", NULL };
    for (size_t i = 0; bad[i]; i++)
        CASE_ASSERT(!registry_mirror_parse(bad[i], &m), i, bad[i]);
    CU_ASSERT_FALSE(registry_mirror_parse(NULL, &m));
}

/* ---- manifests ---- */

#define IDX_HEAD "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":["
#define ENTRY(arch, os, extra) "{\"digest\":\"" D64 "\",\"platform\":{\"architecture\":\"" arch "\",\"os\":\"" os "\"" extra "}}"

static void test_manifest_index(void)
{
    static const struct { const char *body; const char *ctype; archset want; } cases[] = {
        { IDX_HEAD ENTRY("amd64", "linux", "") "," ENTRY("arm64", "linux", ",\"variant\":\"v8\"") ","
          ENTRY("unknown", "unknown", "") "]}", NULL, (1u << ARCH_AMD64) | (1u << ARCH_ARM64) },
        { "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.list.v2+json\","
          "\"manifests\":[" ENTRY("s390x", "linux", "") "," ENTRY("amd64", "windows", "") "]}", NULL, 1u << ARCH_S390X },
        /* no mediaType: the Content-Type says, or the shape */
        { "{\"manifests\":[" ENTRY("x86_64", "linux", "") "]}", "application/vnd.oci.image.index.v1+json; charset=x",
          1u << ARCH_AMD64 },
        { "{\"manifests\":[" ENTRY("aarch64", "linux", "") ",{\"platform\":7},3,{}]}", NULL, 1u << ARCH_ARM64 },
        { IDX_HEAD ENTRY("arm64", "linux", ",\"variant\":\"v8\"") "," ENTRY("ppc64le", "linux", "") ","
          ENTRY("mips64le", "linux", "") "]}", NULL, (1u << ARCH_ARM64) | (1u << ARCH_PPC64LE) },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct registry_manifest m;
        char err[128] = "";
        enum ag_result r = registry_manifest_parse(cases[i].body, strlen(cases[i].body), cases[i].ctype, &m, err, sizeof err);
        CASE_ASSERT(r == AG_OK, i, err);
        CASE_ASSERT(m.kind == REGISTRY_DOC_INDEX, i, "index");
        CASE_ASSERT(m.archs == cases[i].want, i, cases[i].body);
    }
}

static void test_manifest_single(void)
{
    const char *oci = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                      "\"config\":{\"digest\":\"" D64 "\",\"size\":3},\"layers\":[]}";
    struct registry_manifest m;
    char err[128];
    CU_ASSERT_EQUAL(registry_manifest_parse(oci, strlen(oci), NULL, &m, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(m.kind, REGISTRY_DOC_MANIFEST);
    CU_ASSERT_STRING_EQUAL(m.config_digest, D64);
    const char *docker = "{\"schemaVersion\":2,\"config\":{\"digest\":\"" D64 "\"}}";
    CU_ASSERT_EQUAL(registry_manifest_parse(docker, strlen(docker), "application/vnd.docker.distribution.manifest.v2+json",
                                            &m, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(m.kind, REGISTRY_DOC_MANIFEST);

    archset a = 0;
    const char *cfg = "{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"}";
    CU_ASSERT_EQUAL(registry_config_parse(cfg, strlen(cfg), &a, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(a, 1u << ARCH_ARM64);
    cfg = "{\"architecture\":\"s390x\"}";
    CU_ASSERT_EQUAL(registry_config_parse(cfg, strlen(cfg), &a, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(a, 1u << ARCH_S390X);
    static const char *const badcfg[] = { "", "[]", "{", "{\"architecture\":3}", "{\"os\":\"linux\"}",
                                          "{\"architecture\":\"amd64\",\"os\":\"windows\"}",
                                          "{\"architecture\":\"vax\",\"os\":\"linux\"}", "null" };
    for (size_t i = 0; i < sizeof badcfg / sizeof badcfg[0]; i++) {
        err[0] = '\0';
        CASE_ASSERT(registry_config_parse(badcfg[i], strlen(badcfg[i]), &a, err, sizeof err) == AG_EINVAL, i, badcfg[i]);
        CASE_ASSERT(a == 0 && err[0], i, "reason, nothing known");
    }
    static char big[REGISTRY_CONFIG_MAX + 2];
    memset(big, ' ', sizeof big - 1);
    CU_ASSERT_EQUAL(registry_config_parse(big, sizeof big - 1, &a, err, sizeof err), AG_ETOOBIG);
}

static void test_manifest_malformed(void)
{
    static const char *const bad[] = {
        "", "{", "[]", "\"x\"", "{}", "{\"mediaType\":\"text/plain\"}",
        "{\"mediaType\":\"application/vnd.oci.image.index.v1+json\"}",
        "{\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":{}}",
        IDX_HEAD "]}",
        IDX_HEAD ENTRY("unknown", "unknown", "") "]}",
        IDX_HEAD ENTRY("amd64", "windows", "") "]}",
        IDX_HEAD "{\"platform\":{\"architecture\":1,\"os\":\"linux\"}}]}",
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"}",
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"digest\":\"sha256:12\"}}",
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"digest\":5}}",
        "{\"manifests\":[],\"config\":{}}",
        "{\"schemaVersion\":1,\"fsLayers\":[]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct registry_manifest m;
        char err[128] = "";
        CASE_ASSERT(registry_manifest_parse(bad[i], strlen(bad[i]), NULL, &m, err, sizeof err) == AG_EINVAL, i, bad[i]);
        CASE_ASSERT(err[0] != '\0', i, "a reason");
    }
    struct registry_manifest m;
    char err[64];
    CU_ASSERT_EQUAL(registry_manifest_parse(NULL, 0, NULL, &m, err, sizeof err), AG_EINVAL);
    static char big[REGISTRY_MANIFEST_MAX + 2];
    memset(big, ' ', sizeof big - 1);
    CU_ASSERT_EQUAL(registry_manifest_parse(big, sizeof big - 1, NULL, &m, err, sizeof err), AG_ETOOBIG);
}

static void test_digest(void)
{
    /* sha256("abc") */
    const char *abc = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    CU_ASSERT(registry_digest_matches(abc, "abc", 3));
    CU_ASSERT_FALSE(registry_digest_matches(abc, "abd", 3));
    CU_ASSERT_FALSE(registry_digest_matches(abc, "abc", 2));
    CU_ASSERT(registry_digest_matches("sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
                                      "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f", "abc", 3));
    CU_ASSERT_FALSE(registry_digest_matches("sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", "abc", 3));
    CU_ASSERT_FALSE(registry_digest_matches("md5:900150983cd24fb0d6963f7d28e17f72", "abc", 3));
    CU_ASSERT_FALSE(registry_digest_matches(NULL, "abc", 3));
    CU_ASSERT(registry_digest_valid(D64));
    CU_ASSERT_FALSE(registry_digest_valid("sha256:"));
    CU_ASSERT_FALSE(registry_digest_valid(D64 "0"));
}

/* ---- authentication ---- */

static void test_challenge(void)
{
    struct registry_challenge c;
    CU_ASSERT(registry_challenge_parse("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
                                       "scope=\"repository:library/fedora:pull\"", &c));
    CU_ASSERT(c.bearer && !c.basic);
    CU_ASSERT_STRING_EQUAL(c.realm, "https://auth.docker.io/token");
    CU_ASSERT_STRING_EQUAL(c.service, "registry.docker.io");
    CU_ASSERT_STRING_EQUAL(c.scope, "repository:library/fedora:pull");
    CU_ASSERT(registry_challenge_parse("bearer  realm=https://quay.io/v2/auth , service=quay.io,error=\"insufficient_scope\"", &c));
    CU_ASSERT_STRING_EQUAL(c.realm, "https://quay.io/v2/auth");
    CU_ASSERT_STRING_EQUAL(c.service, "quay.io");
    CU_ASSERT_STRING_EQUAL(c.scope, "");
    CU_ASSERT(registry_challenge_parse("Basic realm=\"Registry Realm\"", &c));
    CU_ASSERT(c.basic && !c.bearer);
    CU_ASSERT(registry_challenge_parse("Basic", &c));
    CU_ASSERT(registry_challenge_parse("Bearer realm=\"https://x/t\\\"q\"", &c));
    CU_ASSERT_STRING_EQUAL(c.realm, "https://x/t\"q");
    static const char *const bad[] = { "", "Negotiate abc", "Bearer", "Bearer realm=\"ftp://x\"", "Bearer realm",
                                       "Bearer realm=\"https://x", "Bearerrealm=\"https://x\"", "Digest realm=\"x\"",
                                       "Bearer realm=\"https://x\",service" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CASE_ASSERT(!registry_challenge_parse(bad[i], &c), i, bad[i]);
    CU_ASSERT_FALSE(registry_challenge_parse(NULL, &c));
    char huge[3000];
    int n = snprintf(huge, sizeof huge, "Bearer realm=\"https://x/");
    memset(huge + n, 'a', sizeof huge - (size_t)n - 3);
    memcpy(huge + sizeof huge - 3, "\"", 2);
    CU_ASSERT_FALSE(registry_challenge_parse(huge, &c));
}

static void test_creds(void)
{
    /* "dXNlcjpwYXNz" is base64 of "user:pass" */
    const char *cfg = "{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"dXNlcjpwYXNz\"},"
                      "\"quay.io\":{\"username\":\"robot\",\"password\":\"p:w\"},"
                      "\"ghcr.io\":{\"identitytoken\":\"x\"},"
                      "\"http://127.0.0.1:5000\":{\"auth\":\"dXNlcjpwYXNz\"}}}";
    struct registry_creds *c = NULL;
    char err[128];
    CU_ASSERT_EQUAL_FATAL(registry_creds_parse(cfg, strlen(cfg), &c, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(registry_creds_count(c), 3);
    CU_ASSERT_STRING_EQUAL(registry_creds_find(c, "docker.io"), "user:pass");
    CU_ASSERT_STRING_EQUAL(registry_creds_find(c, "registry-1.docker.io"), "user:pass");
    CU_ASSERT_STRING_EQUAL(registry_creds_find(c, "quay.io"), "robot:p:w");
    CU_ASSERT_STRING_EQUAL(registry_creds_find(c, "127.0.0.1:5000"), "user:pass");
    CU_ASSERT_PTR_NULL(registry_creds_find(c, "ghcr.io"));
    CU_ASSERT_PTR_NULL(registry_creds_find(c, "example.com"));
    CU_ASSERT_PTR_NULL(registry_creds_find(NULL, "quay.io"));
    registry_creds_free(c);
    static const char *const bad[] = { "", "{", "[]", "{}", "{\"auths\":[]}", "{\"auths\":{\"q\":1}}",
                                       "{\"auths\":{\"q\":{\"auth\":\"!!!\"}}}",
                                       "{\"auths\":{\"q\":{\"auth\":\"bm9jb2xvbg==\"}}}" /* "nocolon" */ };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c = NULL;
        err[0] = '\0';
        CASE_ASSERT(registry_creds_parse(bad[i], strlen(bad[i]), &c, err, sizeof err) == AG_EINVAL, i, bad[i]);
        CASE_ASSERT(c == NULL && err[0], i, "nothing kept, a reason");
    }
    CU_ASSERT_NOT_EQUAL(registry_creds_load("/nonexistent/docker.json", &c, err, sizeof err), AG_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/docker.json"));
}

static void test_tokens(void)
{
    char tok[64], err[128];
    unsigned exp = 0;
    const char *a = "{\"token\":\"abc\",\"expires_in\":300}";
    CU_ASSERT_EQUAL(registry_token_parse(a, strlen(a), tok, sizeof tok, &exp, err, sizeof err), AG_OK);
    CU_ASSERT_STRING_EQUAL(tok, "abc");
    CU_ASSERT_EQUAL(exp, 300);
    a = "{\"access_token\":\"xyz\"}";
    CU_ASSERT_EQUAL(registry_token_parse(a, strlen(a), tok, sizeof tok, &exp, err, sizeof err), AG_OK);
    CU_ASSERT_STRING_EQUAL(tok, "xyz");
    CU_ASSERT_EQUAL(exp, 60);
    static const char *const bad[] = { "", "{", "{}", "{\"token\":\"\"}", "{\"token\":5}", "{\"token\":\"a\\r\\nX: y\"}",
                                       "{\"token\":\"0123456789012345678901234567890123456789012345678901234567890123456789\"}" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CASE_ASSERT(registry_token_parse(bad[i], strlen(bad[i]), tok, sizeof tok, &exp, err, sizeof err) == AG_EINVAL,
                    i, bad[i]);

    struct registry_tokens *t = registry_tokens_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    char buf[64];
    CU_ASSERT_FALSE(registry_tokens_get(t, "quay.io", "repository:a:pull", 1000, buf, sizeof buf));
    registry_tokens_put(t, "quay.io", "repository:a:pull", "T1", 100000);
    CU_ASSERT(registry_tokens_get(t, "quay.io", "repository:a:pull", 1000, buf, sizeof buf));
    CU_ASSERT_STRING_EQUAL(buf, "T1");
    CU_ASSERT_FALSE(registry_tokens_get(t, "quay.io", "repository:b:pull", 1000, buf, sizeof buf));
    CU_ASSERT_FALSE(registry_tokens_get(t, "ghcr.io", "repository:a:pull", 1000, buf, sizeof buf));
    /* not reused within 5 s of its expiry */
    CU_ASSERT(registry_tokens_get(t, "quay.io", "repository:a:pull", 94999, buf, sizeof buf));
    CU_ASSERT_FALSE(registry_tokens_get(t, "quay.io", "repository:a:pull", 95000, buf, sizeof buf));
    registry_tokens_put(t, "quay.io", "repository:a:pull", "T2", 200000);
    CU_ASSERT(registry_tokens_get(t, "quay.io", "repository:a:pull", 150000, buf, sizeof buf));
    CU_ASSERT_STRING_EQUAL(buf, "T2");
    /* bounded: the first to expire goes */
    for (int i = 0; i < 300; i++) {
        char scope[64];
        snprintf(scope, sizeof scope, "repository:r%d:pull", i);
        registry_tokens_put(t, "h", scope, "X", 300000 + (uint64_t)i);
    }
    CU_ASSERT_FALSE(registry_tokens_get(t, "quay.io", "repository:a:pull", 150000, buf, sizeof buf));
    CU_ASSERT(registry_tokens_get(t, "h", "repository:r299:pull", 150000, buf, sizeof buf));
    char tiny[1];
    CU_ASSERT_FALSE(registry_tokens_get(t, "h", "repository:r299:pull", 150000, tiny, sizeof tiny));
    registry_tokens_free(t);
}

/* ---- the cache ---- */

static _Atomic uint64_t now;
static uint64_t clock_fn(void) { return atomic_load(&now); }

static struct registry_result ok_result(archset a)
{
    struct registry_result r = { .status = REG_OK, .archs = a, .from_index = true };
    return r;
}

static void test_cache_ttl_and_lru(void)
{
    atomic_store(&now, 1000);
    struct registry_cache_opts o = { .capacity = 3, .ttl_ms = 60000, .negative_ttl_ms = 30000, .now_ms = clock_fn };
    struct registry_cache *c = registry_cache_new(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    struct registry_result out, r = ok_result(1);
    CU_ASSERT_EQUAL(registry_cache_begin(c, "tag", &out), RC_STARTED);
    CU_ASSERT_EQUAL(registry_cache_begin(c, "tag", &out), RC_PENDING);
    registry_cache_complete(c, "tag", false, &r);
    CU_ASSERT_EQUAL(registry_cache_begin(c, "tag", &out), RC_HIT);
    CU_ASSERT_EQUAL(out.archs, 1);
    /* a digest stays; a failure expires after the negative TTL; a tag after the TTL */
    CU_ASSERT_EQUAL(registry_cache_begin(c, "digest", &out), RC_STARTED);
    registry_cache_complete(c, "digest", true, &r);
    struct registry_result bad = { .status = REG_ERROR };
    snprintf(bad.why, sizeof bad.why, "boom");
    CU_ASSERT_EQUAL(registry_cache_begin(c, "fail", &out), RC_STARTED);
    registry_cache_complete(c, "fail", false, &bad);
    CU_ASSERT_EQUAL(registry_cache_begin(c, "fail", &out), RC_HIT);
    CU_ASSERT_EQUAL(out.status, REG_ERROR);
    CU_ASSERT_STRING_EQUAL(out.why, "boom");
    atomic_store(&now, 1000 + 29999);
    CU_ASSERT_EQUAL(registry_cache_begin(c, "fail", &out), RC_HIT);
    atomic_store(&now, 1000 + 30000);
    CU_ASSERT_EQUAL(registry_cache_begin(c, "fail", &out), RC_STARTED);
    CU_ASSERT_EQUAL(registry_cache_begin(c, "fail", &out), RC_PENDING);
    registry_cache_complete(c, "fail", false, &bad);
    atomic_store(&now, 1000 + 60000);
    CU_ASSERT_EQUAL(registry_cache_begin(c, "tag", &out), RC_STARTED);
    registry_cache_complete(c, "tag", false, &r);
    atomic_store(&now, 1000 + 10000000);
    CU_ASSERT_EQUAL(registry_cache_begin(c, "digest", &out), RC_HIT);
    CU_ASSERT_EQUAL(registry_cache_size(c), 3);
    /* LRU: digest was used last, then tag's refresh...; adding one evicts the least recent ("fail") */
    CU_ASSERT_EQUAL(registry_cache_begin(c, "new", &out), RC_STARTED);
    CU_ASSERT_EQUAL(registry_cache_size(c), 3);
    registry_cache_complete(c, "new", false, &r);
    CU_ASSERT_EQUAL(registry_cache_begin(c, "digest", &out), RC_HIT);
    CU_ASSERT_EQUAL(registry_cache_begin(c, "fail", &out), RC_STARTED);    /* was evicted */
    /* "fail" is pending now; next out is the least recent answered one ("tag") */
    CU_ASSERT_EQUAL(registry_cache_begin(c, "tag", &out), RC_STARTED);      /* evicted */
    registry_cache_free(c);
}

static void test_cache_full_of_pending(void)
{
    atomic_store(&now, 1000);
    struct registry_cache_opts o = { .capacity = 2, .ttl_ms = 1000, .negative_ttl_ms = 1000, .now_ms = clock_fn };
    struct registry_cache *c = registry_cache_new(&o);
    struct registry_result out, r = ok_result(2);
    CU_ASSERT_EQUAL(registry_cache_begin(c, "a", &out), RC_STARTED);
    CU_ASSERT_EQUAL(registry_cache_begin(c, "b", &out), RC_STARTED);
    CU_ASSERT_EQUAL(registry_cache_begin(c, "c", &out), RC_FULL);
    registry_cache_abandon(c, "b");
    CU_ASSERT_EQUAL(registry_cache_size(c), 1);
    CU_ASSERT_EQUAL(registry_cache_begin(c, "c", &out), RC_STARTED);
    /* a result for an entry evicted meanwhile is added back */
    registry_cache_complete(c, "a", false, &r);
    registry_cache_complete(c, "c", false, &r);
    registry_cache_complete(c, "zz", true, &r);
    CU_ASSERT_EQUAL(registry_cache_size(c), 2);
    CU_ASSERT_EQUAL(registry_cache_begin(c, "zz", &out), RC_HIT);
    /* waiting on something that is not there: unknown at once */
    CU_ASSERT_FALSE(registry_cache_wait(c, "nothing", registry_now_ms() + 1000, &out));
    registry_cache_free(c);
}

struct waiter { struct registry_cache *c; bool got; struct registry_result out; uint64_t deadline; };

static void *wait_thread(void *p)
{
    struct waiter *w = p;
    w->got = registry_cache_wait(w->c, "k", w->deadline, &w->out);
    return NULL;
}

static void test_cache_waiters(void)
{
    struct registry_cache_opts o = { .capacity = 10, .ttl_ms = 1000, .negative_ttl_ms = 1000 };
    struct registry_cache *c = registry_cache_new(&o);
    struct registry_result out;
    CU_ASSERT_EQUAL(registry_cache_begin(c, "k", &out), RC_STARTED);
    /* the deadline passes: not answered */
    uint64_t t0 = registry_now_ms();
    CU_ASSERT_FALSE(registry_cache_wait(c, "k", t0 + 50, &out));
    CU_ASSERT(registry_now_ms() - t0 >= 50);
    CU_ASSERT(registry_now_ms() - t0 < 500);
    /* four waiters, one completion wakes them all */
    struct waiter w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct waiter){ .c = c, .deadline = registry_now_ms() + 5000 };
        pthread_create(&th[i], NULL, wait_thread, &w[i]);
    }
    struct timespec ts = { 0, 30 * 1000000L };
    nanosleep(&ts, NULL);
    struct registry_result r = ok_result(4);
    t0 = registry_now_ms();
    registry_cache_complete(c, "k", false, &r);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CU_ASSERT(w[i].got);
        CU_ASSERT_EQUAL(w[i].out.archs, 4);
    }
    CU_ASSERT(registry_now_ms() - t0 < 1000);
    /* abandoning wakes waiters with nothing */
    CU_ASSERT_EQUAL(registry_cache_begin(c, "k2", &out), RC_STARTED);
    registry_cache_abandon(c, "k2");
    CU_ASSERT_FALSE(registry_cache_wait(c, "k2", registry_now_ms() + 1000, &out));
    registry_cache_free(c);
}

UNIT_SUITE("registry_ref", NULL, NULL,
           { "references by the distribution grammar: docker.io defaults, docker://, digest wins", test_ref_valid },
           { "malformed references are refused with a reason", test_ref_invalid },
           { "--registry-mirror FROM=TO", test_mirror_parse })

/* Several UNIT_SUITEs in one file need distinct static names: the rest are registered by hand. */
static const struct unit_test manifest_tests[] = {
    { "index and manifest list: linux platforms, attestation entries skipped", test_manifest_index },
    { "single manifest config digest; config blob architecture", test_manifest_single },
    { "malformed or oversized manifests are errors", test_manifest_malformed },
    { "digest verification", test_digest },
    { NULL, NULL },
};
static const struct unit_test auth_tests[] = {
    { "WWW-Authenticate: Bearer and Basic challenges", test_challenge },
    { "Docker config file credentials", test_creds },
    { "token answers and the token cache", test_tokens },
    { NULL, NULL },
};
static const struct unit_test cache_tests[] = {
    { "TTL on an injected clock, negative entries, digests kept, LRU", test_cache_ttl_and_lru },
    { "full of pending entries; late results added back", test_cache_full_of_pending },
    { "waiters share one lookup and stop at their deadline", test_cache_waiters },
    { NULL, NULL },
};
static struct unit_suite manifest_suite = { "registry_manifest", NULL, NULL, manifest_tests, NULL };
static struct unit_suite auth_suite = { "registry_auth", NULL, NULL, auth_tests, NULL };
static struct unit_suite cache_suite = { "registry_cache", NULL, NULL, cache_tests, NULL };
__attribute__((constructor)) static void register_more(void)
{
    unit_register(&manifest_suite);
    unit_register(&auth_suite);
    unit_register(&cache_suite);
}

/* ---- the --registry-* flags ---- */
#include "config.h"

static void test_config_flags(void)
{
    struct config cfg;
    char err[256];
    char *defaults[] = { "archgate", "review", NULL };
    CU_ASSERT_EQUAL_FATAL(config_parse(2, defaults, &cfg, err, sizeof err), AG_OK);
    CU_ASSERT(cfg.registry_lookup);
    CU_ASSERT_EQUAL(cfg.registry_timeout_ms, 1500);
    CU_ASSERT_EQUAL(cfg.registry_cache_size, 10000);
    CU_ASSERT_EQUAL(cfg.registry_cache_ttl_ms, 3600000ull);
    CU_ASSERT_EQUAL(cfg.nregistry_mirrors, 0);

    char *set[] = { "archgate", "review", "--registry-lookup", "off", "--registry-timeout", "250ms",
                    "--registry-cache-size=5", "--registry-cache-ttl", "10m", "--registry-auth", "/a.json",
                    "--registry-ca", "/ca.pem", "--registry-insecure", "r.local:5000,other",
                    "--registry-mirror", "quay.io=m.local", "--registry-mirror", "docker.io=m.local:5001", NULL };
    CU_ASSERT_EQUAL_FATAL(config_parse((int)(sizeof set / sizeof set[0]) - 1, set, &cfg, err, sizeof err), AG_OK);
    CU_ASSERT_FALSE(cfg.registry_lookup);
    CU_ASSERT_EQUAL(cfg.registry_timeout_ms, 250);
    CU_ASSERT_EQUAL(cfg.registry_cache_size, 5);
    CU_ASSERT_EQUAL(cfg.registry_cache_ttl_ms, 600000ull);
    CU_ASSERT_STRING_EQUAL(cfg.registry_auth, "/a.json");
    CU_ASSERT_STRING_EQUAL(cfg.registry_ca, "/ca.pem");
    CU_ASSERT_STRING_EQUAL(cfg.registry_insecure, "r.local:5000,other");
    CU_ASSERT_EQUAL(cfg.nregistry_mirrors, 2);
    CU_ASSERT_STRING_EQUAL(cfg.registry_mirrors[1].from, "docker.io");
    CU_ASSERT_STRING_EQUAL(cfg.registry_mirrors[1].to, "m.local:5001");

    static const struct { const char *flag, *value; unsigned want; } times[] = {
        { "--registry-timeout", "1.5s", 1500 }, { "--registry-timeout", "2", 2000 },
        { "--registry-timeout", "0.01", 10 }, { "--registry-timeout", "30s", 30000 },
        { "--registry-timeout", "1.2345s", 1234 },
    };
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        char *argv[] = { "archgate", "review", (char *)times[i].flag, (char *)times[i].value, NULL };
        CASE_ASSERT(config_parse(4, argv, &cfg, err, sizeof err) == AG_OK && cfg.registry_timeout_ms == times[i].want,
                    i, times[i].value);
    }
    static const struct { const char *flag, *value; } bad[] = {
        { "--registry-lookup", "yes" }, { "--registry-timeout", "0" }, { "--registry-timeout", "31s" },
        { "--registry-timeout", "1.s" }, { "--registry-timeout", ".5s" }, { "--registry-timeout", "1h" },
        { "--registry-timeout", "5ms" }, { "--registry-cache-size", "0" }, { "--registry-cache-size", "1k" },
        { "--registry-cache-ttl", "500ms" }, { "--registry-cache-ttl", "169h" }, { "--registry-insecure", "" },
        { "--registry-insecure", "a/b" }, { "--registry-mirror", "quay.io" }, { "--registry-mirror", "a=b/c" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *argv[] = { "archgate", "review", (char *)bad[i].flag, (char *)bad[i].value, NULL };
        err[0] = '\0';
        CASE_ASSERT(config_parse(4, argv, &cfg, err, sizeof err) == AG_EINVAL, i, bad[i].value);
        CASE_ASSERT(strncmp(err, bad[i].flag, strlen(bad[i].flag)) == 0, i, err);
    }
    char *many[40] = { "archgate", "review" };
    int n = 2;
    for (int i = 0; i < 17; i++) {
        many[n++] = "--registry-mirror";
        many[n++] = "a=b";
    }
    CU_ASSERT_EQUAL(config_parse(n, many, &cfg, err, sizeof err), AG_EINVAL);
}

static const struct unit_test config_tests[] = {
    { "--registry-* flags: defaults, values, refusals", test_config_flags },
    { NULL, NULL },
};
static struct unit_suite config_suite = { "registry_config", NULL, NULL, config_tests, NULL };
__attribute__((constructor)) static void register_config(void)
{
    unit_register(&config_suite);
}

/* ---- metrics ---- */
#include "metrics.h"

static size_t fake_cache_size(void) { return 42; }

static double series(const char *text, const char *name)
{
    char line[256];
    snprintf(line, sizeof line, "\n%s ", name);     /* a sample line, not its # HELP */
    const char *p = strstr(text, line);
    if (!p)
        return -1;
    p += strlen(line) - 1;
    if (*p != ' ')
        return -1;
    return strtod(p + 1, NULL);
}

static void test_registry_metrics(void)
{
    size_t len = 0;
    char *t0 = metrics_render(NULL, NULL, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t0);
    double hit0 = series(t0, "archgate_registry_lookups_total{result=\"hit\"}");
    double gave0 = series(t0, "archgate_registry_lookups_total{result=\"request_timeout\"}");
    double n0 = series(t0, "archgate_registry_lookup_duration_seconds_count");
    double le0 = series(t0, "archgate_registry_lookup_duration_seconds_bucket{le=\"0.05\"}");
    CU_ASSERT(hit0 >= 0 && gave0 >= 0 && n0 >= 0 && le0 >= 0);
    CU_ASSERT(series(t0, "archgate_registry_cache_entries") < 0);    /* no resolver: no gauge value */
    mem_free(t0);

    metrics_registry_lookup(RM_HIT, -1);
    metrics_registry_lookup(RM_GAVE_UP, -1);
    metrics_registry_lookup(RM_FETCHED, 0.02);
    metrics_registry_lookup(RM_ERROR, 3.0);
    metrics_registry_lookup(-1, 1);           /* ignored */
    metrics_registry_lookup(RM_COUNT, 1);     /* ignored */
    metrics_set_registry_cache_fn(fake_cache_size);
    char *t1 = metrics_render(NULL, NULL, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t1);
    CU_ASSERT_EQUAL(series(t1, "archgate_registry_lookups_total{result=\"hit\"}"), hit0 + 1);
    CU_ASSERT_EQUAL(series(t1, "archgate_registry_lookups_total{result=\"request_timeout\"}"), gave0 + 1);
    CU_ASSERT_EQUAL(series(t1, "archgate_registry_lookup_duration_seconds_count"), n0 + 2);
    CU_ASSERT_EQUAL(series(t1, "archgate_registry_lookup_duration_seconds_bucket{le=\"0.05\"}"), le0 + 1);
    CU_ASSERT_EQUAL(series(t1, "archgate_registry_cache_entries"), 42);
    CU_ASSERT_PTR_NOT_NULL(strstr(t1, "# TYPE archgate_registry_lookup_duration_seconds histogram"));
    metrics_set_registry_cache_fn(NULL);
    mem_free(t1);
}

static const struct unit_test metrics_tests[] = {
    { "lookups by result, the duration histogram, the cache-size gauge", test_registry_metrics },
    { NULL, NULL },
};
static struct unit_suite metrics_suite = { "registry_metrics", NULL, NULL, metrics_tests, NULL };
__attribute__((constructor)) static void register_metrics(void)
{
    unit_register(&metrics_suite);
}
