/* Aligned large allocations (src/align.c), linked into this executable as the preloaded
 * library interposes them in an application: placement, content, and the memory a large
 * calloc costs against glibc's own calloc (fresh mmapped chunks, and heap chunks, fresh or
 * written before). The default options: MPISHM_THRESHOLD 1M. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "align.h"
#include "allocator.h"

#define MiB ((size_t)1 << 20)
#define HUGE (2 * MiB)

extern void *__libc_calloc(size_t, size_t);

/* Under valgrind or a sanitizer the allocator is theirs: glibc's placement, what it refuses and
 * RSS mean nothing there. */
static void needs_glibc(void)
{
    if (!allocator_is_glibc())
        cr_skip_test("the allocator is not glibc's (valgrind, a sanitizer)");
}

static long rss_kib(void)
{
    char buf[128] = {0};
    int fd = open("/proc/self/statm", O_RDONLY);
    ssize_t got = read(fd, buf, sizeof buf - 1);
    close(fd);
    long size = 0, resident = 0;
    cr_assert(got > 0 && sscanf(buf, "%ld %ld", &size, &resident) == 2);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* The process's peak resident memory (VmHWM), KiB. */
static long high_water_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    cr_assert_geq(kib, 0);
    return kib;
}

static size_t nonzero(const unsigned char *p, size_t n)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += p[i] != 0;
    return bad;
}

Test(align, large_blocks_start_on_2mib_small_ones_stay)
{
    needs_glibc();
    cr_expect_eq(align_from, MiB, "the threshold's default");
    void *big = malloc(64 * MiB + 1), *mid = malloc(3 * MiB / 2), *small = malloc(MiB - 1);
    cr_expect_eq((uintptr_t)big % HUGE, 0, "64 MiB at %p", big);
    cr_expect_eq((uintptr_t)mid % 4096, 0, "1.5 MiB at %p: a page boundary", mid);
    cr_expect_neq((uintptr_t)small % 4096, 0, "below the threshold at %p: not moved", small);
    void *q;
    cr_expect_eq(posix_memalign(&q, 3, 4 * MiB), EINVAL, "a bad alignment is still refused");
    free(big), free(mid), free(small);
}

Test(align, fresh_calloc_costs_no_more_memory_than_glibcs)
{
    needs_glibc();
    long before = rss_kib();
    unsigned char *ours = calloc(8, 8 * MiB);
    long grew = rss_kib() - before;
    before = rss_kib();
    unsigned char *plain = __libc_calloc(8, 8 * MiB);
    long plain_grew = rss_kib() - before;
    cr_expect_eq((uintptr_t)ours % HUGE, 0);
    cr_expect_leq(grew, plain_grew + 64, "64 MiB calloc: %ld KiB, glibc's %ld KiB", grew, plain_grew);
    cr_expect_eq(nonzero(ours, 64 * MiB), 0);
    free(ours), free(plain);
}

/* The heap's chunks (here: every block, as after glibc raised its mmap threshold): pages
 * written before are cleared, fresh ones left untouched. */
Test(align, heap_calloc_clears_what_was_written_and_no_more)
{
    needs_glibc();
    mallopt(M_MMAP_THRESHOLD, 256 * MiB);
    mallopt(M_TRIM_THRESHOLD, 1024 * MiB);
    unsigned char *dirty = malloc(16 * MiB);
    memset(dirty, 0xab, 16 * MiB);
    free(dirty); /* back into the heap's top, its pages still written */
    unsigned char *c = calloc(1, 12 * MiB);
    cr_assert_eq(glibc_mmapped(c), 0, "a heap chunk");
    cr_expect_eq((uintptr_t)c % HUGE, 0);
    cr_expect_eq(nonzero(c, 12 * MiB), 0, "the written pages are cleared");
    long before = rss_kib();
    unsigned char *fresh = calloc(1, 24 * MiB); /* from the top, beyond what was written */
    long grew = rss_kib() - before;
    before = rss_kib();
    unsigned char *plain = __libc_calloc(1, 24 * MiB);
    long plain_grew = rss_kib() - before;
    cr_expect_leq(grew, plain_grew + 4096, "24 MiB heap calloc: %ld KiB, glibc's %ld KiB", grew,
                  plain_grew);
    cr_expect_eq(nonzero(fresh, 24 * MiB), 0);
    free(c), free(fresh), free(plain);
}

Test(align, realloc_of_a_large_block_never_holds_two)
{
    needs_glibc();
    /* a small block crossing the threshold moves once, into an aligned block */
    unsigned char *p = malloc(64 * 1024);
    memset(p, 7, 64 * 1024);
    p = align_realloc(p, 4 * MiB);
    cr_assert(p);
    cr_expect_eq((uintptr_t)p % HUGE, 0, "crossed into an aligned block at %p", (void *)p);
    cr_expect_eq(p[64 * 1024 - 1], 7);
    /* grown step by step, every step's new part written: the peak stays the block's size
     * (mremap moves its pages), never old and new copies at once */
    long before = rss_kib();
    size_t size = 4 * MiB;
    for (; size < 128 * MiB; size += 4 * MiB) {
        p = align_realloc(p, size + 4 * MiB);
        cr_assert(p, "realloc to %zu", size + 4 * MiB);
        memset(p + size, (int)(size >> 20), 4 * MiB);
    }
    long peak = high_water_kib() - before;
    cr_expect_lt(peak, (long)(size / 1024) * 5 / 4, "peak %ld KiB for a %zu KiB block", peak,
                 size / 1024);
    cr_expect_eq(p[64 * 1024 - 1], 7, "content kept");
    cr_expect_eq(p[size - 1], (unsigned char)((size - 4 * MiB) >> 20));
    free(p);
}
