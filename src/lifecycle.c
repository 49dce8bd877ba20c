/* MPI_Init and MPI_Finalize: the library's start and end, nothing else. */
#define _GNU_SOURCE
#include "mpishm_internal.h"

#include <dlfcn.h>
#include <link.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bcast.h"
#include "callsite.h"
#include "content.h"
#include "fault.h"
#include "lifecycle.h"
#include "log.h"
#include "numa.h"
#include "options.h"
#include "protect.h"
#include "release.h"
#include "report.h"
#include "segment.h"
#include "sites.h"
#include "topo.h"

/* Options are read on every rank but rank 0's values are used: a threshold or switch that
 * differed between ranks would send them down different paths of a collective. */
static void agree_options(long long *v, int n)
{
    long long mine[16];
    for (int i = 0; i < n; i++)
        mine[i] = v[i];
    PMPI_Bcast(v, n, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
    for (int i = 0; i < n; i++)
        if (mine[i] != v[i]) {
            log_warn("options differ from rank 0's; rank 0's are used");
            break;
        }
}

static void library_start(void)
{
    static int started; /* once, whichever entry point (C or Fortran, wrapping the other) */
    if (__atomic_exchange_n(&started, 1, __ATOMIC_ACQ_REL))
        return;
    int rank = -1;
    PMPI_Comm_rank(MPI_COMM_WORLD, &rank);
    log_set_rank(rank);
    options_load(rank == 0); /* the environment is the job's: one rank says what is wrong */
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    /* Below two pages a buffer may hold no whole page: nothing to share. */
    long long floor = 2 * (long long)page, threshold = option_int(OPT_THRESHOLD);
    long long v[10] = {option_int(OPT_DISABLE), threshold > floor ? threshold : floor,
                       option_int(OPT_PREFAULT), option_int(OPT_SHM),
                       option_str(OPT_REPORT)[0] != '\0', option_int(OPT_AUTO),
                       option_int(OPT_PROTECT), option_int(OPT_HEADROOM),
                       option_int(OPT_RESHARE), option_int(OPT_SCOPE)};
    agree_options(v, 10);
    fault_configure(option_str(OPT_FAULT), rank);
    numa_configure(v[9] == 1, option_str(OPT_NUMA_FAKE), rank);
    bcast_cfg.page = page;
    bcast_cfg.threshold = (size_t)v[1];
    bcast_cfg.prefault = (int)v[2];
    bcast_cfg.shm_kind = (int)v[3];
    bcast_cfg.report = (int)v[4];
    bcast_cfg.auto_select = (int)v[5];
    bcast_cfg.headroom = (size_t)v[7];
    bcast_cfg.reshare_always = v[8] == 1;
    bcast_cfg.by_sites = sites_configure(option_str(OPT_SITES)) > 0; /* each rank decides */
    callsite_init();
    if (!v[0] && v[3] != 1 && seg_sweep_stale() > 0) /* POSIX segments possible */
        log_msg(1, "removed POSIX segments left in /dev/shm by killed ranks");
    if (!v[0])
        release_watch_ucx();
    if (!v[0] && v[6] != PROTECT_OFF && protect_init((protect_mode)v[6]) != 0)
        log_warn("MPISHM_PROTECT: the signal handler could not be installed; shared pages "
                 "stay copy-on-write");
    bcast_cfg.active = !v[0];
    if (rank == 0 && log_verbosity >= 2)
        options_print();
    if (rank == 0)
        log_msg(bcast_cfg.active ? 2 : 1, "%s (threshold %zu bytes)",
                bcast_cfg.active ? "active" : "disabled: every call goes straight to MPI",
                bcast_cfg.threshold);
}

/* The library passes MPI handles of its own MPI's types: built for MPICH (integers) and
 * preloaded into an Open MPI program (pointers), or the reverse, every call would be wrong.
 * Whether the other MPI is in the process is told by its library's file name or by a symbol
 * only it defines, not by asking MPI (the answer would come from whichever MPI the library
 * itself pulled in first). Checked when the library is loaded (the program's own MPI) and at
 * MPI_Init (an MPI loaded later, as Python loads mpi4py's, perhaps not in the global scope).
 * Say so and stop. */
#ifdef OPEN_MPI
#define BUILT_FOR "Open MPI"
#define OTHER_MPI "an MPICH-family MPI (MPICH, Intel MPI, MVAPICH)"
#define OTHER_SYMBOL "MPIR_Err_create_code"
#define OTHER_FLAG "mpich"
static const char *const other_libraries[] = {"libmpich.so", "libmpi.so.12"};
#else
#define BUILT_FOR "MPICH"
#define OTHER_MPI "Open MPI"
#define OTHER_SYMBOL "ompi_mpi_comm_world"
#define OTHER_FLAG "openmpi"
static const char *const other_libraries[] = {"libmpi.so.40", "libopen-pal.so"};
#endif

static int is_other_library(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size, (void)data;
    const char *base = strrchr(info->dlpi_name, '/');
    base = base ? base + 1 : info->dlpi_name;
    for (size_t i = 0; i < sizeof other_libraries / sizeof other_libraries[0]; i++)
        if (strncmp(base, other_libraries[i], strlen(other_libraries[i])) == 0)
            return 1;
    return 0;
}

void lifecycle_check_mpi(void)
{
    if (!dlsym(RTLD_DEFAULT, OTHER_SYMBOL) && !dl_iterate_phdr(is_other_library, NULL))
        return;
    fprintf(stderr, "libmpishm: this library was built for " BUILT_FOR " but the program runs "
            OTHER_MPI "; preload the libmpishm built with -DMPISHM_MPI=" OTHER_FLAG "\n");
    _exit(1);
}

__attribute__((constructor)) static void check_at_load(void) { lifecycle_check_mpi(); }

void lifecycle_started(void) { library_start(); }

MPISHM_EXPORT int MPI_Init(int *argc, char ***argv)
{
    lifecycle_check_mpi();
    int rc = PMPI_Init(argc, argv);
    if (rc == MPI_SUCCESS)
        library_start();
    return rc;
}

MPISHM_EXPORT int MPI_Init_thread(int *argc, char ***argv, int required, int *provided)
{
    lifecycle_check_mpi();
    int rc = PMPI_Init_thread(argc, argv, required, provided);
    if (rc == MPI_SUCCESS)
        library_start();
    return rc;
}

/* Interception stops first, then the report is gathered, then the MPI objects the library
 * made are freed. The mappings stay: reading a shared array after MPI_Finalize is legal. */
void lifecycle_finishing(void)
{
    static int finished;
    if (__atomic_exchange_n(&finished, 1, __ATOMIC_ACQ_REL))
        return;
    int was_active = bcast_cfg.active;
    bcast_cfg.active = 0;
    if (was_active && bcast_cfg.report) {
        content_end_all(); /* the broadcast copies still alive: read-only or written? */
        if (report_finish(option_str(OPT_REPORT)) != MPI_SUCCESS)
            log_warn("MPISHM_REPORT: gathering the report failed");
    }
    topo_finalize();
}

MPISHM_EXPORT int MPI_Finalize(void)
{
    lifecycle_finishing();
    return PMPI_Finalize();
}
