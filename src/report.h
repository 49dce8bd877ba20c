/* The report (MPISHM_REPORT): counted during the run, gathered and written by rank 0 of
 * MPI_COMM_WORLD inside MPI_Finalize. The schema is in docs/report.md. */
#ifndef MPISHM_REPORT_H
#define MPISHM_REPORT_H

#include <mpi.h>
#include <stddef.h>

#include "sites.h"

/* One intercepted broadcast (report mode only). Counted by rank 0 of comm,
 * so that the job's sums count each collective call once. */
void report_call(MPI_Comm comm, int below_threshold);

/* The outcome of a large broadcast (counted like report_call). */
void report_outcome(MPI_Comm comm, int shared, why_not why, size_t bytes);

/* This rank's pool of memory had no room for a node copy (its tightest limit `limit`, the
 * room it left, what its ranks would give back, what they needed, the margin kept). */
void report_headroom(const char *limit, int node, unsigned long long room,
                     unsigned long long given_back, unsigned long long needed,
                     unsigned long long margin);

/* A step that failed on this rank ("create", "open", ..., "mpi"), with its errno (or MPI
 * error code for "mpi"). */
void report_failure(const char *stage, int err);

/* Collective over MPI_COMM_WORLD: gather every rank's figures and write the report to
 * `dest` ("stderr" or a file path) from rank 0. Call before the library's communicators
 * are freed. Returns MPI_SUCCESS or an MPI error code (the report is then incomplete). */
int report_finish(const char *dest);

#endif
