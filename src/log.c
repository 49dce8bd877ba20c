#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

int log_verbosity;
static int log_rank = -1;

void log_set_rank(int rank) { log_rank = rank; }

void log_msg(int level, const char *fmt, ...)
{
    if (level > log_verbosity)
        return;
    int saved = errno;
    char line[1024];
    int n = log_rank >= 0 ? snprintf(line, sizeof line, "libmpishm[%d]: ", log_rank)
                          : snprintf(line, sizeof line, "libmpishm[?]: ");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    for (size_t off = 0; off < len;) {
        ssize_t w = write(STDERR_FILENO, line + off, len - off);
        if (w <= 0 && errno != EINTR)
            break;
        if (w > 0)
            off += (size_t)w;
    }
    errno = saved;
}
