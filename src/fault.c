#include "fault.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static const struct {
    const char *name;
    int error; /* what the system would plausibly have said */
} stages[FAULT_STAGES] = {
    [FAULT_CREATE] = {"create", EMFILE}, [FAULT_RESERVE] = {"reserve", ENOSPC},
    [FAULT_OPEN] = {"open", EACCES},     [FAULT_MAP] = {"map", ENOMEM},
    [FAULT_SEED] = {"seed", EIO},        [FAULT_COPY] = {"copy", EIO},
    [FAULT_REMAP] = {"remap", ENOMEM},   [FAULT_REFILL] = {"refill", EIO},
    [FAULT_TOPOLOGY] = {"topology", ENOMEM},
    [FAULT_BUILD] = {"build", EIO}, [FAULT_REPORT] = {"report", ENOMEM},
    [FAULT_MPI] = {"mpi", EIO}, [FAULT_KILL] = {"kill", EINTR},
    [FAULT_HEADROOM] = {"headroom", ENOMEM},
    [FAULT_TIMING] = {"timing", ETIME}, [FAULT_PUNCH] = {"punch", EOPNOTSUPP},
    [FAULT_PAGEMAP] = {"pagemap", EACCES},
};

static int armed[FAULT_STAGES]; /* 0: off; n: fail the n-th time the stage is reached */

const char *fault_stage_name(fault_stage stage) { return stages[stage].name; }

static int stage_named(const char *name, size_t len)
{
    for (int i = 0; i < FAULT_STAGES; i++)
        if (strlen(stages[i].name) == len && strncmp(stages[i].name, name, len) == 0)
            return i;
    return -1;
}

void fault_configure(const char *spec, int world_rank)
{
    memset(armed, 0, sizeof armed);
    for (const char *p = spec; p && *p;) {
        size_t len = strcspn(p, ",");
        const char *colon = memchr(p, ':', len);
        int stage = colon ? stage_named(p, (size_t)(colon - p)) : -1;
        char *end = NULL, *end_n = NULL;
        long rank = colon ? strtol(colon + 1, &end, 10) : -1, nth = 1;
        if (end && end > colon + 1 && *end == '@')
            nth = strtol(end + 1, &end_n, 10), end = end_n == end + 1 ? NULL : end_n;
        if (stage < 0 || !end || end == colon + 1 || end != p + len || rank < 0 || nth < 1)
            log_warn("MPISHM_FAULT: \"%.*s\" is not stage:rank[@n] (stages: create reserve "
                     "open map seed copy remap refill topology build report mpi kill headroom timing punch); ignored", (int)len, p);
        else if (rank == world_rank)
            armed[stage] = (int)nth;
        p += len + (p[len] == ',');
    }
}

int fault_inject(fault_stage stage)
{
    if (!armed[stage] || --armed[stage] > 0)
        return 0;
    log_msg(1, "injecting a fault at stage %s", stages[stage].name);
    return stages[stage].error;
}
