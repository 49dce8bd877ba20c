/* The table of reactions to memory's lifetime events (lifetime.h). */
#define _GNU_SOURCE
#include "lifetime.h"

#include <malloc.h>
#include <stdint.h>
#include <unistd.h>

#include "content.h"
#include "layout.h"
#include "mpishm_internal.h"
#include "peak.h"
#include "protect.h"
#include "region.h"
#include "release.h"

/* What content copies hear: CONTENT_MAPPED: the range is known to be mapped (an
 * allocator's live block, an array being unmarked); CONTENT_ASK: it may be gone already
 * (/proc/self/maps is asked for a copy reaching outside it). */
enum { CONTENT_NONE, CONTENT_MAPPED, CONTENT_ASK };
/* What marks hear: MARKS_RELEASE: made private, content dropped (the block is freed);
 * MARKS_KEEP: made private, content kept; MARKS_FORGET: the pages go with the call, so only
 * forgotten, and unwatched by strict mode (nothing mapped: UCX's hooks forbid it);
 * MARKS_UNMARK: the one mark at addr ends, content kept, and stays if that fails. */
enum { MARKS_NONE, MARKS_RELEASE, MARKS_KEEP, MARKS_FORGET, MARKS_UNMARK };
/* The event's length: LEN_GIVEN; LEN_USABLE: the allocator's block at addr; LEN_MARK: unknown
 * (a copy ends where it holds addr's byte, a mark where it starts at addr). */
enum { LEN_GIVEN, LEN_USABLE, LEN_MARK };

static const struct reaction {
    unsigned char content, marks, length;
} reactions[LIFE_EVENTS] = {
    [LIFE_FREE] = {CONTENT_MAPPED, MARKS_RELEASE, LEN_USABLE},
    [LIFE_REALLOC] = {CONTENT_MAPPED, MARKS_KEEP, LEN_USABLE},
    [LIFE_DELETE] = {CONTENT_MAPPED, MARKS_RELEASE, LEN_MARK},
    [LIFE_DELETE_SIZED] = {CONTENT_MAPPED, MARKS_RELEASE, LEN_GIVEN},
    [LIFE_MUNMAP] = {CONTENT_ASK, MARKS_FORGET, LEN_GIVEN},
    [LIFE_MREMAP] = {CONTENT_ASK, MARKS_KEEP, LEN_GIVEN},
    [LIFE_UCX_MUNMAP] = {CONTENT_ASK, MARKS_FORGET, LEN_GIVEN},
    [LIFE_UCX_MREMAP] = {CONTENT_ASK, MARKS_NONE, LEN_GIVEN},
    [LIFE_UNMARK] = {CONTENT_MAPPED, MARKS_UNMARK, LEN_GIVEN},
};

/* The report's high-water mark, where [p, p+len) holds a shared array that is about to go. */
static void leaving_shared(uintptr_t p, size_t len)
{
    region r[16];
    size_t n, from = 0;
    if (!peak_pending())
        return;
    do {
        n = region_overlapping(p, len, from, r, 16);
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
static void release_block(uintptr_t p, size_t len, int keep)
{
    region taken[16];
    size_t n;
    do {
        n = region_take_overlapping(p, len, taken, 16);
        for (size_t i = 0; i < n; i++) {
            const region *r = &taken[i];
            int inside = r->base >= p && r->base + r->bytes <= p + len;
            unshare_region(r, keep || !inside);
        }
    } while (n == 16);
    region_unmap_views();
}

/* The pages of [addr, addr+len) are going away: forget the marks there, and strict mode's
 * watch. Nothing is mapped or allocated, as inside UCX's memory hooks nothing may be: the
 * kernel drops the segment's pages with the mapping. (A mark reaching outside the range is
 * forgotten too; its remaining pages stay copy-on-write, correct, until they are unmapped.) */
static void forget_block(uintptr_t addr, size_t len)
{
    region taken[16];
    size_t n;
    do {
        n = region_take_overlapping(addr, len, taken, 16);
        for (size_t i = 0; i < n; i++) {
            if (!taken[i].shared)
                continue;
            layout l;
            layout_compute(&l, taken[i].base, taken[i].bytes, (size_t)sysconf(_SC_PAGESIZE));
            protect_remove(l.map_start, l.map_len);
        }
    } while (n == 16);
}

/* The one mark that starts at base ends; it stays where its pages cannot be made private. */
static int unmark(uintptr_t base)
{
    region r;
    if (!region_find(base, 0, &r) || r.base != base)
        return MPISHM_ENOTMARKED;
    int rc = unshare_region(&r, 1);
    return rc ? rc : region_remove(r.base, NULL);
}

/* Step 3 of the table, for the marks of [p, p+len). */
static int end_marks(int how, uintptr_t p, size_t len)
{
    if (how == MARKS_UNMARK)
        return unmark(p); /* (unshare_region takes the peak itself) */
    leaving_shared(p, len); /* step 2: before the arrays leave the registry */
    if (how == MARKS_FORGET)
        forget_block(p, len);
    else
        release_block(p, len, how == MARKS_KEEP);
    return 0;
}

/* An unsized delete's length for the marks: the mark that starts at p, if any. */
static size_t mark_at(uintptr_t p)
{
    region r;
    return region_find(p, 0, &r) && r.base == p ? r.bytes : 0;
}

int lifetime_react(life_event ev, void *addr, size_t len)
{
    const struct reaction *re = &reactions[ev];
    uintptr_t p = (uintptr_t)addr;
    if (!addr || (re->length == LEN_GIVEN && !len))
        return 0;
    if (re->length == LEN_USABLE)
        len = malloc_usable_size(addr);
    if (re->content != CONTENT_NONE && content_watching())
        content_end(p, re->length == LEN_MARK ? 1 : len, re->content == CONTENT_MAPPED);
    if (re->length == LEN_MARK)
        len = region_count() ? mark_at(p) : 0;
    if (re->marks == MARKS_NONE || !len || (re->marks != MARKS_UNMARK && !region_count()))
        return 0;
    return end_marks(re->marks, p, len);
}
