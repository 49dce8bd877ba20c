/*
 * libmpishm: one node-shared copy of every read-only array that MPI_Bcast fills.
 *
 * Load the library under an unchanged MPI application:
 *
 *     LD_PRELOAD=libmpishm.so mpiexec -n 128 ./app
 *
 * and mark each large array that is broadcast and then only read, once, right after it is
 * allocated:
 *
 *     mpishm_mark_readonly(table, nbytes);
 *
 * From then on a large MPI_Bcast into the array is replaced by one copy per node, mapped
 * copy-on-write at the array's own address on every rank.
 *
 * One binary, with or without the library: this header declares the functions weak and wraps
 * each call in a macro that returns MPISHM_ENOTLOADED when the library is not in the process.
 * Define MPISHM_NO_WEAK before including it to call the functions directly (linking with
 * -lmpishm).
 */
#ifndef MPISHM_H
#define MPISHM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The functions look at addresses, never at the bytes there: marking a fresh malloc block is
 * not a read of uninitialised memory (GCC 11+ would warn otherwise). */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#define MPISHM_NO_ACCESS_(i) __attribute__((access(none, i)))
#else
#define MPISHM_NO_ACCESS_(i)
#endif

/* Return codes. 0 is success; every error is a positive constant below. */
enum {
    MPISHM_SUCCESS = 0,
    MPISHM_EINVAL = 1,     /* NULL pointer, zero length, or a range that wraps around */
    MPISHM_EOVERLAP = 2,   /* the range overlaps an array already marked */
    MPISHM_ENOTMARKED = 3, /* the address is not the start of a marked array */
    MPISHM_EBADMEM = 4,    /* the range is not private writable memory of this process
                              (unmapped, read-only, a shared mapping, or the main stack) */
    MPISHM_ENOMEM = 5,     /* the library could not allocate its bookkeeping */
    MPISHM_ENOTLOADED = 6, /* libmpishm is not loaded in this process (returned by the
                              header's wrappers, never by the library) */
    MPISHM_ESYSTEM = 7,    /* a system call failed while changing the mapping; the array's
                              content is unchanged */
    MPISHM_ENOTCONTIGUOUS = 8 /* Fortran: an array section whose elements are not adjacent */
};

/* What mpishm_query reports about an address. */
typedef struct mpishm_info {
    const void *base;     /* start of the marked array containing the address, or NULL */
    size_t bytes;         /* its length as marked */
    int shared;           /* 1 if part of it is currently mapped from a node-shared segment */
    size_t shared_bytes;  /* bytes (whole pages) mapped by the latest shared broadcast into it;
                             a code that broadcasts the array in pieces sees the last piece */
    unsigned long segment_dev;   /* device and inode of that broadcast's segment: equal on the */
    unsigned long segment_inode; /* ranks of a node that share it, different across nodes */
    unsigned long broadcasts;    /* broadcasts into the array that were shared */
} mpishm_info;

/*
 * Promise that the `bytes` bytes at `buf` (private memory of this process, typically a
 * malloc'ed or static array) are, after the next MPI_Bcast that fills them, not written by
 * any rank until they are broadcast again, unmarked, or freed. A rank that breaks the
 * promise only gets a private copy of the pages it writes: other ranks never see the write.
 * Returns 0 or MPISHM_EINVAL, MPISHM_EOVERLAP, MPISHM_EBADMEM, MPISHM_ENOMEM.
 */
int mpishm_mark_readonly(const void *buf, size_t bytes) MPISHM_NO_ACCESS_(1);

/*
 * Withdraw the mark of the array that starts at `buf`. If the array is shared, this rank's
 * pages become private memory holding the same content. Not collective.
 * Returns 0 or MPISHM_EINVAL, MPISHM_ENOTMARKED, MPISHM_ESYSTEM.
 */
int mpishm_unmark(const void *buf) MPISHM_NO_ACCESS_(1);

/*
 * Describe the marked array containing `addr` into `*info`. Returns 0 (info->base is NULL
 * when the address is in no marked array) or MPISHM_EINVAL when `info` is NULL.
 */
int mpishm_query(const void *addr, mpishm_info *info) MPISHM_NO_ACCESS_(1);

/* What the library did in this process since MPI_Init, for tools and benchmarks. */
typedef struct mpishm_stats {
    unsigned long long shared;       /* broadcasts delivered through a node-shared copy */
    unsigned long long declined;     /* large broadcasts left to MPI: not marked on every
                                        rank, a non-contiguous datatype, or one rank per
                                        node (nothing to save) */
    unsigned long long failed;       /* shared broadcasts that failed and fell back to MPI */
    unsigned long long bytes_shared; /* bytes delivered by the shared broadcasts */
    double seconds;      /* wall time this rank spent deciding and sharing (all three kinds) */
    double seed_seconds; /* of the shared ones: making, reserving and filling the node's copy,
                            including the broadcast among nodes */
    double map_seconds;  /* of the shared ones: mapping the copy over the buffer and
                            pre-faulting it */
} mpishm_stats;

/* Copy this process's counters into `*stats`. Returns 0, or MPISHM_EINVAL when NULL. */
int mpishm_get_stats(mpishm_stats *stats);

/* A static English sentence for a return code; never NULL. */
const char *mpishm_strerror(int code);

#if !defined(MPISHM_NO_WEAK) && !defined(MPISHM_BUILDING) && defined(__GNUC__)
#pragma weak mpishm_mark_readonly
#pragma weak mpishm_unmark
#pragma weak mpishm_query
#pragma weak mpishm_strerror
#pragma weak mpishm_get_stats
#define MPISHM_CALL_(fn, args) ((fn) ? (fn) args : MPISHM_ENOTLOADED)
#define mpishm_mark_readonly(buf, bytes) MPISHM_CALL_(mpishm_mark_readonly, (buf, bytes))
#define mpishm_unmark(buf) MPISHM_CALL_(mpishm_unmark, (buf))
#define mpishm_query(addr, info) MPISHM_CALL_(mpishm_query, (addr, info))
#define mpishm_get_stats(stats) MPISHM_CALL_(mpishm_get_stats, (stats))
#define mpishm_strerror(code) \
    ((mpishm_strerror) ? (mpishm_strerror)(code) : "libmpishm is not loaded")
#endif

#ifdef __cplusplus
}
#endif

#endif /* MPISHM_H */
