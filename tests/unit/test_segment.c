/* Node segments (src/segment.c): memfd and POSIX shared memory, seals, private mappings. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "segment.h"
#include "self_maps.h"

static size_t page;

static void setup(void) { page = (size_t)sysconf(_SC_PAGESIZE); }

/* A failed assertion must not leave this process's POSIX segments in /dev/shm. */
static void remove_leftovers(void)
{
    char prefix[64], name[300];
    int n = snprintf(prefix, sizeof prefix, "libmpishm-%d-", (int)getpid());
    DIR *d = opendir("/dev/shm");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, prefix, (size_t)n) == 0) {
            snprintf(name, sizeof name, "/%s", e->d_name);
            shm_unlink(name);
        }
    closedir(d);
}

TestSuite(segment, .init = setup, .fini = remove_leftovers);

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n; /* the same for every call: includes opendir's own descriptor */
}

static unsigned char pattern(size_t i) { return (unsigned char)(i * 7 + i / 4096 + 1); }

static void fill(unsigned char *p, size_t len, size_t from)
{
    for (size_t i = 0; i < len; i++)
        p[i] = pattern(from + i);
}

/* 1 when p[0..len) holds the pattern from position `from`. */
static int holds(const unsigned char *p, size_t len, size_t from)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != pattern(from + i))
            return 0;
    return 1;
}

static int all_zero(const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return 0;
    return 1;
}

static unsigned char *anon(size_t len)
{
    unsigned char *p =
        mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(p, MAP_FAILED);
    return p;
}

/* Create, map writable, fill with the pattern. */
static void make_filled(segment *s, seg_kind kind, size_t size)
{
    cr_assert_eq(seg_create(s, kind, size), 0, "seg_create kind %d", kind);
    cr_assert_eq(seg_map_shared(s, 1), 0);
    fill(s->map, size, 0);
}

static void create_open_read(seg_kind kind)
{
    size_t size = 4 * page;
    int fds = open_fds();
    segment s, r;
    cr_assert_eq(seg_create(&s, kind, size), 0);
    cr_expect_geq(s.fd, 0);
    cr_expect_eq(s.size, size);
    cr_expect_eq(s.ref.kind, (int)kind);
    cr_expect_eq(s.ref.pid, (int)getpid());
    cr_expect_eq(s.ref.fd, s.fd);
    cr_expect_null(s.map);
    struct stat st;
    cr_assert_eq(fstat(s.fd, &st), 0);
    cr_expect_eq(s.ref.ino, (unsigned long)st.st_ino);
    cr_expect_eq((size_t)st.st_size, size);
    cr_expect_eq(open_fds(), fds + 1, "one descriptor");

    cr_assert_eq(seg_map_shared(&s, 1), 0);
    cr_assert_not_null(s.map);
    fill(s.map, size, 0);

    cr_assert_eq(seg_open(&r, &s.ref, size, 0), 0);
    cr_expect_geq(r.fd, 0);
    cr_expect_neq(r.fd, s.fd, "a descriptor of its own");
    cr_expect_eq(fcntl(r.fd, F_GETFL) & O_ACCMODE, O_RDONLY);
    cr_assert_eq(seg_map_shared(&r, 0), 0);
    cr_expect(holds(r.map, size, 0), "the opener reads the pattern");
    ((unsigned char *)s.map)[5] = 0xee;
    cr_expect_eq(((unsigned char *)r.map)[5], 0xee, "one memory: later writes are seen");

    unsigned long dev1, ino1, dev2, ino2;
    cr_assert_eq(seg_identity(&s, &dev1, &ino1), 0);
    cr_assert_eq(seg_identity(&r, &dev2, &ino2), 0);
    cr_expect_eq(dev1, dev2);
    cr_expect_eq(ino1, ino2);
    cr_expect_eq(ino1, s.ref.ino);

    seg_unlink(&s);
    seg_close(&r);
    seg_close(&s);
    cr_expect_eq(s.fd, -1);
    cr_expect_null(s.map);
    cr_expect_eq(open_fds(), fds, "everything closed");
}

Test(segment, memfd_create_open_read) { create_open_read(SEG_MEMFD); }
Test(segment, posix_create_open_read) { create_open_read(SEG_POSIX); }

Test(segment, memfd_is_sealed_against_resizing)
{
    segment s;
    cr_assert_eq(seg_create(&s, SEG_MEMFD, 2 * page), 0);
    int seals = fcntl(s.fd, F_GET_SEALS);
    cr_expect(seals & F_SEAL_GROW);
    cr_expect(seals & F_SEAL_SHRINK);
    cr_expect_neq(ftruncate(s.fd, (off_t)(4 * page)), 0, "cannot grow");
    cr_expect_neq(ftruncate(s.fd, (off_t)page), 0, "cannot shrink");
    struct stat st;
    cr_assert_eq(fstat(s.fd, &st), 0);
    cr_expect_eq((size_t)st.st_size, 2 * page);
    seg_close(&s);
}

Test(segment, memfd_seal_writes)
{
    size_t size = 4 * page;
    segment s;
    make_filled(&s, SEG_MEMFD, size);
    cr_assert_eq(seg_seal_writes(&s), 0);
    cr_expect(fcntl(s.fd, F_GET_SEALS) & F_SEAL_FUTURE_WRITE);

    errno = 0;
    void *w = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, s.fd, 0);
    cr_expect_eq(w, MAP_FAILED, "no new writable shared mapping");
    cr_expect_eq(errno, EPERM);
    segment again = s;
    again.map = NULL;
    cr_expect_eq(seg_map_shared(&again, 1), EPERM, "seg_map_shared says so too");
    cr_expect_eq(pwrite(s.fd, "x", 1, 0), -1, "nor write(2)");
    cr_expect_eq(seg_map_shared(&again, 0), 0, "read-only is still fine");
    cr_expect(holds(again.map, size, 0));
    munmap(again.map, size);

    /* copy-on-write over an application buffer: content from the segment, writes private */
    unsigned char *buf = anon(4 * page);
    memset(buf, 0x55, 4 * page);
    cr_assert_eq(seg_map_private(&s, buf + page, 2 * page, page, 1), 0);
    cr_expect(holds(buf + page, 2 * page, page), "segment pages 1-2 at buf pages 1-2");
    cr_expect_eq(buf[0], 0x55, "the page before is untouched");
    cr_expect_eq(buf[3 * page], 0x55, "the page after is untouched");
    cr_expect_eq(maps_inode(buf + page), (long)s.ref.ino);
    buf[page + 3] = 0;
    buf[2 * page + 9] = 0;
    cr_expect_eq(buf[page + 3], 0);
    cr_expect(holds(s.map, size, 0), "private writes do not reach the segment");
    cr_expect(holds(buf + page + 4, page - 4, page + 4), "the rest of the page is kept");
    munmap(buf, 4 * page);
    seg_close(&s);
}

Test(segment, posix_seal_writes_is_a_no_op)
{
    segment s;
    make_filled(&s, SEG_POSIX, 2 * page);
    cr_expect_eq(seg_seal_writes(&s), 0);
    void *w = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_SHARED, s.fd, 0);
    cr_expect_neq(w, MAP_FAILED);
    if (w != MAP_FAILED)
        munmap(w, 2 * page);
    seg_unlink(&s);
    seg_close(&s);
}

Test(segment, private_mapping_from_a_read_only_peer)
{
    /* what every non-seeding rank does: open read-only, map copy-on-write over its buffer */
    size_t size = 3 * page;
    segment s, r;
    make_filled(&s, SEG_MEMFD, size);
    cr_assert_eq(seg_seal_writes(&s), 0);
    cr_assert_eq(seg_open(&r, &s.ref, size, 0), 0);
    unsigned char *buf = anon(size);
    cr_assert_eq(seg_map_private(&r, buf, size, 0, 0), 0);
    seg_close(&r);
    cr_expect(holds(buf, size, 0), "content without prefault");
    memset(buf, 0, size);
    cr_expect(all_zero(buf, size), "the buffer is writable");
    cr_expect(holds(s.map, size, 0), "the segment is not");
    munmap(buf, size);
    seg_close(&s);
}

Test(segment, open_with_wrong_identity)
{
    segment s, r;
    int fds;
    cr_assert_eq(seg_create(&s, SEG_MEMFD, 2 * page), 0);
    fds = open_fds();

    seg_ref bad = s.ref;
    bad.ino++;
    cr_expect_eq(seg_open(&r, &bad, 2 * page, 0), ESTALE, "another inode");
    cr_expect_eq(r.fd, -1);
    cr_expect_eq(seg_open(&r, &s.ref, 3 * page, 0), ESTALE, "another size");
    cr_expect_eq(r.fd, -1);
    bad = s.ref;
    bad.fd = 1000;
    cr_expect_eq(seg_open(&r, &bad, 2 * page, 0), ENOENT, "no such descriptor");
    cr_expect_eq(open_fds(), fds, "no descriptor left behind");
    seg_close(&s);
}

Test(segment, posix_open_with_wrong_identity)
{
    segment s, r;
    cr_assert_eq(seg_create(&s, SEG_POSIX, 2 * page), 0);
    int fds = open_fds();
    seg_ref bad = s.ref;
    bad.ino++;
    cr_expect_eq(seg_open(&r, &bad, 2 * page, 0), ESTALE);
    bad = s.ref;
    bad.name[strlen(bad.name) - 1] ^= 1;
    cr_expect_eq(seg_open(&r, &bad, 2 * page, 0), ENOENT, "another name");
    cr_expect_eq(open_fds(), fds);
    seg_unlink(&s);
    seg_close(&s);
}

static int dev_shm_stat(const char *name, struct stat *st)
{
    char path[128];
    snprintf(path, sizeof path, "/dev/shm%s", name);
    return stat(path, st);
}

Test(segment, posix_name_mode_and_unlink)
{
    segment s, r, s2;
    cr_assert_eq(seg_create(&s, SEG_POSIX, 2 * page), 0);
    cr_expect_eq(strncmp(s.ref.name, "/libmpishm-", 11), 0, "name %s", s.ref.name);
    cr_expect_lt(strlen(s.ref.name), sizeof s.ref.name);
    cr_expect_eq(s.owner, 1);
    struct stat st;
    cr_assert_eq(dev_shm_stat(s.ref.name, &st), 0, "%s in /dev/shm", s.ref.name);
    cr_expect(S_ISREG(st.st_mode));
    cr_expect_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode & 07777);
    cr_expect_eq(st.st_ino, s.ref.ino);

    cr_assert_eq(seg_create(&s2, SEG_POSIX, 2 * page), 0);
    cr_expect_str_neq(s.ref.name, s2.ref.name, "unguessable: two names differ");
    seg_unlink(&s2);
    seg_close(&s2);

    cr_assert_eq(seg_open(&r, &s.ref, 2 * page, 1), 0, "a peer opens it by name");
    seg_unlink(&s);
    cr_expect_eq(s.owner, 0);
    cr_expect_neq(dev_shm_stat(s.ref.name, &st), 0, "gone after seg_unlink");
    cr_expect_eq(errno, ENOENT);
    segment late;
    cr_expect_eq(seg_open(&late, &s.ref, 2 * page, 0), ENOENT, "too late to open");
    seg_unlink(&s); /* again: harmless */

    /* the opened descriptors still reach the memory */
    cr_assert_eq(seg_map_shared(&s, 1), 0);
    cr_assert_eq(seg_map_shared(&r, 0), 0);
    ((unsigned char *)s.map)[77] = 0x42;
    cr_expect_eq(((unsigned char *)r.map)[77], 0x42);
    seg_close(&r);
    seg_close(&s);
}

Test(segment, peer_does_not_unlink)
{
    segment s, r;
    struct stat st;
    cr_assert_eq(seg_create(&s, SEG_POSIX, page), 0);
    cr_assert_eq(seg_open(&r, &s.ref, page, 0), 0);
    cr_expect_eq(r.owner, 0);
    seg_unlink(&r);
    cr_expect_eq(dev_shm_stat(s.ref.name, &st), 0, "only the creator removes the name");
    seg_close(&r);
    seg_unlink(&s);
    seg_close(&s);
}

Test(segment, close_is_idempotent)
{
    int fds = open_fds();
    segment s;
    make_filled(&s, SEG_MEMFD, 2 * page);
    seg_close(&s);
    cr_expect_eq(open_fds(), fds);
    seg_close(&s);
    cr_expect_eq(open_fds(), fds, "closing twice closes nothing else");
    segment stale = SEGMENT_INIT;
    stale.fd = 1000; /* not open: close(2) fails with EBADF */
    errno = EXDEV;
    seg_close(&stale);
    cr_expect_eq(errno, EXDEV, "errno left alone even when close fails");
    cr_expect_eq(stale.fd, -1);
    cr_expect_eq(s.fd, -1);
    cr_expect_null(s.map);
    segment never = SEGMENT_INIT;
    seg_close(&never);
    cr_expect_eq(open_fds(), fds);
}

static void create_fails_cleanly(seg_kind kind)
{
    int fds = open_fds();
    segment s;
    /* (off_t) of this size is negative: ftruncate refuses it */
    size_t huge = SIZE_MAX & ~(page - 1);
    int rc = seg_create(&s, kind, huge);
    cr_expect_neq(rc, 0, "seg_create of %zu bytes", huge);
    cr_expect_eq(s.fd, -1);
    cr_expect_eq(open_fds(), fds, "no descriptor left");
    if (kind == SEG_POSIX && s.ref.name[0]) {
        struct stat st;
        cr_expect_neq(dev_shm_stat(s.ref.name, &st), 0, "no name left in /dev/shm");
    }
}

Test(segment, memfd_create_fails_cleanly) { create_fails_cleanly(SEG_MEMFD); }
Test(segment, posix_create_fails_cleanly) { create_fails_cleanly(SEG_POSIX); }

Test(segment, reserve)
{
    segment s;
    cr_assert_eq(seg_create(&s, SEG_MEMFD, 4 * page), 0);
    cr_expect_eq(seg_reserve(&s), 0);
    struct stat st;
    cr_assert_eq(fstat(s.fd, &st), 0);
    cr_expect_geq((size_t)st.st_blocks * 512, 4 * page, "the memory is allocated");
    seg_close(&s);
}

Test(segment, reserve_more_than_dev_shm_holds)
{
    struct statvfs vfs;
    cr_assert_eq(statvfs("/dev/shm", &vfs), 0);
    size_t capacity = (size_t)vfs.f_blocks * vfs.f_frsize;
    if (capacity == 0 || capacity > ((size_t)1 << 45))
        cr_skip_test("/dev/shm has no size limit: reserving beyond it would exhaust memory");
    segment s;
    size_t size = ((size_t)1 << 46);
    cr_assert_eq(seg_create(&s, SEG_POSIX, size), 0, "a sparse file of 64 TiB");
    int rc = seg_reserve(&s);
    cr_expect_neq(rc, 0, "a full /dev/shm is an error, not a SIGBUS later");
    cr_expect(rc == ENOSPC || rc == EFBIG, "rc %d (%s)", rc, strerror(rc));
    seg_unlink(&s);
    seg_close(&s);
}

static void make_private(int keep)
{
    size_t size = 4 * page;
    segment s;
    make_filled(&s, SEG_MEMFD, size);
    unsigned char *buf = anon(size);
    cr_assert_eq(seg_map_private(&s, buf, size, 0, 1), 0);
    unsigned long ino = s.ref.ino;
    seg_close(&s);
    cr_assert_eq(maps_inode(buf + page), (long)ino, "mapped from the segment");
    cr_assert(maps_has_inode(ino));

    cr_assert_eq(mem_make_private(buf + page, 2 * page, keep), 0);
    if (keep)
        cr_expect(holds(buf + page, 2 * page, page), "content kept");
    else
        cr_expect(all_zero(buf + page, 2 * page), "zeros");
    cr_expect_eq(maps_inode(buf + page), 0, "anonymous now");
    cr_expect_eq(maps_inode(buf + 2 * page), 0);
    cr_expect_eq(maps_inode(buf), (long)ino, "the pages outside are not touched");
    cr_expect(holds(buf, page, 0));
    cr_expect(holds(buf + 3 * page, page, 3 * page));
    buf[page] = 1; /* writable */
    cr_expect_eq(buf[page], 1);

    cr_assert_eq(mem_make_private(buf, page, 1), 0);
    cr_assert_eq(mem_make_private(buf + 3 * page, page, 1), 0);
    cr_expect_not(maps_has_inode(ino), "no reference to the segment left");
    cr_expect(holds(buf, page, 0));
    munmap(buf, size);
}

Test(segment, make_private_keeping_content) { make_private(1); }
Test(segment, make_private_without_content) { make_private(0); }

static void child_reads(seg_kind kind)
{
    size_t size = 3 * page;
    segment s;
    make_filled(&s, kind, size);
    cr_assert_eq(seg_seal_writes(&s), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        /* drop what fork inherited: the child must go through the ref alone */
        munmap(s.map, size);
        close(s.fd);
        segment r;
        int rc = seg_open(&r, &s.ref, size, 0);
        if (rc)
            _exit(10 + rc);
        if (seg_map_shared(&r, 0))
            _exit(2);
        if (!holds(r.map, size, 0))
            _exit(3);
        unsigned char *buf = mmap(NULL, size, PROT_READ | PROT_WRITE,
                                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (buf == MAP_FAILED || seg_map_private(&r, buf, size, 0, 1) || !holds(buf, size, 0))
            _exit(4);
        buf[0] ^= 0xff; /* private: the parent must not see this */
        seg_close(&r);
        _exit(0);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_expect(WIFEXITED(status), "child crashed");
    cr_expect_eq(WEXITSTATUS(status), 0, "child failed at step %d", WEXITSTATUS(status));
    cr_expect(holds(s.map, size, 0), "the child's private write stayed private");

    /* once the creator is gone its descriptor cannot be reached: ENOENT, not a hang */
    if (kind == SEG_MEMFD) {
        seg_ref dead = s.ref;
        dead.pid = pid; /* reaped above */
        segment r;
        cr_expect_eq(seg_open(&r, &dead, size, 0), ENOENT);
    }
    seg_unlink(&s);
    seg_close(&s);
}

Test(segment, child_opens_parents_memfd) { child_reads(SEG_MEMFD); }
Test(segment, child_opens_parents_posix) { child_reads(SEG_POSIX); }

Test(segment, sweep_removes_only_names_nobody_holds)
{
    /* a name whose creator died (no lock held) and a live one (made here, lock held) */
    char dead[64] = "/libmpishm-1-0123456789abcdef";
    cr_assert_geq(shm_open(dead, O_RDWR | O_CREAT | O_TRUNC, 0600), 0);
    segment live;
    cr_assert_eq(seg_create(&live, SEG_POSIX, 4096), 0);
    cr_expect_geq(seg_sweep_stale(), 1);
    cr_expect_lt(shm_open(dead, O_RDONLY, 0), 0, "the abandoned name is gone");
    int still = shm_open(live.ref.name, O_RDONLY, 0);
    cr_expect_geq(still, 0, "a live creator's name stays");
    if (still >= 0)
        close(still);
    seg_unlink(&live);
    seg_close(&live);
}
