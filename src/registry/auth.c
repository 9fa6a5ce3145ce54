/* auth.c - WWW-Authenticate parsing (RFC 7235 auth-params), Docker config credentials and the
 * bearer-token cache. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <cjson/cJSON.h>
#include "registry/auth.h"
#include "fileio.h"
#include "mem.h"
#include "pool.h"
#include "patch.h"

#define CREDS_MAX 256
#define TOKENS_MAX 256
#define TOKEN_MAX 8192
#define CONFIG_FILE_MAX (1024 * 1024)

/* ---- challenge ---- */

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

bool registry_challenge_parse(const char *h, struct registry_challenge *out)
{
    memset(out, 0, sizeof *out);
    if (!h)
        return false;
    h = skip_ws(h);
    if (strncasecmp(h, "Bearer", 6) == 0 && (h[6] == ' ' || h[6] == '\0'))
        out->bearer = true, h += 6;
    else if (strncasecmp(h, "Basic", 5) == 0 && (h[5] == ' ' || h[5] == '\0'))
        out->basic = true, h += 5;
    else
        return false;
    for (;;) {
        h = skip_ws(h);
        while (*h == ',')
            h = skip_ws(h + 1);
        if (!*h)
            break;
        const char *k = h;
        while (*h && *h != '=' && *h != ' ' && *h != ',')
            h++;
        size_t klen = (size_t)(h - k);
        h = skip_ws(h);
        if (*h != '=')
            return false;
        h = skip_ws(h + 1);
        char val[1024];
        size_t vlen = 0;
        if (*h == '"') {
            h++;
            while (*h && *h != '"') {
                if (*h == '\\' && h[1])
                    h++;
                if (vlen + 1 >= sizeof val)
                    return false;
                val[vlen++] = *h++;
            }
            if (*h != '"')
                return false;
            h++;
        } else {
            while (*h && *h != ',' && *h != ' ' && *h != '\t') {
                if (vlen + 1 >= sizeof val)
                    return false;
                val[vlen++] = *h++;
            }
        }
        val[vlen] = '\0';
        char *dst = NULL;
        size_t dlen = 0;
        if (klen == 5 && strncasecmp(k, "realm", 5) == 0)
            dst = out->realm, dlen = sizeof out->realm;
        else if (klen == 7 && strncasecmp(k, "service", 7) == 0)
            dst = out->service, dlen = sizeof out->service;
        else if (klen == 5 && strncasecmp(k, "scope", 5) == 0)
            dst = out->scope, dlen = sizeof out->scope;
        if (dst) {
            if (vlen >= dlen)
                return false;
            memcpy(dst, val, vlen + 1);
        }
    }
    if (out->bearer && strncmp(out->realm, "https://", 8) != 0 && strncmp(out->realm, "http://", 7) != 0)
        return false;
    return true;
}

/* ---- Docker config credentials ---- */

struct cred { char *host; char *userpass; };
struct registry_creds { struct cred v[CREDS_MAX]; size_t n; };

/* "https://index.docker.io/v1/" -> "docker.io"; "quay.io" stays. Into buf. */
static void norm_host(const char *key, char *buf, size_t len)
{
    const char *s = key;
    if (strncmp(s, "https://", 8) == 0)
        s += 8;
    else if (strncmp(s, "http://", 7) == 0)
        s += 7;
    size_t n = strcspn(s, "/");
    if (n >= len)
        n = len - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (strcmp(buf, "index.docker.io") == 0 || strcmp(buf, "registry-1.docker.io") == 0)
        snprintf(buf, len, "docker.io");
}

void registry_creds_free(struct registry_creds *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        mem_free(c->v[i].host);
        if (c->v[i].userpass)
            memset(c->v[i].userpass, 0, strlen(c->v[i].userpass));
        mem_free(c->v[i].userpass);
    }
    mem_free(c);
}

enum ag_result registry_creds_parse(const char *json, size_t len, struct registry_creds **out, char *err,
                                    size_t errlen)
{
    *out = NULL;
    cJSON *doc = cJSON_ParseWithLength(json, len);
    if (!doc) {
        snprintf(err, errlen, "not JSON");
        return AG_EINVAL;
    }
    enum ag_result r = AG_EINVAL;
    struct pool *pool = pool_new(0);
    struct registry_creds *c = mem_calloc(1, sizeof *c);
    if (!pool || !c) {
        r = AG_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    const cJSON *auths = cJSON_IsObject(doc) ? cJSON_GetObjectItemCaseSensitive(doc, "auths") : NULL;
    if (!cJSON_IsObject(auths)) {
        snprintf(err, errlen, "expected {\"auths\": {...}}");
        goto done;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, auths) {
        if (!cJSON_IsObject(e)) {
            snprintf(err, errlen, "auths[%.100s]: not an object", e->string);
            goto done;
        }
        char host[256];
        norm_host(e->string, host, sizeof host);
        if (!host[0])
            continue;
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(e, "auth");
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(e, "username");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "password");
        char *up = NULL;
        if (cJSON_IsString(a) && a->valuestring[0]) {
            char *dec = NULL;
            size_t dlen = 0;
            if (!patch_base64_decode(a->valuestring, pool, &dec, &dlen) || !memchr(dec, ':', dlen)
                || memchr(dec, '\0', dlen)) {
                snprintf(err, errlen, "auths[%.100s].auth: not base64 of user:password", e->string);
                goto done;
            }
            up = mem_strndup(dec, dlen);
            memset(dec, 0, dlen);
        } else if (cJSON_IsString(u) && cJSON_IsString(p)) {
            size_t n = strlen(u->valuestring) + strlen(p->valuestring) + 2;
            up = mem_malloc(n);
            if (up)
                snprintf(up, n, "%s:%s", u->valuestring, p->valuestring);
        } else {
            continue;   /* identity tokens and helpers are not read */
        }
        if (!up || c->n >= CREDS_MAX) {
            mem_free(up);
            r = up ? AG_ETOOBIG : AG_ENOMEM;
            snprintf(err, errlen, up ? "more than %d registries" : "out of memory", CREDS_MAX);
            goto done;
        }
        c->v[c->n].host = mem_strdup(host);
        c->v[c->n].userpass = up;
        c->n++;
        if (!c->v[c->n - 1].host) {
            r = AG_ENOMEM;
            snprintf(err, errlen, "out of memory");
            goto done;
        }
    }
    *out = c;
    c = NULL;
    r = AG_OK;
done:
    registry_creds_free(c);
    pool_free(pool);
    cJSON_Delete(doc);
    return r;
}

enum ag_result registry_creds_load(const char *path, struct registry_creds **out, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t len = 0;
    int eno = 0;
    *out = NULL;
    enum ag_result r = fileio_read(path, CONFIG_FILE_MAX, &buf, &len, &eno);
    if (r != AG_OK) {
        snprintf(err, errlen, "%s: %s", path, r == AG_ETOOBIG ? "larger than 1 MiB" : strerror(eno));
        return r;
    }
    char perr[256] = "";
    r = registry_creds_parse(buf, len, out, perr, sizeof perr);
    if (r != AG_OK)
        snprintf(err, errlen, "%s: %s", path, perr);
    memset(buf, 0, len);
    mem_free(buf);
    return r;
}

const char *registry_creds_find(const struct registry_creds *c, const char *host)
{
    if (!c || !host)
        return NULL;
    char h[256];
    norm_host(host, h, sizeof h);
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->v[i].host, h) == 0)
            return c->v[i].userpass;
    return NULL;
}

size_t registry_creds_count(const struct registry_creds *c)
{
    return c ? c->n : 0;
}

/* ---- tokens ---- */

enum ag_result registry_token_parse(const char *body, size_t len, char *token, size_t tokenlen,
                                    unsigned *expires_in, char *err, size_t errlen)
{
    cJSON *doc = cJSON_ParseWithLength(body, len);
    if (!doc) {
        snprintf(err, errlen, "token answer is not JSON");
        return AG_EINVAL;
    }
    enum ag_result r = AG_EINVAL;
    const cJSON *t = cJSON_IsObject(doc) ? cJSON_GetObjectItemCaseSensitive(doc, "token") : NULL;
    if (!cJSON_IsString(t) || !t->valuestring[0])
        t = cJSON_IsObject(doc) ? cJSON_GetObjectItemCaseSensitive(doc, "access_token") : NULL;
    const cJSON *ex = cJSON_IsObject(doc) ? cJSON_GetObjectItemCaseSensitive(doc, "expires_in") : NULL;
    if (!cJSON_IsString(t) || !t->valuestring[0]) {
        snprintf(err, errlen, "token answer holds no token");
    } else if (strlen(t->valuestring) >= tokenlen || strlen(t->valuestring) >= TOKEN_MAX) {
        snprintf(err, errlen, "token longer than %zu bytes", tokenlen - 1);
    } else if (strpbrk(t->valuestring, "\r\n")) {
        snprintf(err, errlen, "token holds a line break");
    } else {
        memcpy(token, t->valuestring, strlen(t->valuestring) + 1);
        double e = cJSON_IsNumber(ex) ? ex->valuedouble : 60;
        *expires_in = e < 1 ? 1 : e > 86400 ? 86400 : (unsigned)e;
        r = AG_OK;
    }
    cJSON_Delete(doc);
    return r;
}

struct token { char *key; char *token; uint64_t expires_ms; };
struct registry_tokens { pthread_mutex_t mu; struct token v[TOKENS_MAX]; size_t n; };

struct registry_tokens *registry_tokens_new(void)
{
    struct registry_tokens *t = mem_calloc(1, sizeof *t);
    if (t)
        pthread_mutex_init(&t->mu, NULL);
    return t;
}

void registry_tokens_free(struct registry_tokens *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        mem_free(t->v[i].key);
        mem_free(t->v[i].token);
    }
    pthread_mutex_destroy(&t->mu);
    mem_free(t);
}

static bool token_key(char *buf, size_t len, const char *host, const char *scope)
{
    int n = snprintf(buf, len, "%s %s", host, scope ? scope : "");
    return n >= 0 && (size_t)n < len;
}

bool registry_tokens_get(struct registry_tokens *t, const char *host, const char *scope, uint64_t now_ms,
                         char *buf, size_t len)
{
    char key[1024];
    if (!t || !token_key(key, sizeof key, host, scope))
        return false;
    bool found = false;
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->v[i].key, key) != 0)
            continue;
        /* a token about to expire is not reused: 5 s of margin */
        if (t->v[i].expires_ms > now_ms + 5000 && strlen(t->v[i].token) < len) {
            memcpy(buf, t->v[i].token, strlen(t->v[i].token) + 1);
            found = true;
        }
        break;
    }
    pthread_mutex_unlock(&t->mu);
    return found;
}

void registry_tokens_put(struct registry_tokens *t, const char *host, const char *scope, const char *token,
                         uint64_t expires_ms)
{
    char key[1024];
    if (!t || !token_key(key, sizeof key, host, scope))
        return;
    char *k = mem_strdup(key), *v = mem_strdup(token);
    if (!k || !v) {
        mem_free(k);
        mem_free(v);
        return;
    }
    pthread_mutex_lock(&t->mu);
    size_t slot = t->n;
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->v[i].key, key) == 0)
            slot = i;
    if (slot == t->n && t->n == TOKENS_MAX) {
        slot = 0;   /* full: the one that expires first goes */
        for (size_t i = 1; i < t->n; i++)
            if (t->v[i].expires_ms < t->v[slot].expires_ms)
                slot = i;
    }
    if (slot < t->n) {
        mem_free(t->v[slot].key);
        mem_free(t->v[slot].token);
    } else {
        t->n++;
    }
    t->v[slot].key = k;
    t->v[slot].token = v;
    t->v[slot].expires_ms = expires_ms;
    pthread_mutex_unlock(&t->mu);
}
