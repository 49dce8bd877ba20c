/* Report mode's check of what happens to a broadcast buffer after the broadcast: a hash of
 * each rank's copy when it arrives and when its life ends (content.h). */
#include "content.h"

#include <pthread.h>
#include <string.h>

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
static uintptr_t lowest = UINTPTR_MAX, highest; /* every watched byte lies between */
static content_counts counts[SITES_MAX];

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
        lowest = buf < lowest ? buf : lowest;
        highest = buf + bytes > highest ? buf + bytes : highest;
    }
    pthread_mutex_unlock(&lock);
}

/* Take up to `max` copies overlapping [start, start+len) out of the table. */
static int take(uintptr_t start, size_t len, watched *out, int max)
{
    int n = 0;
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
    if (!used)
        lowest = UINTPTR_MAX, highest = 0;
    __atomic_store_n(&used, used, __ATOMIC_RELAXED);
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

void content_end(uintptr_t start, size_t len)
{
    watched w[16];
    int n;
    while (content_watching() && (n = take(start, len ? len : 1, w, 16)) > 0)
        for (int i = 0; i < n; i++)
            record(&w[i], 1);
}

void content_end_all(void)
{
    watched w[16];
    int n;
    while ((n = take(0, UINTPTR_MAX, w, 16)) > 0)
        for (int i = 0; i < n; i++) /* memory unmapped where no hook saw it is not read */
            record(&w[i], procmaps_readable(w[i].start, w[i].start + w[i].bytes));
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
    lowest = UINTPTR_MAX, highest = 0;
    memset(counts, 0, sizeof counts);
    pthread_mutex_unlock(&lock);
}
