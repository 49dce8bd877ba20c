/* The registry of marked arrays (src/region.c): sorted disjoint intervals. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>

#include "mpishm_internal.h"
#include "region.h"

static void clear(void) { region_clear(); }

TestSuite(region, .init = clear, .fini = clear);

Test(region, add_find_remove)
{
    region r;
    cr_assert_eq(region_count(), 0);
    cr_assert_eq(region_add(0x10000, 0x1000), 0);
    cr_expect_eq(region_count(), 1);

    cr_assert_eq(region_find(0x10000, 0, &r), 1);
    cr_expect_eq(r.base, 0x10000);
    cr_expect_eq(r.bytes, 0x1000);
    cr_expect_eq(r.shared, 0);
    cr_expect_eq(r.shared_bytes, 0);
    cr_expect_eq(r.broadcasts, 0);

    cr_expect_eq(region_find(0x10fff, 0, &r), 1, "last byte is inside");
    cr_expect_eq(region_find(0x10fff, 1, &r), 1, "last byte as a 1-byte range");
    cr_expect_eq(region_find(0x10000, 0x1000, &r), 1, "the whole array");
    cr_expect_eq(region_find(0x10fff, 2, &r), 0, "a range reaching past the end");
    cr_expect_eq(region_find(0x11000, 0, &r), 0, "the end is exclusive");
    cr_expect_eq(region_find(0xffff, 0, &r), 0, "below the start");
    cr_expect_eq(region_find(0xffff, 2, &r), 0, "starting below the start");
    cr_expect_eq(region_find(0x10800, SIZE_MAX, &r), 0, "a wrapping range");

    region out = {0};
    cr_expect_eq(region_remove(0x10000, &out), 0);
    cr_expect_eq(out.base, 0x10000);
    cr_expect_eq(out.bytes, 0x1000);
    cr_expect_eq(region_count(), 0);
    cr_expect_eq(region_find(0x10000, 0, &r), 0);
    cr_expect_eq(region_remove(0x10000, NULL), MPISHM_ENOTMARKED, "already removed");
}

Test(region, remove_needs_the_start)
{
    region r;
    cr_assert_eq(region_add(0x10000, 0x1000), 0);
    cr_expect_eq(region_remove(0x10001, NULL), MPISHM_ENOTMARKED);
    cr_expect_eq(region_remove(0x0ffff, NULL), MPISHM_ENOTMARKED);
    cr_expect_eq(region_remove(0x11000, NULL), MPISHM_ENOTMARKED);
    cr_expect_eq(region_count(), 1);
    cr_expect_eq(region_find(0x10000, 0x1000, &r), 1, "still marked");
    cr_expect_eq(region_remove(0x10000, NULL), 0, "out may be NULL");
    cr_expect_eq(region_count(), 0);
}

Test(region, adjacent_ranges_are_accepted)
{
    region r;
    cr_expect_eq(region_add(0x2000, 0x1000), 0);
    cr_expect_eq(region_add(0x3000, 0x1000), 0, "right after");
    cr_expect_eq(region_add(0x1000, 0x1000), 0, "right before");
    cr_expect_eq(region_count(), 3);

    cr_assert_eq(region_find(0x2fff, 1, &r), 1);
    cr_expect_eq(r.base, 0x2000);
    cr_assert_eq(region_find(0x3000, 1, &r), 1);
    cr_expect_eq(r.base, 0x3000);
    cr_assert_eq(region_find(0x1fff, 0, &r), 1);
    cr_expect_eq(r.base, 0x1000);
    cr_expect_eq(region_find(0x2ff0, 0x20, &r), 0, "no array holds a range across two");
}

Test(region, overlapping_ranges_are_rejected)
{
    region r;
    cr_assert_eq(region_add(0x10000, 0x1000), 0);
    const struct {
        uintptr_t base;
        size_t bytes;
    } bad[] = {
        {0x10000, 0x1000}, /* the same */
        {0x10800, 0x1000}, /* starts inside */
        {0x0f800, 0x1000}, /* ends inside */
        {0x0f000, 0x3000}, /* contains it */
        {0x10100, 0x10},   /* inside it */
        {0x10fff, 1},      /* its last byte */
        {0x0ffff, 2},      /* one byte before and its first byte */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_eq(region_add(bad[i].base, bad[i].bytes), MPISHM_EOVERLAP,
                     "[%#lx, +%#zx) overlaps [0x10000, +0x1000)", (unsigned long)bad[i].base,
                     bad[i].bytes);
    cr_expect_eq(region_count(), 1);
    cr_assert_eq(region_find(0x10000, 0, &r), 1);
    cr_expect_eq(r.bytes, 0x1000, "the existing array is unchanged");
}

Test(region, overlap_with_a_later_neighbour)
{
    /* a new range that fits after one array but runs into the next one */
    cr_assert_eq(region_add(0x1000, 0x1000), 0);
    cr_assert_eq(region_add(0x5000, 0x1000), 0);
    cr_expect_eq(region_add(0x2000, 0x3001), MPISHM_EOVERLAP);
    cr_expect_eq(region_add(0x2000, 0x3000), 0, "exactly filling the gap");
    cr_expect_eq(region_count(), 3);
}

Test(region, invalid_ranges)
{
    cr_expect_eq(region_add(0x1000, 0), MPISHM_EINVAL, "zero length");
    cr_expect_eq(region_add(UINTPTR_MAX - 10, 100), MPISHM_EINVAL, "wraps around");
    cr_expect_eq(region_add(0x1000, SIZE_MAX), MPISHM_EINVAL, "wraps around");
    cr_expect_eq(region_count(), 0);
    cr_expect_eq(region_add(UINTPTR_MAX - 10, 10), 0, "ends at the top without wrapping");
    cr_expect_eq(region_count(), 1);
}

Test(region, set_shared)
{
    region r;
    cr_assert_eq(region_add(0x10000, 0x4000), 0);
    cr_expect_eq(region_set_shared(0x10000, 0x2000, 5, 77), 0);
    cr_assert_eq(region_find(0x10000, 0, &r), 1);
    cr_expect_eq(r.shared, 1);
    cr_expect_eq(r.shared_bytes, 0x2000);
    cr_expect_eq(r.dev, 5);
    cr_expect_eq(r.ino, 77);
    cr_expect_eq(r.broadcasts, 1);

    cr_expect_eq(region_set_shared(0x10000, 0x3000, 6, 78), 0, "a second broadcast");
    cr_assert_eq(region_find(0x13fff, 0, &r), 1);
    cr_expect_eq(r.shared_bytes, 0x3000);
    cr_expect_eq(r.ino, 78);
    cr_expect_eq(r.broadcasts, 2);

    cr_expect_eq(region_set_shared(0x10000, 0, 0, 0), 0, "private again");
    cr_assert_eq(region_find(0x10000, 0, &r), 1);
    cr_expect_eq(r.shared, 0);
    cr_expect_eq(r.shared_bytes, 0);
    cr_expect_eq(r.broadcasts, 2, "becoming private is not a broadcast");

    cr_expect_eq(region_set_shared(0x10001, 0x1000, 1, 1), MPISHM_ENOTMARKED, "not the start");
    cr_expect_eq(region_set_shared(0x20000, 0x1000, 1, 1), MPISHM_ENOTMARKED, "not marked");

    region out;
    cr_assert_eq(region_set_shared(0x10000, 0x1000, 9, 99), 0);
    cr_assert_eq(region_remove(0x10000, &out), 0);
    cr_expect_eq(out.shared, 1, "remove hands back the sharing state");
    cr_expect_eq(out.ino, 99);
}

/* Marks [0x1000*k, +0x800) for k = 1..n. */
static void add_spaced(int n)
{
    for (int k = 1; k <= n; k++)
        cr_assert_eq(region_add(0x1000 * (uintptr_t)k, 0x800), 0);
}

Test(region, take_overlapping_takes_only_overlapping)
{
    region out[16], r;
    add_spaced(6);
    /* [0x2400, 0x4400) meets arrays 2 (ends at 0x2800), 3, and 4 (starts at 0x4000) */
    size_t n = region_take_overlapping(0x2400, 0x2000, out, 16);
    cr_assert_eq(n, 3);
    cr_expect_eq(out[0].base, 0x2000);
    cr_expect_eq(out[1].base, 0x3000);
    cr_expect_eq(out[2].base, 0x4000);
    cr_expect_eq(out[0].bytes, 0x800);
    cr_expect_eq(region_count(), 3);
    cr_expect_eq(region_find(0x2000, 0, &r), 0);
    cr_expect_eq(region_find(0x4000, 0, &r), 0);
    cr_expect_eq(region_find(0x1000, 0, &r), 1, "untouched below");
    cr_expect_eq(region_find(0x5000, 0, &r), 1, "untouched above");
    cr_expect_eq(region_find(0x6000, 0, &r), 1);
}

Test(region, take_overlapping_ignores_gaps_and_edges)
{
    region out[16];
    add_spaced(3);
    cr_expect_eq(region_take_overlapping(0x1800, 0x800, out, 16), 0, "exactly the gap");
    cr_expect_eq(region_take_overlapping(0x0, 0x1000, out, 16), 0, "ends where one starts");
    cr_expect_eq(region_take_overlapping(0x3800, 0x10000, out, 16), 0, "above them all");
    cr_expect_eq(region_count(), 3);
    cr_expect_eq(region_take_overlapping(0x1800, 0x801, out, 16), 1, "the next's first byte");
    cr_expect_eq(out[0].base, 0x2000);
    cr_expect_eq(region_take_overlapping(0x37ff, 1, out, 16), 1, "the highest's last byte");
    cr_expect_eq(out[0].base, 0x3000);
    cr_expect_eq(region_take_overlapping(0x0, 0x1001, out, 16), 1, "the lowest's first byte");
    cr_expect_eq(out[0].base, 0x1000);
    cr_expect_eq(region_count(), 0);
}

Test(region, take_overlapping_in_batches)
{
    region out[2];
    add_spaced(5);
    uintptr_t expect = 0x1000;
    size_t total = 0, n;
    int calls = 0;
    do {
        n = region_take_overlapping(0, 0x100000, out, 2);
        cr_assert_leq(n, 2);
        for (size_t i = 0; i < n; i++, expect += 0x1000)
            cr_expect_eq(out[i].base, expect, "ascending, none skipped");
        total += n;
        calls++;
    } while (n == 2);
    cr_expect_eq(total, 5);
    cr_expect_eq(calls, 3, "2 + 2 + 1");
    cr_expect_eq(region_count(), 0);
    cr_expect_eq(region_take_overlapping(0, 0x100000, out, 2), 0, "nothing left");
}

Test(region, take_overlapping_with_a_range_that_wraps)
{
    region out[4];
    add_spaced(3);
    cr_expect_eq(region_take_overlapping(0x2000, SIZE_MAX, out, 4), 2, "to the top");
    cr_expect_eq(region_count(), 1);
}

Test(region, take_overlapping_when_nothing_is_marked)
{
    region out[1];
    cr_expect_eq(region_take_overlapping(0, SIZE_MAX, out, 1), 0);
}

Test(region, clear_forgets_everything)
{
    region r;
    add_spaced(20);
    cr_expect_eq(region_count(), 20);
    region_clear();
    cr_expect_eq(region_count(), 0);
    cr_expect_eq(region_find(0x1000, 0, &r), 0);
    cr_expect_eq(region_add(0x1000, 0x800), 0, "usable again");
    cr_expect_eq(region_count(), 1);
}

#define MANY 10000

/* Array i: [0x100000 + 0x2000*i, + 0x1000 + 16*(i%7)), gaps in between. */
static uintptr_t many_base(size_t i) { return 0x100000 + 0x2000 * (uintptr_t)i; }
static size_t many_bytes(size_t i) { return 0x1000 + 16 * (i % 7); }

static void shuffle(size_t *a, size_t n, unsigned seed)
{
    srand(seed);
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)rand() % (i + 1);
        size_t t = a[i];
        a[i] = a[j], a[j] = t;
    }
}

Test(region, many_insertions_in_random_order)
{
    static size_t order[MANY];
    for (size_t i = 0; i < MANY; i++)
        order[i] = i;
    shuffle(order, MANY, 12345);
    for (size_t k = 0; k < MANY; k++)
        cr_assert_eq(region_add(many_base(order[k]), many_bytes(order[k])), 0, "array %zu",
                     order[k]);
    cr_assert_eq(region_count(), MANY);

    size_t found = 0, gaps = 0, overlaps = 0;
    region r;
    for (size_t i = 0; i < MANY; i++) {
        uintptr_t last = many_base(i) + many_bytes(i) - 1;
        found += region_find(last, 1, &r) && r.base == many_base(i) && r.bytes == many_bytes(i);
        gaps += region_find(last + 1, 0, &r);
        overlaps += region_add(last, 2) == MPISHM_EOVERLAP;
    }
    cr_expect_eq(found, MANY, "every array found by its last byte");
    cr_expect_eq(gaps, 0, "nothing found in the gaps");
    cr_expect_eq(overlaps, MANY, "every overlap rejected");

    /* remove the even ones in another random order */
    shuffle(order, MANY, 54321);
    for (size_t k = 0; k < MANY; k++)
        if (order[k] % 2 == 0)
            cr_assert_eq(region_remove(many_base(order[k]), NULL), 0);
    cr_assert_eq(region_count(), MANY / 2);

    /* take the rest in batches: the registry hands them back sorted */
    region batch[100];
    size_t n, taken = 0;
    uintptr_t prev = 0;
    int sorted = 1, odd = 1;
    do {
        n = region_take_overlapping(0, UINTPTR_MAX, batch, 100);
        for (size_t i = 0; i < n; i++) {
            sorted &= batch[i].base > prev;
            odd &= (batch[i].base - 0x100000) / 0x2000 % 2 == 1;
            prev = batch[i].base;
        }
        taken += n;
    } while (n == 100);
    cr_expect_eq(taken, MANY / 2);
    cr_expect(sorted, "bases strictly ascending");
    cr_expect(odd, "only the arrays not removed");
    cr_expect_eq(region_count(), 0);
}
