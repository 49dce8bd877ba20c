/* The public API (src/api.c) and the end of a marked array's life (src/release.c: free and
 * realloc are interposed in this executable as they are in an application). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MPISHM_NO_WEAK /* call the functions themselves, not the header's weak wrappers */
#include "mpishm.h"

#include "allocator.h"
#include "content.h"
#include "layout.h"
#include "lifetime.h"
#include "log.h"
#include "region.h"
#include "segment.h"
#include "self_maps.h"
#include "stats.h"

static size_t page;

static void setup(void)
{
    page = (size_t)sysconf(_SC_PAGESIZE);
    region_clear();
}

TestSuite(api, .init = setup, .fini = region_clear);

#define BLOCK (64 * 1024) /* below glibc's mmap threshold: a heap chunk */

static void *heap_block(void)
{
    void *p = malloc(BLOCK);
    cr_assert_not_null(p);
    memset(p, 0xab, BLOCK);
    return p;
}

/* Map the whole pages of [buf, buf+bytes) from a fresh memfd segment, as a broadcast would,
 * and record it in the registry. The segment holds 0x5a bytes, or with `same` the buffer's
 * current content. Returns the segment's inode. */
static unsigned long share(void *buf, size_t bytes, layout *l, int same)
{
    segment s;
    layout_compute(l, (uintptr_t)buf, bytes, page);
    cr_assert_gt(l->map_len, 0);
    cr_assert_eq(seg_create(&s, SEG_MEMFD, l->seg_size), 0);
    cr_assert_eq(seg_map_shared(&s, 1), 0);
    if (same)
        memcpy((char *)s.map + l->offset, buf, bytes);
    else
        memset(s.map, 0x5a, l->seg_size);
    cr_assert_eq(seg_map_private(&s, (void *)l->map_start, l->map_len, l->map_seg_off, 1), 0);
    unsigned long dev, ino;
    cr_assert_eq(seg_identity(&s, &dev, &ino), 0);
    seg_close(&s);
    cr_assert_eq(region_set_shared((uintptr_t)buf, l->map_len, dev, ino), 0);
    cr_assert_eq(maps_inode((void *)l->map_start), (long)ino);
    return ino;
}

Test(api, invalid_arguments)
{
    char *p = heap_block();
    cr_expect_eq(mpishm_mark_readonly(NULL, 10), MPISHM_EINVAL);
    cr_expect_eq(mpishm_mark_readonly(p, 0), MPISHM_EINVAL);
    cr_expect_eq(mpishm_mark_readonly((void *)(UINTPTR_MAX - 10), 100), MPISHM_EINVAL);
    cr_expect_eq(mpishm_mark_readonly(p, SIZE_MAX), MPISHM_EINVAL, "wraps around");
    cr_expect_eq(region_count(), 0, "nothing marked");
    free(p);
}

Test(api, memory_that_is_not_private_writable)
{
    static const char text[] = "a string in .rodata, not the caller's to share";
    cr_expect_eq(mpishm_mark_readonly(text, sizeof text), MPISHM_EBADMEM);
    cr_expect_eq(mpishm_mark_readonly("literal", 8), MPISHM_EBADMEM);

    char *u = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(u, MAP_FAILED);
    cr_assert_eq(munmap(u + page, page), 0);
    cr_expect_eq(mpishm_mark_readonly(u, 2 * page), MPISHM_EBADMEM, "half unmapped");
    cr_assert_eq(munmap(u, page), 0);
    cr_expect_eq(mpishm_mark_readonly(u, page), MPISHM_EBADMEM, "unmapped");

    char *s = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(s, MAP_FAILED);
    cr_expect_eq(mpishm_mark_readonly(s, page), MPISHM_EBADMEM, "shared mapping");
    munmap(s, page);

    char *r = mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(r, MAP_FAILED);
    cr_expect_eq(mpishm_mark_readonly(r, page), MPISHM_EBADMEM, "read-only mapping");
    munmap(r, page);

    volatile char local[128];
    local[0] = 0;
    if (!main_stack_is_valgrinds())
        cr_expect_eq(mpishm_mark_readonly((const void *)local, sizeof local), MPISHM_EBADMEM,
                     "the main stack");
    cr_expect_eq(region_count(), 0);
}

Test(api, mark_query_unmark)
{
    char *p = heap_block();
    cr_assert_eq(mpishm_mark_readonly(p, BLOCK), 0);
    cr_expect_eq(region_count(), 1);

    mpishm_info info;
    memset(&info, 0x77, sizeof info);
    cr_assert_eq(mpishm_query(p + 100, &info), 0);
    cr_expect_eq(info.base, p);
    cr_expect_eq(info.bytes, BLOCK);
    cr_expect_eq(info.shared, 0);
    cr_expect_eq(info.shared_bytes, 0);
    cr_expect_eq(info.segment_inode, 0);
    cr_expect_eq(info.broadcasts, 0);
    cr_assert_eq(mpishm_query(p + BLOCK - 1, &info), 0);
    cr_expect_eq(info.base, p, "the last byte");

    cr_assert_eq(mpishm_query(p + BLOCK, &info), 0);
    cr_expect_null(info.base, "just past the end");
    cr_expect_eq(info.bytes, 0);
    cr_assert_eq(mpishm_query(p - 1, &info), 0);
    cr_expect_null(info.base, "just before");
    cr_expect_eq(mpishm_query(NULL, &info), 0);
    cr_expect_null(info.base);
    cr_expect_eq(mpishm_query(p, NULL), MPISHM_EINVAL);

    cr_expect_eq(mpishm_unmark(p + 1), MPISHM_ENOTMARKED, "not the start");
    cr_expect_eq(mpishm_unmark(NULL), MPISHM_EINVAL);
    cr_expect_eq(region_count(), 1, "still marked");
    cr_expect_eq(mpishm_unmark(p), 0);
    cr_assert_eq(mpishm_query(p + 100, &info), 0);
    cr_expect_null(info.base, "unmarked");
    cr_expect_eq(region_count(), 0);
    cr_expect_eq(mpishm_unmark(p), MPISHM_ENOTMARKED, "twice");
    cr_expect_eq(((unsigned char *)p)[BLOCK / 2], 0xab, "content untouched");
    free(p);
}

Test(api, overlapping_marks)
{
    char *p = heap_block();
    cr_assert_eq(mpishm_mark_readonly(p, BLOCK), 0);
    cr_expect_eq(mpishm_mark_readonly(p, BLOCK), MPISHM_EOVERLAP, "the same again");
    cr_expect_eq(mpishm_mark_readonly(p + 100, 1000), MPISHM_EOVERLAP, "a part");
    cr_expect_eq(mpishm_mark_readonly(p + BLOCK - 1, 1), MPISHM_EOVERLAP, "the last byte");
    cr_expect_eq(region_count(), 1);
    cr_assert_eq(mpishm_unmark(p), 0);

    cr_expect_eq(mpishm_mark_readonly(p, BLOCK / 2), 0, "two halves");
    cr_expect_eq(mpishm_mark_readonly(p + BLOCK / 2, BLOCK / 2), 0, "adjacent is fine");
    cr_expect_eq(region_count(), 2);
    free(p);
    cr_expect_eq(region_count(), 0, "free drops both");
}

Test(api, strerror_texts)
{
    const int codes[] = {MPISHM_SUCCESS,    MPISHM_EINVAL,  MPISHM_EOVERLAP,
                         MPISHM_ENOTMARKED, MPISHM_EBADMEM, MPISHM_ENOMEM,
                         MPISHM_ENOTLOADED, MPISHM_ESYSTEM, MPISHM_ENOTCONTIGUOUS};
    const size_t n = sizeof codes / sizeof codes[0];
    const char *unknown = mpishm_strerror(-1);
    cr_assert_not_null(unknown);
    cr_expect_not_null(strstr(unknown, "unknown"), "got \"%s\"", unknown);
    cr_expect_str_eq(mpishm_strerror(9), unknown);
    cr_expect_str_eq(mpishm_strerror(1000), unknown);
    for (size_t i = 0; i < n; i++) {
        const char *t = mpishm_strerror(codes[i]);
        cr_assert_not_null(t, "code %d", codes[i]);
        cr_expect_gt(strlen(t), 0);
        cr_expect_str_neq(t, unknown, "code %d has its own text", codes[i]);
        for (size_t j = 0; j < i; j++)
            cr_expect_str_neq(t, mpishm_strerror(codes[j]), "codes %d and %d", codes[i],
                              codes[j]);
    }
}

Test(api, stats_add_up_what_was_recorded)
{
    mpishm_stats before, after;
    cr_expect_eq(mpishm_get_stats(NULL), MPISHM_EINVAL);
    cr_assert_eq(mpishm_get_stats(&before), 0);
    stats_record(STAT_SHARED, 1000, 0.5, 0.25, 0.125);
    stats_record(STAT_SHARED, 24, 0.5, 0.25, 0.125);
    stats_record(STAT_DECLINED, 4096, 0.25, 9, 9); /* only its time counts */
    stats_record(STAT_FAILED, 4096, 0.25, 9, 9);
    cr_assert_eq(mpishm_get_stats(&after), 0);
    cr_expect_eq(after.shared - before.shared, 2);
    cr_expect_eq(after.declined - before.declined, 1);
    cr_expect_eq(after.failed - before.failed, 1);
    cr_expect_eq(after.bytes_shared - before.bytes_shared, 1024);
    cr_expect_float_eq(after.seconds - before.seconds, 1.5, 1e-12);
    cr_expect_float_eq(after.seed_seconds - before.seed_seconds, 0.5, 1e-12);
    cr_expect_float_eq(after.map_seconds - before.map_seconds, 0.25, 1e-12);
}

Test(api, verbose_errors_are_reported)
{
    cr_redirect_stderr();
    log_verbosity = 1;
    cr_expect_eq(mpishm_mark_readonly(NULL, 10), MPISHM_EINVAL);
    cr_expect_eq(mpishm_unmark((void *)0x1000), MPISHM_ENOTMARKED);
    log_verbosity = 0;
    cr_expect_eq(mpishm_mark_readonly(NULL, 20), MPISHM_EINVAL); /* quiet */
    char text[2048];
    size_t len = fread(text, 1, sizeof text - 1, cr_get_redirected_stderr());
    text[len] = '\0';
    cr_expect_not_null(strstr(text, "libmpishm[?]: mpishm_mark_readonly("), "got: %s", text);
    cr_expect_not_null(strstr(text, ", 10): invalid argument"), "got: %s", text);
    cr_expect_not_null(strstr(text, "mpishm_unmark(0x1000): no marked array starts"), "got: %s",
                       text);
    cr_expect_null(strstr(text, ", 20)"), "verbosity 0 says nothing: %s", text);
}

Test(api, free_removes_the_mark)
{
    char *p = heap_block();
    void *guard = malloc(64); /* keeps p off the top of the heap */
    cr_assert_eq(mpishm_mark_readonly(p, BLOCK), 0);
    free(p);
    cr_expect_eq(region_count(), 0);
    void *q = heap_block(); /* likely the same chunk again */
    cr_expect_eq(mpishm_mark_readonly(q, BLOCK), 0, "the address can be marked again");
    free(q);
    free(guard);
    cr_expect_eq(region_count(), 0);
}

Test(api, free_removes_a_mark_inside_the_block)
{
    char *p = heap_block();
    cr_assert_eq(mpishm_mark_readonly(p + 1000, 5000), 0);
    free(p);
    cr_expect_eq(region_count(), 0);
}

Test(api, free_removes_many_marks_inside_the_block)
{
    /* more marks than release.c takes in one batch */
    char *p = heap_block();
    for (int i = 0; i < 40; i++)
        cr_assert_eq(mpishm_mark_readonly(p + i * 1000, 500), 0, "mark %d", i);
    cr_assert_eq(region_count(), 40);
    free(p);
    cr_expect_eq(region_count(), 0);
}

Test(api, free_of_part_of_a_shared_array_keeps_the_rest)
{
    /* a mark reaching beyond the freed block: the pages outside it keep their content */
    unsigned char *a = heap_block(), *b = heap_block();
    void *guard = malloc(64);
    if (!(b > a && b - a < BLOCK + 64))
        cr_skip_test("the two blocks are not adjacent in the heap");
    size_t bytes = (size_t)(b + BLOCK - a);
    cr_assert_eq(mpishm_mark_readonly(a, bytes), 0);
    layout l;
    /* the segment holds what the memory holds: malloc's headers between the blocks too */
    unsigned long ino = share(a, bytes, &l, 1);
    uintptr_t from = ((uintptr_t)b + page - 1) & ~(uintptr_t)(page - 1);
    uintptr_t to = l.map_start + l.map_len;
    cr_assert_lt(from, to);
    cr_assert_eq(maps_inode((void *)from), (long)ino, "b's pages come from the segment");
    free(a);
    cr_expect_eq(region_count(), 0);
    int kept = 1;
    for (uintptr_t q = from; q < to; q++)
        kept &= *(unsigned char *)q == 0xab;
    cr_expect(kept, "b's pages still hold their content");
    cr_expect_eq(maps_inode((void *)from), 0, "as private memory");
    free(b);
    free(guard);
}

Test(api, free_leaves_other_marks)
{
    char *a = heap_block(), *b = heap_block();
    cr_assert_eq(mpishm_mark_readonly(b, BLOCK), 0);
    free(a);
    free(NULL);
    cr_expect_eq(region_count(), 1, "freeing another block keeps the mark");
    mpishm_info info;
    cr_assert_eq(mpishm_query(b, &info), 0);
    cr_expect_eq(info.base, b);
    free(b);
    cr_expect_eq(region_count(), 0);
}

Test(api, realloc_removes_the_mark_and_keeps_the_content)
{
    unsigned char *p = heap_block();
    cr_assert_eq(mpishm_mark_readonly(p, BLOCK), 0);
    unsigned char *q = realloc(p, 4 * BLOCK);
    cr_assert_not_null(q);
    cr_expect_eq(region_count(), 0);
    int same = 1;
    for (size_t i = 0; i < BLOCK; i++)
        same &= q[i] == 0xab;
    cr_expect(same, "content kept");
    free(q);
}

Test(api, unmark_a_shared_array_keeps_its_content)
{
    char *area = mmap(NULL, 5 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(area, MAP_FAILED);
    char *buf = area + 100;
    size_t bytes = 3 * page;
    cr_assert_eq(mpishm_mark_readonly(buf, bytes), 0);
    layout l;
    unsigned long ino = share(buf, bytes, &l, 0);

    mpishm_info info;
    cr_assert_eq(mpishm_query(buf + page, &info), 0);
    cr_expect_eq(info.base, buf);
    cr_expect_eq(info.shared, 1);
    cr_expect_eq(info.shared_bytes, l.map_len);
    cr_expect_eq(info.segment_inode, ino);
    cr_expect_eq(info.broadcasts, 1);

    cr_assert_eq(mpishm_unmark(buf), 0);
    cr_expect_eq(maps_inode((void *)l.map_start), 0, "private anonymous memory again");
    cr_expect_eq(maps_inode((void *)(l.map_start + l.map_len - 1)), 0);
    int kept = 1;
    for (size_t i = 0; i < l.map_len; i++)
        kept &= ((unsigned char *)l.map_start)[i] == 0x5a;
    cr_expect(kept, "content kept");
    cr_expect_eq(mpishm_query(buf, &info), 0);
    cr_expect_null(info.base);
    munmap(area, 5 * page);
}

Test(api, free_of_a_shared_array_drops_the_segment)
{
    char *p = heap_block();
    void *guard = malloc(64); /* keeps p's pages in the heap after free */
    cr_assert_eq(mpishm_mark_readonly(p, BLOCK), 0);
    layout l;
    unsigned long ino = share(p, BLOCK, &l, 0);
    free(p);
    cr_expect_eq(region_count(), 0);
    cr_expect_eq(maps_inode((void *)l.map_start), 0,
                 "the freed chunk's pages are no longer segment %lu's", ino);
    free(guard);
}

Test(api, munmap_forgets_the_mark_and_the_segment)
{
    size_t len = 8 * page;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(p, MAP_FAILED);
    cr_assert_eq(mpishm_mark_readonly(p + 100, len - 200), 0);
    layout l;
    share(p + 100, len - 200, &l, 0);
    cr_assert_eq(munmap(p, len), 0);
    cr_expect_eq(region_count(), 0, "the mark ended with the mapping");
    char *q = mmap(p, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                   -1, 0);
    cr_assert_eq(q, p, "the range is free again");
    cr_expect_eq(q[len / 2], 0, "new memory there reads zeros");
    cr_expect_eq(mpishm_mark_readonly(q, len), 0, "and can be marked");
    munmap(q, len);
}

Test(api, mremap_ends_the_mark_and_keeps_the_content)
{
    size_t len = 8 * page;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(p, MAP_FAILED);
    memset(p, 0x11, len);
    cr_assert_eq(mpishm_mark_readonly(p, len), 0);
    layout l;
    share(p, len, &l, 1);
    char *q = mremap(p, len, 4 * len, MREMAP_MAYMOVE);
    cr_assert_neq(q, MAP_FAILED);
    cr_expect_eq(region_count(), 0);
    cr_expect_eq(q[0], 0x11, "content kept");
    cr_expect_eq(q[len - 1], 0x11);
    q[4 * len - 1] = 1; /* grown past the old segment's end: no SIGBUS */
    cr_expect_eq(q[len], 0, "the new part is zero");
    munmap(q, 4 * len);
}

Test(api, any_alignment_and_length)
{
    char *p = heap_block();
    cr_expect_eq(mpishm_mark_readonly(p + 1, 4095), 0, "an odd address and length");
    mpishm_info info;
    cr_expect_eq(mpishm_query(p + 2000, &info), 0);
    cr_expect_eq(info.base, p + 1);
    cr_expect_eq(info.bytes, 4095);
    cr_expect_eq(mpishm_query(p, &info), 0);
    cr_expect_null(info.base, "the byte before is not in it");
    cr_expect_eq(mpishm_unmark(p + 2), MPISHM_ENOTMARKED, "unmark takes the array's start");
    cr_expect_eq(mpishm_unmark(p + 1), 0);
    cr_expect_eq(mpishm_query(NULL, &info), 0);
    cr_expect_null(info.base, "NULL is in no array");
    cr_expect_eq(mpishm_query(p, NULL), MPISHM_EINVAL);
    cr_expect_eq(mpishm_unmark(NULL), MPISHM_EINVAL);
    cr_expect_eq(mpishm_get_stats(NULL), MPISHM_EINVAL);
    cr_expect_not_null(mpishm_strerror(-12345));
    cr_expect_not_null(mpishm_strerror(1 << 30));
    free(p);
}

/* (align.c: a realloc that makes a block large lands on a 2 MiB boundary; a block already
 * large grows and shrinks as the allocator does it, content kept) */
Test(api, realloc_to_large_moves_into_an_aligned_block_with_the_content)
{
    unsigned char *p = malloc(1000);
    for (int i = 0; i < 1000; i++)
        p[i] = (unsigned char)i;
    p = realloc(p, 8 << 20);
    cr_assert_eq((uintptr_t)p % (2 << 20), 0);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(p[i], (unsigned char)i, "byte %d", i);
    memset(p, 7, 8 << 20);
    unsigned char *q = realloc(p, 32 << 20); /* growing: the allocator's (glibc: mremap) */
    cr_assert_not_null(q);
    cr_expect_eq(q[(8 << 20) - 1], 7);
    cr_expect_eq(q[0], 7);
    unsigned char *r = realloc(q, 4 << 20); /* shrinking: in place (glibc's) */
    cr_expect(r == q || !allocator_is_glibc());
    cr_expect_eq(r[(4 << 20) - 1], 7);
    free(r);
}


/* (lifetime.h: free() reacts only while a registry watches memory, told by one word) */
Test(api, the_registries_say_when_they_watch_memory)
{
    cr_expect_eq(lifetime_watchers, 0, "nothing marked, nothing watched");
    char *p = calloc(1, BLOCK); /* (hashed below: initialised) */
    cr_assert_eq(mpishm_mark_readonly(p, BLOCK), 0);
    cr_expect_eq(lifetime_watchers, LIFETIME_MARKS);
    content_watch((uintptr_t)p, BLOCK, 0);
    cr_expect_eq(lifetime_watchers, LIFETIME_MARKS | LIFETIME_COPIES);
    free(p); /* the mark and the copy end with the block */
    cr_expect_eq(lifetime_watchers, 0);
}
