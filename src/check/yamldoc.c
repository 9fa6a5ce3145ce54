/* yamldoc.c - YAML or JSON manifest text -> cJSON objects, one per document, with the limits and
 * refusals yamldoc.h lists. libyaml gives events; this module builds the tree, types plain
 * scalars as sigs.k8s.io/yaml (go-yaml v2) does, and finds duplicate keys with a hash set. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include "check/yamldoc.h"
#include "hash.h"
#include "jsonparse.h"
#include "mem.h"

#define YAML_TAG_STR "tag:yaml.org,2002:str"
#define YAML_TAG_BINARY "tag:yaml.org,2002:binary"

/* ---- plain scalar typing ---- */

static bool eq_any(const char *s, size_t len, const char *const *words)
{
    for (size_t i = 0; words[i]; i++)
        if (strlen(words[i]) == len && memcmp(s, words[i], len) == 0)
            return true;
    return false;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? (go-yaml's yamlStyleFloat) */
static bool is_yaml_float(const char *s)
{
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    } else {
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
        if (*p == '.') {
            p++;
            while (*p >= '0' && *p <= '9')
                p++;
        }
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+')
            p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == '\0';
}

/* Go's strconv.ParseInt(s, 0, 64) syntax (after go-yaml removed the underscores): a sign, then
 * 0x/0o/0b with digits, a leading 0 for octal, or decimal. *v gets the value as a double. */
static bool parse_go_int(const char *s, double *v)
{
    const char *p = s;
    bool neg = false;
    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    int base = 10;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    } else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B')) {
        base = 2;
        p += 2;
    } else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O')) {
        base = 8;
        p += 2;
    } else if (p[0] == '0' && p[1]) {
        base = 8;
        p += 1;
    }
    if (!*p)
        return false;
    for (const char *q = p; *q; q++) {
        int d = (*q >= '0' && *q <= '9') ? *q - '0' : (*q >= 'a' && *q <= 'f') ? *q - 'a' + 10
              : (*q >= 'A' && *q <= 'F') ? *q - 'A' + 10 : 99;
        if (d >= base)
            return false;
    }
    errno = 0;
    unsigned long long u = strtoull(p, NULL, base);
    if (errno == ERANGE)
        return false;       /* go-yaml then tries a float */
    *v = neg ? -(double)u : (double)u;
    return true;
}

cJSON *yamldoc_plain_scalar(const char *s, size_t len, int *bad)
{
    static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };
    static const char *const trues[] = { "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE", NULL };
    static const char *const falses[] = { "n", "N", "no", "No", "NO", "off", "Off", "OFF", "false", "False", "FALSE", NULL };
    static const char *const specials[] = { ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf",
                                            "-.INF", ".nan", ".NaN", ".NAN", NULL };
    *bad = 0;
    if (eq_any(s, len, nulls))
        return cJSON_CreateNull();
    if (eq_any(s, len, trues))
        return cJSON_CreateTrue();
    if (eq_any(s, len, falses))
        return cJSON_CreateFalse();
    if (eq_any(s, len, specials)) {
        *bad = 1;
        return NULL;
    }
    char c = len ? s[0] : 0;
    if (len < 64 && ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.')) {
        char plain[64];
        size_t n = 0;
        for (size_t i = 0; i < len; i++)
            if (s[i] != '_')
                plain[n++] = s[i];
        plain[n] = '\0';
        double v;
        if (parse_go_int(plain, &v))
            return cJSON_CreateNumber(v);
        if (is_yaml_float(plain)) {
            errno = 0;
            v = strtod(plain, NULL);
            if (errno != ERANGE)
                return cJSON_CreateNumber(v);
        }
    }
    char *copy = mem_strndup(s, len);
    if (!copy)
        return NULL;
    cJSON *str = cJSON_CreateString(copy);
    mem_free(copy);
    return str;
}

/* ---- duplicate keys: a set of (mapping, key) for the current document ---- */

struct keyset {
    struct { const cJSON *map; const char *key; } *slots;
    size_t cap, n;
};

static uint64_t key_hash(const cJSON *map, const char *key)
{
    uintptr_t m = (uintptr_t)map;
    return hash_fnv1a(hash_str(key), &m, sizeof m);
}

static bool keyset_has(const struct keyset *ks, const cJSON *map, const char *key)
{
    if (!ks->cap)
        return false;
    for (size_t i = key_hash(map, key) & (ks->cap - 1);; i = (i + 1) & (ks->cap - 1)) {
        if (!ks->slots[i].map)
            return false;
        if (ks->slots[i].map == map && strcmp(ks->slots[i].key, key) == 0)
            return true;
    }
}

static bool keyset_put(struct keyset *ks, const cJSON *map, const char *key)
{
    if ((ks->n + 1) * 2 > ks->cap) {
        size_t ncap = ks->cap ? ks->cap * 2 : 64;
        void *ns = mem_calloc(ncap, sizeof ks->slots[0]);
        if (!ns)
            return false;
        struct keyset old = *ks;
        ks->slots = ns;
        ks->cap = ncap;
        ks->n = 0;
        for (size_t i = 0; i < old.cap; i++)
            if (old.slots[i].map && !keyset_put(ks, old.slots[i].map, old.slots[i].key))
                return false;   /* cannot happen: the new table has room */
        mem_free(old.slots);
    }
    size_t i = key_hash(map, key) & (ks->cap - 1);
    while (ks->slots[i].map)
        i = (i + 1) & (ks->cap - 1);
    ks->slots[i].map = map;
    ks->slots[i].key = key;
    ks->n++;
    return true;
}

static void keyset_clear(struct keyset *ks)
{
    mem_free(ks->slots);
    memset(ks, 0, sizeof *ks);
}

/* ---- the YAML event loop ---- */

struct frame {
    cJSON *node;
    char *key;          /* mapping: the key waiting for its value (mem_malloc'd), else NULL */
    yaml_mark_t key_mark;
};

struct builder {
    const struct yamldoc_limits *lim;
    struct frame *stack;
    unsigned depth;
    cJSON *root;
    bool have_root;
    size_t nodes;
    struct keyset keys;
    char *err;
    size_t errlen;
};

static enum ag_result at(struct builder *b, yaml_mark_t m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum ag_result at(struct builder *b, yaml_mark_t m, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(b->err, b->errlen, "line %zu, column %zu: %s", m.line + 1, m.column + 1, what);
    return AG_EINVAL;
}

/* A printable, bounded copy of a key for messages. */
static const char *show_key(const char *k, char *buf, size_t len)
{
    size_t o = 0;
    for (; *k && o + 4 < len; k++)
        buf[o++] = ((unsigned char)*k < 0x20 || *k == 0x7f) ? '?' : *k;
    if (*k)
        memcpy(buf + o, "...", 3), o += 3;
    buf[o] = '\0';
    return buf;
}

/* Put a finished (scalar or new container) node where it belongs; takes ownership. */
static enum ag_result attach(struct builder *b, cJSON *node, yaml_mark_t m)
{
    if (++b->nodes > b->lim->max_nodes) {
        cJSON_Delete(node);
        return at(b, m, "more than %zu values in one file", b->lim->max_nodes);
    }
    if (b->depth == 0) {
        b->root = node;
        b->have_root = true;
        return AG_OK;
    }
    struct frame *top = &b->stack[b->depth - 1];
    if (cJSON_IsArray(top->node)) {
        cJSON_AddItemToArray(top->node, node);
        return AG_OK;
    }
    /* a mapping value: its key is pending (the add says whether it took the node: counting the
     * members instead made a mapping of n keys cost n^2) */
    bool added = cJSON_AddItemToObject(top->node, top->key, node);
    mem_free(top->key);
    top->key = NULL;
    if (!added) {
        cJSON_Delete(node);
        return AG_ENOMEM;
    }
    if (!keyset_put(&b->keys, top->node, node->string))
        return AG_ENOMEM;
    return AG_OK;
}

static enum ag_result on_scalar(struct builder *b, const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    bool as_string = !plain || (tag && (strcmp(tag, YAML_TAG_STR) == 0 || strcmp(tag, YAML_TAG_BINARY) == 0 ||
                                        strcmp(tag, "!") == 0));
    if (memchr(v, '\0', len))
        return at(b, ev->start_mark, "a string holds a NUL character");
    struct frame *top = b->depth ? &b->stack[b->depth - 1] : NULL;
    if (top && cJSON_IsObject(top->node) && !top->key) {
        /* a mapping key: kept as text, but a plain key typed bool or number is written as
         * sigs.k8s.io/yaml writes it ("true", "1") */
        char *key = NULL;
        if (plain && len == 2 && memcmp(v, "<<", 2) == 0)
            return at(b, ev->start_mark, "merge keys (<<) are not supported");
        if (!as_string) {
            int bad;
            cJSON *k = yamldoc_plain_scalar(v, len, &bad);
            if (!k && !bad)
                return AG_ENOMEM;
            if (k && cJSON_IsBool(k))
                key = mem_strdup(cJSON_IsTrue(k) ? "true" : "false");
            else if (k && cJSON_IsNumber(k)) {
                char num[64];
                double d = k->valuedouble;
                if (d > -9e18 && d < 9e18 && d == (double)(long long)d)
                    snprintf(num, sizeof num, "%lld", (long long)d);
                else    /* the shortest text that reads back the same, as Go's 'g', -1 */
                    for (int prec = 1; prec <= 17; prec++) {
                        snprintf(num, sizeof num, "%.*g", prec, d);
                        if (strtod(num, NULL) == d)
                            break;
                    }
                key = mem_strdup(num);
            } else
                key = mem_strndup(v, len);
            cJSON_Delete(k);
        } else {
            key = mem_strndup(v, len);
        }
        if (!key)
            return AG_ENOMEM;
        if (keyset_has(&b->keys, top->node, key)) {
            char shown[96];
            enum ag_result r = at(b, ev->start_mark, "duplicate key \"%s\"", show_key(key, shown, sizeof shown));
            mem_free(key);
            return r;
        }
        top->key = key;
        top->key_mark = ev->start_mark;
        return AG_OK;
    }
    cJSON *node;
    if (as_string) {
        char *copy = mem_strndup(v, len);
        node = copy ? cJSON_CreateString(copy) : NULL;
        mem_free(copy);
    } else {
        int bad = 0;
        node = yamldoc_plain_scalar(v, len, &bad);
        if (bad)
            return at(b, ev->start_mark, "%.40s: infinity and NaN have no JSON form", v);
    }
    if (!node)
        return AG_ENOMEM;
    return attach(b, node, ev->start_mark);
}

static enum ag_result on_open(struct builder *b, const yaml_event_t *ev, bool map)
{
    struct frame *top = b->depth ? &b->stack[b->depth - 1] : NULL;
    if (top && cJSON_IsObject(top->node) && !top->key)
        return at(b, ev->start_mark, "a mapping key must be a scalar, not a %s", map ? "mapping" : "sequence");
    if (b->depth >= b->lim->max_depth) {
        return at(b, ev->start_mark, "nested deeper than %u levels", b->lim->max_depth);
    }
    cJSON *node = map ? cJSON_CreateObject() : cJSON_CreateArray();
    if (!node)
        return AG_ENOMEM;
    enum ag_result r = attach(b, node, ev->start_mark);
    if (r != AG_OK)
        return r;
    b->stack[b->depth].node = node;
    b->stack[b->depth].key = NULL;
    b->depth++;
    return AG_OK;
}

static void builder_reset(struct builder *b)
{
    for (unsigned i = 0; i < b->depth; i++) {
        mem_free(b->stack[i].key);
        b->stack[i].key = NULL;
    }
    b->depth = 0;
    cJSON_Delete(b->root);
    b->root = NULL;
    b->have_root = false;
    keyset_clear(&b->keys);
}

static enum ag_result parse_yaml(const char *buf, size_t len, const struct yamldoc_limits *lim, yamldoc_fn fn,
                                 void *ctx, char *err, size_t errlen)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    struct builder b = { .lim = lim, .err = err, .errlen = errlen };
    enum ag_result r = AG_OK;
    size_t docs = 0;
    unsigned doc_line = 1;

    b.stack = mem_calloc(lim->max_depth + 1, sizeof *b.stack);
    if (!b.stack)
        return AG_ENOMEM;
    if (!yaml_parser_initialize(&parser)) {
        mem_free(b.stack);
        return AG_ENOMEM;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    for (bool done = false; !done && r == AG_OK;) {
        if (!yaml_parser_parse(&parser, &ev)) {
            if (parser.error == YAML_MEMORY_ERROR) {
                r = AG_ENOMEM;
                break;
            }
            yaml_mark_t m = parser.problem_mark;
            if (m.index < len && buf[m.index] == '\t' && parser.problem && strstr(parser.problem, "cannot start"))
                snprintf(err, errlen, "line %zu, column %zu: a tab character (YAML indents with spaces only)",
                         m.line + 1, m.column + 1);
            else if (parser.context)
                snprintf(err, errlen, "line %zu, column %zu: %s %s", m.line + 1, m.column + 1,
                         parser.problem ? parser.problem : "syntax error", parser.context);
            else
                snprintf(err, errlen, "line %zu, column %zu: %s", m.line + 1, m.column + 1,
                         parser.problem ? parser.problem : "syntax error");
            r = AG_EINVAL;
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (docs >= lim->max_docs) {
                r = at(&b, ev.start_mark, "more than %zu documents in one file", lim->max_docs);
            }
            docs++;
            break;
        case YAML_DOCUMENT_END_EVENT:
            if (b.have_root && b.root && !cJSON_IsNull(b.root)) {
                cJSON *doc = b.root;
                b.root = NULL;
                b.have_root = false;
                keyset_clear(&b.keys);
                r = fn(doc, docs - 1, doc_line, ctx);
            }
            builder_reset(&b);
            break;
        case YAML_ALIAS_EVENT:
            r = at(&b, ev.start_mark, "alias *%s: anchors and aliases are not supported", (const char *)ev.data.alias.anchor);
            break;
        case YAML_SCALAR_EVENT:
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
            const yaml_char_t *anchor = ev.type == YAML_SCALAR_EVENT ? ev.data.scalar.anchor
                                       : ev.type == YAML_SEQUENCE_START_EVENT ? ev.data.sequence_start.anchor
                                       : ev.data.mapping_start.anchor;
            if (anchor) {
                r = at(&b, ev.start_mark, "anchor &%s: anchors and aliases are not supported", (const char *)anchor);
                break;
            }
            if (b.depth == 0)
                doc_line = (unsigned)ev.start_mark.line + 1;
            if (ev.type == YAML_SCALAR_EVENT)
                r = on_scalar(&b, &ev);
            else
                r = on_open(&b, &ev, ev.type == YAML_MAPPING_START_EVENT);
            break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (b.depth)
                b.depth--;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    builder_reset(&b);
    yaml_parser_delete(&parser);
    mem_free(b.stack);
    return r;
}

/* ---- JSON text ---- */

/* Count values and find duplicate keys in a parsed JSON tree (no positions: JSON trees have none). */
static enum ag_result walk_json(const cJSON *n, struct keyset *ks, size_t *count, size_t max, const char *path,
                                char *err, size_t errlen)
{
    if (++*count > max) {
        snprintf(err, errlen, "more than %zu values in one file", max);
        return AG_EINVAL;
    }
    for (const cJSON *c = n->child; c; c = c->next) {
        char sub[256];
        if (cJSON_IsObject(n)) {
            if (keyset_has(ks, n, c->string)) {
                char shown[96];
                snprintf(err, errlen, "%s: duplicate key \"%s\"", path[0] ? path : "(top level)",
                         show_key(c->string, shown, sizeof shown));
                return AG_EINVAL;
            }
            if (!keyset_put(ks, n, c->string))
                return AG_ENOMEM;
            snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", c->string);
        } else {
            snprintf(sub, sizeof sub, "%s[]", path);
        }
        enum ag_result r = walk_json(c, ks, count, max, sub, err, errlen);
        if (r != AG_OK)
            return r;
    }
    return AG_OK;
}

static enum ag_result parse_json(const char *buf, size_t len, const struct yamldoc_limits *lim, yamldoc_fn fn,
                                 void *ctx, char *err, size_t errlen)
{
    cJSON *root = NULL;
    size_t at_off = 0;
    unsigned depth = lim->max_depth < JSON_PARSE_MAX_DEPTH ? lim->max_depth : JSON_PARSE_MAX_DEPTH;
    enum json_parse_result pr = json_parse(buf, len, depth, NULL, NULL, &root, &at_off);
    if (pr == JSON_PARSE_NOMEM)
        return AG_ENOMEM;
    if (pr != JSON_PARSE_OK) {
        size_t line = 1, col = 1;
        for (size_t i = 0; i < at_off && i < len; i++) {
            if (buf[i] == '\n') {
                line++;
                col = 1;
            } else if (((unsigned char)buf[i] & 0xC0) != 0x80) {
                col++;
            }
        }
        snprintf(err, errlen, "line %zu, column %zu: %s", line, col,
                 pr == JSON_PARSE_DEPTH ? "JSON nested too deeply"
                 : pr == JSON_PARSE_NUL ? "a JSON string holds \\u0000" : "not valid JSON");
        return AG_EINVAL;
    }
    struct keyset ks = { 0 };
    size_t count = 0;
    enum ag_result r = walk_json(root, &ks, &count, lim->max_nodes, "", err, errlen);
    keyset_clear(&ks);
    if (r != AG_OK) {
        cJSON_Delete(root);
        return r;
    }
    if (cJSON_IsNull(root)) {
        cJSON_Delete(root);
        return AG_OK;
    }
    unsigned line = 1;
    for (size_t i = 0; i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' || buf[i] == '\r'); i++)
        line += buf[i] == '\n';
    return fn(root, 0, line, ctx);
}

enum ag_result yamldoc_parse(const char *buf, size_t len, const struct yamldoc_limits *lim, yamldoc_fn fn,
                             void *ctx, char *err, size_t errlen)
{
    static const struct yamldoc_limits defaults = { YAMLDOC_MAX_DEPTH, YAMLDOC_MAX_NODES, YAMLDOC_MAX_DOCS };
    if (!lim)
        lim = &defaults;
    if (err && errlen)
        err[0] = '\0';
    size_t i = 0;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    size_t start = i;
    while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' || buf[i] == '\r'))
        i++;
    if (i < len && (buf[i] == '{' || buf[i] == '['))
        return parse_json(buf + start, len - start, lim, fn, ctx, err, errlen);
    return parse_yaml(buf, len, lim, fn, ctx, err, errlen);
}
