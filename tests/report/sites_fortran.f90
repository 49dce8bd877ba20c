! A legacy Fortran program whose tables are broadcast from a Fortran subroutine and from a C
! function: both call sites must be named in the report and selectable by MPISHM_SITES.
! Every rank checks every element; rank 0 prints "sites_fortran: failures N".
program legacy
  use mpi
  use iso_c_binding, only: c_int
  implicit none
  interface
    integer(c_int) function c_load_grid(n) bind(C, name="c_load_grid")
      import :: c_int
      integer(c_int), value :: n
    end function c_load_grid
  end interface
  double precision, allocatable :: table(:)
  integer :: ierr, rank, i, bad, total
  integer, parameter :: n = 512 * 1024          ! 4 MiB of doubles
  call MPI_Init(ierr)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  allocate(table(n))
  call load_table(table, n)
  bad = 0
  do i = 1, n
    if (abs(table(i) - dble(i) * 0.5d0) > 0d0) bad = bad + 1   ! exact: a broadcast copies bits
  end do
  bad = bad + c_load_grid(3 * 1024 * 1024)       ! 3 MiB, broadcast from C
  call MPI_Allreduce(bad, total, 1, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD, ierr)
  if (rank == 0) print '(a, i0)', 'sites_fortran: failures ', total
  call MPI_Finalize(ierr)
  if (total /= 0) stop 1
end program legacy
