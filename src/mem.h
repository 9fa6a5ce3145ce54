/* mem.h - the allocator every archgate module uses (and cJSON through its hooks).
 *
 * All heap memory goes through mem_malloc/mem_realloc/mem_free so tests can make the Nth
 * allocation fail (mem_fail_after) and count what is still live (mem_live). In normal builds
 * the indirection costs one predictable branch. */
#ifndef ARCHGATE_MEM_H
#define ARCHGATE_MEM_H

#include <stdbool.h>
#include <stddef.h>

void *mem_malloc(size_t n);
void *mem_calloc(size_t count, size_t size);   /* overflow-checked */
void *mem_realloc(void *p, size_t n);
void mem_free(void *p);
char *mem_strdup(const char *s);               /* NULL if s is NULL or on failure */
char *mem_strndup(const char *s, size_t n);

/* Install mem_malloc/mem_free as cJSON's hooks. Call once, before any thread starts. */
void mem_install_cjson_hooks(void);

/* The request arena (cJSON allocations only, this thread): everything cJSON allocates between
 * begin and end is released at the end at once, and must not be used after it. Nests. */
void mem_arena_begin(void);
void mem_arena_end(void);

/* The process heap as glibc's malloc sees it. in_use: bytes handed out (below the mmap
 * threshold); free: bytes freed but still held by malloc; mmapped: large blocks, each its own
 * mapping; arenas: malloc's arenas (one per thread that allocated, up to its limit). */
struct mem_heap { size_t in_use, free, mmapped; unsigned arenas; };
void mem_heap_stats(struct mem_heap *out);

/* Process-wide malloc settings, once at start before any thread: the mmap threshold fixed at
 * MEM_MMAP_THRESHOLD. glibc otherwise raises it (up to 32 MiB) each time a large block is freed,
 * after which the large transient buffers (list pages, file chunks, response bodies) come from the
 * threads' arenas and stay there as freed fragments: with 5,000 KubeVirt nodes and 10,000 VMs
 * live, 54 MiB after sync instead of 42, and 61-64 MiB under churn instead of 44
 * (docs/performance.md). */
#define MEM_MMAP_THRESHOLD (128 * 1024)
void mem_setup(void);

/* Hand the heap's free memory back to the kernel. glibc keeps what is freed for reuse, so after
 * a snapshot rebuild the transients of the build (the parsed objects, the old snapshot) stay in
 * the RSS until the next build reuses them; the cluster sources call this after each publish, the
 * audit after each re-read of its VMs. It only asks: the trimmer thread runs malloc_trim (which
 * walks every arena, milliseconds on a large heap) at most once every MEM_TRIM_EVERY_S, and a
 * request made in between is served when the interval is over. Without a running trimmer
 * (one-shot commands, most tests) nothing is trimmed. */
#define MEM_TRIM_EVERY_S 1
void mem_give_back(void);
bool mem_trimmer_start(void);       /* false if the thread cannot start; again: true, no second thread */
void mem_trimmer_stop(void);        /* joins it; a later start works */
unsigned long long mem_trims(void); /* malloc_trim calls the trimmer made, for tests and /metrics */

/* Step out of the request arena on this thread (for what must outlive it) and back in:
 * depth = mem_arena_pause(); ...; mem_arena_resume(depth). Outside an arena both do nothing. */
int mem_arena_pause(void);
void mem_arena_resume(int depth);

/* Test support: after `n` more successful allocations, every allocation fails until
 * mem_fail_after(-1) is called. Process-wide; tests are single-threaded when they use it. */
void mem_fail_after(long n);
/* Number of allocations made through mem_* that have not been freed (test builds count). */
long mem_live(void);

#endif
