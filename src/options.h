/* The library's options: one table, read from the environment once at MPI_Init. */
#ifndef MPISHM_OPTIONS_H
#define MPISHM_OPTIONS_H

#include <stddef.h>

typedef enum {
    OPT_DISABLE,   /* bool: pure pass-through */
    OPT_THRESHOLD, /* size: smallest broadcast (bytes) that is shared */
    OPT_VERBOSE,   /* int: 0 quiet, 1 decisions and fallbacks, 2 every step */
    OPT_PREFAULT,  /* bool: map the shared pages into page tables at once */
    OPT_SHM,       /* enum: which segment kind to try: auto, memfd, posix */
    OPT_FAULT,     /* string: testing aid, stage:rank[,stage:rank...] */
    OPT_REPORT,    /* string: "" none, "stderr", or a JSON file path */
    OPT_SITES,     /* string: function names whose broadcasts are shared unmarked */
    OPT_AUTO,      /* bool: every eligible broadcast counts as marked */
    OPT_PROTECT,   /* enum: off, readonly, warn */
    OPT_HEADROOM,  /* size: memory left free under the tightest limit after a node copy */
    OPT_RESHARE,   /* enum: auto (time re-sharing at selected sites), always */
    OPT_HUGEPAGES, /* enum: auto, on, off: node copies in 2 MiB pages */
    OPT_SCOPE,     /* enum: node (one copy per node), numa (one per NUMA domain) */
    OPT_NUMA_FAKE, /* string: testing aid, fake NUMA domains by world rank */
    OPT_ALIGN,     /* bool: large allocations start on 2 MiB boundaries (read at load) */
    OPT_COUNT
} option_id;

typedef enum { OPT_BOOL, OPT_SIZE, OPT_INT, OPT_STRING } option_type;

typedef struct {
    const char *name;   /* environment variable */
    option_type type;
    const char *initial; /* default, as text, parsed like a value from the environment */
    const char *help;
    const char *choices; /* for a string option with fixed values: "a|b|c", else NULL */
} option_desc;

/* The table itself (OPT_COUNT rows), for printing and for the tests. */
extern const option_desc options_table[OPT_COUNT];

/* Parse every option from the environment; bad values keep the default; unknown MPISHM_*
 * variables are named with the closest real name. Both are warnings when `warnings` is set
 * (one rank of a job), verbose-level messages otherwise. Safe to call again (re-reads). */
void options_load(int warnings);

/* This process's own value of option `id` now, from the environment or else the default,
 * without warnings: for what runs before MPI_Init (the allocator hooks). Allocates nothing. */
long long option_from_env(option_id id);

/* Reset every option to its default without reading the environment. */
void options_reset(void);

/* The value of a numeric or boolean option (sizes in bytes). */
long long option_int(option_id id);

/* The value of a string option, "" when unset. */
const char *option_str(option_id id);

/* Index of `text` among the '|'-separated `choices`, or -1. */
int option_choice(const char *choices, const char *text);

/* Parse `text` as a value of `type` into *out: 0 on success, -1 when malformed or out of range.
 * Sizes accept a plain number of bytes or a K/M/G/T suffix (powers of 1024, optional "iB"/"B").
 * Booleans accept 1/0, yes/no, on/off, true/false. */
int option_parse(option_type type, const char *text, long long *out);

/* The option name nearest to `name` by edit distance, or NULL when nothing is close. */
const char *option_closest(const char *name);

/* Print the options in effect (verbose mode). */
void options_print(void);

#endif
