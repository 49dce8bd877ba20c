/* MPI_THREAD_MULTIPLE: several threads broadcast marked arrays at once, each on its own
 * communicator, while another thread marks and unmarks arrays of its own; every byte is
 * checked on every rank, and the arrays must be shared.
 *
 *   thread_check [--threads T] [--rounds R] [--bytes N]
 *
 * Exit status 0 when every check passed on every rank. */
#include <mpi.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mpishm.h"

static int rank, nranks, failures;
static pthread_mutex_t failures_lock = PTHREAD_MUTEX_INITIALIZER;
static int threads = 3, rounds = 20;
static size_t bytes = 2 << 20;
static volatile int stop_marking;

typedef struct {
    int id;
    MPI_Comm comm;
    int shared; /* broadcasts whose array came back shared */
} worker;

static void fail(const char *what, int id, int round)
{
    pthread_mutex_lock(&failures_lock);
    failures++;
    fprintf(stderr, "FAIL rank %d thread %d round %d: %s\n", rank, id, round, what);
    pthread_mutex_unlock(&failures_lock);
}

static void *broadcaster(void *arg)
{
    worker *w = arg;
    for (int r = 0; r < rounds; r++) {
        /* at a page boundary on every rank: threads' heaps differ between ranks, and
         * buffers at different in-page offsets on every rank are not shared */
        unsigned char *a = aligned_alloc(4096, bytes);
        if (!a || mpishm_mark_readonly(a, bytes) != 0) {
            fail("malloc or mark failed", w->id, r);
            free(a);
            continue;
        }
        int root = (w->id + r) % nranks, salt = w->id * 1000 + r;
        if (rank == root)
            pattern_fill(a, bytes, salt);
        MPI_Bcast(a, (int)bytes, MPI_BYTE, root, w->comm);
        for (size_t i = 0; i < bytes; i += 97)
            if (a[i] != pattern_byte(i, salt)) {
                fail("wrong data", w->id, r);
                break;
            }
        mpishm_info info;
        if (mpishm_query(a, &info) == 0 && info.shared)
            w->shared++;
        free(a);
    }
    return NULL;
}

/* Marks, queries and unmarks arrays of its own while the others broadcast. */
static void *marker(void *arg)
{
    (void)arg;
    long n = 0;
    while (!__atomic_load_n(&stop_marking, __ATOMIC_RELAXED)) {
        size_t len = 4096 * (size_t)(1 + n % 16);
        char *p = malloc(len);
        if (p && mpishm_mark_readonly(p, len) != 0)
            fail("marking a private array failed", -1, (int)n);
        mpishm_info info;
        if (p && (mpishm_query(p + len / 2, &info) != 0 || info.base != p))
            fail("query of a marked array", -1, (int)n);
        if (p && n % 2 && mpishm_unmark(p) != 0)
            fail("unmark failed", -1, (int)n);
        free(p); /* ends the mark when it is still there */
        n++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--rounds")) rounds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--bytes")) bytes = strtoull(argv[i + 1], NULL, 10);
    }
    CHECK(provided == MPI_THREAD_MULTIPLE, "MPI provides thread level %d only", provided);
    worker w[16];
    pthread_t t[16], m;
    threads = threads > 16 ? 16 : threads;
    for (int i = 0; i < threads; i++) {
        w[i] = (worker){.id = i};
        MPI_Comm_dup(MPI_COMM_WORLD, &w[i].comm);
    }
    pthread_create(&m, NULL, marker, NULL);
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, broadcaster, &w[i]);
    int shared = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        shared += w[i].shared;
        MPI_Comm_free(&w[i].comm);
    }
    __atomic_store_n(&stop_marking, 1, __ATOMIC_RELAXED);
    pthread_join(m, NULL);
    CHECK(shared == threads * rounds, "%d of %d broadcasts shared", shared, threads * rounds);
    int total;
    MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("thread_check: %d threads x %d rounds: %s (%d failure(s) over all ranks)\n",
               threads, rounds, total ? "FAILED" : "passed", total);
    MPI_Finalize();
    return total != 0;
}
