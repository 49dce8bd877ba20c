#include "procmaps.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Does one line "lo-hi perms offset dev inode path" extend the covered prefix? */
static void take_line(const char *line, uintptr_t *covered, uintptr_t end, int *broken)
{
    char *p;
    uintptr_t lo = (uintptr_t)strtoull(line, &p, 16);
    if (*p != '-')
        return;
    uintptr_t hi = (uintptr_t)strtoull(p + 1, &p, 16);
    if (hi <= *covered || lo >= end || *broken)
        return;
    const char *perms = p + 1;
    int ok = lo <= *covered && perms[0] == 'r' && perms[1] == 'w' && perms[3] == 'p' &&
             !strstr(line, "[stack]");
    if (ok)
        *covered = hi;
    else
        *broken = 1;
}

int procmaps_private_writable(uintptr_t start, uintptr_t end)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[8192];
    size_t have = 0;
    uintptr_t covered = start;
    int broken = 0;
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n <= 0)
            break;
        have += (size_t)n;
        buf[have] = '\0';
        char *line = buf, *nl;
        while ((nl = strchr(line, '\n'))) {
            *nl = '\0';
            take_line(line, &covered, end, &broken);
            line = nl + 1;
        }
        have = (size_t)(buf + have - line); /* keep the partial last line */
        memmove(buf, line, have);
        if (have == sizeof buf - 1)
            have = 0; /* a line longer than the buffer: skip it */
        if (covered >= end || broken)
            break;
    }
    close(fd);
    return !broken && covered >= end;
}
