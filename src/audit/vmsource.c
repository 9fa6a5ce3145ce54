/* vmsource.c - the VM and VMI list/watch threads feeding the inventory: paged lists, watches
 * from the list's resourceVersion, relist on 410 Gone, back-off on errors, a not-served kind
 * counted as empty. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "audit/vmsource.h"
#include "clock.h"
#include "fileio.h"
#include "liststream.h"
#include "log.h"
#include "mem.h"

#define VS_PAGE_MAX     (64u * 1024 * 1024)
#define VS_LINE_MAX     (16u * 1024 * 1024)
#define VS_LIST_TIMEOUT 30000L
#define VS_WATCH_IDLE   90000L
#define VS_MISSING_MS   60000u
#define VS_RV_MAX       128
#define VS_CONT_MAX     1024
#define VS_REST_MAX     (1024u * 1024)          /* a list page outside its items (kind, metadata) */
#define VS_NESTING      128

static const cJSON *member(const cJSON *o, const char *k)
{
    if (!cJSON_IsObject(o))
        return NULL;
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
    return j && !cJSON_IsNull(j) ? j : NULL;
}

static void copy_rv(const cJSON *obj, char *rv, size_t rvlen)
{
    const cJSON *v = member(member(obj, "metadata"), "resourceVersion");
    if (rv && cJSON_IsString(v) && v->valuestring && v->valuestring[0] && strlen(v->valuestring) < rvlen)
        snprintf(rv, rvlen, "%s", v->valuestring);
}

enum ag_result vmsource_apply_line(struct inventory *inv, bool is_vmi, const char *line, size_t len, bool *changed,
                                   char *rv, size_t rvlen, bool *gone, char *err, size_t errlen)
{
    *changed = false;
    *gone = false;
    cJSON *j = fileio_parse_json(line, len, NULL);
    const cJSON *type = member(j, "type"), *obj = member(j, "object");
    enum ag_result r = AG_OK;
    if (!cJSON_IsString(type) || !type->valuestring || !cJSON_IsObject(obj)) {
        snprintf(err, errlen, "not a watch event");
        r = AG_EINVAL;
        goto out;
    }
    const char *t = type->valuestring;
    if (strcmp(t, "ADDED") == 0 || strcmp(t, "MODIFIED") == 0) {
        r = inventory_put(inv, is_vmi, obj, changed, err, errlen);
        copy_rv(obj, rv, rvlen);
    } else if (strcmp(t, "DELETED") == 0) {
        const cJSON *meta = member(obj, "metadata");
        const cJSON *ns = member(meta, "namespace"), *name = member(meta, "name");
        if (!cJSON_IsString(ns) || !cJSON_IsString(name) || !ns->valuestring || !name->valuestring) {
            snprintf(err, errlen, "DELETED: metadata.namespace and metadata.name: must be strings");
            r = AG_EINVAL;
        } else {
            inventory_delete(inv, is_vmi, ns->valuestring, name->valuestring, changed);
        }
        copy_rv(obj, rv, rvlen);
    } else if (strcmp(t, "BOOKMARK") == 0) {
        copy_rv(obj, rv, rvlen);
    } else if (strcmp(t, "ERROR") == 0) {
        const cJSON *code = member(obj, "code"), *msg = member(obj, "message");
        *gone = cJSON_IsNumber(code) && code->valuedouble == 410;
        snprintf(err, errlen, "ERROR %d: %.300s", cJSON_IsNumber(code) ? code->valueint : 0,
                 cJSON_IsString(msg) && msg->valuestring ? msg->valuestring : "(no message)");
        r = AG_EIO;
    }
out:
    cJSON_Delete(j);
    return r;
}

/* ---- listing -------------------------------------------------------------------------------- */

static bool url_append(char *buf, size_t len, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t used = strlen(buf);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                     *p == '-' || *p == '_' || *p == '.' || *p == '~';
        if (used + (plain ? 1 : 3) >= len)
            return false;
        if (plain) {
            buf[used++] = (char)*p;
        } else {
            buf[used++] = '%';
            buf[used++] = hex[*p >> 4];
            buf[used++] = hex[*p & 15];
        }
    }
    buf[used] = '\0';
    return true;
}

/* A whole body through the streaming GET, so a stop flag is honoured while it comes. */
struct page {
    char *buf;
    size_t len, cap;
    bool too_big, nomem;
};

static bool page_line(void *arg, const char *line, size_t len)
{
    struct page *p = arg;
    if (len + 2 > VS_PAGE_MAX - p->len) {
        p->too_big = true;
        return false;
    }
    if (p->len + len + 2 > p->cap) {
        size_t cap = p->cap ? p->cap : 65536;
        while (cap < p->len + len + 2)
            cap *= 2;
        char *nb = mem_realloc(p->buf, cap);
        if (!nb) {
            p->nomem = true;
            return false;
        }
        p->buf = nb;
        p->cap = cap;
    }
    memcpy(p->buf + p->len, line, len);
    p->len += len;
    p->buf[p->len++] = '\n';
    p->buf[p->len] = '\0';
    return true;
}

static enum ag_result get_page(struct kube_client *c, const char *path, const atomic_bool *stop, long *status,
                               char **body, size_t *blen, char *err, size_t errlen)
{
    struct page p = { 0 };
    enum ag_result r = kube_client_stream(c, path, VS_PAGE_MAX, VS_LIST_TIMEOUT, stop, page_line, &p, status, err,
                                          errlen);
    if (r == AG_OK && (p.nomem || p.too_big)) {
        snprintf(err, errlen, "GET %s: %s", path, p.nomem ? "out of memory" : "the answer is too large");
        r = p.nomem ? AG_ENOMEM : AG_ETOOBIG;
    }
    if (r == AG_OK && stop && atomic_load(stop)) {
        snprintf(err, errlen, "stopped");
        r = AG_EIO;
    }
    if (r != AG_OK) {
        mem_free(p.buf);
        return r;
    }
    *body = p.buf;
    *blen = p.len;
    return AG_OK;
}

struct list_page {
    struct inventory *inv;
    bool is_vmi;
    size_t skipped;
};

static enum ag_result list_item(const cJSON *it, size_t index, void *ctx, char *err, size_t errlen)
{
    struct list_page *lp = ctx;
    char ierr[INVENTORY_ERR_MAX];
    (void)index;
    enum ag_result r = inventory_put(lp->inv, lp->is_vmi, it, NULL, ierr, sizeof ierr);
    if (r == AG_EINVAL) {
        if (lp->skipped++ < 5)
            log_warn("audit: skipping a listed %s: %s", lp->is_vmi ? "VMI" : "VM", ierr);
        return AG_OK;
    }
    if (r != AG_OK)
        snprintf(err, errlen, "%s", ierr);
    return r;
}

enum ag_result vmsource_apply_page(struct inventory *inv, bool is_vmi, const char *body, size_t len, char *rv,
                                   size_t rvlen, char *cont, size_t contlen, char *err, size_t errlen)
{
    const char *base = is_vmi ? VMSOURCE_VMI_PATH : VMSOURCE_VM_PATH;
    /* item by item: the memory is one item and the page's bytes, never the page's tree */
    struct list_page lp = { inv, is_vmi, 0 };
    char perr[INVENTORY_ERR_MAX] = "";
    cJSON *page = NULL;
    if (contlen)
        cont[0] = '\0';
    struct liststream *ls = liststream_new("items", VS_PAGE_MAX, VS_REST_MAX, VS_NESTING, list_item, &lp);
    enum ag_result r = ls ? liststream_feed(ls, body ? body : "", len, perr, sizeof perr) : AG_ENOMEM;
    if (r == AG_OK)
        r = liststream_finish(ls, &page, NULL, perr, sizeof perr);
    liststream_free(ls);
    const cJSON *items = member(page, "items");
    if (r == AG_OK && (!cJSON_IsObject(page) || (items && !cJSON_IsNull(items) && !cJSON_IsArray(items)))) {
        snprintf(perr, sizeof perr, "not a list");
        r = AG_EINVAL;
    }
    const cJSON *cj = member(member(page, "metadata"), "continue");
    bool more = cJSON_IsString(cj) && cj->valuestring && cj->valuestring[0];
    if (r == AG_OK && more && strlen(cj->valuestring) >= contlen) {
        snprintf(perr, sizeof perr, "continue token too long");
        r = AG_EINVAL;
    }
    if (r != AG_OK) {
        snprintf(err, errlen, "list of %s: %s", base, r == AG_ENOMEM ? "out of memory" : perr);
        cJSON_Delete(page);
        return r;
    }
    copy_rv(page, rv, rvlen);
    if (more)
        snprintf(cont, contlen, "%s", cj->valuestring);
    cJSON_Delete(page);
    return AG_OK;
}

/* List one kind into `into` (put item by item). *missing: the kind is not served. */
static enum ag_result list_kind(struct kube_client *c, bool is_vmi, unsigned limit, const atomic_bool *stop,
                                struct inventory *into, char *rv, size_t rvlen, bool *missing, char *err,
                                size_t errlen)
{
    const char *base = is_vmi ? VMSOURCE_VMI_PATH : VMSOURCE_VM_PATH;
    char cont[VS_CONT_MAX + 1] = "";
    *missing = false;
    for (unsigned pages = 0;; pages++) {
        char path[4000];
        snprintf(path, sizeof path, "%s?limit=%u%s", base, limit ? limit : 500, cont[0] ? "&continue=" : "");
        if (cont[0] && !url_append(path, sizeof path, cont)) {
            snprintf(err, errlen, "list of %s: continue token too long", base);
            return AG_EINVAL;
        }
        long status = 0;
        char *body = NULL;
        size_t blen = 0;
        enum ag_result r = get_page(c, path, stop, &status, &body, &blen, err, errlen);
        if (r != AG_OK)
            return r;
        if (status == 404 && pages == 0) {
            mem_free(body);
            *missing = true;
            return AG_OK;
        }
        if (status != 200) {
            snprintf(err, errlen, "list of %s: HTTP %ld", base, status);
            mem_free(body);
            return AG_EIO;
        }
        r = vmsource_apply_page(into, is_vmi, body, blen, rv, rvlen, cont, sizeof cont, err, errlen);
        mem_free(body);
        if (r != AG_OK || !cont[0])
            return r;
    }
}

enum ag_result vmsource_list_once(const struct kube_config *cfg, struct inventory *inv, char *err, size_t errlen)
{
    struct kube_client *c = kube_client_new(cfg, err, errlen);
    if (!c)
        return AG_EIO;
    enum ag_result r = AG_OK;
    for (int k = 0; k < 2 && r == AG_OK; k++) {
        char rv[VS_RV_MAX];
        bool missing;
        r = list_kind(c, k == 1, 500, NULL, inv, rv, sizeof rv, &missing, err, errlen);
    }
    kube_client_free(c);
    return r;
}

/* ---- the threads ---------------------------------------------------------------------------- */

struct vs_kind {
    bool is_vmi;
    pthread_t thread;
    bool started;
    atomic_bool listed;
    struct kube_client *client;
    char rv[VS_RV_MAX];
    unsigned backoff_ms;
};

static struct {
    struct vmsource_opts o;
    atomic_bool stop;
    struct vs_kind kinds[2];
} vs;

static void vs_sleep(unsigned ms)
{
    while (ms && !atomic_load(&vs.stop)) {
        unsigned step = ms < 100 ? ms : 100;
        struct timespec ts = { 0, (long)step * 1000000L };
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

static void backoff(struct vs_kind *k)
{
    k->backoff_ms = k->backoff_ms ? k->backoff_ms * 2 : 200;
    if (k->backoff_ms > 30000)
        k->backoff_ms = 30000;
    vs_sleep(k->backoff_ms);
}

static void changed(void)
{
    if (vs.o.on_change)
        vs.o.on_change();
}

struct vs_watch {
    struct vs_kind *k;
    bool gone, failed;
    unsigned applied, skipped;
    char first_skipped[256];    /* why the first skipped line was refused */
};

static bool vs_line(void *arg, const char *line, size_t len)
{
    struct vs_watch *w = arg;
    bool ch = false, gone = false;
    char err[512] = "";
    enum ag_result r = vmsource_apply_line(vs.o.inv, w->k->is_vmi, line, len, &ch, w->k->rv, sizeof w->k->rv,
                                           &gone, err, sizeof err);
    if (ch)
        changed();
    if (r == AG_EIO) {
        w->gone = gone;
        w->failed = !gone;
        if (!gone)
            log_warn("audit: watch of %s: %s", w->k->is_vmi ? "VMIs" : "VMs", err);
        return false;
    }
    if (r == AG_ENOMEM) {
        w->gone = true;     /* missed an event: relist */
        return false;
    }
    if (r == AG_EINVAL) {
        /* also the Status body of a refused watch: reported once the stream's status is known */
        if (!w->skipped++)
            snprintf(w->first_skipped, sizeof w->first_skipped, "%s", err);
        return true;
    }
    w->applied++;
    return true;
}

static void *kind_main(void *arg)
{
    struct vs_kind *k = arg;
    bool need_list = true;
    while (!atomic_load(&vs.stop)) {
        if (need_list) {
            /* applied in place: what the list holds is put (an unchanged VM stays as it is),
             * what it lacks is forgotten once the whole list has been read */
            char err[512] = "";
            bool missing = false;
            inventory_sync_begin(vs.o.inv, k->is_vmi);
            enum ag_result r = list_kind(k->client, k->is_vmi, vs.o.page_limit, &vs.stop, vs.o.inv, k->rv,
                                         sizeof k->rv, &missing, err, sizeof err);
            bool ch = inventory_sync_end(vs.o.inv, k->is_vmi, r == AG_OK);
            bool first = r == AG_OK && !atomic_exchange(&k->listed, true);
            if (ch || first)
                changed();
            mem_give_back();    /* the list's pages */
            if (r != AG_OK) {
                if (!atomic_load(&vs.stop))
                    log_warn("audit: %s", err);
                backoff(k);
                continue;
            }
            if (missing) {
                vs_sleep(VS_MISSING_MS);
                continue;
            }
            need_list = false;     /* the back-off ends with a watch that delivers, not here */
        }
        char path[4000];
        snprintf(path, sizeof path, "%s?watch=1&allowWatchBookmarks=true&timeoutSeconds=%u&resourceVersion=",
                 k->is_vmi ? VMSOURCE_VMI_PATH : VMSOURCE_VM_PATH, vs.o.watch_timeout_s ? vs.o.watch_timeout_s : 300);
        if (!url_append(path, sizeof path, k->rv)) {
            need_list = true;
            continue;
        }
        struct vs_watch w = { .k = k };
        long status = 0;
        char err[512] = "";
        long long t0 = clock_mono_ms();
        enum ag_result r = kube_client_stream(k->client, path, VS_LINE_MAX, VS_WATCH_IDLE, &vs.stop, vs_line, &w,
                                              &status, err, sizeof err);
        if (atomic_load(&vs.stop))
            break;
        const char *what = k->is_vmi ? "VMIs" : "VMs";
        if (r != AG_OK)
            log_warn("audit: watch of %s: %s", what, err);
        else if (status != 200)
            log_warn("audit: watch of %s: HTTP %ld%s%s", what, status, w.skipped ? ": " : "", w.first_skipped);
        else if (w.skipped)
            log_warn("audit: watch of %s: skipped %u lines (the first: %s)", what, w.skipped, w.first_skipped);
        if (r != AG_OK || status != 200 || w.gone || w.failed) {
            /* 410, an ERROR event or a broken stream: list again. Any other refusal (403, 429,
             * 500): watch again from the same version, after a growing pause */
            need_list = r != AG_OK || w.gone || w.failed || status == 410;
            if (!w.gone)
                backoff(k);
            continue;
        }
        if (w.applied)
            k->backoff_ms = 0;
        else if (clock_mono_ms() - t0 < 1000)
            backoff(k);     /* a watch the server ends at once, with nothing in it, again and again */
    }
    return NULL;
}

enum ag_result vmsource_start(const struct vmsource_opts *opts, char *err, size_t errlen)
{
    memset(&vs, 0, sizeof vs);
    vs.o = *opts;
    atomic_store(&vs.stop, false);
    for (int i = 0; i < 2; i++) {
        struct vs_kind *k = &vs.kinds[i];
        k->is_vmi = i == 1;
        atomic_store(&k->listed, false);
        if (!(k->client = kube_client_new(opts->cfg, err, errlen))) {
            vmsource_stop();
            return AG_EIO;
        }
        if (pthread_create(&k->thread, NULL, kind_main, k) != 0) {
            snprintf(err, errlen, "cannot start the VM watch thread");
            vmsource_stop();
            return AG_EINTERNAL;
        }
        k->started = true;
    }
    return AG_OK;
}

void vmsource_stop(void)
{
    atomic_store(&vs.stop, true);
    for (int i = 0; i < 2; i++) {
        struct vs_kind *k = &vs.kinds[i];
        if (k->started)
            pthread_join(k->thread, NULL);
        k->started = false;
        kube_client_free(k->client);
        k->client = NULL;
    }
}

bool vmsource_synced(void)
{
    return atomic_load(&vs.kinds[0].listed) && atomic_load(&vs.kinds[1].listed);
}
