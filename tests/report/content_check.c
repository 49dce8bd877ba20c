/* Four large broadcast sites, none marked, and what each rank does with its copy afterwards:
 * what the report's content check (is a buffer read-only after its broadcast?) is judged on.
 *
 *   content_check [--expect NAME=shared|private ...]
 *
 * load_mesh   4 MiB, broadcast twice into the same buffer (its first copy ends at the
 *             second broadcast), never written: read-only.
 * load_basis  3 MiB, read, then freed before MPI_Finalize: read-only.
 * load_field  2 MiB, rescaled by rank 1 alone after the broadcast (in perturb_field), then
 *             broadcast again (that first copy ends there) and left alone.
 * load_work   1.5 MiB, overwritten by every rank after the broadcast (in use_as_scratch).
 * Every rank checks every array against what it should hold after its own writes; with
 * --expect, whether the array is shared. Rank 0 prints "content_check: passed". */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mpishm.h"

static int rank, failures;

enum { MESH, BASIS, FIELD, WORK, ARRAYS };
static const char *const names[ARRAYS] = {"mesh", "basis", "field", "work"};
static const size_t sizes[ARRAYS] = {4 << 20, 3 << 20, 2 << 20, 3 << 19};
static const char *expected[ARRAYS];

static unsigned char *allocate(int which)
{
    unsigned char *a = malloc(sizes[which]);
    CHECK(a != NULL, "no memory for %s", names[which]);
    if (!a)
        MPI_Abort(MPI_COMM_WORLD, 1);
    if (rank == 0)
        for (size_t i = 0; i < sizes[which]; i++)
            a[i] = pattern_byte(i, which);
    return a;
}

static void bcast(unsigned char *a, int which)
{
    MPI_Bcast(a, (int)sizes[which], MPI_BYTE, 0, MPI_COMM_WORLD);
}

/* Every byte as `expect(i)` says; and shared or not, as --expect says. */
static void verify(const unsigned char *a, int which, unsigned char (*expect)(size_t, int))
{
    for (size_t i = 0; i < sizes[which]; i++)
        if (a[i] != expect(i, which)) {
            CHECK(0, "%s: byte %zu is %u, expected %u", names[which], i, a[i], expect(i, which));
            break;
        }
    mpishm_info info;
    if (expected[which] && mpishm_query(a, &info) == 0)
        CHECK(info.shared == (strcmp(expected[which], "shared") == 0), "%s is %s, expected %s",
              names[which], info.shared ? "shared" : "private", expected[which]);
}

static unsigned char as_sent(size_t i, int which) { return pattern_byte(i, which); }
static unsigned char rescaled(size_t i, int which)
{
    return rank == 1 ? (unsigned char)(pattern_byte(i, which) * 3) : pattern_byte(i, which);
}
static unsigned char scratched(size_t i, int which)
{
    (void)which;
    return (unsigned char)(rank + i % 7);
}

/* A new array of `which` from rank 0, or (given one) the same array broadcast again. */
static unsigned char *load(int which, unsigned char *again)
{
    unsigned char *a = again ? again : allocate(which);
    bcast(a, which);
    return a;
}

/* The four loaders: the call sites the report names. */
#define NOINLINE __attribute__((noinline))
NOINLINE unsigned char *load_mesh(unsigned char *again) { return load(MESH, again); }
NOINLINE unsigned char *load_basis(void) { return load(BASIS, NULL); }
NOINLINE unsigned char *load_field(unsigned char *again) { return load(FIELD, again); }
NOINLINE unsigned char *load_work(void) { return load(WORK, NULL); }

NOINLINE void perturb_field(unsigned char *a)
{
    if (rank == 1)
        for (size_t i = 0; i < sizes[FIELD]; i++)
            a[i] = (unsigned char)(a[i] * 3);
}

NOINLINE void use_as_scratch(unsigned char *a)
{
    for (size_t i = 0; i < sizes[WORK]; i++)
        a[i] = (unsigned char)(rank + i % 7);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    for (int i = 1; i < argc; i++) {
        const char *eq = i + 1 < argc && strcmp(argv[i], "--expect") == 0
                             ? strchr(argv[i + 1], '=') : NULL;
        int k = 0;
        while (eq && k < ARRAYS && strncmp(argv[i + 1], names[k], (size_t)(eq - argv[i + 1])))
            k++;
        CHECK(eq && k < ARRAYS, "bad argument %s", argv[i]);
        if (eq && k < ARRAYS)
            expected[k] = eq + 1, i++;
    }
    unsigned char *mesh = load_mesh(NULL);
    unsigned char *basis = load_basis();
    unsigned char *field = load_field(NULL);
    unsigned char *work = load_work();
    verify(mesh, MESH, as_sent);
    verify(basis, BASIS, as_sent);
    free(basis); /* its copy's life ends here */
    perturb_field(field);
    verify(field, FIELD, rescaled);
    use_as_scratch(work);
    load_mesh(mesh);   /* the same table again: the first copy ends, unchanged */
    load_field(field); /* again: rank 1's first copy ends, written; the second stays as sent */
    verify(mesh, MESH, as_sent);
    verify(field, FIELD, as_sent);
    verify(work, WORK, scratched);
    int all = 0;
    MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("content_check: %s\n", all ? "FAILED" : "passed");
    MPI_Finalize(); /* the mesh's and the field's second copies and the work array's end here */
    free(mesh), free(field), free(work);
    return all != 0;
}
