/* Broadcasts that some ranks know cannot be shared (they marked nothing there): those ranks
 * call MPI_Bcast without waiting for the vote, the others wait for it and fall back. Five
 * broadcasts of one array from rank 0, each at or above the threshold:
 *
 *   1 unmarked     no rank marked the array
 *   2 mixed        odd ranks marked it, the root did not (it goes first)
 *   3 mixed        even ranks marked it, the root among them (it waits)
 *   4 marked       every rank marked it: shared, unless a fault makes every rank fall back
 *   5 mixed        rank 1 unmarks its copy; the others' copy is the shared one of step 4
 *
 * Checked on every rank after each step: MPI's return code, the data, and for steps 1-3 and
 * 5 that the array's pages are this rank's own (no segment maps them; the root's may stay
 * mapped at step 5).
 *
 *   vote_check [--bytes N] [--fail-at S]
 *
 * --fail-at S: step S must return MPI_ERR_OTHER on every rank (errors return on the
 * communicator; e.g. MPISHM_FAULT=mpi:R@S); where a rank went first, every rank's data
 * still arrived. Exit status 0 when every check passed on every rank. */
#define _GNU_SOURCE
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "memstat.h"
#include "mpishm.h"

#define STEPS 5

static int rank, nranks, failures;

/* Whether this rank marks the array before step s (step 5: all but rank 1 keep step 4's). */
static int marks(int s)
{
    switch (s) {
    case 2: return rank % 2 == 1;
    case 3: return rank % 2 == 0;
    case 4: return 1;
    case 5: return rank != 1;
    default: return 0;
    }
}

/* Whether some rank marked nothing at step s, and so called MPI_Bcast first. */
static int someone_first(int s) { return s != 4; }

/* No segment maps the array's first whole page. */
static int pages_private(const unsigned char *buf)
{
    unsigned long dev = 0, ino = 1;
    return memstat_mapping_id(buf, &dev, &ino) == 0 && ino == 0;
}

static void prepare(unsigned char *buf, size_t bytes, int s)
{
    mpishm_info info;
    int marked = mpishm_query(buf, &info) == 0 && info.base != NULL;
    if (marked && !marks(s))
        CHECK(mpishm_unmark(buf) == 0, "step %d: unmark failed", s);
    if (!marked && marks(s)) {
        int rc = mpishm_mark_readonly(buf, bytes);
        CHECK(rc == 0 || rc == MPISHM_ENOTLOADED, "step %d: mark: %s", s, mpishm_strerror(rc));
    }
    /* (receivers keep the last step's data, which differs from this one's: written over,
     * step 5's shared pages would become private before the broadcast) */
    if (rank == 0)
        pattern_fill(buf, bytes, s);
}

/* One step; returns 1 when its array is shared here. */
static int step(unsigned char *buf, size_t bytes, int s, int fail_at)
{
    prepare(buf, bytes, s);
    int rc = MPI_Bcast(buf, (int)bytes, MPI_BYTE, 0, MPI_COMM_WORLD), cls = -1;
    MPI_Error_class(rc, &cls);
    if (s == fail_at)
        CHECK(cls == MPI_ERR_OTHER, "step %d returned %d (class %d), expected MPI_ERR_OTHER", s,
              rc, cls);
    else
        CHECK(rc == MPI_SUCCESS, "step %d: MPI_Bcast returned %d", s, rc);
    if (s != fail_at || someone_first(s))
        for (size_t i = 0; i < bytes; i++)
            if (buf[i] != pattern_byte(i, s)) {
                CHECK(0, "step %d: byte %zu of %zu is %u, expected %u", s, i, bytes, buf[i],
                      pattern_byte(i, s));
                break;
            }
    int shared = !pages_private(buf);
    /* (in a fallback MPI only reads the root's buffer: its mapping of step 4 may stay) */
    CHECK(s == 4 || (s == 5 && rank == 0) || !shared,
          "step %d: the array's pages come from a segment", s);
    return shared;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    size_t bytes = 4 << 20;
    int fail_at = 0;
    for (int i = 1; i + 1 < argc; i += 2)
        if (!strcmp(argv[i], "--bytes"))
            bytes = strtoull(argv[i + 1], NULL, 10) << 20;
        else if (!strcmp(argv[i], "--fail-at"))
            fail_at = atoi(argv[i + 1]);
    if (fail_at)
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    /* a page-aligned array of its own, as a legacy code's table */
    unsigned char *buf = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(buf != MAP_FAILED, "mmap failed");
    int shared = 0;
    for (int s = 1; s <= STEPS && buf != MAP_FAILED; s++)
        shared |= step(buf, bytes, s, fail_at) << (s - 1);
    int all_shared;
    MPI_Allreduce(&shared, &all_shared, 1, MPI_INT, MPI_BAND, MPI_COMM_WORLD);
    int total;
    MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("vote_check: %d steps on %d ranks, step 4 %s: %s (%d failure(s))\n", STEPS,
               nranks, all_shared & 8 ? "shared" : "not shared everywhere",
               total ? "FAILED" : "data right on every rank", total);
    if (buf != MAP_FAILED) {
        mpishm_unmark(buf);
        munmap(buf, bytes);
    }
    MPI_Finalize();
    return total != 0;
}
