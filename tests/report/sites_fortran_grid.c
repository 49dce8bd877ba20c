/* The C half of sites_fortran: a grid broadcast from C, called from Fortran. The grid is kept
 * to the end of the run, as the legacy code keeps its tables. Returns the bytes found wrong. */
#include <mpi.h>
#include <stdlib.h>

__attribute__((noinline)) int c_load_grid(int bytes)
{
    int rank, bad = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    unsigned char *grid = malloc((size_t)bytes);
    if (!grid)
        return bytes;
    if (rank == 0)
        for (int i = 0; i < bytes; i++)
            grid[i] = (unsigned char)(i * 7 + 3);
    MPI_Bcast(grid, bytes, MPI_BYTE, 0, MPI_COMM_WORLD);
    for (int i = 0; i < bytes; i++)
        bad += grid[i] != (unsigned char)(i * 7 + 3);
    return bad;
}
