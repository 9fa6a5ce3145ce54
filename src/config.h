/* config.h - command-line flags parsed and validated into one struct config. */
#ifndef ARCHGATE_CONFIG_H
#define ARCHGATE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "decide.h"
#include "log.h"
#include "result.h"
#include "registry/client.h"

enum command { CMD_NONE = 0, CMD_SERVE, CMD_REVIEW, CMD_VERSION, CMD_HELP, CMD_CHECK, CMD_AUDIT };

#define CONFIG_MAX_CHECK_INPUTS 256   /* -f arguments of check */

struct config {
    enum command cmd;

    /* serve */
    char listen_host[256];          /* "0.0.0.0" */
    unsigned short listen_port;     /* 8443 */
    const char *tls_cert;
    const char *tls_key;
    unsigned threads;               /* 0 before parsing: number of CPUs */
    size_t max_body;                /* bytes, default 7 MiB */
    unsigned max_connections;       /* default 1024 */
    unsigned idle_timeout_s;        /* per-connection idle timeout, default 120 */
    size_t connection_memory;       /* per-connection memory limit, default 64 KiB */
    unsigned shutdown_grace_ms;     /* default 10 s */
    unsigned shutdown_delay_ms;     /* after SIGTERM: not ready but serving this long, default 0 */
    unsigned cert_poll_ms;          /* how often the certificate files are checked, default 2 s */
    unsigned cluster_poll_ms;       /* how often the cluster-state folder is checked, default 2 s */
    bool check_only;                /* --check */

    /* cluster and policy (serve and review); at most one of cluster_state, kubeconfig, in_cluster */
    const char *cluster_state;      /* folder, NULL: empty cluster */
    const char *kubeconfig;         /* list+watch kube-apiserver with this kubeconfig */
    bool in_cluster;                /* list+watch kube-apiserver as the pod's service account */
    unsigned max_staleness_ms;      /* a watch failing longer makes the view stale, default 2 min */
    const char *image_catalog;      /* file, NULL: none */
    struct policy policy;

    /* registry lookups of containerDisk images and registry imports (serve and review) */
    bool registry_lookup;           /* --registry-lookup on|off, default on */
    unsigned registry_timeout_ms;   /* a request waits at most this long, default 1500 */
    size_t registry_cache_size;     /* references, default 10000 */
    unsigned long long registry_cache_ttl_ms;   /* tags, default 1 h */
    const char *registry_auth;      /* Docker config file, NULL: anonymous */
    const char *registry_ca;        /* extra CA bundle, NULL: system store only */
    const char *registry_insecure;  /* "host[,host]" over plain HTTP, NULL: none */
    struct registry_mirror registry_mirrors[REGISTRY_MIRRORS_MAX];
    size_t nregistry_mirrors;

    /* review and check */
    bool mutate;

    /* check */
    const char *check_inputs[CONFIG_MAX_CHECK_INPUTS];  /* -f FILE|DIR|- */
    size_t ncheck_inputs;
    bool check_json;                /* -o json */
    size_t check_max_file;          /* --max-file, default 8 MiB */
    /* audit (the subcommand) and the auditor of serve */
    bool audit_json;                /* audit -o json (default: table) */
    bool audit_events;              /* serve: Kubernetes Events on VMs that would be refused (default on) */
    bool leader_elect;              /* serve: audit only while holding the Lease (default on with a kube source) */
    const char *lease_name;         /* default "archgate-auditor" */
    const char *lease_namespace;    /* default: $POD_NAMESPACE, else the kubeconfig's namespace */

    /* logs */
    enum log_level log_level;
    enum log_format log_format;
};

/* Parse argv (argv[0] is the program, argv[1] the subcommand). On AG_EINVAL `err` holds one
 * line ("--max-body: not a size: 7XB"). Strings point into argv. */
enum ag_result config_parse(int argc, char **argv, struct config *cfg, char *err, size_t errlen);

/* The full usage text with every flag and its default. */
void config_usage(FILE *out);

/* What `serve --check` prints: every setting, one per line. */
void config_print(const struct config *cfg, FILE *out);

/* "10s", "500ms", "2m", "1h", or bare seconds -> milliseconds. */
bool config_parse_duration_ms(const char *s, unsigned long long *out);
/* "7MiB", "512KiB", "1GiB", "1MB", or bare bytes -> bytes. */
bool config_parse_size(const char *s, unsigned long long *out);

#endif
