/* free(), realloc(), munmap(), mremap() and C++'s operator delete are interposed so that a marked array's mark and
 * shared pages end with the array:
 *  - glibc may reuse a freed heap chunk, or give it back with MADV_DONTNEED, after which a
 *    private file mapping shows the segment again instead of zeros, and calloc trusts
 *    fresh top-of-heap memory to be zero;
 *  - realloc may mremap an mmapped chunk to a larger size, and the part beyond the
 *    segment's end would raise SIGBUS (so would an application's own mremap);
 *  - after an application's munmap, a stale mark would make memory mapped there later
 *    look marked, and the registry would keep growing.
 * Each is one event of lifetime.h, whose table says who reacts how; the fast path is one
 * relaxed load when nothing is watched. */
#define _GNU_SOURCE
#include "release.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "align.h"
#include "allocator.h"
#include "layout.h"
#include "lifetime.h"
#include "log.h"
#include "peak.h"
#include "mpishm_internal.h"
#include "protect.h"
#include "segment.h"

int unshare_region(const region *r, int keep)
{
    if (!r->shared)
        return 0;
    peak_leaving();
    layout l;
    layout_compute(&l, r->base, r->bytes, (size_t)sysconf(_SC_PAGESIZE));
    if (l.map_len == 0)
        return 0;
    protect_remove(l.map_start, l.map_len);
    return mem_make_private((void *)l.map_start, l.map_len, keep) ? MPISHM_ESYSTEM : 0;
}

int unshare_region_for_write(const region *r, uintptr_t lo, uintptr_t hi)
{
    if (!r->shared)
        return 0;
    peak_leaving();
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    layout l;
    layout_compute(&l, r->base, r->bytes, page);
    if (l.map_len == 0)
        return 0;
    uintptr_t start = l.map_start, end = l.map_start + l.map_len;
    /* the whole pages of [lo, hi) inside the mapped range: written anew, not kept */
    uintptr_t dlo = (lo + page - 1) & ~(uintptr_t)(page - 1), dhi = hi & ~(uintptr_t)(page - 1);
    dlo = dlo < start ? start : dlo > end ? end : dlo;
    dhi = dhi > end ? end : dhi < dlo ? dlo : dhi;
    protect_remove(start, l.map_len);
    int rc = 0;
    if (dlo > start)
        rc |= mem_make_private((void *)start, dlo - start, 1);
    if (dhi > dlo)
        rc |= mem_make_private((void *)dlo, dhi - dlo, 0);
    if (end > dhi)
        rc |= mem_make_private((void *)dhi, end - dhi, 1);
    return rc ? MPISHM_ESYSTEM : 0;
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

MPISHM_EXPORT void free(void *p)
{
    lifetime_end(LIFE_FREE, p, 0);
    NEXT(free)(p);
}

MPISHM_EXPORT void *realloc(void *p, size_t size)
{
    lifetime_end(LIFE_REALLOC, p, 0);
    return align_large(size) ? align_realloc(p, size) : NEXT(realloc)(p, size);
}

MPISHM_EXPORT int munmap(void *addr, size_t len)
{
    lifetime_end(LIFE_MUNMAP, addr, len);
    return NEXT(munmap)(addr, len);
}

/* UCX's memory hooks redirect the application's munmap to UCX's own wrapper, past ours:
 * where UCX is loaded, its munmap event tells us instead (ucm.h: UCM_EVENT_MUNMAP, the
 * callback runs before the call, and may neither allocate nor map). */
#if __has_include(<ucm/api/ucm.h>)
#include <ucm/api/ucm.h>

/* UCX's mremap event (its wrapper bypasses ours too): a watched copy ends there. */
static void on_ucm_mremap(ucm_event_type_t type, ucm_event_t *event, void *arg)
{
    (void)arg;
    if (type == UCM_EVENT_MREMAP)
        lifetime_end(LIFE_UCX_MREMAP, event->mremap.address, event->mremap.old_size);
}

static void on_ucm_munmap(ucm_event_type_t type, ucm_event_t *event, void *arg)
{
    (void)arg;
    if (type == UCM_EVENT_MUNMAP)
        lifetime_end(LIFE_UCX_MUNMAP, event->munmap.address, event->munmap.size);
}

void release_watch_ucx(void)
{
    typedef ucs_status_t (*set_fn)(int, int, ucm_event_callback_t, void *);
    set_fn set = (set_fn)dlsym(RTLD_DEFAULT, "ucm_set_event_handler");
    if (set && set(UCM_EVENT_MUNMAP, -1, on_ucm_munmap, NULL) != UCS_OK)
        log_msg(1, "UCX's munmap events are unavailable: munmap of a shared array by the "
                "application is not seen");
    if (set && set(UCM_EVENT_MREMAP, -1, on_ucm_mremap, NULL) != UCS_OK)
        log_msg(1, "UCX's mremap events are unavailable: the report does not see mremap");
}
#else
void release_watch_ucx(void) {}
#endif

MPISHM_EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    void *new_addr = flags & MREMAP_FIXED ? va_arg(ap, void *) : NULL;
    va_end(ap);
    lifetime_end(LIFE_MREMAP, old, old_len); /* the pages move or grow: ordinary memory first */
    return NEXT(mremap)(old, old_len, new_len, flags, new_addr);
}

/* C++ delete and delete[]: libstdc++'s call free(), which ends the mark above; an allocator
 * that replaces them (tcmalloc, a sanitizer runtime, a pool) frees without free(), and its
 * blocks may not be malloc's: then only a mark that starts at the pointer (or, for the sized
 * forms, lies in the block) ends, and nothing is read from the allocator's metadata. */
typedef void (*delete_fn)(void *);
typedef void (*sized_delete_fn)(void *, size_t);

#define NOT_FOUND ((void *)1)

typedef struct next_delete {
    void *fn;      /* the next definition, NOT_FOUND, or NULL before the lookup */
    int via_free;  /* it is libstdc++'s, which calls free() */
} next_delete;

static void *lookup_delete(next_delete *slot, const char *name)
{
    void *f = __atomic_load_n(&slot->fn, __ATOMIC_ACQUIRE);
    if (!f && allocator_started()) {
        f = dlsym(RTLD_NEXT, name);
        Dl_info info;
        slot->via_free = f && dladdr(f, &info) && info.dli_fname &&
                         strstr(info.dli_fname, "libstdc++");
        __atomic_store_n(&slot->fn, f ? f : NOT_FOUND, __ATOMIC_RELEASE);
    }
    return f == NOT_FOUND ? NULL : f;
}

/* The end of a block that libstdc++'s delete would not pass to free(). */
static void release_deleted(const next_delete *slot, void *p, size_t size)
{
    if (!slot->via_free)
        lifetime_end(size ? LIFE_DELETE_SIZED : LIFE_DELETE, p, size);
}

#define INTERPOSE_DELETE(symbol)                                                           \
    MPISHM_EXPORT void symbol(void *p)                                                      \
    {                                                                                      \
        static next_delete next;                                                           \
        delete_fn f = (delete_fn)lookup_delete(&next, #symbol);                            \
        release_deleted(&next, p, 0);                                                      \
        if (f)                                                                             \
            f(p);                                                                          \
        else                                                                               \
            free(p); /* no C++ runtime in the global scope: what libstdc++ would do */      \
    }
#define INTERPOSE_SIZED_DELETE(symbol)                                                     \
    MPISHM_EXPORT void symbol(void *p, size_t size)                                         \
    {                                                                                      \
        static next_delete next;                                                           \
        sized_delete_fn f = (sized_delete_fn)lookup_delete(&next, #symbol);                \
        release_deleted(&next, p, size);                                                   \
        if (f)                                                                             \
            f(p, size);                                                                    \
        else                                                                               \
            free(p);                                                                       \
    }

INTERPOSE_DELETE(_ZdlPv)        /* operator delete(void *) */
INTERPOSE_DELETE(_ZdaPv)        /* operator delete[](void *) */
INTERPOSE_SIZED_DELETE(_ZdlPvm) /* operator delete(void *, size_t) */
INTERPOSE_SIZED_DELETE(_ZdaPvm) /* operator delete[](void *, size_t) */
