! The Fortran interface of libmpishm: `use mpishm`, then for an array of any type, kind and
! rank (allocatable, a pointer's target, in a COMMON block, a module variable):
!
!     call mpishm_mark_readonly(table, ierr)     ! ierr optional: 0 or an MPISHM_E* code
!     call mpishm_unmark(table, ierr)
!     shared = mpishm_is_shared(table)           ! .true. when its pages come from a segment
!
! Only interfaces: the code is the C library's (src/fortran.c), so the module needs no
! Fortran runtime of its own. Link with -lmpishm. Old code without the module can call the
! external names mpishm_mark_readonly(buf, nbytes, ierr) (nbytes INTEGER*8) and
! mpishm_unmark(buf, ierr).
module mpishm
  use iso_c_binding, only: c_int, c_bool
  implicit none
  private
  public :: mpishm_mark_readonly, mpishm_unmark, mpishm_is_shared
  integer, parameter, public :: MPISHM_SUCCESS = 0, MPISHM_EINVAL = 1, MPISHM_EOVERLAP = 2, &
       MPISHM_ENOTMARKED = 3, MPISHM_EBADMEM = 4, MPISHM_ENOMEM = 5, MPISHM_ENOTLOADED = 6, &
       MPISHM_ESYSTEM = 7, MPISHM_ENOTCONTIGUOUS = 8

  interface
    subroutine mpishm_mark_readonly(buf, ierr) bind(C, name="mpishm_f_mark_readonly")
      import :: c_int
      type(*), dimension(..), intent(in) :: buf
      integer(c_int), intent(out), optional :: ierr
    end subroutine mpishm_mark_readonly

    subroutine mpishm_unmark(buf, ierr) bind(C, name="mpishm_f_unmark")
      import :: c_int
      type(*), dimension(..), intent(in) :: buf
      integer(c_int), intent(out), optional :: ierr
    end subroutine mpishm_unmark

    function mpishm_is_shared(buf) result(shared) bind(C, name="mpishm_f_is_shared")
      import :: c_bool
      type(*), dimension(..), intent(in) :: buf
      logical(c_bool) :: shared
    end function mpishm_is_shared
  end interface
end module mpishm
