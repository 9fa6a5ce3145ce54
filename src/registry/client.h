/* client.h - one architecture lookup through the OCI Distribution API (libcurl, blocking; run
 * by the resolver's worker threads, never on a request thread). */
#ifndef ARCHGATE_REGISTRY_CLIENT_H
#define ARCHGATE_REGISTRY_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "arch.h"
#include "result.h"
#include "registry/auth.h"
#include "registry/ref.h"

enum registry_status {
    REG_OK = 0,         /* architectures known */
    REG_NOT_FOUND,      /* 404: no such repository or tag */
    REG_UNAUTHORIZED,   /* 401/403 after authenticating (or no way to) */
    REG_TIMEOUT,        /* no answer in time */
    REG_ERROR,          /* anything else: connection, 5xx, malformed, too large, digest mismatch */
    REG_STATUS_COUNT
};

struct registry_result {
    enum registry_status status;
    archset archs;          /* REG_OK */
    bool from_index;        /* REG_OK: an index/list (true) or a manifest's config (false) */
    char why[240];          /* not REG_OK: one line, naming the registry host */
};

#define REGISTRY_MIRRORS_MAX 16
struct registry_mirror { char from[256]; char to[256]; };

struct registry_client_opts {
    const char *ca_file;                /* CAs trusted besides the system's, NULL: none */
    const char *insecure;               /* "host[,host...]" asked over plain HTTP, NULL: none */
    const struct registry_mirror *mirrors;
    size_t nmirrors;
    const struct registry_creds *creds; /* NULL: anonymous */
    unsigned timeout_ms;                /* one whole lookup (every request of it); 0: 10 s */
};

struct registry_client;
/* The options are copied (creds is borrowed and must outlive the client). */
struct registry_client *registry_client_new(const struct registry_client_opts *o);
void registry_client_free(struct registry_client *c);
/* Make every lookup in progress fail at once, and every later one (shutdown). */
void registry_client_cancel(struct registry_client *c);

/* Look `r` up. `handle` is a CURL * the caller keeps for connection reuse (NULL: one is made
 * for this lookup). Never fails without filling `out`. */
void registry_client_lookup(struct registry_client *c, void *handle, const struct registry_ref *r,
                            struct registry_result *out);

/* The host a reference is asked on: its API host, or the mirror configured for it. */
const char *registry_client_target(const struct registry_client *c, const struct registry_ref *r);

const char *registry_status_name(enum registry_status s);   /* "fetched", "not_found", ... */
uint64_t registry_now_ms(void);     /* CLOCK_MONOTONIC in milliseconds */

/* "FROM=TO" into m; false when malformed. */
bool registry_mirror_parse(const char *s, struct registry_mirror *m);

#endif
