/* test_check.c - check_run: every input shape (single and multi-document YAML, List objects in
 * YAML and JSON, folders, stdin-free paths), the verdicts against the sample cluster, the text
 * and JSON renderings, --mutate (the patch shown and applied before validating), and the exit
 * codes for refused objects and unusable input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <CUnit/CUnit.h>
#include "unit.h"
#include "testutil.h"
#include "check/check.h"
#include "config.h"
#include "mem.h"

#define FX "tests/fixtures/check/"
#define VMS "manifests/samples/vms/"

static struct snapshot *snap;
static const struct policy pol = { MULTI_ARCH_AUTO, UNKNOWN_IMAGE_WARN };
static char tmpdir[64];

static int setup(void)
{
    snap = tu_snapshot_dir("manifests/samples/cluster");
    snprintf(tmpdir, sizeof tmpdir, "/tmp/archgate-check-XXXXXX");
    return snap && mkdtemp(tmpdir) ? 0 : 1;
}

static int teardown(void)
{
    snapshot_release(snap);
    snap = NULL;
    tu_rmtree(tmpdir);
    return 0;
}

struct outcome {
    int rc;
    char *out, *err;        /* free() them */
    cJSON *json;            /* with CHECK_JSON */
};

static void run(const char *const *inputs, size_t n, bool json, bool mutate, size_t max_file, struct outcome *o)
{
    size_t olen = 0, elen = 0;
    FILE *out = open_memstream(&o->out, &olen), *err = open_memstream(&o->err, &elen);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    struct check_opts opts = { mutate, json ? CHECK_JSON : CHECK_TEXT, max_file, &pol };
    o->rc = check_run(inputs, n, &opts, snap, out, err);
    fclose(out);
    fclose(err);
    o->json = json ? cJSON_Parse(o->out) : NULL;
    if (json)
        CU_ASSERT_PTR_NOT_NULL(o->json);
}

static void run1(const char *path, bool json, bool mutate, struct outcome *o)
{
    const char *in[] = { path };
    run(in, 1, json, mutate, 0, o);
}

static void done(struct outcome *o)
{
    free(o->out);
    free(o->err);
    cJSON_Delete(o->json);
    memset(o, 0, sizeof *o);
}

static int summary(const struct outcome *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o->json, "summary"), key);
    return cJSON_IsNumber(v) ? v->valueint : -1;
}

static const cJSON *object_at(const struct outcome *o, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o->json, "objects"), i);
}

static const char *str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static int num(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? v->valueint : -1;
}

static void write_file(const char *name, const char *text, char *path, size_t pathlen)
{
    snprintf(path, pathlen, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
}

/* The bundled samples: the verdicts `archgate review` gives for the same objects. */
static void test_samples(void)
{
    static const struct { const char *name; int rc; const char *needle; } cases[] = {
        { "fedora-amd64", CHECK_ADMITTED, "ADMITTED VirtualMachine default/fedora-amd64" },
        { "fedora-arm64-pinned", CHECK_ADMITTED, "ADMITTED VirtualMachine default/fedora-arm64-pinned" },
        { "fedora-default", CHECK_ADMITTED, "1 object: 1 admitted, 0 refused; 0 skipped" },
        { "centos-on-arm", CHECK_REFUSED,
          "  Error from server (Invalid): error when creating \"" VMS "centos-on-arm.yaml\": admission webhook "
          "\"validate.archgate.io\" denied the request: architecture arm64 does not match the boot image" },
        { "fedora-arm64-selector-mismatch", CHECK_REFUSED,
          "\n    spec.template.spec.volumes: image DataSource kubevirt-os-images/fedora-arm64 (arm64) is built for arm64, but no eligible node runs arm64" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, VMS "%s.yaml", cases[i].name);
        struct outcome o;
        run1(path, false, false, &o);
        CASE_ASSERT(o.rc == cases[i].rc, i, cases[i].name);
        CASE_ASSERT(strstr(o.out, cases[i].needle) != NULL, i, cases[i].needle);
        CASE_ASSERT(o.err[0] == '\0', i, "nothing on stderr");
        done(&o);
    }
    /* all five at once: refused wins */
    const char *all[] = { VMS "fedora-amd64.yaml", VMS "centos-on-arm.yaml", VMS "fedora-default.yaml" };
    struct outcome o;
    run(all, 3, false, false, 0, &o);
    CU_ASSERT_EQUAL(o.rc, CHECK_REFUSED);
    CU_ASSERT_PTR_NOT_NULL(strstr(o.out, "3 objects: 2 admitted, 1 refused; 0 skipped"));
    done(&o);
}

static void test_multi_document(void)
{
    struct outcome o;
    run1(FX "multi.yaml", true, false, &o);
    CU_ASSERT_EQUAL(o.rc, CHECK_REFUSED);
    CU_ASSERT_EQUAL(summary(&o, "objects"), 3);
    CU_ASSERT_EQUAL(summary(&o, "admitted"), 2);
    CU_ASSERT_EQUAL(summary(&o, "refused"), 1);
    CU_ASSERT_EQUAL(summary(&o, "skipped"), 1);
    CU_ASSERT_EQUAL(summary(&o, "errors"), 0);
    CU_ASSERT_EQUAL(summary(&o, "exitCode"), 1);
    static const struct { int doc, line; const char *kind, *name; bool allowed; } want[] = {
        { 0, 2, "VirtualMachine", "fedora-amd64", true },
        { 3, 105, "VirtualMachine", "centos-on-arm", false },
        { 4, 197, "VirtualMachineInstance", "vmi-custom", true },
    };
    for (int i = 0; i < 3; i++) {
        const cJSON *ob = object_at(&o, i);
        CASE_ASSERT(num(ob, "document") == want[i].doc, i, want[i].name);
        CASE_ASSERT(num(ob, "line") == want[i].line, i, want[i].name);
        CASE_ASSERT(strcmp(str(ob, "kind"), want[i].kind) == 0, i, want[i].name);
        CASE_ASSERT(strcmp(str(ob, "name"), want[i].name) == 0, i, want[i].name);
        CASE_ASSERT(strcmp(str(ob, "namespace"), "default") == 0, i, want[i].name);
        CASE_ASSERT(strcmp(str(ob, "file"), FX "multi.yaml") == 0, i, want[i].name);
        CASE_ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ob, "allowed")) == want[i].allowed, i, want[i].name);
    }
    /* the refused one carries status and causes as kube-apiserver would relay them */
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(object_at(&o, 1), "status");
    CU_ASSERT_EQUAL(num(st, "code"), 422);
    CU_ASSERT_STRING_EQUAL(str(st, "reason"), "Invalid");
    const cJSON *cause = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(st, "causes"), 0);
    CU_ASSERT_STRING_EQUAL(str(cause, "field"), "spec.template.spec.architecture");
    /* the VMI's containerDisk image is not in any catalog: admitted with the warning (--unknown-image warn) */
    CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(object_at(&o, 2), "warnings")), 1);
    done(&o);

    run1(FX "multi.yaml", false, false, &o);
    CU_ASSERT_PTR_NOT_NULL(strstr(o.out, "ADMITTED VirtualMachineInstance default/vmi-custom  (" FX "multi.yaml, document 4, line 197)\n  Warning: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(o.out, "REFUSED  VirtualMachine default/centos-on-arm  (" FX "multi.yaml, document 3, line 105)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(o.out, "3 objects: 2 admitted, 1 refused; 1 skipped"));
    done(&o);
}

static void test_lists(void)
{
    struct outcome o;
    run1(FX "list.yaml", true, false, &o);
    CU_ASSERT_EQUAL(o.rc, CHECK_REFUSED);
    CU_ASSERT_EQUAL(summary(&o, "objects"), 3);
    CU_ASSERT_EQUAL(summary(&o, "refused"), 1);
    CU_ASSERT_STRING_EQUAL(str(object_at(&o, 1), "item"), "items[1]");
    CU_ASSERT_STRING_EQUAL(str(object_at(&o, 1), "name"), "fedora-arm64-selector-mismatch");
    done(&o);
    run1(FX "list.json", true, false, &o);
    CU_ASSERT_EQUAL(o.rc, CHECK_ADMITTED);
    CU_ASSERT_EQUAL(summary(&o, "objects"), 2);
    CU_ASSERT_STRING_EQUAL(str(object_at(&o, 1), "item"), "items[1]");
    CU_ASSERT_STRING_EQUAL(str(object_at(&o, 1), "name"), "fedora-default");
    done(&o);
    run1(FX "list.json", false, false, &o);
    CU_ASSERT_PTR_NOT_NULL(strstr(o.out, "(" FX "list.json, document 0, items[1], line 1)"));
    done(&o);
}

static void test_folder(void)
{
    struct outcome o;
    run1(FX "dir", true, false, &o);
    /* a-admitted.yaml then b-refused.json; notes.txt and the sub-folder are not read */
    CU_ASSERT_EQUAL(o.rc, CHECK_REFUSED);
    CU_ASSERT_EQUAL(summary(&o, "objects"), 2);
    CU_ASSERT_STRING_EQUAL(str(object_at(&o, 0), "file"), FX "dir/a-admitted.yaml");
    CU_ASSERT_STRING_EQUAL(str(object_at(&o, 1), "file"), FX "dir/b-refused.json");
    done(&o);
}

static void test_mutate(void)
{
    struct outcome o;
    run1(VMS "fedora-default.yaml", true, true, &o);
    CU_ASSERT_EQUAL(o.rc, CHECK_ADMITTED);
    const cJSON *patch = cJSON_GetObjectItemCaseSensitive(object_at(&o, 0), "patch");
    CU_ASSERT_EQUAL(cJSON_GetArraySize(patch), 2);
    CU_ASSERT_STRING_EQUAL(str(cJSON_GetArrayItem(patch, 1), "path"), "/spec/template/spec/architecture");
    CU_ASSERT_STRING_EQUAL(str(cJSON_GetArrayItem(patch, 1), "value"), "amd64");
    done(&o);
    run1(VMS "fedora-default.yaml", false, true, &o);
    CU_ASSERT_PTR_NOT_NULL(strstr(o.out, "  mutate.archgate.io would add /spec/template/spec/nodeSelector = {\"kubernetes.io/arch\":\"amd64\"}\n"));
    done(&o);
    /* without --mutate nothing is patched */
    run1(VMS "fedora-default.yaml", true, false, &o);
    CU_ASSERT_PTR_NULL(cJSON_GetObjectItemCaseSensitive(object_at(&o, 0), "patch"));
    done(&o);
    /* the patched object is what /validate sees: a VM pinned to arm64 by its own selector is
     * patched to arm64 and admitted; the unpatched object is admitted too */
    run1(VMS "fedora-arm64-pinned.yaml", true, true, &o);
    CU_ASSERT_EQUAL(o.rc, CHECK_ADMITTED);
    done(&o);
}

static void test_shapes_and_defaults(void)
{
    char p1[256], p2[256], p3[256];
    /* no namespace: "default" (kube-apiserver fills it in); a generateName VM has no name */
    write_file("nons.yaml",
               "apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n  generateName: gen-\n"
               "spec:\n  template:\n    spec:\n      domain: {devices: {}}\n", p1, sizeof p1);
    struct outcome o;
    run1(p1, true, false, &o);
    CU_ASSERT_EQUAL(summary(&o, "objects"), 1);
    CU_ASSERT_STRING_EQUAL(str(object_at(&o, 0), "namespace"), "default");
    CU_ASSERT_STRING_EQUAL(str(object_at(&o, 0), "name"), "");
    done(&o);
    /* an unreadable VM (spec is a string) is refused by /validate with a cause, as the server does */
    write_file("bad-spec.yaml", "apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata: {name: x, namespace: ns1}\nspec: oops\n",
               p2, sizeof p2);
    run1(p2, true, false, &o);
    CU_ASSERT_EQUAL(o.rc, CHECK_REFUSED);
    CU_ASSERT_STRING_EQUAL(str(object_at(&o, 0), "namespace"), "ns1");
    CU_ASSERT_EQUAL(num(cJSON_GetObjectItemCaseSensitive(object_at(&o, 0), "status"), "code"), 422);
    done(&o);
    /* other kubevirt.io kinds and other groups' VirtualMachine are skipped, counted */
    write_file("others.yaml",
               "apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstanceMigration\nmetadata: {name: m}\n---\n"
               "apiVersion: example.com/v1\nkind: VirtualMachine\nmetadata: {name: v}\n---\n"
               "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", p3, sizeof p3);
    run1(p3, false, false, &o);
    CU_ASSERT_EQUAL(o.rc, CHECK_ADMITTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(o.out, "0 objects: 0 admitted, 0 refused; 3 skipped"));
    done(&o);
}

/* A HyperConverged manifest gets the warnings of its review (issue 12); it is never refused, and a
 * HyperConverged of another group is skipped. */
static void test_hyperconverged(void)
{
    char p1[256];
    write_file("hco.yaml",
               "apiVersion: hco.kubevirt.io/v1beta1\nkind: HyperConverged\n"
               "metadata: {name: kubevirt-hyperconverged, namespace: kubevirt-hyperconverged}\n"
               "spec:\n  featureGates: {enableMultiArchBootImageImport: true}\n"
               "  dataImportCronTemplates:\n  - metadata: {name: custom-rhel9}\n"
               "  - metadata:\n      name: custom-z\n      annotations: {ssp.kubevirt.io/dict.architectures: s390x}\n"
               "---\napiVersion: example.com/v1\nkind: HyperConverged\nmetadata: {name: h}\n", p1, sizeof p1);
    struct outcome o;
    run1(p1, false, true, &o);
    CU_ASSERT_EQUAL(o.rc, CHECK_ADMITTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(o.out, "ADMITTED HyperConverged kubevirt-hyperconverged/kubevirt-hyperconverged"));
    CU_ASSERT_PTR_NOT_NULL(strstr(o.out, "Warning: golden image custom-rhel9: annotate ssp.kubevirt.io/dict.architectures"));
    CU_ASSERT_PTR_NOT_NULL(strstr(o.out, "Warning: golden image custom-z: annotated s390x, but no workload node runs it"));
    CU_ASSERT_PTR_NOT_NULL(strstr(o.out, "1 object: 1 admitted, 0 refused; 1 skipped"));
    done(&o);
}

static void test_unusable(void)
{
    static const struct { const char *file, *needle; } cases[] = {
        { FX "bad-tabs.yaml", FX "bad-tabs.yaml: line 4, column 1: a tab character" },
        { FX "bad-duplicate-key.yaml", FX "bad-duplicate-key.yaml: line 6, column 3: duplicate key \"name\"" },
        { FX "bad-anchor.yaml", FX "bad-anchor.yaml: line 5, column 11: anchor &l" },
        { FX "bad-alias-bomb.yaml", FX "bad-alias-bomb.yaml: line 1, column 4: anchor &a" },
        { FX "bad-syntax.yaml", FX "bad-syntax.yaml: line 5, column 1: found unexpected end of stream" },
        { FX "bad-json.json", FX "bad-json.json: line 4, column 28: not valid JSON" },
        { FX "no-such-file.yaml", FX "no-such-file.yaml: No such file or directory" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct outcome o;
        run1(cases[i].file, false, false, &o);
        CASE_ASSERT(o.rc == CHECK_UNUSABLE, i, cases[i].file);
        CASE_ASSERT(strstr(o.err, cases[i].needle) != NULL, i, cases[i].needle);
        if (!strstr(o.err, cases[i].needle))
            fprintf(stderr, "\ncase %zu: stderr %s\n", i, o.err);
        done(&o);
        /* JSON: the error is in the document, nothing on stderr */
        run1(cases[i].file, true, false, &o);
        CASE_ASSERT(o.rc == CHECK_UNUSABLE, i, cases[i].file);
        CASE_ASSERT(o.err[0] == '\0', i, "json: nothing on stderr");
        CASE_ASSERT(summary(&o, "errors") == 1, i, "json: one error");
        CASE_ASSERT(strstr(str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o.json, "errors"), 0), "error"),
                           strchr(strchr(cases[i].needle, ':') + 1, ' ') + 1) != NULL, i, "json: the message");
        done(&o);
    }
    /* a bad file among good ones: the good ones are still judged, the exit says unusable */
    const char *mixed[] = { VMS "fedora-amd64.yaml", FX "bad-tabs.yaml", VMS "centos-on-arm.yaml" };
    struct outcome o;
    run(mixed, 3, false, false, 0, &o);
    CU_ASSERT_EQUAL(o.rc, CHECK_UNUSABLE);
    CU_ASSERT_PTR_NOT_NULL(strstr(o.out, "2 objects: 1 admitted, 1 refused; 0 skipped (not a VirtualMachine, VirtualMachineInstance or HyperConverged); 1 unusable input (on stderr)"));
    done(&o);
    /* documents that are not objects, or have no kind */
    char p[256];
    write_file("scalar.yaml", "just a string\n", p, sizeof p);
    run1(p, false, false, &o);
    CU_ASSERT_EQUAL(o.rc, CHECK_UNUSABLE);
    CU_ASSERT_PTR_NOT_NULL(strstr(o.err, "scalar.yaml: line 1: document 0 is not an object"));
    done(&o);
    write_file("nokind.yaml", "a: 1\n---\napiVersion: v1\nkind: List\nitems: [1]\n", p, sizeof p);
    run1(p, false, false, &o);
    CU_ASSERT_EQUAL(o.rc, CHECK_UNUSABLE);
    CU_ASSERT_PTR_NOT_NULL(strstr(o.err, "nokind.yaml: line 1: document 0 has no kind"));
    CU_ASSERT_PTR_NOT_NULL(strstr(o.err, "nokind.yaml: line 3: document 1 items[0] is not an object"));
    done(&o);
    /* the size limit: refused by its size */
    const char *big[] = { VMS "centos-on-arm.yaml" };
    run(big, 1, false, false, 1000, &o);
    CU_ASSERT_EQUAL(o.rc, CHECK_UNUSABLE);
    CU_ASSERT_PTR_NOT_NULL(strstr(o.err, "centos-on-arm.yaml: larger than 1000 bytes (--max-file); not read"));
    done(&o);
}

static void test_flags(void)
{
    struct config c;
    char err[256];
    char *ok[] = { "archgate", "check", "-f", "a.yaml", "--filename=dir", "-f", "-", "-o", "json", "--mutate",
                   "--multi-arch", "on", "--unknown-image", "deny", "--image-catalog", "cat.json",
                   "--kubeconfig", "kc", "--max-file", "1MiB", NULL };
    CU_ASSERT_EQUAL_FATAL(config_parse(20, ok, &c, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(c.cmd, CMD_CHECK);
    CU_ASSERT_EQUAL(c.ncheck_inputs, 3);
    CU_ASSERT_STRING_EQUAL(c.check_inputs[1], "dir");
    CU_ASSERT_STRING_EQUAL(c.check_inputs[2], "-");
    CU_ASSERT_TRUE(c.check_json);
    CU_ASSERT_TRUE(c.mutate);
    CU_ASSERT_EQUAL(c.policy.multi_arch, MULTI_ARCH_ON);
    CU_ASSERT_EQUAL(c.policy.unknown_image, UNKNOWN_IMAGE_DENY);
    CU_ASSERT_EQUAL(c.check_max_file, 1024 * 1024);
    CU_ASSERT_EQUAL(c.log_level, LOG_WARN);
    char *deflt[] = { "archgate", "check", "-f", "x", NULL };
    CU_ASSERT_EQUAL_FATAL(config_parse(4, deflt, &c, err, sizeof err), AG_OK);
    CU_ASSERT_FALSE(c.check_json);
    CU_ASSERT_EQUAL(c.check_max_file, CHECK_MAX_FILE_DEFAULT);
    static const struct { const char *a[6]; const char *want; } bad[] = {
        { { "-o", "yaml" }, "-o: want text or json, got yaml" },
        { { "-f" }, "-f: needs a value" },
        { { "-f", "" }, "-f: empty file name" },
        { { "-f", "x", "--max-file", "lots" }, "--max-file: want a size" },
        { { "-f", "x", "--listen", "1:2" }, "--listen: not a flag of check" },
        { { "-f", "x", "--max-body", "1MiB" }, "--max-body: not a flag of check" },
        { { "--cluster-state", "d" }, "give the manifests with -f" },
        { { "-f", "x", "--cluster-state", "d", "--kubeconfig", "k" }, "choose one source" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *argv[8] = { "archgate", "check" };
        int n = 2;
        for (int j = 0; j < 6 && bad[i].a[j]; j++)
            argv[n++] = (char *)bad[i].a[j];
        err[0] = '\0';
        CASE_ASSERT(config_parse(n, argv, &c, err, sizeof err) == AG_EINVAL, i, bad[i].want);
        CASE_ASSERT(strstr(err, bad[i].want) != NULL, i, bad[i].want);
    }
    /* more -f than the table holds */
    static char *many[2 + 2 * (CONFIG_MAX_CHECK_INPUTS + 1) + 1];
    many[0] = "archgate";
    many[1] = "check";
    for (int i = 0; i <= CONFIG_MAX_CHECK_INPUTS; i++) {
        many[2 + 2 * i] = "-f";
        many[3 + 2 * i] = "x";
    }
    CU_ASSERT_EQUAL(config_parse(2 + 2 * (CONFIG_MAX_CHECK_INPUTS + 1), many, &c, err, sizeof err), AG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "more than 256 inputs"));
}

/* No answer from the webhook (here: no cluster state) is a refusal, as failurePolicy: Fail makes it. */
static void test_no_answer_is_refusal(void)
{
    char *obuf = NULL, *ebuf = NULL;
    size_t olen = 0, elen = 0;
    FILE *out = open_memstream(&obuf, &olen), *err = open_memstream(&ebuf, &elen);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    const char *in[] = { VMS "fedora-amd64.yaml" };
    struct check_opts opts = { false, CHECK_TEXT, 0, &pol };
    CU_ASSERT_EQUAL(check_run(in, 1, &opts, NULL, out, err), CHECK_REFUSED);
    fclose(out);
    fclose(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(obuf, "REFUSED  VirtualMachine default/fedora-amd64"));
    CU_ASSERT_PTR_NOT_NULL(strstr(obuf, "Error from server (InternalError): error when creating \"" VMS
                                  "fedora-amd64.yaml\": admission webhook \"validate.archgate.io\" denied the request: "
                                  "cluster state is not loaded yet\n"));
    free(obuf);
    free(ebuf);
}

/* Every allocation failing in turn (sampled past the first 300): an exit code, no crash, no leak. */
static void test_alloc_failures(void)
{
    const char *in[] = { FX "multi.yaml", FX "list.json" };
    for (int json = 0; json < 2; json++) {
        bool succeeded = false;
        for (long n = 0; n < 200000 && !succeeded; n += n < 300 ? 1 : 97) {
            long live = mem_live();
            char *obuf = NULL, *ebuf = NULL;
            size_t olen = 0, elen = 0;
            FILE *out = open_memstream(&obuf, &olen), *err = open_memstream(&ebuf, &elen);
            CU_ASSERT_PTR_NOT_NULL_FATAL(out);
            CU_ASSERT_PTR_NOT_NULL_FATAL(err);
            struct check_opts opts = { true, json ? CHECK_JSON : CHECK_TEXT, 0, &pol };
            mem_fail_after(n);
            int rc = check_run(in, 2, &opts, snap, out, err);
            mem_fail_after(-1);
            fclose(out);
            fclose(err);
            CASE_ASSERT(rc == CHECK_ADMITTED || rc == CHECK_REFUSED || rc == CHECK_UNUSABLE, (size_t)n, "an exit code");
            CASE_ASSERT(mem_live() == live, (size_t)n, "nothing leaked");
            /* the full run: multi.yaml refuses one object */
            succeeded = rc == CHECK_REFUSED && elen == 0 && strstr(obuf, json ? "\"objects\":\t5" : "5 objects: 4 admitted") != NULL;
            free(obuf);
            free(ebuf);
        }
        CU_ASSERT_TRUE(succeeded);
    }
}

UNIT_SUITE("check", setup, teardown,
           { "flags of check", test_flags },
           { "the sample VMs: verdicts, kubectl-style text, exit codes", test_samples },
           { "a multi-document file: objects, skipped kinds, positions", test_multi_document },
           { "List objects in YAML and JSON", test_lists },
           { "a folder: its manifest files in name order, not recursive", test_folder },
           { "--mutate: the patch shown and validated", test_mutate },
           { "defaults and shapes: namespace, generateName, other kinds", test_shapes_and_defaults },
           { "a HyperConverged manifest: its review's warnings, never refused", test_hyperconverged },
           { "unusable input: file, line and column; exit 2", test_unusable },
           { "no answer from the webhook is a refusal", test_no_answer_is_refusal },
           { "allocation failures: an exit code, no crash, no leak", test_alloc_failures })
