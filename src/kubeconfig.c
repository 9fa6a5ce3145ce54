/* kubeconfig.c - where kube-apiserver is and how to authenticate to it: the in-cluster service
 * account (environment and files) and kubeconfig files (YAML or JSON, read with libyaml's event
 * API into a small bounded tree). Implements the kube_config_* declarations of kube_client.h;
 * the HTTPS side is kube_client.c. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>
#include "kube_client.h"
#include "fileio.h"
#include "mem.h"
#include "patch.h"
#include "pool.h"

#define KCFG_MAX_FILE (4u << 20)      /* a kubeconfig larger than this is refused */
#define KCFG_MAX_DEPTH 64             /* nesting of mappings and sequences */
#define KCFG_MAX_SMALL (64u << 10)    /* namespace file */

/* ---- reading files ---- */

/* Read at most `max` bytes of a file, NUL-terminated, into the pool. AG_EIO (errno in *eno) when
 * unreadable, AG_ETOOBIG when larger, AG_ENOMEM. */
static enum ag_result slurp(const char *path, size_t max, struct pool *pool, char **out, size_t *len, int *eno)
{
    char *data = NULL;
    enum ag_result r = fileio_read(path, max, &data, len, eno);
    *out = r == AG_OK ? pool_strndup(pool, data, *len) : NULL;
    mem_free(data);
    if (r == AG_OK && !*out)
        r = AG_ENOMEM;
    return r;
}

/* ---- a small YAML tree ---- */

enum ykind { Y_SCALAR, Y_MAP, Y_SEQ };

struct ynode {
    enum ykind kind;
    const char *key;            /* the key, for a member of a mapping */
    const char *val;            /* scalar text */
    bool plain;                 /* an unquoted scalar ("null" and "~" mean nothing) */
    struct ynode *first, *last, *next;
};

static struct ynode *ynode_new(struct pool *pool, const yaml_event_t *ev)
{
    struct ynode *n = pool_zalloc(pool, sizeof *n);
    if (!n)
        return NULL;
    if (ev->type == YAML_SCALAR_EVENT) {
        n->kind = Y_SCALAR;
        n->val = pool_strndup(pool, (const char *)ev->data.scalar.value, ev->data.scalar.length);
        if (!n->val)
            return NULL;
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    } else {
        n->kind = ev->type == YAML_MAPPING_START_EVENT ? Y_MAP : Y_SEQ;
    }
    return n;
}

/* Parse the first document of `text` into a tree in the pool. AG_EINVAL with `why` on bad YAML,
 * an alias, a non-scalar key or nesting deeper than KCFG_MAX_DEPTH. *root is NULL for an empty
 * document. */
static enum ag_result yaml_tree(const char *text, size_t len, struct pool *pool, struct ynode **root, char *why,
                                size_t whylen)
{
    enum ag_result r = AG_EINVAL;
    struct ynode *stack[KCFG_MAX_DEPTH];
    const char *key[KCFG_MAX_DEPTH];   /* a mapping's pending key, NULL while a key is expected */
    size_t depth = 0;
    bool done = false;
    yaml_parser_t p;
    *root = NULL;
    if (!yaml_parser_initialize(&p)) {
        snprintf(why, whylen, "out of memory");
        return AG_ENOMEM;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    while (!done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            if (p.error == YAML_MEMORY_ERROR) {
                snprintf(why, whylen, "out of memory");
                r = AG_ENOMEM;
            } else {
                snprintf(why, whylen, "%s at line %lu column %lu", p.problem ? p.problem : "malformed YAML",
                         (unsigned long)p.problem_mark.line + 1, (unsigned long)p.problem_mark.column + 1);
            }
            goto cleanup;
        }
        enum ag_result er = AG_OK;
        switch (ev.type) {
        case YAML_ALIAS_EVENT:
            snprintf(why, whylen, "YAML aliases are not supported (line %lu)", (unsigned long)ev.start_mark.line + 1);
            er = AG_EINVAL;
            break;
        case YAML_SCALAR_EVENT:
        case YAML_MAPPING_START_EVENT:
        case YAML_SEQUENCE_START_EVENT: {
            struct ynode *top = depth ? stack[depth - 1] : NULL;
            if (top && top->kind == Y_MAP && !key[depth - 1]) {
                if (ev.type != YAML_SCALAR_EVENT) {
                    snprintf(why, whylen, "a mapping key is not a string (line %lu)",
                             (unsigned long)ev.start_mark.line + 1);
                    er = AG_EINVAL;
                    break;
                }
                key[depth - 1] = pool_strndup(pool, (const char *)ev.data.scalar.value, ev.data.scalar.length);
                if (!key[depth - 1])
                    er = AG_ENOMEM;
                break;
            }
            struct ynode *n = ynode_new(pool, &ev);
            if (!n) {
                er = AG_ENOMEM;
                break;
            }
            if (!top) {
                *root = n;
            } else {
                if (top->kind == Y_MAP) {
                    n->key = key[depth - 1];
                    key[depth - 1] = NULL;
                }
                if (top->last)
                    top->last->next = n;
                else
                    top->first = n;
                top->last = n;
            }
            if (n->kind != Y_SCALAR) {
                if (depth == KCFG_MAX_DEPTH) {
                    snprintf(why, whylen, "nested deeper than %d levels (line %lu)", KCFG_MAX_DEPTH,
                             (unsigned long)ev.start_mark.line + 1);
                    er = AG_EINVAL;
                    break;
                }
                key[depth] = NULL;
                stack[depth++] = n;
            }
            break;
        }
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT:
            if (depth)
                depth--;
            break;
        case YAML_DOCUMENT_END_EVENT:
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
        if (er != AG_OK) {
            if (er == AG_ENOMEM)
                snprintf(why, whylen, "out of memory");
            r = er;
            goto cleanup;
        }
    }
    r = AG_OK;
cleanup:
    yaml_parser_delete(&p);
    return r;
}

static bool ynull(const struct ynode *n)
{
    if (!n)
        return true;
    if (n->kind != Y_SCALAR || !n->plain)
        return false;
    return n->val[0] == '\0' || strcmp(n->val, "~") == 0 || strcmp(n->val, "null") == 0 ||
           strcmp(n->val, "Null") == 0 || strcmp(n->val, "NULL") == 0;
}

static const struct ynode *yget(const struct ynode *m, const char *key)
{
    if (!m || m->kind != Y_MAP)
        return NULL;
    for (const struct ynode *n = m->first; n; n = n->next)
        if (strcmp(n->key, key) == 0)
            return n;
    return NULL;
}

/* A string member: NULL when absent, null, empty, or not a scalar. */
static const char *ystr(const struct ynode *m, const char *key)
{
    const struct ynode *n = yget(m, key);
    if (ynull(n) || n->kind != Y_SCALAR || n->val[0] == '\0')
        return NULL;
    return n->val;
}

static bool ytrue(const struct ynode *m, const char *key)
{
    const struct ynode *n = yget(m, key);
    if (!n || n->kind != Y_SCALAR)
        return false;
    return strcasecmp(n->val, "true") == 0 || (n->plain && (strcasecmp(n->val, "yes") == 0 ||
                                                            strcasecmp(n->val, "on") == 0));
}

/* In the sequence `list` of the root, the entry {name: `name`, `member`: {...}}: its `member`. */
static const struct ynode *ynamed(const struct ynode *root, const char *list, const char *name, const char *member)
{
    const struct ynode *seq = yget(root, list);
    if (!seq || seq->kind != Y_SEQ)
        return NULL;
    for (const struct ynode *e = seq->first; e; e = e->next) {
        const char *n = ystr(e, "name");
        if (n && strcmp(n, name) == 0) {
            /* "user: {}" and "user: null" are an entry with nothing in it. */
            static const struct ynode empty = { .kind = Y_MAP };
            const struct ynode *m = yget(e, member);
            return m && m->kind == Y_MAP ? m : ynull(m) ? &empty : NULL;
        }
    }
    return NULL;
}

/* ---- building a kube_config ---- */

struct kload {
    const char *path;
    struct pool *pool;
    const char *dir;            /* the kubeconfig's folder, for relative paths */
    char *err;
    size_t errlen;
};

static enum ag_result kfail(struct kload *k, enum ag_result r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum ag_result kfail(struct kload *k, enum ag_result r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(k->err, k->errlen, "kubeconfig %s: %s", k->path, msg);
    return r;
}

static enum ag_result kset(struct kload *k, char **field, const char *value)
{
    *field = mem_strdup(value);
    return *field ? AG_OK : kfail(k, AG_ENOMEM, "out of memory");
}

/* A file the kubeconfig names: relative to its folder; must be readable. */
static enum ag_result kfile(struct kload *k, char **field, const char *value, const char *what, const char *owner)
{
    char *p = value[0] == '/' ? pool_strdup(k->pool, value) : pool_printf(k->pool, "%s/%s", k->dir, value);
    if (!p)
        return kfail(k, AG_ENOMEM, "out of memory");
    struct stat st;
    if (stat(p, &st) != 0)
        return kfail(k, AG_EINVAL, "%s %s of %s: %s", what, p, owner, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return kfail(k, AG_EINVAL, "%s %s of %s is not a file", what, p, owner);
    if (access(p, R_OK) != 0)
        return kfail(k, AG_EINVAL, "%s %s of %s: %s", what, p, owner, strerror(errno));
    return kset(k, field, p);
}

/* Base64 PEM data: decoded strictly, must look like PEM. */
static enum ag_result kdata(struct kload *k, char **field, size_t *len, const char *b64, const char *what,
                            const char *owner)
{
    char *d = NULL;
    size_t n = 0;
    if (!patch_base64_decode(b64, k->pool, &d, &n)) {
        /* The decoder says false for bad input and for a failed allocation alike: an allocation
         * of the same size tells them apart. */
        if (!pool_alloc(k->pool, strlen(b64) + 1))
            return kfail(k, AG_ENOMEM, "out of memory");
        return kfail(k, AG_EINVAL, "%s of %s is not valid base64", what, owner);
    }
    if (!memmem(d, n, "-----BEGIN ", 11))
        return kfail(k, AG_EINVAL, "%s of %s is not PEM (no -----BEGIN line after base64 decoding)", what, owner);
    *field = mem_malloc(n + 1);
    if (!*field)
        return kfail(k, AG_ENOMEM, "out of memory");
    memcpy(*field, d, n + 1);
    *len = n;
    return AG_OK;
}

/* "https://host[:port][/prefix]" without trailing slashes. */
static enum ag_result kserver(struct kload *k, struct kube_config *out, const char *server, const char *cluster)
{
    if (strncasecmp(server, "http://", 7) == 0)
        return kfail(k, AG_EINVAL, "server %s of cluster \"%s\" is plain http; only https:// is supported", server,
                     cluster);
    if (strncasecmp(server, "https://", 8) != 0 || server[8] == '\0' || server[8] == '/')
        return kfail(k, AG_EINVAL, "server \"%s\" of cluster \"%s\" is not an https:// URL", server, cluster);
    for (const char *c = server; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            return kfail(k, AG_EINVAL, "server of cluster \"%s\" contains a space or control character", cluster);
    size_t n = strlen(server);
    while (n > 8 && server[n - 1] == '/')
        n--;
    out->server = mem_strndup(server, n);
    return out->server ? AG_OK : kfail(k, AG_ENOMEM, "out of memory");
}

static enum ag_result kcluster(struct kload *k, struct kube_config *out, const struct ynode *cl, const char *name)
{
    enum ag_result r;
    char owner[300];
    snprintf(owner, sizeof owner, "cluster \"%s\"", name);
    const char *server = ystr(cl, "server");
    if (!server)
        return kfail(k, AG_EINVAL, "cluster \"%s\" has no server", name);
    if ((r = kserver(k, out, server, name)) != AG_OK)
        return r;
    if (ytrue(cl, "insecure-skip-tls-verify"))
        return kfail(k, AG_EINVAL, "%s: insecure-skip-tls-verify is not supported (give its CA instead)", owner);
    if (ystr(cl, "tls-server-name"))
        return kfail(k, AG_EINVAL, "%s: tls-server-name is not supported", owner);
    if (ystr(cl, "proxy-url"))
        return kfail(k, AG_EINVAL, "%s: proxy-url is not supported (set HTTPS_PROXY instead)", owner);
    const char *data = ystr(cl, "certificate-authority-data");
    const char *file = ystr(cl, "certificate-authority");
    if (data)
        return kdata(k, &out->ca_data, &out->ca_len, data, "certificate-authority-data", owner);
    if (file)
        return kfile(k, &out->ca_file, file, "certificate-authority", owner);
    return AG_OK;   /* the system's trusted CAs */
}

static bool token_ok(const char *t)
{
    for (const unsigned char *c = (const unsigned char *)t; *c; c++)
        if (*c < 0x21 || *c == 0x7f)
            return false;
    return true;
}

static enum ag_result kuser(struct kload *k, struct kube_config *out, const struct ynode *u, const char *name)
{
    enum ag_result r;
    char owner[300];
    snprintf(owner, sizeof owner, "user \"%s\"", name);
    if (!ynull(yget(u, "exec")))
        return kfail(k, AG_EINVAL, "%s: exec credential plugins are not supported; use a token or client certificate",
                     owner);
    if (!ynull(yget(u, "auth-provider")))
        return kfail(k, AG_EINVAL, "%s: auth-provider plugins are not supported; use a token or client certificate",
                     owner);
    if (ystr(u, "username") || ystr(u, "password"))
        return kfail(k, AG_EINVAL, "%s: username/password authentication is not supported; use a token or client "
                     "certificate", owner);
    if (ystr(u, "as") || !ynull(yget(u, "as-groups")))
        return kfail(k, AG_EINVAL, "%s: impersonation (as, as-groups) is not supported", owner);

    const char *cert_data = ystr(u, "client-certificate-data"), *cert_file = ystr(u, "client-certificate");
    const char *key_data = ystr(u, "client-key-data"), *key_file = ystr(u, "client-key");
    bool has_cert = cert_data || cert_file, has_key = key_data || key_file;
    if (has_cert != has_key)
        return kfail(k, AG_EINVAL, "%s has a client %s but no client %s", owner, has_cert ? "certificate" : "key",
                     has_cert ? "key" : "certificate");
    if (cert_data)
        r = kdata(k, &out->cert_data, &out->cert_len, cert_data, "client-certificate-data", owner);
    else if (cert_file)
        r = kfile(k, &out->cert_file, cert_file, "client-certificate", owner);
    else
        r = AG_OK;
    if (r != AG_OK)
        return r;
    if (key_data)
        r = kdata(k, &out->key_data, &out->key_len, key_data, "client-key-data", owner);
    else if (key_file)
        r = kfile(k, &out->key_file, key_file, "client-key", owner);
    if (r != AG_OK)
        return r;

    const char *token = ystr(u, "token"), *token_file = ystr(u, "tokenFile");
    if (token) {
        if (!token_ok(token))
            return kfail(k, AG_EINVAL, "%s: token contains a space or control character", owner);
        return kset(k, &out->token, token);
    }
    if (token_file) {
        if ((r = kfile(k, &out->token_file, token_file, "tokenFile", owner)) != AG_OK)
            return r;
        struct stat st;
        if (stat(out->token_file, &st) == 0 && st.st_size == 0)
            return kfail(k, AG_EINVAL, "tokenFile %s of %s is empty", out->token_file, owner);
    }
    return AG_OK;
}

void kube_config_free(struct kube_config *c)
{
    if (!c)
        return;
    mem_free(c->server);
    mem_free(c->ca_file);
    mem_free(c->ca_data);
    mem_free(c->cert_file);
    mem_free(c->cert_data);
    mem_free(c->key_file);
    mem_free(c->key_data);
    mem_free(c->token);
    mem_free(c->token_file);
    mem_free(c->ns);
    mem_free(c->source);
    memset(c, 0, sizeof *c);
}

enum ag_result kube_config_load(const char *path, struct kube_config *out, char *err, size_t errlen)
{
    enum ag_result r = AG_ENOMEM;
    memset(out, 0, sizeof *out);
    struct kload k = { .path = path ? path : "(null)", .err = err, .errlen = errlen };
    if (!path || !*path) {
        r = kfail(&k, AG_EINVAL, "no file name");
        goto cleanup;
    }
    k.pool = pool_new(0);
    if (!k.pool) {
        r = kfail(&k, AG_ENOMEM, "out of memory");
        goto cleanup;
    }
    const char *slash = strrchr(path, '/');
    k.dir = !slash ? "." : slash == path ? "/" : pool_strndup(k.pool, path, (size_t)(slash - path));
    if (!k.dir) {
        r = kfail(&k, AG_ENOMEM, "out of memory");
        goto cleanup;
    }

    char *text;
    size_t len;
    int eno;
    r = slurp(path, KCFG_MAX_FILE, k.pool, &text, &len, &eno);
    if (r == AG_ETOOBIG) {
        r = kfail(&k, AG_ETOOBIG, "larger than %u MiB, not a kubeconfig", KCFG_MAX_FILE >> 20);
        goto cleanup;
    }
    if (r != AG_OK) {
        r = kfail(&k, r, "%s", r == AG_ENOMEM ? "out of memory" : strerror(eno));
        goto cleanup;
    }
    if (memchr(text, '\0', len)) {
        r = kfail(&k, AG_EINVAL, "not YAML or JSON (contains a NUL byte)");
        goto cleanup;
    }

    struct ynode *root;
    char why[256] = "";
    r = yaml_tree(text, len, k.pool, &root, why, sizeof why);
    if (r != AG_OK) {
        r = kfail(&k, r, r == AG_ENOMEM ? "%s" : "not YAML or JSON: %s", why);
        goto cleanup;
    }
    if (!root || root->kind != Y_MAP) {
        r = kfail(&k, AG_EINVAL, "not a kubeconfig (%s)", root ? "the top level is not a mapping" : "empty");
        goto cleanup;
    }

    const char *cur = ystr(root, "current-context");
    if (!cur) {
        r = kfail(&k, AG_EINVAL, "no current-context is set (kubectl config use-context NAME)");
        goto cleanup;
    }
    const struct ynode *ctx = ynamed(root, "contexts", cur, "context");
    if (!ctx) {
        r = kfail(&k, AG_EINVAL, "the current-context \"%s\" is not among its contexts", cur);
        goto cleanup;
    }
    const char *cluster = ystr(ctx, "cluster"), *user = ystr(ctx, "user"), *ns = ystr(ctx, "namespace");
    if (!cluster) {
        r = kfail(&k, AG_EINVAL, "context \"%s\" names no cluster", cur);
        goto cleanup;
    }
    if (!user) {
        r = kfail(&k, AG_EINVAL, "context \"%s\" names no user", cur);
        goto cleanup;
    }
    const struct ynode *cl = ynamed(root, "clusters", cluster, "cluster");
    if (!cl) {
        r = kfail(&k, AG_EINVAL, "cluster \"%s\" (of context \"%s\") is not among its clusters", cluster, cur);
        goto cleanup;
    }
    const struct ynode *u = ynamed(root, "users", user, "user");
    if (!u) {
        r = kfail(&k, AG_EINVAL, "user \"%s\" (of context \"%s\") is not among its users", user, cur);
        goto cleanup;
    }
    if ((r = kcluster(&k, out, cl, cluster)) != AG_OK || (r = kuser(&k, out, u, user)) != AG_OK)
        goto cleanup;
    if (ns && (r = kset(&k, &out->ns, ns)) != AG_OK)
        goto cleanup;
    if ((r = kset(&k, &out->source, path)) != AG_OK)
        goto cleanup;
    r = AG_OK;
cleanup:
    if (r != AG_OK)
        kube_config_free(out);
    pool_free(k.pool);
    return r;
}

/* ---- in-cluster ---- */

static enum ag_result cfail(char *err, size_t errlen, enum ag_result r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static enum ag_result cfail(char *err, size_t errlen, enum ag_result r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return r;
}

enum ag_result kube_config_in_cluster(const char *sa_dir, struct kube_config *out, char *err, size_t errlen)
{
    enum ag_result r = AG_EINVAL;
    struct pool *pool = NULL;
    memset(out, 0, sizeof *out);
    if (!sa_dir)
        sa_dir = KUBE_SA_DIR;
    const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
    if (!host || !*host) {
        r = cfail(err, errlen, AG_EINVAL, "KUBERNETES_SERVICE_HOST is not set: not running in a pod (use --kubeconfig)");
        goto cleanup;
    }
    if (!port || !*port) {
        r = cfail(err, errlen, AG_EINVAL, "KUBERNETES_SERVICE_PORT is not set: not running in a pod (use --kubeconfig)");
        goto cleanup;
    }
    char *end;
    errno = 0;
    long pnum = strtol(port, &end, 10);
    if (errno || *end || pnum < 1 || pnum > 65535 || !isdigit((unsigned char)port[0])) {
        r = cfail(err, errlen, AG_EINVAL, "KUBERNETES_SERVICE_PORT \"%.40s\" is not a port number", port);
        goto cleanup;
    }
    size_t hlen = strlen(host);
    bool v6 = strchr(host, ':') != NULL;
    if (hlen > 253 || strspn(host, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-:") != hlen) {
        r = cfail(err, errlen, AG_EINVAL, "KUBERNETES_SERVICE_HOST \"%.80s\" is not a host name or address", host);
        goto cleanup;
    }
    char server[300];
    snprintf(server, sizeof server, v6 ? "https://[%s]:%ld" : "https://%s:%ld", host, pnum);

    pool = pool_new(0);
    if (!pool) {
        r = cfail(err, errlen, AG_ENOMEM, "out of memory");
        goto cleanup;
    }
    char *token = pool_printf(pool, "%s/token", sa_dir), *ca = pool_printf(pool, "%s/ca.crt", sa_dir);
    char *nsf = pool_printf(pool, "%s/namespace", sa_dir);
    if (!token || !ca || !nsf) {
        r = cfail(err, errlen, AG_ENOMEM, "out of memory");
        goto cleanup;
    }
    struct stat st;
    if (stat(token, &st) != 0 || access(token, R_OK) != 0) {
        r = cfail(err, errlen, AG_EINVAL, "service-account token %s: %s", token, strerror(errno));
        goto cleanup;
    }
    if (!S_ISREG(st.st_mode) || st.st_size == 0) {
        r = cfail(err, errlen, AG_EINVAL, "service-account token %s is %s", token,
                  S_ISREG(st.st_mode) ? "empty" : "not a file");
        goto cleanup;
    }
    if (stat(ca, &st) != 0 || access(ca, R_OK) != 0) {
        r = cfail(err, errlen, AG_EINVAL, "service-account CA %s: %s", ca, strerror(errno));
        goto cleanup;
    }
    if (!S_ISREG(st.st_mode)) {
        r = cfail(err, errlen, AG_EINVAL, "service-account CA %s is not a file", ca);
        goto cleanup;
    }
    char *ns = NULL;
    size_t nslen = 0;
    int eno;
    r = slurp(nsf, KCFG_MAX_SMALL, pool, &ns, &nslen, &eno);
    if (r == AG_ENOMEM) {
        r = cfail(err, errlen, AG_ENOMEM, "out of memory");
        goto cleanup;
    }
    if (r != AG_OK)
        ns = NULL;   /* optional */
    while (ns && nslen && isspace((unsigned char)ns[nslen - 1]))
        ns[--nslen] = '\0';
    r = AG_ENOMEM;
    out->server = mem_strdup(server);
    out->token_file = mem_strdup(token);
    out->ca_file = mem_strdup(ca);
    out->source = mem_strdup("in-cluster");
    if (!out->server || !out->token_file || !out->ca_file || !out->source) {
        r = cfail(err, errlen, AG_ENOMEM, "out of memory");
        goto cleanup;
    }
    if (ns && nslen && !(out->ns = mem_strdup(ns))) {
        r = cfail(err, errlen, AG_ENOMEM, "out of memory");
        goto cleanup;
    }
    r = AG_OK;
cleanup:
    if (r != AG_OK)
        kube_config_free(out);
    pool_free(pool);
    return r;
}
