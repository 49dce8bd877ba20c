#!/bin/bash
# A full /dev/shm must be an error and a fallback, never a SIGBUS while seeding: POSIX
# segments under a 32 MiB tmpfs (UCX keeps some of it) mounted on /dev/shm in a private mount namespace (root only).
#   small_shm.sh RUN.SH MPIEXEC LIBRARY BCAST_CHECK
# A 64 MiB broadcast cannot reserve its segment and falls back with the reason; a 4 MiB one
# still shares; the same with /dev/shm mounted for huge pages; run.sh checks that no segment
# is left in /dev/shm. Exit 77: skipped.
set -u
run=$1 mpiexec=$2 lib=$3 prog=$4
if [[ $(id -u) != 0 ]] || ! unshare -m true 2>/dev/null; then
  echo "small_shm: needs root and a mount namespace: skipped"
  exit 77
fi
exec unshare -m bash -c '
  set -u
  mount -t tmpfs -o size=32m tmpfs /dev/shm || exit 77
  env=(-genv LD_PRELOAD "$3" -genv MPISHM_SHM posix -genv MPISHM_VERBOSE 1)
  "$1" --stderr "libmpishm\[0\]: reserve of the node segment failed \(No space left on device\): falling back to MPI_Bcast" \
       --stdout "stats: shared 0, declined 0, failed 1" \
       -- "$2" -n 3 "${env[@]}" "$4" --bytes 64M --expect private || exit 1
  "$1" --stdout "stats: shared 1, declined 0, failed 0" \
       -- "$2" -n 3 "${env[@]}" "$4" --bytes 4M --expect shared || exit 1
  # the same in huge pages (/dev/shm mounted huge=within_size): reserved by a populating
  # write, whose failure is the same error
  mount -o remount,huge=within_size /dev/shm || exit 77
  "$1" --stderr "libmpishm\[0\]: node copies are laid out for 2048 KiB pages" \
       --stderr "libmpishm\[0\]: reserve of the node segment failed \(No space left on device\): falling back to MPI_Bcast" \
       --stdout "stats: shared 0, declined 0, failed 1" \
       -- "$2" -n 3 "${env[@]}" "$4" --bytes 64M --expect private || exit 1
  "$1" --stdout "stats: shared 1, declined 0, failed 0" \
       -- "$2" -n 3 "${env[@]}" "$4" --bytes 4M --expect shared || exit 1
' small_shm "$run" "$mpiexec" "$lib" "$prog"
