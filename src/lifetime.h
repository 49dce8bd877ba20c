/* Memory lifetime in one place: every way memory ends or moves (free, realloc, C++ delete,
 * munmap, mremap, UCX's munmap and mremap events, mpishm_unmark) is one event, announced
 * through lifetime_end, and one row of a table (lifetime.c) says how each registry reacts:
 *   1. content copies (report mode, content.h): the watched copies in the range end, hashed
 *      while the memory is still as the application left it;
 *   2. the high-water mark (peak.h): where the shared arrays about to go are the peak, they
 *      are taken first, while they are still in the registry;
 *   3. marks (region.h), with strict mode's protected ranges (protect.h) and the shared
 *      pages behind them: the marks in the range end, their pages made private (content
 *      kept or dropped) or only forgotten where the pages go away with the call.
 * In that order. Allocation is not an event: a new block overlaps no live mark or copy (the
 * memory it reuses ended through one of these first). Nothing here allocates, and the
 * reactions of the munmap events neither map nor unmap (they run inside UCX's hooks). */
#ifndef MPISHM_LIFETIME_H
#define MPISHM_LIFETIME_H

#include <stddef.h>

typedef enum life_event {
    LIFE_FREE,         /* free(p): the block ends (its length: malloc_usable_size) */
    LIFE_REALLOC,      /* realloc(p, n): the block moves or changes, its content kept */
    LIFE_DELETE,       /* operator delete(p) of an allocator that does not call free():
                          the length unknown, only the mark that starts at p ends */
    LIFE_DELETE_SIZED, /* operator delete(p, len) of such an allocator */
    LIFE_MUNMAP,       /* munmap(addr, len): the pages go with the call */
    LIFE_MREMAP,       /* mremap(addr, len, ...): the pages move or grow, content kept */
    LIFE_UCX_MUNMAP,   /* UCX's munmap event (its wrapper bypasses munmap above) */
    LIFE_UCX_MREMAP,   /* UCX's mremap event: too late to act on marks, copies end */
    LIFE_UNMARK,       /* mpishm_unmark of the array [addr, addr+len) */
    LIFE_EVENTS
} life_event;

/* Who watches memory now, one bit per registry (LIFETIME_MARKS, LIFETIME_COPIES), kept by
 * the registries as they fill and empty. Defined weak here, where it is used: a registry's
 * unit test links that registry alone. */
enum { LIFETIME_MARKS = 1, LIFETIME_COPIES = 2 };
__attribute__((weak)) unsigned lifetime_watchers;

static inline void lifetime_watch(unsigned who, int on)
{
    if (on)
        __atomic_fetch_or(&lifetime_watchers, who, __ATOMIC_RELAXED);
    else
        __atomic_fetch_and(&lifetime_watchers, ~who, __ATOMIC_RELAXED);
}

/* The reactions to event `ev` over [addr, addr+len), in the order above. Returns 0, or for
 * LIFE_UNMARK MPISHM_ESYSTEM when its pages could not be made private (the mark stays). */
int lifetime_react(life_event ev, void *addr, size_t len);

/* Announce event `ev`: one load when nothing is watched (free's cost). */
static inline void lifetime_end(life_event ev, void *addr, size_t len)
{
    if (__builtin_expect(__atomic_load_n(&lifetime_watchers, __ATOMIC_RELAXED) != 0, 0))
        lifetime_react(ev, addr, len);
}

#endif
