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

/* Does one line "lo-hi perms offset dev inode path" extend the covered prefix? */
static void take_line(const char *line, scan *sc)
{
    char *p;
    uintptr_t lo = (uintptr_t)strtoull(line, &p, 16);
    if (*p != '-')
        return;
    uintptr_t hi = (uintptr_t)strtoull(p + 1, &p, 16);
    const char *perms = p + 1;
    int below_is_guard = sc->prev_inaccessible && sc->prev_hi == lo;
    sc->prev_hi = hi;
    sc->prev_inaccessible = perms[0] == '-' && perms[1] == '-' && perms[2] == '-';
    if (hi <= sc->covered || lo >= sc->end || sc->broken)
        return;
    /* glibc puts an inaccessible guard page right below every thread's stack */
    int ok = lo <= sc->covered && perms[0] == 'r' &&
             (sc->readable ||
              ((sc->read_only_ok || (perms[1] == 'w' && perms[3] == 'p')) &&
               !strstr(line, "[stack]") && !(sc->guarded && below_is_guard)));
    if (ok)
        sc->covered = hi;
    else
        sc->broken = 1;
}

static int scan_maps(uintptr_t start, uintptr_t end, int guarded, int readable, int read_only_ok)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[8192];
    size_t have = 0;
    scan sc = {.covered = start, .end = end, .guarded = guarded, .readable = readable,
               .read_only_ok = read_only_ok};
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n <= 0)
            break;
        have += (size_t)n;
        buf[have] = '\0';
        char *line = buf, *nl;
        while ((nl = strchr(line, '\n'))) {
            *nl = '\0';
            take_line(line, &sc);
            line = nl + 1;
        }
        have = (size_t)(buf + have - line); /* keep the partial last line */
        memmove(buf, line, have);
        if (have == sizeof buf - 1)
            have = 0; /* a line longer than the buffer: skip it */
        if (sc.covered >= end || sc.broken)
            break;
    }
    close(fd);
    return !sc.broken && sc.covered >= end;
}

int procmaps_private_writable(uintptr_t start, uintptr_t end)
{
    return scan_maps(start, end, 0, 0, 0);
}

int procmaps_readable(uintptr_t start, uintptr_t end) { return scan_maps(start, end, 0, 1, 0); }

/* /proc/self/pagemap: one 64-bit entry per page; bit 63 present, bit 62 swapped, bit 61 a
 * page of a file or of shared memory. A written page of a private file mapping is anonymous. */
long procmaps_private_pages(uintptr_t start, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    long found = 0;
    uint64_t entries[512];
    for (size_t done = 0; done < len / page && found >= 0;) {
        size_t n = len / page - done < 512 ? len / page - done : 512;
        off_t at = (off_t)((start / page + done) * sizeof entries[0]);
        ssize_t got = pread(fd, entries, n * sizeof entries[0], at);
        if (got != (ssize_t)(n * sizeof entries[0])) {
            found = -1;
            break;
        }
        for (size_t i = 0; i < n; i++) {
            uint64_t e = entries[i];
            found += ((e >> 63) & 1 || (e >> 62) & 1) && !((e >> 61) & 1);
        }
        done += n;
    }
    close(fd);
    return found;
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
