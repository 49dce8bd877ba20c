/* For the Fortran test: the PSS of a range (examples/memstat.h). */
#include "memstat.h"

long long range_pss(const void *p, long long bytes) { return memstat_range_pss(p, (size_t)bytes); }
