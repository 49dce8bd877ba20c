/* Counters of shared, declined and failed broadcasts; one lock, taken once per decision. */
#include "stats.h"

#include <pthread.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static mpishm_stats totals;
static double shared_seconds;

void stats_record(int outcome, size_t bytes, double seconds, double seed_seconds,
                  double map_seconds)
{
    pthread_mutex_lock(&lock);
    totals.seconds += seconds;
    if (outcome == STAT_SHARED) {
        totals.shared++;
        shared_seconds += seconds;
        totals.bytes_shared += bytes;
        totals.seed_seconds += seed_seconds;
        totals.map_seconds += map_seconds;
    } else if (outcome == STAT_DECLINED) {
        totals.declined++;
    } else {
        totals.failed++;
    }
    pthread_mutex_unlock(&lock);
}

double stats_shared_seconds(void)
{
    pthread_mutex_lock(&lock);
    double s = shared_seconds;
    pthread_mutex_unlock(&lock);
    return s;
}

void stats_get(mpishm_stats *out)
{
    pthread_mutex_lock(&lock);
    *out = totals;
    pthread_mutex_unlock(&lock);
}
