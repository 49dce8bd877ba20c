/* The call sites of large broadcasts on this rank: what each did, for the report, and
 * whether MPISHM_SITES selects it. A stack is named once, the first time it is seen (to
 * match MPISHM_SITES); later broadcasts from it cost a capture and a hash lookup. */
#ifndef MPISHM_SITES_H
#define MPISHM_SITES_H

#include <stddef.h>
#include <stdint.h>

#include "callsite.h"

/* Why a large broadcast was not shared (the report's keys, in this order). */
typedef enum {
    WHY_NOT_MARKED,     /* not marked (or selected) on every rank */
    WHY_NOT_SELECTABLE, /* not marked here, and on a stack or not private memory */
    WHY_WRITTEN,        /* selected without a mark, then written: no longer selected */
    WHY_NOT_CONTIGUOUS, /* a rank passed a non-contiguous datatype */
    WHY_ONE_PER_NODE,   /* one rank of the communicator per node: nothing to save */
    WHY_NO_SAVING,      /* a node would hold more copies than MPI_Bcast leaves (offset groups) */
    WHY_NO_HEADROOM,    /* a node's memory limit has no room for its node copy */
    WHY_TIMING,         /* a selected site's re-sharing is timed against MPI_Bcast, once */
    WHY_SLOW,           /* a selected site's re-sharing was slower than MPI_Bcast: left to MPI */
    WHY_FAILED,         /* a step failed on some rank: every rank fell back */
    WHY_OTHER,          /* intercommunicator, one rank, invalid root, MPI error */
    WHY_COUNT
} why_not;

extern const char *const why_not_key[WHY_COUNT];

/* A site is the call and its first callers: broadcasts made through one helper function
 * from several loaders are told apart by their callers. */
#define SITE_FRAMES 4

/* Call sites remembered (site ids are below this). */
#define SITES_MAX 256

/* Roots' sites remembered per site. */
#define SITE_ROOT_KEYS 4

/* Distinct buffers remembered per site for the saving estimate. */
#define SITE_BUFFERS 64

/* One call site: the stack of its first broadcast, and what its broadcasts did. */
typedef struct site_record {
    callstack stack;                 /* its first SITE_FRAMES frames identify the site */
    unsigned long calls, shared;
    unsigned long not_shared[WHY_COUNT];
    unsigned long by_origin[3];      /* eligible through region_origin: mark, sites, auto */
    size_t max_bytes;
    size_t candidate_bytes;          /* distinct buffers not shared for want of a mark */
    size_t shared_bytes;             /* distinct buffers shared */
    int written;                     /* a buffer selected here was written after being shared */
    int slow;                        /* sharing here was slower than MPI_Bcast: left to MPI */
    double share_seconds;            /* the fastest shared broadcast that moved data here */
    size_t timed_bytes;              /* of this size (another size starts the timing anew) */
    unsigned long shares_timed;      /* how many were timed */
    double plain_seconds;            /* the fastest MPI_Bcast timed in their place, 0: none yet */
    int probes;                      /* MPI_Bcasts timed so far (the second of each pair) */
    int probe_warming;               /* the first of a pair ran: its pages were faulted in */
    unsigned long shares_since;      /* shared broadcasts since the last of them */
    int nbuffers;
    struct {
        uintptr_t addr;
        size_t bytes;
        size_t resident; /* the most of it resident and this rank's own before a broadcast */
        unsigned char candidate, shared;
    } buffers[SITE_BUFFERS];
    size_t resident_before;          /* those summed over the distinct buffers (receiving) */
    /* The site's key: a hash of its frames by name (function and object, or the offset in
     * the object where the function is unknown), up to main: the same on every rank for the
     * same site, whatever the addresses (sites_key). */
    uint64_t key;
    /* the keys of the roots' sites of its broadcasts (the same collective calls made from
     * another site on the root: a root-only send function and a receive-only one) */
    uint64_t root_keys[SITE_ROOT_KEYS];
    int nroot_keys;
} site_record;

/* Parse the MPISHM_SITES list (comma-separated function names; blanks around names are
 * ignored). Returns the number of names. */
int sites_configure(const char *list);

/* The site of stack `s` (a new one on first sight): its id, or -1 when the tables are full
 * or the stack is empty. *selected is 1 when a frame of `s` is a function MPISHM_SITES names. */
int sites_lookup(const callstack *s, int *selected);

/* Record one large broadcast from site `id` into [buf, buf+bytes): shared, or not for
 * `why`; origin is how the buffer was eligible (region_origin) or -1; `resident`: the
 * bytes of its whole pages that were this receiving rank's own and resident before the
 * broadcast (set before it, on every rank: 0 on the root), counted at the buffer's first
 * broadcast from the site (later ones find what MPI or the mapping put there). */
void sites_record(int id, int shared, why_not why, int origin, uintptr_t buf, size_t bytes,
                  size_t resident);

/* A buffer MPISHM_SITES or MPISHM_AUTO selected at site `id` was written after it was
 * shared: from now on the site's buffers are left to MPI (copy-on-write kept the data right,
 * but every written page cost a fault and a copy). */
void sites_mark_written(int id);

/* Whether site `id` saw a broadcast into [buf, buf+bytes) already (1 for -1, and past
 * SITE_BUFFERS buffers). */
int sites_knows_buffer(int id, uintptr_t buf, size_t bytes);

/* Whether sites_mark_written was called for `id` (0 for -1). */
int sites_is_written(int id);

/* Time (MPISHM_RESHARE=auto): a shared broadcast of `bytes` from site `id` that moved data
 * (a new node copy, or the root's new data into the old one; not one whose data was in
 * place) took `seconds` on this rank. A site whose size changes (a buffer that grows) is
 * timed anew: one size's timings say nothing of another's. */
void sites_note_share(int id, double seconds, size_t bytes);

/* What the times of site `id` say: TIME_OK (share), TIME_PROBE (time one MPI_Bcast in the
 * place of a shared one: call sites_note_plain with it; asked again until a time comes),
 * TIME_SLOW (sharing was slower by more than 5 per cent). Only a site that moved data twice
 * is timed, by two MPI_Bcasts in a row: the first faults the buffer's pages in (they were
 * the segment's), the second is what MPI_Bcast costs the program. One timing can be noise:
 * while sharing looks faster, MPI_Bcast is timed again after 4, then 8 more shared
 * broadcasts, and the fastest of each side is compared. */
typedef enum { TIME_OK, TIME_PROBE, TIME_SLOW } time_verdict;
time_verdict sites_time_verdict(int id);

/* The MPI_Bcast timed for site `id` took `seconds` on this rank. */
void sites_note_plain(int id, double seconds);

/* Site `id`'s key (see site_record.key; 0 for -1). */
uint64_t sites_key(int id);

/* The broadcast just made from site `id` had its root at the site whose key is `root_key`
 * (0: unknown). */
void sites_note_root(int id, uint64_t root_key);

/* Copy site `id`'s record into *out (zeros for -1). */
void sites_copy(int id, site_record *out);

/* From now on the buffers of site `id` are left to MPI: re-sharing them is slower. */
void sites_mark_slow(int id);

/* Whether sites_mark_slow was called for `id` (0 for -1). */
int sites_is_slow(int id);

/* Fold record `from` into `into` (two sites that prove to be one once named): counts add
 * up, a buffer both saw counts once. */
void sites_merge(site_record *into, const site_record *from);

/* Copy up to `max` site records into out; returns how many sites exist. */
size_t sites_snapshot(site_record *out, size_t max);

/* Forget every site and name (tests). */
void sites_reset(void);

#endif
