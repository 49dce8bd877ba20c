#define _GNU_SOURCE
#include "segment.h"

#include <dirent.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif


static int create_memfd(segment *s, size_t size)
{
    int fd = memfd_create("libmpishm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return errno;
    s->fd = fd;
    if (ftruncate(fd, (off_t)size) != 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK))
        return errno;
    return 0;
}

static int create_posix(segment *s, size_t size)
{
    unsigned char rnd[12];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        return errno ? errno : EIO;
    int n = snprintf(s->ref.name, sizeof s->ref.name, "/libmpishm-%d-", (int)getpid());
    for (size_t i = 0; i < sizeof rnd; i++)
        n += snprintf(s->ref.name + n, sizeof s->ref.name - (size_t)n, "%02x", rnd[i]);
    int fd = shm_open(s->ref.name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno;
    s->fd = fd;
    s->owner = 1;
    /* Held while the name exists (the descriptor closes after the name is removed), and
     * dropped by the kernel if this rank dies: how seg_sweep_stale tells a live name, also
     * across pid namespaces. */
    struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_OFD_SETLK, &lock) != 0)
        return errno;
    return ftruncate(fd, (off_t)size) != 0 ? errno : 0;
}

int seg_create(segment *s, seg_kind kind, size_t size)
{
    *s = (segment)SEGMENT_INIT;
    s->size = size;
    s->ref.kind = kind;
    s->ref.pid = (int)getpid();
    int rc = kind == SEG_MEMFD ? create_memfd(s, size) : create_posix(s, size);
    struct stat st;
    if (rc == 0)
        rc = fstat(s->fd, &st) == 0 ? 0 : errno;
    if (rc != 0) {
        seg_unlink(s);
        seg_close(s);
        return rc;
    }
    s->ref.fd = s->fd;
    s->ref.ino = (unsigned long)st.st_ino;
    return 0;
}

/* Writing an unbacked tmpfs page raises SIGBUS, not an error: reserve it all now. */
static int allocate(int fd, size_t off, size_t len)
{
    int rc;
    do
        rc = fallocate(fd, 0, (off_t)off, (off_t)len);
    while (rc != 0 && errno == EINTR);
    return rc == 0 || errno == EOPNOTSUPP ? 0 : errno;
}

int seg_reserve(segment *s) { return allocate(s->fd, 0, s->size); }

/* A shared mapping of the whole segment at an address aligned to `align` (a huge page in
 * the file lines up with one in the mapping only so): an anonymous span reserved with
 * room to align, the file mapped over its aligned part, the rest let go. */
static void *map_aligned(const segment *s, size_t align)
{
    size_t span = s->size + align;
    char *area = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (area == MAP_FAILED)
        return MAP_FAILED;
    char *at = (char *)(((uintptr_t)area + align - 1) & ~(uintptr_t)(align - 1));
    void *p = mmap(at, s->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, s->fd, 0);
    int err = errno;
    size_t page = (size_t)sysconf(_SC_PAGESIZE), len = (s->size + page - 1) & ~(page - 1);
    if (at > area)
        munmap(area, (size_t)(at - area));
    if (area + span > at + len)
        munmap(at + len, (size_t)(area + span - (at + len)));
    if (p == MAP_FAILED)
        munmap(at, len);
    errno = err;
    return p;
}

/* Fault in [off, off+len) of the shared mapping p for writing, in one call. */
static int populate(char *p, size_t off, size_t len)
{
    if (len == 0 || madvise(p + off, len, MADV_POPULATE_WRITE) == 0)
        return 0;
    return errno == EFAULT ? ENOSPC : errno; /* EFAULT: where a write would raise SIGBUS */
}

int seg_reserve_huge(segment *s, size_t from, size_t huge, int unasked, int keep)
{
    char *p = map_aligned(s, huge);
    if (p == MAP_FAILED)
        return errno;
    /* huge pages in [lo, hi), the whole ones; 4 KiB pages in the partial ones at the ends */
    size_t lo = (from + huge - 1) & ~(huge - 1), hi = s->size & ~(huge - 1);
    if (hi <= lo)
        lo = hi = s->size;
    (void)madvise(p, s->size, MADV_NOHUGEPAGE);
    if (hi > lo)
        (void)madvise(p + lo, hi - lo, MADV_HUGEPAGE);
    /* where the policy gives huge pages unasked, fallocate does (without clearing them:
     * 0.8 ms for 256 MiB here, a populating write 1 s); "advise" gives them to faults in
     * a mapping that asked */
    int rc = hi > lo ? (unasked ? allocate(s->fd, lo, hi - lo) : populate(p, lo, hi - lo)) : 0;
    if (rc == 0)
        rc = populate(p, from, lo - from);
    if (rc == 0)
        rc = populate(p, hi, s->size - hi);
    if (rc == EINVAL) /* a kernel before 5.14: 4 KiB pages, what the headroom vote counted */
        rc = allocate(s->fd, from, s->size - from);
    if (rc == 0 && keep)
        s->map = p;
    else
        munmap(p, s->size);
    return rc;
}

int seg_open(segment *s, const seg_ref *ref, size_t size, int writable)
{
    *s = (segment)SEGMENT_INIT;
    s->size = size;
    s->ref = *ref;
    int flags = (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC;
    if (ref->kind == SEG_MEMFD) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/fd/%d", ref->pid, ref->fd);
        s->fd = open(path, flags);
    } else {
        s->fd = shm_open(ref->name, flags, 0);
    }
    if (s->fd < 0)
        return errno;
    struct stat st;
    int rc = fstat(s->fd, &st) != 0 ? errno : 0;
    if (rc == 0 && ((unsigned long)st.st_ino != ref->ino || (size_t)st.st_size != size))
        rc = ESTALE; /* not the file the creator announced */
    if (rc != 0)
        seg_close(s);
    return rc;
}

int seg_map_shared(segment *s, int writable)
{
    if (s->map) /* seg_reserve_huge kept its mapping */
        return 0;
    int prot = PROT_READ | (writable ? PROT_WRITE : 0);
    void *p = mmap(NULL, s->size, prot, MAP_SHARED, s->fd, 0);
    if (p == MAP_FAILED)
        return errno;
    s->map = p;
    if (writable) /* the seeding writes every page: fault them in one call, not one by one */
        (void)madvise(p, s->size, MADV_POPULATE_WRITE);
    return 0;
}

/* pread and pwrite move at most 0x7ffff000 bytes per call, and may move less. */
int fd_transfer(int fd, void *buf, size_t n, size_t off, int out)
{
    char *mem = buf;
    while (n > 0) {
        ssize_t k = out ? pwrite(fd, mem, n, (off_t)off) : pread(fd, mem, n, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return k < 0 ? errno : EIO;
        mem += k, off += (size_t)k, n -= (size_t)k;
    }
    return 0;
}

int fd_free_pages(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return errno;
    return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, st.st_size) == 0 ? 0
                                                                                          : errno;
}

int seg_write(const segment *s, const void *src, size_t n, size_t off)
{
    return fd_transfer(s->fd, (void *)src, n, off, 1);
}

int seg_read(const segment *s, void *dst, size_t n, size_t off)
{
    return fd_transfer(s->fd, dst, n, off, 0);
}

int seg_seal_writes(segment *s)
{
    if (s->ref.kind != SEG_MEMFD)
        return 0;
    return fcntl(s->fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE) == 0 ? 0 : errno;
}

void seg_unlink(segment *s)
{
    if (s->ref.kind == SEG_POSIX && s->owner && s->ref.name[0]) {
        shm_unlink(s->ref.name);
        s->owner = 0;
    }
}

int seg_map_private(const segment *s, void *addr, size_t len, size_t off, int prefault)
{
    void *p = mmap(addr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, s->fd, (off_t)off);
    if (p == MAP_FAILED)
        return errno;
    if (prefault)
        (void)madvise(addr, len, MADV_POPULATE_READ); /* an old kernel says EINVAL: harmless */
    return 0;
}

int seg_identity(const segment *s, unsigned long *dev, unsigned long *ino)
{
    struct stat st;
    if (fstat(s->fd, &st) != 0)
        return errno;
    *dev = (unsigned long)st.st_dev;
    *ino = (unsigned long)st.st_ino;
    return 0;
}

void seg_close(segment *s)
{
    int saved = errno;
    if (s->map)
        munmap(s->map, s->size);
    if (s->fd >= 0)
        close(s->fd);
    s->map = NULL;
    s->fd = -1;
    errno = saved;
}

/* Content is kept through a bounce buffer of at most this much at a time, so that making an
 * array private never holds a second copy of it (anonymous mappings made one after the
 * other merge into one). */
#define KEEP_CHUNK ((size_t)2 << 20)

static int make_anonymous(void *addr, size_t len)
{
    void *p = mmap(addr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS,
                   -1, 0);
    return p == MAP_FAILED ? errno : 0;
}

int mem_make_private(void *addr, size_t len, int keep)
{
    if (!keep || len == 0)
        return make_anonymous(addr, len);
    size_t chunk = len < KEEP_CHUNK ? len : KEEP_CHUNK; /* (len is whole pages, so is chunk) */
    char *copy = mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (copy == MAP_FAILED)
        return errno;
    int rc = 0;
    for (size_t done = 0; done < len && rc == 0; done += chunk) {
        size_t n = len - done < chunk ? len - done : chunk;
        char *at = (char *)addr + done;
        memcpy(copy, at, n);
        rc = make_anonymous(at, n);
        if (rc == 0)
            memcpy(at, copy, n);
    }
    munmap(copy, chunk);
    return rc;
}

int seg_sweep_stale(void)
{
    DIR *d = opendir("/dev/shm");
    if (!d)
        return 0;
    int removed = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, "libmpishm-", 10) != 0)
            continue;
        char name[300];
        snprintf(name, sizeof name, "/%s", e->d_name);
        int fd = shm_open(name, O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0);
        struct stat st;
        struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        /* only our own, and only when no live creator holds its lock */
        if (fd >= 0 && fstat(fd, &st) == 0 && st.st_uid == geteuid() &&
            fcntl(fd, F_OFD_SETLK, &lock) == 0)
            removed += shm_unlink(name) == 0;
        if (fd >= 0)
            close(fd);
    }
    closedir(d);
    return removed;
}
