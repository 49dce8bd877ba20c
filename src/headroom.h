/* Room for a node copy. A memory limit does not make a reservation fail: past a memory
 * cgroup's limit (what Slurm's ConstrainRAMSpace gives every job) the kernel's OOM killer
 * ends a process of the job, and fallocate or pwrite of a memfd never returns ENOMEM. So
 * before any node copy is reserved, every rank says how much it is about to reserve and how
 * much room its limits leave, and all ranks decide alike from what all said: a copy is made
 * only where every pool of memory it is charged to (the machine's MemAvailable, the tightest
 * memory cgroup of the ranks that share it) holds the sum of what its ranks reserve, with a
 * margin to spare. */
#ifndef MPISHM_HEADROOM_H
#define MPISHM_HEADROOM_H

#include <stddef.h>
#include <stdint.h>

/* The limit that leaves the least room. */
typedef enum {
    LIMIT_NONE,          /* nothing could be read: no limit known */
    LIMIT_MEMAVAILABLE,  /* /proc/meminfo MemAvailable */
    LIMIT_V2_MAX,        /* cgroup v2 memory.max - memory.current */
    LIMIT_V2_HIGH,       /* cgroup v2 memory.high - memory.current */
    LIMIT_V1,            /* cgroup v1 memory.limit_in_bytes - memory.usage_in_bytes */
    LIMIT_V1_MEMSW,      /* cgroup v1 memory.memsw.limit_in_bytes - memory.memsw.usage_in_bytes */
    LIMIT_KINDS
} limit_kind;

extern const char *const limit_name[LIMIT_KINDS];

/* What one rank says before a node copy is reserved (exchanged as bytes: no pointers). */
typedef struct headroom_vote {
    uint64_t machine;       /* this machine (boot id): ranks that share its MemAvailable */
    uint64_t machine_room;  /* MemAvailable in bytes; UINT64_MAX when unknown */
    uint64_t cgroup;        /* the memory cgroup whose limit binds, 0 when none */
    uint64_t cgroup_room;   /* its limit less its usage (reclaimable file pages not counted) */
    uint64_t cgroup_limit;  /* that limit in bytes, for the message */
    uint64_t need;          /* bytes this rank is about to reserve (segments, page tables) */
    uint64_t plain_need;    /* bytes MPI_Bcast would fault in on this rank instead */
    uint64_t give_back;     /* bytes this rank frees before it reserves (its old pages) */
    int32_t cgroup_kind;    /* limit_kind of cgroup_room */
    int32_t flags;          /* the caller's own, passed along */
} headroom_vote;

/* Read this process's limits into *v (need left as it is). `root` prefixes every path read
 * ("" for the real /proc and /sys; tests give a directory laid out alike). */
void headroom_probe(const char *root, headroom_vote *v);

/* The verdict on n votes, the same on every rank that holds the same n votes: -1 when every
 * pool has room for what is reserved in it, less what its ranks give back first (with
 * `plain`: plain_need, nothing given back) plus `margin`, otherwise the index of a vote whose
 * pool has not, with *kind its binding limit, *room the room it reported, *freed what its
 * ranks give back and *sum what they need. `order`: room for n ints (work space). */
int headroom_short(const headroom_vote *v, int n, uint64_t margin, int plain, int *order,
                   limit_kind *kind, uint64_t *room, uint64_t *freed, uint64_t *sum);

#endif
