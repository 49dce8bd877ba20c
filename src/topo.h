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
    /* The ranks that share one copy, called a node here: this node's ranks
     * (MPI_COMM_TYPE_SHARED), or under MPISHM_SCOPE=numa those of its NUMA domain. */
    MPI_Comm node;
    MPI_Comm leaders; /* node rank 0 of every node; MPI_COMM_NULL on other ranks */
    int rank, size;   /* in comm */
    int node_rank, node_size;
    int node_index;   /* this node's rank in `leaders` */
    int nodes;
    int numa;          /* agreed: the nodes above are NUMA domains (MPISHM_SCOPE=numa) */
    int host_index, hosts; /* the nodes MPI sees (MPI_COMM_TYPE_SHARED, cliques included):
                            * the same as node_index and nodes unless `numa` */
    int host_size;     /* this rank's host's ranks of comm */
    int domains_here;  /* copies on this rank's host: 1, or its NUMA domains of comm */
    uint64_t id;       /* the same on every rank of comm, random: tells communicators apart */
    uint64_t shares;   /* shared broadcasts on comm so far (the same on every rank) */
    int crowded;       /* this host has more of comm's ranks than online CPUs */
    int *node_of;      /* [size]: node index of each rank of comm */
    int *host_of;      /* [size]: host index of each rank (node_of itself unless `numa`) */
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

/* What a node of t is, for messages: "node" or "NUMA domain". */
const char *topo_unit(const topo *t);

/* Free every cached topology and the keyval (before PMPI_Finalize). */
void topo_finalize(void);

#endif
