/* A legacy job as the people near their memory limit run it: every rank allocates a table,
 * optionally touches it first (Fortran's `t = 0.0`, a calloc read once, a reused buffer),
 * marks it (unless --unmarked: MPISHM_SITES=broadcast_table or MPISHM_AUTO select it), and
 * rank 0 fills it and broadcasts it, --steps times: a new table each step, or with --same the
 * first one again and again; with --two-sites every rank also scribbles on its copy after
 * each broadcast, and the table goes out twice per step, from two functions.
 * With --offset-rank R, rank R's table starts 512 bytes into its page (a second segment);
 * with --scribble R, rank R writes into its copy after each broadcast; with --fresh every
 * step allocates a new table (and frees the old one); with --offset-all every rank's table
 * starts 512 bytes into its page (one segment, partial first and last pages); with
 * --switch-rank R, rank R receives into a second table from step 2 on, and its first table
 * must still hold what step 1 sent it.
 *   table_job --mib N [--resident] [--unmarked] [--same | --two-sites] [--steps K]
 *             [--offset-rank R | --offset-all] [--scribble R] [--fresh] [--switch-rank R]
 * Rank 0 prints "table_job: N MiB, K step(s), data right on every rank, shared on S of R
 * rank(s), on every rank after J step(s), a new node copy in C step(s), B shared
 * broadcast(s)" (S counted after the last step; C the most of any rank: steps after which
 * its segment was another than before; B rank 0's count), or FAILED lines. */
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mpishm.h"

static int rank, failures;

static __attribute__((noinline)) void broadcast_table(unsigned char *t, size_t bytes)
{
    for (size_t done = 0; done < bytes; done += (size_t)1 << 30) {
        size_t n = bytes - done < ((size_t)1 << 30) ? bytes - done : (size_t)1 << 30;
        MPI_Bcast(t + done, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD);
    }
}

/* The second call site of --two-sites. */
static __attribute__((noinline)) void broadcast_again(unsigned char *t, size_t bytes)
{
    MPI_Bcast(t, (int)bytes, MPI_BYTE, 0, MPI_COMM_WORLD);
}

/* A page-aligned table (and a page to spare for --offset-rank): at one in-page offset on
 * every rank, wherever the heap stands (glibc serves a size freed before from the heap, at
 * offsets that differ between ranks under Open MPI). */
static unsigned char *table_alloc(size_t bytes)
{
    void *p = NULL;
    return posix_memalign(&p, 4096, bytes + 4096) == 0 ? p : NULL;
}

static void check_data(const unsigned char *t, size_t bytes, int round, int step)
{
    for (size_t i = 0; i < bytes; i += 4093)
        if (t[i] != pattern_byte(i, round)) {
            CHECK(0, "step %d: wrong byte at %zu", step, i);
            break;
        }
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int size, resident = 0, unmarked = 0, same = 0, two_sites = 0, steps = 1, nshared = 0;
    int steps_shared = 0, every = 0; /* steps after which this rank's table was shared */
    int new_copies = 0, most_copies = 0, offset_rank = -1, scribble = -1, fresh = 0;
    int offset_all = 0, switch_rank = -1;
    unsigned long last_inode = 0;
    size_t mib = 64;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mib") && i + 1 < argc) mib = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--resident")) resident = 1;
        else if (!strcmp(argv[i], "--unmarked")) unmarked = 1;
        else if (!strcmp(argv[i], "--same")) same = 1;
        else if (!strcmp(argv[i], "--two-sites")) two_sites = 1;
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--offset-rank") && i + 1 < argc) offset_rank = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--scribble") && i + 1 < argc) scribble = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--fresh")) fresh = 1;
        else if (!strcmp(argv[i], "--offset-all")) offset_all = 1;
        else if (!strcmp(argv[i], "--switch-rank") && i + 1 < argc) switch_rank = atoi(argv[++i]);
    }
    size_t bytes = mib << 20;
    size_t in_page = rank == offset_rank || offset_all ? 512 : 0;
    unsigned char *block = table_alloc(bytes), *t = block + in_page;
    CHECK(block != NULL, "malloc of %zu MiB failed", mib);
    unsigned char *first = NULL, *second = NULL; /* --switch-rank: its two tables */
    if (rank == switch_rank) {
        second = table_alloc(bytes);
        CHECK(second != NULL, "malloc of %zu MiB failed", mib);
        if (!unmarked)
            mpishm_mark_readonly(second + in_page, bytes);
    }
    if (resident)
        memset(t, 0, bytes);
    if (!unmarked)
        mpishm_mark_readonly(t, bytes);
    for (int s = 0; s < steps; s++) {
        int round = same ? 0 : s;
        if (fresh && s > 0) { /* a new table each step, as some codes allocate them */
            free(block);
            block = table_alloc(bytes), t = block + in_page;
            CHECK(block != NULL, "malloc of %zu MiB failed", mib);
            if (!unmarked)
                mpishm_mark_readonly(t, bytes);
            if (rank == 0 && same)
                pattern_fill(t, bytes, round);
        }
        if (rank == 0 && (s == 0 || !same))
            pattern_fill(t, bytes, round);
        if (second && s == 1) /* from now on into the second table */
            first = t, t = second + in_page;
        broadcast_table(t, bytes);
        if (first) /* the first still holds what step 1 sent (same or not) */
            check_data(first, bytes, 0, s);
        mpishm_info now;
        int shared_now = mpishm_query(t, &now) == 0 && now.shared;
        steps_shared += shared_now;
        if (shared_now && now.segment_inode != last_inode)
            new_copies++, last_inode = now.segment_inode;
        check_data(t, bytes, round, s);
        if (rank == scribble) /* a receiver's own writes: its next data must still arrive */
            for (size_t i = 0; i < bytes; i += 4096 * 7)
                t[i] ^= 0xA5;
        if (two_sites) {
            for (size_t i = 0; i < bytes; i += 4096) /* every rank writes its copy */
                t[i] ^= 0x55;
            if (rank == 0)
                pattern_fill(t, bytes, round);
            broadcast_again(t, bytes);
            check_data(t, bytes, round, s);
            for (size_t i = 0; i < bytes; i += 4096)
                t[i] ^= 0x55;
        }
    }
    mpishm_info info;
    int shared = mpishm_query(t, &info) == 0 && info.shared, all = 0;
    MPI_Allreduce(&shared, &nshared, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(&steps_shared, &every, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&new_copies, &most_copies, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    mpishm_stats st = {0};
    mpishm_get_stats(&st);
    if (rank == 0)
        printf("table_job: %zu MiB, %d step(s), %s, shared on %d of %d rank(s), on every rank "
               "after %d step(s), a new node copy in %d step(s), %llu shared broadcast(s)\n",
               mib, steps, all ? "FAILED" : "data right on every rank", nshared, size, every,
               most_copies, st.shared);
    free(block);
    free(second);
    MPI_Finalize();
    return all != 0;
}
