/* Reading /proc/self/maps (src/procmaps.c): is a range private writable memory? */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "procmaps.h"
#include "self_maps.h"

static size_t page;

static void setup(void) { page = (size_t)sysconf(_SC_PAGESIZE); }

TestSuite(procmaps, .init = setup);

static int writable(const void *p, size_t len)
{
    return procmaps_private_writable((uintptr_t)p, (uintptr_t)p + len);
}

static char *map(size_t len, int prot, int flags)
{
    char *p = mmap(NULL, len, prot, flags | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(p, MAP_FAILED);
    return p;
}

Test(procmaps, malloced_block)
{
    char *p = malloc(1000);
    cr_assert_not_null(p);
    cr_expect_eq(writable(p, 1000), 1);
    cr_expect_eq(writable(p + 10, 1), 1);
    free(p);
    char *big = malloc(4 << 20); /* an mmapped chunk */
    cr_assert_not_null(big);
    cr_expect_eq(writable(big, 4 << 20), 1);
    free(big);
}

static char static_array[100000];

Test(procmaps, static_array)
{
    cr_expect_eq(writable(static_array, sizeof static_array), 1);
}

Test(procmaps, string_literal)
{
    static const char text[] = "a read-only string in .rodata";
    cr_expect_eq(writable(text, sizeof text), 0);
    cr_expect_eq(writable("literal", 8), 0);
}

Test(procmaps, code)
{
    cr_expect_eq(writable((const void *)(uintptr_t)&setup, 16), 0);
}

Test(procmaps, unmapped_range)
{
    char *p = map(2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    cr_expect_eq(writable(p, 2 * page), 1, "mapped: yes");
    cr_assert_eq(munmap(p, 2 * page), 0);
    cr_expect_eq(writable(p, 2 * page), 0, "unmapped: no");
    cr_expect_eq(writable(p + page, 1), 0);
}

Test(procmaps, range_running_past_the_mapping)
{
    char *p = map(3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    cr_assert_eq(munmap(p + 2 * page, page), 0);
    cr_expect_eq(writable(p, 2 * page), 1);
    cr_expect_eq(writable(p, 2 * page + 1), 0, "one byte too far");
    cr_expect_eq(writable(p + page, 2 * page), 0);
    munmap(p, 2 * page);
}

Test(procmaps, hole_in_the_middle)
{
    char *p = map(3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    cr_assert_eq(munmap(p + page, page), 0);
    cr_expect_eq(writable(p, page), 1);
    cr_expect_eq(writable(p + 2 * page, page), 1);
    cr_expect_eq(writable(p, 3 * page), 0, "a hole between two mappings");
    munmap(p, 3 * page);
}

Test(procmaps, shared_mapping)
{
    char *p = map(2 * page, PROT_READ | PROT_WRITE, MAP_SHARED);
    cr_expect_eq(writable(p, 2 * page), 0);
    cr_expect_eq(writable(p + 100, 10), 0);
    munmap(p, 2 * page);
}

Test(procmaps, read_only_mapping)
{
    char *p = map(2 * page, PROT_READ, MAP_PRIVATE);
    cr_expect_eq(writable(p, 2 * page), 0);
    munmap(p, 2 * page);
}

Test(procmaps, two_adjacent_private_mappings)
{
    /* one rw-p mapping split in two by a different madvise flag: two lines, same rights */
    char *p = map(4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    cr_assert_eq(madvise(p + 2 * page, 2 * page, MADV_DONTFORK), 0);
    cr_assert_eq(maps_lines((uintptr_t)p, (uintptr_t)p + 4 * page), 2, "the kernel split it");
    cr_expect_eq(writable(p, 4 * page), 1);
    cr_expect_eq(writable(p + page, 2 * page), 1, "across the boundary");
    munmap(p, 4 * page);
}

Test(procmaps, private_then_read_only_or_shared)
{
    char *p = map(4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    cr_assert_eq(mprotect(p + 2 * page, page, PROT_READ), 0);
    cr_expect_eq(writable(p, 2 * page), 1);
    cr_expect_eq(writable(p, 3 * page), 0, "runs into a read-only page");
    cr_expect_eq(writable(p + page, 3 * page), 0, "across it");
    cr_expect_eq(writable(p + 3 * page, page), 1);
    char *s = mmap(p + 3 * page, page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED |
                   MAP_ANONYMOUS, -1, 0);
    cr_assert_eq(s, p + 3 * page);
    cr_expect_eq(writable(p + 3 * page, page), 0, "now shared");
    munmap(p, 4 * page);
}

Test(procmaps, main_thread_stack)
{
    if (main_stack_is_valgrinds())
        cr_skip_test("valgrind's stack for the main thread is not [stack]");
    volatile char local[64];
    local[0] = 1;
    cr_expect_eq(writable((const void *)local, sizeof local), 0);
}

static int not_a_stack(const void *p, size_t len)
{
    return procmaps_not_a_stack((uintptr_t)p, (uintptr_t)p + len);
}

static void *thread_local_check(void *arg)
{
    (void)arg;
    volatile char local[64];
    local[0] = 1;
    intptr_t bits = writable((const void *)local, sizeof local);
    bits |= not_a_stack((const void *)local, sizeof local) << 1;
    return (void *)bits;
}

Test(procmaps, other_thread_stack)
{
    /* A mark may name a thread's stack (the application's promise); a selection without a
     * mark (MPISHM_AUTO, MPISHM_SITES) must not: glibc's guard page below it tells. */
    pthread_t t;
    void *result;
    cr_assert_eq(pthread_create(&t, NULL, thread_local_check, NULL), 0);
    cr_assert_eq(pthread_join(t, &result), 0);
    cr_expect_eq((intptr_t)result & 1, 1, "private writable");
    cr_expect_eq((intptr_t)result & 2, 0, "but a stack");
}

Test(procmaps, thread_stack_without_guard)
{
    /* an application may give a thread no guard page: its own stack is still known */
    pthread_attr_t attr;
    pthread_t t;
    void *result;
    cr_assert_eq(pthread_attr_init(&attr), 0);
    cr_assert_eq(pthread_attr_setguardsize(&attr, 0), 0);
    cr_assert_eq(pthread_create(&t, &attr, thread_local_check, NULL), 0);
    cr_assert_eq(pthread_join(t, &result), 0);
    pthread_attr_destroy(&attr);
    cr_expect_eq((intptr_t)result & 2, 0, "a stack without a guard page");
}

Test(procmaps, not_a_stack)
{
    volatile char local[64];
    local[0] = 1;
    cr_expect_eq(not_a_stack((const void *)local, sizeof local), 0, "the main stack");
    char *big = malloc(4 << 20), *small = malloc(1000);
    cr_assert(big && small);
#ifndef __SANITIZE_ADDRESS__ /* AddressSanitizer's heap sits among inaccessible mappings */
    cr_expect_eq(not_a_stack(big, 4 << 20), 1, "an mmapped malloc chunk");
    cr_expect_eq(not_a_stack(small, 1000), 1, "a heap block");
#endif
    free(big), free(small);
    static char data[1 << 16];
    cr_expect_eq(not_a_stack(data, sizeof data), 1, "static data");
    /* a mapping right above an inaccessible one looks like a thread stack */
    char *p = map(3 * page, PROT_NONE, MAP_PRIVATE);
    cr_assert_eq(mprotect(p + page, 2 * page, PROT_READ | PROT_WRITE), 0);
    cr_expect_eq(writable(p + page, 2 * page), 1);
    cr_expect_eq(not_a_stack(p + page, 2 * page), 0, "above a guard page");
    cr_assert_eq(mprotect(p, page, PROT_READ), 0);
    cr_expect_eq(not_a_stack(p + page, 2 * page), 1, "above a readable page");
    munmap(p, 3 * page);
}

/* What the report's content check may watch: readable, not a stack, read-only allowed (strict
 * mode maps shared pages read-only); and what it may still read at the end: readable. */
Test(procmaps, readable_and_not_a_stack)
{
    volatile char local[64];
    local[0] = 1;
    const void *l = (const void *)local;
    cr_expect_eq(procmaps_readable_not_a_stack((uintptr_t)l, (uintptr_t)l + 64), 0, "main stack");
    cr_expect_eq(procmaps_readable((uintptr_t)l, (uintptr_t)l + 64), 1, "but readable");
    char *p = map(3 * page, PROT_READ, MAP_PRIVATE);
    cr_assert_eq(mprotect(p + 2 * page, page, PROT_NONE), 0);
    cr_expect_eq(procmaps_readable_not_a_stack((uintptr_t)p, (uintptr_t)p + 2 * page), 1,
                 "read-only private memory");
    cr_expect_eq(not_a_stack(p, 2 * page), 0, "which the stricter test refuses");
    cr_expect_eq(procmaps_readable((uintptr_t)p, (uintptr_t)p + 3 * page), 0, "a PROT_NONE page");
    cr_expect_eq(procmaps_readable_not_a_stack((uintptr_t)p + page, (uintptr_t)p + 3 * page), 0);
    munmap(p, 3 * page);
}

Test(procmaps, long_map_file)
{
    /* 600 alternating mappings make /proc/self/maps far longer than the reader's buffer */
    enum { N = 600 };
    char *p = map(N * page, PROT_NONE, MAP_PRIVATE);
    for (int i = 0; i < N; i += 2)
        cr_assert_eq(mprotect(p + (size_t)i * page, page, PROT_READ | PROT_WRITE), 0);
    cr_assert_geq(maps_lines((uintptr_t)p, (uintptr_t)p + N * page), N);
    int good = 0, bad = 0;
    for (int i = 0; i < N; i += 2) {
        good += writable(p + (size_t)i * page, page);
        bad += writable(p + (size_t)i * page, page + 1);
        bad += writable(p + (size_t)(i + 1) * page, 1);
    }
    cr_expect_eq(good, N / 2, "every writable page found");
    cr_expect_eq(bad, 0, "no PROT_NONE page taken for writable");
    munmap(p, N * page);
}

Test(procmaps, readable_ranges_read_once)
{
    char *p = map(3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    cr_assert_eq(mprotect(p + page, page, PROT_NONE), 0);
    procmaps_range *r;
    size_t n = procmaps_readable_ranges(&r);
    cr_assert(n > 0 && r);
    uintptr_t a = (uintptr_t)p;
    cr_expect(procmaps_in_ranges(r, n, a, a + page), "the first page");
    cr_expect(procmaps_in_ranges(r, n, a + 2 * page, a + 3 * page), "the last page");
    cr_expect(!procmaps_in_ranges(r, n, a, a + 3 * page), "not across the PROT_NONE page");
    cr_expect(!procmaps_in_ranges(r, n, a + page, a + page + 1), "nor in it");
    for (size_t i = 1; i < n; i++)
        cr_expect(r[i - 1].hi < r[i].lo, "sorted, adjacent runs merged");
    free(r);
    munmap(p, 3 * page);
}
