/* The broadcast wrappers: decide, share or forward, return MPI's code unchanged. */
#include "mpishm_internal.h"

#include <mpi.h>

#include "bcast.h"
#include "content.h"
#include "fault.h"
#include "procmaps.h"
#include "sites.h"

/* 1 when the broadcast was handled here (shared, delivered by MPI_Bcast (the _c one where
 * bcast_c), or an MPI error to return in *rc). In
 * report mode, the buffer's previous copy ends first, and *watch is set to the bytes of a
 * contiguous buffer whose new copy the caller watches from call site *site (content.h).
 * *probe: the caller times its MPI_Bcast for the site (bcast.h). */
static inline int handled(void *buf, MPI_Count count, MPI_Datatype type, int root,
                          MPI_Comm comm, int bcast_c, int *rc, size_t *watch, int *site,
                          int *probe)
{
    *probe = 0;
    bcast_call call;
    int done = 0;
    *watch = 0;
    *site = -1;
    if (!bcast_candidate(buf, count, type, root, comm, &call))
        return 0;
    call.bcast_c = bcast_c;
    if (bcast_cfg.report && call.bytes) {
        int me = -1;
        PMPI_Comm_rank(comm, &me);
        if (me == root) /* the root's buffer holds what it sends now */
            content_refill((uintptr_t)buf, call.bytes);
        else /* MPI is about to write it: mapped */
            content_end((uintptr_t)buf, call.bytes, 1);
        *watch = call.bytes;
    }
    *rc = bcast_shared(&call, &done, site, probe);
    return done || *rc != MPI_SUCCESS;
}

/* A stack buffer is not watched: its copy ends when its function returns, which no hook
 * sees, and the memory is reused by later calls. */
static inline int watched(void *buf, size_t watch, int site, int rc)
{
    if (watch && site >= 0 && rc == MPI_SUCCESS &&
        procmaps_readable_not_a_stack((uintptr_t)buf, (uintptr_t)buf + watch))
        content_watch((uintptr_t)buf, watch, site);
    return rc;
}

/* The MPI_Bcast that a selected site's sharing is compared with. */
static int timed(int probe, int site, int rc, double start)
{
    if (probe && rc == MPI_SUCCESS) /* (a testing aid can make it look instantaneous) */
        sites_note_plain(site, fault_inject(FAULT_TIMING) ? 0 : PMPI_Wtime() - start);
    return rc;
}

MPISHM_EXPORT int MPI_Bcast(void *buf, int count, MPI_Datatype type, int root, MPI_Comm comm)
{
    int rc, site, probe;
    size_t watch;
    if (!handled(buf, count, type, root, comm, 0, &rc, &watch, &site, &probe)) {
        double start = probe ? PMPI_Wtime() : 0;
        rc = timed(probe, site, PMPI_Bcast(buf, count, type, root, comm), start);
    }
    return watched(buf, watch, site, rc);
}

#if MPI_VERSION >= 4
MPISHM_EXPORT int MPI_Bcast_c(void *buf, MPI_Count count, MPI_Datatype type, int root,
                              MPI_Comm comm)
{
    int rc, site, probe;
    size_t watch;
    if (!handled(buf, count, type, root, comm, 1, &rc, &watch, &site, &probe)) {
        double start = probe ? PMPI_Wtime() : 0;
        rc = timed(probe, site, PMPI_Bcast_c(buf, count, type, root, comm), start);
    }
    return watched(buf, watch, site, rc);
}
#endif
