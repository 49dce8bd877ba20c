! The Fortran loader of sites_fortran, in a file of its own as legacy codes have them (and so
! that no optimisation folds it into the main program): the call site the report must name.
subroutine load_table(table, n)
  use mpi
  implicit none
  integer, intent(in) :: n
  double precision, intent(inout) :: table(n)
  integer :: rank, ierr, i
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  if (rank == 0) then
    do i = 1, n
      table(i) = dble(i) * 0.5d0
    end do
  end if
  call MPI_Bcast(table, n, MPI_DOUBLE_PRECISION, 0, MPI_COMM_WORLD, ierr)
end subroutine load_table

