/* Large blocks from every allocation entry point of C start at the same place modulo 2 MiB
 * on every rank (a page boundary below 2 MiB), small ones where the allocator puts them, and
 * a marked table broadcast into such a block arrives right and is shared.
 *   align_check [--expect aligned|unaligned] [--bytes N] [--foreign] [--no-share]
 * --expect unaligned: MPISHM_ALIGN=0 or MPISHM_DISABLE=1: glibc's own placement (a large
 * block 16 bytes past a page: its chunk header); --foreign: another allocator (tcmalloc, a
 * sanitizer's): its calloc keeps its own placement, and placement by glibc is not judged; --no-share: the
 * broadcast is not expected to be shared (the library disabled).
 * Rank 0 prints "align_check: passed" when every check passed on every rank. */
#define _GNU_SOURCE
#include <malloc.h>
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../mpi/check.h"
#include "mpishm.h"

static int rank, failures;

#define MiB ((size_t)1 << 20)
#define HUGE (2 * MiB)

static void *by_malloc(size_t n) { return malloc(n); }
static void *by_calloc(size_t n) { return calloc(n / 8, 8); }
static void *by_posix_memalign(size_t n)
{
    void *p;
    return posix_memalign(&p, 64, n) ? NULL : p;
}
/* (C11 wants a size that is a multiple of the alignment; AddressSanitizer insists) */
static void *by_aligned_alloc(size_t n) { return aligned_alloc(4096, (n + 4095) & ~(size_t)4095); }
static void *by_memalign(size_t n) { return memalign(16, n); }
static void *by_valloc(size_t n) { return valloc(n); }
static void *by_pvalloc(size_t n) { return pvalloc(n); }
/* realloc of a small block to a large size: the content comes along */
static void *by_realloc(size_t n)
{
    char *p = malloc(64);
    strcpy(p, "kept by realloc");
    p = realloc(p, n);
    CHECK(p && strcmp(p, "kept by realloc") == 0, "realloc to %zu bytes lost the content", n);
    return p;
}

static const struct entry {
    const char *name;
    void *(*alloc)(size_t);
    int placed_by_glibc; /* without the library: a glibc chunk, 16 bytes past a page */
} entries[] = {
    {"malloc", by_malloc, 1},       {"calloc", by_calloc, 1},
    {"realloc", by_realloc, 1},     {"posix_memalign", by_posix_memalign, 0},
    {"aligned_alloc", by_aligned_alloc, 0}, {"memalign", by_memalign, 0},
    {"valloc", by_valloc, 0},       {"pvalloc", by_pvalloc, 0},
};

/* Whether p's offset modulo `unit` is the same on every rank; the offset into *off. */
static int same_everywhere(const void *p, size_t unit, unsigned long *off)
{
    unsigned long mine = (unsigned long)((uintptr_t)p % unit), lo, hi;
    MPI_Allreduce(&mine, &lo, 1, MPI_UNSIGNED_LONG, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&mine, &hi, 1, MPI_UNSIGNED_LONG, MPI_MAX, MPI_COMM_WORLD);
    *off = mine;
    return lo == hi;
}

static void check_entry(const struct entry *e, size_t bytes, int aligned, int foreign)
{
    unsigned long off;
    void *big = e->alloc(bytes), *mid = e->alloc(3 * MiB / 2);
    CHECK(big && mid, "%s returned NULL", e->name);
    int exempt = foreign && e->alloc == by_calloc; /* another allocator's calloc: its own */
    if (aligned && !exempt) {
        CHECK(same_everywhere(big, HUGE, &off) && off == 0,
              "%s(%zu) at %lu modulo 2 MiB, not 0 on every rank", e->name, bytes, off);
        CHECK(same_everywhere(mid, 4096, &off) && off == 0,
              "%s(1.5 MiB) at %lu modulo a page, not 0 on every rank", e->name, off);
    } else if (!aligned && e->placed_by_glibc && !foreign) {
        (void)same_everywhere(big, HUGE, &off);
        CHECK((uintptr_t)big % 4096 == 16, "%s(%zu) moved although alignment is off (%p)",
              e->name, bytes, big);
    } else {
        (void)same_everywhere(big, HUGE, &off), (void)same_everywhere(mid, 4096, &off);
    }
    free(big);
    free(mid);
}

/* A block just below the threshold, before anything large was freed (which raises glibc's
 * mmap threshold): where glibc puts it, a chunk 16 bytes past a page. */
static void *small_block(size_t threshold) { return malloc(threshold - 1); }

/* A marked table broadcast into an aligned block: every byte right, and shared. */
static void check_broadcast(size_t bytes, int aligned, int share)
{
    unsigned char *table = malloc(bytes);
    CHECK(mpishm_mark_readonly(table, bytes) == 0, "mark failed");
    if (rank == 0)
        pattern_fill(table, bytes, 1);
    MPI_Bcast(table, (int)bytes, MPI_BYTE, 0, MPI_COMM_WORLD);
    size_t wrong = 0;
    for (size_t i = 0; i < bytes; i++)
        wrong += table[i] != pattern_byte(i, 1);
    CHECK(wrong == 0, "%zu bytes of the broadcast table wrong", wrong);
    CHECK(!aligned || (uintptr_t)table % HUGE == 0, "the table at %p is not aligned", table);
    mpishm_info info;
    CHECK(mpishm_query(table, &info) == 0 && (info.shared_bytes > 0) == share,
          "the table is %s", share ? "not shared" : "shared");
    free(table);
}

int main(int argc, char **argv)
{
    int aligned = 1, foreign = 0, share = 1;
    size_t bytes = 64 * MiB + 100;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--expect") == 0 && i + 1 < argc)
            aligned = strcmp(argv[++i], "aligned") == 0;
        else if (strcmp(argv[i], "--bytes") == 0 && i + 1 < argc)
            bytes = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--foreign") == 0)
            foreign = 1;
        else if (strcmp(argv[i], "--no-share") == 0)
            share = 0;
    }
    void *small = small_block(MiB);
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    CHECK(foreign || (uintptr_t)small % 4096 == 16,
          "malloc(1 MiB - 1), below the threshold, moved to %p", small);
    free(small);
    for (size_t i = 0; i < sizeof entries / sizeof *entries; i++)
        check_entry(&entries[i], bytes, aligned, foreign);
    check_broadcast(bytes, aligned, share);
    int total = 0;
    MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0 && total == 0)
        printf("align_check: passed (%zu-byte blocks %s on every rank)\n", bytes,
               aligned ? "at 0 modulo 2 MiB" : "where the allocator put them");
    MPI_Finalize();
    return total != 0;
}
