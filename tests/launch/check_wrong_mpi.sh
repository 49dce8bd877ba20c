#!/bin/bash
# The library preloaded into a program of the other MPI: it names both MPIs and the build to
# use, and the job fails at MPI_Init instead of crashing later.
#   check_wrong_mpi.sh LIBRARY OTHER_MPI(mpich|openmpi)
set -euo pipefail
lib=$1 other=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '#include <mpi.h>\nint main(int c, char **v) { MPI_Init(&c, &v); MPI_Finalize(); return 0; }\n' >"$tmp/app.c"
"mpicc.$other" "$tmp/app.c" -o "$tmp/app"
if [[ $other == openmpi ]]; then
  launch=(mpiexec.openmpi --oversubscribe -n 2 -x "LD_PRELOAD=$lib")
  [[ $(id -u) -ne 0 ]] || launch+=(--allow-run-as-root)
  want="built for MPICH but the program runs Open MPI v4.*; preload the libmpishm built with -DMPISHM_MPI=openmpi"
else
  launch=(mpiexec.mpich -n 2 -genv LD_PRELOAD "$lib")
  want="built for Open MPI but the program runs MPICH Version: .*; preload the libmpishm built with -DMPISHM_MPI=mpich"
fi
set +e
out=$("${launch[@]}" "$tmp/app" 2>&1)
rc=$?
set -e
[[ $rc -ne 0 ]] || { echo "check_wrong_mpi: exit status 0, expected a failure: $out"; exit 1; }
grep -Eq "^libmpishm: this library was $want$" <<<"$out" ||
  { echo "check_wrong_mpi: no /$want/ in: $out"; exit 1; }
echo "check_wrong_mpi: passed (exit status $rc)"
