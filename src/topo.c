#include "topo.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"
#include "log.h"

/* The keyval and the list of live topologies are shared by threads that broadcast on
 * different communicators (MPI_THREAD_MULTIPLE). */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int keyval = MPI_KEYVAL_INVALID;
static topo *all; /* every cached topology, for topo_finalize */

static void unlist(topo *t)
{
    pthread_mutex_lock(&lock);
    for (topo **p = &all; *p; p = &(*p)->next)
        if (*p == t) {
            *p = t->next;
            break;
        }
    pthread_mutex_unlock(&lock);
}

/* Free what a topology holds (and the topology itself when it is on the heap). */
static void release_members(topo *t)
{
    if (t->leaders != MPI_COMM_NULL)
        PMPI_Comm_free(&t->leaders);
    if (t->node != MPI_COMM_NULL)
        PMPI_Comm_free(&t->node);
    free(t->node_of);
    free(t->scratch);
}

static void topo_free(topo *t)
{
    unlist(t);
    release_members(t);
    free(t);
}

static int delete_topo(MPI_Comm comm, int key, void *value, void *extra)
{
    (void)comm, (void)key, (void)extra;
    topo_free(value);
    return MPI_SUCCESS;
}

static long long random_id(void)
{
    long long v = 0;
    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
        v = (long long)getpid() << 20 ^ (long long)time(NULL);
    return (v & 0x7fffffffffffffffLL) | 1;
}

/* Every allocation of a topology, made before its collectives: an allocation that failed
 * on one rank alone must not make that rank skip a collective the others enter. */
static int allocate(topo *t, size_t scratch_per_rank, int failed_already)
{
    size_t n = (size_t)t->size;
    t->node_of = calloc(n, sizeof(int));
    t->scratch = malloc(scratch_per_rank * n);
    /* with a random number, the smallest of which names the communicator everywhere */
    long long mine[2] = {!failed_already && t->node_of && t->scratch, random_id()}, all[2];
    int rc = PMPI_Allreduce(mine, all, 2, MPI_LONG_LONG, MPI_MIN, t->comm);
    int all_ok = rc == MPI_SUCCESS && all[0];
    t->id = rc == MPI_SUCCESS ? (uint64_t)all[1] : 0;
    if (rc == MPI_SUCCESS && fault_inject(FAULT_BUILD)) /* as if that call had failed */
        rc = PMPI_Comm_call_errhandler(t->comm, MPI_ERR_OTHER) == MPI_SUCCESS ? MPI_ERR_OTHER : rc;
    return rc != MPI_SUCCESS ? rc : all_ok ? MPI_SUCCESS : MPI_ERR_NO_MEM;
}

/* Collective: split comm into nodes and leaders, and tell every rank where every rank is. */
static int topo_build(topo *t, size_t scratch_per_rank, int failed_already)
{
    int rc = PMPI_Comm_split_type(t->comm, MPI_COMM_TYPE_SHARED, t->rank, MPI_INFO_NULL, &t->node);
    if (rc == MPI_SUCCESS)
        rc = PMPI_Comm_rank(t->node, &t->node_rank);
    if (rc == MPI_SUCCESS)
        rc = PMPI_Comm_size(t->node, &t->node_size);
    if (rc == MPI_SUCCESS)
        rc = allocate(t, scratch_per_rank, failed_already);
    if (rc == MPI_SUCCESS && t->node_size == t->size) {
        /* One node (seen alike by every rank): no leaders to connect, every rank on node 0.
         * Communicators are expensive to make (MPICH, 8 ranks on 2 cores: 0.2 s each). */
        t->nodes = 1;
        return MPI_SUCCESS;
    }
    if (rc == MPI_SUCCESS)
        rc = PMPI_Comm_split(t->comm, t->node_rank == 0 ? 0 : MPI_UNDEFINED, t->rank, &t->leaders);
    if (rc == MPI_SUCCESS && t->leaders != MPI_COMM_NULL) {
        rc = PMPI_Comm_rank(t->leaders, &t->node_index);
        if (rc == MPI_SUCCESS)
            rc = PMPI_Comm_size(t->leaders, &t->nodes);
    }
    int mine[2] = {t->node_index, t->nodes};
    if (rc == MPI_SUCCESS)
        rc = PMPI_Bcast(mine, 2, MPI_INT, 0, t->node);
    t->node_index = mine[0], t->nodes = mine[1];
    if (rc == MPI_SUCCESS)
        rc = PMPI_Allgather(&t->node_index, 1, MPI_INT, t->node_of, 1, MPI_INT, t->comm);
    return rc;
}

static int ensure_keyval(void)
{
    int rc = MPI_SUCCESS;
    pthread_mutex_lock(&lock);
    if (keyval == MPI_KEYVAL_INVALID)
        rc = PMPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, delete_topo, &keyval, NULL);
    pthread_mutex_unlock(&lock);
    return rc;
}

int topo_get(MPI_Comm comm, size_t scratch_per_rank, topo **out)
{
    int found = 0;
    *out = NULL;
    int rc = ensure_keyval();
    if (rc == MPI_SUCCESS)
        rc = PMPI_Comm_get_attr(comm, keyval, out, &found);
    if (rc != MPI_SUCCESS || found)
        return rc;
    /* Without memory for the topology this rank still takes part in building it, on the
     * stack, so that the others are not left waiting: the build then fails everywhere. */
    topo local, *t = fault_inject(FAULT_TOPOLOGY) ? NULL : calloc(1, sizeof *t);
    int on_heap = t != NULL;
    if (!on_heap)
        t = memset(&local, 0, sizeof local);
    t->comm = comm;
    t->node = t->leaders = MPI_COMM_NULL;
    PMPI_Comm_rank(comm, &t->rank);
    PMPI_Comm_size(comm, &t->size);
    rc = topo_build(t, scratch_per_rank, !on_heap);
    if (rc == MPI_SUCCESS)
        rc = PMPI_Comm_set_attr(comm, keyval, t);
    if (rc != MPI_SUCCESS) {
        release_members(t);
        if (on_heap) /* the stack one is this frame's */
            free(t);
        if (rc != MPI_ERR_NO_MEM)
            return rc;
        /* agreed by every rank: share nothing on this comm now */
        log_msg(1, "out of memory for the topology of a communicator: not shared");
        return MPI_SUCCESS;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    t->crowded = cpus > 0 && t->node_size > cpus;
    pthread_mutex_lock(&lock);
    t->next = all, all = t;
    pthread_mutex_unlock(&lock);
    log_msg(2, "communicator of %d ranks: %d node(s), %d rank(s) on this node", t->size,
            t->nodes, t->node_size);
    *out = t;
    return MPI_SUCCESS;
}

const topo *topo_cached(MPI_Comm comm)
{
    topo *t = NULL;
    int found = 0;
    if (__atomic_load_n(&keyval, __ATOMIC_ACQUIRE) == MPI_KEYVAL_INVALID ||
        PMPI_Comm_get_attr(comm, keyval, &t, &found) != MPI_SUCCESS || !found)
        return NULL;
    return t;
}

void topo_finalize(void)
{
    for (;;) {
        pthread_mutex_lock(&lock);
        topo *t = all;
        pthread_mutex_unlock(&lock);
        if (!t)
            break;
        /* the delete callback frees t; the lock is not held, as the callback takes it */
        if (PMPI_Comm_delete_attr(t->comm, keyval) != MPI_SUCCESS)
            topo_free(t);
    }
    if (keyval != MPI_KEYVAL_INVALID)
        PMPI_Comm_free_keyval(&keyval);
}
