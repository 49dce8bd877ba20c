/* Polite waiting: nonblocking collectives tested with growing sleeps. */
#define _GNU_SOURCE
#include "wait.h"

#include <time.h>

#define SPIN_SECONDS 100e-6
#define MAX_SLEEP_NS 250000L

static __thread int spin_only;

void wait_spin_only(int spin) { spin_only = spin; }

int wait_request(MPI_Request *req)
{
    double start = PMPI_Wtime();
    for (;;) {
        int done = 0;
        int rc = PMPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS || done)
            return rc;
        double waited = PMPI_Wtime() - start;
        if (spin_only || waited < SPIN_SECONDS)
            continue;
        long ns = (long)(waited * 1e9 / 8);
        struct timespec pause = {0, ns < MAX_SLEEP_NS ? ns : MAX_SLEEP_NS};
        nanosleep(&pause, NULL);
    }
}

int wait_barrier(MPI_Comm comm)
{
    MPI_Request req;
    int rc = PMPI_Ibarrier(comm, &req);
    return rc == MPI_SUCCESS ? wait_request(&req) : rc;
}

int wait_allreduce(void *inout, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm)
{
    MPI_Request req;
    int rc = PMPI_Iallreduce(MPI_IN_PLACE, inout, count, type, op, comm, &req);
    return rc == MPI_SUCCESS ? wait_request(&req) : rc;
}

int wait_allreduce_while(void *inout, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm,
                         void (*meanwhile)(void *), void *arg)
{
    MPI_Request req;
    int rc = PMPI_Iallreduce(MPI_IN_PLACE, inout, count, type, op, comm, &req);
    if (rc != MPI_SUCCESS)
        return rc;
    meanwhile(arg);
    return wait_request(&req);
}

int wait_allgather(const void *mine, void *all, int bytes, MPI_Comm comm)
{
    MPI_Request req;
    int rc = PMPI_Iallgather(mine, bytes, MPI_BYTE, all, bytes, MPI_BYTE, comm, &req);
    return rc == MPI_SUCCESS ? wait_request(&req) : rc;
}
