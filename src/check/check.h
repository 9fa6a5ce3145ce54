/* check.h - `archgate check`: judge VirtualMachine and VirtualMachineInstance manifests (files,
 * folders, stdin) as CREATE requests through the same code as /validate (and /mutate first with
 * --mutate), and report per object in text for people or JSON for programs. */
#ifndef ARCHGATE_CHECK_CHECK_H
#define ARCHGATE_CHECK_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "cluster.h"
#include "decide.h"

#define CHECK_MAX_FILE_DEFAULT (8u * 1024u * 1024u)     /* bytes per file */
#define CHECK_MAX_DIR_ENTRIES 10000                     /* manifest files per folder */

enum check_format { CHECK_TEXT, CHECK_JSON };

/* Exit codes of check_run (and of the command). */
enum { CHECK_ADMITTED = 0, CHECK_REFUSED = 1, CHECK_UNUSABLE = 2 };

struct check_opts {
    bool mutate;                /* run /mutate first, show its patch, validate the patched object */
    enum check_format format;
    size_t max_file;            /* 0: CHECK_MAX_FILE_DEFAULT */
    const struct policy *pol;
};

/* Judge every object in `inputs` (files, folders whose *.yaml, *.yml and *.json files are read in
 * name order, or "-" for stdin) against `snap`. Results go to `out`; problems with the input to
 * `errout` (text) or into the JSON document (json). Returns CHECK_UNUSABLE when any input could
 * not be read or parsed (the others are still judged), else CHECK_REFUSED when any object would
 * be refused, else CHECK_ADMITTED. */
int check_run(const char *const *inputs, size_t ninputs, const struct check_opts *opts,
              const struct snapshot *snap, FILE *out, FILE *errout);

#endif
