/* A broadcast from MPI_BOTTOM with an absolute address (not shared: MPI writes where the
 * datatype says) leaves alone a shared array below that address, and delivers its data.
 * A broadcast whose datatype reaches below its buffer (a negative lower bound) into a
 * shared array makes that array private first: MPI's writes land in the rank's own pages
 * (in strict mode they would fault), and the query says so. Rank 0 prints
 * "bottom_check: passed". */
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
    /* The root sends from an array of its own, the others receive at the end of a shared
     * array A through a type whose one block starts 2 MiB below the buffer (inside A). */
    size_t m = 4 << 20, half = m / 2;
    unsigned char *A = mmap(NULL, m, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned char *B = mmap(NULL, m, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(A != MAP_FAILED && B != MAP_FAILED, "mmap failed");
    mpishm_mark_readonly(A, m);
    if (rank == 0)
        memset(A, 3, m), memset(B, 5, m);
    MPI_Bcast(A, (int)m, MPI_BYTE, 0, MPI_COMM_WORLD);
    CHECK(mpishm_query(A, &info) == 0 && info.shared, "A is shared");
    MPI_Datatype below;
    MPI_Aint down = -(MPI_Aint)half;
    int blen = (int)half;
    MPI_Type_create_hindexed(1, &blen, &down, MPI_BYTE, &below);
    MPI_Type_commit(&below);
    MPI_Bcast((rank == 0 ? B : A) + m, 1, below, 0, MPI_COMM_WORLD);
    MPI_Type_free(&below);
    if (rank != 0) {
        CHECK(A[half] == 5 && A[m - 1] == 5, "the block below the buffer arrived");
        CHECK(A[0] == 3 && A[half - 1] == 3, "the rest of A is unchanged");
        CHECK(mpishm_query(A, &info) == 0 && !info.shared, "A is private after the fallback");
    }
    int all = 0;
    MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("bottom_check: %s\n", all ? "FAILED" : "passed");
    MPI_Finalize();
    return all != 0;
}
