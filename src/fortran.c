/* The Fortran bindings (src/fortran/mpishm.f90 declares them): arrays arrive as C
 * descriptors (ISO_Fortran_binding.h, Fortran 2018), for any type, kind and rank; old code
 * without the module calls the external names with an address and a byte count. */
#include "mpishm_internal.h"

#include <ISO_Fortran_binding.h>
#include <stdbool.h>
#include <stdint.h>

#include "log.h"

/* The array's first byte and its length, or an error when its elements are not adjacent
 * (a section with a stride: there is no one range to share). */
static int array_range(const CFI_cdesc_t *a, const void **base, size_t *bytes)
{
    if (!a || !a->base_addr)
        return MPISHM_EINVAL;
    size_t expected = a->elem_len, total = a->elem_len;
    for (int d = 0; d < a->rank; d++) {
        if (a->dim[d].extent <= 0)
            return MPISHM_EINVAL;
        if ((size_t)a->dim[d].sm != expected)
            return MPISHM_ENOTCONTIGUOUS;
        expected *= (size_t)a->dim[d].extent;
        total *= (size_t)a->dim[d].extent;
    }
    *base = a->base_addr;
    *bytes = total;
    return 0;
}

MPISHM_EXPORT void mpishm_f_mark_readonly(const CFI_cdesc_t *a, int *ierr)
{
    const void *base;
    size_t bytes;
    int rc = array_range(a, &base, &bytes);
    if (rc == 0)
        rc = mpishm_mark_readonly(base, bytes);
    else
        log_msg(1, "mpishm_mark_readonly (Fortran): %s", mpishm_strerror(rc));
    if (ierr)
        *ierr = rc;
}

MPISHM_EXPORT void mpishm_f_unmark(const CFI_cdesc_t *a, int *ierr)
{
    const void *base;
    size_t bytes;
    int rc = array_range(a, &base, &bytes);
    if (rc == 0)
        rc = mpishm_unmark(base);
    if (ierr)
        *ierr = rc;
}

MPISHM_EXPORT bool mpishm_f_is_shared(const CFI_cdesc_t *a)
{
    mpishm_info info;
    return a && a->base_addr && mpishm_query(a->base_addr, &info) == 0 && info.shared;
}

/* Without the module (mpif.h-era code): CALL MPISHM_MARK_READONLY(TABLE, NBYTES, IERR) with
 * NBYTES an INTEGER*8, and CALL MPISHM_UNMARK(TABLE, IERR); gfortran's external names. */
MPISHM_EXPORT void mpishm_mark_readonly_(const void *buf, const int64_t *bytes, int *ierr)
{
    int rc = bytes && *bytes > 0 ? mpishm_mark_readonly(buf, (size_t)*bytes) : MPISHM_EINVAL;
    if (ierr)
        *ierr = rc;
}

MPISHM_EXPORT void mpishm_unmark_(const void *buf, int *ierr)
{
    int rc = mpishm_unmark(buf);
    if (ierr)
        *ierr = rc;
}
