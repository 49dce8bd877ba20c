/* Per-communicator node topology, built collectively on first use and cached on the
 * communicator with an attribute: freed by the attribute's delete callback when the
 * application frees the communicator, and by topo_finalize at MPI_Finalize. */
#ifndef MPISHM_TOPO_H
#define MPISHM_TOPO_H

#include <mpi.h>

typedef struct topo {
    MPI_Comm comm;    /* the application's communicator */
    MPI_Comm node;    /* its ranks on this node (MPI_COMM_TYPE_SHARED) */
    MPI_Comm leaders; /* node rank 0 of every node; MPI_COMM_NULL on other ranks */
    int rank, size;   /* in comm */
    int node_rank, node_size;
    int node_index;   /* this node's rank in `leaders` */
    int nodes;
    int *node_of;      /* [size]: node index of each rank of comm */
    int *node_rank_of; /* [size]: its rank in its node communicator */
    struct topo *next;
} topo;

/* The cached topology of `comm`, built on first use. Collective over comm on first use only
 * (all ranks reach it together, since the caller's decision to share was agreed).
 * Returns MPI_SUCCESS or the MPI error code of the failed call. */
int topo_get(MPI_Comm comm, topo **out);

/* Free every cached topology and the keyval (before PMPI_Finalize). */
void topo_finalize(void);

#endif
