#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

extern char **environ;

const option_desc options_table[OPT_COUNT] = {
    [OPT_DISABLE] = {"MPISHM_DISABLE", OPT_BOOL, "0",
                     "1: intercept nothing, every call goes straight to MPI"},
    [OPT_THRESHOLD] = {"MPISHM_THRESHOLD", OPT_SIZE, "1M",
                       "smallest broadcast that is shared, in bytes (K/M/G suffixes)"},
    [OPT_VERBOSE] = {"MPISHM_VERBOSE", OPT_INT, "0",
                     "0 warnings only, 1 each shared broadcast and each fallback, 2 every step"},
    [OPT_PREFAULT] = {"MPISHM_PREFAULT", OPT_BOOL, "1",
                      "map the shared pages into every rank's page tables at once"},
    [OPT_SHM] = {"MPISHM_SHM", OPT_STRING, "auto",
                 "segment kind: auto (memfd, then POSIX shm), memfd, posix", "auto|memfd|posix"},
    [OPT_FAULT] = {"MPISHM_FAULT", OPT_STRING, "",
                   "testing aid: stage:rank[@n][,...] fails a stage once (the n-th time) on a world rank "
                   "(stages: create reserve open map seed copy remap refill topology build report mpi kill "
                   "headroom timing punch)"},
    [OPT_REPORT] = {"MPISHM_REPORT", OPT_STRING, "",
                    "at MPI_Finalize, report what was shared and what could be, and which "
                    "broadcast buffers stayed read-only (hashed): stderr (a table from rank 0) or "
                    "the path of a JSON file (written by rank 0)"},
    [OPT_SITES] = {"MPISHM_SITES", OPT_STRING, "",
                   "name[,name...]: share every eligible broadcast whose call stack passes through "
                   "one of these functions, without marking (names as the report prints them)"},
    [OPT_AUTO] = {"MPISHM_AUTO", OPT_BOOL, "0",
                  "1: treat the buffer of every eligible broadcast as marked (never a stack)"},
    [OPT_PROTECT] = {"MPISHM_PROTECT", OPT_STRING, "off",
                     "shared pages: off (copy-on-write), readonly (a write stops the rank with a "
                     "message), warn (a write is counted, reported, and made private)",
                     "off|readonly|warn"},
    [OPT_HEADROOM] = {"MPISHM_HEADROOM", OPT_SIZE, "64M",
                      "a node copy is made only where the node's tightest memory limit (cgroup, "
                      "MemAvailable) keeps this much free after it; elsewhere every rank falls "
                      "back to MPI_Bcast"},
    [OPT_RESHARE] = {"MPISHM_RESHARE", OPT_STRING, "auto",
                     "auto: a site selected by MPISHM_SITES or MPISHM_AUTO whose shared "
                     "broadcasts, timed against one MPI_Bcast, are slower is left to MPI; "
                     "always: keep sharing (memory first)", "auto|always"},
    [OPT_HUGEPAGES] = {"MPISHM_HUGEPAGES", OPT_STRING, "auto",
                       "node copies in 2 MiB pages, mapped with one page-table entry per 2 MiB: "
                       "auto (where the system's policy for shared memory allows them; said "
                       "once in verbose mode where it does not), on (the same, and a warning "
                       "where it does not), off (laid out for 4 KiB pages, as before)", "auto|on|off"},
    [OPT_SCOPE] = {"MPISHM_SCOPE", OPT_STRING, "node",
                   "node: one copy per node; numa: one copy per NUMA domain, for ranks bound "
                   "to one NUMA node each (else one per node, said at MPISHM_VERBOSE=1)",
                   "node|numa"},
    [OPT_NUMA_FAKE] = {"MPISHM_NUMA_FAKE", OPT_STRING, "",
                       "testing aid: d[,d...] puts world rank r in fake NUMA domain d[r mod "
                       "count], '*' for a rank bound to no single domain"},
    [OPT_ALIGN] = {"MPISHM_ALIGN", OPT_BOOL, "1",
                   "blocks of at least MPISHM_THRESHOLD from malloc, calloc, realloc, "
                   "posix_memalign, aligned_alloc, memalign, valloc, pvalloc and C++ new start on "
                   "a 2 MiB boundary (below 2 MiB: a page), the same on every rank (read when "
                   "the library loads)"},
};

static long long values[OPT_COUNT];
static char strings[OPT_COUNT][1024];

long long option_int(option_id id) { return values[id]; }
const char *option_str(option_id id) { return strings[id]; }

static int parse_bool(const char *t, long long *out)
{
    static const char *const yes[] = {"1", "yes", "on", "true"};
    static const char *const no[] = {"0", "no", "off", "false"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(t, yes[i]) == 0)
            return *out = 1, 0;
        if (strcasecmp(t, no[i]) == 0)
            return *out = 0, 0;
    }
    return -1;
}

static int parse_number(const char *t, int with_suffix, long long *out)
{
    while (isspace((unsigned char)*t))
        t++;
    if (!isdigit((unsigned char)*t))
        return -1; /* no sign, no empty string */
    char *end;
    errno = 0;
    unsigned long long v = strtoull(t, &end, 10);
    if (errno || end == t)
        return -1;
    unsigned shift = 0;
    if (with_suffix && *end) {
        const char *units = "KMGT";
        const char *u = strchr(units, toupper((unsigned char)*end));
        if (!u)
            return -1;
        shift = 10 * (unsigned)(u - units + 1);
        end++;
        if (*end == 'i' || *end == 'I')
            end++;
        if (*end == 'b' || *end == 'B')
            end++;
    }
    while (isspace((unsigned char)*end))
        end++;
    if (*end)
        return -1;
    if (v > (unsigned long long)LLONG_MAX >> shift)
        return -1;
    *out = (long long)(v << shift);
    return 0;
}

int option_choice(const char *choices, const char *text)
{
    size_t len = strlen(text);
    int index = 0;
    for (const char *c = choices; *c; index++) {
        size_t n = strcspn(c, "|");
        if (n == len && strncasecmp(c, text, n) == 0)
            return index;
        c += n + (c[n] == '|');
    }
    return -1;
}

int option_parse(option_type type, const char *text, long long *out)
{
    if (!text)
        return -1;
    switch (type) {
    case OPT_BOOL: return parse_bool(text, out);
    case OPT_SIZE: return parse_number(text, 1, out);
    case OPT_INT: return parse_number(text, 0, out);
    case OPT_STRING: return 0;
    }
    return -1;
}

long long option_from_env(option_id id)
{
    const option_desc *d = &options_table[id];
    long long v = 0;
    if (option_parse(d->type, getenv(d->name), &v) != 0)
        option_parse(d->type, d->initial, &v);
    return v;
}

static void set_default(option_id id)
{
    const option_desc *d = &options_table[id];
    values[id] = 0;
    option_parse(d->type, d->initial, &values[id]);
    if (d->choices)
        values[id] = option_choice(d->choices, d->initial);
    strncpy(strings[id], d->initial, sizeof strings[id] - 1);
}

void options_reset(void)
{
    for (int i = 0; i < OPT_COUNT; i++)
        set_default((option_id)i);
    log_verbosity = (int)values[OPT_VERBOSE];
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return (size_t)-1;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = toupper((unsigned char)a[i - 1]) != toupper((unsigned char)b[j - 1]);
            size_t best = diag + cost;
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *option_closest(const char *name)
{
    const char *best = NULL;
    size_t best_d = 4; /* farther than three edits is not a misspelling */
    for (int i = 0; i < OPT_COUNT; i++) {
        size_t d = edit_distance(name, options_table[i].name);
        if (d < best_d)
            best_d = d, best = options_table[i].name;
    }
    return best;
}

static int warn = 1; /* options_load's argument: only one rank of a job warns */

static void warn_unknown(const char *entry)
{
    char name[64];
    size_t n = strcspn(entry, "=");
    if (n >= sizeof name)
        n = sizeof name - 1;
    memcpy(name, entry, n);
    name[n] = '\0';
    for (int i = 0; i < OPT_COUNT; i++)
        if (strcmp(name, options_table[i].name) == 0)
            return;
    const char *near = option_closest(name);
    if (near)
        log_msg(warn ? 0 : 1, "unknown option %s ignored; did you mean %s?", name, near);
    else
        log_msg(warn ? 0 : 1, "unknown option %s ignored (MPISHM_VERBOSE=2 lists the options)",
                name);
}

void options_load(int warnings)
{
    warn = warnings;
    options_reset();
    for (int i = 0; i < OPT_COUNT; i++) {
        const option_desc *d = &options_table[i];
        const char *text = getenv(d->name);
        if (!text)
            continue;
        long long v = 0;
        int bad = option_parse(d->type, text, &v) != 0 ||
                  (d->choices && (v = option_choice(d->choices, text)) < 0);
        if (bad) {
            log_msg(warn ? 0 : 1, "%s=\"%s\" is not a valid value (%s); using the default %s", d->name,
                    text, d->help, d->initial);
            continue;
        }
        values[i] = v;
        if (d->type == OPT_STRING) {
            if (strlen(text) >= sizeof strings[i])
                log_msg(warn ? 0 : 1, "%s is too long; using the default \"%s\"", d->name, d->initial);
            else
                strcpy(strings[i], text);
        }
    }
    log_verbosity = (int)values[OPT_VERBOSE];
    for (char **e = environ; e && *e; e++)
        if (strncmp(*e, "MPISHM_", 7) == 0)
            warn_unknown(*e);
}

void options_print(void)
{
    for (int i = 0; i < OPT_COUNT; i++) {
        const option_desc *d = &options_table[i];
        if (d->type == OPT_STRING)
            log_msg(0, "option %s=\"%s\"  (%s)", d->name, strings[i], d->help);
        else
            log_msg(0, "option %s=%lld  (%s)", d->name, values[i], d->help);
    }
}
