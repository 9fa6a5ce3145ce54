/* kube_client.h - talking to kube-apiserver: where it is and how to authenticate (in-cluster
 * service account or a kubeconfig file), and HTTPS requests on libcurl (OpenSSL): whole GETs
 * with a body limit, and streaming GETs that hand over one line (one watch event) at a time.
 *
 * A kube_config is plain data (free with kube_config_free). A kube_client is one connection
 * context (one curl handle): use each from one thread at a time; make one per thread. */
#ifndef ARCHGATE_KUBE_CLIENT_H
#define ARCHGATE_KUBE_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include "result.h"

#define KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct kube_config {
    char *server;               /* "https://10.0.0.1:443", no trailing slash */
    char *ca_file;              /* PEM bundle file, or ... */
    char *ca_data;              /* ... PEM in memory (decoded from base64 kubeconfig data) */
    size_t ca_len;
    char *cert_file, *cert_data;    /* client certificate (file or PEM in memory) */
    size_t cert_len;
    char *key_file, *key_data;      /* client key */
    size_t key_len;
    char *token;                /* a static bearer token, or ... */
    char *token_file;           /* ... a file re-read when it changes (bound service-account tokens rotate) */
    char *ns;                   /* the namespace of the context / service account; may be NULL */
    char *source;               /* "in-cluster" or the kubeconfig path, for messages */
};

/* In-cluster: KUBERNETES_SERVICE_HOST and _PORT, and token, ca.crt and namespace under
 * `sa_dir` (NULL: KUBE_SA_DIR). Missing pieces: AG_EINVAL with a one-line reason. */
enum ag_result kube_config_in_cluster(const char *sa_dir, struct kube_config *out, char *err, size_t errlen);

/* A kubeconfig file (YAML or JSON): the current context's cluster (server,
 * certificate-authority or -data) and user (client-certificate/-key or -data, token or
 * tokenFile). What it cannot do (exec or auth-provider plugins, username/password, a missing
 * context/cluster/user, insecure-skip-tls-verify) is AG_EINVAL with a clear one-line reason. */
enum ag_result kube_config_load(const char *path, struct kube_config *out, char *err, size_t errlen);

void kube_config_free(struct kube_config *c);

struct kube_client;

/* NULL on failure (err says why). The config is copied what is needed of; it may be freed after. */
struct kube_client *kube_client_new(const struct kube_config *cfg, char *err, size_t errlen);
void kube_client_free(struct kube_client *c);

/* GET `path` (starting with "/", query included). At most `max_body` bytes are kept: a larger
 * body is AG_ETOOBIG. On AG_OK *status holds the HTTP status (any status, including 4xx/5xx)
 * and *body (mem_malloc'd, NUL-terminated; caller mem_free's) the body. Transport failures
 * (connect, TLS, timeout of `timeout_ms`) are AG_EIO with err. */
enum ag_result kube_client_get(struct kube_client *c, const char *path, size_t max_body, long timeout_ms,
                               long *status, char **body, size_t *len, char *err, size_t errlen);

/* A request with a body (POST, PUT, PATCH; ctype is its Content-Type, e.g.
 * "application/merge-patch+json"), or without one (body NULL: GET, DELETE). Otherwise as
 * kube_client_get. */
enum ag_result kube_client_request(struct kube_client *c, const char *method, const char *path, const char *ctype,
                                   const char *body, size_t body_len, size_t max_body, long timeout_ms, long *status,
                                   char **out, size_t *len, char *err, size_t errlen);

/* Called for each complete line of a streamed body (without its "\n"; not NUL-terminated, but
 * line[len] is readable and '\0'). Return false to end the stream. */
typedef bool (*kube_line_fn)(void *arg, const char *line, size_t len);

/* Streaming GET (a watch): calls `fn` per line until the server ends the body, `fn` returns
 * false, `*stop` becomes true (checked at least every 200 ms), no byte arrives for
 * `idle_timeout_ms`, or a line exceeds `max_line` bytes (AG_ETOOBIG). A non-2xx status is
 * returned in *status with its body (up to 64 KiB) passed to `fn` as one line, so the caller
 * can read the Status object. AG_OK when the stream ended normally or was stopped. */
enum ag_result kube_client_stream(struct kube_client *c, const char *path, size_t max_line, long idle_timeout_ms,
                                  const atomic_bool *stop, kube_line_fn fn, void *arg, long *status,
                                  char *err, size_t errlen);

#endif
