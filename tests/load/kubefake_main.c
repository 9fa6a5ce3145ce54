/* kubefake_main.c - build/kubefake_server: the stand-in kube-apiserver of tests/kubefake.c as a
 * process of its own, serving a cluster-state folder (nodes.json, datasources.json,
 * hyperconverged.json, kubevirt.json) on a chosen port, so a fault test can kill -9 it and start
 * it again on the same port. kubefake picks a free port itself; this program listens on the
 * chosen one and forwards each TCP connection to it (TLS passes through untouched). Every item of
 * every *.json file of the folder whose kind and apiVersion archgate lists (VMs and VMIs too) is
 * served; Leases and Events can be written, for the auditor.
 *
 *   kubefake_server --port N (0: any) --tls-cert FILE --tls-key FILE [--cluster DIR] [--token T]
 *                   [--churn EVENTS_PER_SECOND] [--bookmarks SECONDS]
 *
 * --churn changes one worker node that many times a second, round robin, from the first SIGUSR1
 * on, so a client can sync first (the memory benchmark, scripts/bench/memory.sh): every event moves its heartbeats (conditions' lastHeartbeatTime and
 * the KubeVirt heartbeat annotation, which archgate must ignore); every fifth also changes what
 * the decision reads (a label value, a taint, a cordon; set, then undone on the next round).
 *
 * --bookmarks sends a BOOKMARK on every open watch that asked for them, every that many seconds
 * (default 60; 0: never), as kube-apiserver's watch cache does about once a minute: without them a
 * client re-opens (and may re-list) a quiet collection such as the VMs when its idle timer runs out.
 *
 * Prints "kubefake listening on 127.0.0.1:PORT" when ready; runs until SIGTERM or SIGINT. */
#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <time.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include "kube_store.h"
#include "audit/vmsource.h"
#include "kubefake.h"
#include "mem.h"
#include "testutil.h"

struct pipe_pair {
    int a, b;
};

static int connect_local(unsigned short port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Copy both ways until either side closes. */
static void *forward_main(void *arg)
{
    struct pipe_pair p = *(struct pipe_pair *)arg;
    char buf[16384];
    mem_free(arg);
    for (;;) {
        struct pollfd fds[2] = { { p.a, POLLIN, 0 }, { p.b, POLLIN, 0 } };
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        bool done = false;
        for (int i = 0; i < 2 && !done; i++) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            int from = i ? p.b : p.a, to = i ? p.a : p.b;
            ssize_t n = read(from, buf, sizeof buf);
            if (n <= 0) {
                done = true;
                break;
            }
            for (ssize_t off = 0; off < n;) {
                ssize_t w = write(to, buf + off, (size_t)(n - off));
                if (w <= 0) {
                    done = true;
                    break;
                }
                off += w;
            }
        }
        if (done)
            break;
    }
    close(p.a);
    close(p.b);
    return NULL;
}

struct acceptor {
    int listen_fd;
    unsigned short target;
};

static void *accept_main(void *arg)
{
    struct acceptor *a = arg;
    for (;;) {
        int c = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE)
                continue;
            break;
        }
        int t = connect_local(a->target);
        struct pipe_pair *p = t >= 0 ? mem_malloc(sizeof *p) : NULL;
        pthread_t th;
        pthread_attr_t at;
        bool started = false;
        if (p && pthread_attr_init(&at) == 0) {
            p->a = c;
            p->b = t;
            pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
            started = pthread_create(&th, &at, forward_main, p) == 0;
            pthread_attr_destroy(&at);
        }
        if (!started) {
            mem_free(p);
            close(c);
            if (t >= 0)
                close(t);
        }
    }
    return NULL;
}

/* The collections served: the kinds the cluster source lists (but HyperConverged v1, a CRD
 * version this cluster does not serve), the VMs and VMIs of the audit. */
struct collection { const char *path, *list_kind, *api_version, *kind; };
static struct collection served[KK_COUNT + 2];
static size_t nserved;

static void collections(struct kubefake *f, const struct kube_kind *K)
{
    for (unsigned k = 0; k < KK_COUNT; k++)
        if (k != KK_HCO_V1)
            served[nserved++] = (struct collection){ K[k].path, K[k].list_kind, K[k].api_version, K[k].kind };
    served[nserved++] = (struct collection){ VMSOURCE_VM_PATH, "VirtualMachineList", "kubevirt.io/v1", "VirtualMachine" };
    served[nserved++] = (struct collection){ VMSOURCE_VMI_PATH, "VirtualMachineInstanceList", "kubevirt.io/v1",
                                             "VirtualMachineInstance" };
    for (size_t i = 0; i < nserved; i++)
        kubefake_collection(f, served[i].path, served[i].list_kind, served[i].api_version, served[i].kind);
    /* what the auditor writes: its Lease and Events */
    kubefake_collection(f, "/apis/coordination.k8s.io/v1/leases", "LeaseList", "coordination.k8s.io/v1", "Lease");
    kubefake_writable(f, "/apis/coordination.k8s.io/v1/leases");
    kubefake_collection(f, "/api/v1/events", "EventList", "v1", "Event");
    kubefake_writable(f, "/api/v1/events");
}

/* The collection an item belongs to (its kind and apiVersion), NULL for none. */
static const char *collection_of(const cJSON *item)
{
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(item, "kind");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(item, "apiVersion");
    if (!cJSON_IsString(k) || !cJSON_IsString(a))
        return NULL;
    for (size_t i = 0; i < nserved; i++)
        if (strcmp(served[i].kind, k->valuestring) == 0 && strcmp(served[i].api_version, a->valuestring) == 0)
            return served[i].path;
    return NULL;
}

#define MAX_WORKERS 100000
static cJSON *workers[MAX_WORKERS];     /* copies of the worker nodes, for --churn */
static size_t nworkers;

static bool put_obj(struct kubefake *f, const char *path, const cJSON *obj)
{
    char *t = cJSON_PrintUnformatted(obj);
    bool ok = t && kubefake_put(f, path, t) != 0;
    cJSON_free(t);
    return ok;
}

/* Serve every item of every *.json file of `dir` (a List's items, or the one object). */
static bool put_dir(struct kubefake *f, const struct kube_kind *K, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    bool ok = d != NULL;
    while (ok && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' || n < 6 || strcmp(e->d_name + n - 5, ".json") != 0)
            continue;
        char full[1024];
        snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
        cJSON *j = tu_load_json(full), *it;
        cJSON *items = cJSON_GetObjectItemCaseSensitive(j, "items");
        cJSON *one = cJSON_CreateArray();
        ok = j && one;
        if (ok && !cJSON_IsArray(items)) {
            cJSON_AddItemReferenceToArray(one, j);
            items = one;
        }
        if (!ok)
            items = NULL;
        cJSON_ArrayForEach(it, items) {
            const char *path = collection_of(it);
            if (!path)
                continue;
            ok = ok && put_obj(f, path, it);
            const cJSON *labels = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(it, "metadata"), "labels");
            if (path == K[KK_NODE].path && nworkers < MAX_WORKERS &&
                cJSON_GetObjectItemCaseSensitive(labels, "node-role.kubernetes.io/worker"))
                workers[nworkers++] = cJSON_Duplicate(it, true);
        }
        if (!ok)
            fprintf(stderr, "kubefake_server: cannot load %s\n", full);
        cJSON_Delete(one);
        cJSON_Delete(j);
    }
    if (d)
        closedir(d);
    else
        fprintf(stderr, "kubefake_server: cannot open %s\n", dir);
    return ok;
}

static void set_str(cJSON *obj, const char *key, const char *value)
{
    if (!obj)
        return;
    cJSON *v = cJSON_CreateString(value);
    if (cJSON_GetObjectItemCaseSensitive(obj, key))
        cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v);
    else
        cJSON_AddItemToObject(obj, key, v);
}

/* Event number `seq`: the next worker's heartbeats, and every fifth time a change the
 * decision reads. */
static void churn_one(struct kubefake *f, const char *path, unsigned long long seq)
{
    cJSON *n = workers[seq % nworkers];
    unsigned round = (unsigned)(seq / nworkers);
    char ts[40];
    time_t t = (time_t)(1780000000 + seq);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON *c, *meta = cJSON_GetObjectItemCaseSensitive(n, "metadata");
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(n, "status"), "conditions"))
        set_str(c, "lastHeartbeatTime", ts);
    set_str(cJSON_GetObjectItemCaseSensitive(meta, "annotations"), "kubevirt.io/heartbeat", ts);
    if (seq % 5 == 0) {
        cJSON *spec = cJSON_GetObjectItemCaseSensitive(n, "spec");
        switch ((seq / 5) % 3) {
        case 0: {
            char v[24];
            snprintf(v, sizeof v, "%u", 2000000000u + round % 7);
            set_str(cJSON_GetObjectItemCaseSensitive(meta, "labels"), "cpu-timer.node.kubevirt.io/tsc-frequency", v);
            break;
        }
        case 1:
            cJSON_DeleteItemFromObjectCaseSensitive(spec, "taints");
            if (round % 2 == 0) {
                cJSON *taints = cJSON_AddArrayToObject(spec, "taints"), *tt = cJSON_CreateObject();
                cJSON_AddStringToObject(tt, "key", "example.com/maintenance");
                cJSON_AddStringToObject(tt, "effect", "NoSchedule");
                cJSON_AddItemToArray(taints, tt);
            }
            break;
        default:
            cJSON_DeleteItemFromObjectCaseSensitive(spec, "unschedulable");
            if (round % 2 == 0)
                cJSON_AddTrueToObject(spec, "unschedulable");
            break;
        }
    }
    put_obj(f, path, n);
}

struct churner {
    struct kubefake *f;
    const char *path;
    long rate;
    atomic_bool stop;
    unsigned long long sent;
};

static void *churn_main(void *arg)
{
    struct churner *c = arg;
    double due = 0;
    while (!atomic_load(&c->stop)) {
        usleep(10000);
        for (due += (double)c->rate / 100.0; due >= 1.0 && nworkers; due -= 1.0)
            churn_one(c->f, c->path, c->sent++);
    }
    return NULL;
}

struct bookmarker {
    struct kubefake *f;
    long every_s;
    atomic_bool stop;
};

static void *bookmark_main(void *arg)
{
    struct bookmarker *b = arg;
    for (long ticks = 0; !atomic_load(&b->stop);) {
        usleep(100000);
        if (++ticks >= b->every_s * 10) {
            ticks = 0;
            kubefake_bookmark(b->f);
        }
    }
    return NULL;
}

static int listen_on(unsigned short port, unsigned short *bound)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    int one = 1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 256) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        close(fd);
        return -1;
    }
    *bound = ntohs(sa.sin_port);
    return fd;
}

int main(int argc, char **argv)
{
    const char *cert = NULL, *key = NULL, *dir = "manifests/samples/cluster", *token = NULL;
    long port = -1, churn = 0, bookmarks = 60;
    testutil_init();
    signal(SIGPIPE, SIG_IGN);
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0) {
            char *end = NULL;
            port = strtol(argv[i + 1], &end, 10);
            if (*end || port < 0 || port > 65535)
                port = -1;
        } else if (strcmp(argv[i], "--tls-cert") == 0) {
            cert = argv[i + 1];
        } else if (strcmp(argv[i], "--tls-key") == 0) {
            key = argv[i + 1];
        } else if (strcmp(argv[i], "--cluster") == 0) {
            dir = argv[i + 1];
        } else if (strcmp(argv[i], "--token") == 0) {
            token = argv[i + 1];
        } else if (strcmp(argv[i], "--churn") == 0) {
            char *end = NULL;
            churn = strtol(argv[i + 1], &end, 10);
            if (*end || churn < 0 || churn > 100000)
                port = -1;
        } else if (strcmp(argv[i], "--bookmarks") == 0) {
            char *end = NULL;
            bookmarks = strtol(argv[i + 1], &end, 10);
            if (*end || bookmarks < 0 || bookmarks > 86400)
                port = -1;
        } else {
            port = -1;
            break;
        }
    }
    if (port < 0 || !cert || !key || argc % 2 == 0) {
        fprintf(stderr, "usage: %s --port N --tls-cert FILE --tls-key FILE [--cluster DIR] [--token T] [--churn N] [--bookmarks S]\n", argv[0]);
        return 2;
    }
    /* Block the stop signals before any thread starts, so sigwait below receives them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    struct kubefake *f = kubefake_start(cert, key);
    if (!f) {
        fprintf(stderr, "kubefake_server: cannot start (certificate %s, key %s)\n", cert, key);
        return 1;
    }
    const struct kube_kind *K = kube_kinds(NULL);
    collections(f, K);
    if (!put_dir(f, K, dir)) {
        kubefake_stop(f);
        return 1;
    }
    if (token)
        kubefake_require_token(f, token);
    struct acceptor a = { -1, kubefake_port(f) };
    unsigned short bound = 0;
    a.listen_fd = listen_on((unsigned short)port, &bound);
    pthread_t th;
    if (a.listen_fd < 0 || pthread_create(&th, NULL, accept_main, &a) != 0) {
        fprintf(stderr, "kubefake_server: cannot listen on 127.0.0.1:%ld: %s\n", port, strerror(errno));
        kubefake_stop(f);
        return 1;
    }
    struct churner ch = { .f = f, .path = K[KK_NODE].path, .rate = churn };
    pthread_t cth;
    bool churning = false;
    struct bookmarker bm = { .f = f, .every_s = bookmarks };
    pthread_t bth;
    bool bookmarking = bookmarks > 0 && pthread_create(&bth, NULL, bookmark_main, &bm) == 0;
    printf("kubefake listening on 127.0.0.1:%u\n", (unsigned)bound);
    fflush(stdout);
    int sig = 0;
    while (sigwait(&stop, &sig) == 0 && sig == SIGUSR1)
        if (!churning && churn > 0)
            churning = pthread_create(&cth, NULL, churn_main, &ch) == 0;
    if (churning) {
        atomic_store(&ch.stop, true);
        pthread_join(cth, NULL);
        fprintf(stderr, "kubefake_server: %llu node events sent\n", ch.sent);
    }
    if (bookmarking) {
        atomic_store(&bm.stop, true);
        pthread_join(bth, NULL);
    }
    for (size_t i = 0; i < nworkers; i++)
        cJSON_Delete(workers[i]);
    /* The forwarding threads are detached and die with the process; the fake stops cleanly. */
    kubefake_stop(f);
    return 0;
}
