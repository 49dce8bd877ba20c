#include "peak.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "layout.h"
#include "procmaps.h"
#include "region.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static region scratch[PEAK_ARRAYS]; /* region_snapshot's, under the lock */
static wire_array taken[PEAK_ARRAYS];
static int ntaken;
static unsigned long long most; /* the most bytes mapped from node copies at once */
static int pending;             /* the current arrays are the peak: take them before one goes */

/* The shared arrays now, under the lock: into out (NULL: only counted); their mapped bytes. */
static unsigned long long current(wire_array *out, int *n)
{
    size_t all = region_snapshot(scratch, PEAK_ARRAYS);
    all = all < PEAK_ARRAYS ? all : PEAK_ARRAYS;
    unsigned long long mapped = 0;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    int k = 0;
    for (size_t i = 0; i < all; i++) {
        const region *r = &scratch[i];
        if (!r->shared || !r->shared_bytes)
            continue;
        mapped += r->shared_bytes;
        if (!out)
            continue;
        layout l;
        layout_compute(&l, r->base, r->bytes, page);
        long file = 0;
        (void)procmaps_page_kinds(l.map_start, r->shared_bytes, &file);
        out[k] = (wire_array){.dev = r->dev, .ino = r->ino, .mapped = r->shared_bytes,
                              .present = (unsigned long long)(file > 0 ? file : 0) *
                                         page};
        k++;
    }
    if (n)
        *n = k;
    return mapped;
}

void peak_note_shared(void)
{
    pthread_mutex_lock(&lock);
    unsigned long long now = current(NULL, NULL);
    if (now >= most) {
        most = now;
        __atomic_store_n(&pending, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&lock);
}

int peak_pending(void) { return __atomic_load_n(&pending, __ATOMIC_ACQUIRE); }

void peak_leaving(void)
{
    if (!__atomic_load_n(&pending, __ATOMIC_ACQUIRE))
        return;
    pthread_mutex_lock(&lock);
    if (pending) {
        __atomic_store_n(&pending, 0, __ATOMIC_RELEASE);
        current(taken, &ntaken);
    }
    pthread_mutex_unlock(&lock);
}

int peak_arrays(wire_array *out, int max)
{
    peak_leaving(); /* (the current arrays, where they are the peak) */
    pthread_mutex_lock(&lock);
    int n = ntaken < max ? ntaken : max;
    memcpy(out, taken, (size_t)n * sizeof *out);
    pthread_mutex_unlock(&lock);
    return n;
}
