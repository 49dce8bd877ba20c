/* Every way a broadcast copy's life ends, each at its own call site, none of them written
 * after its broadcast: munmap, realloc, mremap, mpishm_unmark, free of a block holding the
 * buffer, and a buffer half made inaccessible and half unmapped. After each end the program
 * writes the memory again (or what took its place): a copy the library failed to end there
 * would be judged at MPI_Finalize against that, or found gone. Every rank checks the data it
 * received. Rank 0 prints "content_lifetimes: passed".
 * The report (judged by check_report.py, case lifetimes) must say read-only for the first
 * five, each copy ended unchanged, and unverified for the last, without a crash. */
#define _GNU_SOURCE
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "mpishm.h"

static int rank, failures;
static const size_t bytes = 4 << 20;

static void receive(unsigned char *a, int salt)
{
    if (rank == 0)
        for (size_t i = 0; i < bytes; i++)
            a[i] = pattern_byte(i, salt);
    MPI_Bcast(a, (int)bytes, MPI_BYTE, 0, MPI_COMM_WORLD);
    for (size_t i = 0; i < bytes; i += 4093)
        if (a[i] != pattern_byte(i, salt)) {
            CHECK(0, "salt %d: byte %zu wrong", salt, i);
            return;
        }
}

static unsigned char *fresh_map(size_t len)
{
    unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED, "mmap failed");
    return p == MAP_FAILED ? NULL : p;
}

#define NOINLINE __attribute__((noinline))

NOINLINE void end_by_munmap(void)
{
    unsigned char *a = fresh_map(bytes);
    receive(a, 1);
    munmap(a, bytes);
    unsigned char *b = mmap(a, bytes, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (b != MAP_FAILED) { /* the same place, other content: seen only if the copy lived on */
        memset(b, 0x5a, bytes);
        munmap(b, bytes);
    }
}

NOINLINE void end_by_realloc(void)
{
    unsigned char *a = malloc(bytes);
    receive(a, 2);
    unsigned char *b = realloc(a, 4 * bytes); /* grows: moved, or mremapped in place */
    CHECK(b != NULL, "realloc failed");
    if (b) {
        CHECK(b[bytes - 1] == pattern_byte(bytes - 1, 2), "realloc kept the content");
        memset(b, 0x33, 4 * bytes);
        free(b);
    }
}

NOINLINE void end_by_mremap(void)
{
    unsigned char *a = fresh_map(bytes);
    receive(a, 3);
    unsigned char *b = mremap(a, bytes, 2 * bytes, MREMAP_MAYMOVE);
    CHECK(b != MAP_FAILED, "mremap failed");
    if (b != MAP_FAILED) {
        memset(b, 0x44, 2 * bytes);
        munmap(b, 2 * bytes);
    }
}

NOINLINE void end_by_unmark(void)
{
    unsigned char *a = fresh_map(bytes);
    mpishm_mark_readonly(a, bytes);
    receive(a, 4);
    CHECK(mpishm_unmark(a) == 0, "unmark");
    memset(a, 0x55, bytes); /* the application's own memory again */
    munmap(a, bytes);
}

NOINLINE void end_by_free_inside(void)
{
    unsigned char *block = malloc(bytes + 256);
    receive(block + 128, 5); /* the buffer is inside the allocated block */
    free(block);
    unsigned char *again = malloc(bytes + 256);
    if (again) {
        memset(again, 0x66, bytes + 256);
        free(again);
    }
}

NOINLINE void partly_unmapped(void)
{
    unsigned char *a = fresh_map(bytes);
    receive(a, 6);
    mprotect(a + bytes / 2, bytes / 2, PROT_NONE);
    munmap(a, bytes / 2); /* its end must not read the inaccessible half */
    munmap(a + bytes / 2, bytes / 2);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    end_by_munmap();
    end_by_realloc();
    end_by_mremap();
    end_by_unmark();
    end_by_free_inside();
    partly_unmapped();
    int all = 0;
    MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("content_lifetimes: %s\n", all ? "FAILED" : "passed");
    MPI_Finalize();
    return all != 0;
}
