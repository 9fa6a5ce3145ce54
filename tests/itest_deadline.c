/* itest_deadline.c - integration: a client that trickles its request one byte at a time is closed
 * once --idle-timeout has passed since it connected, although every byte resets libmicrohttpd's
 * idle timer; a client that sends a whole request in time is served normally. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include "itest.h"
#include "unit.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A TLS connection to 127.0.0.1:port trusting the test CA; NULL on failure. */
static SSL *tls_connect(SSL_CTX *ctx, unsigned short port, int *fd_out)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    SSL *ssl = SSL_new(ctx);
    if (!ssl || !SSL_set_fd(ssl, fd) || SSL_connect(ssl) != 1) {
        SSL_free(ssl);
        close(fd);
        return NULL;
    }
    *fd_out = fd;
    return ssl;
}

/* Has the server closed the connection (EOF or reset) within `ms`? */
static bool closed_within(SSL *ssl, int fd, int ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    if (poll(&p, 1, ms) <= 0)
        return false;
    char buf[256];
    int n = SSL_read(ssl, buf, sizeof buf);
    return n <= 0;
}

static void test_trickling_client_closed(void)
{
    char cert[600], key[600], ca[600];
    itest_path(cert, sizeof cert, itest_base, "tls.crt");
    itest_path(key, sizeof key, itest_base, "tls.key");
    itest_path(ca, sizeof ca, itest_base, "ca.crt");
    const char *extra[] = { "--idle-timeout", "2s", NULL };
    struct server s;
    CU_ASSERT_FATAL(server_start(&s, cert, key, extra));
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    CU_ASSERT_PTR_NOT_NULL_FATAL(ctx);
    CU_ASSERT_FATAL(SSL_CTX_load_verify_locations(ctx, ca, NULL) == 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);

    int fd = -1;
    double t0 = now_s();
    SSL *ssl = tls_connect(ctx, s.port, &fd);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ssl);
    static const char req[] = "POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                              "Content-Length: 2\r\n\r\n{}";
    /* one byte every 250 ms: never silent for long, never done */
    double closed_at = -1;
    for (size_t i = 0; i < sizeof req - 1 && now_s() - t0 < 8; i++) {
        if (SSL_write(ssl, req + i, 1) != 1 || closed_within(ssl, fd, 250)) {
            closed_at = now_s() - t0;
            break;
        }
    }
    CU_ASSERT(closed_at > 1.5);          /* not before the deadline */
    CU_ASSERT(closed_at > 0 && closed_at < 5.0);   /* but soon after it (the watcher polls every 200 ms) */
    SSL_free(ssl);
    close(fd);

    /* A client that sends its request at once is answered. */
    ssl = tls_connect(ctx, s.port, &fd);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ssl);
    CU_ASSERT_EQUAL(SSL_write(ssl, req, (int)sizeof req - 1), (int)sizeof req - 1);
    char buf[512] = "";
    int n = SSL_read(ssl, buf, sizeof buf - 1);
    CU_ASSERT(n > 12 && strncmp(buf, "HTTP/1.1 400", 12) == 0);    /* "{}" is no AdmissionReview */
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(ctx);
    CU_ASSERT_EQUAL(server_stop(&s, SIGTERM, NULL), 0);
}

UNIT_SUITE("itest_deadline", NULL, NULL,
           { "a trickling client is closed after --idle-timeout", test_trickling_client_closed })
