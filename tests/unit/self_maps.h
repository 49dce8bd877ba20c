/* What the kernel says about this process's mappings (/proc/self/maps), read with stdio: the
 * tests' independent view of what segment.c, release.c and procmaps.c did to the memory. */
#ifndef UNIT_SELF_MAPS_H
#define UNIT_SELF_MAPS_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Under valgrind the main thread runs on a stack valgrind made, which /proc/self/maps does
 * not call [stack]: the tests of the main stack are skipped there. */
static inline int main_stack_is_valgrinds(void)
{
    const char *preload = getenv("LD_PRELOAD");
    return preload && strstr(preload, "vgpreload");
}

typedef struct maps_line {
    uintptr_t lo, hi;
    unsigned long inode;
} maps_line;

/* The next parsed line of f into *m: 1, or 0 at the end. */
static inline int maps_next(FILE *f, maps_line *m)
{
    char line[512];
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi, off;
        unsigned maj, min;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu", &lo, &hi, perms, &off, &maj, &min,
                   &m->inode) == 7) {
            m->lo = lo, m->hi = hi;
            return 1;
        }
    }
    return 0;
}

static inline FILE *maps_open(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    cr_assert_not_null(f, "cannot read /proc/self/maps");
    return f;
}

/* Inode of the mapping holding addr (0: anonymous), or -1 when addr is not mapped. */
static inline long maps_inode(const void *addr)
{
    FILE *f = maps_open();
    maps_line m;
    long ino = -1;
    while (ino < 0 && maps_next(f, &m))
        if (m.lo <= (uintptr_t)addr && (uintptr_t)addr < m.hi)
            ino = (long)m.inode;
    fclose(f);
    return ino;
}

/* Whether any mapping shows the file with inode ino. */
static inline int maps_has_inode(unsigned long ino)
{
    FILE *f = maps_open();
    maps_line m;
    int found = 0;
    while (!found && maps_next(f, &m))
        found = m.inode == ino;
    fclose(f);
    return found;
}

/* How many mappings meet [start, end). */
static inline int maps_lines(uintptr_t start, uintptr_t end)
{
    FILE *f = maps_open();
    maps_line m;
    int n = 0;
    while (maps_next(f, &m))
        n += m.lo < end && m.hi > start;
    fclose(f);
    return n;
}

#endif
