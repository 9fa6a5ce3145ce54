/* liststream.h - a Kubernetes List (or any JSON object with an array member) read item by item,
 * from bytes pushed in chunks of any size, so that the memory it takes is one item and the rest
 * of the document, whatever the number of items.
 *
 *   ls = liststream_new("items", max_item, max_rest, max_depth, on_item, ctx);
 *   liststream_feed(ls, chunk, n, ...)...;   on_item is called as each item completes
 *   liststream_finish(ls, &rest, &nitems, ...);  rest: the document with that array emptied
 *   liststream_free(ls);
 *
 * Only the array that is the member `member` of a top-level object is streamed; a document of
 * any other shape (an object without it, a top-level array) comes back whole in `rest`. The
 * whole document is checked as strictly as json_parse checks it, and nothing is accepted that
 * json_parse would refuse. Errors name the byte offset in the document. */
#ifndef ARCHGATE_LISTSTREAM_H
#define ARCHGATE_LISTSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>
#include "result.h"

/* One item (index from 0), valid only during the call: it lives in this thread's request arena
 * (mem.h), freed when the callback returns, so a callback that keeps it, or any cJSON made from
 * it, copies it with the arena paused (mem_arena_pause). Anything but AG_OK stops the reader,
 * and that result (with the callback's err) is what liststream_feed returns. */
typedef enum ag_result (*liststream_item_fn)(const cJSON *item, size_t index, void *ctx, char *err, size_t errlen);

struct liststream;

/* max_item: the largest item in bytes; max_rest: the largest rest; max_depth: nesting limit
 * (at most JSON_PARSE_MAX_DEPTH). NULL on allocation failure or a NULL member or callback. */
struct liststream *liststream_new(const char *member, size_t max_item, size_t max_rest, unsigned max_depth,
                                  liststream_item_fn fn, void *ctx);
void liststream_free(struct liststream *ls);      /* NULL is fine */

/* Push the next n bytes. AG_EINVAL (err: "not valid JSON near byte N", or nested too deeply),
 * AG_ETOOBIG (an item or the rest past its limit), AG_ENOMEM, or the callback's result. After
 * a failure every further call fails. */
enum ag_result liststream_feed(struct liststream *ls, const char *data, size_t n, char *err, size_t errlen);

/* The input has ended: parse the rest into *rest (caller cJSON_Deletes it); *nitems (optional)
 * is the number of items handed over. AG_EINVAL when the document is unfinished or not JSON. */
enum ag_result liststream_finish(struct liststream *ls, cJSON **rest, size_t *nitems, char *err, size_t errlen);

#endif
