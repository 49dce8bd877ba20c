/* The shared broadcast (DESIGN steps 2-7): agreement, layout, segments, seeding, mapping. */
#ifndef MPISHM_BCAST_H
#define MPISHM_BCAST_H

#include <mpi.h>
#include <stddef.h>

/* Runtime settings, set once at MPI_Init (lifecycle.c) and read on every broadcast. */
typedef struct bcast_config {
    int active;       /* MPI initialized, library enabled, not yet finalized */
    size_t threshold; /* smallest eligible broadcast in bytes (at least two pages) */
    size_t page;
    int prefault;
    int shm_kind;     /* 0 auto, 1 memfd only, 2 POSIX only */
    int report;       /* MPISHM_REPORT set: count every call, keep call sites */
    int auto_select;  /* MPISHM_AUTO: every eligible buffer counts as marked */
    int by_sites;     /* MPISHM_SITES names functions */
} bcast_config;

extern bcast_config bcast_cfg;

/* Whether a broadcast of `count` elements of `type` over `comm` goes to the collective
 * check: the library is active, the size reaches the threshold, the communicator is an
 * intracommunicator of several ranks and the root one of them. Every test gives the same answer on every rank of a
 * correct program (same byte count everywhere, options agreed at MPI_Init), so ranks never
 * part here. Local, no communication. Sets *bytes, or 0 when this rank cannot share (a
 * non-contiguous type): bcast_shared then makes every rank fall back. MPI may write the bytes
 * from buf + *first to buf + *span (*first 0 and *span SIZE_MAX when the type reaches below
 * buf). */
int bcast_candidate(const void *buf, MPI_Count count, MPI_Datatype type, int root,
                    MPI_Comm comm, size_t *bytes, size_t *first, size_t *span);

/* Collective over comm: deliver the root's `bytes` bytes at buf into every rank's buf
 * through one node-shared segment per node. Sets *done to 1 when it did; *done 0 means
 * every rank agreed to fall back and the caller must call PMPI_Bcast (no rank was changed).
 * *site: the call's site (sites.h), -1 when its stack was not captured.
 * Returns MPI_SUCCESS or the MPI error code of a failed internal call. */
int bcast_shared(void *buf, size_t bytes, size_t first, size_t span, int root, MPI_Comm comm,
                 int *done, int *site);

#endif
