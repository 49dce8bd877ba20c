/* The public functions of include/mpishm.h. */
#include "mpishm_internal.h"

#include <stdint.h>

#include "callsite.h"
#include "lifetime.h"
#include "log.h"
#include "procmaps.h"
#include "region.h"
#include "release.h"
#include "stats.h"

MPISHM_EXPORT int mpishm_mark_readonly(const void *buf, size_t bytes)
{
    uintptr_t start = (uintptr_t)buf;
    if (!buf || bytes == 0 || start + bytes < start) {
        log_msg(1, "mpishm_mark_readonly(%p, %zu): %s", buf, bytes,
                mpishm_strerror(MPISHM_EINVAL));
        return MPISHM_EINVAL;
    }
    if (!procmaps_private_writable(start, start + bytes)) {
        log_msg(1, "mpishm_mark_readonly(%p, %zu): %s", buf, bytes,
                mpishm_strerror(MPISHM_EBADMEM));
        return MPISHM_EBADMEM;
    }
    callstack caller;
    callsite_capture(&caller); /* named only if a report or strict mode needs it */
    uintptr_t pc = caller.n ? caller.pc[0] : 0;
    int rc = region_add_from(start, bytes, ORIGIN_MARK, pc, -1);
    if (rc == MPISHM_EOVERLAP && retire_selected(start, bytes) == 0) /* the mark wins */
        rc = region_add_from(start, bytes, ORIGIN_MARK, pc, -1);
    log_msg(rc ? 1 : 2, "mpishm_mark_readonly(%p, %zu): %s", buf, bytes, mpishm_strerror(rc));
    return rc;
}

MPISHM_EXPORT int mpishm_unmark(const void *buf)
{
    region r;
    if (!buf)
        return MPISHM_EINVAL;
    if (!region_find((uintptr_t)buf, 0, &r) || r.base != (uintptr_t)buf) {
        log_msg(1, "mpishm_unmark(%p): %s", buf, mpishm_strerror(MPISHM_ENOTMARKED));
        return MPISHM_ENOTMARKED;
    }
    int rc = lifetime_react(LIFE_UNMARK, (void *)r.base, r.bytes); /* (its copy ends too) */
    log_msg(rc ? 1 : 2, "mpishm_unmark(%p): %s", buf, mpishm_strerror(rc));
    return rc;
}

MPISHM_EXPORT int mpishm_query(const void *addr, mpishm_info *info)
{
    if (!info)
        return MPISHM_EINVAL;
    region r;
    *info = (mpishm_info){0};
    if (!region_find((uintptr_t)addr, 0, &r))
        return 0;
    info->base = (const void *)r.base;
    info->bytes = r.bytes;
    info->shared = r.shared;
    info->shared_bytes = r.shared_bytes;
    info->segment_dev = r.dev;
    info->segment_inode = r.ino;
    info->broadcasts = r.broadcasts;
    return 0;
}

MPISHM_EXPORT int mpishm_get_stats(mpishm_stats *stats)
{
    if (!stats)
        return MPISHM_EINVAL;
    stats_get(stats);
    return 0;
}

MPISHM_EXPORT const char *mpishm_strerror(int code)
{
    switch (code) {
    case MPISHM_SUCCESS: return "success";
    case MPISHM_EINVAL: return "invalid argument (NULL pointer, zero length or wrapping range)";
    case MPISHM_EOVERLAP: return "the range overlaps an array already marked";
    case MPISHM_ENOTMARKED: return "no marked array starts at this address";
    case MPISHM_EBADMEM:
        return "the range is not private writable memory of this process";
    case MPISHM_ENOMEM: return "out of memory for the library's bookkeeping";
    case MPISHM_ENOTLOADED: return "libmpishm is not loaded";
    case MPISHM_ESYSTEM: return "a system call failed while changing the mapping";
    case MPISHM_ENOTCONTIGUOUS:
        return "the array's elements are not adjacent in memory (a strided section)";
    }
    return "unknown libmpishm error code";
}
