/* Call sites (src/sites.c, src/callsite.c): MPISHM_SITES parsing and matching, one record per
 * call and callers, the saving estimate from distinct buffers. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <stdarg.h>
#include <string.h>

#include "callsite.h"
#include "sites.h"

TestSuite(sites, .init = sites_reset);

static callstack stack_of(int n, ...)
{
    callstack s = {.n = n};
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        s.pc[i] = va_arg(ap, uintptr_t);
    va_end(ap);
    return s;
}

Test(sites, configure_splits_and_trims)
{
    cr_expect_eq(sites_configure(""), 0);
    cr_expect_eq(sites_configure(NULL), 0);
    cr_expect_eq(sites_configure(" load_mesh , load_basis,,read_xs "), 3);
    cr_expect_eq(sites_configure(",,, ,"), 0);
}

Test(sites, names_match_exactly_or_without_fortran_underscore)
{
    cr_expect(callsite_name_matches("load_mesh", "load_mesh"));
    cr_expect(callsite_name_matches("load_table", "load_table_"), "gfortran's external name");
    cr_expect(callsite_name_matches("load_table_", "load_table_"));
    cr_expect(!callsite_name_matches("load", "load_mesh"), "no prefix match");
    cr_expect(!callsite_name_matches("load_mesh_", "load_mesh"));
    cr_expect(!callsite_name_matches("", ""), "an empty name selects nothing");
    cr_expect(!callsite_name_matches("load_table", "load_table__"));
}

Test(sites, one_record_per_call_and_callers)
{
    callstack a = stack_of(3, 0x1000, 0x2000, 0x3000), b = stack_of(3, 0x1000, 0x2100, 0x3000);
    int sel;
    int ia = sites_lookup(&a, &sel);
    cr_expect_eq(sel, 0);
    int ib = sites_lookup(&b, &sel);
    cr_expect_geq(ia, 0);
    cr_expect_neq(ia, ib, "same call, other caller: another site");
    cr_expect_eq(sites_lookup(&a, &sel), ia, "the same stack again");
    callstack deeper = stack_of(6, 0x1000, 0x2000, 0x3000, 0x4000, 0x5000, 0x6000);
    callstack other_root = stack_of(6, 0x1000, 0x2000, 0x3000, 0x4000, 0x5100, 0x6100);
    int id = sites_lookup(&deeper, &sel);
    cr_expect_eq(sites_lookup(&other_root, &sel), id,
                 "frames beyond the first SITE_FRAMES do not split a site");
    callstack empty = {.n = 0};
    cr_expect_eq(sites_lookup(&empty, &sel), -1);
}

Test(sites, counts_and_distinct_buffers)
{
    callstack a = stack_of(2, 0x1000, 0x2000);
    int sel, id = sites_lookup(&a, &sel);
    sites_record(id, 0, WHY_NOT_MARKED, -1, 0x10000, 4096, 4096);
    sites_record(id, 0, WHY_NOT_MARKED, -1, 0x10000, 4096, 4096); /* the same buffer again */
    sites_record(id, 0, WHY_NOT_MARKED, -1, 0x20000, 8192, 0);
    sites_record(id, 1, WHY_NOT_MARKED, 1, 0x20000, 8192, 8192);
    sites_record(id, 0, WHY_NOT_CONTIGUOUS, -1, 0x30000, 1 << 20, 0);
    sites_record(-1, 1, WHY_OTHER, 0, 0x40000, 1, 1); /* no site: ignored */
    site_record r[4];
    cr_assert_eq(sites_snapshot(r, 4), 1);
    cr_expect_eq(r[0].calls, 5);
    cr_expect_eq(r[0].shared, 1);
    cr_expect_eq(r[0].not_shared[WHY_NOT_MARKED], 3);
    cr_expect_eq(r[0].not_shared[WHY_NOT_CONTIGUOUS], 1);
    cr_expect_eq(r[0].by_origin[1], 1, "selected by MPISHM_SITES once");
    cr_expect_eq(r[0].max_bytes, 1 << 20);
    cr_expect_eq(r[0].candidate_bytes, 4096 + 8192, "each unmarked buffer once");
    cr_expect_eq(r[0].shared_bytes, 8192);
    cr_expect_eq(r[0].resident_before, 4096, "each buffer's resident at its first broadcast");
    cr_expect(sites_knows_buffer(id, 0x10000, 4096));
    cr_expect(!sites_knows_buffer(id, 0x10000, 8192), "another size: another buffer");
    cr_expect(sites_knows_buffer(-1, 0, 0), "no site: nothing to measure");
}

Test(sites, root_keys_once_each)
{
    callstack a = stack_of(2, 0x1000, 0x2000), b = stack_of(2, 0x1000, 0x3000);
    int sel, id = sites_lookup(&a, &sel), other = sites_lookup(&b, &sel);
    cr_expect_neq(sites_key(id), 0, "every site has a key");
    cr_expect_lt(sites_key(id), 1ull << 63, "a positive long long");
    cr_expect_eq(sites_key(-1), 0);
    sites_note_root(id, sites_key(other));
    sites_note_root(id, sites_key(other));
    sites_note_root(id, 0); /* unknown: ignored */
    for (uint64_t k = 1; k <= SITE_ROOT_KEYS + 2; k++)
        sites_note_root(other, k);
    site_record r[2];
    cr_assert_eq(sites_snapshot(r, 2), 2);
    cr_expect_eq(r[0].nroot_keys, 1);
    cr_expect_eq(r[0].root_keys[0], sites_key(other));
    cr_expect_eq(r[1].nroot_keys, SITE_ROOT_KEYS, "at most SITE_ROOT_KEYS kept");
}

Test(sites, frames_without_names_by_object_and_offset)
{
    frame_name f = {.function = "", .object = "/opt/app/bin/PyroDist", .object_offset = 0x2068};
    cr_expect(callsite_frame_matches("PyroDist+0x2068", &f));
    cr_expect(callsite_frame_matches("PyroDist+0x02068", &f), "leading zeros");
    cr_expect(!callsite_frame_matches("PyroDist+0x2069", &f), "another offset");
    cr_expect(!callsite_frame_matches("Pyro+0x2068", &f), "another object");
    cr_expect(!callsite_frame_matches("PyroDist+0x", &f), "no offset");
    cr_expect(!callsite_frame_matches("PyroDist+0x2068z", &f), "trailing junk");
    cr_expect(!callsite_frame_matches("PyroDist+0x0x2068", &f), "a second 0x");
    cr_expect(!callsite_frame_matches("PyroDist+0x -2068", &f), "a sign or a blank");
    frame_name h = {.function = "", .object = "/x/a+0x1", .object_offset = 0x20};
    cr_expect(callsite_frame_matches("a+0x1+0x20", &h), "a file name holding +0x");
    cr_expect(!callsite_frame_matches("PyroDist", &f), "a function name does not match");
    frame_name g = {.function = "load_mesh", .object = "/a/app", .object_offset = 0x10};
    cr_expect(callsite_frame_matches("load_mesh", &g));
    cr_expect(callsite_frame_matches("app+0x10", &g), "a named frame by its offset too");
}

Test(sites, many_buffers_still_count)
{
    callstack a = stack_of(1, 0x1000);
    int sel, id = sites_lookup(&a, &sel);
    for (int i = 0; i < SITE_BUFFERS + 10; i++)
        sites_record(id, 0, WHY_NOT_MARKED, -1, 0x100000 + (uintptr_t)i * 4096, 100, 0);
    site_record r;
    cr_assert_eq(sites_snapshot(&r, 1), 1);
    cr_expect_eq(r.candidate_bytes, (SITE_BUFFERS + 10) * 100);
}

/* A loader as an application has one: its name is on the stack of the lookup. */
__attribute__((noinline)) int named_loader(int *selected)
{
    callstack s;
    callsite_capture(&s);
    int id = sites_lookup(&s, selected);
    __asm__ volatile("" ::: "memory"); /* no tail call: keep this frame */
    return id;
}

Test(sites, selection_by_a_function_on_the_stack)
{
    int sel = -1;
    cr_assert_eq(sites_configure("some_other_function"), 1);
    cr_expect_geq(named_loader(&sel), 0);
    cr_expect_eq(sel, 0, "not named");
    sites_reset();
    cr_assert_eq(sites_configure("unrelated, named_loader"), 2);
    cr_expect_geq(named_loader(&sel), 0);
    cr_expect_eq(sel, 1, "named in MPISHM_SITES");
    cr_expect_geq(named_loader(&sel), 0);
    cr_expect_eq(sel, 1, "the cached decision");
}

static void redirect(void)
{
    sites_reset();
    cr_redirect_stderr();
}

Test(sites, too_long_a_name_is_named_and_ignored, .init = redirect)
{
    char list[400];
    memset(list, 'f', 300);
    strcpy(list + 300, ",load_mesh");
    cr_expect_eq(sites_configure(list), 1, "the other name stays");
    fflush(stderr);
    char out[512] = "";
    size_t n = fread(out, 1, sizeof out - 1, cr_get_redirected_stderr());
    out[n] = '\0';
    cr_expect_not_null(
        strstr(out, "MPISHM_SITES: a name of 300 characters is too long (at most 255); ignored"),
        "%s", out);
}

/* MPISHM_RESHARE=auto's verdicts: a site is timed only once it moved data twice; sharing
 * slower than MPI_Bcast by over 5 per cent leaves it to MPI; while sharing looks faster,
 * MPI_Bcast is timed again after 4, then 8 more shared broadcasts, 3 times at most. */
Test(sites, time_verdicts)
{
    callstack a = stack_of(1, (uintptr_t)0x1000);
    int sel, id = sites_lookup(&a, &sel);
    cr_expect_eq(sites_time_verdict(-1), TIME_OK);
    cr_expect_eq(sites_time_verdict(id), TIME_OK, "never shared");
    sites_note_share(id, 2e-3, 1 << 20);
    cr_expect_eq(sites_time_verdict(id), TIME_OK, "shared once: a table kept, not timed");
    sites_note_share(id, 1e-3, 1 << 20);
    cr_expect_eq(sites_time_verdict(id), TIME_PROBE, "moved data twice: time MPI_Bcast");
    cr_expect_eq(sites_time_verdict(id), TIME_PROBE, "asked again until a time comes");
    sites_note_plain(id, 9e-3); /* the first of the pair faulted the pages in: not counted */
    cr_expect_eq(sites_time_verdict(id), TIME_PROBE, "the second of the pair");
    sites_note_plain(id, 0.99e-3);
    cr_expect_eq(sites_time_verdict(id), TIME_OK, "1 ms against 0.99 ms: within 5 per cent");
    for (int i = 0; i < 3; i++) {
        sites_note_share(id, 1e-3, 1 << 20);
        cr_expect_eq(sites_time_verdict(id), TIME_OK, "%d shares since the timing", i + 1);
    }
    sites_note_share(id, 1e-3, 1 << 20);
    cr_expect_eq(sites_time_verdict(id), TIME_PROBE, "4 shares since: time it again");
    sites_note_plain(id, 9e-3);
    sites_note_plain(id, 2e-3); /* slower this time: the fastest, 0.99 ms, is kept */
    for (int i = 0; i < 8; i++)
        sites_note_share(id, 1e-3, 1 << 20);
    cr_expect_eq(sites_time_verdict(id), TIME_PROBE, "8 shares since the second timing");
    sites_note_plain(id, 9e-3);
    sites_note_plain(id, 0.9e-3); /* 1 ms > 1.05 * 0.9 ms */
    cr_expect_eq(sites_time_verdict(id), TIME_SLOW);
    site_record r;
    sites_copy(id, &r);
    cr_expect_eq(r.probes, 3);
    cr_expect_float_eq(r.plain_seconds, 0.9e-3, 1e-12);
    cr_expect_float_eq(r.share_seconds, 1e-3, 1e-12);
    cr_expect(!sites_is_slow(id), "slow is the caller's decision");
    sites_mark_slow(id);
    cr_expect(sites_is_slow(id));
}

Test(sites, timing_stops_after_three)
{
    callstack a = stack_of(1, (uintptr_t)0x2000);
    int sel, id = sites_lookup(&a, &sel);
    sites_note_share(id, 1e-3, 1 << 20);
    sites_note_share(id, 1e-3, 1 << 20);
    for (int probe = 0; probe < 3; probe++) {
        cr_expect_eq(sites_time_verdict(id), TIME_PROBE, "timing %d", probe + 1);
        sites_note_plain(id, 5e-3);
        cr_expect_eq(sites_time_verdict(id), TIME_PROBE, "timing %d, its second", probe + 1);
        sites_note_plain(id, 5e-3);
        for (int i = 0; i < 16; i++)
            sites_note_share(id, 1e-3, 1 << 20);
    }
    cr_expect_eq(sites_time_verdict(id), TIME_OK, "sharing stays, timed no more");
    sites_note_share(id, 1e-3, 4 << 20);
    cr_expect_eq(sites_time_verdict(id), TIME_OK, "another size: timed anew, once it moves twice");
    sites_note_share(id, 1e-3, 4 << 20);
    cr_expect_eq(sites_time_verdict(id), TIME_PROBE);
}
