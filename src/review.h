/* review.h - AdmissionReview v1: decode a request body, encode a response.
 *
 * Never trusts a field's presence or type. The decoded request owns its cJSON tree. */
#ifndef ARCHGATE_REVIEW_H
#define ARCHGATE_REVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>
#include "decide.h"
#include "pool.h"
#include "result.h"

#define REVIEW_MAX_NESTING 64    /* deeper JSON is refused: no real object nests this far */
#define REVIEW_MAX_STRING (1024 * 1024)  /* uid, kind and name fields longer than this are refused */

struct review_request {
    cJSON *root;                /* owned; freed by review_free */
    const char *uid;            /* never NULL after a successful decode */
    const char *group, *version, *kind;     /* request.kind */
    const char *resource;       /* request.resource.resource */
    const char *subresource;    /* "" when absent */
    const char *name, *ns;      /* "" when absent */
    const char *operation;      /* "CREATE", ... */
    enum operation op;
    const cJSON *object;        /* NULL when absent or null */
    const cJSON *old_object;
    bool dry_run;
};

/* Decode `len` bytes (not necessarily NUL-terminated). On AG_EINVAL `err` holds a one-line
 * reason for the 400 ("request.uid: missing"); AG_ENOMEM on allocation failure. */
enum ag_result review_decode(const char *body, size_t len, struct review_request *out,
                             char *err, size_t errlen);
void review_free(struct review_request *r);

/* Response AdmissionReview JSON for a verdict, in the pool (patch base64-encoded inside). */
char *review_encode(const char *uid, const struct verdict *v, struct pool *pool);

/* Response for an internal failure: allowed false, status code `code` and message. Uses only
 * the stack and one malloc'd string (caller frees with mem_free) so it works when a pool
 * cannot be made; NULL only if even that fails. */
char *review_encode_error(const char *uid, int code, const char *message);

#endif
