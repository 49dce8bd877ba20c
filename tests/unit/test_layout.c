/* Layout arithmetic (src/layout.c): where a buffer sits in its segment, which pages map. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "layout.h"

#define P ((size_t)4096)
#define BASE ((uintptr_t)0x7f0000000000)

/* The relations every layout must satisfy, whatever the buffer. */
static void expect_consistent(const layout *l, uintptr_t buf, size_t bytes, size_t page)
{
    cr_expect_eq(l->offset, buf % page, "offset of %#lx+%zu", (unsigned long)buf, bytes);
    cr_expect_eq(l->head_len + l->map_len + l->tail_len, bytes,
                 "head %zu + map %zu + tail %zu != %zu", l->head_len, l->map_len, l->tail_len,
                 bytes);
    cr_expect_eq(l->seg_size % page, 0, "segment %zu not whole pages", l->seg_size);
    cr_expect_geq(l->seg_size, l->offset + bytes, "segment too small");
    cr_expect_lt(l->seg_size, l->offset + bytes + page, "segment a page too large");
    cr_expect_eq(l->map_seg_off, l->offset + (l->map_start - buf));
    cr_expect_eq(l->map_len % page, 0);
    if (l->map_len) {
        cr_expect_eq(l->map_start % page, 0, "map_start %#lx", (unsigned long)l->map_start);
        cr_expect_eq(l->map_seg_off % page, 0);
        cr_expect_eq(l->map_start, buf + l->head_len);
        cr_expect_lt(l->head_len, page, "a whole page left in the head");
        cr_expect_lt(l->tail_len, page, "a whole page left in the tail");
        cr_expect_leq(l->map_seg_off + l->map_len, l->seg_size);
    }
}

/* The layout of [buf, buf+bytes) with 4 KiB pages is `want` (map_start and map_seg_off
 * only matter when a page is mapped) and satisfies every invariant. */
static void expect_layout(uintptr_t buf, size_t bytes, layout want)
{
    layout l;
    layout_compute(&l, buf, bytes, P);
    expect_consistent(&l, buf, bytes, P);
    cr_expect_eq(l.offset, want.offset, "offset %zu", l.offset);
    cr_expect_eq(l.seg_size, want.seg_size, "seg_size %zu", l.seg_size);
    cr_expect_eq(l.map_len, want.map_len, "map_len %zu", l.map_len);
    cr_expect_eq(l.head_len, want.head_len, "head_len %zu", l.head_len);
    cr_expect_eq(l.tail_len, want.tail_len, "tail_len %zu", l.tail_len);
    if (want.map_len) {
        cr_expect_eq(l.map_start, want.map_start, "map_start %#lx", (unsigned long)l.map_start);
        cr_expect_eq(l.map_seg_off, want.map_seg_off, "map_seg_off %zu", l.map_seg_off);
    }
}

Test(layout, page_aligned_buffer)
{
    expect_layout(BASE, 3 * P,
                  (layout){.offset = 0, .seg_size = 3 * P, .map_start = BASE, .map_len = 3 * P,
                           .map_seg_off = 0, .head_len = 0, .tail_len = 0});
}

Test(layout, unaligned_start)
{
    expect_layout(BASE + 100, 3 * P,
                  (layout){.offset = 100, .seg_size = 4 * P, .map_start = BASE + P,
                           .map_len = 2 * P, .map_seg_off = P, .head_len = P - 100,
                           .tail_len = 100});
}

Test(layout, unaligned_end)
{
    expect_layout(BASE, 2 * P + 5,
                  (layout){.offset = 0, .seg_size = 3 * P, .map_start = BASE, .map_len = 2 * P,
                           .map_seg_off = 0, .head_len = 0, .tail_len = 5});
}

Test(layout, smaller_than_a_page)
{
    /* no whole page: everything is copied through head_len */
    expect_layout(BASE + 10, 100,
                  (layout){.offset = 10, .seg_size = P, .map_len = 0, .head_len = 100});
    expect_layout(BASE, 100, (layout){.offset = 0, .seg_size = P, .map_len = 0, .head_len = 100});
}

Test(layout, small_buffer_across_a_page_boundary)
{
    expect_layout(BASE + P - 10, 20,
                  (layout){.offset = P - 10, .seg_size = 2 * P, .map_len = 0, .head_len = 20});
}

Test(layout, almost_a_page_unaligned)
{
    /* ends exactly at a page boundary but covers no whole page */
    expect_layout(BASE + 1, P - 1,
                  (layout){.offset = 1, .seg_size = P, .map_len = 0, .head_len = P - 1});
}

Test(layout, last_byte_of_a_page)
{
    expect_layout(BASE + P - 1, 1,
                  (layout){.offset = P - 1, .seg_size = P, .map_len = 0, .head_len = 1});
}

Test(layout, exactly_one_whole_page)
{
    expect_layout(BASE, P,
                  (layout){.offset = 0, .seg_size = P, .map_start = BASE, .map_len = P,
                           .map_seg_off = 0, .head_len = 0, .tail_len = 0});
}

Test(layout, one_whole_page_with_partial_pages_around)
{
    expect_layout(BASE + P - 10, P + 20,
                  (layout){.offset = P - 10, .seg_size = 3 * P, .map_start = BASE + P,
                           .map_len = P, .map_seg_off = P, .head_len = 10, .tail_len = 10});
}

Test(layout, invariants_over_many_buffers)
{
    const size_t pages[] = {4096, 65536};
    const size_t offsets[] = {0, 1, 8, 16, 100, 2048, 4095, 4096, 4097, 65535};
    const size_t lengths[] = {1, 2, 15, 100, 4095, 4096, 4097, 8191, 8192, 12289, 65536,
                              65537, 1 << 20, (1 << 20) + 3};
    for (size_t p = 0; p < 2; p++)
        for (size_t o = 0; o < sizeof offsets / sizeof offsets[0]; o++)
            for (size_t n = 0; n < sizeof lengths / sizeof lengths[0]; n++) {
                layout l;
                uintptr_t buf = BASE + offsets[o];
                layout_compute(&l, buf, lengths[n], pages[p]);
                expect_consistent(&l, buf, lengths[n], pages[p]);
                /* whole pages are mapped whenever the buffer contains one */
                uintptr_t first = (buf + pages[p] - 1) / pages[p] * pages[p];
                size_t expect_map =
                    first + pages[p] <= buf + lengths[n]
                        ? (buf + lengths[n]) / pages[p] * pages[p] - first
                        : 0;
                cr_expect_eq(l.map_len, expect_map, "page %zu buf +%zu bytes %zu", pages[p],
                             offsets[o], lengths[n]);
            }
}

/* layout_groups on offsets[0..n) gives the leaders `want` and `groups` groups. */
static void expect_groups(const size_t *offsets, int n, const int *want, int groups)
{
    int leader[16];
    cr_assert_leq(n, 16);
    layout_groups(offsets, n, 4096, leader);
    for (int i = 0; i < n; i++)
        cr_expect_eq(leader[i], want[i], "rank %d: leader %d, not %d", i, leader[i], want[i]);
    cr_expect_eq(layout_group_count(leader, n), groups);
}

Test(layout, groups_equal_offsets)
{
    expect_groups((size_t[]){64, 64, 64, 64}, 4, (int[]){0, 0, 0, 0}, 1);
}

Test(layout, groups_alternating_offsets)
{
    expect_groups((size_t[]){0, 16, 0, 16, 0}, 5, (int[]){0, 1, 0, 1, 0}, 2);
}

Test(layout, groups_all_different)
{
    expect_groups((size_t[]){16, 32, 48, 4000}, 4, (int[]){0, 1, 2, 3}, 4);
}

Test(layout, groups_mixed)
{
    /* the leader is the lowest rank with the offset, wherever it sits */
    expect_groups((size_t[]){32, 16, 32, 48, 16, 48}, 6, (int[]){0, 1, 0, 3, 1, 3}, 3);
}

Test(layout, groups_single_and_empty)
{
    expect_groups((size_t[]){123}, 1, (int[]){0}, 1);
    int none[1] = {0};
    cr_expect_eq(layout_group_count(none, 0), 0);
}

Test(layout, groups_by_in_page_offset_of_huge_offsets)
{
    /* offsets modulo 2 MiB: ranks at one in-page offset share a segment, wherever they sit in
     * their huge page */
    int leader[4];
    layout_groups((size_t[]){0x1010, 0x7010, 0x1010, 0x1020}, 4, 4096, leader);
    cr_expect_eq(leader[1], 0);
    cr_expect_eq(leader[2], 0);
    cr_expect_eq(leader[3], 3);
}

Test(layout, place_at_the_leaders_offset)
{
    /* a buffer at 0x7010 modulo 2 MiB in a group whose data starts at 0x1010 */
    layout l;
    uintptr_t buf = 0x40007010;
    layout_compute(&l, buf, 10 << 20, 4096);
    layout_place(&l, buf, 0x1010, 4096);
    cr_expect_eq(l.offset, 0x1010);
    cr_expect_eq(l.map_seg_off, 0x2000); /* map_start 0x40008000 is 0xff0 past buf */
    cr_expect_eq(l.map_seg_off % 4096, 0);
    cr_expect_eq(l.seg_size, (0x1010 + (10 << 20) + 4095) & ~(size_t)4095);
    cr_expect_eq(l.head_len + l.map_len + l.tail_len, 10 << 20);
    /* at its own offset, as layout_compute had it */
    layout m;
    layout_compute(&m, buf, 10 << 20, 4096);
    layout k = m;
    layout_place(&k, buf, m.offset, 4096);
    cr_expect_eq(k.seg_size, m.seg_size);
    cr_expect_eq(k.map_seg_off, m.map_seg_off);
}
