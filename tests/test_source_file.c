/* test_source_file.c - loading a cluster-state folder and catalog, the stamp, and the watcher
 * thread (reload on change, keep the old snapshot on a broken file, forced reload). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "unit.h"
#include "testutil.h"
#include "source_file.h"
#include "log.h"
#include "mem.h"

#define NODE_FMT \
    "{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"creationTimestamp\": \"2026-02-09T13:05:47Z\", " \
    "\"labels\": {\"kubernetes.io/arch\": \"%s\", \"kubernetes.io/hostname\": \"%s\", " \
    "\"node-role.kubernetes.io/worker\": \"\", \"kubevirt.io/schedulable\": \"true\"}, \"name\": \"%s\", " \
    "\"resourceVersion\": \"3229266\", \"uid\": \"43dca5ba-d26c-51f1-9bae-21b21d3fe5ce\"}, \"spec\": {}, " \
    "\"status\": {\"nodeInfo\": {\"architecture\": \"%s\", \"operatingSystem\": \"linux\"}}}"

#define HCO_OBJ \
    "{\"apiVersion\": \"hco.kubevirt.io/v1beta1\", \"kind\": \"HyperConverged\", \"metadata\": {" \
    "\"name\": \"kubevirt-hyperconverged\", \"namespace\": \"kubevirt-hyperconverged\", \"generation\": 2}, " \
    "\"spec\": {\"featureGates\": {\"enableMultiArchBootImageImport\": true}, \"workloads\": {}}, " \
    "\"status\": {\"nodeInfo\": {\"defaultWorkloadArchitecture\": \"arm64\"}}}\n"

#define DS_LIST \
    "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"metadata\": {\"resourceVersion\": \"\"}, \"items\": [" \
    "{\"apiVersion\": \"cdi.kubevirt.io/v1beta1\", \"kind\": \"DataSource\", \"metadata\": {\"name\": \"fedora-arm64\", " \
    "\"namespace\": \"kubevirt-os-images\", \"labels\": {\"template.kubevirt.io/architecture\": \"arm64\"}}, " \
    "\"spec\": {\"source\": {\"snapshot\": {\"name\": \"fedora-8be41d0a6c25\", \"namespace\": \"kubevirt-os-images\"}}}}]}\n"

static char tmpdir[256];
static enum log_level saved_level;

static void write_file(const char *name, const char *content)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(content, f);
    fclose(f);
}

static void remove_file(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    CU_ASSERT_EQUAL(unlink(path), 0);
}

/* Nodes named <prefix>-<i> (i < n) as a kubectl List, written to `name`. */
static void write_nodes(const char *name, const char *prefix, int n)
{
    static char buf[65536];
    size_t used = 0;
    used += (size_t)snprintf(buf, sizeof buf, "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [");
    for (int i = 0; i < n && used < sizeof buf - 1024; i++) {
        char nm[64];
        const char *arch = i % 2 ? "arm64" : "amd64";
        snprintf(nm, sizeof nm, "%s-%d", prefix, i);
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s" NODE_FMT, i ? ", " : "", arch, nm, nm, arch);
    }
    snprintf(buf + used, sizeof buf - used, "], \"metadata\": {\"resourceVersion\": \"\"}}\n");
    write_file(name, buf);
}

static void remove_tree(void)
{
    static const char *const names[] = { "nodes.json", "hco.json", "ds.json", "notes.txt", ".hidden.json",
                                         "zz-broken.json", "catalog.json", "more.json", "bad.json" };
    char path[512];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, names[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/subdir.json", tmpdir);
    rmdir(path);
    rmdir(tmpdir);
}

static void fresh_dir(void)
{
    if (tmpdir[0])
        remove_tree();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/archgate-sf-XXXXXX");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(tmpdir));
}

static int suite_init(void)
{
    saved_level = log_min_level;
    log_min_level = LOG_ERROR + 1;      /* quiet: the failures below are expected */
    return 0;
}

static int suite_cleanup(void)
{
    if (tmpdir[0])
        remove_tree();
    tmpdir[0] = '\0';
    log_min_level = saved_level;
    return 0;
}

static void test_load_folder(void)
{
    char err[512] = "";
    char path[512];
    struct snapshot *s = NULL;
    fresh_dir();
    write_nodes("nodes.json", "worker", 4);
    write_file("hco.json", HCO_OBJ);
    write_file("ds.json", DS_LIST);
    write_file("notes.txt", "this is not JSON and not read");
    write_file(".hidden.json", "{ broken");
    snprintf(path, sizeof path, "%s/subdir.json", tmpdir);
    CU_ASSERT_EQUAL(mkdir(path, 0700), 0);
    CU_ASSERT_EQUAL_FATAL(source_file_load(tmpdir, NULL, &s, err, sizeof err), AG_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(s->nnodes, 4);
    CU_ASSERT_TRUE(s->has_hco);
    CU_ASSERT_EQUAL(s->hco_multiarch, HCO_MULTIARCH_ON);
    CU_ASSERT_EQUAL(s->default_arch, ARCH_ARM64);
    CU_ASSERT_EQUAL(s->ndatasources, 1);
    CU_ASSERT_PTR_NOT_NULL(snapshot_find_datasource(s, "kubevirt-os-images", "fedora-arm64"));
    CU_ASSERT_EQUAL(s->ncatalog, 0);
    CU_ASSERT_EQUAL(s->refs, 1);
    snapshot_release(s);

    /* with a catalog file */
    write_file("catalog.json", "{\"images\": {\"quay.io/containerdisks/fedora\": [\"amd64\", \"arm64\"]}}");
    snprintf(path, sizeof path, "%s/catalog.json", tmpdir);
    /* the catalog sits in the folder too: as a *.json file it is read as objects (and skipped) */
    CU_ASSERT_EQUAL_FATAL(source_file_load(tmpdir, path, &s, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(s->ncatalog, 1);
    CU_ASSERT_EQUAL(snapshot_catalog_lookup(s, "quay.io/containerdisks/fedora:41"),
                    arch_bit(ARCH_AMD64) | arch_bit(ARCH_ARM64));
    snapshot_release(s);

    /* dir NULL: an empty cluster (the catalog alone) */
    CU_ASSERT_EQUAL_FATAL(source_file_load(NULL, path, &s, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(s->nnodes, 0);
    CU_ASSERT_EQUAL(s->ncatalog, 1);
    CU_ASSERT_FALSE(s->has_hco);
    snapshot_release(s);
    CU_ASSERT_EQUAL_FATAL(source_file_load(NULL, NULL, &s, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(s->nnodes, 0);
    snapshot_release(s);
}

static void test_load_samples(void)
{
    struct snapshot *s = tu_snapshot_dir("manifests/samples/cluster");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(s->nnodes, 6);
    CU_ASSERT_EQUAL(s->ndatasources, 4);
    CU_ASSERT_TRUE(s->has_hco);
    CU_ASSERT_EQUAL(s->hco_multiarch, HCO_MULTIARCH_ON);
    CU_ASSERT_TRUE(s->has_kubevirt);
    CU_ASSERT_FALSE(s->cross_arch_gate);
    CU_ASSERT_EQUAL(s->default_arch, ARCH_AMD64);
    CU_ASSERT_TRUE(s->heterogeneous);
    CU_ASSERT_TRUE(s->kubevirt_labels_nodes);
    CU_ASSERT_EQUAL(s->base.n[NR_ELIGIBLE][ARCH_AMD64], 3);
    CU_ASSERT_EQUAL(s->base.n[NR_ELIGIBLE][ARCH_ARM64], 1);
    CU_ASSERT_EQUAL(s->base.n[NR_TAINT][ARCH_ARM64], 1);     /* worker-arm64-2, dedicated=gpu */
    CU_ASSERT_EQUAL(s->base.n[NR_PLACEMENT][ARCH_AMD64], 1); /* ctrl-1 */
    const struct datasource *d = snapshot_find_datasource(s, "kubevirt-os-images", "fedora");
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_FALSE(d->has_label);
    CU_ASSERT_STRING_EQUAL(d->ptr_name, "fedora-amd64");
    d = snapshot_find_datasource(s, "kubevirt-os-images", "centos-stream9-amd64");
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_EQUAL(d->label_arch, ARCH_AMD64);
    snapshot_release(s);

    char err[512] = "";
    CU_ASSERT_EQUAL_FATAL(source_file_load("manifests/samples/cluster", "manifests/samples/image-catalog.json", &s,
                                           err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(s->ncatalog, 2);
    CU_ASSERT_EQUAL(snapshot_catalog_lookup(s, "registry.example.org/golden/rhel9:9.6"), arch_bit(ARCH_AMD64));
    CU_ASSERT_EQUAL(arch_set_count(snapshot_catalog_lookup(s, "quay.io/containerdisks/fedora:latest")), 3);
    snapshot_release(s);
}

static void expect_failure(const char *dir, const char *catalog, enum ag_result want, const char *must1,
                           const char *must2)
{
    char err[512] = "";
    struct snapshot *s = (struct snapshot *)1;
    CU_ASSERT_EQUAL(source_file_load(dir, catalog, &s, err, sizeof err), want);
    CU_ASSERT_PTR_NULL(s);
    if (must1 && !strstr(err, must1)) {
        fprintf(stderr, "\n  message \"%s\" lacks \"%s\"\n", err, must1);
        CU_FAIL("message");
    }
    if (must2 && !strstr(err, must2)) {
        fprintf(stderr, "\n  message \"%s\" lacks \"%s\"\n", err, must2);
        CU_FAIL("message");
    }
}

static void test_load_errors(void)
{
    char path[512];
    fresh_dir();
    write_nodes("nodes.json", "worker", 2);
    write_file("zz-broken.json", "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [}");
    expect_failure(tmpdir, NULL, AG_EINVAL, "zz-broken.json: not valid JSON near byte", NULL);

    write_file("zz-broken.json", "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": []} trailing");
    expect_failure(tmpdir, NULL, AG_EINVAL, "zz-broken.json: not valid JSON near byte 50", NULL);

    write_file("zz-broken.json", "");
    expect_failure(tmpdir, NULL, AG_EINVAL, "zz-broken.json: not valid JSON", NULL);

    /* a builder error names the file, the object and the field */
    write_file("zz-broken.json", "{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"n9\"}, "
               "\"spec\": {\"unschedulable\": \"no\"}}");
    expect_failure(tmpdir, NULL, AG_EINVAL, "zz-broken.json: Node n9", "spec.unschedulable");

    /* whitespace after the value is fine; a JSON array of objects is read too */
    write_file("zz-broken.json", "[" HCO_OBJ "]\n\n  \t");
    struct snapshot *s = tu_snapshot_dir(tmpdir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_TRUE(s->has_hco);
    CU_ASSERT_EQUAL(s->nnodes, 2);
    snapshot_release(s);

    /* the catalog file */
    write_file("catalog.json", "{\"images\": {\"quay.io/x\": [\"amd64\", \"pdp11\"]}}");
    snprintf(path, sizeof path, "%s/catalog.json", tmpdir);
    expect_failure(NULL, path, AG_EINVAL, "catalog.json: image catalog: quay.io/x", NULL);
    write_file("catalog.json", "{\"images\": ");
    expect_failure(NULL, path, AG_EINVAL, "catalog.json: not valid JSON near byte", NULL);
    expect_failure(NULL, "/nonexistent/catalog.json", AG_EIO, "/nonexistent/catalog.json: No such file", NULL);

    /* a missing folder */
    expect_failure("/nonexistent/archgate-state", NULL, AG_EIO, "/nonexistent/archgate-state: No such file", NULL);
    /* a file, not a folder */
    expect_failure(path, NULL, AG_EIO, "catalog.json: Not a directory", NULL);
}

/* A List is read item by item: items without kind take the typed List's; an object that is
 * not a List but has items is refused; errors inside items name the byte in the file. */
static void test_load_streamed(void)
{
    fresh_dir();
    /* a typed List as kube-apiserver sends it: items without kind or apiVersion */
    write_file("nodes.json", "{\"apiVersion\": \"v1\", \"items\": [{\"metadata\": {\"name\": \"raw-1\", "
               "\"labels\": {\"kubernetes.io/arch\": \"arm64\"}}}, {\"metadata\": {\"name\": \"raw-2\"}, "
               "\"status\": {\"nodeInfo\": {\"architecture\": \"s390x\"}}}], \"kind\": \"NodeList\", "
               "\"metadata\": {\"resourceVersion\": \"7\"}}");
    write_file("ds.json", DS_LIST);
    struct snapshot *s = tu_snapshot_dir(tmpdir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(s->nnodes, 2);
    CU_ASSERT_EQUAL(s->ndatasources, 1);
    CU_ASSERT_STRING_EQUAL(s->nodes[0].name, "raw-1");
    CU_ASSERT_EQUAL(s->nodes[0].arch, ARCH_ARM64);
    CU_ASSERT_EQUAL(s->nodes[1].arch, ARCH_S390X);
    snapshot_release(s);

    /* items in an object that is not a List */
    write_file("nodes.json", "{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"n\"}, "
               "\"items\": [{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"m\"}}]}");
    expect_failure(tmpdir, NULL, AG_EINVAL, "nodes.json: has items but is not a List (kind Node)", NULL);

    /* a broken second item: the offset is the file's, not the item's */
    write_file("nodes.json", "{\"kind\": \"List\", \"items\": [{\"kind\": \"Node\", \"apiVersion\": \"v1\", "
               "\"metadata\": {\"name\": \"a\"}}, {\"kind\": tru}]}");
    expect_failure(tmpdir, NULL, AG_EINVAL, "nodes.json: not valid JSON near byte 104", NULL);
    /* an item that is not an object; a builder error inside an item names the object */
    write_file("nodes.json", "{\"kind\": \"List\", \"items\": [{\"kind\": \"Node\", \"apiVersion\": \"v1\", "
               "\"metadata\": {\"name\": \"a\"}}, 42]}");
    expect_failure(tmpdir, NULL, AG_EINVAL, "nodes.json: item 1 is not an object", NULL);
    write_file("nodes.json", "{\"kind\": \"List\", \"items\": [{\"kind\": \"Node\", \"apiVersion\": \"v1\", "
               "\"metadata\": {\"name\": \"n9\"}, \"spec\": {\"unschedulable\": \"no\"}}]}");
    expect_failure(tmpdir, NULL, AG_EINVAL, "nodes.json: Node n9", "spec.unschedulable");
    /* cut short inside the items, and after them */
    write_file("nodes.json", "{\"kind\": \"List\", \"items\": [{\"kind\": \"Node\"");
    expect_failure(tmpdir, NULL, AG_EINVAL, "nodes.json: not valid JSON near byte", NULL);
    write_file("nodes.json", "{\"kind\": \"List\", \"items\": [], \"metadata\": {");
    expect_failure(tmpdir, NULL, AG_EINVAL, "nodes.json: not valid JSON near byte", NULL);
}

static void test_stamp(void)
{
    char path[512];
    fresh_dir();
    write_nodes("nodes.json", "worker", 2);
    unsigned long long a = source_file_stamp(tmpdir, NULL);
    CU_ASSERT_EQUAL(source_file_stamp(tmpdir, NULL), a);

    write_nodes("nodes.json", "worker", 3);            /* size changes */
    unsigned long long b = source_file_stamp(tmpdir, NULL);
    CU_ASSERT_NOT_EQUAL(a, b);

    /* same size, only mtime changes */
    snprintf(path, sizeof path, "%s/nodes.json", tmpdir);
    struct timespec ts[2] = { { 1700000000, 0 }, { 1700000000, 123456789 } };
    CU_ASSERT_EQUAL(utimensat(AT_FDCWD, path, ts, 0), 0);
    unsigned long long c = source_file_stamp(tmpdir, NULL);
    CU_ASSERT_NOT_EQUAL(b, c);
    ts[1].tv_nsec = 123456790;
    CU_ASSERT_EQUAL(utimensat(AT_FDCWD, path, ts, 0), 0);
    unsigned long long d = source_file_stamp(tmpdir, NULL);
    CU_ASSERT_NOT_EQUAL(c, d);

    /* a new *.json file counts; a non-JSON file does not */
    write_file("notes.txt", "x");
    CU_ASSERT_EQUAL(source_file_stamp(tmpdir, NULL), d);
    write_file("hco.json", HCO_OBJ);
    unsigned long long e = source_file_stamp(tmpdir, NULL);
    CU_ASSERT_NOT_EQUAL(d, e);

    /* the catalog counts */
    write_file("catalog.json", "{\"images\": {}}");
    snprintf(path, sizeof path, "%s/catalog.json", tmpdir);
    unsigned long long f = source_file_stamp(NULL, path);
    write_file("catalog.json", "{\"images\": {\"a/\": [\"arm64\"]}}");
    CU_ASSERT_NOT_EQUAL(source_file_stamp(NULL, path), f);
    CU_ASSERT_NOT_EQUAL(source_file_stamp("/nonexistent/dir", NULL), source_file_stamp(NULL, NULL));
}

/* Wait up to `ms` for the generation to move past `gen`. */
static bool wait_generation(uint64_t gen, int ms)
{
    for (int waited = 0; waited < ms; waited += 20) {
        if (snapshot_generation() > gen)
            return true;
        struct timespec t = { 0, 20 * 1000000L };
        nanosleep(&t, NULL);
    }
    return snapshot_generation() > gen;
}

static size_t current_nodes(void)
{
    struct snapshot *s = snapshot_acquire();
    size_t n = s ? s->nnodes : (size_t)-1;
    snapshot_release(s);
    return n;
}

static void test_watcher(void)
{
    char err[512] = "";
    struct snapshot *s = NULL;
    fresh_dir();
    /* a folder that does not load: the start says why, and no watcher runs */
    write_file("bad.json", "{\"kind\": \"List\", \"items\": [");
    snapshot_publish(NULL);
    CU_ASSERT_NOT_EQUAL(source_file_watch_start(tmpdir, NULL, 100, err, sizeof err), AG_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "bad.json"));
    CU_ASSERT_PTR_NULL(snapshot_acquire());
    remove_file("bad.json");
    /* the first load is the watcher's: published before the start returns */
    write_nodes("nodes.json", "worker", 2);
    CU_ASSERT_EQUAL_FATAL(source_file_watch_start(tmpdir, NULL, 100, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(current_nodes(), 2);
    CU_ASSERT_NOT_EQUAL(source_file_watch_start(tmpdir, NULL, 100, err, sizeof err), AG_OK);   /* one watcher */
    CU_ASSERT_TRUE(err[0] != '\0');

    /* a change is picked up and published */
    uint64_t g = snapshot_generation();
    write_nodes("nodes.json", "worker", 5);
    CU_ASSERT_TRUE(wait_generation(g, 3000));
    CU_ASSERT_EQUAL(current_nodes(), 5);

    /* a broken file: the current snapshot stays */
    g = snapshot_generation();
    write_file("bad.json", "{\"kind\": \"List\", \"items\": [");
    struct timespec t = { 0, 500 * 1000000L };
    nanosleep(&t, NULL);
    CU_ASSERT_EQUAL(snapshot_generation(), g);
    CU_ASSERT_EQUAL(current_nodes(), 5);

    /* fixed, and a forced reload publishes at once (the stamp alone would also catch it) */
    write_file("bad.json", HCO_OBJ);
    source_file_reload_now();
    CU_ASSERT_TRUE(wait_generation(g, 3000));
    s = snapshot_acquire();
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_TRUE(s->has_hco);
    snapshot_release(s);

    /* forced without any change: still a new generation */
    nanosleep(&t, NULL);
    g = snapshot_generation();
    source_file_reload_now();
    CU_ASSERT_TRUE(wait_generation(g, 3000));
    CU_ASSERT_EQUAL(current_nodes(), 5);

    source_file_watch_stop();
    source_file_watch_stop();       /* harmless twice */
    g = snapshot_generation();
    source_file_reload_now();       /* no watcher: nothing happens */
    write_nodes("nodes.json", "worker", 1);
    nanosleep(&t, NULL);
    CU_ASSERT_EQUAL(snapshot_generation(), g);
    snapshot_publish(NULL);
}

UNIT_SUITE("source_file", suite_init, suite_cleanup,
           { "load a folder: Lists, single objects, ignored files, catalog", test_load_folder },
           { "the bundled sample cluster", test_load_samples },
           { "broken files, catalog errors, missing folder", test_load_errors },
           { "Lists read item by item: kindless items, items outside a List, errors", test_load_streamed },
           { "stamp follows files", test_stamp },
           { "watcher: change, broken file, forced reload", test_watcher });
