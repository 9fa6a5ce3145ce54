/* patch.h - RFC 6902 JSON Patch building and encoding, RFC 6901 pointer escaping, base64. */
#ifndef ARCHGATE_PATCH_H
#define ARCHGATE_PATCH_H

#include <stddef.h>
#include <stdbool.h>
#include "pool.h"
#include "result.h"

enum patch_opkind { PATCH_ADD, PATCH_REPLACE };

/* One operation. The value is a string, or (map_key != NULL) the object {map_key: value}. */
struct patch_op {
    enum patch_opkind op;
    const char *path;       /* an escaped JSON pointer */
    const char *map_key;
    const char *value;
};

#define PATCH_MAX_OPS 16
struct patch {
    struct patch_op ops[PATCH_MAX_OPS];
    size_t n;
};

/* Append an op; AG_ETOOBIG past PATCH_MAX_OPS. Strings are borrowed. */
enum ag_result patch_add(struct patch *p, enum patch_opkind op, const char *path,
                         const char *map_key, const char *value);

/* `base` + "/" + escaped(segment) into the pool ("~" -> "~0", "/" -> "~1"). NULL on failure. */
char *patch_pointer_join(struct pool *pool, const char *base, const char *segment);

/* The patch as JSON text ("[{"op":"add",...}]"), in the pool. NULL on failure. */
char *patch_to_json(const struct patch *p, struct pool *pool);

/* Standard base64 (with padding) of `len` bytes, NUL-terminated, in the pool. */
char *patch_base64(const void *data, size_t len, struct pool *pool);
/* Decode standard base64; false on malformed input. *out is in the pool, NUL-terminated. */
bool patch_base64_decode(const char *b64, struct pool *pool, char **out, size_t *outlen);


#endif
