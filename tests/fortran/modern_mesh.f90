! A loader written against the mpi_f08 module: its MPI_Bcast reaches the library through the
! C MPI_Bcast (MPICH) or through Open MPI's Fortran entry points, which the library wraps.
subroutine load_mesh(mesh, n)
  use mpi_f08
  implicit none
  integer, intent(in) :: n
  integer, intent(inout) :: mesh(n)
  integer :: rank, i
  call MPI_Comm_rank(MPI_COMM_WORLD, rank)
  if (rank == 0) then
    do i = 1, n
      mesh(i) = 7 * i + 3
    end do
  end if
  call MPI_Bcast(mesh, n, MPI_INTEGER, 0, MPI_COMM_WORLD)
end subroutine load_mesh
