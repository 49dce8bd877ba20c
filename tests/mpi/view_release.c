/* A refilled table that the root rewrites in place keeps a shared view of its node copy on
 * the root (bcast.c); a second table is then shared, mapped so that the view lies between
 * the two tables, and the first table is released: by munmap, or with --unmark by
 * mpishm_unmark. Unmapping the view must not re-enter the registry while it is locked (the
 * library's munmap and UCX's hook both look it up). Rank 0 prints "view_release: released,
 * the second table right on every rank", or FAILED lines. */
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "check.h"
#include "mpishm.h"

static int rank, failures;

#define TABLE ((size_t)8 << 20)

static unsigned char *table(void)
{
    void *p = mmap(NULL, TABLE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED, "mmap failed");
    CHECK(mpishm_mark_readonly(p, TABLE) == 0, "mark failed: is the library loaded?");
    return p;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int unmark = argc > 1 && !strcmp(argv[1], "--unmark"), all = 0;
    unsigned char *a = table();
    for (int s = 0; s < 3; s++) { /* refilled: rewritten in place from the second step */
        if (rank == 0)
            pattern_fill(a, TABLE, s);
        MPI_Bcast(a, (int)TABLE, MPI_BYTE, 0, MPI_COMM_WORLD);
    }
    unsigned char *b = table(); /* (mapped after the root's view: below it) */
    if (rank == 0)
        pattern_fill(b, TABLE, 9);
    MPI_Bcast(b, (int)TABLE, MPI_BYTE, 0, MPI_COMM_WORLD);
    if (unmark)
        CHECK(mpishm_unmark(a) == 0, "unmark failed");
    else
        CHECK(munmap(a, TABLE) == 0, "munmap failed");
    for (size_t i = 0; i < TABLE; i += 4093)
        if (b[i] != pattern_byte(i, 9)) {
            CHECK(0, "wrong byte at %zu of the second table", i);
            break;
        }
    MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("view_release: %s\n",
               all ? "FAILED" : "released, the second table right on every rank");
    MPI_Finalize();
    return all != 0;
}
