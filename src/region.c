#include "region.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lifetime.h"
#include "mpishm_internal.h"

/* glibc's own functions: our free/realloc wrappers look up this registry, under this lock. */
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static region *items; /* sorted by base, disjoint */
static size_t count, capacity;
static size_t published_count; /* read without the lock */
/* lowest and highest address covered, for the cheap negative answer of take_overlapping */
static uintptr_t lowest = UINTPTR_MAX, highest;

static int kept_fds; /* descriptors held by items, under the lock */

/* Views of dropped descriptors, unmapped once the lock is let go: munmap is this library's
 * own and UCX's hook, both of which look the registry up. A view exists only with a kept
 * descriptor, so no more than REGION_FDS_MAX wait at once. */
static struct { void *addr; size_t len; } unmaps[REGION_FDS_MAX];
static int nunmaps;

size_t region_count(void) { return __atomic_load_n(&published_count, __ATOMIC_RELAXED); }

/* (An application that closed the descriptor and reused its number keeps its file.) */
static void drop_fd(region *r)
{
    struct stat st;
    int n = nunmaps;
    if (r->view && n < REGION_FDS_MAX) { /* (else it stays mapped: never seen to happen) */
        unmaps[n].addr = r->view, unmaps[n].len = r->view_len;
        __atomic_store_n(&nunmaps, n + 1, __ATOMIC_RELAXED);
    }
    r->view = NULL, r->view_len = 0;
    if (r->fd >= 0) {
        if (fstat(r->fd, &st) == 0 && (unsigned long)st.st_dev == r->fd_dev &&
            (unsigned long)st.st_ino == r->fd_ino)
            close(r->fd);
        kept_fds--;
    }
    r->fd = -1;
}

void region_unmap_views(void)
{
    if (!__atomic_load_n(&nunmaps, __ATOMIC_RELAXED))
        return;
    __typeof__(unmaps) now;
    pthread_mutex_lock(&lock);
    int n = nunmaps;
    memcpy(now, unmaps, (size_t)n * sizeof now[0]);
    __atomic_store_n(&nunmaps, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < n; i++)
        munmap(now[i].addr, now[i].len);
}

static void publish(void)
{
    __atomic_store_n(&lowest, count ? items[0].base : UINTPTR_MAX, __ATOMIC_RELAXED);
    __atomic_store_n(&highest, count ? items[count - 1].base + items[count - 1].bytes : 0,
                     __ATOMIC_RELAXED);
    __atomic_store_n(&published_count, count, __ATOMIC_RELAXED);
    lifetime_watch(LIFETIME_MARKS, count != 0);
}

/* Index of the first item whose end is above addr (count when none). */
static size_t first_ending_after(uintptr_t addr)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (items[mid].base + items[mid].bytes <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int region_add(uintptr_t base, size_t bytes)
{
    return region_add_from(base, bytes, ORIGIN_MARK, 0, -1);
}

int region_add_from(uintptr_t base, size_t bytes, region_origin origin, uintptr_t mark_pc,
                    int site)
{
    if (bytes == 0 || base + bytes < base)
        return MPISHM_EINVAL;
    int rc = 0;
    pthread_mutex_lock(&lock);
    size_t i = first_ending_after(base);
    if (i < count && items[i].base < base + bytes) {
        rc = MPISHM_EOVERLAP;
        goto out;
    }
    if (count == capacity) {
        size_t cap = capacity ? 2 * capacity : 16;
        region *grown = __libc_realloc(items, cap * sizeof *items);
        if (!grown) {
            rc = MPISHM_ENOMEM;
            goto out;
        }
        items = grown, capacity = cap;
    }
    memmove(&items[i + 1], &items[i], (count - i) * sizeof *items);
    items[i] = (region){.base = base, .bytes = bytes, .origin = origin, .mark_pc = mark_pc,
                        .site = site, .fd = -1};
    count++;
    publish();
out:
    pthread_mutex_unlock(&lock);
    return rc;
}

static void remove_at(size_t i)
{
    drop_fd(&items[i]);
    memmove(&items[i], &items[i + 1], (count - i - 1) * sizeof *items);
    count--;
    publish();
}

int region_remove(uintptr_t base, region *out)
{
    int rc = MPISHM_ENOTMARKED;
    pthread_mutex_lock(&lock);
    size_t i = first_ending_after(base);
    if (i < count && items[i].base == base) {
        if (out)
            *out = items[i];
        remove_at(i);
        rc = 0;
    }
    pthread_mutex_unlock(&lock);
    region_unmap_views();
    return rc;
}

int region_find(uintptr_t addr, size_t bytes, region *out)
{
    int found = 0;
    pthread_mutex_lock(&lock);
    size_t i = first_ending_after(addr);
    if (i < count && items[i].base <= addr && addr + bytes >= addr &&
        addr + bytes <= items[i].base + items[i].bytes) {
        *out = items[i];
        found = 1;
    }
    pthread_mutex_unlock(&lock);
    return found;
}

int region_set_shared(uintptr_t base, size_t shared_bytes, unsigned long dev, unsigned long ino)
{
    int rc = MPISHM_ENOTMARKED;
    pthread_mutex_lock(&lock);
    size_t i = first_ending_after(base);
    if (i < count && items[i].base == base) {
        region *r = &items[i];
        r->shared = shared_bytes > 0;
        r->shared_bytes = shared_bytes;
        r->dev = dev, r->ino = ino;
        r->broadcasts += shared_bytes > 0;
        if (!shared_bytes) {
            r->stamp = 0, r->last_buf = 0, r->last_bytes = 0;
            drop_fd(r);
        }
        rc = 0;
    }
    pthread_mutex_unlock(&lock);
    region_unmap_views();
    return rc;
}

int region_set_last(uintptr_t base, const region_fill *fill, int fd)
{
    int rc = MPISHM_ENOTMARKED;
    pthread_mutex_lock(&lock);
    size_t i = first_ending_after(base);
    if (i < count && items[i].base == base) {
        region *r = &items[i];
        r->last_buf = fill->buf, r->last_bytes = fill->bytes, r->stamp = fill->stamp;
        r->comm_id = fill->comm_id, r->one_group = fill->one_group;
        r->seg_offset = fill->seg_offset;
        drop_fd(r);
        struct stat st;
        if (fd >= 0 && kept_fds < REGION_FDS_MAX && fstat(fd, &st) == 0) {
            /* high, out of the way of numbers an application counts on */
            int high = fcntl(fd, F_DUPFD_CLOEXEC, 512);
            if (high >= 0)
                close(fd), fd = high;
            r->fd = fd, r->fd_dev = (unsigned long)st.st_dev, r->fd_ino = (unsigned long)st.st_ino;
            kept_fds++, fd = -1;
        }
        rc = 0;
    }
    pthread_mutex_unlock(&lock);
    region_unmap_views();
    if (fd >= 0)
        close(fd);
    return rc;
}

int region_keep_view(uintptr_t base, int fd, void *view, size_t len)
{
    int rc = MPISHM_ENOTMARKED;
    pthread_mutex_lock(&lock);
    size_t i = first_ending_after(base);
    if (i < count && items[i].base == base && items[i].fd == fd && fd >= 0 && !items[i].view) {
        items[i].view = view, items[i].view_len = len;
        rc = 0;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

size_t region_overlapping(uintptr_t start, size_t len, size_t skip, region *out, size_t max)
{
    uintptr_t end = start + len < start ? UINTPTR_MAX : start + len;
    size_t copied = 0;
    if (len == 0 || region_count() == 0)
        return 0;
    pthread_mutex_lock(&lock);
    for (size_t i = first_ending_after(start) + skip; i < count && items[i].base < end && copied < max; i++)
        out[copied++] = items[i];
    pthread_mutex_unlock(&lock);
    return copied;
}

size_t region_take_overlapping(uintptr_t start, size_t len, region *out, size_t max)
{
    uintptr_t end = start + len < start ? UINTPTR_MAX : start + len;
    /* free() asks on every call once anything is marked: answer without the lock when the
     * block lies outside every marked array. */
    if (len == 0 || region_count() == 0 ||
        end <= __atomic_load_n(&lowest, __ATOMIC_RELAXED) ||
        start >= __atomic_load_n(&highest, __ATOMIC_RELAXED))
        return 0;
    size_t taken = 0;
    pthread_mutex_lock(&lock);
    if (end > lowest && start < highest) {
        size_t i = first_ending_after(start);
        while (i < count && items[i].base < end && taken < max) {
            out[taken++] = items[i];
            remove_at(i);
        }
    }
    pthread_mutex_unlock(&lock);
    return taken;
}

size_t region_snapshot(region *out, size_t max)
{
    pthread_mutex_lock(&lock);
    size_t n = count;
    if (n && max)
        memcpy(out, items, (n < max ? n : max) * sizeof *items);
    pthread_mutex_unlock(&lock);
    return n;
}

void region_clear(void)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < count; i++)
        drop_fd(&items[i]);
    __libc_free(items);
    items = NULL;
    count = capacity = 0;
    publish();
    pthread_mutex_unlock(&lock);
    region_unmap_views();
}
