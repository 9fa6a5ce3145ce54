/* http.h - the HTTPS server: libmicrohttpd with GnuTLS, routes, limits, status codes,
 * certificate hot reload and graceful stop. */
#ifndef ARCHGATE_HTTP_H
#define ARCHGATE_HTTP_H

#include <stdbool.h>
#include "config.h"
#include "result.h"

/* Start serving (threads run in the background). `cfg` must outlive the server. */
enum ag_result http_start(const struct config *cfg, char *err, size_t errlen);

/* Reload the certificate pair now (SIGHUP). A broken pair keeps the old one; logged, counted. */
void http_reload_certs(void);

/* Mark ready/not ready for /readyz (cluster state synced). */
void http_set_cluster_ready(bool ready);

/* Where /readyz and the admission answers learn whether the cluster view is stale: `fn`
 * returns the seconds it has not been updated while a watch fails, 0 when fresh (NULL: never). */
void http_set_stale_fn(unsigned (*fn)(void));

/* SIGTERM with a shutdown delay: /readyz answers 503 ("shutting down") so the endpoints drop this
 * replica, while every request is still served as before. */
void http_begin_drain(void);

/* Stop accepting, finish requests in flight for at most `grace_ms`, stop all threads. */
void http_stop(unsigned grace_ms);

/* Port actually bound (useful with --listen 127.0.0.1:0). */
unsigned short http_port(void);

#endif
