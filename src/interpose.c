/* The broadcast wrappers: decide, share or forward, return MPI's code unchanged. */
#include "mpishm_internal.h"

#include <mpi.h>

#include "bcast.h"

/* 1 when the broadcast was handled here (shared, or an MPI error to return in *rc). */
static inline int handled(void *buf, MPI_Count count, MPI_Datatype type, int root,
                          MPI_Comm comm, int *rc)
{
    size_t bytes, span;
    int done = 0;
    if (!bcast_candidate(buf, count, type, root, comm, &bytes, &span))
        return 0;
    *rc = bcast_shared(buf, bytes, span, root, comm, &done);
    return done || *rc != MPI_SUCCESS;
}

MPISHM_EXPORT int MPI_Bcast(void *buf, int count, MPI_Datatype type, int root, MPI_Comm comm)
{
    int rc;
    if (handled(buf, count, type, root, comm, &rc))
        return rc;
    return PMPI_Bcast(buf, count, type, root, comm);
}

#if MPI_VERSION >= 4
MPISHM_EXPORT int MPI_Bcast_c(void *buf, MPI_Count count, MPI_Datatype type, int root,
                              MPI_Comm comm)
{
    int rc;
    if (handled(buf, count, type, root, comm, &rc))
        return rc;
    return PMPI_Bcast_c(buf, count, type, root, comm);
}
#endif
