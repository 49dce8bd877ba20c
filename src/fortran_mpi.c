/* Fortran entry points of MPI that do not pass through the C functions the library wraps.
 *  - Open MPI: the mpif.h and `use mpi` MPI_INIT, MPI_INIT_THREAD, MPI_FINALIZE and
 *    MPI_BCAST (mpi_bcast_ and the other spellings) call PMPI_ directly, and so do `use
 *    mpi_f08`'s (mpi_bcast_f08_ and friends).
 *  - MPICH: its mpif.h bindings call MPI_Bcast, MPI_Init and MPI_Finalize, and its mpi_f08
 *    MPI_Bcast too, but its mpi_f08 MPI_Init, MPI_Init_thread and MPI_Finalize do not.
 * The library defines those MPI_ names, never the PMPI_ ones (nor ompi_bcast_f, which Open
 * MPI's f08 PMPI_Bcast calls too): a tool calling PMPI_ must reach MPI itself. MPI_INIT and
 * friends are wrapped: MPI's own Fortran entry point runs (found with RTLD_NEXT), with the
 * library's start after it or its end before it. MPI_BCAST is replaced: the Fortran handles
 * become C ones and the C MPI_Bcast is called, as MPICH's bindings do. */
#define _GNU_SOURCE
#include "mpishm_internal.h"

#include <dlfcn.h>
#include <mpi.h>
#include <pthread.h>

#include "lifecycle.h"

/* MPI's own definition of `name` (NULL when it has none: the program cannot call it then). */
static void *next_of(void **slot, const char *name)
{
    void *f = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (!f) {
        f = dlsym(RTLD_NEXT, name);
        __atomic_store_n(slot, f, __ATOMIC_RELEASE);
    }
    return f;
}

/* f08's optional ierror is NULL when absent; MPI's own entry point always gets one here. */
static void fortran_init(MPI_Fint *ierr, void **slot, const char *name)
{
    lifecycle_check_mpi();
    void (*next)(MPI_Fint *) = (void (*)(MPI_Fint *))next_of(slot, name);
    MPI_Fint rc = MPI_ERR_OTHER;
    if (next) {
        next(&rc);
    } else {
        int argc = 0;
        char **argv = NULL;
        rc = (MPI_Fint)PMPI_Init(&argc, &argv);
    }
    if (rc == MPI_SUCCESS)
        lifecycle_started();
    if (ierr)
        *ierr = rc;
}

static void fortran_init_thread(const MPI_Fint *required, MPI_Fint *provided, MPI_Fint *ierr,
                                void **slot, const char *name)
{
    lifecycle_check_mpi();
    void (*next)(const MPI_Fint *, MPI_Fint *, MPI_Fint *) =
        (void (*)(const MPI_Fint *, MPI_Fint *, MPI_Fint *))next_of(slot, name);
    MPI_Fint rc = MPI_ERR_OTHER;
    if (next) {
        next(required, provided, &rc);
    } else {
        int argc = 0, given = 0;
        char **argv = NULL;
        rc = (MPI_Fint)PMPI_Init_thread(&argc, &argv, (int)*required, &given);
        if (rc == MPI_SUCCESS)
            *provided = (MPI_Fint)given;
    }
    if (rc == MPI_SUCCESS)
        lifecycle_started();
    if (ierr)
        *ierr = rc;
}

static void fortran_finalize(MPI_Fint *ierr, void **slot, const char *name)
{
    lifecycle_finishing();
    void (*next)(MPI_Fint *) = (void (*)(MPI_Fint *))next_of(slot, name);
    MPI_Fint rc;
    if (next)
        next(&rc);
    else
        rc = (MPI_Fint)PMPI_Finalize();
    if (ierr)
        *ierr = rc;
}

#define DEFINE_INIT(name)                                                                     \
    MPISHM_EXPORT void name(MPI_Fint *ierr)                                                   \
    {                                                                                         \
        static void *next;                                                                    \
        fortran_init(ierr, &next, #name);                                                     \
    }
#define DEFINE_INIT_THREAD(name)                                                              \
    MPISHM_EXPORT void name(const MPI_Fint *required, MPI_Fint *provided, MPI_Fint *ierr)    \
    {                                                                                         \
        static void *next;                                                                    \
        fortran_init_thread(required, provided, ierr, &next, #name);                          \
    }
#define DEFINE_FINALIZE(name)                                                                 \
    MPISHM_EXPORT void name(MPI_Fint *ierr)                                                   \
    {                                                                                         \
        static void *next;                                                                    \
        fortran_finalize(ierr, &next, #name);                                                 \
    }

/* mpi_f08's: the same arguments as mpif.h's (handles are one INTEGER each, by reference). */
DEFINE_INIT(mpi_init_f08_)
DEFINE_INIT_THREAD(mpi_init_thread_f08_)
DEFINE_FINALIZE(mpi_finalize_f08_)

#ifdef OPEN_MPI
/* Each mpif.h name under Open MPI's four spellings. */
#define FORTRAN_NAMES(define, lower, upper)                                                   \
    define(lower) define(lower##_) define(lower##__) define(upper)

FORTRAN_NAMES(DEFINE_INIT, mpi_init, MPI_INIT)
FORTRAN_NAMES(DEFINE_INIT_THREAD, mpi_init_thread, MPI_INIT_THREAD)
FORTRAN_NAMES(DEFINE_FINALIZE, mpi_finalize, MPI_FINALIZE)

/* Fortran's MPI_BOTTOM is a COMMON block; Open MPI knows it by address under four names. */
static const void *fortran_bottom[4];
static pthread_once_t bottom_once = PTHREAD_ONCE_INIT;

static void find_fortran_bottom(void)
{
    static const char *const names[4] = {"mpi_fortran_bottom", "mpi_fortran_bottom_",
                                         "mpi_fortran_bottom__", "MPI_FORTRAN_BOTTOM"};
    for (int i = 0; i < 4; i++)
        fortran_bottom[i] = dlsym(RTLD_DEFAULT, names[i]);
}

static void *c_buffer(void *buf)
{
    pthread_once(&bottom_once, find_fortran_bottom);
    for (int i = 0; i < 4; i++)
        if (buf && buf == fortran_bottom[i])
            return MPI_BOTTOM;
    return buf;
}

static void fortran_bcast(void *buf, const MPI_Fint *count, const MPI_Fint *type,
                          const MPI_Fint *root, const MPI_Fint *comm, MPI_Fint *ierr)
{
    int rc = MPI_Bcast(c_buffer(buf), (int)*count, PMPI_Type_f2c(*type), (int)*root,
                       PMPI_Comm_f2c(*comm));
    if (ierr)
        *ierr = (MPI_Fint)rc;
}

#define DEFINE_BCAST(name)                                                                    \
    MPISHM_EXPORT void name(void *buf, const MPI_Fint *count, const MPI_Fint *type,          \
                            const MPI_Fint *root, const MPI_Fint *comm, MPI_Fint *ierr)      \
    {                                                                                         \
        fortran_bcast(buf, count, type, root, comm, ierr);                                    \
    }
FORTRAN_NAMES(DEFINE_BCAST, mpi_bcast, MPI_BCAST)
DEFINE_BCAST(mpi_bcast_f08_)
#endif
