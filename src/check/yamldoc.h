/* yamldoc.h - YAML or JSON manifest text -> one cJSON object per document, as Kubernetes reads
 * it (sigs.k8s.io/yaml: YAML 1.1 plain-scalar typing, then JSON), with limits.
 *
 * Text whose first non-blank character is '{' or '[' is read as one strict JSON value (as
 * kubectl sniffs JSON); anything else is a YAML stream of documents separated by "---".
 * Refused, with "line L, column C: what": syntax errors, duplicate mapping keys, anchors and
 * aliases (no alias bombs), merge keys (<<), non-scalar keys, strings holding NUL, .inf/.nan
 * (JSON has no such number), nesting deeper than max_depth, more than max_nodes values, more
 * than max_docs documents. Empty documents (only comments, or a bare "---") are skipped. */
#ifndef ARCHGATE_CHECK_YAMLDOC_H
#define ARCHGATE_CHECK_YAMLDOC_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include "result.h"

#define YAMLDOC_MAX_DEPTH 60            /* objects and arrays; a review wraps the object in 2 more */
#define YAMLDOC_MAX_NODES 1000000       /* values per file */
#define YAMLDOC_MAX_DOCS 10000          /* documents per file */

struct yamldoc_limits {
    unsigned max_depth;
    size_t max_nodes;
    size_t max_docs;
};

/* Called once per non-empty document, in order: `doc` is owned by the callee (cJSON_Delete it),
 * `index` counts documents from 0 (empty ones included, as "---" separators count them), `line`
 * is the 1-based line where the document's value starts. A result other than AG_OK stops the
 * parse and is returned. */
typedef enum ag_result (*yamldoc_fn)(cJSON *doc, size_t index, unsigned line, void *ctx);

/* Parse `len` bytes (no NUL needed). `lim` NULL: the defaults above. AG_EINVAL with `err` set to
 * "line L, column C: what" on unusable text; AG_ENOMEM; or what `fn` returned. */
enum ag_result yamldoc_parse(const char *buf, size_t len, const struct yamldoc_limits *lim, yamldoc_fn fn,
                             void *ctx, char *err, size_t errlen);

/* How a plain (unquoted, untagged) YAML scalar is typed: a new cJSON null, bool, number or
 * string. *bad is set (and NULL returned) for .inf and .nan. Exposed for the tests. */
cJSON *yamldoc_plain_scalar(const char *s, size_t len, int *bad);

#endif
