/* ref.c - the distribution reference grammar (docker/distribution reference/regexp.go):
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [domain "/"] component ("/" component)*
 *   domain    := domain-component ("." domain-component)* [":" port]
 *   component := [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
 *   tag       := [\w][\w.-]{0,127}
 * The first part is a domain when it holds "." or ":" or is "localhost". */
#include <stdio.h>
#include <string.h>
#include "registry/ref.h"

static bool fail(char *err, size_t errlen, const char *why)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", why);
    return false;
}

static bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
static bool is_alnum(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z'); }
static bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

/* One path component, s[0..n). */
static bool component_ok(const char *s, size_t n)
{
    if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return false;
    size_t i = 0;
    while (i < n) {
        if (is_lower_alnum(s[i])) {
            i++;
            continue;
        }
        /* a separator: ".", "_", "__" or one or more "-", between alphanumerics */
        size_t j = i;
        if (s[i] == '.') {
            j++;
        } else if (s[i] == '_') {
            j++;
            if (j < n && s[j] == '_')
                j++;
        } else if (s[i] == '-') {
            while (j < n && s[j] == '-')
                j++;
        } else {
            return false;
        }
        if (j >= n || !is_lower_alnum(s[j]))
            return false;
        i = j;
    }
    return true;
}

/* host[:port], s[0..n). IPv6 literals in brackets are accepted as [hex:...]. */
static bool domain_ok(const char *s, size_t n)
{
    if (n == 0)
        return false;
    size_t hostlen = n;
    const char *colon = NULL;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close || close == s + 1)
            return false;
        for (const char *p = s + 1; p < close; p++)
            if (!is_hex(*p) && !(*p >= 'A' && *p <= 'F') && *p != ':')
                return false;
        hostlen = (size_t)(close - s) + 1;
        if (hostlen < n) {
            if (s[hostlen] != ':')
                return false;
            colon = s + hostlen;
        }
    } else {
        colon = memchr(s, ':', n);
        if (colon)
            hostlen = (size_t)(colon - s);
        /* domain components: alnum, inner hyphens, separated by dots */
        size_t i = 0;
        while (i < hostlen) {
            size_t j = i;
            while (j < hostlen && s[j] != '.')
                j++;
            if (j == i || !is_alnum(s[i]) || !is_alnum(s[j - 1]))
                return false;
            for (size_t k = i; k < j; k++)
                if (!is_alnum(s[k]) && s[k] != '-')
                    return false;
            i = j + 1;
            if (j < hostlen && i == hostlen)
                return false;   /* trailing dot */
        }
        if (hostlen == 0)
            return false;
    }
    if (colon) {
        size_t plen = n - (size_t)(colon - s) - 1;
        if (plen == 0 || plen > 5)
            return false;
        unsigned port = 0;
        for (size_t k = 0; k < plen; k++) {
            char c = colon[1 + k];
            if (c < '0' || c > '9')
                return false;
            port = port * 10 + (unsigned)(c - '0');
        }
        if (port == 0 || port > 65535)
            return false;
    }
    return true;
}

bool registry_digest_valid(const char *d)
{
    size_t want;
    if (strncmp(d, "sha256:", 7) == 0)
        want = 64;
    else if (strncmp(d, "sha512:", 7) == 0)
        want = 128;
    else
        return false;
    const char *h = d + 7;
    size_t n = strlen(h);
    if (n != want)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_hex(h[i]))
            return false;
    return true;
}

static bool tag_ok(const char *s, size_t n)
{
    if (n == 0 || n > REGISTRY_TAG_MAX)
        return false;
    if (!(is_alnum(s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(is_alnum(s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
            return false;
    return true;
}

bool registry_ref_parse(const char *s, struct registry_ref *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!s)
        return fail(err, errlen, "no image reference");
    if (strncmp(s, "docker://", 9) == 0)
        s += 9;
    size_t len = strlen(s);
    if (len == 0)
        return fail(err, errlen, "empty image reference");
    if (len > REGISTRY_NAME_MAX + 1 + REGISTRY_TAG_MAX + 1 + REGISTRY_DIGEST_MAX)
        return fail(err, errlen, "image reference too long");

    /* digest */
    size_t name_end = len;
    const char *at = memchr(s, '@', len);
    if (at) {
        const char *d = at + 1;
        if (strlen(d) > REGISTRY_DIGEST_MAX || !registry_digest_valid(d))
            return fail(err, errlen, "not a sha256 or sha512 digest after '@'");
        memcpy(out->digest, d, strlen(d) + 1);
        name_end = (size_t)(at - s);
    }
    /* tag: after the last ':' that follows the last '/' */
    const char *slash = NULL;
    for (size_t i = 0; i < name_end; i++)
        if (s[i] == '/')
            slash = s + i;
    const char *colon = NULL;
    for (const char *p = slash ? slash + 1 : s; p < s + name_end; p++)
        if (*p == ':')
            colon = p;
    if (colon) {
        size_t tlen = (size_t)(s + name_end - colon - 1);
        if (!tag_ok(colon + 1, tlen))
            return fail(err, errlen, "not a valid tag");
        memcpy(out->tag, colon + 1, tlen);
        out->tag[tlen] = '\0';
        name_end = (size_t)(colon - s);
    }
    if (name_end == 0)
        return fail(err, errlen, "no repository name");

    /* domain */
    const char *first = memchr(s, '/', name_end);
    const char *path = s;
    size_t plen = name_end;
    if (first) {
        size_t dlen = (size_t)(first - s);
        bool is_domain = memchr(s, '.', dlen) || memchr(s, ':', dlen) || (dlen == 9 && memcmp(s, "localhost", 9) == 0)
                         || s[0] == '[';
        if (is_domain) {
            if (!domain_ok(s, dlen))
                return fail(err, errlen, "not a valid registry host");
            if (dlen > REGISTRY_NAME_MAX)
                return fail(err, errlen, "registry host too long");
            memcpy(out->host, s, dlen);
            out->host[dlen] = '\0';
            path = first + 1;
            plen = name_end - dlen - 1;
        }
    }
    if (!out->host[0] || strcmp(out->host, "index.docker.io") == 0) {
        memset(out->host, 0, sizeof out->host);
        memcpy(out->host, "docker.io", sizeof "docker.io");
    }

    /* path components */
    size_t i = 0;
    unsigned ncomp = 0;
    while (i <= plen) {
        size_t j = i;
        while (j < plen && path[j] != '/')
            j++;
        if (!component_ok(path + i, j - i))
            return fail(err, errlen, "not a valid repository name (lowercase letters, digits and separators)");
        ncomp++;
        i = j + 1;
        if (j == plen)
            break;
    }
    bool library = strcmp(out->host, "docker.io") == 0 && ncomp == 1;
    size_t need = (library ? 8 : 0) + plen;
    if (need + strlen(out->host) + 1 > REGISTRY_NAME_MAX)
        return fail(err, errlen, "image name longer than 255 characters");
    size_t o = 0;
    if (library) {
        memcpy(out->repo, "library/", 8);
        o = 8;
    }
    memcpy(out->repo + o, path, plen);
    out->repo[o + plen] = '\0';
    if (!out->tag[0] && !out->digest[0])
        memcpy(out->tag, "latest", sizeof "latest");
    return true;
}

const char *registry_ref_api_host(const struct registry_ref *r)
{
    return strcmp(r->host, "docker.io") == 0 ? "registry-1.docker.io" : r->host;
}

const char *registry_ref_manifest_ref(const struct registry_ref *r)
{
    return r->digest[0] ? r->digest : r->tag;
}

bool registry_ref_format(const struct registry_ref *r, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/%s%s%s%s%s", r->host, r->repo, r->tag[0] ? ":" : "", r->tag,
                     r->digest[0] ? "@" : "", r->digest);
    return n >= 0 && (size_t)n < len;
}
