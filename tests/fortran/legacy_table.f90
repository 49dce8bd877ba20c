! A legacy Fortran program with three tables: an F77 COMMON block (legacy_xs.f, marked
! without the module, broadcast through mpif.h), an F90 allocatable 3-D grid (marked with
! `use mpishm`, broadcast through `use mpi`) and an integer mesh (broadcast through `use
! mpi_f08` in modern_mesh.f90). Each is checked on every rank, shared, and measured: the
! summed PSS of each table over the ranks is one copy per node. A strided section is refused.
! Rank 0 prints "legacy_table: passed".
program legacy_table
  use mpi
  use mpishm
  use iso_c_binding, only: c_double, c_long_long, c_loc, c_ptr
  implicit none
  interface
    function range_pss(p, bytes) result(pss) bind(C, name="range_pss")
      import :: c_ptr, c_long_long
      type(c_ptr), value :: p
      integer(c_long_long), value :: bytes
      integer(c_long_long) :: pss
    end function range_pss
  end interface
  integer, parameter :: nxs = 524288, nx = 64, ny = 64, nz = 128, nmesh = 524288
  double precision, target :: xs(nxs)
  common /xsdata/ xs
  real(c_double), allocatable, target :: grid(:, :, :)
  integer, allocatable, target :: mesh(:)
  integer :: ierr, rank, nranks, nodes, bad, total, i, j, k, node_comm, node_rank, leader
  integer(c_long_long) :: pss(3), pss_sum(3)
  double precision :: copies(3)

  character(len=16) :: how
  integer :: provided, small(1024), absolute
  integer(kind=MPI_ADDRESS_KIND) :: disp(1)

  ! "thread": start with MPI_INIT_THREAD (under Open MPI, another Fortran entry point)
  call get_command_argument(1, how)
  if (how == 'thread') then
    call MPI_Init_thread(MPI_THREAD_FUNNELED, provided, ierr)
  else
    call MPI_Init(ierr)
  end if
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  call MPI_Comm_size(MPI_COMM_WORLD, nranks, ierr)
  bad = 0
  if (how == 'thread' .and. provided < MPI_THREAD_FUNNELED) bad = bad + 1
  call loadxs(ierr)
  if (ierr /= MPISHM_SUCCESS) bad = bad + 1
  do i = 1, nxs, 97
    if (abs(xs(i) - 1d0 / i) > 0d0) bad = bad + 1
  end do

  allocate(grid(nx, ny, nz))
  call mpishm_mark_readonly(grid, ierr)
  if (ierr /= MPISHM_SUCCESS) bad = bad + 1
  if (rank == 0) then
    do k = 1, nz; do j = 1, ny; do i = 1, nx
      grid(i, j, k) = i + 100d0 * j + 10000d0 * k
    end do; end do; end do
  end if
  call MPI_Bcast(grid, nx * ny * nz, MPI_DOUBLE_PRECISION, 0, MPI_COMM_WORLD, ierr)
  do k = 1, nz, 7; do j = 1, ny, 5; do i = 1, nx, 3
    if (abs(grid(i, j, k) - (i + 100d0 * j + 10000d0 * k)) > 0d0) bad = bad + 1
  end do; end do; end do

  allocate(mesh(nmesh))
  call mpishm_mark_readonly(mesh, ierr)
  if (ierr /= MPISHM_SUCCESS) bad = bad + 1
  call load_mesh(mesh, nmesh)
  do i = 1, nmesh, 101
    if (mesh(i) /= 7 * i + 3) bad = bad + 1
  end do

  ! MPI_BOTTOM and an absolute address (Open MPI's Fortran MPI_BOTTOM is a COMMON block the
  ! library must recognise): not shared, but the data arrives
  call MPI_Get_address(small, disp(1), ierr)
  call MPI_Type_create_hindexed(1, [size(small)], disp, MPI_INTEGER, absolute, ierr)
  call MPI_Type_commit(absolute, ierr)
  if (rank == 0) small = [(3 * i, i = 1, size(small))]
  call MPI_Bcast(MPI_BOTTOM, 1, absolute, 0, MPI_COMM_WORLD, ierr)
  if (ierr /= MPI_SUCCESS .or. any(small /= [(3 * i, i = 1, size(small))])) bad = bad + 1
  call MPI_Type_free(absolute, ierr)

  if (.not. mpishm_is_shared(xs)) bad = bad + 1
  if (.not. mpishm_is_shared(grid)) bad = bad + 1
  if (.not. mpishm_is_shared(mesh)) bad = bad + 1
  call mpishm_mark_readonly(grid(1:nx:2, :, :), ierr)     ! not one range: refused
  if (ierr /= MPISHM_ENOTCONTIGUOUS) bad = bad + 1

  ! memory: summed over the ranks, each table's PSS is one copy per node (measured once every
  ! rank has mapped it: a rank's own broadcast may return before the others')
  call MPI_Barrier(MPI_COMM_WORLD, ierr)
  pss(1) = range_pss(c_loc(xs), int(8 * nxs, c_long_long))
  pss(2) = range_pss(c_loc(grid), int(8 * nx * ny * nz, c_long_long))
  pss(3) = range_pss(c_loc(mesh), int(4 * nmesh, c_long_long))
  call MPI_Reduce(pss, pss_sum, 3, MPI_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD, ierr)
  call MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, node_comm, ierr)
  call MPI_Comm_rank(node_comm, node_rank, ierr)
  leader = merge(1, 0, node_rank == 0)
  call MPI_Allreduce(leader, nodes, 1, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD, ierr)
  if (rank == 0) then
    copies(1) = dble(pss_sum(1)) / (8d0 * nxs)
    copies(2) = dble(pss_sum(2)) / (8d0 * nx * ny * nz)
    copies(3) = dble(pss_sum(3)) / (4d0 * nmesh)
    print '(a, i0, a, i0, a, f5.2, a, f5.2, a, f5.2, a)', 'legacy_table: ', nranks, ' ranks, ', &
         nodes, ' node(s): COMMON table ', copies(1), ' copies, allocatable grid ', copies(2), &
         ' copies, mpi_f08 mesh ', copies(3), ' copies'
    if (any(copies > nodes + 0.05d0)) bad = bad + 1
  end if
  call MPI_Allreduce(bad, total, 1, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD, ierr)
  if (rank == 0) print '(a)', merge('legacy_table: passed', 'legacy_table: FAILED', total == 0)
  deallocate(grid, mesh)
  call MPI_Finalize(ierr)
  if (total /= 0) stop 1
end program legacy_table
