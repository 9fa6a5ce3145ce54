/* events.c - writing core/v1 Events on refusable VMs: the per-VM state (reason, Event name,
 * count, when last written), the once-per-transition and hourly-repeat rule, POST and merge-PATCH
 * through the kube client. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>
#include "audit/events.h"
#include "log.h"
#include "mem.h"

#define EV_BODY_MAX (1u << 20)
#define EV_TIMEOUT_MS 5000L
#define EV_MESSAGE_MAX 1024             /* kube-apiserver's limit on an Event message */

struct ev_state {
    char *ns, *name, *uid;
    bool is_vmi;                /* the Event is on a VMI (one without a VM) */
    char reason[64];
    char event[320];            /* the Event's name, for the repeat PATCH */
    int count;
    time_t last;
};

struct events {
    struct kube_client *client;
    char identity[254];
    struct ev_state *st;        /* sorted by (ns, name) */
    size_t n;
    bool failing;               /* the last write failed: further failures are logged at debug */
};

static atomic_ullong written[2], failed;

unsigned long long events_written(int normal)
{
    return atomic_load(&written[normal ? 1 : 0]);
}

unsigned long long events_failed(void)
{
    return atomic_load(&failed);
}

struct events *events_new(const struct kube_config *cfg, const char *identity, char *err, size_t errlen)
{
    struct events *ev = mem_calloc(1, sizeof *ev);
    if (!ev) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(ev->identity, sizeof ev->identity, "%s", identity && *identity ? identity : "archgate");
    if (!(ev->client = kube_client_new(cfg, err, errlen))) {
        mem_free(ev);
        return NULL;
    }
    return ev;
}

static void state_free(struct ev_state *s)
{
    mem_free(s->ns);
    mem_free(s->name);
    mem_free(s->uid);
}

void events_free(struct events *ev)
{
    if (!ev)
        return;
    for (size_t i = 0; i < ev->n; i++)
        state_free(&ev->st[i]);
    mem_free(ev->st);
    kube_client_free(ev->client);
    mem_free(ev);
}

static void timestamp(time_t t, char *buf, size_t len)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    if (strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0 && len)
        buf[0] = '\0';
}

static char *message_of(const char *m)
{
    size_t n = strlen(m);
    if (n > EV_MESSAGE_MAX - 1) {
        n = EV_MESSAGE_MAX - 4;
        while (n > 0 && ((unsigned char)m[n] & 0xC0) == 0x80)
            n--;
    }
    char *s = mem_malloc(n + 4);
    if (!s)
        return NULL;
    memcpy(s, m, n);
    memcpy(s + n, n < strlen(m) ? "..." : "", n < strlen(m) ? 4 : 1);
    return s;
}

/* Send `o` (taken over) as the body of one request; *status is the HTTP status. AG_ENOMEM when it
 * cannot be printed. */
static enum ag_result send_json(struct events *ev, const char *method, const char *path, const char *ctype, cJSON *o,
                                long *status, char *err, size_t errlen)
{
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    *status = 0;
    if (!text) {
        snprintf(err, errlen, "out of memory");
        return AG_ENOMEM;
    }
    char *body = NULL;
    enum ag_result r = kube_client_request(ev->client, method, path, ctype, text, strlen(text), EV_BODY_MAX,
                                           EV_TIMEOUT_MS, status, &body, NULL, err, errlen);
    cJSON_free(text);
    mem_free(body);
    return r;
}

/* POST a new Event; its name into `name_out`. */
static bool post_event(struct events *ev, const char *ns, const char *name, const char *uid, bool is_vmi,
                       const char *type, const char *reason, const char *message, time_t now, char *name_out,
                       size_t outlen)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char evname[320], path[400], when[40], err[512];
    snprintf(evname, sizeof evname, "%.240s.%llx", name,
             (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec);
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/events", ns);
    timestamp(now, when, sizeof when);
    char *msg = message_of(message);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "apiVersion", "v1");
    cJSON_AddStringToObject(o, "kind", "Event");
    cJSON *meta = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddStringToObject(meta, "name", evname);
    cJSON_AddStringToObject(meta, "namespace", ns);
    cJSON *io = cJSON_AddObjectToObject(o, "involvedObject");
    cJSON_AddStringToObject(io, "apiVersion", "kubevirt.io/v1");
    cJSON_AddStringToObject(io, "kind", is_vmi ? "VirtualMachineInstance" : "VirtualMachine");
    cJSON_AddStringToObject(io, "namespace", ns);
    cJSON_AddStringToObject(io, "name", name);
    if (uid)
        cJSON_AddStringToObject(io, "uid", uid);
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddStringToObject(o, "reason", reason);
    cJSON_AddStringToObject(o, "message", msg ? msg : "");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "source"), "component", "archgate");
    cJSON_AddStringToObject(o, "reportingComponent", "archgate");
    cJSON_AddStringToObject(o, "reportingInstance", ev->identity);
    cJSON_AddStringToObject(o, "firstTimestamp", when);
    cJSON_AddStringToObject(o, "lastTimestamp", when);
    cJSON_AddNumberToObject(o, "count", 1);
    mem_free(msg);
    long status;
    enum ag_result r = send_json(ev, "POST", path, "application/json", o, &status, err, sizeof err);
    if (r == AG_ENOMEM)
        return false;
    bool ok = r == AG_OK && (status == 200 || status == 201);
    if (!ok) {
        atomic_fetch_add(&failed, 1);
        if (r == AG_OK)
            snprintf(err, sizeof err, "POST answered %ld%s", status,
                     status == 403 ? " (RBAC: archgate needs create and patch on events)" : "");
        if (!ev->failing)
            log_warn("audit: event on %s/%s: %s (retried at the next audits)", ns, name, err);
        else
            log_debug("audit: event on %s/%s: %s", ns, name, err);
        ev->failing = true;
        return false;
    }
    if (ev->failing)
        log_info("audit: events are written again");
    ev->failing = false;
    atomic_fetch_add(&written[strcmp(type, "Normal") == 0 ? 1 : 0], 1);
    if (name_out)
        snprintf(name_out, outlen, "%s", evname);
    return true;
}

/* count + 1 on an existing Event; false when it is gone (or the PATCH failed). */
static bool patch_event(struct events *ev, const struct ev_state *s, const char *message, time_t now)
{
    char path[700], when[40], err[512];
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/events/%s", s->ns, s->event);
    timestamp(now, when, sizeof when);
    char *msg = message_of(message);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "count", s->count + 1);
    cJSON_AddStringToObject(o, "lastTimestamp", when);
    cJSON_AddStringToObject(o, "message", msg ? msg : "");
    mem_free(msg);
    long status;
    enum ag_result r = send_json(ev, "PATCH", path, "application/merge-patch+json", o, &status, err, sizeof err);
    if (r == AG_OK && status == 200) {
        atomic_fetch_add(&written[0], 1);
        return true;
    }
    if (!(r == AG_OK && status == 404))
        atomic_fetch_add(&failed, 1);
    return false;
}

static int key_cmp(const char *ns1, const char *n1, const char *ns2, const char *n2)
{
    int c = strcmp(ns1, ns2);
    return c ? c : strcmp(n1, n2);
}

static struct ev_state *find(struct events *ev, const char *ns, const char *name)
{
    size_t lo = 0, hi = ev->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = key_cmp(ev->st[mid].ns, ev->st[mid].name, ns, name);
        if (c == 0)
            return &ev->st[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

bool events_apply(struct events *ev, const struct audit_report *r, struct inventory *inv, time_t now,
                  unsigned repeat_s)
{
    bool backlog = false;
    unsigned budget = EVENTS_MAX_PER_RUN;
    struct ev_state *next = r->nfindings ? mem_calloc(r->nfindings, sizeof *next) : NULL;
    size_t nn = 0;
    if (r->nfindings && !next)
        return true;
    bool *kept = ev->n ? mem_calloc(ev->n, sizeof *kept) : NULL;
    if (ev->n && !kept) {
        mem_free(next);
        return true;
    }
    /* every look-up first: below, states move out of (and are freed from) the old array */
    struct ev_state **olds = r->nfindings ? mem_calloc(r->nfindings, sizeof *olds) : NULL;
    if (r->nfindings && !olds) {
        mem_free(next);
        mem_free(kept);
        return true;
    }
    for (size_t i = 0; i < r->nfindings; i++)
        olds[i] = find(ev, r->findings[i].ns, r->findings[i].name);
    /* findings are in (ns, name) order, so `next` is sorted too */
    for (size_t i = 0; i < r->nfindings; i++) {
        const struct audit_finding *f = &r->findings[i];
        if (!f->ns[0])
            continue;       /* no namespace (a folder item without one): nowhere to write */
        struct ev_state *old = olds[i];
        struct ev_state s = { 0 };
        if (old) {
            /* its strings move to `s` (and on to `next`, or are freed here); kept entries are not
             * freed again below */
            kept[old - ev->st] = true;
            s = *old;
        }
        bool on_vmi = !f->has_vm;      /* the Event goes on the VM when there is one (kubectl describe vm) */
        /* made again under its name (another uid): a new object, so a new Event on it */
        bool new_uid = s.ns && f->uid && (!s.uid || strcmp(s.uid, f->uid) != 0);
        bool fresh = !s.ns || strcmp(s.reason, f->reason) != 0 || s.is_vmi != on_vmi || new_uid;
        bool due = !fresh && now - s.last >= (time_t)repeat_s;
        if ((fresh || due) && budget == 0) {
            backlog = true;
            if (fresh) {        /* not announced yet: try again next run */
                state_free(&s);
                continue;
            }
        } else if (fresh) {
            budget--;
            char evname[320];
            if (!post_event(ev, f->ns, f->name, f->uid, on_vmi, "Warning", f->reason, f->message, now, evname,
                            sizeof evname)) {
                backlog = true;
                budget = 0;     /* the apiserver refuses: the rest waits for the next audit */
                state_free(&s);
                continue;
            }
            if (!s.ns) {
                s.ns = mem_strdup(f->ns);
                s.name = mem_strdup(f->name);
            }
            if (!s.uid || new_uid) {
                mem_free(s.uid);
                s.uid = f->uid ? mem_strdup(f->uid) : NULL;
            }
            snprintf(s.reason, sizeof s.reason, "%s", f->reason);
            snprintf(s.event, sizeof s.event, "%s", evname);
            s.is_vmi = on_vmi;
            s.count = 1;
            s.last = now;
        } else if (due) {
            budget--;
            if (patch_event(ev, &s, f->message, now)) {
                s.count++;
                s.last = now;
            } else {
                char evname[320];
                if (post_event(ev, f->ns, f->name, f->uid, on_vmi, "Warning", f->reason, f->message, now, evname,
                               sizeof evname)) {
                    snprintf(s.event, sizeof s.event, "%s", evname);
                    s.count = 1;
                    s.last = now;
                } else {
                    backlog = true;
                }
            }
        }
        if (!s.ns || !s.name) {
            state_free(&s);
            continue;
        }
        next[nn++] = s;
    }
    /* the VMs refusable before and not now: recovered (when they still exist) */
    for (size_t i = 0; i < ev->n; i++) {
        struct ev_state *s = &ev->st[i];
        if (kept[i])
            continue;
        if (inventory_has(inv, s->is_vmi, s->ns, s->name)) {
            char msg[600];      /* recoveries are not held back by the per-run cap: they are rare */
            snprintf(msg, sizeof msg, "archgate would admit this %s again if it were created now (it was refused: %s)",
                     s->is_vmi ? "VMI" : "VM", s->reason);
            post_event(ev, s->ns, s->name, s->uid, s->is_vmi, "Normal", EVENTS_REASON_RECOVERED, msg, now, NULL, 0);
        }
        state_free(s);
    }
    mem_free(kept);
    mem_free(olds);
    mem_free(ev->st);
    ev->st = next;
    ev->n = nn;
    return backlog;
}
