/* Node segments: the memory one node's ranks share, and the mappings made of it.
 * The OS layer of the library. Every function returns 0 or an errno value and leaves errno
 * alone otherwise; a function that fails leaves nothing behind that seg_close would not free. */
#ifndef MPISHM_SEGMENT_H
#define MPISHM_SEGMENT_H

#include <stddef.h>

typedef enum { SEG_MEMFD = 0, SEG_POSIX = 1 } seg_kind;

/* What a peer on the node needs to open a segment; copied between ranks as bytes. */
typedef struct seg_ref {
    int kind;
    int pid; /* creator's pid and descriptor (memfd: opened through /proc/<pid>/fd/<fd>) */
    int fd;
    int reserved;
    unsigned long ino; /* checked by the opener: the descriptor must name this file */
    char name[48];     /* SEG_POSIX: the shm_open name */
} seg_ref;

typedef struct segment {
    int fd;        /* -1 when closed */
    size_t size;
    seg_ref ref;
    int owner;     /* created here: the POSIX name is ours to unlink */
    void *map;     /* MAP_SHARED view of the whole segment, or NULL */
} segment;

#define SEGMENT_INIT {.fd = -1}

/* Create a segment of `size` bytes (a multiple of the page size), sized and (memfd) sealed
 * against growing and shrinking. On failure nothing is left (no descriptor, no name). */
int seg_create(segment *s, seg_kind kind, size_t size);

/* Reserve the segment's pages from offset `from` on (whole pages) as huge pages of `huge`
 * bytes (`unasked`: the policy, hugepage.h, gives them without asking: within_size,
 * always). Through a shared mapping at an address
 * aligned to `huge`: the whole huge pages of the data asked for (MADV_HUGEPAGE, as the
 * policy "advise" wants) and allocated by fallocate where the policy gives them unasked,
 * else by a populating write (MADV_POPULATE_WRITE: an error, not a SIGBUS, where memory is
 * short); the partial huge pages at either end in 4 KiB pages (MADV_NOHUGEPAGE): no rank can
 * map them with one entry, and a 2 MiB page there would hold up to 2 MiB of nothing. With
 * `keep` the mapping stays as s->map (a view the caller needs anyway). Returns 0 or an
 * errno value. */
int seg_reserve_huge(segment *s, size_t from, size_t huge, int unasked, int keep);

/* Reserve the segment's memory now (fallocate), so that a full /dev/shm or a memory limit
 * is this error instead of a SIGBUS while seeding. */
int seg_reserve(segment *s);

/* Open the segment a peer created; `writable` for the one rank that seeds it. */
int seg_open(segment *s, const seg_ref *ref, size_t size, int writable);

/* Map the whole segment shared into s->map (writable or read-only). */
int seg_map_shared(segment *s, int writable);

/* Copy n bytes into the segment at offset off (pwrite: the kernel fills whole tmpfs pages
 * without zeroing them first and without page faults, about twice the speed of memcpy
 * through a fresh mapping). */
int seg_write(const segment *s, const void *src, size_t n, size_t off);

/* Copy n bytes out of the segment at offset off (pread). */
int seg_read(const segment *s, void *dst, size_t n, size_t off);

/* Forbid writes through any later shared mapping (memfd: F_SEAL_FUTURE_WRITE). Private
 * copy-on-write mappings stay possible. A no-op for POSIX segments. */
int seg_seal_writes(segment *s);

/* POSIX segments: remove the name once every peer has opened it. */
void seg_unlink(segment *s);

/* Map `len` bytes of the segment at `off` over [addr, addr+len) copy-on-write
 * (MAP_FIXED | MAP_PRIVATE through libc's mmap: UCX's hooks see the change, and mremap is
 * avoided because UCX's hook breaks MREMAP_FIXED). With `prefault`, the pages are entered
 * into the page tables for reading (MADV_POPULATE_READ; MAP_POPULATE would fault them for
 * writing and copy every page). */
int seg_map_private(const segment *s, void *addr, size_t len, size_t off, int prefault);

/* Device and inode of the segment's file. */
int seg_identity(const segment *s, unsigned long *dev, unsigned long *ino);

/* Unmap the shared view and close the descriptor (idempotent). Mappings made with
 * seg_map_private keep the memory alive. */
void seg_close(segment *s);

/* pread (out 0) or pwrite (out 1) all n bytes at offset off of descriptor fd, across short
 * transfers and EINTR. Returns 0 or an errno value (EIO for an end of file). */
int fd_transfer(int fd, void *buf, size_t n, size_t off, int out);

/* Free every page of the segment open as fd now, though mappings of it remain (where
 * nobody will read them again). Returns 0 or an errno value. */
int fd_free_pages(int fd);

/* Replace the pages [addr, addr+len) (page aligned) by private anonymous memory, keeping
 * their content when `keep` is set (through a bounce buffer of 2 MiB at most, never a
 * second whole copy). Releases this rank's reference to a segment. */
int mem_make_private(void *addr, size_t len, int keep);

/* Remove the POSIX segments (/dev/shm/libmpishm-...) of this user whose creator is gone: a
 * rank killed between making a segment and its peers opening it leaves the name behind,
 * and the next job on the node removes it. A live creator holds an OFD lock on its segment
 * while the name exists, which no pid check could tell across pid namespaces. Returns how
 * many were removed. */
int seg_sweep_stale(void);

#endif
