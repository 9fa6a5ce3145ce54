/* config.h - command-line flags parsed and validated into one struct config. */
#ifndef ARCHGATE_CONFIG_H
#define ARCHGATE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "decide.h"
#include "log.h"
#include "result.h"

enum command { CMD_NONE = 0, CMD_SERVE, CMD_REVIEW, CMD_VERSION, CMD_HELP, CMD_AUDIT };

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

    /* review */
    bool mutate;

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
