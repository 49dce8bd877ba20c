/* free() and realloc() are interposed so that a marked array's mark and shared pages end
 * with the array:
 *  - glibc may reuse a freed heap chunk, or give it back with MADV_DONTNEED, after which a
 *    private file mapping shows the segment again instead of zeros, and calloc trusts
 *    fresh top-of-heap memory to be zero;
 *  - realloc may mremap an mmapped chunk to a larger size, and the part beyond the
 *    segment's end would raise SIGBUS.
 * The fast path is one relaxed load when nothing is marked. */
#define _GNU_SOURCE
#include "release.h"

#include <dlfcn.h>
#include <malloc.h>
#include <stdint.h>
#include <unistd.h>

#include "layout.h"
#include "mpishm_internal.h"
#include "protect.h"
#include "segment.h"

int unshare_region(const region *r, int keep)
{
    if (!r->shared)
        return 0;
    layout l;
    layout_compute(&l, r->base, r->bytes, (size_t)sysconf(_SC_PAGESIZE));
    if (l.map_len == 0)
        return 0;
    protect_remove(l.map_start, l.map_len);
    return mem_make_private((void *)l.map_start, l.map_len, keep) ? MPISHM_ESYSTEM : 0;
}

int retire_selected(uintptr_t start, size_t len)
{
    region r[16];
    size_t n, from = 0;
    do { /* first look: any array marked by the application stays, and so does the rest */
        n = region_overlapping(start, len, from, r, 16);
        for (size_t i = 0; i < n; i++)
            if (r[i].origin == ORIGIN_MARK)
                return MPISHM_EOVERLAP;
        from += n;
    } while (n == 16);
    while ((n = region_overlapping(start, len, 0, r, 16)) > 0)
        for (size_t i = 0; i < n; i++) {
            unshare_region(&r[i], 1);
            region_remove(r[i].base, NULL);
        }
    return 0;
}

/* Drop every mark inside the block [p, p+len) that is being freed or moved. Content is kept
 * when the caller still needs it (realloc) or when a mark reaches outside the block. */
static void release_block(void *p, size_t len, int keep)
{
    region taken[16];
    size_t n;
    do {
        n = region_take_overlapping((uintptr_t)p, len, taken, 16);
        for (size_t i = 0; i < n; i++) {
            const region *r = &taken[i];
            int inside = r->base >= (uintptr_t)p && r->base + r->bytes <= (uintptr_t)p + len;
            unshare_region(r, keep || !inside);
        }
    } while (n == 16);
}

extern void __libc_free(void *);
extern void *__libc_realloc(void *, size_t);

static void (*next_free)(void *);
static void *(*next_realloc)(void *, size_t);
static __thread int resolving;

/* The allocator's own functions (glibc's, or an allocator linked by the application). */
static void resolve(void)
{
    if (resolving)
        return; /* dlsym itself freeing: glibc's functions serve meanwhile */
    resolving = 1;
    void *f = dlsym(RTLD_NEXT, "free"), *r = dlsym(RTLD_NEXT, "realloc");
    __atomic_store_n(&next_realloc, r ? (void *(*)(void *, size_t))r : __libc_realloc,
                     __ATOMIC_RELEASE);
    __atomic_store_n(&next_free, f ? (void (*)(void *))f : __libc_free, __ATOMIC_RELEASE);
    resolving = 0;
}

MPISHM_EXPORT void free(void *p)
{
    if (p && region_count())
        release_block(p, malloc_usable_size(p), 0);
    void (*f)(void *) = __atomic_load_n(&next_free, __ATOMIC_ACQUIRE);
    if (!f) {
        resolve();
        f = next_free ? next_free : __libc_free;
    }
    f(p);
}

MPISHM_EXPORT void *realloc(void *p, size_t size)
{
    if (p && region_count())
        release_block(p, malloc_usable_size(p), 1);
    void *(*f)(void *, size_t) = __atomic_load_n(&next_realloc, __ATOMIC_ACQUIRE);
    if (!f) {
        resolve();
        f = next_realloc ? next_realloc : __libc_realloc;
    }
    return f(p, size);
}
