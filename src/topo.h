/* Per-communicator node topology, built collectively on first use and cached on the
 * communicator with an attribute: freed by the attribute's delete callback when the
 * application frees the communicator, and by topo_finalize at MPI_Finalize. */
#ifndef MPISHM_TOPO_H
#define MPISHM_TOPO_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

typedef struct topo {
    MPI_Comm comm;    /* the application's communicator */
    MPI_Comm node;    /* its ranks on this node (MPI_COMM_TYPE_SHARED) */
    MPI_Comm leaders; /* node rank 0 of every node; MPI_COMM_NULL on other ranks */
    int rank, size;   /* in comm */
    int node_rank, node_size;
    int node_index;   /* this node's rank in `leaders` */
    int nodes;
    uint64_t id;       /* the same on every rank of comm, random: tells communicators apart */
    uint64_t shares;   /* shared broadcasts on comm so far (the same on every rank) */
    int crowded;       /* this node has more of comm's ranks than online CPUs */
    int *node_of;      /* [size]: node index of each rank of comm */
    void *scratch;     /* size * scratch_per_rank bytes for the caller's exchanges */
    struct topo *next;
} topo;

/* The cached topology of `comm`, built on first use with `scratch_per_rank` bytes of scratch
 * space per rank (the first call's value counts). Collective over comm on first use only
 * (all ranks reach it together, since the caller's decision to share was agreed). When memory
 * ran out on any rank, every rank gets MPI_SUCCESS with *out NULL: fall back, together.
 * Otherwise returns MPI_SUCCESS or the MPI error code of a failed call. */
int topo_get(MPI_Comm comm, size_t scratch_per_rank, topo **out);

/* The topology cached on `comm`, or NULL when none is yet (local, no communication). */
const topo *topo_cached(MPI_Comm comm);

/* Free every cached topology and the keyval (before PMPI_Finalize). */
void topo_finalize(void);

#endif
