/* The end of a shared array's life on this rank: unmark, free, realloc. The shared pages
 * become private anonymous memory again and the segment loses this rank's reference. */
#ifndef MPISHM_RELEASE_H
#define MPISHM_RELEASE_H

#include "region.h"

/* Replace the shared pages of marked array r by private memory, with their content when
 * `keep` is set. Returns 0 or MPISHM_ESYSTEM. */
int unshare_region(const region *r, int keep);

/* The same where MPI is about to write [lo, hi) on this rank (a receiver's buffer): its
 * whole pages are not kept, the rest of the array is. */
int unshare_region_for_write(const region *r, uintptr_t lo, uintptr_t hi);

/* Make room in [start, start+len) for a new array: the arrays there that were selected
 * without a mark (MPISHM_SITES, MPISHM_AUTO) are unshared (content kept) and forgotten.
 * Returns 0, or MPISHM_EOVERLAP when a marked array is there (nothing is changed then). */
int retire_selected(uintptr_t start, size_t len);

/* Where UCX is in the process, follow its munmap events (UCX redirects the application's
 * munmap past libmpishm's). Called at MPI_Init, once MPI has loaded UCX. */
void release_watch_ucx(void);

#endif
