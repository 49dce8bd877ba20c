/* The shared broadcast (DESIGN steps 2-7): agreement, layout, segments, seeding, mapping. */
#ifndef MPISHM_BCAST_H
#define MPISHM_BCAST_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

/* Runtime settings, set once at MPI_Init (lifecycle.c) and read on every broadcast. */
typedef struct bcast_config {
    int active;       /* MPI initialized, library enabled, not yet finalized */
    size_t threshold; /* smallest eligible broadcast in bytes (at least two pages) */
    size_t page;
    size_t huge;      /* huge-page size node copies are laid out for, 0: pages only */
    int huge_unasked; /* the system gives tmpfs huge pages unasked (fallocate makes them) */
    int prefault;
    int shm_kind;     /* 0 auto, 1 memfd only, 2 POSIX only */
    int report;       /* MPISHM_REPORT set: count every call, keep call sites */
    int auto_select;  /* MPISHM_AUTO: every eligible buffer counts as marked */
    int by_sites;     /* MPISHM_SITES names functions */
    size_t headroom;  /* memory kept free under the tightest limit after a node copy */
    int reshare_always; /* MPISHM_RESHARE=always: selected sites are never timed */
} bcast_config;

extern bcast_config bcast_cfg;

/* One intercepted broadcast, as bcast_candidate describes it. */
typedef struct bcast_call {
    void *buf;
    size_t bytes;      /* what is shared: the data's size, 0 for a non-contiguous type */
    size_t size;       /* the data's size, whatever its type */
    uintptr_t lo, hi;  /* what MPI may write, [lo, hi); below buf for a negative lower bound */
    int root;
    MPI_Comm comm;
    MPI_Count count;   /* the application's arguments, for MPI_Bcast called here */
    MPI_Datatype type;
    int bcast_c;       /* called through MPI_Bcast_c (set by the caller) */
} bcast_call;

/* Whether a broadcast of `count` elements of `type` over `comm` goes to the collective
 * check: the library is active, the size reaches the threshold, the communicator is an
 * intracommunicator of several ranks and the root one of them. Every test gives the same
 * answer on every rank of a correct program (same byte count everywhere, options agreed at
 * MPI_Init), so ranks never part here. Local, no communication. Fills *call; its bytes are
 * 0 when this rank cannot share (a non-contiguous type): bcast_shared then makes every rank
 * fall back. */
int bcast_candidate(void *buf, MPI_Count count, MPI_Datatype type, int root, MPI_Comm comm,
                    bcast_call *call);

/* Collective over comm: deliver the root's bytes at call->buf into every rank's buffer
 * through one node-shared segment per node. Sets *done to 1 when the data was delivered:
 * shared, or by MPI_Bcast called here (a rank that knew alone that nothing could be shared
 * calls it without waiting for the other ranks' votes, and then every rank whose vote
 * raises an error does too); *done 0 means every rank agreed to fall back and the caller
 * must call PMPI_Bcast (a receiving rank's whole pages may have been given back to the
 * system: MPI fills them again); *probe 1 that the caller must time that PMPI_Bcast and
 * give the time to sites_note_plain(*site).
 * *site: the call's site (sites.h), -1 when its stack was not captured.
 * Returns MPI_SUCCESS or the MPI error code of a failed internal call. */
int bcast_shared(const bcast_call *call, int *done, int *site, int *probe);

#endif
