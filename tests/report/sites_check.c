/* A legacy-style program with three large broadcast sites (one of them marked), one small
 * broadcast and one large broadcast into a stack buffer: what the report, MPISHM_SITES and
 * MPISHM_AUTO are judged on.
 *
 *   sites_check [--expect NAME=shared|private ...] [--repeat N] [--rewrite] [--grow]
 *
 * NAME is one of cross_sections (8 MiB, marked), mesh (4 MiB), basis (2 MiB), scratch (2 MiB
 * on the stack), common (3 MiB of static data, as a Fortran COMMON block). --rewrite adds a
 * 2 MiB field broadcast three times and rescaled in place by every rank after each broadcast.
 * --grow adds broadcasts of 2, 4 and 2 MiB into one 4 MiB buffer, then a strided (vector
 * datatype) broadcast into it: MPI itself writes pages an earlier broadcast shared. The root
 * fills the buffer once: no rank writes it after a broadcast (strict mode may watch). Every rank checks every byte of every array. Rank 0 prints what the program
 * did ("sites_check: ..." lines) for the test's judge. Exit status 0 when all checks pass. */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mpishm.h"

static int rank, failures;
static long calls, small_calls;

static unsigned char pattern(size_t i, int salt) { return (unsigned char)(i * 131 + salt); }

static void fill_on_root(unsigned char *a, size_t n, int salt)
{
    if (rank == 0)
        for (size_t i = 0; i < n; i++)
            a[i] = pattern(i, salt);
}

static void verify(const char *name, const unsigned char *a, size_t n, int salt)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != pattern(i, salt)) {
            CHECK(0, "%s: byte %zu is %u, expected %u", name, i, a[i], pattern(i, salt));
            return;
        }
}

static const char *expected[5];
static const char *const names[5] = {"cross_sections", "mesh", "basis", "scratch", "common"};

static void expect_state(int which, const void *a)
{
    mpishm_info info;
    int rc = mpishm_query(a, &info);
    CHECK(rc == 0, "mpishm_query: %s", mpishm_strerror(rc));
    if (!expected[which])
        return;
    int want = strcmp(expected[which], "shared") == 0;
    CHECK(info.shared == want, "%s is %s, expected %s", names[which],
          info.shared ? "shared" : "private", expected[which]);
}

static void bcast(void *a, size_t n)
{
    MPI_Bcast(a, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD);
    calls++;
}

/* Three loaders, as a legacy code has them: the call sites the report names. */
__attribute__((noinline)) static unsigned char *load_cross_sections(size_t n)
{
    unsigned char *a = malloc(n);
    mpishm_mark_readonly(a, n);
    fill_on_root(a, n, 1);
    bcast(a, n);
    return a;
}

__attribute__((noinline)) unsigned char *load_mesh(size_t n)
{
    unsigned char *a = malloc(n);
    fill_on_root(a, n, 2);
    bcast(a, n);
    return a;
}

__attribute__((noinline)) unsigned char *load_basis(size_t n)
{
    unsigned char *a = malloc(n);
    fill_on_root(a, n, 3);
    bcast(a, n);
    return a;
}

/* Static data, as a COMMON block is: MPISHM_AUTO and MPISHM_SITES may share it. */
static unsigned char common_block[3 << 20] __attribute__((aligned(64)));

__attribute__((noinline)) static void load_common(void)
{
    fill_on_root(common_block, sizeof common_block, 5);
    bcast(common_block, sizeof common_block);
    verify(names[4], common_block, sizeof common_block, 5);
    expect_state(4, common_block);
}

/* A work array broadcast, then written in place by every rank (a rescale), three times:
 * selection without a mark must keep its data right and stop sharing it. */
__attribute__((noinline)) static void rewrite_field(void)
{
    size_t n = 2 << 20;
    unsigned char *field = malloc(n);
    for (int round = 0; round < 3; round++) {
        fill_on_root(field, n, 10 + round);
        bcast(field, n);
        verify("field", field, n, 10 + round);
        for (size_t i = 0; i < n; i++)
            field[i] = (unsigned char)(field[i] * 3);
        for (size_t i = 0; i < n; i++)
            if (field[i] != (unsigned char)(pattern(i, 10 + round) * 3)) {
                CHECK(0, "field: byte %zu not rescaled", i);
                break;
            }
    }
    free(field);
}

__attribute__((noinline)) static void grow_buffer(void)
{
    size_t n = 4 << 20;
    unsigned char *buf = malloc(n);
    size_t sizes[3] = {2 << 20, 4 << 20, 2 << 20};
    fill_on_root(buf, n, 20);
    for (int round = 0; round < 3; round++) {
        bcast(buf, sizes[round]);
        verify("grown buffer", buf, sizes[round], 20);
    }
    /* every other 4 KiB block, as a vector of 1024 blocks: not contiguous, never shared */
    MPI_Datatype every_other;
    MPI_Type_vector(256, 4096, 8192, MPI_BYTE, &every_other);
    MPI_Type_commit(&every_other);
    MPI_Bcast(buf, 1, every_other, 0, MPI_COMM_WORLD);
    calls++;
    for (size_t i = 0; i < (size_t)256 * 8192; i += 8192)
        if (buf[i] != pattern(i, 20) || buf[i + 4095] != pattern(i + 4095, 20)) {
            CHECK(0, "strided broadcast: block at %zu wrong", i);
            break;
        }
    MPI_Type_free(&every_other);
    free(buf);
}

/* A large broadcast into a stack buffer: MPISHM_AUTO must leave it alone. */
__attribute__((noinline)) static void use_scratch(void)
{
    unsigned char scratch[2 << 20];
    fill_on_root(scratch, sizeof scratch, 4);
    bcast(scratch, sizeof scratch);
    verify(names[3], scratch, sizeof scratch, 4);
    expect_state(3, scratch);
    unsigned char sum = 0;
    for (size_t i = 0; i < sizeof scratch; i += 4096)
        sum ^= scratch[i];
    __asm__ volatile("" : : "r"(sum));
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int repeat = 1, rewrite = 0, grow = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rewrite") == 0) {
            rewrite = 1;
        } else if (strcmp(argv[i], "--grow") == 0) {
            grow = 1;
        } else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
            repeat = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--expect") == 0 && i + 1 < argc) {
            const char *w = argv[++i], *eq = strchr(w, '=');
            int k = 0;
            while (k < 5 && !(eq && (size_t)(eq - w) == strlen(names[k]) &&
                              strncmp(w, names[k], strlen(names[k])) == 0))
                k++;
            CHECK(k < 5, "--expect %s: unknown array", w);
            if (k < 5)
                expected[k] = eq + 1;
        } else {
            CHECK(0, "unknown argument %s", argv[i]);
        }
    }
    size_t sizes[3] = {8 << 20, 4 << 20, 2 << 20};
    unsigned char *(*loaders[3])(size_t) = {load_cross_sections, load_mesh, load_basis};
    for (int r = 0; r < repeat; r++) {
        for (int k = 0; k < 3; k++) {
            unsigned char *a = loaders[k](sizes[k]);
            verify(names[k], a, sizes[k], k + 1);
            expect_state(k, a);
            if (r + 1 < repeat)
                free(a); /* else kept to MPI_Finalize, as a legacy code keeps its tables */
        }
        use_scratch();
        load_common();
        if (rewrite)
            rewrite_field();
        if (grow)
            grow_buffer();
        int small[16] = {0};
        MPI_Bcast(small, 16, MPI_INT, 0, MPI_COMM_WORLD);
        calls++, small_calls++;
    }
    int all = 0;
    MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("sites_check: calls %ld small %ld failures %d\n", calls, small_calls, all);
    MPI_Finalize();
    return all != 0;
}
