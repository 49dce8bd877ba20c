/* Whether node copies are laid out for transparent huge pages, and why not.
 *
 * A node copy is a tmpfs file (memfd, or a POSIX object in /dev/shm). The kernel gives a
 * tmpfs file 2 MiB pages where its huge-page policy allows it: for a memfd the policy is
 * /sys/kernel/mm/transparent_hugepage/shmem_enabled (and the per-size
 * hugepages-<size>kB/shmem_enabled, unless it says "inherit"), for /dev/shm its mount's huge=
 * option. A rank's MAP_PRIVATE mapping of such a file maps each 2 MiB page with one page-table
 * entry (a PMD) where the rank's address and the file offset agree modulo 2 MiB: page tables
 * shrink 512 times and the TLB reaches 512 times as far. hugetlbfs (MFD_HUGETLB) is not
 * used: its private mappings reserve huge pages per mapping from a pool the administrator
 * sizes, and a copy-on-write with the pool empty is a SIGBUS. */
#ifndef MPISHM_HUGEPAGE_H
#define MPISHM_HUGEPAGE_H

#include <stddef.h>

/* A tmpfs huge-page policy, as the kernel names it. */
typedef enum {
    HP_NEVER,       /* never, or deny, or no such setting on this kernel */
    HP_ADVISE,      /* only in mappings given MADV_HUGEPAGE */
    HP_WITHIN_SIZE, /* wherever the huge page lies inside the file's size */
    HP_ALWAYS       /* always, or force */
} hp_policy;

/* MPISHM_HUGEPAGES */
typedef enum { HP_MODE_AUTO = 0, HP_MODE_ON = 1, HP_MODE_OFF = 2 } hp_mode;

/* The policy named by the text of shmem_enabled (the bracketed word, "[within_size]" among
 * the others, or a lone word) or of a mount's huge= option; *inherit 1 where the text says
 * "inherit" (a per-size file: the global file decides). HP_NEVER for anything unknown. */
hp_policy hugepage_parse(const char *text, int *inherit);

/* The policy for a memfd: global and per-size files read from `sysfs` (the directory
 * /sys/kernel/mm/transparent_hugepage, or a test's), and the PMD size into *size (0 where
 * the directory says none). */
hp_policy hugepage_memfd_policy(const char *sysfs, size_t *size);

/* The policy for POSIX segments: /dev/shm's huge= option in `mounts` (/proc/self/mounts). */
hp_policy hugepage_posix_policy(const char *mounts);

/* Decide at MPI_Init, for segments of kind `posix_only` (1: POSIX shm, 0: memfd first):
 * returns the huge-page size node copies are laid out for, or 0, and *why the reason when
 * 0 (a constant string). Where `mode` is on and the system refuses, the caller warns. */
size_t hugepage_decide(hp_mode mode, int posix_only, const char **why);

/* What hugepage_decide said last (lifecycle.c calls it once): the size or 0, and the reason. */
size_t hugepage_size(void);
const char *hugepage_why_not(void);

/* Whether the policy hugepage_decide read gives tmpfs files huge pages unasked (within_size,
 * always): fallocate then makes them, without clearing them, where a populating write takes
 * a thousand times as long. */
int hugepage_unasked(void);

#endif
