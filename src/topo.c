#define _GNU_SOURCE
#include "topo.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"
#include "log.h"
#include "numa.h"

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

/* What the ranks agree when a topology is built, each field reduced with MPI_MIN. */
typedef struct build_vote {
    long long ok;        /* every rank has the memory for its topology */
    long long id;        /* a random number, the smallest of which names the communicator */
    long long bound;     /* MPISHM_SCOPE=numa: every rank is bound to one NUMA node */
    long long neg_multi; /* some rank's machine has several NUMA domains (negated) */
    long long unbound;   /* the lowest rank bound to none (LLONG_MAX: none) */
} build_vote;

/* Said once per process, by rank 0 of the communicator: why numa scope is not in effect. */
static void say_scope(const topo *t, const build_vote *all, const numa_place *mine)
{
    static int said;
    if (t->rank != 0 || __atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
        return;
    if (!all->bound)
        log_msg(1, "MPISHM_SCOPE=numa: rank %lld of a communicator of %d ranks is not bound to "
                "one NUMA node (its CPUs span several): one copy per node on it (bind the "
                "ranks, e.g. mpiexec -bind-to numa or core)", all->unbound, t->size);
    else
        log_msg(2, "MPISHM_SCOPE=numa: every node has one NUMA domain (here %d): one copy "
                "per node", mine->domains);
}

/* Every allocation of a topology, made before its collectives: an allocation that failed
 * on one rank alone must not make that rank skip a collective the others enter. The same
 * reduction decides the scope: NUMA domains where MPISHM_SCOPE=numa asks, every rank is
 * bound to one NUMA node and some machine has several; else nodes, for every rank. */
static int allocate(topo *t, size_t scratch_per_rank, int failed_already, const numa_place *p)
{
    size_t n = (size_t)t->size;
    t->node_of = calloc(2 * n, sizeof(int)); /* and host_of's room */
    t->scratch = malloc(scratch_per_rank * n);
    int bound = !numa_scope() || p->domain >= 0;
    build_vote mine = {!failed_already && t->node_of && t->scratch, random_id(), bound,
                       -(long long)(p->domains > 1), bound ? LLONG_MAX : t->rank},
               all;
    int rc = PMPI_Allreduce(&mine, &all, 5, MPI_LONG_LONG, MPI_MIN, t->comm);
    int all_ok = rc == MPI_SUCCESS && all.ok;
    t->id = rc == MPI_SUCCESS ? (uint64_t)all.id : 0;
    t->numa = rc == MPI_SUCCESS && numa_scope() && all.bound && all.neg_multi;
    if (rc == MPI_SUCCESS && numa_scope() && !t->numa)
        say_scope(t, &all, p);
    if (rc == MPI_SUCCESS && fault_inject(FAULT_BUILD)) /* as if that call had failed */
        rc = PMPI_Comm_call_errhandler(t->comm, MPI_ERR_OTHER) == MPI_SUCCESS ? MPI_ERR_OTHER : rc;
    return rc != MPI_SUCCESS ? rc : all_ok ? MPI_SUCCESS : MPI_ERR_NO_MEM;
}

/* This rank's host (MPI_COMM_TYPE_SHARED): its size, and under MPISHM_SCOPE=numa the rank
 * in comm of its first rank (local: groups, no communication). */
static int host_facts(topo *t, MPI_Comm host, int *first)
{
    int rc = PMPI_Comm_size(host, &t->host_size);
    *first = t->rank;
    if (rc != MPI_SUCCESS || !numa_scope())
        return rc;
    MPI_Group hg = MPI_GROUP_NULL, cg = MPI_GROUP_NULL;
    int zero = 0;
    rc = PMPI_Comm_group(host, &hg);
    if (rc == MPI_SUCCESS)
        rc = PMPI_Comm_group(t->comm, &cg);
    if (rc == MPI_SUCCESS)
        rc = PMPI_Group_translate_ranks(hg, 1, &zero, cg, first);
    if (hg != MPI_GROUP_NULL)
        PMPI_Group_free(&hg);
    if (cg != MPI_GROUP_NULL)
        PMPI_Group_free(&cg);
    return rc;
}

/* The copies' communicator: the host itself, or under numa scope its ranks of this rank's
 * NUMA domain (the host's communicator is freed then). */
static int split_node(topo *t, MPI_Comm *host, const numa_place *p)
{
    if (!t->numa) {
        t->node = *host;
        *host = MPI_COMM_NULL;
        return MPI_SUCCESS;
    }
    int rc = PMPI_Comm_split(*host, p->domain, t->rank, &t->node);
    PMPI_Comm_free(host);
    return rc;
}

/* Under numa scope, every rank's host: each rank gives the rank in comm of its host's first
 * rank, which is the first of its host in comm order, so that hosts are numbered as they
 * first appear (node indices, from leaders ordered by rank, first appear in order too). */
static int map_hosts(topo *t, int host_first)
{
    t->host_of = t->node_of, t->hosts = t->nodes, t->host_index = t->node_index;
    t->domains_here = 1;
    if (!t->numa)
        return MPI_SUCCESS;
    t->host_of = t->node_of + t->size;
    int rc = PMPI_Allgather(&host_first, 1, MPI_INT, t->host_of, 1, MPI_INT, t->comm);
    t->hosts = t->domains_here = 0;
    for (int i = 0; rc == MPI_SUCCESS && i < t->size; i++) /* ranks into indices, in place */
        t->host_of[i] = t->host_of[i] == i ? t->hosts++ : t->host_of[t->host_of[i]];
    t->host_index = t->host_of[t->rank];
    for (int i = 0, seen = 0; rc == MPI_SUCCESS && i < t->size; i++)
        if (t->node_of[i] == seen) /* the first rank of a node */
            seen++, t->domains_here += t->host_of[i] == t->host_index;
    return rc;
}

/* Collective: split comm into nodes and leaders, and tell every rank where every rank is. */
static int topo_build(topo *t, size_t scratch_per_rank, int failed_already)
{
    numa_place place = {.domain = 0, .domains = 1};
    if (numa_scope())
        numa_locate(&place);
    MPI_Comm host = MPI_COMM_NULL;
    int host_first = 0;
    int rc = PMPI_Comm_split_type(t->comm, MPI_COMM_TYPE_SHARED, t->rank, MPI_INFO_NULL, &host);
    if (rc == MPI_SUCCESS)
        rc = host_facts(t, host, &host_first);
    if (rc == MPI_SUCCESS)
        rc = allocate(t, scratch_per_rank, failed_already, &place);
    if (rc == MPI_SUCCESS)
        rc = split_node(t, &host, &place);
    if (host != MPI_COMM_NULL) /* (a failure above: release_members frees t->node alone) */
        PMPI_Comm_free(&host);
    if (rc == MPI_SUCCESS)
        rc = PMPI_Comm_rank(t->node, &t->node_rank);
    if (rc == MPI_SUCCESS)
        rc = PMPI_Comm_size(t->node, &t->node_size);
    if (rc == MPI_SUCCESS && t->node_size == t->size) {
        /* One node (seen alike by every rank): no leaders to connect, every rank on node 0.
         * Communicators are expensive to make (MPICH, 8 ranks on 2 cores: 0.2 s each). */
        t->nodes = 1;
        return map_hosts(t, host_first);
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
    return rc == MPI_SUCCESS ? map_hosts(t, host_first) : rc;
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
    t->crowded = cpus > 0 && t->host_size > cpus;
    pthread_mutex_lock(&lock);
    t->next = all, all = t;
    pthread_mutex_unlock(&lock);
    if (t->numa)
        log_msg(2, "communicator of %d ranks: %d node(s), %d NUMA domain(s) (a copy each), %d "
                "rank(s) in this one", t->size, t->hosts, t->nodes, t->node_size);
    else
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

const char *topo_unit(const topo *t) { return t->numa ? "NUMA domain" : "node"; }

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
