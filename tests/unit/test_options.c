/* The option table and its parser (src/options.c); warnings go through src/log.c. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "options.h"

extern char **environ;

/* Remove every MPISHM_* variable, so that the tests see only what they set. */
static void clean_env(void)
{
    char name[256];
    for (;;) {
        char **e = environ;
        while (e && *e && strncmp(*e, "MPISHM_", 7) != 0)
            e++;
        if (!e || !*e)
            return;
        size_t n = strcspn(*e, "=");
        if (n >= sizeof name)
            n = sizeof name - 1;
        memcpy(name, *e, n);
        name[n] = '\0';
        unsetenv(name);
    }
}

static void setup(void)
{
    clean_env();
    options_reset();
    cr_redirect_stderr();
}

TestSuite(options, .init = setup, .fini = clean_env);

/* Everything the library wrote to stderr so far; ends the redirection (call once, last). */
static const char *captured_stderr(void)
{
    static char text[8192];
    fflush(stderr);
    size_t n = fread(text, 1, sizeof text - 1, cr_get_redirected_stderr());
    text[n] = '\0';
    return text;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static long long parsed(option_type type, const char *text, int *rc)
{
    long long v = -12345;
    *rc = option_parse(type, text, &v);
    return v;
}

Test(options, sizes)
{
    const struct {
        const char *text;
        long long value;
    } ok[] = {
        {"0", 0},
        {"4096", 4096},
        {"1K", 1024},
        {"1k", 1024},
        {"1M", 1LL << 20},
        {"2G", 2LL << 30},
        {"3T", 3LL << 40},
        {"1MiB", 1LL << 20},
        {"1mb", 1LL << 20},
        {"1MIB", 1LL << 20},
        {"7gi", 7LL << 30},
        {"64KB", 64LL << 10},
        {" 5M", 5LL << 20},
        {"5M ", 5LL << 20},
        {"9223372036854775807", LLONG_MAX},
        {"8388607T", 8388607LL << 40},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int rc;
        long long v = parsed(OPT_SIZE, ok[i].text, &rc);
        cr_expect_eq(rc, 0, "\"%s\" rejected", ok[i].text);
        cr_expect_eq(v, ok[i].value, "\"%s\" gave %lld", ok[i].text, v);
    }
}

Test(options, bad_sizes)
{
    const char *bad[] = {"",     "abc",  "-1",  "+1",      "12Q",  "99999999999999999999G",
                         "M",    "1KK",  "1.5M", "0x10",   "1 2",  "8388608T",
                         "9223372036854775808", "18446744073709551616"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc;
        parsed(OPT_SIZE, bad[i], &rc);
        cr_expect_eq(rc, -1, "\"%s\" accepted", bad[i]);
    }
    long long v;
    cr_expect_eq(option_parse(OPT_SIZE, NULL, &v), -1, "NULL");
}

Test(options, bools)
{
    const char *yes[] = {"1", "yes", "on", "true", "YES", "On", "TRUE", "True"};
    const char *no[] = {"0", "no", "off", "false", "NO", "Off", "FALSE", "fAlSe"};
    const char *bad[] = {"", "2", "y", "n", "nope", "truee", " yes", "10", "-1"};
    int rc;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        cr_expect_eq(parsed(OPT_BOOL, yes[i], &rc), 1, "\"%s\"", yes[i]);
        cr_expect_eq(rc, 0, "\"%s\"", yes[i]);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        cr_expect_eq(parsed(OPT_BOOL, no[i], &rc), 0, "\"%s\"", no[i]);
        cr_expect_eq(rc, 0, "\"%s\"", no[i]);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        parsed(OPT_BOOL, bad[i], &rc);
        cr_expect_eq(rc, -1, "\"%s\" accepted", bad[i]);
    }
}

Test(options, ints)
{
    int rc;
    cr_expect_eq(parsed(OPT_INT, "0", &rc), 0);
    cr_expect_eq(rc, 0);
    cr_expect_eq(parsed(OPT_INT, "2", &rc), 2);
    cr_expect_eq(rc, 0);
    cr_expect_eq(parsed(OPT_INT, " 42 ", &rc), 42);
    cr_expect_eq(rc, 0);
    cr_expect_eq(parsed(OPT_INT, "9223372036854775807", &rc), LLONG_MAX);
    cr_expect_eq(rc, 0);
    const char *bad[] = {"", "-1", "1K", "x", "2x", "9223372036854775808"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        parsed(OPT_INT, bad[i], &rc);
        cr_expect_eq(rc, -1, "\"%s\" accepted as an int", bad[i]);
    }
}

Test(options, strings_accept_anything)
{
    long long v;
    cr_expect_eq(option_parse(OPT_STRING, "", &v), 0);
    cr_expect_eq(option_parse(OPT_STRING, "open:1,seed:0", &v), 0);
}

Test(options, choice)
{
    const char *c = "auto|memfd|posix";
    cr_expect_eq(option_choice(c, "auto"), 0);
    cr_expect_eq(option_choice(c, "memfd"), 1);
    cr_expect_eq(option_choice(c, "posix"), 2);
    cr_expect_eq(option_choice(c, "POSIX"), 2, "case-insensitive");
    cr_expect_eq(option_choice(c, "mem"), -1, "a prefix is not a choice");
    cr_expect_eq(option_choice(c, "memfdx"), -1);
    cr_expect_eq(option_choice(c, "auto|memfd"), -1);
    cr_expect_eq(option_choice(c, ""), -1);
    cr_expect_eq(option_choice("one", "one"), 0);
    cr_expect_eq(option_choice("", "x"), -1);
}

Test(options, closest)
{
    cr_expect_str_eq(option_closest("MPISHM_TRESHOLD"), "MPISHM_THRESHOLD");
    cr_expect_str_eq(option_closest("MPISHM_THRESHOLDS"), "MPISHM_THRESHOLD");
    cr_expect_str_eq(option_closest("MPISHM_VERBOS"), "MPISHM_VERBOSE");
    cr_expect_str_eq(option_closest("MPISHM_DISABLED"), "MPISHM_DISABLE");
    cr_expect_str_eq(option_closest("MPISHM_PREFALT"), "MPISHM_PREFAULT");
    cr_expect_str_eq(option_closest("mpishm_verbose"), "MPISHM_VERBOSE", "case-insensitive");
    cr_expect_str_eq(option_closest("MPISHM_FOO"), "MPISHM_SHM");
    cr_expect_str_eq(option_closest("MPISHM_SHMXYZ"), "MPISHM_SHM", "three edits away");
    cr_expect_str_eq(option_closest("MPISHM_THRESH"), "MPISHM_THRESHOLD", "three letters short");
    cr_expect_str_eq(option_closest("MPISHM_THRESHOLDXYZ"), "MPISHM_THRESHOLD", "three too many");
    cr_expect_str_eq(option_closest("MPISHM_VERBXXSE"), "MPISHM_VERBOSE", "two letters wrong");
    cr_expect_null(option_closest("MPISHM_SHMWXYZ"), "four edits away");
    cr_expect_null(option_closest("MPISHM_COMPLETELY_UNRELATED"));
    cr_expect_null(option_closest("HOME"));
    cr_expect_null(option_closest(""));
    char longname[200];
    memset(longname, 'A', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    cr_expect_null(option_closest(longname));
}

Test(options, defaults)
{
    cr_expect_eq(option_int(OPT_DISABLE), 0);
    cr_expect_eq(option_int(OPT_THRESHOLD), 1 << 20);
    cr_expect_eq(option_int(OPT_VERBOSE), 0);
    cr_expect_eq(option_int(OPT_PREFAULT), 1);
    cr_expect_eq(option_int(OPT_SHM), 0);
    cr_expect_str_eq(option_str(OPT_SHM), "auto");
    cr_expect_str_eq(option_str(OPT_FAULT), "");
    for (int i = 0; i < OPT_COUNT; i++) {
        cr_expect_not_null(options_table[i].name);
        cr_expect_eq(strncmp(options_table[i].name, "MPISHM_", 7), 0);
        cr_expect_not_null(options_table[i].help);
        long long v;
        cr_expect_eq(option_parse(options_table[i].type, options_table[i].initial, &v), 0,
                     "default of %s parses", options_table[i].name);
    }
    cr_expect_str_eq(captured_stderr(), "");
}

Test(options, load_valid_values)
{
    setenv("MPISHM_THRESHOLD", "4M", 1);
    setenv("MPISHM_DISABLE", "yes", 1);
    setenv("MPISHM_VERBOSE", "2", 1);
    setenv("MPISHM_PREFAULT", "off", 1);
    setenv("MPISHM_SHM", "posix", 1);
    setenv("MPISHM_FAULT", "open:1", 1);
    options_load(1);
    cr_expect_eq(option_int(OPT_THRESHOLD), 4 << 20);
    cr_expect_eq(option_int(OPT_DISABLE), 1);
    cr_expect_eq(option_int(OPT_VERBOSE), 2);
    cr_expect_eq(log_verbosity, 2, "the verbosity reaches the logger");
    cr_expect_eq(option_int(OPT_PREFAULT), 0);
    cr_expect_eq(option_int(OPT_SHM), 2);
    cr_expect_str_eq(option_str(OPT_SHM), "posix");
    cr_expect_str_eq(option_str(OPT_FAULT), "open:1");
    cr_expect_str_eq(captured_stderr(), "", "no warning for valid values");
}

Test(options, load_invalid_value_keeps_the_default)
{
    setenv("MPISHM_THRESHOLD", "12Q", 1);
    options_load(1);
    cr_expect_eq(option_int(OPT_THRESHOLD), 1 << 20);
    const char *err = captured_stderr();
    cr_expect(starts_with(err, "libmpishm[?]: MPISHM_THRESHOLD=\"12Q\" is not a valid value"),
              "got: %s", err);
    cr_expect_not_null(strstr(err, "using the default 1M\n"), "got: %s", err);
    cr_expect_eq(strchr(err, '\n') - err + 1, (long)strlen(err), "one line: %s", err);
}

Test(options, load_invalid_value_after_a_valid_one)
{
    setenv("MPISHM_THRESHOLD", "4M", 1);
    options_load(1);
    cr_expect_eq(option_int(OPT_THRESHOLD), 4 << 20);
    setenv("MPISHM_THRESHOLD", "-1", 1);
    options_load(1);
    cr_expect_eq(option_int(OPT_THRESHOLD), 1 << 20, "the default, not the previous value");
    cr_expect_not_null(strstr(captured_stderr(), "MPISHM_THRESHOLD=\"-1\" is not a valid"));
}

Test(options, load_invalid_bool_int_and_choice)
{
    setenv("MPISHM_DISABLE", "maybe", 1);
    setenv("MPISHM_VERBOSE", "loud", 1);
    setenv("MPISHM_SHM", "sysv", 1);
    options_load(1);
    cr_expect_eq(option_int(OPT_DISABLE), 0);
    cr_expect_eq(option_int(OPT_VERBOSE), 0);
    cr_expect_eq(option_int(OPT_SHM), 0);
    cr_expect_str_eq(option_str(OPT_SHM), "auto");
    const char *err = captured_stderr();
    cr_expect_not_null(strstr(err, "libmpishm[?]: MPISHM_DISABLE=\"maybe\" is not a valid value"),
                       "got: %s", err);
    cr_expect_not_null(strstr(err, "libmpishm[?]: MPISHM_VERBOSE=\"loud\" is not a valid value"),
                       "got: %s", err);
    cr_expect_not_null(strstr(err, "libmpishm[?]: MPISHM_SHM=\"sysv\" is not a valid value"),
                       "got: %s", err);
    cr_expect_not_null(strstr(err, "using the default auto\n"), "got: %s", err);
}

Test(options, load_choice_is_case_insensitive)
{
    setenv("MPISHM_SHM", "MemFD", 1);
    options_load(1);
    cr_expect_eq(option_int(OPT_SHM), 1);
    cr_expect_str_eq(captured_stderr(), "");
}

Test(options, load_too_long_string)
{
    char value[2000]; /* string options hold up to 1023 characters */
    memset(value, 'x', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    setenv("MPISHM_FAULT", value, 1);
    options_load(1);
    cr_expect_str_eq(option_str(OPT_FAULT), "", "the default is kept");
    cr_expect_not_null(strstr(captured_stderr(), "libmpishm[?]: MPISHM_FAULT is too long"));
}

Test(options, report_selection_and_protection)
{
    cr_expect_str_eq(option_str(OPT_REPORT), "");
    cr_expect_str_eq(option_str(OPT_SITES), "");
    cr_expect_eq(option_int(OPT_AUTO), 0);
    cr_expect_eq(option_int(OPT_PROTECT), 0, "off");
    setenv("MPISHM_REPORT", "/tmp/run1.json", 1);
    setenv("MPISHM_SITES", "load_mesh, load_basis", 1);
    setenv("MPISHM_AUTO", "yes", 1);
    setenv("MPISHM_PROTECT", "WARN", 1);
    options_load(1);
    cr_expect_str_eq(option_str(OPT_REPORT), "/tmp/run1.json");
    cr_expect_str_eq(option_str(OPT_SITES), "load_mesh, load_basis");
    cr_expect_eq(option_int(OPT_AUTO), 1);
    cr_expect_eq(option_int(OPT_PROTECT), 2, "warn");
    setenv("MPISHM_PROTECT", "strict", 1);
    options_load(1);
    cr_expect_eq(option_int(OPT_PROTECT), 0, "a bad value keeps the default");
    cr_expect_not_null(strstr(captured_stderr(), "MPISHM_PROTECT=\"strict\" is not a valid value"));
}

Test(options, numa_scope_and_its_testing_aid)
{
    cr_expect_eq(option_int(OPT_SCOPE), 0, "node");
    cr_expect_str_eq(option_str(OPT_NUMA_FAKE), "");
    setenv("MPISHM_SCOPE", "NUMA", 1);
    setenv("MPISHM_NUMA_FAKE", "0,0,1,*", 1);
    options_load(1);
    cr_expect_eq(option_int(OPT_SCOPE), 1, "numa");
    cr_expect_str_eq(option_str(OPT_NUMA_FAKE), "0,0,1,*", "parsed where it is used (numa.c)");
    setenv("MPISHM_SCOPE", "socket", 1);
    options_load(1);
    cr_expect_eq(option_int(OPT_SCOPE), 0, "a bad value keeps the default");
    cr_expect_not_null(strstr(captured_stderr(), "MPISHM_SCOPE=\"socket\" is not a valid value"));
}

Test(options, unknown_variable_names_the_closest)
{
    setenv("MPISHM_TRESHOLD", "4M", 1);
    options_load(1);
    cr_expect_eq(option_int(OPT_THRESHOLD), 1 << 20, "a misspelled option changes nothing");
    cr_expect_str_eq(captured_stderr(),
                     "libmpishm[?]: unknown option MPISHM_TRESHOLD ignored; did you mean "
                     "MPISHM_THRESHOLD?\n");
}

Test(options, unknown_variable_foo)
{
    setenv("MPISHM_FOO", "1", 1);
    options_load(1);
    cr_expect_str_eq(captured_stderr(),
                     "libmpishm[?]: unknown option MPISHM_FOO ignored; did you mean MPISHM_SHM?\n");
}

Test(options, unknown_variable_far_from_every_name)
{
    setenv("MPISHM_COMPLETELY_UNRELATED", "1", 1);
    setenv("MPISHM_VERBOSE", "1", 1);
    options_load(1);
    cr_expect_eq(option_int(OPT_VERBOSE), 1, "known options still apply");
    cr_expect_str_eq(captured_stderr(), "libmpishm[?]: unknown option MPISHM_COMPLETELY_UNRELATED "
                                        "ignored (MPISHM_VERBOSE=2 lists the options)\n");
}

Test(options, unrelated_variables_are_ignored)
{
    setenv("MPISHMX", "1", 1);
    setenv("XMPISHM_FOO", "1", 1);
    options_load(1);
    unsetenv("MPISHMX");
    unsetenv("XMPISHM_FOO");
    cr_expect_str_eq(captured_stderr(), "");
}

Test(options, print_shows_the_values_in_effect)
{
    setenv("MPISHM_THRESHOLD", "2K", 1);
    setenv("MPISHM_SHM", "memfd", 1);
    options_load(1);
    options_print();
    const char *err = captured_stderr();
    cr_expect_not_null(strstr(err, "libmpishm[?]: option MPISHM_THRESHOLD=2048 "), "got: %s", err);
    cr_expect_not_null(strstr(err, "libmpishm[?]: option MPISHM_SHM=\"memfd\" "), "got: %s", err);
    cr_expect_not_null(strstr(err, "libmpishm[?]: option MPISHM_PREFAULT=1 "), "got: %s", err);
    size_t lines = 0;
    for (const char *c = err; *c; c++)
        lines += *c == '\n';
    cr_expect_eq(lines, OPT_COUNT, "one line per option");
}

Test(options, rank_in_the_prefix)
{
    setenv("MPISHM_FOO", "1", 1);
    log_set_rank(3);
    options_load(1);
    log_set_rank(-1);
    const char *err = captured_stderr();
    cr_expect(starts_with(err, "libmpishm[3]: unknown option MPISHM_FOO"), "got: %s", err);
}

Test(options, garbage_in_every_option_keeps_its_default)
{
    static const char *const garbage[] = {"\x01\x02", "-1", "1e9", "0x10", "yes please",
                                          "18446744073709551616", "NaN"};
    for (int i = 0; i < OPT_COUNT; i++) {
        const option_desc *d = &options_table[i];
        if (d->type == OPT_STRING && !d->choices)
            continue; /* free text: any value is a value */
        for (size_t g = 0; g < sizeof garbage / sizeof garbage[0]; g++) {
            options_reset();
            long long before = option_int((option_id)i);
            setenv(d->name, garbage[g], 1);
            options_load(1);
            cr_expect_eq(option_int((option_id)i), before, "%s=\"%s\" changed the value", d->name,
                         garbage[g]);
            unsetenv(d->name);
        }
    }
    cr_expect_not_null(strstr(captured_stderr(), "is not a valid value"));
}
