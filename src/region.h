/* The registry of marked arrays: disjoint intervals kept sorted, looked up by binary search.
 * All functions are thread-safe (one mutex); region_count() is a lock-free load for the
 * fast path of MPI_Bcast and free(). */
#ifndef MPISHM_REGION_H
#define MPISHM_REGION_H

#include <stddef.h>
#include <stdint.h>

/* How an array came to be in the registry. */
typedef enum { ORIGIN_MARK = 0, ORIGIN_SITES = 1, ORIGIN_AUTO = 2 } region_origin;

typedef struct region {
    uintptr_t base;
    size_t bytes;
    region_origin origin;
    uintptr_t mark_pc; /* the call site that marked it (callsite.h), 0 when unknown */
    /* set when a broadcast shared (part of) the array, cleared when it becomes private */
    int shared;
    size_t shared_bytes;
    unsigned long dev, ino;
    unsigned long broadcasts;
    /* the shared broadcast that filled it last: its buffer, bytes, and a stamp the same on
     * every rank of that broadcast (0: none, or the array changed hands since) */
    uintptr_t last_buf;
    size_t last_bytes;
    uint64_t stamp;
    uint64_t comm_id; /* its communicator's topology id (topo.h) */
    int one_group;    /* its node had one segment (every rank at one in-page offset) */
    size_t seg_offset; /* where last_buf[0] lies in that segment */
    int site; /* sites.h id of the broadcast that selected it (MPISHM_SITES, AUTO), else -1 */
    /* a read-write descriptor of that broadcast's segment, kept so that a root's new data
     * can be written into it in place (closed with the region or its sharing), -1: none */
    int fd;
    unsigned long fd_dev, fd_ino; /* what fd was when kept: closed only if it still is */
    /* a shared read-write mapping of fd, kept by a rank that wrote into it (a rewrite's
     * root, a leader): a copy into it is a memcpy, where pwrite costs 3.4 times as much (1
     * MiB, 78 against 23 us here), and mapping it anew each time more still; NULL: none */
    void *view;
    size_t view_len;
} region;

/* Descriptors kept at most, over all arrays: past them, arrays are shared afresh each time. */
#define REGION_FDS_MAX 64

/* Number of marked arrays (relaxed atomic load). */
size_t region_count(void);

/* Record [base, base+bytes). Returns 0, MPISHM_EINVAL (empty or wrapping range),
 * MPISHM_EOVERLAP or MPISHM_ENOMEM. */
int region_add(uintptr_t base, size_t bytes);

/* The same, recording how the array was selected and where (`site`: the selecting
 * broadcast's sites.h id, -1 for a mark). */
int region_add_from(uintptr_t base, size_t bytes, region_origin origin, uintptr_t mark_pc,
                    int site);

/* Remove the array that starts exactly at `base`, copying it to *out when out is not NULL.
 * Returns 0 or MPISHM_ENOTMARKED. */
int region_remove(uintptr_t base, region *out);

/* Copy the array that contains all of [addr, addr+bytes) (bytes may be 0: the array that
 * contains addr) into *out. Returns 1 when found, 0 otherwise. */
int region_find(uintptr_t addr, size_t bytes, region *out);

/* Record that the array starting at `base` now has `shared_bytes` bytes mapped from segment
 * (dev, ino); shared_bytes 0 records that it is private again (and forgets its last
 * broadcast). Returns 0 or MPISHM_ENOTMARKED. */
int region_set_shared(uintptr_t base, size_t shared_bytes, unsigned long dev, unsigned long ino);

/* The shared broadcast that just filled an array, as region_set_last records it. */
typedef struct region_fill {
    uintptr_t buf;
    size_t bytes;
    uint64_t stamp;
    uint64_t comm_id;
    int one_group;
    size_t seg_offset;
} region_fill;

/* Record the shared broadcast that just filled the array at `base` (region.last_*, stamp,
 * comm_id, one_group, seg_offset), and the descriptor `fd` of its segment (-1: none), which
 * the registry then owns and closes with the array (or at once, when REGION_FDS_MAX are kept
 * already, or the array is not marked). Returns 0 or MPISHM_ENOTMARKED. */
int region_set_last(uintptr_t base, const region_fill *fill, int fd);

/* Keep `view`, a shared mapping of `len` bytes of the descriptor `fd`, with the array at
 * `base` (unmapped with its descriptor). Returns 0, or MPISHM_ENOTMARKED where the array is
 * gone or keeps another descriptor (or a view already): the caller unmaps it then. */
int region_keep_view(uintptr_t base, int fd, void *view, size_t len);

/* Unmap the views of descriptors dropped since (never under the registry's lock: munmap is
 * hooked). The registry's functions do it before they return, but for
 * region_take_overlapping, which runs inside munmap hooks: call this after it where
 * munmap may be called. */
void region_unmap_views(void);

/* Copy into out[] up to `max` arrays that overlap [start, start+len), skipping the first
 * `skip` of them (address order). Returns how many were copied. */
size_t region_overlapping(uintptr_t start, size_t len, size_t skip, region *out, size_t max);

/* Remove up to `max` arrays that overlap [start, start+len), copying them into out[].
 * Returns how many were removed (call again while it returns max). Cheap when nothing is
 * marked in that range. */
size_t region_take_overlapping(uintptr_t start, size_t len, region *out, size_t max);

/* Copy up to `max` arrays, in address order, into out; returns how many are marked. */
size_t region_snapshot(region *out, size_t max);

/* Forget every array (tests). */
void region_clear(void);

#endif
