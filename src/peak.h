/* The high-water mark of this rank's shared arrays (report mode): the arrays mapped from
 * node copies at the moment their mapped bytes were the most, so that a report made at
 * MPI_Finalize still shows what tables freed before it saved while they lived. */
#ifndef MPISHM_PEAK_H
#define MPISHM_PEAK_H

#include <stddef.h>

#include "report_data.h"

/* Arrays remembered at the peak, at most. */
#define PEAK_ARRAYS 256

/* A shared broadcast just mapped (part of) an array: if this rank now maps as much as ever,
 * the current arrays are the peak, to be taken when one of them goes (peak_leaving). */
void peak_note_shared(void);

/* A shared array may stop being shared now (freed, unmapped, unmarked, made private):
 * where the current arrays are the peak, take them first. Allocates nothing (it runs inside
 * free, munmap and UCX's memory hooks), one load when there is nothing to take. */
void peak_leaving(void);

/* Whether the current arrays are the peak, not taken yet (one load). */
int peak_pending(void);

/* The arrays at the peak (the current ones, where they are the peak still) into out[max]:
 * per array its segment, bytes mapped and the bytes of its pages present from the segment
 * (pagemap) at that moment. Returns how many. */
int peak_arrays(wire_array *out, int max);

#endif
