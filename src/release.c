/* free(), realloc(), munmap(), mremap() and C++'s operator delete are interposed so that a marked array's mark and
 * shared pages end with the array:
 *  - glibc may reuse a freed heap chunk, or give it back with MADV_DONTNEED, after which a
 *    private file mapping shows the segment again instead of zeros, and calloc trusts
 *    fresh top-of-heap memory to be zero;
 *  - realloc may mremap an mmapped chunk to a larger size, and the part beyond the
 *    segment's end would raise SIGBUS (so would an application's own mremap);
 *  - after an application's munmap, a stale mark would make memory mapped there later
 *    look marked, and the registry would keep growing.
 * The fast path is one relaxed load when nothing is marked. */
#define _GNU_SOURCE
#include "release.h"

#include <dlfcn.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "align.h"
#include "allocator.h"
#include "content.h"
#include "layout.h"
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

/* The report's high-water mark, where [p, p+len) holds a shared array that is about to go. */
static void leaving_shared(void *p, size_t len)
{
    region r[16];
    size_t n, from = 0;
    if (!peak_pending())
        return;
    do {
        n = region_overlapping((uintptr_t)p, len, from, r, 16);
        for (size_t i = 0; i < n; i++)
            if (r[i].shared) {
                peak_leaving();
                return;
            }
        from += n;
    } while (n == 16);
}

/* Drop every mark inside the block [p, p+len) that is being freed or moved. Content is kept
 * when the caller still needs it (realloc) or when a mark reaches outside the block. */
static void release_block(void *p, size_t len, int keep)
{
    region taken[16];
    size_t n;
    leaving_shared(p, len); /* (before the arrays leave the registry) */
    do {
        n = region_take_overlapping((uintptr_t)p, len, taken, 16);
        for (size_t i = 0; i < n; i++) {
            const region *r = &taken[i];
            int inside = r->base >= (uintptr_t)p && r->base + r->bytes <= (uintptr_t)p + len;
            unshare_region(r, keep || !inside);
        }
    } while (n == 16);
    region_unmap_views();
}

/* Nothing is marked before this library's constructor: nothing to look up either. */
static inline int started(void) { return allocator_started(); }

/* Report mode: a watched broadcast buffer's copy ends with the block (content.h); `mapped`:
 * the block is known to be mapped (an allocator's live block, not a range to unmap). */
static inline void end_content(const void *p, size_t len, int mapped)
{
    if (p && started() && content_watching())
        content_end((uintptr_t)p, len, mapped);
}

MPISHM_EXPORT void free(void *p)
{
    if (p && started() && content_watching())
        content_end((uintptr_t)p, malloc_usable_size(p), 1);
    if (p && started() && region_count())
        release_block(p, malloc_usable_size(p), 0);
    NEXT(free)(p);
}

MPISHM_EXPORT void *realloc(void *p, size_t size)
{
    if (p && started() && content_watching())
        content_end((uintptr_t)p, malloc_usable_size(p), 1);
    if (p && started() && region_count())
        release_block(p, malloc_usable_size(p), 1);
    return align_large(size) ? align_realloc(p, size) : NEXT(realloc)(p, size);
}

/* The pages of [addr, addr+len) are going away: forget the marks there, and strict mode's
 * watch. Nothing is mapped or allocated, as inside UCX's memory hooks nothing may be: the
 * kernel drops the segment's pages with the mapping. (A mark reaching outside the range is
 * forgotten too; its remaining pages stay copy-on-write, correct, until they are unmapped.) */
static void forget_block(void *addr, size_t len)
{
    region taken[16];
    size_t n;
    leaving_shared(addr, len);
    do {
        n = region_take_overlapping((uintptr_t)addr, len, taken, 16);
        for (size_t i = 0; i < n; i++) {
            if (!taken[i].shared)
                continue;
            layout l;
            layout_compute(&l, taken[i].base, taken[i].bytes, (size_t)sysconf(_SC_PAGESIZE));
            protect_remove(l.map_start, l.map_len);
        }
    } while (n == 16);
}

MPISHM_EXPORT int munmap(void *addr, size_t len)
{
    if (len)
        end_content(addr, len, 0);
    if (addr && len && started() && region_count())
        forget_block(addr, len);
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
    if (type == UCM_EVENT_MREMAP && event->mremap.address && event->mremap.old_size)
        end_content(event->mremap.address, event->mremap.old_size, 0);
}

static void on_ucm_munmap(ucm_event_type_t type, ucm_event_t *event, void *arg)
{
    (void)arg;
    if (type != UCM_EVENT_MUNMAP || !event->munmap.address || !event->munmap.size)
        return;
    end_content(event->munmap.address, event->munmap.size, 0);
    if (region_count())
        forget_block(event->munmap.address, event->munmap.size);
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
    if (old_len)
        end_content(old, old_len, 0);
    if (old && old_len && started() && region_count())
        release_block(old, old_len, 1); /* the pages move or grow: ordinary memory first */
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
    if (!f && started()) {
        f = dlsym(RTLD_NEXT, name);
        Dl_info info;
        slot->via_free = f && dladdr(f, &info) && info.dli_fname &&
                         strstr(info.dli_fname, "libstdc++");
        __atomic_store_n(&slot->fn, f ? f : NOT_FOUND, __ATOMIC_RELEASE);
    }
    return f == NOT_FOUND ? NULL : f;
}

static void release_deleted(const next_delete *slot, void *p, size_t size)
{
    region r;
    if (!slot->via_free)
        end_content(p, size ? size : 1, 1); /* unsized: the copies that hold its first byte */
    if (!p || !started() || !region_count() || slot->via_free)
        return;
    if (size)
        release_block(p, size, 0);
    else if (region_find((uintptr_t)p, 0, &r) && r.base == (uintptr_t)p)
        release_block(p, r.bytes, 0);
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
