/* liststream.c - a Kubernetes List read item by item: bytes pushed in any chunks, each element of
 * the top-level object's "items" array parsed (strictly, by jsonparse) and handed over as soon as
 * its closing byte arrives, then freed. What is kept is one item and the rest of the document,
 * never the whole list: the memory a 5,000-node List needs is that of one node.
 *
 * A byte scanner follows strings (and their escapes) and nesting to find where each element
 * starts and ends; it checks the separators between elements. Everything else is checked by the
 * strict parser: each element on its own, and the rest of the document with the array emptied
 * ("items":[]). So a document is accepted exactly when json_parse would accept it whole. */
#include <stdio.h>
#include <string.h>
#include "liststream.h"
#include "jsonparse.h"
#include "mem.h"

enum where {
    W_REST,         /* outside the streamed array: bytes go to the rest */
    W_ARR_START,    /* just after the array's '[' */
    W_ARR_NEXT,     /* after a ',' between elements */
    W_ARR_AFTER,    /* after an element */
    W_ELEM,         /* inside an element: bytes go to the element */
};

struct buf { char *p; size_t len, cap, max; };

struct liststream {
    const char *member;
    size_t member_len;
    liststream_item_fn fn;
    void *ctx;
    unsigned max_depth;

    unsigned long long off;     /* offset of the next byte */
    enum where where;
    unsigned depth;             /* open objects and arrays, the streamed array included */
    bool in_str, esc;
    int root;                   /* first non-space byte of the document, 0 before it */

    /* A string at depth 1 that may be the member's key: its bytes so far (only while they
     * still match), then whether a ':' followed it. */
    bool key_open, key_match, key_done, key_colon;
    size_t key_len;

    /* The element being read. */
    unsigned elem_depth;        /* depth at which it started (the array's) */
    char elem_kind;             /* '{', '[', '"' or 'b' (a bare literal or number) */
    unsigned long long elem_off;
    struct buf elem, rest;
    size_t rest_cut;            /* length of the rest just after the streamed array's ']' */
    unsigned long long doc_cut; /* offset in the document just after it */
    size_t items;
    bool failed;
};

/* Append: AG_OK, AG_ETOOBIG past the buffer's limit, AG_ENOMEM. */
static enum ag_result buf_put(struct buf *b, const char *s, size_t n)
{
    if (n > b->max - b->len)
        return AG_ETOOBIG;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = mem_realloc(b->p, cap);
        if (!p)
            return AG_ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return AG_OK;
}

struct liststream *liststream_new(const char *member, size_t max_item, size_t max_rest, unsigned max_depth,
                                  liststream_item_fn fn, void *ctx)
{
    if (!member || !fn)
        return NULL;
    struct liststream *ls = mem_calloc(1, sizeof *ls);
    if (!ls)
        return NULL;
    ls->member = member;
    ls->member_len = strlen(member);
    ls->fn = fn;
    ls->ctx = ctx;
    ls->max_depth = max_depth < JSON_PARSE_MAX_DEPTH ? max_depth : JSON_PARSE_MAX_DEPTH;
    ls->elem.max = max_item;
    ls->rest.max = max_rest;
    return ls;
}

void liststream_free(struct liststream *ls)
{
    if (!ls)
        return;
    mem_free(ls->elem.p);
    mem_free(ls->rest.p);
    mem_free(ls);
}

static enum ag_result syntax(struct liststream *ls, unsigned long long at, char *err, size_t errlen)
{
    snprintf(err, errlen, "not valid JSON near byte %llu", at);
    ls->failed = true;
    return AG_EINVAL;
}

/* Append to b, or fail the reader with a message that says which limit was passed. */
static enum ag_result put(struct liststream *ls, struct buf *b, const char *s, size_t n, char *err, size_t errlen)
{
    enum ag_result r = buf_put(b, s, n);
    if (r == AG_OK)
        return AG_OK;
    ls->failed = true;
    if (r == AG_ENOMEM)
        snprintf(err, errlen, "out of memory");
    else if (b == &ls->elem)
        snprintf(err, errlen, "an item of %s larger than %zu bytes (it starts at byte %llu)", ls->member, b->max,
                 ls->elem_off);
    else
        snprintf(err, errlen, "larger than %zu bytes outside its %s", b->max, ls->member);
    return r;
}

static enum ag_result too_deep(struct liststream *ls, char *err, size_t errlen)
{
    snprintf(err, errlen, "nested deeper than %u near byte %llu", ls->max_depth, ls->off);
    ls->failed = true;
    return AG_EINVAL;
}

/* A whole element is in ls->elem: parse it, hand it over, free it. The item's tree lives in
 * this thread's request arena, released at once when the callback returns: its thousands of
 * small values never fragment the heap between the objects the caller keeps. */
static enum ag_result elem_done(struct liststream *ls, char *err, size_t errlen)
{
    cJSON *item = NULL;
    size_t at = 0;
    unsigned depth = ls->max_depth > 2 ? ls->max_depth - 2 : 1;
    mem_arena_begin();
    enum json_parse_result pr = json_parse(ls->elem.p ? ls->elem.p : "", ls->elem.len, depth, NULL, NULL, &item, &at);
    enum ag_result r = AG_OK;
    switch (pr) {
    case JSON_PARSE_OK:
        r = ls->fn(item, ls->items, ls->ctx, err, errlen);
        cJSON_Delete(item);
        ls->items++;
        ls->elem.len = 0;
        if (r != AG_OK)
            ls->failed = true;
        break;
    case JSON_PARSE_NOMEM:
        snprintf(err, errlen, "out of memory");
        ls->failed = true;
        r = AG_ENOMEM;
        break;
    case JSON_PARSE_DEPTH:
        r = too_deep(ls, err, errlen);
        break;
    default:
        r = syntax(ls, ls->elem_off + at, err, errlen);
        break;
    }
    mem_arena_end();
    return r;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* Follow strings and nesting for one byte outside the array's own separators. Returns false
 * when the nesting limit is passed. */
static bool track(struct liststream *ls, char c)
{
    if (ls->in_str) {
        if (ls->esc)
            ls->esc = false;
        else if (c == '\\')
            ls->esc = true;
        else if (c == '"')
            ls->in_str = false;
        return true;
    }
    if (c == '"') {
        ls->in_str = true;
    } else if (c == '{' || c == '[') {
        if (++ls->depth > ls->max_depth)
            return false;
    } else if ((c == '}' || c == ']') && ls->depth > 0) {
        ls->depth--;
    }
    return true;
}

/* One byte outside the streamed array: to the rest, watching for `"<member>" : [` at depth 1. */
static enum ag_result rest_byte(struct liststream *ls, char c, char *err, size_t errlen)
{
    enum ag_result r = put(ls, &ls->rest, &c, 1, err, errlen);
    if (r != AG_OK)
        return r;
    if (!ls->root && !is_space(c))
        ls->root = c;
    if (ls->key_open) {
        /* inside a string at depth 1 */
        if (ls->esc || c == '\\') {
            ls->key_match = false;      /* an escaped key is never streamed; it is parsed whole */
        } else if (c == '"') {
            ls->key_open = false;
            ls->key_done = ls->key_match && ls->key_len == ls->member_len;
            ls->key_colon = false;
        } else if (ls->key_match) {
            ls->key_match = ls->key_len < ls->member_len && ls->member[ls->key_len] == c;
            ls->key_len++;
        }
    } else if (ls->key_done && !is_space(c)) {
        if (!ls->key_colon && c == ':') {
            ls->key_colon = true;
            return AG_OK;
        }
        if (ls->key_colon && c == '[' && ls->depth == 1 && ls->root == '{') {
            ls->key_done = false;
            if (++ls->depth > ls->max_depth)
                return too_deep(ls, err, errlen);
            ls->where = W_ARR_START;
            return AG_OK;
        }
        ls->key_done = false;
    }
    bool was_str = ls->in_str;
    if (!track(ls, c))
        return too_deep(ls, err, errlen);
    if (!was_str && ls->in_str && ls->depth == 1 && ls->root == '{') {
        ls->key_open = true;
        ls->key_match = true;
        ls->key_len = 0;
        ls->key_done = false;
    }
    return AG_OK;
}

static enum ag_result step(struct liststream *ls, char c, char *err, size_t errlen)
{
    switch (ls->where) {
    case W_REST:
        return rest_byte(ls, c, err, errlen);
    case W_ARR_START:
    case W_ARR_NEXT:
    case W_ARR_AFTER:
        if (is_space(c))
            return AG_OK;
        if (ls->where == W_ARR_AFTER) {
            if (c == ',') {
                ls->where = W_ARR_NEXT;
                return AG_OK;
            }
            if (c != ']')
                return syntax(ls, ls->off, err, errlen);
        }
        if (c == ']') {
            if (ls->where == W_ARR_NEXT)
                return syntax(ls, ls->off, err, errlen);    /* a trailing comma */
            /* the array ends: the rest holds it empty */
            ls->depth--;
            ls->where = W_REST;
            enum ag_result r = put(ls, &ls->rest, "]", 1, err, errlen);
            ls->rest_cut = ls->rest.len;
            ls->doc_cut = ls->off + 1;
            return r;
        }
        if (c == ',')
            return syntax(ls, ls->off, err, errlen);
        /* an element starts */
        ls->where = W_ELEM;
        ls->elem_depth = ls->depth;
        ls->elem_off = ls->off;
        ls->elem.len = 0;
        ls->elem_kind = (c == '{' || c == '[' || c == '"') ? c : 'b';
        if (ls->elem_kind == 'b')
            break;
        enum ag_result r = put(ls, &ls->elem, &c, 1, err, errlen);
        if (r != AG_OK)
            return r;
        return track(ls, c) ? AG_OK : too_deep(ls, err, errlen);
    case W_ELEM:
        break;
    }
    /* inside an element */
    if (ls->elem_kind == 'b' && (c == ',' || c == ']' || is_space(c))) {
        enum ag_result r = elem_done(ls, err, errlen);
        if (r != AG_OK)
            return r;
        ls->where = W_ARR_AFTER;
        return step(ls, c, err, errlen);
    }
    enum ag_result r = put(ls, &ls->elem, &c, 1, err, errlen);
    if (r != AG_OK)
        return r;
    if (!track(ls, c))
        return too_deep(ls, err, errlen);
    bool closed = ls->elem_kind == '"' ? !ls->in_str : (ls->depth == ls->elem_depth && !ls->in_str);
    if (ls->elem_kind != 'b' && closed) {
        if ((r = elem_done(ls, err, errlen)) != AG_OK)
            return r;
        ls->where = W_ARR_AFTER;
    }
    return AG_OK;
}

enum ag_result liststream_feed(struct liststream *ls, const char *data, size_t n, char *err, size_t errlen)
{
    if (!ls || ls->failed || (!data && n)) {
        snprintf(err, errlen, "list reader used after a failure");
        return AG_EINVAL;
    }
    for (size_t i = 0; i < n; i++, ls->off++) {
        enum ag_result r = step(ls, data[i], err, errlen);
        if (r != AG_OK)
            return r;
    }
    return AG_OK;
}

enum ag_result liststream_finish(struct liststream *ls, cJSON **rest, size_t *nitems, char *err, size_t errlen)
{
    *rest = NULL;
    if (nitems)
        *nitems = ls ? ls->items : 0;
    if (!ls || ls->failed) {
        snprintf(err, errlen, "list reader used after a failure");
        return AG_EINVAL;
    }
    if (ls->where == W_ELEM && ls->elem_kind == 'b') {
        /* a bare element cut short by the end of input: the document is unfinished anyway */
        return syntax(ls, ls->off, err, errlen);
    }
    if (ls->where != W_REST)
        return syntax(ls, ls->off, err, errlen);
    size_t at = 0;
    cJSON *j = NULL;
    ls->failed = true;      /* finished: any later call is a misuse */
    switch (json_parse(ls->rest.p ? ls->rest.p : "", ls->rest.len, ls->max_depth, NULL, NULL, &j, &at)) {
    case JSON_PARSE_OK:
        break;
    case JSON_PARSE_NOMEM:
        snprintf(err, errlen, "out of memory");
        return AG_ENOMEM;
    case JSON_PARSE_DEPTH:
        snprintf(err, errlen, "nested deeper than %u", ls->max_depth);
        return AG_EINVAL;
    default:
        /* An offset in the rest is one in the document up to the streamed array; after it, the
         * array's bytes that the rest does not hold are added back. */
        snprintf(err, errlen, "not valid JSON near byte %llu",
                 ls->rest_cut && at >= ls->rest_cut ? at - ls->rest_cut + ls->doc_cut : (unsigned long long)at);
        return AG_EINVAL;
    }
    *rest = j;
    return AG_OK;
}
