/* Collective waits that leave the cores to the ranks doing the work. */
#ifndef MPISHM_WAIT_H
#define MPISHM_WAIT_H

#include <mpi.h>

/* Complete a request, sleeping between tests once it has taken more than a few
 * microseconds: MPI's blocking calls spin, and while one rank copies a large array the
 * spinning of the ranks that wait for it takes the cores it needs (whenever ranks
 * outnumber cores, and on hyperthreads). After 100 us of spinning, the sleep grows with
 * the time already waited (an eighth of it, at most 250 us). A sleeping rank makes no MPI
 * progress and the kernel's timer slack (50 us by default) lengthens each sleep, so a
 * collective can finish up to a few hundred microseconds per round late: use it for waits
 * that are long anyway (a rank copying megabytes), not for every small collective.
 * Ranks that sleep also leave the CPU to the ranks they wait for, which makes even small
 * collectives faster when ranks outnumber cores.
 * Returns MPI's code. */
int wait_request(MPI_Request *req);

/* Whether this thread's waits only spin, from now on: where the node has no more ranks than
 * CPUs, a sleeping rank takes nobody's core and only wakes late (a 1 MiB table refilled on
 * 2 ranks: 0.32 ms a broadcast sleeping, 0.15 ms spinning). */
void wait_spin_only(int spin);

/* MPI_Barrier, MPI_Allreduce (in place) and MPI_Allgather (of `bytes` bytes per rank)
 * through wait_request. */
int wait_barrier(MPI_Comm comm);
int wait_allreduce(void *inout, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm);
int wait_allgather(const void *mine, void *all, int bytes, MPI_Comm comm);

/* wait_allreduce for a rank that needs no result before its next step: the reduction is
 * posted, meanwhile(arg) runs (collectives of its own included: MPI matches them after this
 * one, and makes progress on it inside them), then the reduction is completed. Ranks that
 * wait_allreduce at the same point match it (both post MPI_Iallreduce: a blocking
 * MPI_Allreduce would not). meanwhile does not run when the post fails. Returns MPI's code. */
int wait_allreduce_while(void *inout, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm,
                         void (*meanwhile)(void *), void *arg);

#endif
