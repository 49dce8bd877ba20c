! Fortran ALLOCATE goes through malloc: a large allocatable array starts on a 2 MiB boundary
! under the library. Prints "align_fortran: passed" when every check passed.
program align_fortran
  use iso_c_binding
  implicit none
  double precision, allocatable, target :: table(:), grid(:, :)
  integer(c_intptr_t) :: at, ag
  integer(c_intptr_t), parameter :: huge_page = 2097152
  allocate(table(8 * 1024 * 1024))       ! 64 MiB
  allocate(grid(1000, 3000))             ! 24 MB
  at = transfer(c_loc(table), at)
  ag = transfer(c_loc(grid), ag)
  if (modulo(at, huge_page) == 0 .and. modulo(ag, huge_page) == 0) then
    print '(a)', 'align_fortran: passed'
  else
    print '(a, i0, a, i0)', 'FAIL: table at ', modulo(at, huge_page), ', grid at ', &
      modulo(ag, huge_page)
  end if
  deallocate(table, grid)
end program align_fortran
