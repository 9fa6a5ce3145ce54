/* main.c - the archgate command: subcommands (serve, review, version), signals, and the order
 * in which the server's parts start and stop. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "check/check.h"
#include "config.h"
#include "cluster.h"
#include "clock.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "registry/auth.h"
#include "registry/resolver.h"
#include "source_file.h"
#include "source_kube.h"
#include "tlsfiles.h"
#include "version.h"
#include "webhook.h"
#include "audit/audit.h"
#include "audit/inventory.h"
#include "audit/vmsource.h"
#include "audit/auditor.h"
#include "audit/lease.h"

/* Read all of stdin, at most `limit` bytes. *too_big is set when there was more. */
static char *read_stdin(size_t limit, size_t *len, bool *too_big)
{
    size_t cap = 64 * 1024, n = 0;
    char *buf = mem_malloc(cap + 1);
    *too_big = false;
    if (!buf)
        return NULL;
    for (;;) {
        if (n == cap) {
            if (cap > limit) {
                *too_big = true;
                break;
            }
            size_t ncap = cap * 2;
            char *nb = mem_realloc(buf, ncap + 1);
            if (!nb) {
                mem_free(buf);
                return NULL;
            }
            buf = nb;
            cap = ncap;
        }
        size_t r = fread(buf + n, 1, cap - n, stdin);
        n += r;
        if (r == 0)
            break;
    }
    if (n > limit)
        *too_big = true;
    buf[n] = '\0';
    *len = n;
    return buf;
}

static bool uses_kube(const struct config *cfg)
{
    return cfg->kubeconfig || cfg->in_cluster;
}

static enum ag_result load_kube_config(const struct config *cfg, struct kube_config *kc, char *err, size_t errlen)
{
    if (cfg->in_cluster)
        return kube_config_in_cluster(NULL, kc, err, errlen);
    return kube_config_load(cfg->kubeconfig, kc, err, errlen);
}

/* One snapshot of the cluster as the flags say: the folder, or one list of every kind. */
static enum ag_result load_once(const struct config *cfg, struct snapshot **snap, char *err, size_t errlen)
{
    if (!uses_kube(cfg))
        return source_file_load(cfg->cluster_state, cfg->image_catalog, snap, err, errlen);
    struct kube_config kc = { 0 };
    enum ag_result r = load_kube_config(cfg, &kc, err, errlen);
    if (r == AG_OK)
        r = source_kube_list_once(&kc, cfg->image_catalog, snap, err, errlen);
    kube_config_free(&kc);
    return r;
}

/* The registry resolver as the --registry-* flags say (nothing with --registry-lookup off). */
static struct registry_creds *registry_creds;
static bool registry_start(const struct config *cfg, char *err, size_t errlen)
{
    if (!cfg->registry_lookup)
        return true;
    /* A missing file is anonymous access: the manifests mount an optional Secret there. */
    if (cfg->registry_auth && access(cfg->registry_auth, F_OK) != 0 && errno == ENOENT)
        log_warn("--registry-auth %s does not exist: registries are asked anonymously", cfg->registry_auth);
    else if (cfg->registry_auth && registry_creds_load(cfg->registry_auth, &registry_creds, err, errlen) != AG_OK)
        return false;
    else if (registry_creds)
        log_info("registry credentials for %zu registries from %s", registry_creds_count(registry_creds),
                 cfg->registry_auth);
    struct registry_resolver_opts o = {
        .client = { .ca_file = cfg->registry_ca, .insecure = cfg->registry_insecure,
                    .mirrors = cfg->registry_mirrors, .nmirrors = cfg->nregistry_mirrors,
                    .creds = registry_creds },
        .cache_size = cfg->registry_cache_size, .ttl_ms = cfg->registry_cache_ttl_ms,
        .timeout_ms = cfg->registry_timeout_ms,
    };
    return registry_resolver_start(&o, err, errlen) == AG_OK;
}

static void registry_stop(void)
{
    registry_resolver_stop();
    registry_creds_free(registry_creds);
    registry_creds = NULL;
}

static int cmd_review(const struct config *cfg)
{
    char err[1024] = "";
    struct snapshot *snap = NULL;
    if (load_once(cfg, &snap, err, sizeof err) != AG_OK) {
        fprintf(stderr, "archgate review: %s\n", err);
        return 1;
    }
    size_t len = 0;
    bool too_big = false;
    char *body = read_stdin(cfg->max_body, &len, &too_big);
    if (!body || too_big) {
        fprintf(stderr, "archgate review: %s\n",
                too_big ? "input is larger than --max-body" : "out of memory reading stdin");
        mem_free(body);
        snapshot_release(snap);
        return 2;
    }
    if (!registry_start(cfg, err, sizeof err)) {
        fprintf(stderr, "archgate review: registry: %s\n", err);
        registry_stop();
        mem_free(body);
        snapshot_release(snap);
        return 1;
    }
    struct webhook_result res;
    webhook_handle(body, len, cfg->mutate, snap, &cfg->policy, 0, &res);
    registry_stop();
    int rc;
    if (res.http_status == 200 && res.body) {
        fwrite(res.body, 1, res.body_len, stdout);
        fputc('\n', stdout);
        rc = 0;
    } else if (res.http_status == 400) {
        /* the body is the one-line reason */
        fprintf(stderr, "archgate review: unusable input: %.*s", (int)res.body_len, res.body ? res.body : "");
        if (!res.body_len || res.body[res.body_len - 1] != '\n')
            fputc('\n', stderr);
        rc = 2;
    } else {
        if (res.body) {
            fwrite(res.body, 1, res.body_len, stdout);
            fputc('\n', stdout);
        }
        fprintf(stderr, "archgate review: internal error (status %d)\n", res.http_status);
        rc = 1;
    }
    webhook_result_free(&res);
    mem_free(body);
    snapshot_release(snap);
    return fflush(stdout) == 0 ? rc : 1;
}

/* `archgate check`: the cluster view as review takes it, then every manifest judged. */
static int cmd_check(const struct config *cfg)
{
    char err[1024] = "";
    struct snapshot *snap = NULL;
    if (load_once(cfg, &snap, err, sizeof err) != AG_OK) {
        fprintf(stderr, "archgate check: cluster state: %s\n", err);
        return CHECK_UNUSABLE;
    }
    if (!registry_start(cfg, err, sizeof err)) {
        fprintf(stderr, "archgate check: registry: %s\n", err);
        registry_stop();
        snapshot_release(snap);
        return CHECK_UNUSABLE;
    }
    struct check_opts opts = {
        .mutate = cfg->mutate, .format = cfg->check_json ? CHECK_JSON : CHECK_TEXT,
        .max_file = cfg->check_max_file, .pol = &cfg->policy,
    };
    int rc = check_run(cfg->check_inputs, cfg->ncheck_inputs, &opts, snap, stdout, stderr);
    registry_stop();
    snapshot_release(snap);
    return fflush(stdout) == 0 ? rc : CHECK_UNUSABLE;
}

/* `archgate audit`: every VM of the cluster (folder or kube-apiserver) judged as a CREATE now.
 * Exit 0 when none would be refused, 1 when some would, 2 when the audit cannot be made. */
static int cmd_audit(const struct config *cfg)
{
    char err[1024] = "";
    int rc = 2;
    struct snapshot *snap = NULL;
    struct audit_report *rep = NULL;
    struct inventory *inv = inventory_new();
    if (!inv) {
        fprintf(stderr, "archgate audit: out of memory\n");
        return 2;
    }
    if (load_once(cfg, &snap, err, sizeof err) != AG_OK) {
        fprintf(stderr, "archgate audit: cluster state: %s\n", err);
        goto out;
    }
    enum ag_result r = AG_OK;
    if (uses_kube(cfg)) {
        struct kube_config kc = { 0 };
        r = load_kube_config(cfg, &kc, err, sizeof err);
        if (r == AG_OK)
            r = vmsource_list_once(&kc, inv, err, sizeof err);
        kube_config_free(&kc);
    } else if (cfg->cluster_state) {
        r = inventory_load_dir(inv, cfg->cluster_state, err, sizeof err);
    }
    if (r != AG_OK) {
        fprintf(stderr, "archgate audit: VMs: %s\n", err);
        goto out;
    }
    if (audit_run(snap, inv, &cfg->policy, &rep) != AG_OK) {
        fprintf(stderr, "archgate audit: out of memory\n");
        goto out;
    }
    if (cfg->audit_json)
        audit_print_json(rep, stdout);
    else
        audit_print_table(rep, stdout);
    rc = rep->status[AS_REFUSED] ? 1 : 0;
    if (fflush(stdout) != 0)
        rc = 2;
out:
    audit_report_free(rep);
    inventory_free(inv);
    snapshot_release(snap);
    return rc;
}

static void describe_snapshot(const struct snapshot *s, FILE *out)
{
    char archs[64];
    fprintf(out, "cluster: %zu nodes (workload architectures: %s), %zu DataSources, %zu labelled PVCs, "
            "%zu preferences, %zu catalog entries\n",
            s->nnodes, arch_set_format(s->workload_archs, archs, sizeof archs), s->ndatasources, s->npvcs,
            s->npreferences, s->ncatalog);
}

static void on_kube_synced(void)
{
    http_set_cluster_ready(true);
}

/* This replica's name for the Lease and Events: $POD_NAME, else host_pid. */
static void replica_identity(char *buf, size_t len)
{
    const char *pod = getenv("POD_NAME");
    if (pod && *pod) {
        snprintf(buf, len, "%.200s", pod);
        return;
    }
    char host[128] = "archgate";
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "archgate");
    host[sizeof host - 1] = '\0';
    snprintf(buf, len, "%s_%ld", host, (long)getpid());
}

/* The auditor of serve: VMs from the live source (with the Lease and Events) or the folder. */
static struct inventory *audit_inv;
static bool audit_lease;

static enum ag_result start_audit(const struct config *cfg, const struct kube_config *kc, char *err, size_t errlen)
{
    static char identity[256], lease_ns[128];
    replica_identity(identity, sizeof identity);
    if (!(audit_inv = inventory_new())) {
        snprintf(err, errlen, "out of memory");
        return AG_ENOMEM;
    }
    struct auditor_opts ao = { .inv = audit_inv, .policy = &cfg->policy, .identity = identity };
    if (kc) {
        struct vmsource_opts vo = { .cfg = kc, .inv = audit_inv };
        if (vmsource_start(&vo, err, errlen) != AG_OK)
            return AG_EIO;
        if (cfg->leader_elect) {
            const char *ns = cfg->lease_namespace ? cfg->lease_namespace : getenv("POD_NAMESPACE");
            if (!ns || !*ns)
                ns = kc->ns && *kc->ns ? kc->ns : "default";
            snprintf(lease_ns, sizeof lease_ns, "%s", ns);
            struct lease_opts lo = { .cfg = kc, .ns = lease_ns, .name = cfg->lease_name, .identity = identity };
            lease_timings(&lo);
            if (lease_start(&lo, err, errlen) != AG_OK)
                return AG_EIO;
            audit_lease = true;
            ao.leading = lease_leading;
            log_info("audit: leader election on Lease %s/%s as %s (%u/%u/%u ms)", lease_ns, cfg->lease_name, identity,
                     lo.duration_ms, lo.renew_deadline_ms, lo.retry_ms);
        }
        if (cfg->audit_events)
            ao.events_cfg = kc;
        ao.ready = vmsource_synced;
        ao.stale = source_kube_stale_seconds;
    } else {
        ao.inventory_dir = cfg->cluster_state;
    }
    if (auditor_start(&ao, err, errlen) != AG_OK)
        return AG_EIO;
    metrics_set_extra_fn(auditor_metrics);
    webhook_set_inventory(audit_inv);      /* HyperConverged placement changes are judged against it */
    return AG_OK;
}

/* SIGTERM: stop auditing and give the Lease up at once, so another replica takes over. */
static void stop_audit_early(void)
{
    auditor_stop();
    if (audit_lease)
        lease_stop(true);
    audit_lease = false;
}

static void stop_audit(void)
{
    stop_audit_early();
    metrics_set_extra_fn(NULL);
    webhook_set_inventory(NULL);    /* after http_stop: no request uses it any more */
    vmsource_stop();
    inventory_free(audit_inv);
    audit_inv = NULL;
}

static int cmd_serve(const struct config *cfg)
{
    char err[1024] = "";
    int rc = 1;
    struct snapshot *snap = NULL;
    struct tls_pair pair = { 0 };
    struct kube_config kc = { 0 };
    enum { SOURCE_NONE, SOURCE_FILE, SOURCE_KUBE } source = SOURCE_NONE;
    bool http_started = false;

    /* Signals are handled by this thread with sigwait; block them before any thread starts so
     * every thread inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (tlsfiles_load(cfg->tls_cert, cfg->tls_key, &pair, err, sizeof err) != AG_OK) {
        log_error("%s", err);
        if (cfg->check_only)
            fprintf(stdout, "configuration invalid: %s\n", err);
        goto out;
    }
    long days = (long)((pair.not_after - time(NULL)) / 86400);
    log_info("serving certificate %s valid for %ld more days", cfg->tls_cert, days);
    metrics_set_cert_not_after((long long)pair.not_after);
    tlsfiles_free(&pair);

    if (cfg->check_only) {
        if (load_once(cfg, &snap, err, sizeof err) != AG_OK) {
            log_error("cluster state: %s", err);
            fprintf(stdout, "configuration invalid: cluster state: %s\n", err);
            goto out;
        }
        if (cfg->registry_lookup && cfg->registry_auth && access(cfg->registry_auth, F_OK) == 0) {
            struct registry_creds *rc_creds = NULL;
            if (registry_creds_load(cfg->registry_auth, &rc_creds, err, sizeof err) != AG_OK) {
                log_error("registry: %s", err);
                fprintf(stdout, "configuration invalid: registry credentials: %s\n", err);
                goto out;
            }
            fprintf(stdout, "registry credentials: %zu registries\n", registry_creds_count(rc_creds));
            registry_creds_free(rc_creds);
        }
        config_print(cfg, stdout);
        fprintf(stdout, "certificate: valid for %ld more days\n", days);
        describe_snapshot(snap, stdout);
        fprintf(stdout, "configuration OK\n");
        rc = 0;
        goto out;
    }

    /* Freed transients of rebuilds and re-reads go back to the kernel from its own thread. */
    if (!mem_trimmer_start())
        log_warn("cannot start the memory trimmer: freed memory stays in the process");

    /* The cluster source: a folder read now and watched, or kube-apiserver listed and watched
     * in the background (ready once every kind has listed). */
    if (uses_kube(cfg)) {
        if (load_kube_config(cfg, &kc, err, sizeof err) != AG_OK) {
            log_error("%s", err);
            goto out;
        }
        struct source_kube_opts opts = {
            .cfg = &kc, .catalog = cfg->image_catalog, .max_staleness_ms = cfg->max_staleness_ms,
            .on_synced = on_kube_synced,
        };
        if (source_kube_start(&opts, err, sizeof err) != AG_OK) {
            log_error("%s", err);
            goto out;
        }
        source = SOURCE_KUBE;
        http_set_stale_fn(source_kube_stale_seconds);
        metrics_set_stale_fn(source_kube_stale_seconds);
    } else if (cfg->cluster_state || cfg->image_catalog) {
        /* the watcher makes the first load itself, on its own thread, and returns its result */
        if (source_file_watch_start(cfg->cluster_state, cfg->image_catalog, cfg->cluster_poll_ms, err,
                                    sizeof err) != AG_OK) {
            log_error("cluster state: %s", err);
            goto out;
        }
        source = SOURCE_FILE;
    } else {
        if (source_file_load(NULL, NULL, &snap, err, sizeof err) != AG_OK) {
            log_error("cluster state: %s", err);
            goto out;
        }
        snapshot_publish(snap);
        snap = NULL;
        metrics_cluster_reload(true);
    }
    if (!registry_start(cfg, err, sizeof err)) {
        log_error("registry: %s", err);
        goto out;
    }
    if ((source == SOURCE_KUBE || cfg->cluster_state) &&
        start_audit(cfg, source == SOURCE_KUBE ? &kc : NULL, err, sizeof err) != AG_OK) {
        log_error("audit: %s", err);
        goto out;
    }
    if (http_start(cfg, err, sizeof err) != AG_OK) {
        log_error("%s", err);
        goto out;
    }
    http_started = true;
    if (source != SOURCE_KUBE || source_kube_synced())
        http_set_cluster_ready(true);
    log_info("archgate %s serving on %s:%u with %u threads", ARCHGATE_VERSION, cfg->listen_host,
             (unsigned)http_port(), cfg->threads);

    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            log_info("SIGHUP: reloading certificate and cluster state");
            http_reload_certs();
            if (source == SOURCE_FILE)
                source_file_reload_now();
            continue;
        }
        log_info("%s: stopping (delay %u ms, grace %u ms)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                 cfg->shutdown_delay_ms, cfg->shutdown_grace_ms);
        stop_audit_early();
        break;
    }
    if (cfg->shutdown_delay_ms) {
        /* Not ready, still serving, while the endpoints controller and kube-apiserver stop sending
         * here; SIGHUP is ignored now, another SIGTERM/SIGINT ends the delay early. */
        http_begin_drain();
        struct timespec until = clock_deadline(CLOCK_REALTIME, cfg->shutdown_delay_ms);
        for (;;) {
            struct timespec now, left;
            clock_gettime(CLOCK_REALTIME, &now);
            left.tv_sec = until.tv_sec - now.tv_sec;
            left.tv_nsec = until.tv_nsec - now.tv_nsec;
            if (left.tv_nsec < 0) {
                left.tv_sec--;
                left.tv_nsec += 1000000000L;
            }
            if (left.tv_sec < 0)
                break;
            int sig = sigtimedwait(&set, NULL, &left);
            if (sig == SIGTERM || sig == SIGINT) {
                log_info("second signal: ending the shutdown delay early");
                break;
            }
            if (sig < 0 && errno == EAGAIN)
                break;
        }
    }
    rc = 0;
out:
    if (http_started)
        http_stop(cfg->shutdown_grace_ms);
    stop_audit();
    if (source == SOURCE_FILE)
        source_file_watch_stop();
    else if (source == SOURCE_KUBE)
        source_kube_stop();
    registry_stop();
    kube_config_free(&kc);
    snapshot_publish(NULL);
    snapshot_release(snap);
    mem_trimmer_stop();
    if (http_started)
        log_info("stopped");
    return rc;
}

int main(int argc, char **argv)
{
    struct config cfg;
    char err[512] = "";
    mem_setup();
    mem_install_cjson_hooks();
    if (config_parse(argc, argv, &cfg, err, sizeof err) != AG_OK) {
        fprintf(stderr, "archgate: %s\n", err);
        return 2;
    }
    log_setup(cfg.log_level, cfg.log_format);
    switch (cfg.cmd) {
    case CMD_VERSION:
        printf("archgate %s\n", ARCHGATE_VERSION);
        return 0;
    case CMD_HELP:
        config_usage(stdout);
        return 0;
    case CMD_REVIEW:
        return cmd_review(&cfg);
    case CMD_SERVE:
        return cmd_serve(&cfg);
    case CMD_CHECK:
        return cmd_check(&cfg);
    case CMD_AUDIT:
        return cmd_audit(&cfg);
    case CMD_NONE:
        break;
    }
    config_usage(stderr);
    return 2;
}
