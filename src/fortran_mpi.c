/* Open MPI's Fortran MPI_BCAST does not reach the C MPI_Bcast: its mpif.h and `use mpi`
 * entry points (mpi_bcast_ and the other spellings, aliases of ompi_bcast_f) call PMPI_Bcast,
 * and `use mpi_f08` calls ompi_bcast_f; MPI_INIT and MPI_FINALIZE likewise. The library
 * defines those names, turns the Fortran handles into C ones and calls the C functions, as
 * MPICH's own Fortran bindings do. MPICH needs none of this: its libmpifort calls MPI_Bcast. */
#include "mpishm_internal.h"

#include <mpi.h>

#ifdef OPEN_MPI
#include <dlfcn.h>
#include <pthread.h>

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

/* Each Fortran name, under Open MPI's four spellings and its internal one (what mpi_f08 calls) */
#define FORTRAN_NAMES(define, lower, upper)                                                   \
    define(lower) define(lower##_) define(lower##__) define(upper) define(o##lower##_f)

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

/* Open MPI's Fortran MPI_INIT, MPI_INIT_THREAD and MPI_FINALIZE call PMPI_ too: without
 * these the library would never start. Fortran passes no command line. */
static void fortran_init(MPI_Fint *ierr)
{
    int argc = 0;
    char **argv = NULL;
    int rc = MPI_Init(&argc, &argv);
    if (ierr)
        *ierr = (MPI_Fint)rc;
}

#define DEFINE_INIT(name)                                                                     \
    MPISHM_EXPORT void name(MPI_Fint *ierr) { fortran_init(ierr); }
FORTRAN_NAMES(DEFINE_INIT, mpi_init, MPI_INIT)

static void fortran_init_thread(const MPI_Fint *required, MPI_Fint *provided, MPI_Fint *ierr)
{
    int argc = 0, given = 0;
    char **argv = NULL;
    int rc = MPI_Init_thread(&argc, &argv, (int)*required, &given);
    if (rc == MPI_SUCCESS)
        *provided = (MPI_Fint)given;
    if (ierr)
        *ierr = (MPI_Fint)rc;
}

#define DEFINE_INIT_THREAD(name)                                                              \
    MPISHM_EXPORT void name(const MPI_Fint *required, MPI_Fint *provided, MPI_Fint *ierr)    \
    {                                                                                         \
        fortran_init_thread(required, provided, ierr);                                        \
    }
FORTRAN_NAMES(DEFINE_INIT_THREAD, mpi_init_thread, MPI_INIT_THREAD)

static void fortran_finalize(MPI_Fint *ierr)
{
    int rc = MPI_Finalize();
    if (ierr)
        *ierr = (MPI_Fint)rc;
}

#define DEFINE_FINALIZE(name)                                                                 \
    MPISHM_EXPORT void name(MPI_Fint *ierr) { fortran_finalize(ierr); }
FORTRAN_NAMES(DEFINE_FINALIZE, mpi_finalize, MPI_FINALIZE)
#endif
