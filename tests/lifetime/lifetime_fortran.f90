! A shared table's life in Fortran: ALLOCATE, mark, MPI_BCAST (shared), DEALLOCATE.
! Afterwards the mark is gone and no segment is mapped any more (the node's copy is freed).
! Rank 0 prints "lifetime_fortran: passed" when every check passed on every rank.
program lifetime_fortran
  use mpi
  use iso_c_binding
  implicit none
  interface
    integer(c_int) function mark(buf, bytes) bind(C, name="mpishm_mark_readonly")
      import :: c_int, c_ptr, c_size_t
      type(c_ptr), value :: buf
      integer(c_size_t), value :: bytes
    end function mark
    integer(c_int) function segment_mappings() bind(C, name="segment_mappings")
      import :: c_int
    end function segment_mappings
    integer(c_int) function is_marked(buf) bind(C, name="is_marked")
      import :: c_int, c_ptr
      type(c_ptr), value :: buf
    end function is_marked
  end interface
  integer, parameter :: n = 1024 * 1024          ! 8 MiB
  double precision, allocatable, target :: table(:)
  type(c_ptr) :: where
  integer :: ierr, rank, bad, total, i
  call MPI_Init(ierr)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  bad = 0
  allocate(table(n))
  where = c_loc(table)
  if (mark(where, int(n, c_size_t) * 8_c_size_t) /= 0) bad = bad + 1
  if (rank == 0) table = [(0.5d0 * i, i = 1, n)]
  call MPI_Bcast(table, n, MPI_DOUBLE_PRECISION, 0, MPI_COMM_WORLD, ierr)
  if (abs(table(n) - 0.5d0 * n) > 0d0) bad = bad + 1
  if (segment_mappings() /= 1) bad = bad + 1           ! shared: one segment mapping
  deallocate(table)
  if (is_marked(where) /= 0) bad = bad + 1             ! the mark ended with the array
  if (segment_mappings() /= 0) bad = bad + 1           ! and the node's copy with it
  call MPI_Allreduce(bad, total, 1, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD, ierr)
  if (rank == 0 .and. total == 0) print '(a)', 'lifetime_fortran: passed'
  if (rank == 0 .and. total /= 0) print '(a, i0)', 'lifetime_fortran: FAILED ', total
  call MPI_Finalize(ierr)
  if (total /= 0) stop 1
end program lifetime_fortran
