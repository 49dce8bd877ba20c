/* Node copies in huge pages: a marked table broadcast on one node, then what each rank's
 * mapping of it is made of, from /proc/self/smaps: how much is mapped with one page-table
 * entry per 2 MiB (ShmemPmdMapped), and the page tables that the rest needs. Then one rank
 * refills its table and broadcasts again (the rewrite in place: the same mappings), and
 * one rank writes into its copy (private to it).
 *   huge_check [--bytes N[M]] [--shift S] [--shift-step P] [--alloc malloc|memalign]
 *              --expect all|same|none|fallback
 * The buffer is the block + S + rank * P bytes (P: ranks at other offsets modulo 2 MiB).
 * --expect all: every rank's whole huge pages PMD-mapped, page tables only for the partial
 * huge pages at its ends (none for a table in whole huge pages: the node's below 1/10,000
 * of the table); same: only the ranks at the lowest rank's offset modulo 2 MiB,
 * the others at 4 KiB; none: no rank, page tables about 1/512 of the table per rank;
 * fallback: the data only (MPI_Bcast delivered it).
 * Prints "huge_check: page tables R bytes for N ranks (x of a copy), PMD-mapped on K ranks". */
#define _GNU_SOURCE
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "mpishm.h"

#define HUGE_PAGE ((size_t)2 << 20)

static int rank, size, failures;

typedef struct mapping {
    size_t start, end;     /* the VMA that holds the address */
    size_t rss, pmd;       /* kB in smaps: Rss, ShmemPmdMapped + FilePmdMapped */
} mapping;

/* The smaps entry of the VMA that holds addr. */
static int mapping_of(const void *addr, mapping *m)
{
    FILE *f = fopen("/proc/self/smaps", "re");
    char line[512];
    int in = 0, found = 0;
    size_t kb;
    memset(m, 0, sizeof *m);
    while (f && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char c;
        if (sscanf(line, "%lx-%lx %c", &lo, &hi, &c) == 3 && strchr(line, '-') < strchr(line, ' ')) {
            in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
            if (in)
                m->start = lo, m->end = hi, found = 1;
        } else if (in && sscanf(line, "Rss: %zu kB", &kb) == 1) {
            m->rss = kb;
        } else if (in && (sscanf(line, "ShmemPmdMapped: %zu kB", &kb) == 1 ||
                          sscanf(line, "FilePmdMapped: %zu kB", &kb) == 1)) {
            m->pmd += kb;
        }
    }
    if (f)
        fclose(f);
    return found;
}

/* Page-table bytes the mapping needs with everything present: one 4 KiB page of entries
 * per 2 MiB region that holds 4 KiB-mapped pages, none for a PMD-mapped one. */
static size_t table_bytes(const mapping *m)
{
    size_t first = m->start / HUGE_PAGE, last = (m->end - 1) / HUGE_PAGE;
    size_t regions = last - first + 1, pmd_regions = m->pmd / (HUGE_PAGE >> 10);
    return (regions - pmd_regions) * 4096;
}

static size_t parse_bytes(const char *s)
{
    char *end;
    size_t n = strtoull(s, &end, 0);
    return *end == 'M' ? n << 20 : n;
}

/* Every byte of buf[0..n) is round r's pattern; the first wrong one, or -1. */
static long first_wrong(const unsigned char *buf, size_t n, int round)
{
    for (size_t i = 0; i < n; i++)
        if (buf[i] != pattern_byte(i, round))
            return (long)i;
    return -1;
}

int main(int argc, char **argv)
{
    size_t bytes = 64 << 20, shift = 0, step = 0;
    const char *expect = "all", *alloc = "malloc";
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--bytes"))
            bytes = parse_bytes(argv[i + 1]);
        else if (!strcmp(argv[i], "--shift"))
            shift = parse_bytes(argv[i + 1]);
        else if (!strcmp(argv[i], "--shift-step"))
            step = parse_bytes(argv[i + 1]);
        else if (!strcmp(argv[i], "--alloc"))
            alloc = argv[i + 1];
        else if (!strcmp(argv[i], "--expect"))
            expect = argv[i + 1];
    }
    size_t extra = shift + (size_t)rank * step;
    unsigned char *block = NULL;
    if (!strcmp(alloc, "memalign"))
        CHECK(posix_memalign((void **)&block, HUGE_PAGE, bytes + extra) == 0, "posix_memalign");
    else
        block = malloc(bytes + extra);
    unsigned char *table = block + extra;
    CHECK(mpishm_mark_readonly(table, bytes) == 0, "mark");
    if (rank == 0)
        pattern_fill(table, bytes, 1);
    MPI_Bcast(table, (int)bytes, MPI_BYTE, 0, MPI_COMM_WORLD);
    mpishm_stats st = {0};
    mpishm_get_stats(&st);
    /* a receiver's mapping (the root's also frees its own pages) */
    double map_ms = rank ? 1e3 * st.map_seconds : 0, slowest = 0;
    MPI_Reduce(&map_ms, &slowest, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    if (rank == 0 && size > 1)
        printf("huge_check: mapping %.3f ms on the slowest receiver\n", slowest);
    long bad = first_wrong(table, bytes, 1);
    CHECK(bad < 0, "byte %ld of the table is wrong", bad);

    if (!strcmp(expect, "fallback")) { /* MPI_Bcast delivered it: the data is all there is */
        int total = 0;
        MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        if (rank == 0)
            printf("huge_check: %s\n", total ? "FAILED" : "passed");
        MPI_Finalize();
        return total ? 1 : 0;
    }
    mapping m;
    size_t mapped_from = ((uintptr_t)table + 4095) & ~(size_t)4095;
    CHECK(mapping_of((void *)mapped_from, &m), "no mapping at %p", (void *)mapped_from);
    /* the whole huge pages inside this rank's buffer */
    size_t lo = ((uintptr_t)table + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    size_t hi = ((uintptr_t)table + bytes) & ~(HUGE_PAGE - 1);
    size_t whole = hi > lo ? hi - lo : 0;
    /* the lowest rank's offset modulo 2 MiB is the node copy's layout (one node here) */
    size_t my_mod = (uintptr_t)table % HUGE_PAGE, first_mod = my_mod;
    MPI_Bcast(&first_mod, sizeof first_mod, MPI_BYTE, 0, MPI_COMM_WORLD);
    int want_pmd = !strcmp(expect, "all") || (!strcmp(expect, "same") && my_mod == first_mod);
    if (want_pmd)
        CHECK(m.pmd << 10 == whole, "%zu kB PMD-mapped, %zu kB of whole huge pages", m.pmd,
              whole >> 10);
    else
        CHECK(m.pmd == 0, "%zu kB PMD-mapped, expected 4 KiB pages", m.pmd);
    CHECK(m.rss << 10 == m.end - m.start, "Rss %zu kB of %zu kB: not all present", m.rss,
          (m.end - m.start) >> 10);

    /* PMD-mapped, only the partial huge pages at the ends need page tables (4 KiB each) */
    unsigned long long mine = table_bytes(&m), sum = 0, edges = 0;
    if (want_pmd && whole) {
        edges = 4096 * ((lo > m.start) + (hi < m.end));
        CHECK(mine == edges, "page tables %llu bytes, expected %llu", mine, edges);
    }
    int pmd_ranks = 0, mine_pmd = m.pmd > 0;
    MPI_Allreduce(MPI_IN_PLACE, &edges, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
    MPI_Reduce(&mine, &sum, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
    MPI_Reduce(&mine_pmd, &pmd_ranks, 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        double share = (double)sum / (double)bytes;
        printf("huge_check: page tables %llu bytes for %d ranks (%.6f of a copy), PMD-mapped "
               "on %d ranks\n", sum, size, share, pmd_ranks);
        if (!strcmp(expect, "all") && edges == 0) /* a table in whole huge pages */
            CHECK(share < 1e-4, "page tables %.6f of a copy, not below 1/10,000", share);
        if (!strcmp(expect, "none"))
            CHECK(share > 0.9 * size / 512.0, "page tables %.6f of a copy at 4 KiB pages", share);
    }

    /* The root's new data into the same copy. */
    if (rank == 0)
        pattern_fill(table, bytes, 2);
    MPI_Bcast(table, (int)bytes, MPI_BYTE, 0, MPI_COMM_WORLD);
    bad = first_wrong(table, bytes, 2);
    CHECK(bad < 0, "after the refill, byte %ld of the table is wrong", bad);
    mapping again;
    mapping_of((void *)mapped_from, &again);
    if (rank != 0) /* (the root refilled its own pages: they are private) */
        CHECK(again.pmd == m.pmd, "after the refill, %zu kB PMD-mapped, before %zu", again.pmd,
              m.pmd);

    /* A write stays private to its writer: one 4 KiB page copied, the rest still huge. */
    size_t at = lo > (uintptr_t)table ? lo - (uintptr_t)table + 100 : bytes / 2;
    if (rank == size - 1)
        table[at] ^= 0xff;
    MPI_Barrier(MPI_COMM_WORLD);
    unsigned char want = pattern_byte(at, 2) ^ (rank == size - 1 ? 0xff : 0);
    CHECK(table[at] == want, "byte %zu: %d, expected %d", at, table[at], want);
    if (rank == size - 1 && want_pmd && whole) {
        mapping after;
        mapping_of((void *)mapped_from, &after);
        CHECK(after.pmd << 10 == whole - HUGE_PAGE, "after a write, %zu kB PMD-mapped, "
              "expected %zu", after.pmd, (whole - HUGE_PAGE) >> 10);
    }

    int total = 0;
    MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("huge_check: %s\n", total ? "FAILED" : "passed");
    MPI_Finalize(); /* (the table still shared: the report counts its page tables) */
    free(block);
    return total ? 1 : 0;
}
