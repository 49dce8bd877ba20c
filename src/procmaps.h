/* Reading this process's memory map (/proc/self/maps) without allocating. */
#ifndef MPISHM_PROCMAPS_H
#define MPISHM_PROCMAPS_H

#include <stddef.h>
#include <stdint.h>

/* 1 when [start, end) is covered, without a hole, by private writable mappings that are
 * not the main thread's stack; 0 otherwise (also when the map cannot be read). */
int procmaps_private_writable(uintptr_t start, uintptr_t end);

/* 1 when [start, end) is covered, without a hole, by readable mappings. */
int procmaps_readable(uintptr_t start, uintptr_t end);

/* procmaps_private_writable, and no part of [start, end) lies in a mapping right above an inaccessible one,
 * which is how every thread stack glibc makes looks (its guard page below it), and none in
 * the calling thread's own stack (even one without a guard page): what MPISHM_AUTO and
 * MPISHM_SITES may share without a mark. */
int procmaps_not_a_stack(uintptr_t start, uintptr_t end);

/* Readable, and no part of it on a stack as procmaps_not_a_stack sees stacks (strict mode
 * maps shared pages read-only): memory whose life a stack frame's return does not end. */
int procmaps_readable_not_a_stack(uintptr_t start, uintptr_t end);

/* The process's readable memory as sorted runs [lo, hi) (adjacent mappings merged), read once
 * (malloc'd into *out, to free); 0 and NULL when the map cannot be read or no memory. */
typedef struct procmaps_range {
    uintptr_t lo, hi;
} procmaps_range;
size_t procmaps_readable_ranges(procmaps_range **out);

/* Whether [start, end) lies in one of the n runs. */
int procmaps_in_ranges(const procmaps_range *r, size_t n, uintptr_t start, uintptr_t end);

/* How many pages of [start, start+len) (page aligned) are private anonymous pages: for a
 * copy-on-write mapping of a segment, the pages written since it was mapped. -1 when
 * /proc/self/pagemap cannot be read. */
long procmaps_private_pages(uintptr_t start, size_t len);

/* The same, and in *file the pages present in memory as pages of a file or of shared
 * memory (a segment's, for a copy-on-write mapping of one; not written since). */
long procmaps_page_kinds(uintptr_t start, size_t len, long *file);

/* How many of the spans that one page-table page maps (2 MiB with 4 KiB pages: 512 entries of
 * 8 bytes), aligned, hold a present page of [start, start+len) (page aligned): with 4 KiB
 * mappings, the page-table pages the range costs this process. A span mapped whole by one
 * huge-page entry (PMD) costs none, but counts here: subtract those (smaps' ShmemPmdMapped,
 * FilePmdMapped). -1 when /proc/self/pagemap cannot be read. */
long procmaps_table_spans(uintptr_t start, size_t len);

#endif
