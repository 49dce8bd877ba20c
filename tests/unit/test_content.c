/* Report mode's content check (src/content.c): the hash, and copies counted as unchanged,
 * written or unchecked at their call site when their life ends. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "content.h"
#include "procmaps.h"

static void setup(void) { content_reset(); }

TestSuite(content, .init = setup);

static content_counts counts(int site)
{
    content_counts c;
    content_site_counts(site, &c);
    return c;
}

Test(content, hash_sees_every_bit_at_every_length)
{
    unsigned char buf[300];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 37 + 11);
    for (size_t n = 0; n <= sizeof buf; n += n < 140 ? 1 : 53) {
        uint64_t h = content_hash(buf, n);
        cr_expect_eq(content_hash(buf, n), h, "not deterministic at length %zu", n);
        for (size_t i = 0; i < n; i++)
            for (int bit = 0; bit < 8; bit += 3) {
                buf[i] ^= (unsigned char)(1u << bit);
                cr_expect_neq(content_hash(buf, n), h, "bit %d of byte %zu of %zu unseen", bit, i, n);
                buf[i] ^= (unsigned char)(1u << bit);
            }
    }
}

Test(content, hash_sees_length_and_swapped_words)
{
    static uint64_t zeros[64], words[64];
    cr_expect_neq(content_hash(zeros, 64), content_hash(zeros, 72));
    cr_expect_neq(content_hash(zeros, 0), content_hash(zeros, 8));
    for (int i = 0; i < 64; i++)
        words[i] = (uint64_t)i * 0x0101010101010101ull;
    uint64_t h = content_hash(words, sizeof words);
    uint64_t t = words[3]; /* two words of one lane, swapped */
    words[3] = words[11], words[11] = t;
    cr_expect_neq(content_hash(words, sizeof words), h);
}

Test(content, unchanged_and_written_copies)
{
    static char a[10000], b[5000];
    memset(a, 1, sizeof a);
    content_watch((uintptr_t)a, sizeof a, 3);
    content_watch((uintptr_t)b, sizeof b, 4);
    cr_expect(content_watching());
    content_end((uintptr_t)a, sizeof a, 1); /* the next broadcast into it */
    b[4999] = 7;
    content_end((uintptr_t)b + 100, 1, 1); /* any overlap ends the copy (a free inside it) */
    cr_expect(!content_watching());
    cr_expect_eq(counts(3).unchanged, 1);
    cr_expect_eq(counts(3).written, 0);
    cr_expect_eq(counts(4).written, 1);
    cr_expect_eq(counts(4).unchanged, 0);
    content_end((uintptr_t)a, sizeof a, 1); /* no copy left: nothing counted twice */
    cr_expect_eq(counts(3).unchanged, 1);
}

Test(content, only_overlapping_copies_end)
{
    static char buf[3][4096];
    for (int i = 0; i < 3; i++)
        content_watch((uintptr_t)buf[i], sizeof buf[i], i);
    content_end((uintptr_t)buf[1], sizeof buf[1], 1);
    cr_expect_eq(counts(1).unchanged, 1);
    cr_expect_eq(counts(0).unchanged + counts(2).unchanged, 0);
    content_end((uintptr_t)buf[0] + 4096, 0, 1); /* just past the first: touches none */
    cr_expect_eq(counts(0).unchanged, 0);
    content_end_all();
    cr_expect_eq(counts(0).unchanged, 1);
    cr_expect_eq(counts(2).unchanged, 1);
}

Test(content, not_watched_without_a_site_or_bytes)
{
    static char a[100];
    content_watch((uintptr_t)a, sizeof a, -1);
    content_watch((uintptr_t)a, 0, 2);
    cr_expect(!content_watching());
    content_site_counts(-1, &(content_counts){0});
}

Test(content, a_full_table_counts_unchecked)
{
    static char a[CONTENT_MAX + 1];
    for (int i = 0; i <= CONTENT_MAX; i++)
        content_watch((uintptr_t)&a[i], 1, 5);
    cr_expect_eq(counts(5).unchecked, 1);
    content_end_all();
    cr_expect_eq(counts(5).unchanged, CONTENT_MAX);
}

Test(content, memory_gone_at_the_end_is_not_read)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(p, MAP_FAILED);
    content_watch((uintptr_t)p, 2 * page, 6);
    syscall(SYS_munmap, p + page, page); /* past every hook: only the map knows */
    cr_expect(!procmaps_readable((uintptr_t)p, (uintptr_t)p + 2 * page));
    content_end_all(); /* must not fault */
    cr_expect_eq(counts(6).unchecked, 1);
    cr_expect_eq(counts(6).unchanged + counts(6).written, 0);
    munmap(p, page);
}

Test(content, a_copy_partly_gone_is_not_read_at_a_hook)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(p, MAP_FAILED);
    content_watch((uintptr_t)p, 4 * page, 7);
    cr_assert_eq(mprotect(p + 2 * page, 2 * page, PROT_NONE), 0);
    content_end((uintptr_t)p, 2 * page, 0); /* munmap of the first half: must not fault */
    cr_expect_eq(counts(7).unchecked, 1);
    content_watch((uintptr_t)p, 2 * page, 8);
    content_end((uintptr_t)p, page, 1); /* a mapped range inside the copy: the rest is asked */
    cr_expect_eq(counts(8).unchanged, 1);
    munmap(p, 4 * page);
}
