/* kubefake_main.c - build/kubefake_server: the stand-in kube-apiserver of tests/kubefake.c as a
 * process of its own, serving a cluster-state folder (nodes.json, datasources.json,
 * hyperconverged.json, kubevirt.json) on a chosen port, so a fault test can kill -9 it and start
 * it again on the same port. kubefake picks a free port itself; this program listens on the
 * chosen one and forwards each TCP connection to it (TLS passes through untouched).
 *
 *   kubefake_server --port N (0: any) --tls-cert FILE --tls-key FILE [--cluster DIR] [--token T]
 *
 * Prints "kubefake listening on 127.0.0.1:PORT" when ready; runs until SIGTERM or SIGINT. */
#include <errno.h>
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

static bool put_items(struct kubefake *f, const char *dir, const char *file, const char *path)
{
    char full[1024];
    snprintf(full, sizeof full, "%s/%s", dir, file);
    cJSON *j = tu_load_json(full);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(j, "items"), *it;
    bool ok = j && cJSON_IsArray(items);
    cJSON_ArrayForEach(it, items) {
        char *t = cJSON_PrintUnformatted(it);
        ok = ok && t && kubefake_put(f, path, t) != 0;
        cJSON_free(t);
    }
    if (!ok)
        fprintf(stderr, "kubefake_server: cannot load %s\n", full);
    cJSON_Delete(j);
    return ok;
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
    long port = -1;
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
        } else {
            port = -1;
            break;
        }
    }
    if (port < 0 || !cert || !key || argc % 2 == 0) {
        fprintf(stderr, "usage: %s --port N --tls-cert FILE --tls-key FILE [--cluster DIR] [--token T]\n", argv[0]);
        return 2;
    }
    /* Block the stop signals before any thread starts, so sigwait below receives them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    struct kubefake *f = kubefake_start(cert, key);
    if (!f) {
        fprintf(stderr, "kubefake_server: cannot start (certificate %s, key %s)\n", cert, key);
        return 1;
    }
    const struct kube_kind *K = kube_kinds(NULL);
    for (unsigned k = 0; k < KK_COUNT; k++)
        if (k != KK_HCO_V1)     /* a CRD version this cluster does not serve */
            kubefake_collection(f, K[k].path, K[k].list_kind, K[k].api_version, K[k].kind);
    if (!put_items(f, dir, "nodes.json", K[KK_NODE].path) ||
        !put_items(f, dir, "datasources.json", K[KK_DATASOURCE].path) ||
        !put_items(f, dir, "hyperconverged.json", K[KK_HCO_V1BETA1].path) ||
        !put_items(f, dir, "kubevirt.json", K[KK_KUBEVIRT].path)) {
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
    printf("kubefake listening on 127.0.0.1:%u\n", (unsigned)bound);
    fflush(stdout);
    int sig = 0;
    sigwait(&stop, &sig);
    /* The forwarding threads are detached and die with the process; the fake stops cleanly. */
    kubefake_stop(f);
    return 0;
}
