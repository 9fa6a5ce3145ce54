/* fuzz_yaml.c - libFuzzer target: manifest text (YAML or JSON) -> cJSON documents (yamldoc), the
 * path `archgate check` reads every file through. Checked, aborting on a violation:
 *  - the result is AG_OK, AG_EINVAL (with a one-line "line L, column C: ..." message, or a
 *    JSON key path for a duplicate in JSON text) or AG_ENOMEM, never anything else;
 *  - every document handed over is non-NULL, not JSON null, nests at most YAMLDOC_MAX_DEPTH
 *    deep, has no two equal keys in one object, holds no string with a NUL cut short, and
 *    prints as JSON that parses back to an equal tree;
 *  - document indexes increase and lines never go backwards;
 *  - nothing leaks (libFuzzer's leak check). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "check/yamldoc.h"
#include "log.h"
#include "mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_yaml: invariant violated: %s\n", what);
    abort();
}

static unsigned depth_of(const cJSON *n)
{
    unsigned d = 0;
    for (const cJSON *c = n->child; c; c = c->next) {
        unsigned cd = depth_of(c);
        if (cd > d)
            d = cd;
    }
    return (cJSON_IsObject(n) || cJSON_IsArray(n)) ? d + 1 : 0;
}

static void check_keys(const cJSON *n)
{
    for (const cJSON *c = n->child; c; c = c->next) {
        if (cJSON_IsObject(n)) {
            if (!c->string)
                fail("object member without a key");
            for (const cJSON *o = c->next; o; o = o->next)
                if (strcmp(o->string, c->string) == 0)
                    fail("duplicate key kept");
        }
        if (cJSON_IsString(c) && !c->valuestring)
            fail("string without a value");
        check_keys(c);
    }
}

struct seen {
    long last_index;
    unsigned last_line;
};

static enum ag_result on_doc(cJSON *doc, size_t index, unsigned line, void *ctx)
{
    struct seen *s = ctx;
    if (!doc || cJSON_IsNull(doc))
        fail("null document handed over");
    if ((long)index <= s->last_index || line < s->last_line || line == 0)
        fail("document order");
    s->last_index = (long)index;
    s->last_line = line;
    if (depth_of(doc) > YAMLDOC_MAX_DEPTH)
        fail("deeper than the limit");
    check_keys(doc);
    char *text = cJSON_PrintUnformatted(doc);
    if (text) {
        cJSON *back = cJSON_Parse(text);
        /* out of memory is allowed to stop the round trip, nothing else */
        if (!back)
            fail("printed document does not parse");
        if (!cJSON_Compare(doc, back, 1))
            fail("printed document parses to a different tree");
        cJSON_Delete(back);
        cJSON_free(text);
    }
    cJSON_Delete(doc);
    return AG_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        mem_install_cjson_hooks();
        log_setup(LOG_ERROR, LOG_TEXT);
        init = 1;
    }
    struct seen s = { -1, 0 };
    char err[512];
    memset(err, 0, sizeof err);
    enum ag_result r = yamldoc_parse((const char *)data, size, NULL, on_doc, &s, err, sizeof err);
    if (r == AG_EINVAL) {
        if (!err[0] || strchr(err, '\n'))
            fail("refusal without a one-line message");
        if (strncmp(err, "line ", 5) != 0 && !strstr(err, ": duplicate key") && !strstr(err, "values in one file"))
            fail("refusal without a position");
    } else if (r != AG_OK && r != AG_ENOMEM) {
        fail("unexpected result");
    }
    return 0;
}
