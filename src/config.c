/* config.c - command-line flags: parsing, validation, usage text and the --check listing. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"

#define MIB (1024ull * 1024ull)

/* One flag: its name, which subcommands take it, the value placeholder (NULL: a switch),
 * the default shown in --help, and the help text. */
enum { FOR_SERVE = 1, FOR_REVIEW = 2, FOR_CHECK = 4, FOR_AUDIT = 8 };
struct flag {
    const char *name;
    int for_cmds;
    const char *arg;
    const char *def;
    const char *help;
};

static const struct flag flags[] = {
    { "--listen", FOR_SERVE, "HOST:PORT", "0.0.0.0:8443", "address to serve HTTPS on ([::]:8443 for IPv6)" },
    { "--tls-cert", FOR_SERVE, "FILE", "(required)", "serving certificate, PEM (reloaded when it changes)" },
    { "--tls-key", FOR_SERVE, "FILE", "(required)", "private key of the certificate, PEM" },
    { "--threads", FOR_SERVE, "N", "number of CPUs", "request threads (epoll thread pool)" },
    { "--max-body", FOR_SERVE | FOR_REVIEW, "SIZE", "7MiB", "largest request body; larger bodies get 413 (one more than 64 MiB over it: the connection is closed unanswered)" },
    { "--max-connections", FOR_SERVE, "N", "1024", "concurrent connections; more are refused" },
    { "--idle-timeout", FOR_SERVE, "DURATION", "120s", "close a connection idle (or stalled) this long" },
    { "--connection-memory", FOR_SERVE, "SIZE", "64KiB", "memory limit per connection (headers and buffers)" },
    { "--shutdown-grace", FOR_SERVE, "DURATION", "10s", "on SIGTERM, time to finish requests in flight" },
    { "--shutdown-delay", FOR_SERVE, "DURATION", "0s", "on SIGTERM, report not ready but keep serving this long first, so endpoints drain" },
    { "--cert-poll-interval", FOR_SERVE, "DURATION", "2s", "how often the certificate files are checked" },
    { "--cluster-poll-interval", FOR_SERVE, "DURATION", "2s", "how often the cluster-state folder is checked" },
    { "--check", FOR_SERVE, NULL, "off", "validate flags, certificates and cluster state, print the settings, exit" },
    { "--cluster-state", FOR_SERVE | FOR_REVIEW | FOR_CHECK | FOR_AUDIT, "DIR", "(none: empty cluster)", "folder of `kubectl get -o json` files" },
    { "--kubeconfig", FOR_SERVE | FOR_REVIEW | FOR_CHECK | FOR_AUDIT, "FILE", "(none)", "list and watch the cluster through kube-apiserver, as this kubeconfig says" },
    { "--in-cluster", FOR_SERVE | FOR_REVIEW | FOR_CHECK | FOR_AUDIT, NULL, "off", "list and watch the cluster as the pod's service account" },
    { "--max-staleness", FOR_SERVE, "DURATION", "2m", "a watch failing this long makes the cluster view stale (warned)" },
    { "--image-catalog", FOR_SERVE | FOR_REVIEW | FOR_CHECK | FOR_AUDIT, "FILE", "(none)", "JSON map of containerDisk images to architectures" },
    { "--multi-arch", FOR_SERVE | FOR_REVIEW | FOR_CHECK | FOR_AUDIT, "auto|on|off", "auto", "multi-architecture boot images (auto: read HyperConverged)" },
    { "--unknown-image", FOR_SERVE | FOR_REVIEW | FOR_CHECK | FOR_AUDIT, "allow|warn|deny", "warn", "answer for a VM whose image architecture is unknown" },
    { "--registry-lookup", FOR_SERVE | FOR_REVIEW | FOR_CHECK, "on|off", "on", "read containerDisk and registry-import architectures from the registry" },
    { "--registry-timeout", FOR_SERVE | FOR_REVIEW | FOR_CHECK, "DURATION", "1.5s", "longest a request waits for a registry lookup not in the cache" },
    { "--registry-cache-size", FOR_SERVE | FOR_REVIEW | FOR_CHECK, "N", "10000", "image references the registry cache keeps (least recently used out)" },
    { "--registry-cache-ttl", FOR_SERVE | FOR_REVIEW | FOR_CHECK, "DURATION", "1h", "how long a tag's architectures are kept (digests: while cached)" },
    { "--registry-auth", FOR_SERVE | FOR_REVIEW | FOR_CHECK, "FILE", "(none: anonymous)", "Docker config file (.dockerconfigjson) with registry credentials" },
    { "--registry-ca", FOR_SERVE | FOR_REVIEW | FOR_CHECK, "FILE", "(system store)", "CA certificates trusted for registries besides the system store, PEM" },
    { "--registry-insecure", FOR_SERVE | FOR_REVIEW | FOR_CHECK, "HOST[,HOST]", "(none)", "registries asked over plain HTTP" },
    { "--registry-mirror", FOR_SERVE | FOR_REVIEW | FOR_CHECK, "FROM=TO", "(none)", "ask registry TO instead of FROM (repeatable)" },
    { "--mutate", FOR_REVIEW | FOR_CHECK, NULL, "off", "review: answer as /mutate instead of /validate; check: /mutate first, show its patch, validate the result" },
    { "-f", FOR_CHECK, "FILE|DIR|-", "(required)", "manifest file, folder of *.yaml/*.yml/*.json, or - for stdin; repeatable" },
    { "--filename", FOR_CHECK, "FILE|DIR|-", "(required)", "the same as -f" },
    { "-o", FOR_CHECK, "text|json", "text", "output: a block per object for people, or one JSON document" },
    { "--output", FOR_CHECK, "text|json", "text", "the same as -o" },
    { "--max-file", FOR_CHECK, "SIZE", "8MiB", "larger manifest files are refused without being read" },
    { "-o", FOR_AUDIT, "table|json", "table", "audit output: one line per VM that would be refused and a summary, or JSON" },
    { "--audit-events", FOR_SERVE, "true|false", "true", "Kubernetes Events on VMs that would be refused now (and on recovery)" },
    { "--leader-elect", FOR_SERVE, "true|false", "true", "with a kube source, audit only while holding the Lease (one auditor among replicas)" },
    { "--lease-name", FOR_SERVE, "NAME", "archgate-auditor", "the coordination.k8s.io Lease of the auditor" },
    { "--lease-namespace", FOR_SERVE, "NS", "$POD_NAMESPACE", "namespace of the Lease (else the kubeconfig's, else default)" },
    { "--log-level", FOR_SERVE | FOR_REVIEW | FOR_CHECK | FOR_AUDIT, "debug|info|warn|error", "info (review, check, audit: warn)", "least severe level logged" },
    { "--log-format", FOR_SERVE | FOR_REVIEW | FOR_CHECK | FOR_AUDIT, "text|json", "text", "log line format (stderr)" },
};

/* The flag `name` of the command `mask` (a name may mean different things to two commands: -o);
 * else the first of that name, for the "not a flag of" message; NULL when none. */
static const struct flag *find_flag(const char *name, int mask)
{
    const struct flag *any = NULL;
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (strcmp(flags[i].name, name) == 0) {
            if (flags[i].for_cmds & mask)
                return &flags[i];
            if (!any)
                any = &flags[i];
        }
    return any;
}

static enum ag_result fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum ag_result fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return AG_EINVAL;
}

static bool parse_u64(const char *s, unsigned long long *out, const char **rest)
{
    if (!s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE || end == s)
        return false;
    *out = v;
    *rest = end;
    return true;
}

/* Milliseconds per unit of a duration: "" and "s" (seconds), "ms", "m", "h". */
static bool duration_unit_ms(const char *unit, unsigned long long *mult)
{
    static const struct { const char *u; unsigned long long ms; } units[] = {
        { "", 1000 }, { "s", 1000 }, { "ms", 1 }, { "m", 60000 }, { "h", 3600000 },
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(unit, units[i].u) == 0) {
            *mult = units[i].ms;
            return true;
        }
    return false;
}

bool config_parse_duration_ms(const char *s, unsigned long long *out)
{
    unsigned long long v, mult;
    const char *unit;
    if (!parse_u64(s, &v, &unit) || !duration_unit_ms(unit, &mult))
        return false;
    if (v > ULLONG_MAX / mult)
        return false;
    *out = v * mult;
    return true;
}

bool config_parse_size(const char *s, unsigned long long *out)
{
    unsigned long long v;
    const char *unit;
    if (!parse_u64(s, &v, &unit))
        return false;
    static const struct { const char *u; unsigned long long m; } units[] = {
        { "", 1 }, { "B", 1 }, { "KiB", 1024ull }, { "MiB", MIB }, { "GiB", 1024ull * MIB },
        { "KB", 1000ull }, { "MB", 1000000ull }, { "GB", 1000000000ull }, { "k", 1024ull },
        { "K", 1024ull }, { "M", MIB }, { "G", 1024ull * MIB },
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(unit, units[i].u) == 0) {
            if (v > ULLONG_MAX / units[i].m)
                return false;
            *out = v * units[i].m;
            return true;
        }
    }
    return false;
}

/* A duration that may have a fraction: "1.5s", "250ms", "2" (seconds). */
static bool parse_duration_frac_ms(const char *s, unsigned long long *out)
{
    unsigned long long whole = 0, frac = 0, scale = 1;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return false;
    while (*p >= '0' && *p <= '9') {
        if (whole > 1000000000ull)
            return false;
        whole = whole * 10 + (unsigned long long)(*p++ - '0');
    }
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9') {
            if (scale < 1000000ull) {
                frac = frac * 10 + (unsigned long long)(*p - '0');
                scale *= 10;
            }
            p++;
        }
    }
    unsigned long long mult;
    if (!duration_unit_ms(p, &mult))
        return false;
    *out = whole * mult + frac * mult / scale;
    return true;
}

static bool parse_listen(const char *s, struct config *cfg)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return false;
    const char *host = s;
    size_t hlen = (size_t)(colon - s);
    if (host[0] == '[') {           /* [::1]:8443 */
        if (hlen < 3 || host[hlen - 1] != ']')
            return false;
        host++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= sizeof cfg->listen_host)
        return false;
    unsigned long long port;
    const char *rest;
    if (!parse_u64(colon + 1, &port, &rest) || *rest || port > 65535)
        return false;
    memcpy(cfg->listen_host, host, hlen);
    cfg->listen_host[hlen] = '\0';
    cfg->listen_port = (unsigned short)port;
    return true;
}

static void set_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->listen_host, sizeof cfg->listen_host, "0.0.0.0");
    cfg->listen_port = 8443;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->threads = n > 0 && n < 1024 ? (unsigned)n : 1;
    cfg->max_body = 7 * MIB;
    cfg->max_connections = 1024;
    cfg->idle_timeout_s = 120;
    cfg->connection_memory = 64 * 1024;
    cfg->shutdown_grace_ms = 10000;
    cfg->cert_poll_ms = 2000;
    cfg->cluster_poll_ms = 2000;
    cfg->max_staleness_ms = 120000;
    cfg->policy.multi_arch = MULTI_ARCH_AUTO;
    cfg->policy.unknown_image = UNKNOWN_IMAGE_WARN;
    cfg->log_level = LOG_INFO;
    cfg->log_format = LOG_TEXT;
    cfg->registry_lookup = true;
    cfg->registry_timeout_ms = 1500;
    cfg->registry_cache_size = 10000;
    cfg->registry_cache_ttl_ms = 3600000ull;
    cfg->check_max_file = 8 * MIB;
    cfg->audit_events = true;
    cfg->leader_elect = true;
    cfg->lease_name = "archgate-auditor";
}

/* Apply one flag with its value (NULL for switches). */
static enum ag_result apply(struct config *cfg, const struct flag *f, const char *v, char *err, size_t errlen)
{
    unsigned long long n;
    const char *name = f->name;
    if (strcmp(name, "--listen") == 0) {
        if (!parse_listen(v, cfg))
            return fail(err, errlen, "--listen: not HOST:PORT: %s", v);
    } else if (strcmp(name, "--tls-cert") == 0) {
        cfg->tls_cert = v;
    } else if (strcmp(name, "--tls-key") == 0) {
        cfg->tls_key = v;
    } else if (strcmp(name, "--threads") == 0) {
        const char *rest;
        if (!parse_u64(v, &n, &rest) || *rest || n < 1 || n > 256)
            return fail(err, errlen, "--threads: want a number from 1 to 256, got %s", v);
        cfg->threads = (unsigned)n;
    } else if (strcmp(name, "--max-body") == 0) {
        if (!config_parse_size(v, &n) || n < 1024 || n > 1024 * MIB)
            return fail(err, errlen, "--max-body: want a size from 1KiB to 1GiB (e.g. 7MiB), got %s", v);
        cfg->max_body = (size_t)n;
    } else if (strcmp(name, "--max-connections") == 0) {
        const char *rest;
        if (!parse_u64(v, &n, &rest) || *rest || n < 1 || n > 1000000)
            return fail(err, errlen, "--max-connections: want a number from 1 to 1000000, got %s", v);
        cfg->max_connections = (unsigned)n;
    } else if (strcmp(name, "--idle-timeout") == 0) {
        if (!config_parse_duration_ms(v, &n) || n < 1000 || n > 86400000ull)
            return fail(err, errlen, "--idle-timeout: want a duration from 1s to 24h, got %s", v);
        cfg->idle_timeout_s = (unsigned)(n / 1000);
    } else if (strcmp(name, "--connection-memory") == 0) {
        if (!config_parse_size(v, &n) || n < 8192 || n > 64 * MIB)
            return fail(err, errlen, "--connection-memory: want a size from 8KiB to 64MiB, got %s", v);
        cfg->connection_memory = (size_t)n;
    } else if (strcmp(name, "--shutdown-grace") == 0) {
        if (!config_parse_duration_ms(v, &n) || n > 3600000ull)
            return fail(err, errlen, "--shutdown-grace: want a duration up to 1h, got %s", v);
        cfg->shutdown_grace_ms = (unsigned)n;
    } else if (strcmp(name, "--shutdown-delay") == 0) {
        if (!config_parse_duration_ms(v, &n) || n > 3600000ull)
            return fail(err, errlen, "--shutdown-delay: want a duration up to 1h, got %s", v);
        cfg->shutdown_delay_ms = (unsigned)n;
    } else if (strcmp(name, "--cert-poll-interval") == 0) {
        if (!config_parse_duration_ms(v, &n) || n < 10 || n > 3600000ull)
            return fail(err, errlen, "--cert-poll-interval: want a duration from 10ms to 1h, got %s", v);
        cfg->cert_poll_ms = (unsigned)n;
    } else if (strcmp(name, "--cluster-poll-interval") == 0) {
        if (!config_parse_duration_ms(v, &n) || n < 10 || n > 3600000ull)
            return fail(err, errlen, "--cluster-poll-interval: want a duration from 10ms to 1h, got %s", v);
        cfg->cluster_poll_ms = (unsigned)n;
    } else if (strcmp(name, "--check") == 0) {
        cfg->check_only = true;
    } else if (strcmp(name, "--cluster-state") == 0) {
        cfg->cluster_state = v;
    } else if (strcmp(name, "--kubeconfig") == 0) {
        cfg->kubeconfig = v;
    } else if (strcmp(name, "--in-cluster") == 0) {
        cfg->in_cluster = true;
    } else if (strcmp(name, "--max-staleness") == 0) {
        if (!config_parse_duration_ms(v, &n) || n < 1000 || n > 86400000ull)
            return fail(err, errlen, "--max-staleness: want a duration from 1s to 24h, got %s", v);
        cfg->max_staleness_ms = (unsigned)n;
    } else if (strcmp(name, "--image-catalog") == 0) {
        cfg->image_catalog = v;
    } else if (strcmp(name, "--multi-arch") == 0) {
        if (strcmp(v, "auto") == 0)
            cfg->policy.multi_arch = MULTI_ARCH_AUTO;
        else if (strcmp(v, "on") == 0)
            cfg->policy.multi_arch = MULTI_ARCH_ON;
        else if (strcmp(v, "off") == 0)
            cfg->policy.multi_arch = MULTI_ARCH_OFF;
        else
            return fail(err, errlen, "--multi-arch: want auto, on or off, got %s", v);
    } else if (strcmp(name, "--unknown-image") == 0) {
        if (strcmp(v, "allow") == 0)
            cfg->policy.unknown_image = UNKNOWN_IMAGE_ALLOW;
        else if (strcmp(v, "warn") == 0)
            cfg->policy.unknown_image = UNKNOWN_IMAGE_WARN;
        else if (strcmp(v, "deny") == 0)
            cfg->policy.unknown_image = UNKNOWN_IMAGE_DENY;
        else
            return fail(err, errlen, "--unknown-image: want allow, warn or deny, got %s", v);
    } else if (strcmp(name, "--registry-lookup") == 0) {
        if (strcmp(v, "on") == 0)
            cfg->registry_lookup = true;
        else if (strcmp(v, "off") == 0)
            cfg->registry_lookup = false;
        else
            return fail(err, errlen, "--registry-lookup: want on or off, got %s", v);
    } else if (strcmp(name, "--registry-timeout") == 0) {
        if (!parse_duration_frac_ms(v, &n) || n < 10 || n > 30000)
            return fail(err, errlen, "--registry-timeout: want a duration from 10ms to 30s (e.g. 1.5s), got %s", v);
        cfg->registry_timeout_ms = (unsigned)n;
    } else if (strcmp(name, "--registry-cache-size") == 0) {
        const char *rest;
        if (!parse_u64(v, &n, &rest) || *rest || n < 1 || n > 10000000)
            return fail(err, errlen, "--registry-cache-size: want a number from 1 to 10000000, got %s", v);
        cfg->registry_cache_size = (size_t)n;
    } else if (strcmp(name, "--registry-cache-ttl") == 0) {
        if (!config_parse_duration_ms(v, &n) || n < 1000 || n > 7 * 86400000ull)
            return fail(err, errlen, "--registry-cache-ttl: want a duration from 1s to 168h, got %s", v);
        cfg->registry_cache_ttl_ms = n;
    } else if (strcmp(name, "--registry-auth") == 0) {
        cfg->registry_auth = v;
    } else if (strcmp(name, "--registry-ca") == 0) {
        cfg->registry_ca = v;
    } else if (strcmp(name, "--registry-insecure") == 0) {
        if (!*v || strpbrk(v, " /"))
            return fail(err, errlen, "--registry-insecure: want HOST[:PORT][,HOST...], got %s", v);
        cfg->registry_insecure = v;
    } else if (strcmp(name, "--registry-mirror") == 0) {
        if (cfg->nregistry_mirrors >= REGISTRY_MIRRORS_MAX)
            return fail(err, errlen, "--registry-mirror: at most %d", REGISTRY_MIRRORS_MAX);
        if (!registry_mirror_parse(v, &cfg->registry_mirrors[cfg->nregistry_mirrors]))
            return fail(err, errlen, "--registry-mirror: want FROM=TO (registry hosts), got %s", v);
        cfg->nregistry_mirrors++;
    } else if (strcmp(name, "--mutate") == 0) {
        cfg->mutate = true;
    } else if (strcmp(name, "-f") == 0 || strcmp(name, "--filename") == 0) {
        if (!*v)
            return fail(err, errlen, "%s: empty file name", name);
        if (cfg->ncheck_inputs >= CONFIG_MAX_CHECK_INPUTS)
            return fail(err, errlen, "%s: more than %d inputs", name, CONFIG_MAX_CHECK_INPUTS);
        cfg->check_inputs[cfg->ncheck_inputs++] = v;
    } else if ((strcmp(name, "-o") == 0 || strcmp(name, "--output") == 0) && cfg->cmd == CMD_AUDIT) {
        if (strcmp(v, "table") == 0)
            cfg->audit_json = false;
        else if (strcmp(v, "json") == 0)
            cfg->audit_json = true;
        else
            return fail(err, errlen, "%s: want table or json, got %s", name, v);
    } else if (strcmp(name, "-o") == 0 || strcmp(name, "--output") == 0) {
        if (strcmp(v, "json") == 0)
            cfg->check_json = true;
        else if (strcmp(v, "text") == 0)
            cfg->check_json = false;
        else
            return fail(err, errlen, "%s: want text or json, got %s", name, v);
    } else if (strcmp(name, "--max-file") == 0) {
        if (!config_parse_size(v, &n) || n < 1 || n > 1024 * MIB)
            return fail(err, errlen, "--max-file: want a size up to 1GiB (e.g. 8MiB), got %s", v);
        cfg->check_max_file = (size_t)n;
    } else if (strcmp(name, "--audit-events") == 0 || strcmp(name, "--leader-elect") == 0) {
        bool on;
        if (strcmp(v, "true") == 0)
            on = true;
        else if (strcmp(v, "false") == 0)
            on = false;
        else
            return fail(err, errlen, "%s: want true or false, got %s", name, v);
        if (name[2] == 'a')
            cfg->audit_events = on;
        else
            cfg->leader_elect = on;
    } else if (strcmp(name, "--lease-name") == 0) {
        if (!*v || strlen(v) > 253)
            return fail(err, errlen, "--lease-name: want a name of 1 to 253 characters");
        cfg->lease_name = v;
    } else if (strcmp(name, "--lease-namespace") == 0) {
        if (!*v || strlen(v) > 63)
            return fail(err, errlen, "--lease-namespace: want a namespace of 1 to 63 characters");
        cfg->lease_namespace = v;
    } else if (strcmp(name, "--log-level") == 0) {
        if (!log_parse_level(v, &cfg->log_level))
            return fail(err, errlen, "--log-level: want debug, info, warn or error, got %s", v);
    } else if (strcmp(name, "--log-format") == 0) {
        if (!log_parse_format(v, &cfg->log_format))
            return fail(err, errlen, "--log-format: want text or json, got %s", v);
    } else {
        return fail(err, errlen, "%s: not handled", name);
    }
    return AG_OK;
}

enum ag_result config_parse(int argc, char **argv, struct config *cfg, char *err, size_t errlen)
{
    set_defaults(cfg);
    if (argc < 2)
        return fail(err, errlen, "missing command: serve, review, check, audit or version (see archgate --help)");
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0)
        cfg->cmd = CMD_SERVE;
    else if (strcmp(cmd, "review") == 0)
        cfg->cmd = CMD_REVIEW;
    else if (strcmp(cmd, "check") == 0)
        cfg->cmd = CMD_CHECK;
    else if (strcmp(cmd, "audit") == 0)
        cfg->cmd = CMD_AUDIT;
    else if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0)
        cfg->cmd = CMD_VERSION;
    else if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
        cfg->cmd = CMD_HELP;
    else
        return fail(err, errlen, "unknown command: %s (want serve, review, check, audit or version)", cmd);
    if (cfg->cmd == CMD_VERSION || cfg->cmd == CMD_HELP)
        return AG_OK;
    int mask = cfg->cmd == CMD_SERVE ? FOR_SERVE : cfg->cmd == CMD_CHECK ? FOR_CHECK
             : cfg->cmd == CMD_AUDIT ? FOR_AUDIT : FOR_REVIEW;
    if (cfg->cmd == CMD_REVIEW || cfg->cmd == CMD_CHECK || cfg->cmd == CMD_AUDIT)
        cfg->log_level = LOG_WARN;  /* stdout is the answer; stderr carries only problems */

    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cfg->cmd = CMD_HELP;
            return AG_OK;
        }
        char name[64];
        const char *val = NULL;
        const char *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        if (nlen >= sizeof name)
            return fail(err, errlen, "unknown flag: %.60s...", a);
        memcpy(name, a, nlen);
        name[nlen] = '\0';
        const struct flag *f = find_flag(name, mask);
        if (!f)
            return fail(err, errlen, "unknown flag: %s", name);
        if (!(f->for_cmds & mask))
            return fail(err, errlen, "%s: not a flag of %s", name, cmd);
        if (f->arg) {
            if (eq)
                val = eq + 1;
            else if (i + 1 < argc)
                val = argv[++i];
            else
                return fail(err, errlen, "%s: needs a value (%s)", name, f->arg);
        } else if (eq) {
            return fail(err, errlen, "%s: takes no value", name);
        }
        enum ag_result r = apply(cfg, f, val, err, errlen);
        if (r != AG_OK)
            return r;
    }
    int sources = (cfg->cluster_state != NULL) + (cfg->kubeconfig != NULL) + cfg->in_cluster;
    if (sources > 1)
        return fail(err, errlen, "--cluster-state, --kubeconfig and --in-cluster: choose one source of cluster state");
    if (cfg->cmd == CMD_CHECK && cfg->ncheck_inputs == 0)
        return fail(err, errlen, "check: give the manifests with -f FILE|DIR|- (see archgate --help)");
    if (cfg->cmd == CMD_SERVE) {
        if (!cfg->tls_cert || !*cfg->tls_cert)
            return fail(err, errlen, "--tls-cert: required for serve");
        if (!cfg->tls_key || !*cfg->tls_key)
            return fail(err, errlen, "--tls-key: required for serve");
    }
    return AG_OK;
}

static void usage_section(FILE *out, int mask)
{
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        const struct flag *f = &flags[i];
        if (!(f->for_cmds & mask))
            continue;
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", f->name, f->arg ? " " : "", f->arg ? f->arg : "");
        fprintf(out, "  %-34s %s (default: %s)\n", left, f->help, f->def);
    }
}

void config_usage(FILE *out)
{
    fputs("archgate - admission webhook that keeps KubeVirt VMs on nodes that can boot their image\n\n"
          "Usage:\n"
          "  archgate serve --tls-cert FILE --tls-key FILE [flags]   serve /validate and /mutate over HTTPS\n"
          "  archgate review [--mutate] [flags] < review.json        decide one AdmissionReview, print the answer\n"
          "  archgate check -f FILE|DIR|- [-o text|json] [flags]     would these VM manifests be admitted?\n"
          "  archgate audit [--cluster-state DIR|--kubeconfig FILE|--in-cluster] [-o table|json]\n"
          "                                                          which existing VMs would be refused now\n"
          "  archgate version                                        print the version\n"
          "  archgate --help                                         this text\n\n"
          "serve flags:\n", out);
    usage_section(out, FOR_SERVE);
    fputs("\nreview flags:\n", out);
    usage_section(out, FOR_REVIEW);
    fputs("\ncheck flags:\n", out);
    usage_section(out, FOR_CHECK);
    fputs("\naudit flags:\n", out);
    usage_section(out, FOR_AUDIT);
    fputs("\nDurations: 500ms, 10s, 2m, 1h (bare numbers are seconds). Sizes: 7MiB, 64KiB, 1048576.\n"
          "Signals (serve): SIGHUP reloads certificate and cluster state now; SIGTERM/SIGINT: report\n"
          "not ready and keep serving for --shutdown-delay (a second signal cuts it short), then stop\n"
          "accepting, finish requests in flight within --shutdown-grace, exit 0.\n"
          "review exits 0 with the answer on stdout (allowed or denied), 2 on unusable input,\n"
          "1 when the cluster state or image catalog cannot be read.\n"
          "check exits 0 when every object would be admitted, 1 when any would be refused, 2 on\n"
          "unusable input (a file that cannot be read or parsed) or flags. As kubectl-archgate (a\n"
          "link to this program) it is the kubectl plugin: kubectl archgate check -f vm.yaml.\n"
          "audit exits 0 when no VM would be refused, 1 when some would, 2 on bad flags or when the\n"
          "cluster state or the VMs cannot be read.\n", out);
}

static const char *multi_arch_name(enum multi_arch_mode m)
{
    return m == MULTI_ARCH_ON ? "on" : m == MULTI_ARCH_OFF ? "off" : "auto";
}

static const char *unknown_image_name(enum unknown_image_mode m)
{
    return m == UNKNOWN_IMAGE_ALLOW ? "allow" : m == UNKNOWN_IMAGE_DENY ? "deny" : "warn";
}

void config_print(const struct config *cfg, FILE *out)
{
    static const char *const levels[] = { "debug", "info", "warn", "error" };
    bool v6 = strchr(cfg->listen_host, ':') != NULL;
    fprintf(out, "listen                %s%s%s:%u\n", v6 ? "[" : "", cfg->listen_host, v6 ? "]" : "",
            cfg->listen_port);
    fprintf(out, "tls-cert              %s\n", cfg->tls_cert ? cfg->tls_cert : "(none)");
    fprintf(out, "tls-key               %s\n", cfg->tls_key ? cfg->tls_key : "(none)");
    fprintf(out, "threads               %u\n", cfg->threads);
    fprintf(out, "max-body              %zu bytes\n", cfg->max_body);
    fprintf(out, "max-connections       %u\n", cfg->max_connections);
    fprintf(out, "idle-timeout          %us\n", cfg->idle_timeout_s);
    fprintf(out, "connection-memory     %zu bytes\n", cfg->connection_memory);
    fprintf(out, "shutdown-grace        %ums\n", cfg->shutdown_grace_ms);
    fprintf(out, "shutdown-delay        %ums\n", cfg->shutdown_delay_ms);
    fprintf(out, "cert-poll-interval    %ums\n", cfg->cert_poll_ms);
    fprintf(out, "cluster-poll-interval %ums\n", cfg->cluster_poll_ms);
    fprintf(out, "cluster-state         %s\n", cfg->cluster_state ? cfg->cluster_state : "(none)");
    fprintf(out, "kubeconfig            %s\n", cfg->kubeconfig ? cfg->kubeconfig : "(none)");
    fprintf(out, "in-cluster            %s\n", cfg->in_cluster ? "yes" : "no");
    fprintf(out, "max-staleness         %ums\n", cfg->max_staleness_ms);
    fprintf(out, "image-catalog         %s\n", cfg->image_catalog ? cfg->image_catalog : "(none)");
    fprintf(out, "multi-arch            %s\n", multi_arch_name(cfg->policy.multi_arch));
    fprintf(out, "unknown-image         %s\n", unknown_image_name(cfg->policy.unknown_image));
    fprintf(out, "registry-lookup       %s\n", cfg->registry_lookup ? "on" : "off");
    fprintf(out, "registry-timeout      %ums\n", cfg->registry_timeout_ms);
    fprintf(out, "registry-cache-size   %zu\n", cfg->registry_cache_size);
    fprintf(out, "registry-cache-ttl    %llums\n", cfg->registry_cache_ttl_ms);
    fprintf(out, "registry-auth         %s\n", cfg->registry_auth ? cfg->registry_auth : "(none)");
    fprintf(out, "registry-ca           %s\n", cfg->registry_ca ? cfg->registry_ca : "(none)");
    fprintf(out, "registry-insecure     %s\n", cfg->registry_insecure ? cfg->registry_insecure : "(none)");
    for (size_t i = 0; i < cfg->nregistry_mirrors; i++)
        fprintf(out, "registry-mirror       %s=%s\n", cfg->registry_mirrors[i].from, cfg->registry_mirrors[i].to);
    fprintf(out, "audit-events          %s\n", cfg->audit_events ? "true" : "false");
    fprintf(out, "leader-elect          %s\n", cfg->leader_elect ? "true" : "false");
    fprintf(out, "lease                 %s/%s\n", cfg->lease_namespace ? cfg->lease_namespace : "$POD_NAMESPACE",
            cfg->lease_name);
    fprintf(out, "log-level             %s\n", levels[cfg->log_level]);
    fprintf(out, "log-format            %s\n", cfg->log_format == LOG_JSON ? "json" : "text");
}
