/* client.c - the Distribution API conversation of one lookup: GET the manifest (index, list or
 * single manifest) with the Accept of all four, answer a 401 challenge (bearer token from the
 * realm, or Basic), check what was fetched by digest, and for a single manifest GET its config
 * blob (following redirects). Bodies are bounded; errors become one line naming the host. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <curl/curl.h>
#include "registry/client.h"
#include "clock.h"
#include "registry/manifest.h"
#include "mem.h"
#include "patch.h"
#include "pool.h"

#define DEFAULT_TIMEOUT_MS 10000u
#define AUTHZ_MAX 8400
#define TOKEN_BODY_MAX (64 * 1024)

struct registry_client {
    char *ca_file;
    char *insecure;
    struct registry_mirror mirrors[REGISTRY_MIRRORS_MAX];
    size_t nmirrors;
    const struct registry_creds *creds;
    unsigned timeout_ms;
    struct registry_tokens *tokens;
    atomic_bool cancelled;
};

void registry_client_cancel(struct registry_client *c)
{
    atomic_store(&c->cancelled, true);
}

/* libcurl's progress callback: non-zero aborts the transfer. */
static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    const struct registry_client *c = ud;
    return atomic_load(&c->cancelled) ? 1 : 0;
}

uint64_t registry_now_ms(void)
{
    return (uint64_t)clock_mono_ms();
}

const char *registry_status_name(enum registry_status s)
{
    static const char *const n[REG_STATUS_COUNT] = {
        [REG_OK] = "fetched", [REG_NOT_FOUND] = "not_found", [REG_UNAUTHORIZED] = "unauthorized",
        [REG_TIMEOUT] = "timeout", [REG_ERROR] = "error",
    };
    return s < REG_STATUS_COUNT ? n[s] : "error";
}

bool registry_mirror_parse(const char *s, struct registry_mirror *m)
{
    const char *eq = s ? strchr(s, '=') : NULL;
    if (!eq || eq == s || !eq[1])
        return false;
    size_t fl = (size_t)(eq - s), tl = strlen(eq + 1);
    if (fl >= sizeof m->from || tl >= sizeof m->to)
        return false;
    memcpy(m->from, s, fl);
    m->from[fl] = '\0';
    memcpy(m->to, eq + 1, tl + 1);
    if (strpbrk(m->from, "/ ") || strpbrk(m->to, "/ "))
        return false;
    return true;
}

struct registry_client *registry_client_new(const struct registry_client_opts *o)
{
    struct registry_client *c = mem_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->ca_file = o->ca_file ? mem_strdup(o->ca_file) : NULL;
    c->insecure = o->insecure ? mem_strdup(o->insecure) : NULL;
    c->nmirrors = o->nmirrors < REGISTRY_MIRRORS_MAX ? o->nmirrors : REGISTRY_MIRRORS_MAX;
    for (size_t i = 0; i < c->nmirrors; i++)
        c->mirrors[i] = o->mirrors[i];
    c->creds = o->creds;
    c->timeout_ms = o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
    c->tokens = registry_tokens_new();
    if ((o->ca_file && !c->ca_file) || (o->insecure && !c->insecure) || !c->tokens) {
        registry_client_free(c);
        return NULL;
    }
    return c;
}

void registry_client_free(struct registry_client *c)
{
    if (!c)
        return;
    mem_free(c->ca_file);
    mem_free(c->insecure);
    registry_tokens_free(c->tokens);
    mem_free(c);
}

const char *registry_client_target(const struct registry_client *c, const struct registry_ref *r)
{
    for (size_t i = 0; i < c->nmirrors; i++)
        if (strcmp(c->mirrors[i].from, r->host) == 0)
            return c->mirrors[i].to;
    return registry_ref_api_host(r);
}

static bool is_insecure(const struct registry_client *c, const char *host)
{
    if (!c->insecure)
        return false;
    size_t hl = strlen(host);
    const char *p = c->insecure;
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n == hl && strncmp(p, host, n) == 0)
            return true;
        p += n;
        if (*p == ',')
            p++;
    }
    return false;
}

/* ---- one HTTP exchange ---- */

struct body { char *p; size_t n, cap, limit; bool over, nomem; };

static size_t on_body(char *data, size_t sz, size_t nm, void *ud)
{
    struct body *b = ud;
    size_t n = sz * nm;
    if (b->n + n > b->limit) {
        b->over = true;
        return 0;   /* aborts the transfer */
    }
    if (b->n + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 16384;
        while (ncap < b->n + n + 1)
            ncap *= 2;
        if (ncap > b->limit + 1)
            ncap = b->limit + 1;    /* a body of exactly the limit takes the limit, not twice it */
        char *np = mem_realloc(b->p, ncap);
        if (!np) {
            b->nomem = true;
            return 0;
        }
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

struct heads { char ctype[128]; char www[1536]; char digest[REGISTRY_DIGEST_MAX + 1]; };

static void header_value(const char *line, size_t n, size_t namelen, char *dst, size_t dstlen)
{
    const char *v = line + namelen;
    size_t vl = n - namelen;
    while (vl && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    if (vl >= dstlen)
        vl = dstlen - 1;
    memcpy(dst, v, vl);
    dst[vl] = '\0';
}

static size_t on_header(char *line, size_t sz, size_t nm, void *ud)
{
    struct heads *h = ud;
    size_t n = sz * nm;
    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0)
        memset(h, 0, sizeof *h);    /* a new response (after a redirect) */
    else if (n > 13 && strncasecmp(line, "content-type:", 13) == 0)
        header_value(line, n, 13, h->ctype, sizeof h->ctype);
    else if (n > 17 && strncasecmp(line, "www-authenticate:", 17) == 0)
        header_value(line, n, 17, h->www, sizeof h->www);
    else if (n > 22 && strncasecmp(line, "docker-content-digest:", 22) == 0)
        header_value(line, n, 22, h->digest, sizeof h->digest);
    return n;
}

struct exchange {
    long status;
    CURLcode rc;
    struct body body;
    struct heads heads;
    char curl_err[CURL_ERROR_SIZE];
};

static void exchange_free(struct exchange *x)
{
    mem_free(x->body.p);
    memset(x, 0, sizeof *x);
}

/* GET url. authz: a whole "Authorization: ..." header or NULL; userpwd: Basic credentials for
 * curl to send (token realms), or NULL. */
static void http_get(struct registry_client *c, CURL *h, const char *url, const char *accept, const char *authz,
                     const char *userpwd, bool follow, bool plain, size_t limit, uint64_t deadline,
                     struct exchange *x)
{
    memset(x, 0, sizeof *x);
    x->body.limit = limit;
    uint64_t now = registry_now_ms();
    long left = deadline > now ? (long)(deadline - now) : 1;
    struct curl_slist *hl = NULL, *t;
    char acc[512];
    if (accept) {
        snprintf(acc, sizeof acc, "Accept: %s", accept);
        if ((t = curl_slist_append(hl, acc)) != NULL)
            hl = t;
    }
    if (authz && (t = curl_slist_append(hl, authz)) != NULL)
        hl = t;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, left);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, left);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x->body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x->heads);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->curl_err);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "archgate");
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, plain ? "http,https" : "https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, plain ? "http,https" : "https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, follow ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
    if (c->ca_file) {
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
        curl_easy_setopt(h, CURLOPT_CAPATH, "/etc/ssl/certs");  /* the system store besides */
    }
    if (userpwd) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERPWD, userpwd);
    }
    x->rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x->status);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hl);
}

/* ---- the lookup ---- */

struct lookup {
    struct registry_client *c;
    CURL *h;
    const struct registry_ref *r;
    const char *host;
    bool plain;
    uint64_t deadline;
    char scope[REGISTRY_NAME_MAX + 32];
    char authz[AUTHZ_MAX];
    struct registry_result *out;
};

static void set_why(struct lookup *l, enum registry_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_why(struct lookup *l, enum registry_status st, const char *fmt, ...)
{
    char tail[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tail, sizeof tail, fmt, ap);
    va_end(ap);
    l->out->status = st;
    snprintf(l->out->why, sizeof l->out->why, "registry %.60s %s", l->host, tail);
}

/* A transport failure into the result. */
static void transport_failed(struct lookup *l, const struct exchange *x, const char *what)
{
    if (x->rc == CURLE_ABORTED_BY_CALLBACK)
        set_why(l, REG_ERROR, "not asked: archgate is stopping");
    else if (x->rc == CURLE_OPERATION_TIMEDOUT)
        set_why(l, REG_TIMEOUT, "did not answer within %.1fs", (double)l->c->timeout_ms / 1000.0);
    else if (x->body.nomem)
        set_why(l, REG_ERROR, "its %s could not be kept: out of memory", what);
    else if (x->body.over)
        set_why(l, REG_ERROR, "answered a %s larger than %u KiB", what,
                (unsigned)(x->body.limit / 1024));
    else
        set_why(l, REG_ERROR, "cannot be read: %.100s", x->curl_err[0] ? x->curl_err : curl_easy_strerror(x->rc));
}

/* Answer a 401: fetch a token from the realm, or use Basic credentials. false (out filled)
 * when there is nothing to try. */
static bool authenticate(struct lookup *l, const struct exchange *x)
{
    struct registry_challenge ch;
    /* the host asked (a mirror's own credentials) first, then the reference's registry */
    const char *cred = registry_creds_find(l->c->creds, l->host);
    if (!cred)
        cred = registry_creds_find(l->c->creds, l->r->host);
    if (!x->heads.www[0] || !registry_challenge_parse(x->heads.www, &ch)) {
        set_why(l, REG_UNAUTHORIZED, "refused access (401) without a usable challenge");
        return false;
    }
    if (ch.basic) {
        if (!cred) {
            set_why(l, REG_UNAUTHORIZED, "wants Basic credentials and --registry-auth has none for it");
            return false;
        }
        struct pool *p = pool_new(1024);
        char *b64 = p ? patch_base64(cred, strlen(cred), p) : NULL;
        if (!b64 || strlen(b64) + 32 > sizeof l->authz) {
            pool_free(p);
            set_why(l, REG_ERROR, "credentials too long");
            return false;
        }
        snprintf(l->authz, sizeof l->authz, "Authorization: Basic %s", b64);
        pool_free(p);
        return true;
    }
    /* Bearer: GET realm?service=..&scope=.. */
    CURL *h = l->h;
    char *svc = curl_easy_escape(h, ch.service, 0);
    char *scp = curl_easy_escape(h, ch.scope[0] ? ch.scope : l->scope, 0);
    char url[2048];
    int n = snprintf(url, sizeof url, "%s%sservice=%s&scope=%s", ch.realm, strchr(ch.realm, '?') ? "&" : "?",
                     svc ? svc : "", scp ? scp : "");
    curl_free(svc);
    curl_free(scp);
    if (n < 0 || (size_t)n >= sizeof url) {
        set_why(l, REG_ERROR, "token realm URL too long");
        return false;
    }
    bool realm_plain = strncmp(ch.realm, "http://", 7) == 0;
    if (realm_plain && !l->plain) {
        set_why(l, REG_ERROR, "names a plain-HTTP token realm");
        return false;
    }
    struct exchange t;
    http_get(l->c, h, url, "application/json", NULL, cred, false, l->plain, TOKEN_BODY_MAX, l->deadline, &t);
    bool ok = false;
    if (t.rc != CURLE_OK) {
        transport_failed(l, &t, "token");
    } else if (t.status == 401 || t.status == 403) {
        set_why(l, REG_UNAUTHORIZED, "token realm refused %s (%ld)", cred ? "the credentials" : "anonymous access",
                t.status);
    } else if (t.status != 200) {
        set_why(l, REG_ERROR, "token realm answered %ld", t.status);
    } else {
        char tok[AUTHZ_MAX - 32], err[128];
        unsigned exp = 0;
        if (registry_token_parse(t.body.p ? t.body.p : "", t.body.n, tok, sizeof tok, &exp, err, sizeof err) != AG_OK) {
            set_why(l, REG_ERROR, "token realm: %s", err);
        } else {
            registry_tokens_put(l->c->tokens, l->host, l->scope, tok, registry_now_ms() + (uint64_t)exp * 1000u);
            snprintf(l->authz, sizeof l->authz, "Authorization: Bearer %s", tok);
            ok = true;
        }
    }
    exchange_free(&t);
    return ok;
}

/* GET path on the registry, authenticating once on a 401. false (out filled) on failure. */
static bool registry_get(struct lookup *l, const char *path, const char *accept, bool follow, size_t limit,
                         const char *what, struct exchange *x)
{
    char url[REGISTRY_NAME_MAX * 2 + 256];
    snprintf(url, sizeof url, "%s://%s%s", l->plain ? "http" : "https", l->host, path);
    for (int attempt = 0; attempt < 2; attempt++) {
        http_get(l->c, l->h, url, accept, l->authz[0] ? l->authz : NULL, NULL, follow, l->plain, limit,
                 l->deadline, x);
        if (x->rc != CURLE_OK) {
            transport_failed(l, x, what);
            return false;
        }
        if (x->status == 401 && attempt == 0) {
            if (!authenticate(l, x))
                return false;
            exchange_free(x);
            continue;
        }
        break;
    }
    if (x->status == 200)
        return true;
    if (x->status == 401 || x->status == 403)
        set_why(l, REG_UNAUTHORIZED, "refused access (%ld)", x->status);
    else if (x->status == 404)
        set_why(l, REG_NOT_FOUND, "has no such %s (404)", what);
    else
        set_why(l, REG_ERROR, "answered %ld for the %s", x->status, what);
    return false;
}

void registry_client_lookup(struct registry_client *c, void *handle, const struct registry_ref *r,
                            struct registry_result *out)
{
    memset(out, 0, sizeof *out);
    struct lookup l = { .c = c, .r = r, .out = out };
    l.host = registry_client_target(c, r);
    l.plain = is_insecure(c, l.host);
    l.deadline = registry_now_ms() + c->timeout_ms;
    snprintf(l.scope, sizeof l.scope, "repository:%s:pull", r->repo);
    l.h = handle ? handle : curl_easy_init();
    if (!l.h) {
        set_why(&l, REG_ERROR, "cannot be asked: out of memory");
        return;
    }
    char tok[AUTHZ_MAX - 32];
    if (registry_tokens_get(c->tokens, l.host, l.scope, registry_now_ms(), tok, sizeof tok))
        snprintf(l.authz, sizeof l.authz, "Authorization: Bearer %s", tok);

    char path[REGISTRY_NAME_MAX + REGISTRY_DIGEST_MAX + 32];
    struct exchange x = { 0 };
    snprintf(path, sizeof path, "/v2/%s/manifests/%s", r->repo, registry_ref_manifest_ref(r));
    if (!registry_get(&l, path, REGISTRY_MANIFEST_ACCEPT, true, REGISTRY_MANIFEST_MAX, "manifest", &x))
        goto done;
    const char *want = r->digest[0] ? r->digest : registry_digest_valid(x.heads.digest) ? x.heads.digest : NULL;
    if (want && !registry_digest_matches(want, x.body.p ? x.body.p : "", x.body.n)) {
        set_why(&l, REG_ERROR, "answered a manifest that does not match digest %.19s...", want);
        goto done;
    }
    struct registry_manifest m;
    char err[128];
    if (registry_manifest_parse(x.body.p, x.body.n, x.heads.ctype, &m, err, sizeof err) != AG_OK) {
        set_why(&l, REG_ERROR, "manifest: %s", err);
        goto done;
    }
    if (m.kind == REGISTRY_DOC_INDEX) {
        out->status = REG_OK;
        out->archs = m.archs;
        out->from_index = true;
        goto done;
    }
    exchange_free(&x);
    snprintf(path, sizeof path, "/v2/%s/blobs/%s", r->repo, m.config_digest);
    if (!registry_get(&l, path, NULL, true, REGISTRY_CONFIG_MAX, "config blob", &x))
        goto done;
    if (!registry_digest_matches(m.config_digest, x.body.p ? x.body.p : "", x.body.n)) {
        set_why(&l, REG_ERROR, "answered a config blob that does not match its digest");
        goto done;
    }
    archset a = 0;
    if (registry_config_parse(x.body.p, x.body.n, &a, err, sizeof err) != AG_OK) {
        set_why(&l, REG_ERROR, "config: %s", err);
        goto done;
    }
    out->status = REG_OK;
    out->archs = a;
    out->from_index = false;
done:
    exchange_free(&x);
    if (!handle)
        curl_easy_cleanup(l.h);
}
