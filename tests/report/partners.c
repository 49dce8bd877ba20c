/* A legacy program's shape (AmpliconNoise's PyroDist, say): rank 0 reads its tables in
 * send_tables() and broadcasts them, every other rank receives them in recv_tables()
 * (`if (rank == 0) send_tables(); else recv_tables();`), two call sites of the same
 * broadcasts. Two page-aligned tables of --mib N and N/2 MiB.
 *   partners [--mib N] [--zero] [--free-early] [--again] [--one-sender]
 * --zero: every rank sets its tables to zero first (WRF's thompson_init does), so that the
 * receivers' copies are resident before the broadcast; --free-early: the tables are freed
 * before MPI_Finalize, as most programs do; --again: the tables are sent a second time (the
 * root refills them; the receivers' copies were written by the first); --one-sender: the
 * root sends each table with send_one(), the receivers take them in recv_first() and
 * recv_second() (one root site, two receiving ones).
 * Rank 0 prints "partners: data right on every rank, S of R ranks shared both tables" (S
 * from mpishm_query on every rank after the broadcasts), or FAILED lines. */
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mpishm.h"

static int rank, failures;
static volatile int loaded; /* after each loader's last call: no tail call, every call its own frame */

static unsigned char *table_alloc(size_t bytes)
{
    void *p = NULL;
    return posix_memalign(&p, 4096, bytes) == 0 ? p : NULL;
}

static __attribute__((noinline)) void send_tables(unsigned char *a, size_t na, unsigned char *b,
                                                  size_t nb)
{
    pattern_fill(a, na, 1); /* read from a file, in the real program */
    pattern_fill(b, nb, 2);
    MPI_Bcast(a, (int)na, MPI_BYTE, 0, MPI_COMM_WORLD);
    MPI_Bcast(b, (int)nb, MPI_BYTE, 0, MPI_COMM_WORLD);
    loaded++;
}

static __attribute__((noinline)) void recv_tables(unsigned char *a, size_t na, unsigned char *b,
                                                  size_t nb)
{
    MPI_Bcast(a, (int)na, MPI_BYTE, 0, MPI_COMM_WORLD);
    MPI_Bcast(b, (int)nb, MPI_BYTE, 0, MPI_COMM_WORLD);
    loaded++;
}

static __attribute__((noinline)) void send_one(unsigned char *t, size_t n, int round)
{
    pattern_fill(t, n, round);
    MPI_Bcast(t, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD);
    loaded++;
}

static __attribute__((noinline)) void recv_first(unsigned char *t, size_t n)
{
    MPI_Bcast(t, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD);
    loaded++;
}

static __attribute__((noinline)) void recv_second(unsigned char *t, size_t n)
{
    MPI_Bcast(t, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD);
    loaded += 2; /* (not recv_first's code: the compiler would fold the two into one) */
}

static int is_shared(const void *p)
{
    mpishm_info info;
    return mpishm_query(p, &info) == 0 && info.shared;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int size, zero = 0, free_early = 0, again = 0, one_sender = 0;
    size_t mib = 8;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mib") && i + 1 < argc) mib = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--zero")) zero = 1;
        else if (!strcmp(argv[i], "--free-early")) free_early = 1;
        else if (!strcmp(argv[i], "--again")) again = 1;
        else if (!strcmp(argv[i], "--one-sender")) one_sender = 1;
    }
    size_t na = mib << 20, nb = mib << 19;
    unsigned char *a = table_alloc(na), *b = table_alloc(nb);
    CHECK(a && b, "malloc of %zu MiB failed", mib);
    if (zero) {
        memset(a, 0, na);
        memset(b, 0, nb);
    }
    for (int k = 0; k <= again; k++)
        if (one_sender && rank == 0)
            send_one(a, na, 1), send_one(b, nb, 2);
        else if (one_sender)
            recv_first(a, na), recv_second(b, nb);
        else if (rank == 0)
            send_tables(a, na, b, nb);
        else
            recv_tables(a, na, b, nb);
    for (size_t i = 0; i < na; i += 4093)
        if (a[i] != pattern_byte(i, 1)) {
            CHECK(0, "wrong byte at %zu of the first table", i);
            break;
        }
    for (size_t i = 0; i < nb; i += 4093)
        if (b[i] != pattern_byte(i, 2)) {
            CHECK(0, "wrong byte at %zu of the second table", i);
            break;
        }
    int both = is_shared(a) && is_shared(b), nboth = 0, all = 0;
    MPI_Allreduce(&both, &nboth, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("partners: %s, %d of %d ranks shared both tables\n",
               all ? "FAILED" : "data right on every rank", nboth, size);
    MPI_Barrier(MPI_COMM_WORLD); /* every rank has measured */
    if (free_early) {
        free(a);
        free(b);
    }
    MPI_Finalize();
    if (!free_early) {
        free(a);
        free(b);
    }
    return all != 0;
}
