#define _GNU_SOURCE
#include "procmaps.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct scan {
    uintptr_t covered, end;
    int broken;
    int guarded;            /* refuse a mapping right above an inaccessible one */
    int readable;           /* accept any readable mapping (and nothing else is asked) */
    int read_only_ok;       /* not readable alone: no stack, but need not be private writable */
    uintptr_t prev_hi;      /* the previous line's mapping */
    int prev_inaccessible;
} scan;

/* A line "lo-hi perms offset dev inode path": its range and permissions, or 0 when it is not
 * one. */
static int parse_line(const char *line, uintptr_t *lo, uintptr_t *hi, const char **perms)
{
    char *p;
    *lo = (uintptr_t)strtoull(line, &p, 16);
    if (*p != '-')
        return 0;
    *hi = (uintptr_t)strtoull(p + 1, &p, 16);
    *perms = p + 1;
    return 1;
}

/* Does one line extend the covered prefix? 1: stop. */
static int take_line(const char *line, void *ctx)
{
    scan *sc = ctx;
    uintptr_t lo, hi;
    const char *perms;
    if (!parse_line(line, &lo, &hi, &perms))
        return 0;
    int below_is_guard = sc->prev_inaccessible && sc->prev_hi == lo;
    sc->prev_hi = hi;
    sc->prev_inaccessible = perms[0] == '-' && perms[1] == '-' && perms[2] == '-';
    if (hi <= sc->covered || lo >= sc->end || sc->broken)
        return sc->covered >= sc->end || sc->broken;
    /* glibc puts an inaccessible guard page right below every thread's stack */
    int ok = lo <= sc->covered && perms[0] == 'r' &&
             (sc->readable ||
              ((sc->read_only_ok || (perms[1] == 'w' && perms[3] == 'p')) &&
               !strstr(line, "[stack]") && !(sc->guarded && below_is_guard)));
    if (ok)
        sc->covered = hi;
    else
        sc->broken = 1;
    return sc->covered >= sc->end || sc->broken;
}

/* Calls take(line, ctx) for each line of /proc/self/maps until it returns nonzero, without
 * allocating. -1 when the map cannot be read. */
static int each_line(int (*take)(const char *line, void *ctx), void *ctx)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[8192];
    size_t have = 0;
    for (int stop = 0; !stop;) {
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n <= 0)
            break;
        have += (size_t)n;
        buf[have] = '\0';
        char *line = buf, *nl;
        while (!stop && (nl = strchr(line, '\n'))) {
            *nl = '\0';
            stop = take(line, ctx);
            line = nl + 1;
        }
        have = (size_t)(buf + have - line); /* keep the partial last line */
        memmove(buf, line, have);
        if (have == sizeof buf - 1)
            have = 0; /* a line longer than the buffer: skip it */
    }
    close(fd);
    return 0;
}

static int scan_maps(uintptr_t start, uintptr_t end, int guarded, int readable, int read_only_ok)
{
    scan sc = {.covered = start, .end = end, .guarded = guarded, .readable = readable,
               .read_only_ok = read_only_ok};
    return each_line(take_line, &sc) == 0 && !sc.broken && sc.covered >= end;
}

typedef struct ranges {
    procmaps_range *r;
    size_t n, cap;
    int failed;
} ranges;

static int take_readable(const char *line, void *ctx)
{
    ranges *rs = ctx;
    uintptr_t lo, hi;
    const char *perms;
    if (!parse_line(line, &lo, &hi, &perms) || perms[0] != 'r')
        return 0;
    if (rs->n && rs->r[rs->n - 1].hi == lo) { /* one run of readable memory */
        rs->r[rs->n - 1].hi = hi;
        return 0;
    }
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? 2 * rs->cap : 256;
        procmaps_range *grown = realloc(rs->r, cap * sizeof *grown);
        if (!grown)
            return rs->failed = 1;
        rs->r = grown, rs->cap = cap;
    }
    rs->r[rs->n++] = (procmaps_range){lo, hi};
    return 0;
}

size_t procmaps_readable_ranges(procmaps_range **out)
{
    ranges rs = {0};
    if (each_line(take_readable, &rs) != 0 || rs.failed) {
        free(rs.r);
        *out = NULL;
        return 0;
    }
    *out = rs.r;
    return rs.n;
}

int procmaps_in_ranges(const procmaps_range *r, size_t n, uintptr_t start, uintptr_t end)
{
    size_t lo = 0, hi = n; /* the first range ending after start */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r[mid].hi <= start)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && r[lo].lo <= start && r[lo].hi >= end;
}

int procmaps_private_writable(uintptr_t start, uintptr_t end)
{
    return scan_maps(start, end, 0, 0, 0);
}

int procmaps_readable(uintptr_t start, uintptr_t end) { return scan_maps(start, end, 0, 1, 0); }

/* /proc/self/pagemap: one 64-bit entry per page; bit 63 present, bit 62 swapped, bit 61 a
 * page of a file or of shared memory. A written page of a private file mapping is anonymous. */
#define PAGEMAP_PRESENT(e) (((e) >> 63) & 1)
#define PAGEMAP_SWAPPED(e) (((e) >> 62) & 1)
#define PAGEMAP_FILE(e) (((e) >> 61) & 1)

/* Calls visit(entries, n, first, ctx) on the entries of the whole pages of [start, start+len)
 * in order, a chunk at a time (first: the index of entries[0] from `start`'s page). Returns
 * 0, or -1 when the map cannot be read. */
typedef void pagemap_visit(const uint64_t *entries, size_t n, size_t first, void *ctx);
static int pagemap_scan(uintptr_t start, size_t len, pagemap_visit *visit, void *ctx)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = 0;
    uint64_t entries[512];
    for (size_t done = 0; done < len / page;) {
        size_t n = len / page - done < 512 ? len / page - done : 512;
        off_t at = (off_t)((start / page + done) * sizeof entries[0]);
        if (pread(fd, entries, n * sizeof entries[0], at) != (ssize_t)(n * sizeof entries[0])) {
            rc = -1;
            break;
        }
        visit(entries, n, done, ctx);
        done += n;
    }
    close(fd);
    return rc;
}

long procmaps_private_pages(uintptr_t start, size_t len)
{
    long file;
    return procmaps_page_kinds(start, len, &file);
}

typedef struct kinds {
    long own, file;
} kinds;

static void count_kinds(const uint64_t *e, size_t n, size_t first, void *ctx)
{
    kinds *k = ctx;
    (void)first;
    for (size_t i = 0; i < n; i++) {
        k->own += (PAGEMAP_PRESENT(e[i]) || PAGEMAP_SWAPPED(e[i])) && !PAGEMAP_FILE(e[i]);
        k->file += PAGEMAP_PRESENT(e[i]) && PAGEMAP_FILE(e[i]);
    }
}

long procmaps_page_kinds(uintptr_t start, size_t len, long *file)
{
    kinds k = {0, 0};
    int rc = pagemap_scan(start, len, count_kinds, &k);
    *file = rc ? 0 : k.file;
    return rc ? -1 : k.own;
}

typedef struct spans {
    size_t first_page, pages_per_span; /* start's page number; pages one table maps */
    size_t last;                       /* the last span counted, plus one (0: none yet) */
    long count;
} spans;

static void count_spans(const uint64_t *e, size_t n, size_t first, void *ctx)
{
    spans *s = ctx;
    for (size_t i = 0; i < n; i++) {
        size_t span = (s->first_page + first + i) / s->pages_per_span;
        if (PAGEMAP_PRESENT(e[i]) && span + 1 != s->last)
            s->last = span + 1, s->count++;
    }
}

long procmaps_table_spans(uintptr_t start, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    spans s = {start / page, page / sizeof(uint64_t), 0, 0};
    return pagemap_scan(start, len, count_spans, &s) ? -1 : s.count;
}

/* The calling thread's stack, also when the application gave it without a guard page
 * (pthread_attr_setstack, a guard size of 0). Asked once per thread. */
static int on_own_stack(uintptr_t start, uintptr_t end)
{
    static __thread uintptr_t lo, hi;
    static __thread int known;
    if (!known) {
        pthread_attr_t attr;
        void *addr;
        size_t size;
        if (pthread_getattr_np(pthread_self(), &attr) == 0) {
            if (pthread_attr_getstack(&attr, &addr, &size) == 0)
                lo = (uintptr_t)addr, hi = (uintptr_t)addr + size;
            pthread_attr_destroy(&attr);
        }
        known = 1;
    }
    return start < hi && end > lo;
}

int procmaps_not_a_stack(uintptr_t start, uintptr_t end)
{
    return !on_own_stack(start, end) && scan_maps(start, end, 1, 0, 0);
}

int procmaps_readable_not_a_stack(uintptr_t start, uintptr_t end)
{
    return !on_own_stack(start, end) && scan_maps(start, end, 1, 0, 1);
}
