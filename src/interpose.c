/* The broadcast wrappers: decide, share or forward, return MPI's code unchanged. */
#include "mpishm_internal.h"

#include <mpi.h>

#include "bcast.h"
#include "content.h"

/* 1 when the broadcast was handled here (shared, or an MPI error to return in *rc). In
 * report mode, the buffer's previous copy ends first, and *watch is set to the bytes of a
 * contiguous buffer whose new copy the caller watches from call site *site (content.h). */
static inline int handled(void *buf, MPI_Count count, MPI_Datatype type, int root,
                          MPI_Comm comm, int *rc, size_t *watch, int *site)
{
    size_t bytes, first, span;
    int done = 0;
    *watch = 0;
    *site = -1;
    if (!bcast_candidate(buf, count, type, root, comm, &bytes, &first, &span))
        return 0;
    if (bcast_cfg.report && bytes) {
        content_end((uintptr_t)buf, bytes);
        *watch = bytes;
    }
    *rc = bcast_shared(buf, bytes, first, span, root, comm, &done, site);
    return done || *rc != MPI_SUCCESS;
}

static inline int watched(void *buf, size_t watch, int site, int rc)
{
    if (watch && site >= 0 && rc == MPI_SUCCESS)
        content_watch((uintptr_t)buf, watch, site);
    return rc;
}

MPISHM_EXPORT int MPI_Bcast(void *buf, int count, MPI_Datatype type, int root, MPI_Comm comm)
{
    int rc, site;
    size_t watch;
    if (!handled(buf, count, type, root, comm, &rc, &watch, &site))
        rc = PMPI_Bcast(buf, count, type, root, comm);
    return watched(buf, watch, site, rc);
}

#if MPI_VERSION >= 4
MPISHM_EXPORT int MPI_Bcast_c(void *buf, MPI_Count count, MPI_Datatype type, int root,
                              MPI_Comm comm)
{
    int rc, site;
    size_t watch;
    if (!handled(buf, count, type, root, comm, &rc, &watch, &site))
        rc = PMPI_Bcast_c(buf, count, type, root, comm);
    return watched(buf, watch, site, rc);
}
#endif
