/* Report mode's check of what happens to a broadcast buffer after the broadcast: a hash of
 * each rank's copy when it arrives and when its life ends (content.h). */
#include "content.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lifetime.h"
#include "procmaps.h"
#include "sites.h"

typedef struct watched {
    uintptr_t start;
    size_t bytes;
    uint64_t hash;
    int site;
} watched;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static watched table[CONTENT_MAX];
static int used;                           /* table[0, used) */
/* Every watched byte lies between: read without the lock first, so that the allocator hooks
 * take it only for memory near watched copies. */
static uintptr_t lowest = UINTPTR_MAX, highest;
static content_counts counts[SITES_MAX];

/* fork() while another thread holds the lock would leave it held in the child, whose next
 * free() would wait forever: fork waits for it instead. */
static void before_fork(void) { pthread_mutex_lock(&lock); }
static void after_fork(void) { pthread_mutex_unlock(&lock); }

__attribute__((constructor)) static void content_init(void)
{
    pthread_atfork(before_fork, after_fork, after_fork);
}

/* ---- the hash ---- */

#define K1 0x9E3779B97F4A7C15ull
#define K2 0xC2B2AE3D27D4EB4Full

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

/* Bijective in h for a given w and in w for a given h: a lane whose words differ in one
 * place ends in a different state, always. The multiply is off the chain through h, so the
 * eight lanes cost one multiply per word (xxHash's round, without its second multiply). */
static inline uint64_t lane(uint64_t h, uint64_t w) { return rotl(h + w * K2, 31); }

uint64_t content_hash(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h[8];
    for (int k = 0; k < 8; k++)
        h[k] = (K1 * (uint64_t)(k + 1)) ^ n;
    size_t i = 0;
    for (; n - i >= 64; i += 64) { /* 8 independent chains: the multiplier stays busy */
        uint64_t w[8];
        memcpy(w, b + i, sizeof w);
        for (int k = 0; k < 8; k++)
            h[k] = lane(h[k], w[k]);
    }
    uint64_t tail[8] = {0};
    memcpy(tail, b + i, n - i);
    uint64_t r = n;
    for (int k = 0; k < 8; k++) /* each step bijective in h[k]: one lane's change shows */
        r = rotl(r ^ (lane(h[k], tail[k]) * K1), 27) * K1 + K2;
    r ^= r >> 33;
    r *= K2;
    return r ^ (r >> 29);
}

/* ---- the table ---- */

int content_watching(void) { return __atomic_load_n(&used, __ATOMIC_RELAXED) != 0; }

void content_watch(uintptr_t buf, size_t bytes, int site)
{
    if (site < 0 || site >= SITES_MAX || !bytes)
        return;
    uint64_t h = content_hash((const void *)buf, bytes); /* outside the lock: may be long */
    pthread_mutex_lock(&lock);
    if (used == CONTENT_MAX) {
        counts[site].unchecked++;
    } else {
        table[used] = (watched){buf, bytes, h, site};
        __atomic_store_n(&used, used + 1, __ATOMIC_RELAXED);
        lifetime_watch(LIFETIME_COPIES, 1);
        if (buf < lowest)
            __atomic_store_n(&lowest, buf, __ATOMIC_RELAXED);
        if (buf + bytes > highest)
            __atomic_store_n(&highest, buf + bytes, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&lock);
}

/* Take up to `max` copies overlapping [start, start+len) out of the table. */
static int take(uintptr_t start, size_t len, watched *out, int max)
{
    int n = 0;
    if (start >= __atomic_load_n(&highest, __ATOMIC_RELAXED) ||
        start + len <= __atomic_load_n(&lowest, __ATOMIC_RELAXED))
        return 0; /* (a copy being added now is not yet filled: nothing of it ends here) */
    pthread_mutex_lock(&lock);
    if (start < highest && start + len > lowest)
        for (int i = 0; i < used && n < max;) {
            if (table[i].start < start + len && table[i].start + table[i].bytes > start) {
                out[n++] = table[i];
                table[i] = table[--used];
            } else {
                i++;
            }
        }
    if (!used) {
        __atomic_store_n(&lowest, UINTPTR_MAX, __ATOMIC_RELAXED);
        __atomic_store_n(&highest, 0, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&used, used, __ATOMIC_RELAXED);
    lifetime_watch(LIFETIME_COPIES, used != 0);
    pthread_mutex_unlock(&lock);
    return n;
}

static void record(const watched *w, int readable)
{
    int same = readable && content_hash((const void *)w->start, w->bytes) == w->hash;
    pthread_mutex_lock(&lock);
    if (!readable)
        counts[w->site].unchecked++;
    else if (same)
        counts[w->site].unchanged++;
    else
        counts[w->site].written++;
    pthread_mutex_unlock(&lock);
}

/* The copies overlapping [start, start+len) end: judged by their hash, or, with `refill`,
 * those inside the range counted as unchanged. */
static void end_copies(uintptr_t start, size_t len, int mapped, int refill)
{
    watched w[16];
    int n;
    len = len ? len : 1;
    while (content_watching() && (n = take(start, len, w, 16)) > 0)
        for (int i = 0; i < n; i++) {
            /* beyond what the caller knows to be mapped, the copy may have gone already */
            int inside = w[i].start >= start && w[i].start + w[i].bytes <= start + len;
            if (refill && inside) { /* the root's new data, not a write into what it was sent */
                pthread_mutex_lock(&lock);
                counts[w[i].site].unchanged++;
                pthread_mutex_unlock(&lock);
                continue;
            }
            record(&w[i], (mapped && inside) ||
                              procmaps_readable(w[i].start, w[i].start + w[i].bytes));
        }
}

void content_end(uintptr_t start, size_t len, int mapped) { end_copies(start, len, mapped, 0); }

void content_refill(uintptr_t start, size_t len) { end_copies(start, len, 0, 1); }

void content_end_all(void)
{
    watched w[16];
    int n;
    procmaps_range *r = NULL;
    size_t nr = content_watching() ? procmaps_readable_ranges(&r) : 0; /* the map, once */
    while ((n = take(0, UINTPTR_MAX, w, 16)) > 0)
        for (int i = 0; i < n; i++) { /* memory unmapped where no hook saw it is not read */
            uintptr_t end = w[i].start + w[i].bytes;
            record(&w[i], r ? procmaps_in_ranges(r, nr, w[i].start, end)
                            : procmaps_readable(w[i].start, end));
        }
    free(r);
}

void content_site_counts(int site, content_counts *out)
{
    pthread_mutex_lock(&lock);
    *out = site >= 0 && site < SITES_MAX ? counts[site] : (content_counts){0, 0, 0};
    pthread_mutex_unlock(&lock);
}

void content_reset(void)
{
    pthread_mutex_lock(&lock);
    __atomic_store_n(&used, 0, __ATOMIC_RELAXED);
    lifetime_watch(LIFETIME_COPIES, 0);
    __atomic_store_n(&lowest, UINTPTR_MAX, __ATOMIC_RELAXED);
    __atomic_store_n(&highest, 0, __ATOMIC_RELAXED);
    memset(counts, 0, sizeof counts);
    pthread_mutex_unlock(&lock);
}
