/* What the library did in this process: counters read through mpishm_get_stats. */
#ifndef MPISHM_STATS_H
#define MPISHM_STATS_H

#include <stddef.h>

#include "mpishm.h"

/* One broadcast that reached the collective decision. outcome: 0 shared, 1 declined (not
 * marked on every rank, or a non-contiguous type), 2 failed and fell back. Times in
 * seconds on this rank: the whole call, filling the node's copy, mapping it. Thread-safe. */
enum { STAT_SHARED, STAT_DECLINED, STAT_FAILED };
void stats_record(int outcome, size_t bytes, double seconds, double seed_seconds,
                  double map_seconds);

/* A consistent copy of the counters. */
void stats_get(mpishm_stats *out);

/* Of mpishm_stats.seconds, the time spent in the broadcasts that were shared. */
double stats_shared_seconds(void);

#endif
