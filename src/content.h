/* Report mode: was each large broadcast's buffer read-only afterwards? Each rank hashes its
 * copy right after the broadcast and again when that copy's life ends (the next broadcast
 * into it, free/realloc/munmap/delete, mpishm_unmark, MPI_Finalize); an unchanged hash
 * every time, on every rank, is what the report calls "read-only in this run". Soft-dirty
 * page bits would say the same without reading, but this kernel has none.
 * Nothing here allocates or takes a lock other than its own: the allocator hooks call it. */
#ifndef MPISHM_CONTENT_H
#define MPISHM_CONTENT_H

#include <stddef.h>
#include <stdint.h>

/* Copies watched at once; more are counted as unchecked. */
#define CONTENT_MAX 4096

/* A hash of n bytes that runs at about memory bandwidth (8 independent multiply-mix lanes). */
uint64_t content_hash(const void *p, size_t n);

/* Start watching [buf, buf+bytes), just filled by a broadcast from call site `site` (sites.h
 * id; -1: not captured, not watched). */
void content_watch(uintptr_t buf, size_t bytes, int site);

/* The copies overlapping [start, start+len) end now: each is hashed again and counted as
 * unchanged or written at its site. `mapped`: the caller knows the range to be mapped
 * readable (a block being freed, a buffer about to be written); otherwise, and for a copy
 * reaching outside the range, /proc/self/maps is asked first, and a copy no longer readable
 * counts as unchecked. */
void content_end(uintptr_t start, size_t len, int mapped);

/* The root of a broadcast from [start, start+len) is about to send it: its copies inside
 * that range end without a verdict against them (what the root wrote there is the data it
 * sends, not a write into data it was sent), counted as unchanged; copies reaching outside
 * the range end as content_end's do. */
void content_refill(uintptr_t start, size_t len);

/* Every copy still watched ends (MPI_Finalize); those no longer mapped readable are counted
 * as unchecked. */
void content_end_all(void);

/* Whether anything is watched (one relaxed load: the allocator hooks' fast path). */
int content_watching(void);

/* A site's counts: copies found unchanged, found written, and not checked (the table was
 * full, or the memory had gone). */
typedef struct content_counts {
    unsigned long unchanged, written, unchecked;
} content_counts;

void content_site_counts(int site, content_counts *out);

/* Forget everything (tests). */
void content_reset(void);

#endif
