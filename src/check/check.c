/* check.c - `archgate check`: walk files and folders, read each YAML/JSON document (yamldoc),
 * wrap every kubevirt.io VirtualMachine and VirtualMachineInstance, and every HyperConverged, in a
 * synthetic AdmissionReview CREATE and answer it with webhook_handle (the code /validate and /mutate
 * run), then render one block per object (text) or one JSON document (json). */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "check/check.h"
#include "check/yamldoc.h"
#include "fileio.h"
#include "mem.h"
#include "patch.h"
#include "pool.h"
#include "webhook.h"

#define VALIDATE_NAME "validate.archgate.io"
#define MUTATE_NAME "mutate.archgate.io"
#define DEFAULT_NAMESPACE "default"
#define MAX_LIST_NESTING 4

struct run {
    const struct check_opts *o;
    const struct snapshot *snap;
    FILE *out, *errout;
    cJSON *objects;             /* json: the per-object results */
    cJSON *errors;              /* json: the unusable inputs */
    size_t nobjects, nadmitted, nrefused, nskipped, nerrors;
    /* the document being walked */
    const char *file;
    size_t doc;
    unsigned line;
};

static const char *str_of(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

/* Put `item` under `key` (or at the end of an array when key is NULL); free it when that fails. */
static bool put(cJSON *parent, const char *key, cJSON *item)
{
    if (!item)
        return false;
    if (parent && (key ? cJSON_AddItemToObject(parent, key, item) : cJSON_AddItemToArray(parent, item)))
        return true;
    cJSON_Delete(item);
    return false;
}

static void input_error(struct run *r, const char *file, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void input_error(struct run *r, const char *file, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->nerrors++;
    if (r->o->format == CHECK_JSON) {
        cJSON *e = cJSON_CreateObject();
        if (!e || !cJSON_AddStringToObject(e, "file", file) || !cJSON_AddStringToObject(e, "error", msg))
            cJSON_Delete(e);
        else
            put(r->errors, NULL, e);
    } else {
        fprintf(r->errout, "archgate check: %s: %s\n", file, msg);
    }
}

/* ---- JSON Patch (the ops /mutate writes: add and replace) applied to the object ---- */

static bool unescape_segment(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (o + 1 >= outlen)
            return false;
        if (s[i] == '~') {
            if (i + 1 >= n || (s[i + 1] != '0' && s[i + 1] != '1'))
                return false;
            out[o++] = s[i + 1] == '0' ? '~' : '/';
            i++;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return true;
}

static bool array_index(const char *seg, int size, bool allow_end, int *idx)
{
    if (allow_end && strcmp(seg, "-") == 0) {
        *idx = size;
        return true;
    }
    char *end = NULL;
    errno = 0;
    long v = strtol(seg, &end, 10);
    if (!seg[0] || *end || errno || v < 0 || v > size || (!allow_end && v == size))
        return false;
    *idx = (int)v;
    return true;
}

static bool apply_op(cJSON *doc, const cJSON *op)
{
    const char *kind = str_of(op, "op"), *path = str_of(op, "path");
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(op, "value");
    if (!kind || !path || !value || path[0] != '/')
        return false;
    bool add = strcmp(kind, "add") == 0;
    if (!add && strcmp(kind, "replace") != 0)
        return false;
    cJSON *node = doc;
    const char *p = path + 1;
    char seg[512];
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (!unescape_segment(p, n, seg, sizeof seg))
            return false;
        if (!slash)
            break;
        if (cJSON_IsObject(node)) {
            node = cJSON_GetObjectItemCaseSensitive(node, seg);
        } else if (cJSON_IsArray(node)) {
            int i;
            node = array_index(seg, cJSON_GetArraySize(node), false, &i) ? cJSON_GetArrayItem(node, i) : NULL;
        } else {
            node = NULL;
        }
        if (!node)
            return false;
        p = slash + 1;
    }
    cJSON *copy = cJSON_Duplicate(value, 1);
    if (!copy)
        return false;
    if (cJSON_IsObject(node)) {
        if (cJSON_GetObjectItemCaseSensitive(node, seg))
            return cJSON_ReplaceItemInObjectCaseSensitive(node, seg, copy) || (cJSON_Delete(copy), false);
        if (!add || !cJSON_AddItemToObject(node, seg, copy)) {
            cJSON_Delete(copy);
            return false;
        }
        return true;
    }
    int i;
    if (cJSON_IsArray(node) && array_index(seg, cJSON_GetArraySize(node), add, &i)) {
        bool ok = !add ? cJSON_ReplaceItemInArray(node, i, copy)
                : i == cJSON_GetArraySize(node) ? cJSON_AddItemToArray(node, copy)
                : cJSON_InsertItemInArray(node, i, copy);
        if (ok)
            return true;
    }
    cJSON_Delete(copy);
    return false;
}

/* ---- one object ---- */

/* Where kube-apiserver sends an object of `kind` (apiVersion `api`): the group, version and
 * resource of the review; false for an object no webhook of archgate is called for.
 * kube-apiserver sends kubevirt.io objects as v1 whatever version the manifest names. */
static bool review_target(const char *kind, const char *api, const char **group, const char **version,
                          const char **resource)
{
    if (strncmp(api, "kubevirt.io/", 12) == 0 &&
        (strcmp(kind, "VirtualMachine") == 0 || strcmp(kind, "VirtualMachineInstance") == 0)) {
        *group = "kubevirt.io";
        *version = "v1";
        *resource = strcmp(kind, "VirtualMachine") == 0 ? "virtualmachines" : "virtualmachineinstances";
        return true;
    }
    if (strcmp(kind, "HyperConverged") == 0 &&
        (strcmp(api, "hco.kubevirt.io/v1beta1") == 0 || strcmp(api, "hco.kubevirt.io/v1") == 0)) {
        *group = "hco.kubevirt.io";
        *version = api + strlen("hco.kubevirt.io/");
        *resource = "hyperconvergeds";
        return true;
    }
    return false;
}

/* The AdmissionReview text for a CREATE of `obj` (caller frees with mem_free/cJSON_free). */
static char *review_text(const cJSON *obj, const char *kind, const char *ns, const char *name, size_t seq)
{
    char *text = NULL;
    char uid[64];
    const char *group = "", *version = "", *resource = "";
    const cJSON *api = cJSON_GetObjectItemCaseSensitive(obj, "apiVersion");
    if (!cJSON_IsString(api) || !review_target(kind, api->valuestring, &group, &version, &resource))
        return NULL;
    snprintf(uid, sizeof uid, "archgate-check-%zu", seq);
    cJSON *root = cJSON_CreateObject(), *req = cJSON_CreateObject(), *k = cJSON_CreateObject(),
          *res = cJSON_CreateObject(), *user = cJSON_CreateObject();
    /* children first: a failed put frees only what it was given */
    bool ok = put(req, "kind", k);
    ok = put(req, "resource", res) && ok;
    ok = put(req, "userInfo", user) && ok;
    ok = put(root, "request", req) && ok;
    if (ok && cJSON_AddStringToObject(root, "apiVersion", "admission.k8s.io/v1") &&
        cJSON_AddStringToObject(root, "kind", "AdmissionReview") && cJSON_AddStringToObject(req, "uid", uid) &&
        cJSON_AddStringToObject(k, "group", group) && cJSON_AddStringToObject(k, "version", version) &&
        cJSON_AddStringToObject(k, "kind", kind) && cJSON_AddStringToObject(res, "group", group) &&
        cJSON_AddStringToObject(res, "version", version) && cJSON_AddStringToObject(res, "resource", resource) &&
        cJSON_AddStringToObject(req, "name", name) && cJSON_AddStringToObject(req, "namespace", ns) &&
        cJSON_AddStringToObject(req, "operation", "CREATE") &&
        cJSON_AddStringToObject(user, "username", "archgate-check") && cJSON_AddTrueToObject(req, "dryRun") &&
        /* a reference to obj's members (cJSON_AddItemReferenceToObject leaks its node when the
         * key cannot be copied) */
        put(req, "object", cJSON_CreateObjectReference(obj->child)))
        text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);     /* the reference does not own obj */
    return text;
}

/* Run one endpoint; *resp is the parsed response member (owned by *whole). */
static int call(struct run *r, const cJSON *obj, const char *kind, const char *ns, const char *name, bool mutate,
                cJSON **whole, const cJSON **resp, char *why, size_t whylen)
{
    *whole = NULL;
    *resp = NULL;
    char *text = review_text(obj, kind, ns, name, r->nobjects);
    if (!text) {
        snprintf(why, whylen, "out of memory");
        return 500;
    }
    struct webhook_result res;
    webhook_handle(text, strlen(text), mutate, r->snap, r->o->pol, 0, &res);
    cJSON_free(text);
    int status = res.http_status;
    if (res.body && status != 400)
        *whole = cJSON_ParseWithLength(res.body, res.body_len);
    if (status == 400 || !*whole)
        snprintf(why, whylen, "%.*s", (int)(res.body_len && res.body ? res.body_len - 1 : 0), res.body ? res.body : "");
    webhook_result_free(&res);
    if (*whole)
        *resp = cJSON_GetObjectItemCaseSensitive(*whole, "response");
    if (status == 500 && *resp) {       /* the 500 AdmissionReview carries its reason */
        const char *m = str_of(cJSON_GetObjectItemCaseSensitive(*resp, "status"), "message");
        snprintf(why, whylen, "%s", m ? m : "internal error");
    }
    if (!*resp && status == 200) {
        snprintf(why, whylen, "unreadable answer");
        status = 500;
    }
    return status;
}

static void add_warnings(cJSON *into, const cJSON *resp)
{
    const cJSON *w;
    cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(resp, "warnings")) {
        if (!cJSON_IsString(w))
            continue;
        bool dup = false;
        const cJSON *have;
        cJSON_ArrayForEach(have, into)
            dup = dup || strcmp(have->valuestring, w->valuestring) == 0;
        if (!dup)
            put(into, NULL, cJSON_CreateString(w->valuestring));
    }
}

/* A member as text, "" (or `def`) when absent: the result may be partial after an allocation failed. */
static const char *text_of(const cJSON *obj, const char *key, const char *def)
{
    const char *s = str_of(obj, key);
    return s ? s : def;
}

static int int_of(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? v->valueint : -1;
}

static void print_text(struct run *r, const cJSON *res)
{
    FILE *o = r->out;
    const char *item = str_of(res, "item");
    const char *name = text_of(res, "name", "");
    bool allowed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "allowed"));
    fprintf(o, "%s %s %s/%s  (%s, document %d%s%s, line %d)\n", allowed ? "ADMITTED" : "REFUSED ",
            text_of(res, "kind", "?"), text_of(res, "namespace", "?"), name[0] ? name : "(generated name)",
            text_of(res, "file", "?"), int_of(res, "document"), item ? ", " : "", item ? item : "",
            int_of(res, "line"));
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(res, "status");
    if (st) {
        fprintf(o, "  Error from server (%s): error when creating \"%s\": admission webhook \"%s\" denied the request: %s\n",
                text_of(st, "reason", "Invalid"), text_of(res, "file", "?"), VALIDATE_NAME, text_of(st, "message", ""));
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(st, "causes")) {
            const char *f = str_of(c, "field");
            fprintf(o, "    %s%s%s\n", f ? f : "", f ? ": " : "", text_of(c, "message", ""));
        }
    }
    const cJSON *w;
    cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(res, "warnings"))
        if (cJSON_IsString(w))
            fprintf(o, "  Warning: %s\n", w->valuestring);
    const cJSON *op;
    cJSON_ArrayForEach(op, cJSON_GetObjectItemCaseSensitive(res, "patch")) {
        char *v = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(op, "value"));
        fprintf(o, "  %s would %s %s = %s\n", MUTATE_NAME, text_of(op, "op", "?"), text_of(op, "path", "?"),
                v ? v : "?");
        cJSON_free(v);
    }
}

static void judge(struct run *r, cJSON *obj, const char *kind, const char *item)
{
    char why[512] = "";
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const char *ns = str_of(meta, "namespace");
    if (!ns || !ns[0]) {
        ns = DEFAULT_NAMESPACE;
        if (cJSON_IsObject(meta)) {     /* kube-apiserver fills it in before admission */
            cJSON_DeleteItemFromObjectCaseSensitive(meta, "namespace");
            cJSON_AddStringToObject(meta, "namespace", ns);
        }
    }
    const char *name = str_of(meta, "name");
    if (!name)
        name = "";
    cJSON *res = cJSON_CreateObject();
    cJSON *warnings = cJSON_CreateArray();
    cJSON *mut = NULL, *val = NULL;
    if (!res || !warnings)
        goto oom;
    cJSON_AddStringToObject(res, "file", r->file);
    cJSON_AddNumberToObject(res, "document", (double)r->doc);
    if (item)
        cJSON_AddStringToObject(res, "item", item);
    cJSON_AddNumberToObject(res, "line", r->line);
    cJSON_AddStringToObject(res, "kind", kind);
    cJSON_AddStringToObject(res, "namespace", ns);
    cJSON_AddStringToObject(res, "name", name);
    r->nobjects++;

    const cJSON *resp = NULL;
    int status;
    if (r->o->mutate) {
        status = call(r, obj, kind, ns, name, true, &mut, &resp, why, sizeof why);
        if (status != 200)
            goto failed;
        add_warnings(warnings, resp);
        const char *b64 = str_of(resp, "patch");
        if (b64) {
            struct pool *pool = pool_new(4096);
            char *ptext = NULL;
            size_t plen = 0;
            cJSON *ops = pool && patch_base64_decode(b64, pool, &ptext, &plen) ? cJSON_ParseWithLength(ptext, plen) : NULL;
            pool_free(pool);
            bool ok = cJSON_IsArray(ops);
            const cJSON *op;
            cJSON_ArrayForEach(op, ops)
                ok = ok && apply_op(obj, op);
            if (!ok) {
                cJSON_Delete(ops);
                snprintf(why, sizeof why, "the patch of /mutate does not apply");
                status = 500;
                goto failed;
            }
            put(res, "patch", ops);
        }
        cJSON_Delete(mut);
        mut = NULL;
    }
    status = call(r, obj, kind, ns, name, false, &val, &resp, why, sizeof why);
    if (status != 200)
        goto failed;
    add_warnings(warnings, resp);
    bool allowed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(resp, "allowed"));
    cJSON_AddBoolToObject(res, "allowed", allowed);
    if (!allowed) {
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(resp, "status");
        cJSON *s = cJSON_CreateObject();
        if (s) {
            const cJSON *code = cJSON_GetObjectItemCaseSensitive(st, "code");
            cJSON_AddNumberToObject(s, "code", cJSON_IsNumber(code) ? code->valuedouble : 422);
            cJSON_AddStringToObject(s, "reason", str_of(st, "reason") ? str_of(st, "reason") : "Invalid");
            cJSON_AddStringToObject(s, "message", str_of(st, "message") ? str_of(st, "message") : "");
            const cJSON *causes = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(st, "details"), "causes");
            put(s, "causes", causes ? cJSON_Duplicate(causes, 1) : cJSON_CreateArray());
            put(res, "status", s);
        }
    }
    goto done;
failed:
    /* kube-apiserver with failurePolicy: Fail refuses what the webhook cannot answer */
    cJSON_AddBoolToObject(res, "allowed", false);
    {
        cJSON *s = cJSON_CreateObject();
        if (s) {
            cJSON_AddNumberToObject(s, "code", status);
            cJSON_AddStringToObject(s, "reason", "InternalError");
            cJSON_AddStringToObject(s, "message", why[0] ? why : "no answer");
            put(s, "causes", cJSON_CreateArray());
            put(res, "status", s);
        }
    }
done:
    cJSON_AddStringToObject(res, "webhook", VALIDATE_NAME);
    put(res, "warnings", warnings);
    warnings = NULL;
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "allowed")))
        r->nadmitted++;
    else
        r->nrefused++;
    cJSON_Delete(mut);
    cJSON_Delete(val);
    if (r->o->format == CHECK_JSON) {
        if (!put(r->objects, NULL, res))
            input_error(r, r->file, "out of memory reporting document %zu", r->doc);
    } else {
        print_text(r, res);
        cJSON_Delete(res);
    }
    return;
oom:
    cJSON_Delete(res);
    cJSON_Delete(warnings);
    r->nobjects++;
    r->nrefused++;
    input_error(r, r->file, "out of memory judging document %zu", r->doc);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* One object of a document (or of a List in it). */
static void walk_object(struct run *r, cJSON *obj, const char *item, unsigned nesting)
{
    if (!cJSON_IsObject(obj)) {
        input_error(r, r->file, "line %u: document %zu%s%s is not an object", r->line, r->doc, item ? " " : "",
                    item ? item : "");
        return;
    }
    const char *kind = str_of(obj, "kind");
    const char *api = str_of(obj, "apiVersion");
    cJSON *items = cJSON_GetObjectItemCaseSensitive(obj, "items");
    if (kind && ends_with(kind, "List") && cJSON_IsArray(items) && nesting < MAX_LIST_NESTING) {
        int i = 0;
        cJSON *it;
        cJSON_ArrayForEach(it, items) {
            char sub[128];
            snprintf(sub, sizeof sub, "%s%sitems[%d]", item ? item : "", item ? "." : "", i++);
            walk_object(r, it, sub, nesting + 1);
        }
        return;
    }
    if (!kind || !api) {
        input_error(r, r->file, "line %u: document %zu%s%s has no %s", r->line, r->doc, item ? " " : "",
                    item ? item : "", !kind ? "kind" : "apiVersion");
        return;
    }
    const char *group, *version, *resource;
    if (review_target(kind, api, &group, &version, &resource))
        judge(r, obj, kind, item);
    else
        r->nskipped++;
}

static enum ag_result on_document(cJSON *doc, size_t index, unsigned line, void *ctx)
{
    struct run *r = ctx;
    r->doc = index;
    r->line = line;
    walk_object(r, doc, NULL, 0);
    cJSON_Delete(doc);
    return AG_OK;
}

static void check_file(struct run *r, const char *path)
{
    const char *shown = strcmp(path, "-") == 0 ? "(stdin)" : path;
    const char *open_path = strcmp(path, "-") == 0 ? "/dev/stdin" : path;
    size_t max = r->o->max_file ? r->o->max_file : CHECK_MAX_FILE_DEFAULT;
    char *buf = NULL;
    size_t len = 0;
    int eno = 0;
    enum ag_result rc = fileio_read(open_path, max, &buf, &len, &eno);
    if (rc == AG_ETOOBIG) {
        input_error(r, shown, "larger than %zu bytes (--max-file); not read", max);
        return;
    }
    if (rc != AG_OK) {
        input_error(r, shown, "%s", rc == AG_ENOMEM ? "out of memory" : strerror(eno));
        return;
    }
    char err[512] = "";
    r->file = shown;
    rc = yamldoc_parse(buf, len, NULL, on_document, r, err, sizeof err);
    mem_free(buf);
    if (rc == AG_EINVAL)
        input_error(r, shown, "%s", err);
    else if (rc != AG_OK)
        input_error(r, shown, "%s", ag_result_name(rc));
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void check_dir(struct run *r, const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        input_error(r, path, "%s", strerror(errno));
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    bool too_many = false;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *nm = e->d_name;
        if (nm[0] == '.' || !(ends_with(nm, ".yaml") || ends_with(nm, ".yml") || ends_with(nm, ".json")))
            continue;
        if (n >= CHECK_MAX_DIR_ENTRIES) {
            too_many = true;
            break;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            char **nn = mem_realloc(names, ncap * sizeof *names);
            if (!nn)
                break;
            names = nn;
            cap = ncap;
        }
        size_t plen = strlen(path) + strlen(nm) + 2;
        names[n] = mem_malloc(plen);
        if (!names[n])
            break;
        snprintf(names[n], plen, "%s%s%s", path, ends_with(path, "/") ? "" : "/", nm);
        n++;
    }
    closedir(d);
    if (too_many)
        input_error(r, path, "more than %d manifest files; none read", CHECK_MAX_DIR_ENTRIES);
    else if (n)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (!too_many && (stat(names[i], &st) != 0 || !S_ISDIR(st.st_mode)))   /* not recursive */
            check_file(r, names[i]);
        mem_free(names[i]);
    }
    mem_free(names);
}

int check_run(const char *const *inputs, size_t ninputs, const struct check_opts *opts,
              const struct snapshot *snap, FILE *out, FILE *errout)
{
    struct run r = { .o = opts, .snap = snap, .out = out, .errout = errout };
    if (opts->format == CHECK_JSON) {
        r.objects = cJSON_CreateArray();
        r.errors = cJSON_CreateArray();
        if (!r.objects || !r.errors) {
            cJSON_Delete(r.objects);
            cJSON_Delete(r.errors);
            fprintf(errout, "archgate check: out of memory\n");
            return CHECK_UNUSABLE;
        }
    }
    for (size_t i = 0; i < ninputs; i++) {
        struct stat st;
        if (strcmp(inputs[i], "-") != 0 && stat(inputs[i], &st) == 0 && S_ISDIR(st.st_mode))
            check_dir(&r, inputs[i]);
        else
            check_file(&r, inputs[i]);
    }
    int rc = r.nerrors ? CHECK_UNUSABLE : r.nrefused ? CHECK_REFUSED : CHECK_ADMITTED;
    if (opts->format == CHECK_JSON) {
        cJSON *root = cJSON_CreateObject();
        cJSON *sum = cJSON_CreateObject();
        char *text = NULL;
        if (root && sum) {
            bool ok = put(root, "objects", r.objects);
            ok = put(root, "errors", r.errors) && ok;
            r.objects = r.errors = NULL;
            cJSON_AddNumberToObject(sum, "objects", (double)r.nobjects);
            cJSON_AddNumberToObject(sum, "admitted", (double)r.nadmitted);
            cJSON_AddNumberToObject(sum, "refused", (double)r.nrefused);
            cJSON_AddNumberToObject(sum, "skipped", (double)r.nskipped);
            cJSON_AddNumberToObject(sum, "errors", (double)r.nerrors);
            cJSON_AddNumberToObject(sum, "exitCode", rc);
            ok = put(root, "summary", sum) && ok;
            sum = NULL;
            text = ok ? cJSON_Print(root) : NULL;
        }
        if (text)
            fprintf(out, "%s\n", text);
        else {
            fprintf(errout, "archgate check: out of memory\n");
            rc = CHECK_UNUSABLE;
        }
        cJSON_free(text);
        cJSON_Delete(sum);
        cJSON_Delete(root);
        cJSON_Delete(r.objects);
        cJSON_Delete(r.errors);
    } else {
        fprintf(out, "%zu object%s: %zu admitted, %zu refused; %zu skipped (not a VirtualMachine, "
                "VirtualMachineInstance or HyperConverged)", r.nobjects, r.nobjects == 1 ? "" : "s", r.nadmitted, r.nrefused, r.nskipped);
        if (r.nerrors)
            fprintf(out, "; %zu unusable input%s (on stderr)", r.nerrors, r.nerrors == 1 ? "" : "s");
        fputc('\n', out);
    }
    return rc;
}
