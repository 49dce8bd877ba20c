/* The library's start and end, for the entry points that start and end MPI: the C ones
 * (lifecycle.c) and the Fortran ones that do not pass through them (fortran_mpi.c). */
#ifndef MPISHM_LIFECYCLE_H
#define MPISHM_LIFECYCLE_H

/* Stop the process with a message when the other MPI's library is loaded (the library was
 * built for one MPI's ABI). */
void lifecycle_check_mpi(void);

/* MPI was just initialised: read the options, start intercepting. */
void lifecycle_started(void);

/* MPI is about to be finalised: stop intercepting, gather the report, free what was made. */
void lifecycle_finishing(void);

#endif
