/* Fault injection (src/fault.c): the MPISHM_FAULT=stage:rank[,...] testing aid. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <string.h>

#include "fault.h"
#include "log.h"

TestSuite(fault, .init = cr_redirect_stderr);

/* Everything written to stderr so far; ends the redirection (call once, last). */
static const char *captured_stderr(void)
{
    static char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, cr_get_redirected_stderr());
    text[n] = '\0';
    return text;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* How many stages are armed; fires (and so disarms) every one of them. */
static int fire_all(void)
{
    int armed = 0;
    for (int s = 0; s < FAULT_STAGES; s++)
        armed += fault_inject((fault_stage)s) != 0;
    return armed;
}

Test(fault, arms_only_this_ranks_stages)
{
    fault_configure("open:1,seed:0", 1);
    cr_expect_eq(fault_inject(FAULT_SEED), 0, "seed is for rank 0");
    cr_expect_neq(fault_inject(FAULT_OPEN), 0, "open fails once");
    cr_expect_eq(fault_inject(FAULT_OPEN), 0, "and only once");
    cr_expect_eq(fire_all(), 0, "nothing else armed");
    cr_expect_str_eq(captured_stderr(), "");
}

Test(fault, errno_values)
{
    fault_configure("create:0,reserve:0,open:0,map:0,seed:0,copy:0,remap:0,refill:0,topology:0,"
                    "build:0,report:0,mpi:0,kill:0,headroom:0,timing:0,punch:0,pagemap:0", 0);
    int create = fault_inject(FAULT_CREATE), reserve = fault_inject(FAULT_RESERVE);
    cr_expect_gt(create, 0);
    cr_expect_gt(reserve, 0);
    cr_expect_eq(fault_inject(FAULT_CREATE), 0);
    cr_expect_eq(fire_all(), FAULT_STAGES - 2, "the other stages were armed too");
    cr_expect_eq(fire_all(), 0, "each once");
}

Test(fault, every_stage_by_name)
{
    const char *names[FAULT_STAGES] = {"create", "reserve", "open", "map", "seed",
                                       "copy", "remap", "refill", "topology", "build",
                                       "report", "mpi", "kill", "headroom", "timing",
                                       "punch", "pagemap"};
    for (int s = 0; s < FAULT_STAGES; s++) {
        cr_expect_str_eq(fault_stage_name((fault_stage)s), names[s]);
        char spec[32];
        snprintf(spec, sizeof spec, "%s:7", names[s]);
        fault_configure(spec, 7);
        cr_expect_neq(fault_inject((fault_stage)s), 0, "%s armed", spec);
        cr_expect_eq(fire_all(), 0, "%s arms only its stage", spec);
    }
}

Test(fault, configure_replaces_the_previous_spec)
{
    fault_configure("create:0", 0);
    fault_configure("map:0", 0);
    cr_expect_eq(fault_inject(FAULT_CREATE), 0);
    cr_expect_neq(fault_inject(FAULT_MAP), 0);
    fault_configure("remap:0", 0);
    fault_configure("", 0);
    cr_expect_eq(fire_all(), 0, "empty spec");
    fault_configure("remap:0", 0);
    fault_configure(NULL, 0);
    cr_expect_eq(fire_all(), 0, "no spec");
    cr_expect_str_eq(captured_stderr(), "");
}

Test(fault, nth_occurrence)
{
    fault_configure("open:0@3", 0);
    cr_expect_eq(fault_inject(FAULT_OPEN), 0, "first time: not yet");
    cr_expect_eq(fault_inject(FAULT_OPEN), 0, "second time: not yet");
    cr_expect_neq(fault_inject(FAULT_OPEN), 0, "third time fails");
    cr_expect_eq(fault_inject(FAULT_OPEN), 0, "and only once");
    fault_configure("open:0@0", 0);
    fault_configure("open:0@", 0);
    cr_expect_eq(fire_all(), 0, "@0 and a missing count arm nothing");
    const char *err = captured_stderr();
    cr_expect_eq(count_lines(err), 2, "one warning each: %s", err);
}

Test(fault, malformed_specs_warn_and_arm_nothing)
{
    fault_configure("open", 0);
    cr_expect_eq(fire_all(), 0, "\"open\"");
    fault_configure("open:x", 0);
    cr_expect_eq(fire_all(), 0, "\"open:x\"");
    fault_configure("bogus:1", 1);
    cr_expect_eq(fire_all(), 0, "\"bogus:1\"");
    const char *err = captured_stderr();
    cr_expect_eq(count_lines(err), 3, "one warning each: %s", err);
    cr_expect_not_null(strstr(err, "libmpishm[?]: MPISHM_FAULT: \"open\" is not stage:rank"),
                       "got: %s", err);
    cr_expect_not_null(strstr(err, "MPISHM_FAULT: \"open:x\" is not stage:rank"), "got: %s", err);
    cr_expect_not_null(strstr(err, "MPISHM_FAULT: \"bogus:1\" is not stage:rank"), "got: %s", err);
}

Test(fault, more_malformed_specs)
{
    const char *bad[] = {"open:", "open:-1", "open:1x"};
    for (int i = 0; i < 3; i++) {
        fault_configure(bad[i], 1);
        cr_expect_eq(fire_all(), 0, "\"%s\"", bad[i]);
    }
    const char *err = captured_stderr();
    cr_expect_eq(count_lines(err), 3, "got: %s", err);
    cr_expect_not_null(strstr(err, "\"open:-1\" is not stage:rank"), "got: %s", err);
}

Test(fault, malformed_entry_among_good_ones)
{
    fault_configure("bogus:1,map:1,,seed", 1);
    cr_expect_neq(fault_inject(FAULT_MAP), 0, "the valid entry still counts");
    cr_expect_eq(fire_all(), 0);
    const char *err = captured_stderr();
    cr_expect_not_null(strstr(err, "\"bogus:1\" is not stage:rank"), "got: %s", err);
    cr_expect_not_null(strstr(err, "\"seed\" is not stage:rank"), "got: %s", err);
    cr_expect_null(strstr(err, "\"map:1\""), "got: %s", err);
}

Test(fault, warnings_are_capped)
{
    for (int i = 0; i < LOG_WARN_MAX + 3; i++)
        fault_configure("nonsense", 0);
    cr_expect_eq(count_lines(captured_stderr()), LOG_WARN_MAX, "capped at one call site");
}
