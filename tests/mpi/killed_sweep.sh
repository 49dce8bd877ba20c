#!/bin/bash
# A rank killed (SIGKILL) right after it made a POSIX segment, before its peers opened it and
# the name was removed: the job ends, the name is left in /dev/shm, and the next job on the
# node removes it at MPI_Init (its creator is dead). Under memfd (the default) nothing ever
# has a name; tests killed_mid_broadcast* cover that.
#   killed_sweep.sh MPIEXEC LIBRARY BCAST_CHECK
set -u
mpiexec=$1 lib=$2 prog=$3
list() { ls /dev/shm 2>/dev/null | grep '^libmpishm-' | sort; }
before=$(list)
"$mpiexec" -n 3 -genv LD_PRELOAD "$lib" -genv MPISHM_SHM posix -genv MPISHM_FAULT kill:0@1 \
  "$prog" --expect shared >/dev/null 2>&1
rc=$?
left=$(comm -13 <(echo "$before") <(list))
[[ $rc != 0 ]] || { echo "killed_sweep: the job with a killed rank exited 0"; exit 1; }
[[ -n $left ]] || { echo "killed_sweep: the killed rank left no name (the test no longer reaches the window)"; exit 1; }
echo "killed_sweep: left behind by the killed rank: $left"
"$mpiexec" -n 2 -genv LD_PRELOAD "$lib" -genv MPISHM_SHM posix -genv MPISHM_VERBOSE 1 \
  "$prog" --expect shared 2>&1 | grep -q "removed POSIX segments left in /dev/shm by killed ranks" ||
  { echo "killed_sweep: the next job did not say it removed them"; exit 1; }
still=$(comm -12 <(echo "$left") <(list))
[[ -z $still ]] || { echo "killed_sweep: still there after the next job: $still"; exit 1; }
echo "killed_sweep: removed by the next job"
