/* Fault injection, a testing aid (option MPISHM_FAULT=stage:rank[@n][,...]): the named world
 * rank fails the named stage once, the n-th time it reaches it (default the first), as if the
 * system had refused it, so that tests reach every error path of the collective algorithm. */
#ifndef MPISHM_FAULT_H
#define MPISHM_FAULT_H

typedef enum {
    FAULT_CREATE, /* making the segment */
    FAULT_RESERVE,/* reserving its memory (a full /dev/shm) */
    FAULT_OPEN,   /* a peer opening it */
    FAULT_MAP,    /* mapping it shared */
    FAULT_SEED,   /* the inter-node broadcast among node leaders */
    FAULT_COPY,   /* filling a second offset group's segment from the node's first */
    FAULT_REMAP,  /* mapping it copy-on-write over the application's buffer */
    FAULT_REFILL, /* after a failed remap, filling the buffer privately */
    FAULT_TOPOLOGY, /* memory for a communicator's topology */
    FAULT_BUILD,  /* building a topology: its last MPI call reports an error (arm every rank) */
    FAULT_REPORT, /* memory for the report at MPI_Finalize */
    FAULT_MPI,    /* the agreement's MPI call reports an error, on every rank of the comm */
    FAULT_KILL,   /* the rank is killed (SIGKILL): reached after making a segment, then seeding */
    FAULT_HEADROOM, /* the rank's memory limit leaves no room for the node copy */
    FAULT_TIMING, /* the MPI_Bcast timed at a selected site counts as taking no time */
    FAULT_PUNCH,  /* a root freeing its node's old segment (a hole punched through it) */
    FAULT_PAGEMAP,/* the report reading /proc/self/pagemap for the arrays' page tables */
    FAULT_STAGES
} fault_stage;

/* Parse the option for this world rank; warns about a malformed specification. */
void fault_configure(const char *spec, int world_rank);

/* An errno value to fail `stage` with now (and only once), or 0. */
int fault_inject(fault_stage stage);

/* The stage's name as written in the option. */
const char *fault_stage_name(fault_stage stage);

#endif
