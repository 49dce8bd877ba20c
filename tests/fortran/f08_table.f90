! A program written for mpi_f08 alone: its MPI_Init and MPI_Finalize (which bypass the C ones
! under both MPICH and Open MPI) must still start and end the library, and its MPI_Bcast of
! a marked allocatable table must be shared and right. Rank 0 prints "f08_table: passed".
program f08_table
  use mpi_f08
  use mpishm
  implicit none
  double precision, allocatable :: table(:)
  integer :: rank, ierr, i, bad, total
  call MPI_Init()
  call MPI_Comm_rank(MPI_COMM_WORLD, rank)
  allocate(table(1048576))
  call mpishm_mark_readonly(table, ierr)
  bad = merge(0, 1, ierr == MPISHM_SUCCESS)
  if (rank == 0) table = [(dble(i) / 3d0, i = 1, size(table))]
  call MPI_Bcast(table, size(table), MPI_DOUBLE_PRECISION, 0, MPI_COMM_WORLD)
  do i = 1, size(table), 997
    if (table(i) /= dble(i) / 3d0) bad = bad + 1
  end do
  if (.not. mpishm_is_shared(table)) bad = bad + 1
  call MPI_Allreduce(bad, total, 1, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD)
  if (rank == 0) print '(a)', merge('f08_table: passed', 'f08_table: FAILED', total == 0)
  deallocate(table)
  call MPI_Finalize(ierr)
  if (ierr /= MPI_SUCCESS .or. total /= 0) stop 1
end program f08_table
