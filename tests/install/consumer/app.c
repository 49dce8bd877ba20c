/* A user's program built against the installed libmpishm (pkg-config or CMake): marks a
 * table, broadcasts it, and says whether it was shared and right on every rank. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include <mpishm.h>

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, bad = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    size_t n = 4 << 20;
    unsigned char *t = malloc(n);
    int rc = mpishm_mark_readonly(t, n);
    if (rank == 0)
        for (size_t i = 0; i < n; i++)
            t[i] = (unsigned char)(i * 13);
    MPI_Bcast(t, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD);
    for (size_t i = 0; i < n; i += 101)
        bad += t[i] != (unsigned char)(i * 13);
    mpishm_info info;
    int shared = mpishm_query(t, &info) == 0 && info.shared;
    int all_shared, all_bad;
    MPI_Allreduce(&shared, &all_shared, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&bad, &all_bad, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("consumer: mark %s, %s, data %s\n", mpishm_strerror(rc),
               all_shared ? "shared" : "not shared", all_bad ? "WRONG" : "right");
    free(t);
    MPI_Finalize();
    return all_bad != 0;
}
