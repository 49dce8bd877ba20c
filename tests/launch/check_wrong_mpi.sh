#!/bin/bash
# The library preloaded into a program of the other MPI: a C program, a Fortran one (whose
# MPI_INIT may not pass through the C MPI_Init), and under Open MPI an mpi4py script (Python
# loads MPI after the library). Each time it names both MPIs and the build to use, and the
# job fails at the start instead of crashing later.
#   check_wrong_mpi.sh LIBRARY OTHER_MPI(mpich|openmpi)
set -euo pipefail
lib=$1 other=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '#include <mpi.h>\nint main(int c, char **v) { MPI_Init(&c, &v); MPI_Finalize(); return 0; }\n' >"$tmp/app.c"
printf 'program app\n  include "mpif.h"\n  integer ierr\n  call MPI_INIT(ierr)\n  call MPI_FINALIZE(ierr)\nend program\n' >"$tmp/app.f90"
"mpicc.$other" "$tmp/app.c" -o "$tmp/app_c"
programs=("$tmp/app_c")
# (Debian's mpif90.openmpi relies on the generic libmpi.so link; give it Open MPI's directory)
if command -v "mpif90.$other" >/dev/null &&
   "mpif90.$other" "$tmp/app.f90" -o "$tmp/app_f" -L/usr/lib/x86_64-linux-gnu/openmpi/lib 2>/dev/null; then
  programs+=("$tmp/app_f")
fi
if [[ $other == openmpi ]]; then
  launch=(mpiexec.openmpi --oversubscribe -n 2 -x "LD_PRELOAD=$lib")
  [[ $(id -u) -ne 0 ]] || launch+=(--allow-run-as-root)
  want="built for MPICH but the program runs Open MPI; preload the libmpishm built with -DMPISHM_MPI=openmpi"
  /usr/bin/python3 -c "import mpi4py" 2>/dev/null && programs+=("/usr/bin/python3 -c 'from mpi4py import MPI'")
else
  launch=(mpiexec.mpich -n 2 -genv LD_PRELOAD "$lib")
  want="built for Open MPI but the program runs an MPICH-family MPI \(MPICH, Intel MPI, MVAPICH\); preload the libmpishm built with -DMPISHM_MPI=mpich"
fi
status=0
for prog in "${programs[@]}"; do
  set +e
  out=$(eval "${launch[*]@Q} $prog" 2>&1)
  rc=$?
  set -e
  if [[ $rc -eq 0 ]]; then
    echo "check_wrong_mpi: $prog: exit status 0, expected a failure: $out"; status=1
  elif ! grep -Eq "^libmpishm: this library was $want$" <<<"$out"; then
    echo "check_wrong_mpi: $prog: no /$want/ in: $out"; status=1
  else
    echo "check_wrong_mpi: $prog: stopped with the message (exit status $rc)"
  fi
done
[[ $status == 0 ]] && echo "check_wrong_mpi: passed (${#programs[@]} programs)"
exit $status
