/* A legacy-style MPI program: rank 0 builds a large read-only table (think cross sections),
 * broadcasts it to every rank, and every rank computes with it. The only line added for
 * libmpishm is the mpishm_mark_readonly call; the program runs the same without the library.
 *
 *   mpiexec -n 8 ./table_bcast [MiB=256] [lookups-per-rank=2000000]
 *
 * Prints the broadcast time, the table's memory summed over all ranks, the checksum of the
 * computation, and whether every rank holds the same table. */
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "memstat.h"
#include "mpishm.h"

static double cross_section(size_t i) { return 1.0 / (1.0 + 1e-6 * (double)i) + sin(1e-3 * (double)i); }

/* A word-wise FNV-1a variant: reads every byte once at close to memory speed. */
static uint64_t hash_words(const uint64_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    size_t mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 256;
    long lookups = argc > 2 ? atol(argv[2]) : 2000000;
    size_t n = mib * 1024 * 1024 / sizeof(double);

    double *table = malloc(n * sizeof *table);
    if (!table) {
        fprintf(stderr, "rank %d: cannot allocate %zu MiB\n", rank, mib);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    int marked = mpishm_mark_readonly(table, n * sizeof *table); /* the one added line */
    if (rank == 0)
        for (size_t i = 0; i < n; i++)
            table[i] = cross_section(i);

    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    /* Legacy codes broadcast in pieces below 2 GiB; one call is enough here. */
    MPI_Bcast(table, (int)n, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    double t_bcast = MPI_Wtime() - t0, t_max;
    MPI_Reduce(&t_bcast, &t_max, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);

    /* The work: random lookups into the table. */
    uint64_t state = 88172645463325252ull + (uint64_t)rank;
    double sum = 0;
    for (long k = 0; k < lookups; k++) {
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        sum += table[state % n];
    }
    double total;
    MPI_Reduce(&sum, &total, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);

    /* Every rank reads its whole table once: the honest comparison (shared pages are faulted
     * in on first touch) and a check that every rank holds the same bytes. */
    uint64_t h = hash_words((const uint64_t *)table, n), hmin, hmax;
    MPI_Reduce(&h, &hmin, 1, MPI_UINT64_T, MPI_MIN, 0, MPI_COMM_WORLD);
    MPI_Reduce(&h, &hmax, 1, MPI_UINT64_T, MPI_MAX, 0, MPI_COMM_WORLD);
    double elapsed = MPI_Wtime() - t0, e_max;
    MPI_Reduce(&elapsed, &e_max, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);

    /* PSS divides a shared page among the ranks that map it when it is read: every rank
     * has finished its broadcast (and mapped its table) before any rank measures */
    MPI_Barrier(MPI_COMM_WORLD);
    long long pss[2] = {memstat_range_pss(table, n * sizeof *table), memstat_process_pss()};
    long long pss_sum[2];
    MPI_Reduce(pss, pss_sum, 2, MPI_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD); /* no rank frees its table while another still measures */
    if (rank == 0) {
        printf("ranks %d, table %zu MiB, mark: %s\n", size, mib, mpishm_strerror(marked));
        printf("broadcast:         %8.3f s\n", t_max);
        printf("broadcast + read:  %8.3f s\n", e_max);
        printf("table memory:      %8.1f MiB (%.2f copies)\n", pss_sum[0] / 1048576.0,
               (double)pss_sum[0] / (double)(n * sizeof *table));
        printf("process memory:    %8.1f MiB\n", pss_sum[1] / 1048576.0);
        printf("checksum:          %.10e\n", total);
        printf("identical tables:  %s\n", hmin == hmax ? "yes" : "NO");
    }
    free(table);
    MPI_Finalize();
    return rank == 0 && hmin != hmax;
}
