/* kubefake.h - a stand-in kube-apiserver for the tests: HTTPS on 127.0.0.1 (libmicrohttpd),
 * serving list responses in pages (limit/continue) and chunked watch streams from objects the
 * test puts, with faults on demand. Real Kubernetes wire shapes: a list is
 * {"kind":"NodeList","apiVersion":"v1","metadata":{"resourceVersion":"..","continue":".."},"items":[..]}
 * (items without kind/apiVersion, as kube-apiserver sends them); a watch is one JSON object per
 * line, {"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":{...}}; an error is a
 * metav1.Status {"kind":"Status","apiVersion":"v1","status":"Failure","message":..,"reason":..,"code":N}.
 *
 * Thread-safe: the test thread changes state while server threads answer. */
#ifndef ARCHGATE_KUBEFAKE_H
#define ARCHGATE_KUBEFAKE_H

#include <stdbool.h>
#include <stddef.h>

struct kubefake;

/* Serve with this certificate pair (PEM files) on 127.0.0.1, a free port. NULL on failure. */
struct kubefake *kubefake_start(const char *cert_file, const char *key_file);
void kubefake_stop(struct kubefake *f);
unsigned short kubefake_port(const struct kubefake *f);

/* Declare a collection: its path ("/api/v1/nodes", "/apis/cdi.kubevirt.io/v1beta1/datasources"),
 * the list kind ("NodeList") and apiVersion ("v1"), and the object kind ("Node"). Paths not
 * declared answer 404 (a CRD that is not installed). A namespaced collection is also served
 * below /namespaces/<ns>/ of its group path, but archgate uses the all-namespaces path. */
void kubefake_collection(struct kubefake *f, const char *path, const char *list_kind, const char *api_version,
                         const char *kind);

/* Add or replace an object (JSON text; metadata.name and optional metadata.namespace identify
 * it). Bumps the global resourceVersion, stamps it into metadata.resourceVersion, and sends
 * ADDED or MODIFIED to open watches. Returns the new resourceVersion. */
unsigned long kubefake_put(struct kubefake *f, const char *path, const char *object_json);
/* Delete one object (ns NULL for cluster-scoped); sends DELETED. */
unsigned long kubefake_delete(struct kubefake *f, const char *path, const char *ns, const char *name);

/* Faults. */
void kubefake_fail(struct kubefake *f, const char *path, int status, int count);  /* next `count` requests (list or watch) on path answer `status` with a Status body; count -1: until cleared with count 0 */
void kubefake_close_watches(struct kubefake *f);            /* end every open watch stream now */
void kubefake_compact(struct kubefake *f);                  /* forget history: a watch from an older resourceVersion answers an ERROR event with code 410 (and a list with a continue token from before answers 410) */
void kubefake_bookmark(struct kubefake *f);                 /* send a BOOKMARK with the current resourceVersion on every open watch that asked for bookmarks */
void kubefake_stall(struct kubefake *f, bool on);           /* hold new responses and events (the connection stays open) until released */
void kubefake_page_max(struct kubefake *f, unsigned n);     /* the server answers at most n items per list page (default: the client's limit) */
void kubefake_require_token(struct kubefake *f, const char *token);  /* 401 unless "Authorization: Bearer <token>"; NULL: no check */

/* Observations, per collection path (path NULL: all). */
enum kubefake_req { KF_LIST, KF_LIST_PAGE, KF_WATCH, KF_GET, KF_CREATE, KF_UPDATE, KF_PATCH, KF_REQ_COUNT };
unsigned kubefake_count(struct kubefake *f, const char *path, enum kubefake_req what);
/* The resourceVersion the last watch on path started from ("" if none), copied into buf. */
void kubefake_last_watch_rv(struct kubefake *f, const char *path, char *buf, size_t len);
/* The bearer token of the last request ("" if none). */
void kubefake_last_token(struct kubefake *f, char *buf, size_t len);
unsigned long kubefake_resource_version(struct kubefake *f);

/* Writes (for Leases and Events), on a collection made writable with kubefake_writable
 * (others answer 405 as before): GET <collection>/<name> answers one object (404 when
 * absent); POST to a collection creates (409 AlreadyExists when taken); PUT replaces (404 when
 * absent, 409 Conflict when metadata.resourceVersion is given and is not the stored one); PATCH
 * applies the body as a JSON merge patch (404 when absent). Every write bumps the
 * resourceVersion and is seen by watches. Not modelled: schema validation, strategic-merge list
 * semantics, field managers, dry-run, admission. */
void kubefake_writable(struct kubefake *f, const char *path);
/* One object as JSON text with kind and apiVersion (free() it), NULL when absent. */
char *kubefake_get(struct kubefake *f, const char *path, const char *ns, const char *name);
/* Every object of a collection as a JSON array text (free() it). */
char *kubefake_items(struct kubefake *f, const char *path);

#endif
