/* The report's data as rank 0 holds it after gathering: what report.c collects and merges
 * and report_print.c writes (JSON and the table). */
#ifndef MPISHM_REPORT_DATA_H
#define MPISHM_REPORT_DATA_H

#include <stddef.h>
#include <stdio.h>

#include "sites.h"

/* Other calls kept per frame of a site. */
#define FRAME_MORE 7

/* A named frame, as sent between ranks. */
typedef struct wire_frame {
    char function[256];
    unsigned long offset;
    char object[512];
    unsigned long object_offset;
    /* a site's frame: the offsets in the object of its function's other calls at this place
     * of the stack (a loader that broadcasts several tables is one site) */
    unsigned long more[FRAME_MORE];
    int nmore;
} wire_frame;

typedef struct wire_site {
    wire_frame frame[SITE_FRAMES];
    int nframes;
    unsigned long calls, shared;
    unsigned long not_shared[WHY_COUNT];
    unsigned long by_origin[3];
    unsigned long long max_bytes, candidate_bytes, shared_bytes;
    /* content.h: this rank's copies found unchanged, written, not checked after broadcasts */
    unsigned long unchanged, written, unchecked;
    wire_frame writer; /* a write strict mode's warn mode saw into one of them, if any */
    unsigned long long resident_before;          /* sites.h: site_record.resident_before */
    unsigned long long key;                      /* sites.h: site_record.key */
    unsigned long long root_keys[SITE_ROOT_KEYS]; /* and root_keys */
    int nroot_keys;
} wire_site;

/* A marked array mapped from a segment (at MPI_Finalize, or at the peak: peak.h). */
typedef struct wire_array {
    unsigned long dev, ino;
    unsigned long long mapped, rss, pss;
    unsigned long long present; /* at the peak: its pages present from the segment (pagemap) */
    /* at MPI_Finalize (report.c): its pages this rank wrote (private copies), those mapped by
     * huge-page entries, and the page tables mapping it in this rank */
    unsigned long long private_bytes, pmd_mapped, page_tables;
} wire_array;

typedef struct wire_violation {
    unsigned long long base, bytes, offset, count;
    wire_frame marked, writer;
} wire_violation;

/* The latest "no memory headroom" a rank saw, with its figures (times 0: none). */
typedef struct wire_headroom {
    unsigned long times;
    char limit[32];
    int node;
    unsigned long long room, given_back, needed, margin;
} wire_headroom;

typedef struct wire_failure {
    char stage[16];
    int err;
    unsigned long count;
} wire_failure;

/* One rank's fixed-size summary; its variable parts follow in a blob, in this order. */
typedef struct rank_summary {
    int rank, node;
    int domains; /* copies on its node: its NUMA domains under MPISHM_SCOPE=numa, else 1 */
    char host[64];
    unsigned long broadcasts, below, shared;
    unsigned long not_shared[WHY_COUNT];
    unsigned long long bytes_shared;
    double seconds, shared_seconds, seed_seconds, map_seconds;
    wire_headroom headroom;
    int nsites, narrays, npeak, nviolations, nfailures;
} rank_summary;

/* Merged over ranks. */
typedef struct merged_site {
    wire_site s;             /* frames from the first rank; counts: the most of any rank */
    int ranks;
    unsigned long long saving; /* see docs/report.md */
    int candidate;
    const char *selected_by;
    const char *select_as;   /* the name to put in MPISHM_SITES to select this site */
    char select_token[560];  /* storage of select_as for a frame without a function name */
    int group;               /* sites of the same broadcasts (root's and receivers'): the
                              * index of the group's first site, in the sorted order */
    int line;                /* a name in MPISHM_SITES would share it: a candidate, or a
                              * site MPISHM_AUTO shared */
    /* the buffers' content after the broadcasts: counts summed over the ranks */
    const char *content;     /* "read-only", "written" or "unverified" */
    int suggest;             /* a candidate read-only in this run: MPISHM_SITES suggests it */
    int writing_ranks;       /* ranks that wrote, the first few of them in written_by */
    int written_by[16];
} merged_site;

typedef struct merged_failure {
    wire_failure f;
    int *ranks, nranks;
} merged_failure;

typedef struct node_figures {
    char host[64];
    int *ranks, nranks;
    int domains; /* a copy each: its NUMA domains under MPISHM_SCOPE=numa, else 1 */
    int arrays;
    unsigned long long mapped, segments, measured;
    /* of the shared arrays at MPI_Finalize, summed over the node's ranks: the pages they
     * wrote (private copies), those mapped by huge-page entries, the page tables mapping them */
    unsigned long long private_bytes, pmd_mapped, page_tables;
    /* at the peak (the sum of its ranks' peaks): mapped, the node copies, the pages present
     * from them and those pages once per copy */
    unsigned long long peak_mapped, peak_segments, peak_present, peak_present_once;
} node_figures;

typedef struct job_report {
    const char *program;
    size_t threshold;
    const char *sites_option;
    int auto_select, protect;
    int scope_numa; /* MPISHM_SCOPE=numa in effect on MPI_COMM_WORLD */
    size_t huge_page; /* huge-page size node copies are laid out for (rank 0's), 0: none */
    const char *huge_why_not; /* then why not (hugepage.h) */
    int ranks, nodes;
    unsigned long broadcasts, below, shared, not_shared[WHY_COUNT];
    unsigned long long bytes_shared;
    double seconds, shared_seconds, seed_seconds, map_seconds;
    node_figures *node;
    merged_site *sites;
    int nsites;
    merged_failure *failures;
    int nfailures;
    wire_headroom headroom; /* the lowest rank's that saw one; times summed over ranks */
    int headroom_rank;
    struct { int rank; wire_violation v; } *violations;
    int nviolations;
    int *rank_lists; /* storage of the ranks lists above */
} job_report;

/* Write the report as JSON (schema mpishm-report/1) or as the human table. */
void report_print_json(FILE *out, const job_report *j);
void report_print_table(FILE *out, const job_report *j);

#endif
