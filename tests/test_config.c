/* test_config.c - flag parsing: defaults, every flag, malformed values, durations and sizes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "config.h"

static enum ag_result parse(struct config *cfg, char *err, size_t errlen, int argc, char **argv)
{
    err[0] = '\0';
    return config_parse(argc, argv, cfg, err, errlen);
}

#define ARGV(...) (char *[]){ "archgate", __VA_ARGS__ }
#define ARGC(...) (int)(sizeof((char *[]){ "archgate", __VA_ARGS__ }) / sizeof(char *))
#define PARSE(cfg, err, ...) parse(&(cfg), (err), sizeof(err), ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))

static void test_defaults(void)
{
    struct config c;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(PARSE(c, err, "serve", "--tls-cert", "c.pem", "--tls-key", "k.pem"), AG_OK);
    CU_ASSERT_EQUAL(c.cmd, CMD_SERVE);
    CU_ASSERT_STRING_EQUAL(c.listen_host, "0.0.0.0");
    CU_ASSERT_EQUAL(c.listen_port, 8443);
    CU_ASSERT_EQUAL(c.max_body, 7u * 1024 * 1024);
    CU_ASSERT_EQUAL(c.idle_timeout_s, 120);
    CU_ASSERT_EQUAL(c.shutdown_grace_ms, 10000);
    CU_ASSERT_EQUAL(c.shutdown_delay_ms, 0);
    CU_ASSERT(c.threads >= 1);
    CU_ASSERT_EQUAL(c.policy.multi_arch, MULTI_ARCH_AUTO);
    CU_ASSERT_EQUAL(c.policy.unknown_image, UNKNOWN_IMAGE_WARN);
    CU_ASSERT_EQUAL(c.log_level, LOG_INFO);
    CU_ASSERT_PTR_NULL(c.cluster_state);
    CU_ASSERT_PTR_NULL(c.kubeconfig);
    CU_ASSERT_FALSE(c.in_cluster);
    CU_ASSERT_EQUAL(c.max_staleness_ms, 120000);
    CU_ASSERT_FALSE(c.check_only);
}

static void test_every_flag(void)
{
    struct config c;
    char err[256];
    enum ag_result r = PARSE(c, err, "serve", "--listen", "[::1]:9443", "--tls-cert=c.pem", "--tls-key", "k.pem",
                             "--threads", "4", "--max-body", "3MiB", "--max-connections", "50",
                             "--idle-timeout", "2m", "--connection-memory", "128KiB", "--shutdown-grace", "500ms",
                             "--cert-poll-interval", "200ms", "--cluster-poll-interval", "1s", "--check",
                             "--cluster-state", "dir", "--image-catalog", "cat.json", "--multi-arch", "off",
                             "--unknown-image", "deny", "--log-level", "debug", "--log-format", "json");
    CU_ASSERT_EQUAL_FATAL(r, AG_OK);
    CU_ASSERT_STRING_EQUAL(c.listen_host, "::1");
    CU_ASSERT_EQUAL(c.listen_port, 9443);
    CU_ASSERT_STRING_EQUAL(c.tls_cert, "c.pem");
    CU_ASSERT_EQUAL(c.threads, 4);
    CU_ASSERT_EQUAL(c.max_body, 3u * 1024 * 1024);
    CU_ASSERT_EQUAL(c.max_connections, 50);
    CU_ASSERT_EQUAL(c.idle_timeout_s, 120);
    CU_ASSERT_EQUAL(c.connection_memory, 128u * 1024);
    CU_ASSERT_EQUAL(c.shutdown_grace_ms, 500);
    CU_ASSERT_EQUAL(c.cert_poll_ms, 200);
    CU_ASSERT_EQUAL(c.cluster_poll_ms, 1000);
    CU_ASSERT_TRUE(c.check_only);
    CU_ASSERT_STRING_EQUAL(c.cluster_state, "dir");
    CU_ASSERT_STRING_EQUAL(c.image_catalog, "cat.json");
    CU_ASSERT_EQUAL(c.policy.multi_arch, MULTI_ARCH_OFF);
    CU_ASSERT_EQUAL(c.policy.unknown_image, UNKNOWN_IMAGE_DENY);
    CU_ASSERT_EQUAL(c.log_level, LOG_DEBUG);
    CU_ASSERT_EQUAL(c.log_format, LOG_JSON);
}

static void test_review_flags(void)
{
    struct config c;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(PARSE(c, err, "review", "--mutate", "--multi-arch", "on", "--cluster-state", "d"), AG_OK);
    CU_ASSERT_EQUAL(c.cmd, CMD_REVIEW);
    CU_ASSERT_TRUE(c.mutate);
    CU_ASSERT_EQUAL(c.policy.multi_arch, MULTI_ARCH_ON);
    CU_ASSERT_EQUAL(c.log_level, LOG_WARN);
    CU_ASSERT_EQUAL_FATAL(PARSE(c, err, "review", "--kubeconfig", "/k/config"), AG_OK);
    CU_ASSERT_STRING_EQUAL(c.kubeconfig, "/k/config");
    CU_ASSERT_EQUAL_FATAL(PARSE(c, err, "serve", "--tls-cert", "c", "--tls-key", "k", "--in-cluster",
                                "--max-staleness", "30s"), AG_OK);
    CU_ASSERT_TRUE(c.in_cluster);
    CU_ASSERT_EQUAL(c.max_staleness_ms, 30000);
    CU_ASSERT_EQUAL_FATAL(PARSE(c, err, "serve", "--tls-cert", "c", "--tls-key", "k", "--shutdown-delay", "10s"), AG_OK);
    CU_ASSERT_EQUAL(c.shutdown_delay_ms, 10000);
    /* serve-only flags are refused by review, and review-only flags by serve */
    CU_ASSERT_EQUAL(PARSE(c, err, "review", "--tls-cert", "x"), AG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a flag of review"));
    CU_ASSERT_EQUAL(PARSE(c, err, "serve", "--tls-cert", "c", "--tls-key", "k", "--mutate"), AG_EINVAL);
}

static void test_commands(void)
{
    struct config c;
    char err[256];
    CU_ASSERT_EQUAL(PARSE(c, err, "version"), AG_OK);
    CU_ASSERT_EQUAL(c.cmd, CMD_VERSION);
    CU_ASSERT_EQUAL(PARSE(c, err, "--help"), AG_OK);
    CU_ASSERT_EQUAL(c.cmd, CMD_HELP);
    CU_ASSERT_EQUAL(PARSE(c, err, "serve", "--help"), AG_OK);
    CU_ASSERT_EQUAL(c.cmd, CMD_HELP);
    CU_ASSERT_EQUAL(config_parse(1, ARGV(NULL), &c, err, sizeof err), AG_EINVAL);
    CU_ASSERT_EQUAL(PARSE(c, err, "frobnicate"), AG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown command"));
}

/* Each malformed command line and a fragment its error must contain. */
static void test_malformed(void)
{
    static const struct { const char *args[6]; const char *want; } cases[] = {
        { { "serve", "--tls-key", "k" }, "--tls-cert: required" },
        { { "serve", "--tls-cert", "c" }, "--tls-key: required" },
        { { "serve", "--tls-cert", "c", "--tls-key", "k", "--bogus" }, "unknown flag: --bogus" },
        { { "serve", "--tls-cert", "c", "--tls-key", "k", "--listen" }, "--listen: needs a value" },
        { { "serve", "--tls-cert", "c", "--tls-key", "k", "--listen=nocolon" }, "--listen: not HOST:PORT" },
        { { "serve", "--tls-cert", "c", "--tls-key", "k", "--listen=h:99999" }, "--listen: not HOST:PORT" },
        { { "serve", "--tls-cert", "c", "--tls-key", "k", "--listen=:80" }, "--listen: not HOST:PORT" },
        { { "serve", "--tls-cert", "c", "--tls-key", "k", "--threads=0" }, "--threads" },
        { { "serve", "--tls-cert", "c", "--tls-key", "k", "--threads=4x" }, "--threads" },
        { { "serve", "--tls-cert", "c", "--tls-key", "k", "--threads=-1" }, "--threads" },
        { { "serve", "--tls-cert", "c", "--tls-key", "k", "--max-body=7XB" }, "--max-body" },
        { { "serve", "--tls-cert", "c", "--tls-key", "k", "--max-body=10" }, "--max-body" },
        { { "serve", "--tls-cert", "c", "--tls-key", "k", "--max-body=99999999999999999999" }, "--max-body" },
        { { "serve", "--tls-cert", "c", "--tls-key", "k", "--idle-timeout=10x" }, "--idle-timeout" },
        { { "serve", "--tls-cert", "c", "--tls-key", "k", "--idle-timeout=0s" }, "--idle-timeout" },
        { { "serve", "--tls-cert", "c", "--tls-key", "k", "--shutdown-grace=-5s" }, "--shutdown-grace" },
        { { "serve", "--tls-cert", "c", "--tls-key", "k", "--multi-arch=maybe" }, "--multi-arch" },
        { { "serve", "--tls-cert", "c", "--tls-key", "k", "--unknown-image=ignore" }, "--unknown-image" },
        { { "serve", "--tls-cert", "c", "--tls-key", "k", "--log-level=loud" }, "--log-level" },
        { { "serve", "--tls-cert", "c", "--tls-key", "k", "--log-format=xml" }, "--log-format" },
        { { "serve", "--tls-cert", "c", "--tls-key", "k", "--check=yes" }, "--check: takes no value" },
        { { "serve", "--tls-cert=c", "--tls-key=k", "--cluster-state=d", "--in-cluster" }, "choose one source" },
        { { "review", "--kubeconfig", "kc", "--cluster-state", "d" }, "choose one source" },
        { { "serve", "--tls-cert", "c", "--tls-key", "k", "--max-staleness=0s" }, "--max-staleness" },
        { { "serve", "--tls-cert", "c", "--tls-key", "k", "--shutdown-delay=2h" }, "--shutdown-delay" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *argv[8] = { "archgate" };
        int argc = 1;
        for (int j = 0; j < 6 && cases[i].args[j]; j++)
            argv[argc++] = (char *)cases[i].args[j];
        struct config c;
        char err[256] = "";
        enum ag_result r = config_parse(argc, argv, &c, err, sizeof err);
        CU_ASSERT_EQUAL(r, AG_EINVAL);
        if (!strstr(err, cases[i].want)) {
            fprintf(stderr, "case %zu: error \"%s\" lacks \"%s\"\n", i, err, cases[i].want);
            CU_FAIL("error text");
        }
    }
}

static void test_durations_and_sizes(void)
{
    static const struct { const char *in; int ok; unsigned long long ms; } d[] = {
        { "10s", 1, 10000 }, { "10", 1, 10000 }, { "500ms", 1, 500 }, { "2m", 1, 120000 },
        { "1h", 1, 3600000 }, { "", 0, 0 }, { "s", 0, 0 }, { "1.5s", 0, 0 }, { "-1s", 0, 0 },
        { "10 s", 0, 0 }, { "99999999999999999999h", 0, 0 },
    };
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) {
        unsigned long long v = 0;
        CU_ASSERT_EQUAL(config_parse_duration_ms(d[i].in, &v), d[i].ok);
        if (d[i].ok)
            CU_ASSERT_EQUAL(v, d[i].ms);
    }
    static const struct { const char *in; int ok; unsigned long long b; } s[] = {
        { "7MiB", 1, 7340032 }, { "64KiB", 1, 65536 }, { "1048576", 1, 1048576 }, { "1MB", 1, 1000000 },
        { "2GiB", 1, 2147483648ull }, { "7XB", 0, 0 }, { "MiB", 0, 0 }, { "", 0, 0 }, { "-1", 0, 0 },
    };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        unsigned long long v = 0;
        CU_ASSERT_EQUAL(config_parse_size(s[i].in, &v), s[i].ok);
        if (s[i].ok)
            CU_ASSERT_EQUAL(v, s[i].b);
    }
}

static void test_usage_lists_every_flag(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    config_usage(f);
    fclose(f);
    static const char *const names[] = {
        "--listen", "--tls-cert", "--tls-key", "--threads", "--max-body", "--max-connections",
        "--idle-timeout", "--connection-memory", "--shutdown-grace", "--cert-poll-interval",
        "--cluster-poll-interval", "--check", "--cluster-state", "--image-catalog", "--multi-arch",
        "--unknown-image", "--mutate", "--log-level", "--log-format", "--kubeconfig", "--in-cluster",
        "--max-staleness", "--shutdown-delay",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        CU_ASSERT_PTR_NOT_NULL(strstr(buf, names[i]));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "(default: 7MiB)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "(default: 0.0.0.0:8443)"));
    free(buf);
}

static void test_print(void)
{
    struct config c;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(PARSE(c, err, "serve", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--listen", "[::]:8443"), AG_OK);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    config_print(&c, f);
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "listen                [::]:8443\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "multi-arch            auto\n"));
    free(buf);
}

UNIT_SUITE("config", NULL, NULL,
           { "defaults", test_defaults },
           { "every flag", test_every_flag },
           { "review flags", test_review_flags },
           { "commands", test_commands },
           { "malformed command lines", test_malformed },
           { "durations and sizes", test_durations_and_sizes },
           { "usage lists every flag", test_usage_lists_every_flag },
           { "check listing", test_print })
