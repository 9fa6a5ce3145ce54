/* review.c - AdmissionReview v1: decode a request body into struct review_request (checking
 * every field it reads for presence and type), and write the response AdmissionReview. */
#include <stdio.h>
#include <string.h>
#include "review.h"
#include "jsonparse.h"
#include "jsonw.h"
#include "patch.h"
#include "mem.h"
#include "vm.h"

#define REVIEW_API_VERSION "admission.k8s.io/v1"
#define REVIEW_KIND "AdmissionReview"
#define REVIEW_MAX_UID 256

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_key(const char *s, const char *want)
{
    return s && strcmp(s, want) == 0;
}

/* Which members of the review become tree nodes. Under request.object and request.oldObject,
 * no rule reads metadata.managedFields, the status, or any annotation but archgate's own; on a
 * typical review those are more than half the body (kubectl's last-applied-configuration and
 * the managedFields entries). They are still checked for syntax and nesting. */
static bool review_keep(const char *const *path, unsigned depth, const char *key, void *ctx)
{
    (void)ctx;
    if (depth < 2 || depth > 4 || !is_key(path[0], "request") ||
        !(is_key(path[1], "object") || is_key(path[1], "oldObject")))
        return true;
    if (depth == 2)
        return strcmp(key, "status") != 0;
    if (!is_key(path[2], "metadata"))
        return true;
    if (depth == 3)
        return strcmp(key, "managedFields") != 0;
    return !is_key(path[3], "annotations") || strcmp(key, ANNOT_IMAGE_ARCHS) == 0;
}

/* A printable, bounded rendering of an unexpected value for an error message. */
static void describe_value(const cJSON *v, char *buf, size_t buflen)
{
    if (!v) {
        snprintf(buf, buflen, "nothing");
        return;
    }
    if (!cJSON_IsString(v) || !v->valuestring) {
        snprintf(buf, buflen, "a non-string");
        return;
    }
    const char *s = v->valuestring;
    size_t n = strlen(s), o = 0, i = 0;
    if (buflen < 8) {
        snprintf(buf, buflen, "?");
        return;
    }
    buf[o++] = '"';
    /* keep room for "...", the closing quote and the NUL */
    for (; i < n && o < buflen - 5; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[o++] = (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') ? '?' : (char)c;
    }
    if (i < n) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '"';
    buf[o] = '\0';
}

/* Field helpers. Each returns true when acceptable; on false `err` is set. JSON null counts
 * as absent for optional fields. */
static bool get_string(const cJSON *parent, const char *key, const char *path, bool required,
                       size_t maxlen, const char **out, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(parent, key);
    if (!v || (!required && cJSON_IsNull(v))) {
        if (required) {
            snprintf(err, errlen, "%s: missing", path);
            return false;
        }
        *out = "";
        return true;
    }
    if (!cJSON_IsString(v) || !v->valuestring) {
        snprintf(err, errlen, "%s: must be a string", path);
        return false;
    }
    if (strlen(v->valuestring) > maxlen) {
        snprintf(err, errlen, "%s: longer than %zu bytes", path, maxlen);
        return false;
    }
    *out = v->valuestring;
    return true;
}

static bool get_object(const cJSON *parent, const char *key, const char *path, bool required,
                       const cJSON **out, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(parent, key);
    *out = NULL;
    if (!v || (!required && cJSON_IsNull(v))) {
        if (required) {
            snprintf(err, errlen, "%s: missing", path);
            return false;
        }
        return true;
    }
    if (!cJSON_IsObject(v)) {
        snprintf(err, errlen, "%s: must be an object", path);
        return false;
    }
    *out = v;
    return true;
}

static enum operation parse_op(const char *s)
{
    if (strcmp(s, "CREATE") == 0)
        return OP_CREATE;
    if (strcmp(s, "UPDATE") == 0)
        return OP_UPDATE;
    if (strcmp(s, "DELETE") == 0)
        return OP_DELETE;
    if (strcmp(s, "CONNECT") == 0)
        return OP_CONNECT;
    return OP_OTHER;
}

/* The fields of `request`, root already checked. */
static bool decode_request(const cJSON *req, struct review_request *out, char *err, size_t errlen)
{
    const cJSON *uid = cJSON_GetObjectItemCaseSensitive(req, "uid");
    if (!uid) {
        snprintf(err, errlen, "request.uid: missing");
        return false;
    }
    if (!cJSON_IsString(uid) || !uid->valuestring) {
        snprintf(err, errlen, "request.uid: must be a string");
        return false;
    }
    if (uid->valuestring[0] == '\0') {
        snprintf(err, errlen, "request.uid: empty");
        return false;
    }
    if (strlen(uid->valuestring) > REVIEW_MAX_UID) {
        snprintf(err, errlen, "request.uid: longer than %d bytes", REVIEW_MAX_UID);
        return false;
    }
    out->uid = uid->valuestring;

    const cJSON *kind, *resource;
    if (!get_object(req, "kind", "request.kind", true, &kind, err, errlen))
        return false;
    if (!get_string(kind, "group", "request.kind.group", false, REVIEW_MAX_STRING, &out->group, err, errlen) ||
        !get_string(kind, "version", "request.kind.version", false, REVIEW_MAX_STRING, &out->version, err, errlen) ||
        !get_string(kind, "kind", "request.kind.kind", true, REVIEW_MAX_STRING, &out->kind, err, errlen))
        return false;
    if (!get_object(req, "resource", "request.resource", true, &resource, err, errlen))
        return false;
    if (!get_string(resource, "resource", "request.resource.resource", false, REVIEW_MAX_STRING,
                    &out->resource, err, errlen))
        return false;
    if (!get_string(req, "operation", "request.operation", true, REVIEW_MAX_STRING, &out->operation, err, errlen))
        return false;
    out->op = parse_op(out->operation);

    if (!get_string(req, "subResource", "request.subResource", false, REVIEW_MAX_STRING, &out->subresource, err, errlen) ||
        !get_string(req, "name", "request.name", false, REVIEW_MAX_STRING, &out->name, err, errlen) ||
        !get_string(req, "namespace", "request.namespace", false, REVIEW_MAX_STRING, &out->ns, err, errlen))
        return false;

    const cJSON *dry = cJSON_GetObjectItemCaseSensitive(req, "dryRun");
    if (dry && !cJSON_IsNull(dry)) {
        if (!cJSON_IsBool(dry)) {
            snprintf(err, errlen, "request.dryRun: must be a boolean");
            return false;
        }
        out->dry_run = cJSON_IsTrue(dry);
    }
    if (!get_object(req, "object", "request.object", false, &out->object, err, errlen) ||
        !get_object(req, "oldObject", "request.oldObject", false, &out->old_object, err, errlen))
        return false;
    return true;
}

enum ag_result review_decode(const char *body, size_t len, struct review_request *out,
                             char *err, size_t errlen)
{
    enum ag_result rc = AG_EINVAL;
    char scratch[1];
    if (!err || errlen == 0) {
        err = scratch;
        errlen = sizeof scratch;
    }
    err[0] = '\0';
    if (!out)
        return AG_EINVAL;
    memset(out, 0, sizeof *out);
    if (!body)
        len = 0;

    size_t first = 0;
    while (first < len && is_ws(body[first]))
        first++;
    if (first == len) {
        snprintf(err, errlen, "empty body");
        goto cleanup;
    }
    size_t at = 0;
    switch (json_parse(body, len, REVIEW_MAX_NESTING, review_keep, NULL, &out->root, &at)) {
    case JSON_PARSE_OK:
        break;
    case JSON_PARSE_DEPTH:
        snprintf(err, errlen, "JSON nests deeper than %d levels", REVIEW_MAX_NESTING);
        goto cleanup;
    case JSON_PARSE_NOMEM:
        rc = AG_ENOMEM;
        goto cleanup;
    case JSON_PARSE_NUL:
        snprintf(err, errlen, "a string holds \\u0000 near byte %zu, which archgate does not accept", at);
        goto cleanup;
    default:
        snprintf(err, errlen, "not valid JSON near byte %zu", at);
        goto cleanup;
    }

    const cJSON *root = out->root;
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "not a JSON object");
        goto cleanup;
    }
    char got[80];
    const cJSON *av = cJSON_GetObjectItemCaseSensitive(root, "apiVersion");
    if (!cJSON_IsString(av) || !av->valuestring || strcmp(av->valuestring, REVIEW_API_VERSION) != 0) {
        describe_value(av, got, sizeof got);
        snprintf(err, errlen, "apiVersion: %s required, got %s", REVIEW_API_VERSION, got);
        goto cleanup;
    }
    const cJSON *kv = cJSON_GetObjectItemCaseSensitive(root, "kind");
    if (!cJSON_IsString(kv) || !kv->valuestring || strcmp(kv->valuestring, REVIEW_KIND) != 0) {
        describe_value(kv, got, sizeof got);
        snprintf(err, errlen, "kind: %s required, got %s", REVIEW_KIND, got);
        goto cleanup;
    }
    const cJSON *req;
    if (!get_object(root, "request", "request", true, &req, err, errlen))
        goto cleanup;
    if (!decode_request(req, out, err, errlen))
        goto cleanup;

    rc = AG_OK;
cleanup:
    if (rc != AG_OK) {
        cJSON_Delete(out->root);
        memset(out, 0, sizeof *out);
    }
    return rc;
}

void review_free(struct review_request *r)
{
    if (!r)
        return;
    cJSON_Delete(r->root);
    memset(r, 0, sizeof *r);
}


static void jw_int(struct jsonw *w, int v)
{
    char num[16];
    snprintf(num, sizeof num, "%d", v);
    jsonw_raw(w, num);
}

/* "key":"value" preceded by a comma. */
static void jw_kv(struct jsonw *w, const char *key, const char *value)
{
    jsonw_raw(w, ",\"");
    jsonw_raw(w, key);
    jsonw_raw(w, "\":");
    jsonw_str(w, value);
}

static void write_response(struct jsonw *w, const char *uid, const struct verdict *v, const char *patch_b64)
{
    jsonw_raw(w, "{\"apiVersion\":\"" REVIEW_API_VERSION "\",\"kind\":\"" REVIEW_KIND "\",\"response\":{\"uid\":");
    jsonw_str(w, uid);
    jsonw_raw(w, v->allowed ? ",\"allowed\":true" : ",\"allowed\":false");
    if (!v->allowed) {
        jsonw_raw(w, ",\"status\":{\"code\":");
        jw_int(w, v->code ? v->code : 422);
        jw_kv(w, "reason", v->reason ? v->reason : "Invalid");
        jw_kv(w, "message", v->message ? v->message : "");
        jsonw_raw(w, ",\"details\":{");
        /* the first member carries no comma: write it by hand */
        bool first = true;
        const char *names[3] = { "name", "group", "kind" };
        const char *vals[3] = { v->details_name, v->details_group, v->details_kind };
        for (int i = 0; i < 3; i++) {
            if (!vals[i])
                continue;
            jsonw_raw(w, first ? "\"" : ",\"");
            jsonw_raw(w, names[i]);
            jsonw_raw(w, "\":");
            jsonw_str(w, vals[i]);
            first = false;
        }
        size_t nc = v->ncauses < VERDICT_MAX_CAUSES ? v->ncauses : VERDICT_MAX_CAUSES;
        if (nc > 0) {
            jsonw_raw(w, first ? "\"causes\":[" : ",\"causes\":[");
            for (size_t i = 0; i < nc; i++) {
                const struct cause *c = &v->causes[i];
                jsonw_raw(w, i ? ",{\"type\":" : "{\"type\":");
                jsonw_str(w, c->type ? c->type : "FieldValueInvalid");
                if (c->field)
                    jw_kv(w, "field", c->field);
                jw_kv(w, "message", c->message ? c->message : "");
                jsonw_raw(w, "}");
            }
            jsonw_raw(w, "]");
        }
        jsonw_raw(w, "}}");
    }
    if (patch_b64) {
        jsonw_raw(w, ",\"patchType\":\"JSONPatch\"");
        jw_kv(w, "patch", patch_b64);
    }
    size_t nw = v->nwarnings < VERDICT_MAX_WARNINGS ? v->nwarnings : VERDICT_MAX_WARNINGS;
    if (nw > 0) {
        jsonw_raw(w, ",\"warnings\":[");
        for (size_t i = 0; i < nw; i++) {
            if (i)
                jsonw_raw(w, ",");
            jsonw_str(w, v->warnings[i] ? v->warnings[i] : "");
        }
        jsonw_raw(w, "]");
    }
    jsonw_raw(w, "}}");
}

char *review_encode(const char *uid, const struct verdict *v, struct pool *pool)
{
    if (!v || !pool)
        return NULL;
    const char *patch_b64 = NULL;
    if (v->patch.n > 0) {
        char *pj = patch_to_json(&v->patch, pool);
        if (!pj)
            return NULL;
        patch_b64 = patch_base64(pj, strlen(pj), pool);
        if (!patch_b64)
            return NULL;
    }
    struct jsonw w = { NULL, 0 };
    write_response(&w, uid ? uid : "", v, patch_b64);
    size_t want = w.len;
    char *out = pool_alloc(pool, want + 1);
    if (!out)
        return NULL;
    w.buf = out;
    w.len = 0;
    write_response(&w, uid ? uid : "", v, patch_b64);
    if (w.len != want)
        return NULL;
    out[w.len] = '\0';
    return out;
}

static void write_error(struct jsonw *w, const char *uid, int code, const char *message)
{
    jsonw_raw(w, "{\"apiVersion\":\"" REVIEW_API_VERSION "\",\"kind\":\"" REVIEW_KIND "\",\"response\":{\"uid\":");
    jsonw_str(w, uid);
    jsonw_raw(w, ",\"allowed\":false,\"status\":{\"code\":");
    jw_int(w, code);
    jw_kv(w, "message", message);
    jsonw_raw(w, "}}}");
}

char *review_encode_error(const char *uid, int code, const char *message)
{
    if (!uid)
        uid = "";
    if (!message)
        message = "";
    struct jsonw w = { NULL, 0 };
    write_error(&w, uid, code, message);
    size_t want = w.len;
    char *out = mem_malloc(want + 1);
    if (!out)
        return NULL;
    w.buf = out;
    w.len = 0;
    write_error(&w, uid, code, message);
    out[want] = '\0';
    return out;
}
