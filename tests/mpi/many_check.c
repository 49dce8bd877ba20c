/* Many marked arrays in one job: each is marked, broadcast (shared) and kept, as a code with
 * thousands of small tables would. Checks the data, that every array is shared, that at most
 * REGION_FDS_MAX descriptors stay open while they live (the segments of the first arrays,
 * kept to take new data in place) and none once they are unmapped (counted from after the
 * first broadcast: MPI opens its own on first use), and that the process's mappings stay
 * below vm.max_map_count;
 * prints the time per broadcast of the first and of the last tenth (the registry and the
 * mappings grow meanwhile: the bookkeeping cost should stay flat).
 *
 *   many_check [--arrays N] [--pages P]     (run with MPISHM_THRESHOLD at most P pages)
 *
 * Exit status 0 when every check passed on every rank. */
#define _GNU_SOURCE
#include <dirent.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "mpishm.h"

static int rank, failures;

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    int n = 0, c;
    if (!f)
        return -1;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int arrays = 1000, pages = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--arrays")) arrays = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--pages")) pages = atoi(argv[i + 1]);
    }
    size_t page = (size_t)sysconf(_SC_PAGESIZE), bytes = (size_t)pages * page;
    unsigned char **a = calloc((size_t)arrays, sizeof *a);
    int fds_before = -1, shared = 0, tenth = arrays / 10 ? arrays / 10 : 1;
    double first = 0, last = 0;
    for (int i = 0; i < arrays; i++) {
        /* separate mappings, as big tables are; a guard page apart so they never merge */
        unsigned char *m = mmap(NULL, bytes + page, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        CHECK(m != MAP_FAILED, "mmap %d failed", i);
        if (m == MAP_FAILED)
            break;
        mprotect(m + bytes, page, PROT_NONE);
        a[i] = m;
        CHECK(mpishm_mark_readonly(m, bytes) == 0, "mark %d failed", i);
        if (rank == 0)
            pattern_fill(m, bytes, i);
        double t = MPI_Wtime();
        MPI_Bcast(m, (int)bytes, MPI_BYTE, 0, MPI_COMM_WORLD);
        t = MPI_Wtime() - t;
        if (i < tenth)
            first += t;
        if (i >= arrays - tenth)
            last += t;
        mpishm_info info;
        shared += mpishm_query(m, &info) == 0 && info.shared;
        if (i == 0) /* MPI opens what it needs on first use: count from here */
            fds_before = count_fds();
        if (m[bytes / 2] != pattern_byte(bytes / 2, i) || m[bytes - 1] != pattern_byte(bytes - 1, i))
            CHECK(0, "array %d: wrong data", i);
    }
    for (int i = 0; i < arrays; i++) /* every array still right after all the others */
        if (a[i] && a[i][0] != pattern_byte(0, i)) {
            CHECK(0, "array %d changed", i);
            break;
        }
    CHECK(shared == arrays, "%d of %d arrays shared", shared, arrays);
    CHECK(count_fds() - fds_before <= 63, "%d descriptors open before, %d after", fds_before,
          count_fds());
    int maps = count_lines("/proc/self/maps");
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    int max_maps = 65530;
    if (f && fscanf(f, "%d", &max_maps) != 1)
        max_maps = 65530;
    if (f)
        fclose(f);
    CHECK(maps > 0 && maps < max_maps, "%d mappings, vm.max_map_count %d", maps, max_maps);
    int total;
    MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("many_check: %d arrays of %d pages: %d mappings (max %d); per broadcast %.0f us "
               "in the first tenth, %.0f us in the last (ratio %.2f); %s\n",
               arrays, pages, maps, max_maps, first / tenth * 1e6, last / tenth * 1e6,
               last / first, total ? "FAILED" : "passed");
    for (int i = 0; i < arrays; i++)
        if (a[i])
            munmap(a[i], bytes + page);
    /* the first array's segment was open before: one fewer now */
    CHECK(count_fds() == fds_before - 1, "%d descriptors open before, %d with no array left",
          fds_before, count_fds());
    MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0 && total)
        printf("many_check: FAILED once the arrays were unmapped\n");
    MPI_Finalize();
    return total != 0;
}
