/* Where a rank runs, as far as NUMA goes: the NUMA node its CPUs belong to, read from its
 * affinity mask and /sys/devices/system/node (no libnuma), or assigned by the testing aid
 * MPISHM_NUMA_FAKE. Used by MPISHM_SCOPE=numa (topo.c) to give each NUMA domain its copy. */
#ifndef MPISHM_NUMA_H
#define MPISHM_NUMA_H

#include <sched.h> /* cpu_set_t: the includer defines _GNU_SOURCE first */
#include <stddef.h>

typedef struct numa_place {
    int domain;  /* the NUMA node all of this rank's CPUs belong to; -1 when they span several */
    int domains; /* NUMA nodes with CPUs on this machine (1 when the system does not say) */
} numa_place;

/* The place of a rank allowed to run on the CPUs in `mask` (`mask_size` bytes, as
 * CPU_ALLOC_SIZE gives), from the cpulist files under `root`/sys/devices/system/node ("" for
 * the real ones; tests give a directory laid out alike). NUMA nodes without CPUs (memory
 * only) are not counted. Without those files: one domain, domain 0. */
void numa_probe(const char *root, const cpu_set_t *mask, size_t mask_size, numa_place *out);

/* The fake domain MPISHM_NUMA_FAKE's `spec` gives world rank `rank`: spec is a comma-separated
 * list of domain numbers or `*` (a rank bound to no single domain), read cyclically by world
 * rank. Returns 0 with *domain set (-1 for `*`) and *domains the highest number plus one,
 * 1 when spec is empty (no override), -1 when it is malformed. */
int numa_fake_parse(const char *spec, int rank, int *domain, int *domains);

/* At MPI_Init: whether MPISHM_SCOPE is numa (agreed by every rank), and this rank's testing
 * override (a malformed one is ignored, said by world rank 0 and in verbose mode). */
void numa_configure(int numa_scope, const char *fake, int world_rank);

/* Whether MPISHM_SCOPE=numa is in effect. */
int numa_scope(void);

/* This rank's place now: the override's where one is set, else from its affinity mask. */
void numa_locate(numa_place *out);

#endif
