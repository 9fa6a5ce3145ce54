/* auth.h - registry authentication: the WWW-Authenticate challenge, credentials from a Docker
 * config file (.dockerconfigjson), and the bearer tokens a realm hands out, reused until they
 * expire. */
#ifndef ARCHGATE_REGISTRY_AUTH_H
#define ARCHGATE_REGISTRY_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "result.h"

struct registry_challenge {
    bool bearer;                /* Bearer realm=...,service=...,scope=... */
    bool basic;                 /* Basic realm=... */
    char realm[1024];
    char service[256];
    char scope[512];
};

/* Parse one WWW-Authenticate value. false when it is neither Bearer with a realm nor Basic. */
bool registry_challenge_parse(const char *header, struct registry_challenge *out);

/* Credentials by registry host, from a Docker config file ({"auths": {"quay.io": {"auth":
 * base64("user:pass")} or {"username": .., "password": ..}}}); keys may be URLs
 * ("https://index.docker.io/v1/"). */
struct registry_creds;
enum ag_result registry_creds_load(const char *path, struct registry_creds **out, char *err, size_t errlen);
enum ag_result registry_creds_parse(const char *json, size_t len, struct registry_creds **out, char *err,
                                    size_t errlen);
/* "user:pass" for `host` (docker.io, index.docker.io and registry-1.docker.io are one), or NULL. */
const char *registry_creds_find(const struct registry_creds *c, const char *host);
size_t registry_creds_count(const struct registry_creds *c);
void registry_creds_free(struct registry_creds *c);

/* The token in a realm's answer ({"token": ..} or {"access_token": ..}, "expires_in" seconds,
 * 60 when absent). */
enum ag_result registry_token_parse(const char *body, size_t len, char *token, size_t tokenlen,
                                    unsigned *expires_in, char *err, size_t errlen);

/* Bearer tokens by host and scope; thread-safe, bounded (oldest out). */
struct registry_tokens;
struct registry_tokens *registry_tokens_new(void);
void registry_tokens_free(struct registry_tokens *t);
/* Copy the token for host+scope valid at now_ms into buf; false when none. */
bool registry_tokens_get(struct registry_tokens *t, const char *host, const char *scope, uint64_t now_ms,
                         char *buf, size_t len);
void registry_tokens_put(struct registry_tokens *t, const char *host, const char *scope, const char *token,
                         uint64_t expires_ms);

#endif
