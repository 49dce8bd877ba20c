/* A broadcast from MPI_BOTTOM with an absolute address (not shared: MPI writes where the
 * datatype says) leaves alone a shared array below that address, and delivers its data.
 * Rank 0 prints "bottom_check: passed". */
#include <mpi.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "check.h"
#include "mpishm.h"

static int rank, failures;

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    size_t n = 8 << 20;
    unsigned char *a = mmap(NULL, 2 * n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                            -1, 0);
    CHECK(a != MAP_FAILED, "mmap failed");
    unsigned char *b = a + n; /* right above the shared array */
    mpishm_mark_readonly(a, n);
    if (rank == 0)
        memset(a, 7, n), memset(b, 9, n);
    MPI_Bcast(a, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD);
    mpishm_info info;
    CHECK(mpishm_query(a, &info) == 0 && info.shared, "the marked array is shared");
    MPI_Aint addr;
    MPI_Get_address(b, &addr);
    MPI_Datatype absolute;
    int len = (int)n;
    MPI_Type_create_hindexed(1, &len, &addr, MPI_BYTE, &absolute);
    MPI_Type_commit(&absolute);
    MPI_Bcast(MPI_BOTTOM, 1, absolute, 0, MPI_COMM_WORLD);
    MPI_Type_free(&absolute);
    CHECK(b[0] == 9 && b[n - 1] == 9, "the MPI_BOTTOM broadcast arrived");
    CHECK(mpishm_query(a, &info) == 0 && info.shared, "the array below it is still shared");
    CHECK(a[0] == 7 && a[n - 1] == 7, "and its data right");
    int all = 0;
    MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("bottom_check: %s\n", all ? "FAILED" : "passed");
    MPI_Finalize();
    return all != 0;
}
