/* itest_check.c - the real `archgate check`: exit codes and output on the sample VMs, multi-
 * document and List files, a folder, stdin, every kind of bad input (tabs, duplicate keys,
 * anchors, an alias bomb, a 100 MB file refused without being read, binary bytes), and the
 * kubectl plugin: the kubectl-archgate link run by its name, and `make install`. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "unit.h"
#include "itest.h"
#include "mem.h"
#include "testutil.h"

#define FX "tests/fixtures/check/"
#define VMS "manifests/samples/vms/"
#define CLUSTER "manifests/samples/cluster"

static char out[1 << 17], err[1 << 13];

/* `archgate check --cluster-state CLUSTER --registry-lookup off <args>`; returns the exit status.
 * The fixtures name images on hosts that exist nowhere here: with lookups on, each would be a
 * name lookup that fails (itest_registry tests the lookups, against a registry on 127.0.0.1). */
static int check(const char *const *args)
{
    const char *argv[24] = { "check", "--cluster-state", CLUSTER, "--registry-lookup", "off" };
    size_t n = 5;
    for (size_t i = 0; args[i] && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return itest_run(argv, out, sizeof out, err, sizeof err);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_samples(void)
{
    static const struct { const char *file; int rc; const char *needle; } cases[] = {
        { VMS "fedora-amd64.yaml", 0, "ADMITTED VirtualMachine default/fedora-amd64  (" VMS "fedora-amd64.yaml, document 0, line 1)\n" },
        { VMS "fedora-arm64-pinned.yaml", 0, "1 object: 1 admitted, 0 refused; 0 skipped" },
        { VMS "fedora-default.yaml", 0, "ADMITTED VirtualMachine default/fedora-default" },
        { VMS "centos-on-arm.yaml", 1, "denied the request: architecture arm64 does not match the boot image" },
        { VMS "fedora-arm64-selector-mismatch.yaml", 1, "REFUSED  VirtualMachine default/fedora-arm64-selector-mismatch" },
        { FX "multi.yaml", 1, "3 objects: 2 admitted, 1 refused; 1 skipped" },
        { FX "admitted.yaml", 0, "2 objects: 2 admitted, 0 refused; 0 skipped" },
        { FX "list.yaml", 1, "(" FX "list.yaml, document 0, items[1], line 1)" },
        { FX "list.json", 0, "2 objects: 2 admitted, 0 refused" },
        { FX "dir", 1, "2 objects: 1 admitted, 1 refused" },
        { VMS, 1, "5 objects: 3 admitted, 2 refused" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[] = { "-f", cases[i].file, NULL };
        int rc = check(args);
        CASE_ASSERT(rc == cases[i].rc, i, cases[i].file);
        CASE_ASSERT(strstr(out, cases[i].needle) != NULL, i, cases[i].needle);
        CASE_ASSERT(err[0] == '\0', i, "stderr empty");
        if (rc != cases[i].rc || !strstr(out, cases[i].needle))
            fprintf(stderr, "\ncase %zu: rc %d\n%s%s", i, rc, out, err);
    }
    /* several -f, and the decision flags of review */
    const char *two[] = { "-f", VMS "fedora-amd64.yaml", "--filename", VMS "fedora-default.yaml", NULL };
    CU_ASSERT_EQUAL(check(two), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "2 objects: 2 admitted"));
    const char *deny[] = { "-f", FX "multi.yaml", "--unknown-image", "deny", NULL };
    CU_ASSERT_EQUAL(check(deny), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "3 objects: 1 admitted, 2 refused"));
    const char *mutate[] = { "-f", VMS "fedora-default.yaml", "--mutate", NULL };
    CU_ASSERT_EQUAL(check(mutate), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "mutate.archgate.io would add /spec/template/spec/architecture = \"amd64\""));
}

static void test_json_output(void)
{
    const char *args[] = { "-f", FX "multi.yaml", "-o", "json", NULL };
    CU_ASSERT_EQUAL(check(args), 1);
    cJSON *j = cJSON_Parse(out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    const cJSON *sum = cJSON_GetObjectItemCaseSensitive(j, "summary");
    CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(sum, "objects")->valueint, 3);
    CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(sum, "skipped")->valueint, 1);
    CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(sum, "exitCode")->valueint, 1);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "objects")), 3);
    cJSON_Delete(j);
    const char *bad[] = { "-f", FX "bad-tabs.yaml", "--output=json", NULL };
    CU_ASSERT_EQUAL(check(bad), 2);
    j = cJSON_Parse(out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    const cJSON *e0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "errors"), 0);
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(e0, "file")->valuestring, FX "bad-tabs.yaml");
    CU_ASSERT_PTR_NOT_NULL(strstr(cJSON_GetObjectItemCaseSensitive(e0, "error")->valuestring, "line 4, column 1"));
    cJSON_Delete(j);
}

static void test_stdin(void)
{
    const char *args[] = { "check", "--cluster-state", CLUSTER, "-f", "-", NULL };
    CU_ASSERT_EQUAL(itest_run_stdin(args, FX "list.yaml", out, sizeof out, err, sizeof err), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "((stdin), document 0, items[1], line 1)"));
    CU_ASSERT_EQUAL(itest_run_stdin(args, FX "bad-duplicate-key.yaml", out, sizeof out, err, sizeof err), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "archgate check: (stdin): line 6, column 3: duplicate key \"name\""));
}

static bool write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    bool ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

static void test_bad_input(void)
{
    static const struct { const char *file, *needle; } cases[] = {
        { FX "bad-tabs.yaml", "bad-tabs.yaml: line 4, column 1: a tab character (YAML indents with spaces only)\n" },
        { FX "bad-duplicate-key.yaml", "bad-duplicate-key.yaml: line 6, column 3: duplicate key \"name\"\n" },
        { FX "bad-anchor.yaml", "bad-anchor.yaml: line 5, column 11: anchor &l: anchors and aliases are not supported\n" },
        { FX "bad-alias-bomb.yaml", "bad-alias-bomb.yaml: line 1, column 4: anchor &a" },
        { FX "bad-syntax.yaml", "bad-syntax.yaml: line 5, column 1: " },
        { FX "bad-json.json", "bad-json.json: line 4, column 28: not valid JSON\n" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[] = { "-f", cases[i].file, NULL };
        CASE_ASSERT(check(args) == 2, i, cases[i].file);
        CASE_ASSERT(strstr(err, cases[i].needle) != NULL, i, cases[i].needle);
        CASE_ASSERT(strncmp(err, "archgate check: " FX, strlen("archgate check: " FX)) == 0, i, "names the file");
    }

    /* 100 MB (sparse): refused by its size, at once, without reading it */
    char big[600];
    itest_path(big, sizeof big, itest_dir, "big.yaml");
    int fd = open(big, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(ftruncate(fd, 100L * 1024 * 1024), 0);
    close(fd);
    const char *bigargs[] = { "-f", big, NULL };
    double t0 = now_s();
    CU_ASSERT_EQUAL(check(bigargs), 2);
    double took = now_s() - t0;
    CU_ASSERT_TRUE(took < 2.0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "big.yaml: larger than 8388608 bytes (--max-file); not read"));
    /* the limit is a flag */
    const char *smaller[] = { "-f", VMS "centos-on-arm.yaml", "--max-file", "1KiB", NULL };
    CU_ASSERT_EQUAL(check(smaller), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "larger than 1024 bytes"));

    /* binary: NUL and control bytes, invalid UTF-8 */
    char bin[600];
    itest_path(bin, sizeof bin, itest_dir, "binary.yaml");
    unsigned char junk[4096];
    unsigned s = 12345;
    for (size_t i = 0; i < sizeof junk; i++) {
        s = s * 1103515245u + 12345u;
        junk[i] = (unsigned char)(s >> 16);
    }
    CU_ASSERT_TRUE_FATAL(write_bytes(bin, junk, sizeof junk));
    const char *binargs[] = { "-f", bin, NULL };
    CU_ASSERT_EQUAL(check(binargs), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "binary.yaml: line "));
    /* an ELF file (the program itself) */
    const char *elf[] = { "-f", "build/archgate", NULL };
    CU_ASSERT_EQUAL(check(elf), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "build/archgate: line 1, column "));

    /* flags */
    const char *none[] = { NULL };
    CU_ASSERT_EQUAL(check(none), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "give the manifests with -f"));
    const char *badout[] = { "-f", VMS, "-o", "yaml", NULL };
    CU_ASSERT_EQUAL(check(badout), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "-o: want text or json, got yaml"));
    const char *servflag[] = { "-f", VMS, "--tls-cert", "x", NULL };
    CU_ASSERT_EQUAL(check(servflag), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "--tls-cert: not a flag of check"));
    const char *nocluster[] = { "check", "-f", VMS, "--cluster-state", "/nonexistent-archgate-dir", NULL };
    CU_ASSERT_EQUAL(itest_run(nocluster, out, sizeof out, err, sizeof err), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "archgate check: cluster state: "));
}

/* The kubectl plugin: kubectl runs `kubectl-archgate check ...` for `kubectl archgate check ...`. */
static void test_plugin_link(void)
{
    char real[PATH_MAX], link[600], prefix[600], installed[700];
    const char *bin = getenv("ARCHGATE_BIN");
    CU_ASSERT_PTR_NOT_NULL_FATAL(realpath(bin && *bin ? bin : "build/archgate", real));
    itest_path(link, sizeof link, itest_dir, "kubectl-archgate");
    unlink(link);
    CU_ASSERT_EQUAL_FATAL(symlink(real, link), 0);
    const char *old = getenv("ARCHGATE_BIN");
    char *saved = old ? strdup(old) : NULL;
    setenv("ARCHGATE_BIN", link, 1);
    const char *args[] = { "check", "-f", VMS "centos-on-arm.yaml", "--cluster-state", CLUSTER, NULL };
    int rc = itest_run(args, out, sizeof out, err, sizeof err);
    CU_ASSERT_EQUAL(rc, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "REFUSED  VirtualMachine default/centos-on-arm"));
    const char *version[] = { "version", NULL };
    CU_ASSERT_EQUAL(itest_run(version, out, sizeof out, err, sizeof err), 0);
    CU_ASSERT_EQUAL(strncmp(out, "archgate ", 9), 0);

    /* make install PREFIX=...: the program and the link beside it */
    itest_path(prefix, sizeof prefix, itest_dir, "prefix");
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "make -s --no-print-directory install PREFIX='%s' >/dev/null 2>&1", prefix);
    CU_ASSERT_EQUAL(system(cmd), 0);
    snprintf(installed, sizeof installed, "%s/bin/kubectl-archgate", prefix);
    char target[64] = "";
    ssize_t n = readlink(installed, target, sizeof target - 1);
    CU_ASSERT_TRUE(n > 0);
    if (n > 0)
        target[n] = '\0';
    CU_ASSERT_STRING_EQUAL(target, "archgate");
    setenv("ARCHGATE_BIN", installed, 1);
    const char *ok[] = { "check", "-f", VMS "fedora-amd64.yaml", "--cluster-state", CLUSTER, NULL };
    CU_ASSERT_EQUAL(itest_run(ok, out, sizeof out, err, sizeof err), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "1 object: 1 admitted"));
    if (saved)
        setenv("ARCHGATE_BIN", saved, 1);
    else
        unsetenv("ARCHGATE_BIN");
    free(saved);
}

/* docs/reference.md shows `archgate --help` as it is: a flag added without the docs fails here. */
static void test_help_in_reference(void)
{
    const char *help[] = { "--help", NULL };
    CU_ASSERT_EQUAL_FATAL(itest_run(help, out, sizeof out, err, sizeof err), 0);
    size_t len = 0;
    char *doc = tu_read_file("docs/reference.md", &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    CU_ASSERT_TRUE(strlen(out) > 500);
    CU_ASSERT_PTR_NOT_NULL(strstr(doc, out));
    mem_free(doc);
}

UNIT_SUITE("itest_check", NULL, NULL,
           { "sample VMs, multi-document, Lists, folders: verdicts and exit codes", test_samples },
           { "-o json: one document with objects, errors and summary", test_json_output },
           { "-f -: stdin", test_stdin },
           { "bad input: file, line and column, exit 2; 100 MB refused at once; binary", test_bad_input },
           { "kubectl plugin: the kubectl-archgate link and make install", test_plugin_link },
           { "docs/reference.md holds archgate --help as it is", test_help_in_reference })
