/* Memory as the kernel accounts it, read from /proc/self/smaps: PSS (proportional set size)
 * charges a page shared by k processes 1/k to each, so summing PSS over the ranks of a node
 * counts every page once. Header-only, for the example and the tests. */
#ifndef MEMSTAT_H
#define MEMSTAT_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* PSS of the range [p, p+len), in bytes (-1 when unreadable): the PSS of the mappings
 * inside it, and of a mapping that reaches outside (the kernel merges an array's first and
 * last pages with neighbouring memory) at most the bytes it has inside the range. */
static inline long long memstat_range_pss(const void *p, size_t len)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return -1;
    uintptr_t lo = (uintptr_t)p, hi = lo + len;
    char line[512];
    long long total = 0, kb, overlap = 0;
    unsigned long a, b;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            uintptr_t from = a > lo ? a : lo, to = b < hi ? b : hi;
            overlap = from < to ? (long long)(to - from) : 0;
        } else if (overlap && sscanf(line, "Pss: %lld kB", &kb) == 1) {
            total += kb * 1024 < overlap ? kb * 1024 : overlap;
        }
    }
    fclose(f);
    return total;
}

/* PSS of the whole process, in bytes (-1 when unreadable). */
static inline long long memstat_process_pss(void)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (!f)
        return -1;
    char line[256];
    long long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Pss: %lld kB", &kb) == 1)
            break;
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

/* Device and inode of the file mapped at address p ("0 0" for anonymous memory); 0 on
 * success, -1 when no mapping contains p. */
static inline int memstat_mapping_id(const void *p, unsigned long *dev, unsigned long *ino)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    char line[512];
    int rc = -1;
    unsigned long a, b, major, minor, inode;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%lx-%lx %*s %*s %lx:%lx %lu", &a, &b, &major, &minor, &inode) == 5 &&
            a <= (uintptr_t)p && (uintptr_t)p < b) {
            *dev = major << 8 | minor;
            *ino = inode;
            rc = 0;
            break;
        }
    fclose(f);
    return rc;
}

#endif
