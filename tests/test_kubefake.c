/* test_kubefake.c - the fake kube-apiserver (kubefake.c) over real HTTPS with libcurl: paged
 * lists (tokens, RV, consistency at the list RV, 410 after compaction), routing (404, 405,
 * namespaced form), malformed queries, watch streams (replay from an RV, live ADDED/MODIFIED/
 * DELETED, initial ADDED, 410 ERROR after compaction, bookmarks, timeoutSeconds,
 * close_watches), faults (401/403/404/500 with counts), the bearer token check, stalls. */
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include "itest.h"
#include "kubefake.h"
#include "mem.h"
#include "unit.h"
#include "testutil.h"

#define NODES "/api/v1/nodes"
#define DS "/apis/cdi.kubevirt.io/v1beta1/datasources"
#define KV "/apis/kubevirt.io/v1/kubevirts"

static char dir[64], crt[128], key[128];

static int suite_init(void)
{
    snprintf(dir, sizeof dir, "/tmp/archgate-kubefake.XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    snprintf(crt, sizeof crt, "%s/tls.crt", dir);
    snprintf(key, sizeof key, "%s/tls.key", dir);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    return certgen_pair(crt, key, -3600, 86400, 7) ? 0 : 1;
}

static int suite_cleanup(void)
{
    curl_global_cleanup();
    return tu_rmtree(dir);
}

static long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec t = { ms / 1000, (ms % 1000) * 1000000 };
    nanosleep(&t, NULL);
}

/* A server with the nodes and datasources collections. */
static struct kubefake *start(void)
{
    struct kubefake *f = kubefake_start(crt, key);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT(kubefake_port(f) != 0);
    kubefake_collection(f, NODES, "NodeList", "v1", "Node");
    kubefake_collection(f, DS, "DataSourceList", "cdi.kubevirt.io/v1beta1", "DataSource");
    kubefake_collection(f, KV, "KubeVirtList", "kubevirt.io/v1", "KubeVirt");
    return f;
}

static unsigned long put_node(struct kubefake *f, const char *name, const char *arch)
{
    char j[256];
    snprintf(j, sizeof j,
             "{\"kind\":\"Node\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"%s\","
             "\"labels\":{\"kubernetes.io/arch\":\"%s\"}}}",
             name, arch);
    unsigned long rv = kubefake_put(f, NODES, j);
    CU_ASSERT(rv != 0);
    return rv;
}

/* ---- one HTTP exchange, and streams on a thread ---- */

struct body {
    pthread_mutex_t mu;
    char *p;
    size_t len, cap;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
    struct body *b = arg;
    size_t n = size * nmemb;
    pthread_mutex_lock(&b->mu);
    if (b->len + n + 1 > b->cap) {
        size_t ncap = (b->len + n + 1) * 2;
        char *np = mem_realloc(b->p, ncap);
        if (!np) {
            pthread_mutex_unlock(&b->mu);
            return 0;
        }
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    pthread_mutex_unlock(&b->mu);
    return n;
}

struct xfer {
    char url[512];
    const char *method;         /* NULL: GET */
    const char *token;          /* NULL: no Authorization */
    long timeout_ms;
    struct body body;
    long status;
    CURLcode rc;
    char ctype[128];
    pthread_t th;
    bool running, done;         /* done: under body.mu */
};

static void xfer_init(struct xfer *x, const struct kubefake *f, const char *path_query)
{
    memset(x, 0, sizeof *x);
    pthread_mutex_init(&x->body.mu, NULL);
    snprintf(x->url, sizeof x->url, "https://127.0.0.1:%u%s", kubefake_port(f), path_query);
    x->timeout_ms = 8000;
}

static void xfer_perform(struct xfer *x)
{
    x->rc = CURLE_FAILED_INIT;
    CURL *h = curl_easy_init();
    struct curl_slist *hdr = NULL;
    char auth[300];
    if (!h)
        goto done;
    if (x->token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", x->token);
        hdr = curl_slist_append(NULL, auth);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    }
    curl_easy_setopt(h, CURLOPT_URL, x->url);
    curl_easy_setopt(h, CURLOPT_CAINFO, crt);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, x->timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x->body);
    if (x->method && strcmp(x->method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "{}");
    } else if (x->method) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, x->method);
    }
    x->rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x->status);
    char *ct = NULL;
    if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
        snprintf(x->ctype, sizeof x->ctype, "%s", ct);
done:
    curl_slist_free_all(hdr);
    if (h)
        curl_easy_cleanup(h);
    pthread_mutex_lock(&x->body.mu);
    x->done = true;
    pthread_mutex_unlock(&x->body.mu);
}

static void *xfer_thread(void *arg)
{
    xfer_perform(arg);
    return NULL;
}

static void xfer_start(struct xfer *x)
{
    x->running = pthread_create(&x->th, NULL, xfer_thread, x) == 0;
    CU_ASSERT_FATAL(x->running);
}

static bool xfer_done(struct xfer *x)
{
    pthread_mutex_lock(&x->body.mu);
    bool d = x->done;
    pthread_mutex_unlock(&x->body.mu);
    return d;
}

static size_t xfer_lines(struct xfer *x)
{
    size_t n = 0;
    pthread_mutex_lock(&x->body.mu);
    for (size_t i = 0; i < x->body.len; i++)
        n += x->body.p[i] == '\n';
    pthread_mutex_unlock(&x->body.mu);
    return n;
}

/* Wait until the stream has `n` complete lines (or ended); false on timeout. */
static bool xfer_wait_lines(struct xfer *x, size_t n, long timeout_ms)
{
    long end = now_ms() + timeout_ms;
    while (xfer_lines(x) < n) {
        if (xfer_done(x) || now_ms() > end)
            return xfer_lines(x) >= n;
        sleep_ms(10);
    }
    return true;
}

static bool xfer_wait_done(struct xfer *x, long timeout_ms)
{
    long end = now_ms() + timeout_ms;
    while (!xfer_done(x)) {
        if (now_ms() > end)
            return false;
        sleep_ms(10);
    }
    return true;
}

/* Line i (from 0) of the body, parsed; NULL when absent or not JSON. */
static cJSON *xfer_line(struct xfer *x, size_t i)
{
    cJSON *j = NULL;
    pthread_mutex_lock(&x->body.mu);
    const char *p = x->body.p;
    const char *end = p ? p + x->body.len : NULL;
    for (size_t k = 0; p && k < i; k++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : NULL;
    }
    const char *nl = p ? memchr(p, '\n', (size_t)(end - p)) : NULL;
    if (nl)
        j = cJSON_ParseWithLength(p, (size_t)(nl - p));
    pthread_mutex_unlock(&x->body.mu);
    return j;
}

static void xfer_finish(struct xfer *x)
{
    if (x->running)
        pthread_join(x->th, NULL);
    x->running = false;
    mem_free(x->body.p);
    x->body.p = NULL;
    pthread_mutex_destroy(&x->body.mu);
}

/* A whole GET: the status, and the body parsed (cJSON_Delete it; NULL if not JSON). */
static cJSON *get_json(const struct kubefake *f, const char *path_query, const char *token, long *status)
{
    struct xfer x;
    xfer_init(&x, f, path_query);
    x.token = token;
    xfer_perform(&x);
    CU_ASSERT_EQUAL(x.rc, CURLE_OK);
    CU_ASSERT_STRING_EQUAL(x.ctype, "application/json");
    *status = x.status;
    cJSON *j = x.body.p ? cJSON_Parse(x.body.p) : NULL;
    xfer_finish(&x);
    return j;
}

static const char *jstr(const cJSON *j, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, a);
    if (b)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *meta_str(const cJSON *obj, const char *field)
{
    return jstr(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), field, NULL);
}

static bool str_is(const char *s, const char *want)
{
    return s && strcmp(s, want) == 0;
}

/* A Status body with this code and reason. */
static bool is_status(const cJSON *j, int code, const char *reason)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "code");
    return str_is(jstr(j, "kind", NULL), "Status") && str_is(jstr(j, "apiVersion", NULL), "v1") &&
           str_is(jstr(j, "status", NULL), "Failure") && str_is(jstr(j, "reason", NULL), reason) &&
           cJSON_IsNumber(c) && c->valueint == code && jstr(j, "message", NULL);
}

/* The names of a list's items joined by ",", and every item checked for the list shape. */
static void item_names(const cJSON *list, char *buf, size_t len)
{
    buf[0] = '\0';
    size_t used = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(list, "items")) {
        CU_ASSERT_PTR_NULL(cJSON_GetObjectItemCaseSensitive(it, "kind"));
        CU_ASSERT_PTR_NULL(cJSON_GetObjectItemCaseSensitive(it, "apiVersion"));
        CU_ASSERT_PTR_NOT_NULL(meta_str(it, "resourceVersion"));
        const char *ns = meta_str(it, "namespace");
        int n = snprintf(buf + used, len - used, "%s%s%s%s", used ? "," : "", ns ? ns : "", ns ? "/" : "",
                         meta_str(it, "name") ? meta_str(it, "name") : "?");
        if (n > 0 && (size_t)n < len - used)
            used += (size_t)n;
    }
}

static void rv_str(unsigned long rv, char *buf, size_t len)
{
    snprintf(buf, len, "%lu", rv);
}

/* ---- lists ---- */

static void test_list_pages(void)
{
    struct kubefake *f = start();
    const char *order[] = { "n3", "n1", "n5", "n2", "n4" };
    for (size_t i = 0; i < 5; i++)
        put_node(f, order[i], "amd64");
    char rv[32], names[256], q[256];
    rv_str(kubefake_resource_version(f), rv, sizeof rv);
    long st = 0;
    const char *want[] = { "n1,n2", "n3,n4", "n5" };
    char token[128] = "";
    for (int page = 0; page < 3; page++) {
        if (page == 0)
            snprintf(q, sizeof q, NODES "?limit=2");
        else
            snprintf(q, sizeof q, NODES "?limit=2&continue=%s", token);
        cJSON *l = get_json(f, q, NULL, &st);
        CU_ASSERT_EQUAL(st, 200);
        CU_ASSERT(str_is(jstr(l, "kind", NULL), "NodeList"));
        CU_ASSERT(str_is(jstr(l, "apiVersion", NULL), "v1"));
        CU_ASSERT(str_is(jstr(l, "metadata", "resourceVersion"), rv));
        item_names(l, names, sizeof names);
        CU_ASSERT_STRING_EQUAL(names, want[page]);
        const char *cont = jstr(l, "metadata", "continue");
        if (page < 2) {
            CU_ASSERT(cont && *cont && strlen(cont) < sizeof token);
            snprintf(token, sizeof token, "%s", cont ? cont : "");
        } else {
            CU_ASSERT_PTR_NULL(cont);
        }
        cJSON_Delete(l);
    }
    CU_ASSERT_EQUAL(kubefake_count(f, NODES, KF_LIST), 1);
    CU_ASSERT_EQUAL(kubefake_count(f, NODES, KF_LIST_PAGE), 3);
    CU_ASSERT_EQUAL(kubefake_count(f, NODES, KF_WATCH), 0);

    /* without a limit: everything in one page; the items carry their own RVs */
    cJSON *l = get_json(f, NODES, NULL, &st);
    CU_ASSERT_EQUAL(st, 200);
    item_names(l, names, sizeof names);
    CU_ASSERT_STRING_EQUAL(names, "n1,n2,n3,n4,n5");
    CU_ASSERT_PTR_NULL(jstr(l, "metadata", "continue"));
    const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(l, "items"), 0);
    CU_ASSERT(str_is(meta_str(first, "resourceVersion"), "102"));      /* n1 was the second put after 100 */
    cJSON_Delete(l);
    CU_ASSERT_EQUAL(kubefake_count(f, NODES, KF_LIST), 2);
    CU_ASSERT_EQUAL(kubefake_count(f, NULL, KF_LIST_PAGE), 4);
    CU_ASSERT_EQUAL(kubefake_count(f, DS, KF_LIST_PAGE), 0);

    /* page_max: the server cuts pages shorter than the limit, not lists without one */
    kubefake_page_max(f, 2);
    l = get_json(f, NODES "?limit=10", NULL, &st);
    item_names(l, names, sizeof names);
    CU_ASSERT_STRING_EQUAL(names, "n1,n2");
    CU_ASSERT_PTR_NOT_NULL(jstr(l, "metadata", "continue"));
    cJSON_Delete(l);
    l = get_json(f, NODES, NULL, &st);
    item_names(l, names, sizeof names);
    CU_ASSERT_STRING_EQUAL(names, "n1,n2,n3,n4,n5");
    cJSON_Delete(l);
    kubefake_stop(f);
}

/* Later pages are taken at the first page's RV even when the collection changes between
 * them; after a compaction the old token is 410 Expired. */
static void test_list_consistent_then_expired(void)
{
    struct kubefake *f = start();
    for (int i = 1; i <= 5; i++) {
        char n[8];
        snprintf(n, sizeof n, "n%d", i);
        put_node(f, n, "amd64");
    }
    char rv[32], names[256], q[256], token[128];
    long st = 0;
    cJSON *l = get_json(f, NODES "?limit=2", NULL, &st);
    snprintf(rv, sizeof rv, "%s", jstr(l, "metadata", "resourceVersion") ? jstr(l, "metadata", "resourceVersion") : "");
    snprintf(token, sizeof token, "%s", jstr(l, "metadata", "continue") ? jstr(l, "metadata", "continue") : "");
    cJSON_Delete(l);
    CU_ASSERT_FATAL(token[0] != '\0');

    put_node(f, "n0", "arm64");                           /* sorts first: would shift offsets */
    put_node(f, "n3", "arm64");                           /* modified after the list RV */
    CU_ASSERT(kubefake_delete(f, NODES, NULL, "n4") != 0);
    put_node(f, "n45", "amd64");                          /* added after the list RV */

    snprintf(q, sizeof q, NODES "?limit=2&continue=%s", token);
    l = get_json(f, q, NULL, &st);
    CU_ASSERT_EQUAL(st, 200);
    CU_ASSERT(str_is(jstr(l, "metadata", "resourceVersion"), rv));
    item_names(l, names, sizeof names);
    CU_ASSERT_STRING_EQUAL(names, "n3,n4");
    const cJSON *n3 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(l, "items"), 0);
    CU_ASSERT(str_is(jstr(cJSON_GetObjectItemCaseSensitive(n3, "metadata"), "labels", "kubernetes.io/arch"),
                     "amd64"));
    cJSON_Delete(l);

    /* a fresh list sees the new state */
    l = get_json(f, NODES, NULL, &st);
    item_names(l, names, sizeof names);
    CU_ASSERT_STRING_EQUAL(names, "n0,n1,n2,n3,n45,n5");
    cJSON_Delete(l);

    kubefake_compact(f);
    l = get_json(f, q, NULL, &st);
    CU_ASSERT_EQUAL(st, 410);
    CU_ASSERT(is_status(l, 410, "Expired"));
    cJSON_Delete(l);
    kubefake_stop(f);
}

static void test_namespaced(void)
{
    struct kubefake *f = start();
    const char *objs[] = {
        "{\"apiVersion\":\"cdi.kubevirt.io/v1beta1\",\"kind\":\"DataSource\",\"metadata\":{\"name\":\"x\",\"namespace\":\"b\"}}",
        "{\"metadata\":{\"name\":\"y\",\"namespace\":\"a\"}}",
        "{\"metadata\":{\"name\":\"x\",\"namespace\":\"a\"}}",
    };
    for (size_t i = 0; i < 3; i++)
        CU_ASSERT(kubefake_put(f, DS, objs[i]) != 0);
    char names[256];
    long st = 0;
    cJSON *l = get_json(f, DS, NULL, &st);
    CU_ASSERT_EQUAL(st, 200);
    CU_ASSERT(str_is(jstr(l, "kind", NULL), "DataSourceList"));
    CU_ASSERT(str_is(jstr(l, "apiVersion", NULL), "cdi.kubevirt.io/v1beta1"));
    item_names(l, names, sizeof names);
    CU_ASSERT_STRING_EQUAL(names, "a/x,a/y,b/x");
    cJSON_Delete(l);
    l = get_json(f, "/apis/cdi.kubevirt.io/v1beta1/namespaces/a/datasources", NULL, &st);
    CU_ASSERT_EQUAL(st, 200);
    item_names(l, names, sizeof names);
    CU_ASSERT_STRING_EQUAL(names, "a/x,a/y");
    cJSON_Delete(l);
    CU_ASSERT_EQUAL(kubefake_count(f, DS, KF_LIST), 2);
    /* the same name in another namespace is another object */
    CU_ASSERT(kubefake_delete(f, DS, "a", "x") != 0);
    CU_ASSERT_EQUAL(kubefake_delete(f, DS, "a", "x"), 0);
    l = get_json(f, DS, NULL, &st);
    item_names(l, names, sizeof names);
    CU_ASSERT_STRING_EQUAL(names, "a/y,b/x");
    cJSON_Delete(l);
    /* forbidden in a namespace is worded for the namespace */
    kubefake_fail(f, DS, 403, 1);
    l = get_json(f, "/apis/cdi.kubevirt.io/v1beta1/namespaces/a/datasources", NULL, &st);
    CU_ASSERT_EQUAL(st, 403);
    CU_ASSERT(str_is(jstr(l, "message", NULL),
                     "datasources is forbidden: User \"system:serviceaccount:archgate-system:archgate\" cannot list "
                     "resource \"datasources\" in API group \"cdi.kubevirt.io\" in the namespace \"a\""));
    cJSON_Delete(l);
    kubefake_stop(f);
}

/* Undeclared paths, other methods and malformed queries and tokens. */
static void test_bad_requests(void)
{
    struct kubefake *f = start();
    put_node(f, "n1", "amd64");
    static const struct { const char *pq; long status; const char *reason; } cases[] = {
        { "/api/v1/pods", 404, "NotFound" },
        { "/apis/hco.kubevirt.io/v1beta1/hyperconvergeds", 404, "NotFound" },
        { "/api/v1/nodes/n1", 404, "NotFound" },
        { "/api/v1/namespaces//nodes", 404, "NotFound" },
        { "/", 404, "NotFound" },
        { NODES "?limit=abc", 400, "BadRequest" },
        { NODES "?limit=-1", 400, "BadRequest" },
        { NODES "?limit=99999999999999999999999", 400, "BadRequest" },
        { NODES "?limit=1&continue=abc.", 400, "BadRequest" },
        { NODES "?limit=1&continue=bm9wZQ", 400, "BadRequest" },         /* "nope" */
        { NODES "?limit=1&continue=OTk5OTk5OjE", 400, "BadRequest" },    /* "999999:1": a future RV */
        { NODES "?limit=1&continue=MTAxOng", 400, "BadRequest" },        /* "101:x" */
        { NODES "?watch=maybe", 400, "BadRequest" },
        { NODES "?watch=1&resourceVersion=abc", 400, "BadRequest" },
        { NODES "?watch=1&timeoutSeconds=1s", 400, "BadRequest" },
        { NODES "?watch=1&allowWatchBookmarks=yes", 400, "BadRequest" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long st = 0;
        cJSON *j = get_json(f, cases[i].pq, NULL, &st);
        CASE_ASSERT(st == cases[i].status, i, cases[i].pq);
        CASE_ASSERT(is_status(j, (int)cases[i].status, cases[i].reason), i, cases[i].pq);
        cJSON_Delete(j);
    }
    const char *methods[] = { "POST", "DELETE", "PUT" };
    for (size_t i = 0; i < 3; i++) {
        struct xfer x;
        xfer_init(&x, f, NODES);
        x.method = methods[i];
        xfer_perform(&x);
        CASE_ASSERT(x.status == 405, i, methods[i]);
        cJSON *j = x.body.p ? cJSON_Parse(x.body.p) : NULL;
        CASE_ASSERT(is_status(j, 405, "MethodNotAllowed"), i, methods[i]);
        cJSON_Delete(j);
        xfer_finish(&x);
    }
    kubefake_stop(f);
}

static void test_put_rejects(void)
{
    struct kubefake *f = start();
    unsigned long rv = kubefake_resource_version(f);
    const char *bad[] = { "not json", "[]", "{}", "{\"metadata\":{}}", "{\"metadata\":{\"name\":\"\"}}",
                          "{\"metadata\":{\"name\":7}}", "{\"metadata\":{\"name\":\"a\",\"namespace\":3}}",
                          "{\"metadata\":\"x\"}" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CASE_ASSERT(kubefake_put(f, NODES, bad[i]) == 0, i, bad[i]);
    CU_ASSERT_EQUAL(kubefake_put(f, NODES, NULL), 0);
    CU_ASSERT_EQUAL(kubefake_put(f, "/api/v1/pods", "{\"metadata\":{\"name\":\"p\"}}"), 0);
    CU_ASSERT_EQUAL(kubefake_delete(f, NODES, NULL, "missing"), 0);
    CU_ASSERT_EQUAL(kubefake_delete(f, "/api/v1/pods", NULL, "p"), 0);
    CU_ASSERT_EQUAL(kubefake_resource_version(f), rv);
    /* a stale resourceVersion in the input is replaced */
    unsigned long r1 = kubefake_put(f, NODES, "{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"7\"}}");
    CU_ASSERT_EQUAL(r1, rv + 1);
    long st;
    cJSON *l = get_json(f, NODES, NULL, &st);
    const cJSON *it = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(l, "items"), 0);
    char want[32];
    rv_str(r1, want, sizeof want);
    CU_ASSERT(str_is(meta_str(it, "resourceVersion"), want));
    cJSON_Delete(l);
    kubefake_stop(f);
}

/* ---- watches ---- */

static bool event_is(const cJSON *ev, const char *type, const char *name, unsigned long rv)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(ev, "object");
    char want[32];
    rv_str(rv, want, sizeof want);
    return str_is(jstr(ev, "type", NULL), type) && str_is(jstr(o, "kind", NULL), "Node") &&
           str_is(jstr(o, "apiVersion", NULL), "v1") && str_is(meta_str(o, "name"), name) &&
           str_is(meta_str(o, "resourceVersion"), want);
}

static void test_watch_events(void)
{
    struct kubefake *f = start();
    put_node(f, "n1", "amd64");
    put_node(f, "n2", "amd64");
    long st;
    cJSON *l = get_json(f, NODES, NULL, &st);
    char rv[32], q[256];
    snprintf(rv, sizeof rv, "%s", jstr(l, "metadata", "resourceVersion") ? jstr(l, "metadata", "resourceVersion") : "");
    cJSON_Delete(l);
    unsigned long r0 = put_node(f, "n3", "arm64");                 /* between the list and the watch */
    kubefake_put(f, DS, "{\"metadata\":{\"name\":\"d\",\"namespace\":\"x\"}}");   /* other collection */

    struct xfer w;
    snprintf(q, sizeof q, NODES "?watch=1&resourceVersion=%s&allowWatchBookmarks=true", rv);
    xfer_init(&w, f, q);
    xfer_start(&w);
    CU_ASSERT(xfer_wait_lines(&w, 1, 3000));
    unsigned long r1 = put_node(f, "n1", "arm64");
    unsigned long r2 = kubefake_delete(f, NODES, NULL, "n1");
    unsigned long r3 = put_node(f, "n4", "s390x");
    CU_ASSERT(xfer_wait_lines(&w, 4, 3000));
    cJSON *e[4];
    for (size_t i = 0; i < 4; i++)
        e[i] = xfer_line(&w, i);
    CU_ASSERT(event_is(e[0], "ADDED", "n3", r0));
    CU_ASSERT(event_is(e[1], "MODIFIED", "n1", r1));
    CU_ASSERT(event_is(e[2], "DELETED", "n1", r2));
    CU_ASSERT(event_is(e[3], "ADDED", "n4", r3));
    /* DELETED carries the last state */
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(e[2], "object");
    CU_ASSERT(str_is(jstr(cJSON_GetObjectItemCaseSensitive(o, "metadata"), "labels", "kubernetes.io/arch"), "arm64"));
    for (size_t i = 0; i < 4; i++)
        cJSON_Delete(e[i]);
    CU_ASSERT_FALSE(xfer_done(&w));
    CU_ASSERT_EQUAL(kubefake_count(f, NODES, KF_WATCH), 1);
    char last[32];
    kubefake_last_watch_rv(f, NODES, last, sizeof last);
    CU_ASSERT_STRING_EQUAL(last, rv);
    kubefake_last_watch_rv(f, NULL, last, sizeof last);
    CU_ASSERT_STRING_EQUAL(last, rv);
    kubefake_last_watch_rv(f, DS, last, sizeof last);
    CU_ASSERT_STRING_EQUAL(last, "");

    /* close_watches: a normal end of the body */
    kubefake_close_watches(f);
    CU_ASSERT(xfer_wait_done(&w, 3000));
    CU_ASSERT_EQUAL(w.rc, CURLE_OK);
    CU_ASSERT_EQUAL(w.status, 200);
    CU_ASSERT_STRING_EQUAL(w.ctype, "application/json");
    CU_ASSERT_EQUAL(xfer_lines(&w), 4);
    xfer_finish(&w);
    kubefake_stop(f);
}

/* No resourceVersion: the current objects as ADDED first; a namespaced watch sees only its
 * namespace. */
static void test_watch_initial_and_namespace(void)
{
    struct kubefake *f = start();
    put_node(f, "n2", "amd64");
    put_node(f, "n1", "amd64");
    struct xfer w, d;
    xfer_init(&w, f, NODES "?watch=true");
    xfer_start(&w);
    xfer_init(&d, f, "/apis/cdi.kubevirt.io/v1beta1/namespaces/a/datasources?watch=1&resourceVersion=0");
    xfer_start(&d);
    CU_ASSERT(xfer_wait_lines(&w, 2, 3000));
    long end = now_ms() + 3000;
    while (kubefake_count(f, DS, KF_WATCH) < 1 && now_ms() < end)
        sleep_ms(10);
    unsigned long r = put_node(f, "n0", "arm64");
    kubefake_put(f, DS, "{\"metadata\":{\"name\":\"skip\",\"namespace\":\"b\"}}");
    kubefake_put(f, DS, "{\"metadata\":{\"name\":\"keep\",\"namespace\":\"a\"}}");
    CU_ASSERT(xfer_wait_lines(&w, 3, 3000));
    CU_ASSERT(xfer_wait_lines(&d, 1, 3000));
    cJSON *e0 = xfer_line(&w, 0), *e1 = xfer_line(&w, 1), *e2 = xfer_line(&w, 2), *d0 = xfer_line(&d, 0);
    CU_ASSERT(event_is(e0, "ADDED", "n1", r - 1));
    CU_ASSERT(event_is(e1, "ADDED", "n2", r - 2));
    CU_ASSERT(event_is(e2, "ADDED", "n0", r));
    CU_ASSERT(str_is(meta_str(cJSON_GetObjectItemCaseSensitive(d0, "object"), "name"), "keep"));
    CU_ASSERT(str_is(jstr(cJSON_GetObjectItemCaseSensitive(d0, "object"), "kind", NULL), "DataSource"));
    cJSON_Delete(e0);
    cJSON_Delete(e1);
    cJSON_Delete(e2);
    cJSON_Delete(d0);
    char last[32];
    kubefake_last_watch_rv(f, NODES, last, sizeof last);
    CU_ASSERT_STRING_EQUAL(last, "");
    kubefake_last_watch_rv(f, DS, last, sizeof last);
    CU_ASSERT_STRING_EQUAL(last, "0");
    kubefake_stop(f);                       /* ends the streams too */
    CU_ASSERT(xfer_wait_done(&w, 3000));
    CU_ASSERT(xfer_wait_done(&d, 3000));
    CU_ASSERT_EQUAL(xfer_lines(&d), 1);
    xfer_finish(&w);
    xfer_finish(&d);
}

static void test_watch_expired(void)
{
    struct kubefake *f = start();
    unsigned long old = put_node(f, "n1", "amd64");
    put_node(f, "n2", "amd64");
    struct xfer live;                       /* an up-to-date watch survives the compaction */
    char q[256];
    snprintf(q, sizeof q, NODES "?watch=1&resourceVersion=%lu", old + 1);
    xfer_init(&live, f, q);
    xfer_start(&live);
    long end = now_ms() + 3000;
    while (kubefake_count(f, NODES, KF_WATCH) < 1 && now_ms() < end)
        sleep_ms(10);
    kubefake_put(f, DS, "{\"metadata\":{\"name\":\"d\",\"namespace\":\"x\"}}");
    kubefake_compact(f);
    unsigned long cur = kubefake_resource_version(f);

    struct xfer w;
    snprintf(q, sizeof q, NODES "?watch=1&resourceVersion=%lu", old);
    xfer_init(&w, f, q);
    xfer_start(&w);
    CU_ASSERT(xfer_wait_done(&w, 3000));
    CU_ASSERT_EQUAL(w.rc, CURLE_OK);
    CU_ASSERT_EQUAL(w.status, 200);
    CU_ASSERT_EQUAL(xfer_lines(&w), 1);
    cJSON *e = xfer_line(&w, 0);
    CU_ASSERT(str_is(jstr(e, "type", NULL), "ERROR"));
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(e, "object");
    CU_ASSERT(is_status(st, 410, "Expired"));
    char want[96];
    snprintf(want, sizeof want, "too old resource version: %lu (%lu)", old, cur);
    CU_ASSERT(str_is(jstr(st, "message", NULL), want));
    cJSON_Delete(e);
    xfer_finish(&w);

    /* a collection without any change since: the old RV is still compacted away */
    snprintf(q, sizeof q, KV "?watch=1&resourceVersion=%lu", old);
    xfer_init(&w, f, q);
    xfer_start(&w);
    CU_ASSERT(xfer_wait_done(&w, 3000));
    e = xfer_line(&w, 0);
    CU_ASSERT(str_is(jstr(e, "type", NULL), "ERROR"));
    CU_ASSERT(is_status(cJSON_GetObjectItemCaseSensitive(e, "object"), 410, "Expired"));
    cJSON_Delete(e);
    xfer_finish(&w);

    /* from the current RV: fine */
    snprintf(q, sizeof q, NODES "?watch=1&resourceVersion=%lu", cur);
    xfer_init(&w, f, q);
    xfer_start(&w);
    end = now_ms() + 3000;
    while (kubefake_count(f, NODES, KF_WATCH) < 3 && now_ms() < end)
        sleep_ms(10);
    unsigned long r = put_node(f, "n3", "amd64");
    CU_ASSERT(xfer_wait_lines(&w, 1, 3000));
    CU_ASSERT(xfer_wait_lines(&live, 1, 3000));
    cJSON *a = xfer_line(&w, 0), *b = xfer_line(&live, 0);
    CU_ASSERT(event_is(a, "ADDED", "n3", r));
    CU_ASSERT(event_is(b, "ADDED", "n3", r));
    cJSON_Delete(a);
    cJSON_Delete(b);
    CU_ASSERT_FALSE(xfer_done(&live));
    kubefake_stop(f);
    xfer_finish(&w);
    xfer_finish(&live);
}

static void test_watch_bookmark(void)
{
    struct kubefake *f = start();
    unsigned long rv = put_node(f, "n1", "amd64");
    char q[256];
    struct xfer bm, plain;
    snprintf(q, sizeof q, NODES "?watch=1&resourceVersion=%lu&allowWatchBookmarks=true", rv);
    xfer_init(&bm, f, q);
    xfer_start(&bm);
    snprintf(q, sizeof q, NODES "?watch=1&resourceVersion=%lu&allowWatchBookmarks=false", rv);
    xfer_init(&plain, f, q);
    xfer_start(&plain);
    long end = now_ms() + 3000;
    while (kubefake_count(f, NODES, KF_WATCH) < 2 && now_ms() < end)
        sleep_ms(10);
    unsigned long cur = kubefake_put(f, DS, "{\"metadata\":{\"name\":\"d\",\"namespace\":\"x\"}}");
    kubefake_bookmark(f);
    CU_ASSERT(xfer_wait_lines(&bm, 1, 3000));
    unsigned long r = put_node(f, "n2", "amd64");
    CU_ASSERT(xfer_wait_lines(&bm, 2, 3000));
    CU_ASSERT(xfer_wait_lines(&plain, 1, 3000));
    cJSON *b0 = xfer_line(&bm, 0), *b1 = xfer_line(&bm, 1), *p0 = xfer_line(&plain, 0);
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(b0, "object");
    char want[32];
    rv_str(cur, want, sizeof want);
    CU_ASSERT(str_is(jstr(b0, "type", NULL), "BOOKMARK"));
    CU_ASSERT(str_is(jstr(o, "kind", NULL), "Node"));
    CU_ASSERT(str_is(jstr(o, "apiVersion", NULL), "v1"));
    CU_ASSERT(str_is(meta_str(o, "resourceVersion"), want));
    CU_ASSERT(event_is(b1, "ADDED", "n2", r));
    CU_ASSERT(event_is(p0, "ADDED", "n2", r));      /* no bookmark for who did not ask */
    cJSON_Delete(b0);
    cJSON_Delete(b1);
    cJSON_Delete(p0);
    sleep_ms(50);
    CU_ASSERT_EQUAL(xfer_lines(&plain), 1);
    kubefake_close_watches(f);
    CU_ASSERT(xfer_wait_done(&bm, 3000));
    CU_ASSERT(xfer_wait_done(&plain, 3000));
    xfer_finish(&bm);
    xfer_finish(&plain);
    kubefake_stop(f);
}

static void test_watch_timeout(void)
{
    struct kubefake *f = start();
    unsigned long rv = put_node(f, "n1", "amd64");
    char q[256];
    snprintf(q, sizeof q, NODES "?watch=1&resourceVersion=%lu&timeoutSeconds=1", rv);
    struct xfer w;
    xfer_init(&w, f, q);
    long t0 = now_ms();
    xfer_start(&w);
    CU_ASSERT(xfer_wait_done(&w, 4000));
    long took = now_ms() - t0;
    CU_ASSERT(took >= 900 && took < 3000);
    CU_ASSERT_EQUAL(w.rc, CURLE_OK);
    CU_ASSERT_EQUAL(w.status, 200);
    CU_ASSERT_EQUAL(xfer_lines(&w), 0);
    xfer_finish(&w);
    kubefake_stop(f);
}

/* ---- faults ---- */

static void test_fail(void)
{
    struct kubefake *f = start();
    put_node(f, "n1", "amd64");
    long st;
    static const struct { int status; const char *reason; } cases[] = {
        { 401, "Unauthorized" }, { 403, "Forbidden" }, { 404, "NotFound" }, { 410, "Expired" }, { 500, "InternalError" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kubefake_fail(f, NODES, cases[i].status, 2);
        for (int k = 0; k < 2; k++) {
            cJSON *j = get_json(f, k ? NODES "?watch=1" : NODES "?limit=5", NULL, &st);
            CASE_ASSERT(st == cases[i].status, i, cases[i].reason);
            CASE_ASSERT(is_status(j, cases[i].status, cases[i].reason), i, cases[i].reason);
            cJSON_Delete(j);
        }
        cJSON *j = get_json(f, NODES, NULL, &st);
        CASE_ASSERT(st == 200, i, cases[i].reason);
        cJSON_Delete(j);
        j = get_json(f, DS, NULL, &st);                 /* other paths unaffected */
        CASE_ASSERT(st == 200, i, cases[i].reason);
        cJSON_Delete(j);
    }
    /* attempts are counted, failed or not */
    CU_ASSERT_EQUAL(kubefake_count(f, NODES, KF_LIST), 10);
    CU_ASSERT_EQUAL(kubefake_count(f, NODES, KF_WATCH), 5);

    /* the RBAC wording */
    kubefake_fail(f, NODES, 403, 2);
    cJSON *j = get_json(f, NODES, NULL, &st);
    CU_ASSERT(str_is(jstr(j, "message", NULL),
                     "nodes is forbidden: User \"system:serviceaccount:archgate-system:archgate\" cannot list "
                     "resource \"nodes\" in API group \"\" at the cluster scope"));
    cJSON_Delete(j);
    j = get_json(f, NODES "?watch=1", NULL, &st);
    CU_ASSERT(str_is(jstr(j, "message", NULL),
                     "nodes is forbidden: User \"system:serviceaccount:archgate-system:archgate\" cannot watch "
                     "resource \"nodes\" in API group \"\" at the cluster scope"));
    cJSON_Delete(j);

    /* until cleared */
    kubefake_fail(f, NODES, 500, -1);
    for (int k = 0; k < 4; k++) {
        j = get_json(f, NODES, NULL, &st);
        CU_ASSERT_EQUAL(st, 500);
        cJSON_Delete(j);
    }
    kubefake_fail(f, NODES, 500, 0);
    j = get_json(f, NODES, NULL, &st);
    CU_ASSERT_EQUAL(st, 200);
    cJSON_Delete(j);
    /* path NULL: every collection */
    kubefake_fail(f, NULL, 503, 1);
    j = get_json(f, DS, NULL, &st);
    CU_ASSERT_EQUAL(st, 503);
    CU_ASSERT(is_status(j, 503, "ServiceUnavailable"));
    cJSON_Delete(j);
    j = get_json(f, NODES, NULL, &st);
    CU_ASSERT_EQUAL(st, 503);
    cJSON_Delete(j);
    j = get_json(f, NODES, NULL, &st);
    CU_ASSERT_EQUAL(st, 200);
    cJSON_Delete(j);
    kubefake_stop(f);
}

static void test_token(void)
{
    struct kubefake *f = start();
    char tok[64];
    long st;
    cJSON *j = get_json(f, NODES, "first", &st);
    CU_ASSERT_EQUAL(st, 200);                       /* no check by default */
    cJSON_Delete(j);
    kubefake_last_token(f, tok, sizeof tok);
    CU_ASSERT_STRING_EQUAL(tok, "first");
    kubefake_require_token(f, "s3cret");
    static const struct { const char *token; long status; } cases[] = {
        { NULL, 401 }, { "wrong", 401 }, { "s3cre", 401 }, { "s3cret2", 401 }, { "s3cret", 200 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        j = get_json(f, NODES, cases[i].token, &st);
        CASE_ASSERT(st == cases[i].status, i, cases[i].token ? cases[i].token : "(none)");
        if (st == 401)
            CASE_ASSERT(is_status(j, 401, "Unauthorized"), i, "Status body");
        cJSON_Delete(j);
        kubefake_last_token(f, tok, sizeof tok);
        CASE_ASSERT(strcmp(tok, cases[i].token ? cases[i].token : "") == 0, i, "last token");
    }
    j = get_json(f, NODES "?watch=1&timeoutSeconds=1", "wrong", &st);   /* watches too */
    CU_ASSERT_EQUAL(st, 401);
    cJSON_Delete(j);
    kubefake_require_token(f, NULL);
    j = get_json(f, NODES, NULL, &st);
    CU_ASSERT_EQUAL(st, 200);
    cJSON_Delete(j);
    kubefake_last_token(f, tok, sizeof tok);
    CU_ASSERT_STRING_EQUAL(tok, "");
    kubefake_stop(f);
}

static void test_stall(void)
{
    struct kubefake *f = start();
    unsigned long rv = put_node(f, "n1", "amd64");
    char q[256];
    snprintf(q, sizeof q, NODES "?watch=1&resourceVersion=%lu", rv);
    struct xfer w, l;
    xfer_init(&w, f, q);
    xfer_start(&w);
    long end = now_ms() + 3000;
    while (kubefake_count(f, NODES, KF_WATCH) < 1 && now_ms() < end)
        sleep_ms(10);
    sleep_ms(50);                           /* the stream is established */

    kubefake_stall(f, true);
    unsigned long r = put_node(f, "n2", "amd64");
    xfer_init(&l, f, NODES);
    xfer_start(&l);
    sleep_ms(300);
    CU_ASSERT_FALSE(xfer_done(&l));         /* the list is held ... */
    CU_ASSERT_EQUAL(xfer_lines(&w), 0);     /* ... and so is the event */
    CU_ASSERT_EQUAL(kubefake_count(f, NODES, KF_LIST), 1);   /* it did arrive */
    kubefake_stall(f, false);
    CU_ASSERT(xfer_wait_done(&l, 3000));
    CU_ASSERT_EQUAL(l.rc, CURLE_OK);
    CU_ASSERT_EQUAL(l.status, 200);
    CU_ASSERT(xfer_wait_lines(&w, 1, 3000));
    cJSON *e = xfer_line(&w, 0);
    CU_ASSERT(event_is(e, "ADDED", "n2", r));
    cJSON_Delete(e);
    xfer_finish(&l);

    /* stop while stalled: held requests and streams end */
    kubefake_stall(f, true);
    xfer_init(&l, f, NODES);
    xfer_start(&l);
    end = now_ms() + 3000;
    while (kubefake_count(f, NODES, KF_LIST) < 2 && now_ms() < end)
        sleep_ms(10);
    kubefake_stop(f);
    CU_ASSERT(xfer_wait_done(&l, 3000));
    CU_ASSERT(xfer_wait_done(&w, 3000));
    CU_ASSERT(l.status != 200);
    xfer_finish(&l);
    xfer_finish(&w);
}

static void test_start_fails(void)
{
    char missing[160];
    snprintf(missing, sizeof missing, "%s/missing.crt", dir);
    CU_ASSERT_PTR_NULL(kubefake_start(missing, key));
    CU_ASSERT_PTR_NULL(kubefake_start(crt, missing));
    CU_ASSERT_PTR_NULL(kubefake_start(key, key));        /* a key is no certificate */
}

UNIT_SUITE("kubefake", suite_init, suite_cleanup,
           { "list: pages of limit 2, continue tokens, RV, counts, page_max", test_list_pages },
           { "list: pages stay at the list RV; 410 after compaction", test_list_consistent_then_expired },
           { "list: namespaced collection, sort and namespaced path", test_namespaced },
           { "requests: 404, 405, malformed queries and tokens", test_bad_requests },
           { "put/delete: malformed objects and unknown paths refused", test_put_rejects },
           { "watch: replay from RV, live ADDED/MODIFIED/DELETED, close", test_watch_events },
           { "watch: initial ADDED without RV; namespace filter", test_watch_initial_and_namespace },
           { "watch: 410 ERROR from before a compaction", test_watch_expired },
           { "watch: bookmarks only when asked", test_watch_bookmark },
           { "watch: timeoutSeconds ends the stream", test_watch_timeout },
           { "faults: 401/403/404/410/500 with counts, -1 and 0", test_fail },
           { "faults: required bearer token, last token", test_token },
           { "faults: stall holds responses and events", test_stall },
           { "start: unreadable or wrong certificate files", test_start_fails })
