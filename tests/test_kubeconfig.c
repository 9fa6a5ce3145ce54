/* test_kubeconfig.c - where kube-apiserver is and how to authenticate: kubeconfig files shaped
 * like `kubectl config view --raw` output (token, client certificate files and data, tokenFile,
 * JSON, namespaces, several contexts), every refusal and missing piece with its message, size
 * and nesting limits, allocation failure; and the in-cluster service-account configuration. The
 * files are written by the tests into a mkdtemp folder. */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "kube_client.h"
#include "mem.h"
#include "patch.h"
#include "pool.h"
#include "unit.h"
#include "testutil.h"

static char dir[64];
static struct pool *pool;

#define FAKE_CA "-----BEGIN CERTIFICATE-----\nMIIBfakeCA\n-----END CERTIFICATE-----\n"
#define FAKE_CRT "-----BEGIN CERTIFICATE-----\nMIIBfakeclient\n-----END CERTIFICATE-----\n"
#define FAKE_KEY "-----BEGIN EC PRIVATE KEY-----\nMHcfakekey\n-----END EC PRIVATE KEY-----\n"

static void path_of(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", dir, name);
}

static bool write_file(const char *name, const char *data, size_t len)
{
    char p[256];
    path_of(p, sizeof p, name);
    FILE *f = fopen(p, "wb");
    if (!f)
        return false;
    bool ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

static bool write_text(const char *name, const char *text)
{
    return write_file(name, text, strlen(text));
}

static int suite_init(void)
{
    snprintf(dir, sizeof dir, "/tmp/archgate-kubeconfig.XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    char p[256];
    path_of(p, sizeof p, "certs");
    if (mkdir(p, 0700) != 0)
        return 1;
    path_of(p, sizeof p, "sa");
    if (mkdir(p, 0700) != 0)
        return 1;
    pool = pool_new(0);
    return pool && write_text("certs/ca.crt", FAKE_CA) && write_text("certs/client.crt", FAKE_CRT) &&
                   write_text("certs/client.key", FAKE_KEY) && write_text("certs/token", "file-token\n") &&
                   write_text("certs/empty-token", "")
               ? 0
               : 1;
}

static int suite_cleanup(void)
{
    pool_free(pool);
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    return tu_rmtree(dir);
}

static bool config_empty(const struct kube_config *c)
{
    return !c->server && !c->ca_file && !c->ca_data && !c->ca_len && !c->cert_file && !c->cert_data &&
           !c->cert_len && !c->key_file && !c->key_data && !c->key_len && !c->token && !c->token_file && !c->ns &&
           !c->source;
}

/* Write `text` as `name` in the folder and load it. */
static enum ag_result load_text(const char *name, const char *text, struct kube_config *c, char *err, size_t errlen)
{
    char p[256];
    path_of(p, sizeof p, name);
    CU_ASSERT_FATAL(write_text(name, text));
    return kube_config_load(p, c, err, errlen);
}

static bool streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* A kubeconfig with one cluster "c1", context "ctx1" and user "u1": the cluster's and user's
 * members (indented four spaces) are filled in. */
static const char *kc_text(const char *cluster, const char *user)
{
    return pool_printf(pool,
                       "apiVersion: v1\n"
                       "clusters:\n"
                       "- cluster:\n%s\n"
                       "  name: c1\n"
                       "contexts:\n"
                       "- context:\n"
                       "    cluster: c1\n"
                       "    user: u1\n"
                       "  name: ctx1\n"
                       "current-context: ctx1\n"
                       "kind: Config\n"
                       "preferences: {}\n"
                       "users:\n"
                       "- name: u1\n"
                       "  user:\n%s\n",
                       cluster, user);
}

#define CL_OK "    certificate-authority: certs/ca.crt\n    server: https://api.example.test:6443"
#define USER_OK "    token: sha256~abc"

static void test_token_user(void)
{
    struct kube_config c;
    char err[512] = "", p[256], ca[256];
    path_of(p, sizeof p, "token.yaml");
    path_of(ca, sizeof ca, "certs/ca.crt");
    const char *text = kc_text("    certificate-authority: certs/ca.crt\n    server: https://api.example.test:6443//",
                               USER_OK);
    const char *text2 = kc_text("    server: https://10.0.0.1\n    insecure-skip-tls-verify: false", USER_OK);
    long live = mem_live();   /* after the pool grew */
    CU_ASSERT_EQUAL_FATAL(load_text("token.yaml", text, &c, err, sizeof err), AG_OK);
    CU_ASSERT(streq(c.server, "https://api.example.test:6443"));
    CU_ASSERT(streq(c.ca_file, ca));            /* relative to the kubeconfig's folder */
    CU_ASSERT_PTR_NULL(c.ca_data);
    CU_ASSERT(streq(c.token, "sha256~abc"));
    CU_ASSERT_PTR_NULL(c.token_file);
    CU_ASSERT_PTR_NULL(c.cert_file);
    CU_ASSERT_PTR_NULL(c.key_file);
    CU_ASSERT_PTR_NULL(c.ns);
    CU_ASSERT(streq(c.source, p));
    kube_config_free(&c);
    CU_ASSERT(config_empty(&c));
    CU_ASSERT_EQUAL(mem_live(), live);

    /* Without any CA: the system's; insecure-skip-tls-verify false is fine. A relative
     * kubeconfig path resolves its files against its own folder too. */
    CU_ASSERT_EQUAL_FATAL(load_text("noca.yaml", text2, &c, err, sizeof err), AG_OK);
    CU_ASSERT(streq(c.server, "https://10.0.0.1"));
    CU_ASSERT_PTR_NULL(c.ca_file);
    CU_ASSERT_PTR_NULL(c.ca_data);
    kube_config_free(&c);

    char cwd[512];
    CU_ASSERT_FATAL(getcwd(cwd, sizeof cwd) != NULL);
    CU_ASSERT_FATAL(chdir(dir) == 0);
    enum ag_result r = kube_config_load("token.yaml", &c, err, sizeof err);
    CU_ASSERT_FATAL(chdir(cwd) == 0);
    CU_ASSERT_EQUAL_FATAL(r, AG_OK);
    CU_ASSERT(streq(c.ca_file, "./certs/ca.crt"));
    kube_config_free(&c);
    CU_ASSERT_EQUAL(mem_live(), live);
}

/* "user: {}": anonymous, no credentials (kubectl writes this). */
static void test_anonymous_user(void)
{
    struct kube_config c;
    char err[512] = "";
    CU_ASSERT_EQUAL_FATAL(load_text("anon.yaml", kc_text(CL_OK, "    {}"), &c, err, sizeof err), AG_OK);
    CU_ASSERT(streq(c.server, "https://api.example.test:6443"));
    CU_ASSERT(!c.token && !c.token_file && !c.cert_file && !c.cert_data && !c.key_file && !c.key_data);
    kube_config_free(&c);
}

static void test_client_cert_files(void)
{
    struct kube_config c;
    char err[512] = "", crt[256], key[256];
    path_of(crt, sizeof crt, "certs/client.crt");
    path_of(key, sizeof key, "certs/client.key");
    char user[600];
    snprintf(user, sizeof user, "    client-certificate: certs/client.crt\n    client-key: %s", key);
    CU_ASSERT_EQUAL_FATAL(load_text("certfiles.yaml", kc_text(CL_OK, user), &c, err, sizeof err), AG_OK);
    CU_ASSERT(streq(c.cert_file, crt));         /* relative */
    CU_ASSERT(streq(c.key_file, key));          /* absolute, kept */
    CU_ASSERT_PTR_NULL(c.cert_data);
    CU_ASSERT_PTR_NULL(c.key_data);
    CU_ASSERT_PTR_NULL(c.token);
    CU_ASSERT_PTR_NULL(c.token_file);
    kube_config_free(&c);
}

static void test_data_fields(void)
{
    long live = mem_live();
    struct kube_config c;
    char err[512] = "";
    char *cl = pool_printf(pool, "    certificate-authority-data: %s\n    server: https://127.0.0.1:6443",
                           patch_base64(FAKE_CA, strlen(FAKE_CA), pool));
    char *user = pool_printf(pool, "    client-certificate-data: %s\n    client-key-data: \"%s\"",
                             patch_base64(FAKE_CRT, strlen(FAKE_CRT), pool),
                             patch_base64(FAKE_KEY, strlen(FAKE_KEY), pool));
    CU_ASSERT_EQUAL_FATAL(load_text("data.yaml", kc_text(cl, user), &c, err, sizeof err), AG_OK);
    CU_ASSERT_PTR_NULL(c.ca_file);
    CU_ASSERT_EQUAL(c.ca_len, strlen(FAKE_CA));
    CU_ASSERT(streq(c.ca_data, FAKE_CA));
    CU_ASSERT_EQUAL(c.cert_len, strlen(FAKE_CRT));
    CU_ASSERT(streq(c.cert_data, FAKE_CRT));
    CU_ASSERT_EQUAL(c.key_len, strlen(FAKE_KEY));
    CU_ASSERT(streq(c.key_data, FAKE_KEY));
    CU_ASSERT_PTR_NULL(c.cert_file);
    CU_ASSERT_PTR_NULL(c.key_file);
    kube_config_free(&c);

    /* Data wins over a file given beside it (as kubectl does). */
    cl = pool_printf(pool, "    certificate-authority: /nonexistent/ca.crt\n    certificate-authority-data: %s\n"
                           "    server: https://127.0.0.1:6443",
                     patch_base64(FAKE_CA, strlen(FAKE_CA), pool));
    CU_ASSERT_EQUAL_FATAL(load_text("data2.yaml", kc_text(cl, USER_OK), &c, err, sizeof err), AG_OK);
    CU_ASSERT(streq(c.ca_data, FAKE_CA));
    CU_ASSERT_PTR_NULL(c.ca_file);
    kube_config_free(&c);
    CU_ASSERT_EQUAL(mem_live(), live);
}

static void test_token_file(void)
{
    struct kube_config c;
    char err[512] = "", tf[256];
    path_of(tf, sizeof tf, "certs/token");
    CU_ASSERT_EQUAL_FATAL(load_text("tokenfile.yaml", kc_text(CL_OK, "    tokenFile: certs/token"), &c, err,
                                    sizeof err), AG_OK);
    CU_ASSERT(streq(c.token_file, tf));
    CU_ASSERT_PTR_NULL(c.token);
    kube_config_free(&c);

    /* A token beside a tokenFile: the token. */
    CU_ASSERT_EQUAL_FATAL(load_text("both.yaml", kc_text(CL_OK, "    token: t1\n    tokenFile: certs/token"), &c,
                                    err, sizeof err), AG_OK);
    CU_ASSERT(streq(c.token, "t1"));
    CU_ASSERT_PTR_NULL(c.token_file);
    kube_config_free(&c);
}

static void test_json(void)
{
    struct kube_config c;
    char err[512] = "", ca[256];
    path_of(ca, sizeof ca, "certs/ca.crt");
    const char *json =
        "{\n"
        "    \"kind\": \"Config\",\n"
        "    \"apiVersion\": \"v1\",\n"
        "    \"preferences\": {},\n"
        "    \"clusters\": [\n"
        "        {\"name\": \"c1\", \"cluster\": {\"server\": \"https://[fd00::1]:6443\", "
        "\"certificate-authority\": \"certs/ca.crt\"}}\n"
        "    ],\n"
        "    \"users\": [\n"
        "        {\"name\": \"u1\", \"user\": {\"token\": \"json-token\"}}\n"
        "    ],\n"
        "    \"contexts\": [\n"
        "        {\"name\": \"ctx1\", \"context\": {\"cluster\": \"c1\", \"user\": \"u1\", \"namespace\": \"ns-j\"}}\n"
        "    ],\n"
        "    \"current-context\": \"ctx1\"\n"
        "}\n";
    CU_ASSERT_EQUAL_FATAL(load_text("kc.json", json, &c, err, sizeof err), AG_OK);
    CU_ASSERT(streq(c.server, "https://[fd00::1]:6443"));
    CU_ASSERT(streq(c.ca_file, ca));
    CU_ASSERT(streq(c.token, "json-token"));
    CU_ASSERT(streq(c.ns, "ns-j"));
    kube_config_free(&c);
}

static const char multi_text[] =
    "apiVersion: v1\n"
    "clusters:\n"
    "- cluster:\n"
    "    server: https://one.example.test\n"
    "  name: one\n"
    "- cluster:\n"
    "    server: https://two.example.test:8443\n"
    "    certificate-authority: certs/ca.crt\n"
    "  name: two\n"
    "contexts:\n"
    "- context:\n"
    "    cluster: one\n"
    "    user: alice\n"
    "    namespace: first\n"
    "  name: one-alice\n"
    "- context:\n"
    "    cluster: two\n"
    "    namespace: kubevirt\n"
    "    user: bob\n"
    "  name: two-bob\n"
    "current-context: two-bob\n"
    "kind: Config\n"
    "preferences: {}\n"
    "users:\n"
    "- name: alice\n"
    "  user:\n"
    "    token: alice-token\n"
    "- name: bob\n"
    "  user:\n"
    "    token: bob-token\n";

static void test_multiple_contexts(void)
{
    struct kube_config c;
    char err[512] = "";
    CU_ASSERT_EQUAL_FATAL(load_text("multi.yaml", multi_text, &c, err, sizeof err), AG_OK);
    CU_ASSERT(streq(c.server, "https://two.example.test:8443"));
    CU_ASSERT(streq(c.token, "bob-token"));
    CU_ASSERT(streq(c.ns, "kubevirt"));
    kube_config_free(&c);
}

/* Nesting: 64 levels load, 65 do not. */
static void test_nesting_limit(void)
{
    struct kube_config c;
    char err[512] = "";
    char deep[256];
    for (int levels = 63; levels <= 64; levels++) {
        /* The root mapping is one level; `preferences` holds `levels` more. */
        int n = 0;
        n += snprintf(deep + n, sizeof deep - (size_t)n, "preferences: ");
        for (int i = 0; i < levels; i++)
            deep[n++] = '[';
        for (int i = 0; i < levels; i++)
            deep[n++] = ']';
        deep[n] = '\0';
        char *text = pool_printf(pool, "%s\n%s\n", kc_text(CL_OK, USER_OK), deep);
        enum ag_result r = load_text("deep.yaml", text, &c, err, sizeof err);
        if (levels == 63) {
            CU_ASSERT_EQUAL(r, AG_OK);
            kube_config_free(&c);
        } else {
            CU_ASSERT_EQUAL(r, AG_EINVAL);
            CU_ASSERT_PTR_NOT_NULL(strstr(err, "nested deeper than 64 levels"));
        }
    }
}

struct refusal {
    const char *name;
    const char *text;           /* whole file, or NULL: built from cluster and user */
    const char *cluster, *user;
    enum ag_result result;
    const char *frag;
};

static void test_refusals(void)
{
    const char *bad_b64 = "    certificate-authority-data: LS0tLS1CRUdJTi*=\n    server: https://h";
    char *not_pem = pool_printf(pool, "    certificate-authority-data: %s\n    server: https://h",
                                patch_base64("hello", 5, pool));
    char *deep = pool_zalloc(pool, 200);
    memcpy(deep, "a: ", 3);
    memset(deep + 3, '[', 100);
    const struct refusal cases[] = {
        { "exec", NULL, CL_OK,
          "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: aws\n"
          "      args: [eks, get-token]",
          AG_EINVAL, "user \"u1\": exec credential plugins are not supported; use a token or client certificate" },
        { "auth-provider", NULL, CL_OK, "    auth-provider:\n      name: oidc\n      config:\n        idp: x",
          AG_EINVAL, "auth-provider plugins are not supported; use a token or client certificate" },
        { "username/password", NULL, CL_OK, "    username: admin\n    password: secret", AG_EINVAL,
          "username/password authentication is not supported" },
        { "password only", NULL, CL_OK, "    password: secret", AG_EINVAL, "username/password" },
        { "insecure", NULL, "    server: https://h:6443\n    insecure-skip-tls-verify: true", USER_OK, AG_EINVAL,
          "insecure-skip-tls-verify is not supported" },
        { "http", NULL, "    server: http://h:8080", USER_OK, AG_EINVAL,
          "server http://h:8080 of cluster \"c1\" is plain http; only https:// is supported" },
        { "not a URL", NULL, "    server: h:6443", USER_OK, AG_EINVAL, "is not an https:// URL" },
        { "no server", NULL, "    certificate-authority: certs/ca.crt", USER_OK, AG_EINVAL,
          "cluster \"c1\" has no server" },
        { "server is a mapping", NULL, "    server: {host: h}", USER_OK, AG_EINVAL, "cluster \"c1\" has no server" },
        { "tls-server-name", NULL, "    server: https://h\n    tls-server-name: other", USER_OK, AG_EINVAL,
          "tls-server-name is not supported" },
        { "bad base64 CA", NULL, bad_b64, USER_OK, AG_EINVAL,
          "certificate-authority-data of cluster \"c1\" is not valid base64" },
        { "wrapped base64 CA", NULL, "    certificate-authority-data: LS0t LS0t\n    server: https://h", USER_OK,
          AG_EINVAL, "not valid base64" },
        { "CA not PEM", NULL, not_pem, USER_OK, AG_EINVAL, "certificate-authority-data of cluster \"c1\" is not PEM" },
        { "bad base64 cert", NULL, CL_OK, "    client-certificate-data: abc\n    client-key-data: abcd", AG_EINVAL,
          "client-certificate-data of user \"u1\" is not valid base64" },
        { "bad base64 key", NULL, CL_OK, "    client-certificate: certs/client.crt\n    client-key-data: a$cd",
          AG_EINVAL, "client-key-data of user \"u1\" is not valid base64" },
        { "cert without key", NULL, CL_OK, "    client-certificate: certs/client.crt", AG_EINVAL,
          "user \"u1\" has a client certificate but no client key" },
        { "key without cert", NULL, CL_OK, "    client-key: certs/client.key", AG_EINVAL,
          "has a client key but no client certificate" },
        { "missing CA file", NULL, "    certificate-authority: certs/nope.crt\n    server: https://h", USER_OK,
          AG_EINVAL, "certs/nope.crt of cluster \"c1\": No such file or directory" },
        { "CA is a folder", NULL, "    certificate-authority: certs\n    server: https://h", USER_OK, AG_EINVAL,
          "is not a file" },
        { "missing client key file", NULL, CL_OK,
          "    client-certificate: certs/client.crt\n    client-key: certs/nope.key", AG_EINVAL,
          "client-key " },
        { "missing tokenFile", NULL, CL_OK, "    tokenFile: certs/nope", AG_EINVAL, "tokenFile " },
        { "empty tokenFile", NULL, CL_OK, "    tokenFile: certs/empty-token", AG_EINVAL, "is empty" },
        { "token with space", NULL, CL_OK, "    token: \"a b\"", AG_EINVAL, "token contains a space" },
        { "impersonation", NULL, CL_OK, "    token: t\n    as: system:admin", AG_EINVAL, "impersonation" },
        { "no current-context", "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n", NULL, NULL,
          AG_EINVAL, "no current-context is set" },
        { "empty current-context", "current-context: \"\"\ncontexts: []\n", NULL, NULL, AG_EINVAL,
          "no current-context is set" },
        { "unknown context",
          "current-context: nope\ncontexts:\n- name: ctx1\n  context: {cluster: c1, user: u1}\n", NULL, NULL,
          AG_EINVAL, "the current-context \"nope\" is not among its contexts" },
        { "context without cluster", "current-context: ctx1\ncontexts:\n- name: ctx1\n  context: {user: u1}\n", NULL,
          NULL, AG_EINVAL, "context \"ctx1\" names no cluster" },
        { "context without user", "current-context: ctx1\ncontexts:\n- name: ctx1\n  context: {cluster: c1}\n", NULL,
          NULL, AG_EINVAL, "context \"ctx1\" names no user" },
        { "unknown cluster",
          "current-context: ctx1\ncontexts:\n- name: ctx1\n  context: {cluster: c9, user: u1}\n"
          "clusters:\n- name: c1\n  cluster: {server: https://h}\nusers:\n- name: u1\n  user: {token: t}\n",
          NULL, NULL, AG_EINVAL, "cluster \"c9\" (of context \"ctx1\") is not among its clusters" },
        { "unknown user",
          "current-context: ctx1\ncontexts:\n- name: ctx1\n  context: {cluster: c1, user: u9}\n"
          "clusters:\n- name: c1\n  cluster: {server: https://h}\nusers:\n- name: u1\n  user: {token: t}\n",
          NULL, NULL, AG_EINVAL, "user \"u9\" (of context \"ctx1\") is not among its users" },
        { "cluster entry null",
          "current-context: ctx1\ncontexts:\n- name: ctx1\n  context: {cluster: c1, user: u1}\n"
          "clusters:\n- name: c1\n  cluster: null\nusers:\n- name: u1\n  user: {}\n",
          NULL, NULL, AG_EINVAL, "cluster \"c1\" has no server" },
        { "not YAML", "apiVersion: v1\nclusters: [\n  {name: c1\n", NULL, NULL, AG_EINVAL, "not YAML or JSON: " },
        { "bad indentation", "a: b\n  c: d\n", NULL, NULL, AG_EINVAL, "not YAML or JSON: " },
        { "broken JSON", "{\"current-context\": \"x\",, }", NULL, NULL, AG_EINVAL, "not YAML or JSON" },
        { "top-level text", "this is not a kubeconfig\n", NULL, NULL, AG_EINVAL,
          "not a kubeconfig (the top level is not a mapping)" },
        { "top-level array", "[1, 2, 3]\n", NULL, NULL, AG_EINVAL, "the top level is not a mapping" },
        { "empty file", "", NULL, NULL, AG_EINVAL, "not a kubeconfig (empty)" },
        { "comments only", "# nothing\n", NULL, NULL, AG_EINVAL, "not a kubeconfig (empty)" },
        { "alias", "base: &b {server: https://h}\nother: *b\ncurrent-context: x\n", NULL, NULL, AG_EINVAL,
          "YAML aliases are not supported" },
        { "mapping key", "? [a, b]\n: c\n", NULL, NULL, AG_EINVAL, "a mapping key is not a string" },
        { "deep nesting", deep, NULL, NULL, AG_EINVAL, "nested deeper than 64 levels" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct refusal *t = &cases[i];
        char p[256], err[1024] = "";
        struct kube_config c;
        memset(&c, 0x5a, sizeof c);
        long live = mem_live();
        const char *text = t->text ? t->text : kc_text(t->cluster, t->user);
        enum ag_result r = load_text("refused.yaml", text, &c, err, sizeof err);
        path_of(p, sizeof p, "refused.yaml");
        CASE_ASSERT(r == t->result, i, t->name);
        CASE_ASSERT(strstr(err, t->frag) != NULL, i, t->name);
        CASE_ASSERT(strstr(err, p) != NULL, i, t->name);     /* names the kubeconfig file */
        CASE_ASSERT(strchr(err, '\n') == NULL, i, t->name);
        CASE_ASSERT(config_empty(&c), i, t->name);
        CASE_ASSERT(mem_live() == live, i, t->name);
        if (r != t->result || !strstr(err, t->frag))
            fprintf(stderr, "\n  case %s: result %s, message \"%s\"\n", t->name, ag_result_name(r), err);
    }
}

static void test_file_problems(void)
{
    struct kube_config c;
    char err[512] = "", p[256];
    long live = mem_live();

    path_of(p, sizeof p, "does-not-exist.yaml");
    CU_ASSERT_EQUAL(kube_config_load(p, &c, err, sizeof err), AG_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, p));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "No such file"));
    CU_ASSERT(config_empty(&c));

    CU_ASSERT_EQUAL(kube_config_load(dir, &c, err, sizeof err), AG_EIO);    /* a folder */
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "directory"));

    CU_ASSERT_EQUAL(kube_config_load("", &c, err, sizeof err), AG_EINVAL);
    CU_ASSERT_EQUAL(kube_config_load(NULL, &c, err, sizeof err), AG_EINVAL);

    /* Over 4 MiB: refused before parsing, even when the start is a good kubeconfig. */
    size_t big = (4u << 20) + 1;
    char *text = mem_malloc(big + 1);
    CU_ASSERT_FATAL(text != NULL);
    const char *head = kc_text(CL_OK, USER_OK);
    size_t hl = strlen(head);
    memcpy(text, head, hl);
    memset(text + hl, '#', big - hl);
    text[hl] = '\n';
    text[big] = '\0';
    CU_ASSERT_FATAL(write_file("huge.yaml", text, big));
    path_of(p, sizeof p, "huge.yaml");
    CU_ASSERT_EQUAL(kube_config_load(p, &c, err, sizeof err), AG_ETOOBIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "larger than 4 MiB"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, p));
    /* Exactly 4 MiB (comments after the config) is read. */
    CU_ASSERT_FATAL(write_file("huge.yaml", text, big - 1));
    CU_ASSERT_EQUAL(kube_config_load(p, &c, err, sizeof err), AG_OK);
    kube_config_free(&c);
    mem_free(text);

    /* A NUL byte. */
    static const char nul[] = "current-context: a\0b\n";
    CU_ASSERT_FATAL(write_file("nul.yaml", nul, sizeof nul - 1));
    path_of(p, sizeof p, "nul.yaml");
    CU_ASSERT_EQUAL(kube_config_load(p, &c, err, sizeof err), AG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not YAML or JSON"));
    CU_ASSERT_EQUAL(mem_live(), live);
}

/* Every allocation failing in turn: AG_ENOMEM, nothing leaked, until it succeeds. */
static void test_allocation_failure(void)
{
    char *cl = pool_printf(pool, "    certificate-authority-data: %s\n    server: https://127.0.0.1:6443",
                           patch_base64(FAKE_CA, strlen(FAKE_CA), pool));
    CU_ASSERT_FATAL(write_text("alloc.yaml", kc_text(cl, "    client-certificate: certs/client.crt\n"
                                                         "    client-key: certs/client.key\n    token: t")));
    char p[256];
    path_of(p, sizeof p, "alloc.yaml");
    long live = mem_live();
    bool succeeded = false;
    for (long n = 0; n < 200 && !succeeded; n++) {
        struct kube_config c;
        char err[512] = "";
        mem_fail_after(n);
        enum ag_result r = kube_config_load(p, &c, err, sizeof err);
        mem_fail_after(-1);
        if (r == AG_OK) {
            succeeded = true;
            CU_ASSERT(streq(c.ca_data, FAKE_CA));
            kube_config_free(&c);
        } else {
            CU_ASSERT_EQUAL(r, AG_ENOMEM);
            if (r != AG_ENOMEM)
                fprintf(stderr, "\n  after %ld allocations: %s: %s\n", n, ag_result_name(r), err);
            CU_ASSERT(config_empty(&c));
        }
        CU_ASSERT_EQUAL(mem_live(), live);
    }
    CU_ASSERT(succeeded);
}

/* ---- in-cluster ---- */

static void sa_files(bool token, const char *token_text, bool ca, const char *ns)
{
    char p[256];
    path_of(p, sizeof p, "sa/token");
    unlink(p);
    path_of(p, sizeof p, "sa/ca.crt");
    unlink(p);
    path_of(p, sizeof p, "sa/namespace");
    unlink(p);
    if (token)
        CU_ASSERT_FATAL(write_text("sa/token", token_text));
    if (ca)
        CU_ASSERT_FATAL(write_text("sa/ca.crt", FAKE_CA));
    if (ns)
        CU_ASSERT_FATAL(write_text("sa/namespace", ns));
}

static void test_in_cluster(void)
{
    long live = mem_live();
    struct kube_config c;
    char err[512] = "", sa[256], tok[256], ca[256];
    path_of(sa, sizeof sa, "sa");
    path_of(tok, sizeof tok, "sa/token");
    path_of(ca, sizeof ca, "sa/ca.crt");
    sa_files(true, "eyJhbGciOi.x.y", true, "archgate-system\n");
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    CU_ASSERT_EQUAL_FATAL(kube_config_in_cluster(sa, &c, err, sizeof err), AG_OK);
    CU_ASSERT(streq(c.server, "https://10.96.0.1:443"));
    CU_ASSERT(streq(c.token_file, tok));
    CU_ASSERT_PTR_NULL(c.token);               /* read by the client, so rotation is seen */
    CU_ASSERT(streq(c.ca_file, ca));
    CU_ASSERT(streq(c.ns, "archgate-system"));
    CU_ASSERT(streq(c.source, "in-cluster"));
    kube_config_free(&c);

    /* IPv6 service address: bracketed. No namespace file: no namespace. */
    sa_files(true, "tok", true, NULL);
    setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
    CU_ASSERT_EQUAL_FATAL(kube_config_in_cluster(sa, &c, err, sizeof err), AG_OK);
    CU_ASSERT(streq(c.server, "https://[fd00:10:96::1]:6443"));
    CU_ASSERT_PTR_NULL(c.ns);
    kube_config_free(&c);
    CU_ASSERT_EQUAL(mem_live(), live);
}

static void expect_in_cluster_fail(const char *host, const char *port, const char *frag)
{
    struct kube_config c;
    char err[512] = "", sa[256];
    path_of(sa, sizeof sa, "sa");
    long live = mem_live();
    if (host)
        setenv("KUBERNETES_SERVICE_HOST", host, 1);
    else
        unsetenv("KUBERNETES_SERVICE_HOST");
    if (port)
        setenv("KUBERNETES_SERVICE_PORT", port, 1);
    else
        unsetenv("KUBERNETES_SERVICE_PORT");
    CU_ASSERT_EQUAL(kube_config_in_cluster(sa, &c, err, sizeof err), AG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, frag));
    if (!strstr(err, frag))
        fprintf(stderr, "\n  message \"%s\" lacks \"%s\"\n", err, frag);
    CU_ASSERT_PTR_NULL(strchr(err, '\n'));
    CU_ASSERT(config_empty(&c));
    CU_ASSERT_EQUAL(mem_live(), live);
}

static void test_in_cluster_missing(void)
{
    sa_files(true, "tok", true, "ns\n");
    expect_in_cluster_fail(NULL, "443", "KUBERNETES_SERVICE_HOST is not set");
    expect_in_cluster_fail("", "443", "KUBERNETES_SERVICE_HOST is not set");
    expect_in_cluster_fail("10.0.0.1", NULL, "KUBERNETES_SERVICE_PORT is not set");
    expect_in_cluster_fail("10.0.0.1", "https", "KUBERNETES_SERVICE_PORT \"https\" is not a port number");
    expect_in_cluster_fail("10.0.0.1", "70000", "is not a port number");
    expect_in_cluster_fail("10.0.0.1", "-1", "is not a port number");
    expect_in_cluster_fail("evil/host@x", "443", "is not a host name or address");
    sa_files(false, NULL, true, "ns\n");
    expect_in_cluster_fail("10.0.0.1", "443", "/sa/token: No such file or directory");
    sa_files(true, "", true, "ns\n");
    expect_in_cluster_fail("10.0.0.1", "443", "/sa/token is empty");
    sa_files(true, "tok", false, "ns\n");
    expect_in_cluster_fail("10.0.0.1", "443", "service-account CA ");
    expect_in_cluster_fail("10.0.0.1", "443", "/sa/ca.crt: No such file or directory");
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
}

UNIT_SUITE("kubeconfig", suite_init, suite_cleanup,
           { "token user, relative CA path, trailing slash, no CA", test_token_user },
           { "anonymous user: {}", test_anonymous_user },
           { "client certificate and key files", test_client_cert_files },
           { "certificate-authority/client-*-data decoded", test_data_fields },
           { "tokenFile; token wins over tokenFile", test_token_file },
           { "JSON kubeconfig with namespace and IPv6 server", test_json },
           { "several contexts: current-context picks the second", test_multiple_contexts },
           { "nesting: 64 levels load, 65 refused", test_nesting_limit },
           { "every refusal and missing piece names the file", test_refusals },
           { "missing, folder, huge and NUL-containing files", test_file_problems },
           { "allocation failure at every step", test_allocation_failure },
           { "in-cluster: IPv4, IPv6, namespace", test_in_cluster },
           { "in-cluster: each missing piece", test_in_cluster_missing })
