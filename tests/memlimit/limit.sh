#!/bin/bash
# Memory limits kill, they do not fail: a job in a memory cgroup (what Slurm's
# ConstrainRAMSpace gives every job) that goes past its limit is SIGKILLed by the OOM killer.
# For each case, plain MPI_Bcast's peak is measured in a cgroup of its own, then the same job
# runs with the library in a cgroup whose limit is a little above that peak:
#   limit.sh MPIEXEC LIBRARY TABLE_JOB
# Needs root and a memory cgroup hierarchy (v1 or v2); exits 77 (skipped) otherwise.
set -u
mpiexec=$1 lib=$2 prog=$3
above=$((16 << 20)) # the limit: plain's peak and this much
if [[ $(id -u) != 0 ]]; then echo "limit.sh: skipped: memory cgroups need root"; exit 77; fi
if [[ -f /sys/fs/cgroup/memory/memory.limit_in_bytes ]]; then
  base=/sys/fs/cgroup/memory v=1
elif grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
  base=/sys/fs/cgroup v=2
else
  echo "limit.sh: skipped: no memory cgroup hierarchy here"; exit 77
fi
made=()
cleanup() {
  local cg i
  for cg in "${made[@]+"${made[@]}"}"; do
    for i in 1 2 3 4 5; do rmdir "$cg" 2>/dev/null && break; sleep 0.2; done
  done
}
trap cleanup EXIT
# new_cgroup NAME LIMIT_BYTES|max: prints the directory
new_cgroup() {
  local cg=$base/mpishm-test-$$-$1
  mkdir "$cg" || return 1
  made+=("$cg")
  if [[ $v == 1 ]]; then
    [[ $2 == max ]] || echo "$2" >"$cg/memory.limit_in_bytes"
  else
    echo "$2" >"$cg/memory.max"
  fi
  echo "$cg"
}
peak_of() { if [[ $v == 1 ]]; then cat "$1/memory.max_usage_in_bytes"; else cat "$1/memory.peak"; fi; }
kills_in() {
  if [[ $v == 1 ]]; then sed -n 's/^oom_kill //p' "$1/memory.oom_control"
  else sed -n 's/^oom_kill //p' "$1/memory.events"; fi
}
# in_cgroup DIR COMMAND...: run the command inside the cgroup
in_cgroup() { local cg=$1; shift; bash -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" "$@"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

status=0
fail() { echo "limit.sh: FAIL $case: $*"; status=1; }
# run_case NAME RANKS CLIQUES ARGS EXPECT(shared|fallback)
run_case() {
  case=$1
  local ranks=$2 cliques=$3 args=$4 expect=$5 cg out rc
  local env=(-genv MPIR_CVAR_NUM_CLIQUES "$cliques")
  cg=$(new_cgroup "$case-plain" max) || { fail "cannot make a cgroup"; return; }
  out=$(in_cgroup "$cg" "$mpiexec" -n "$ranks" "${env[@]}" "$prog" $args 2>&1)
  rc=$?
  local plain; plain=$(peak_of "$cg")
  [[ $rc == 0 && $out == *"data right on every rank"* ]] || fail "plain run: exit $rc: $out"
  local limit=$((plain + above))
  cg=$(new_cgroup "$case-lib" "$limit") || { fail "cannot make a cgroup"; return; }
  out=$(in_cgroup "$cg" "$mpiexec" -n "$ranks" "${env[@]}" -genv LD_PRELOAD "$lib" \
        -genv MPISHM_VERBOSE 1 "$prog" $args 2>&1)
  rc=$?
  local peak kills; peak=$(peak_of "$cg") kills=$(kills_in "$cg")
  echo "limit.sh: $case: plain peak $(mib $plain), limit $(mib $limit); with the library: exit $rc, peak $(mib $peak), OOM kills ${kills:-?}"
  [[ $rc == 0 ]] || fail "exit status $rc under a limit plain MPI_Bcast runs in: $out"
  [[ ${kills:-0} == 0 ]] || fail "the OOM killer ran $kills time(s)"
  [[ $out == *"data right on every rank"* ]] || fail "data: $out"
  # never above plain's peak, but for the library's own code and data (0.28 MiB a rank when
  # loaded and doing nothing, measured here; the communicators it builds, about 0.2 MiB):
  # allowed, 0.5 MiB a rank and 0.5 MiB (a node copy here is 128 MiB)
  (( peak <= plain + (ranks + 1) * (512 << 10) )) ||
    fail "peak $(mib $peak) above plain's $(mib $plain)"
  if [[ $expect == shared ]]; then
    [[ $out == *"shared on $ranks of $ranks rank(s)"* ]] || fail "not shared: $out"
  else
    [[ $out == *"shared on 0 of $ranks rank(s)"* ]] || fail "shared: $out"
    [[ $out == *"not shared: no memory headroom on node 0"* ]] || fail "no headroom message: $out"
  fi
}

run_case resident_1node 4 1 "--mib 128 --resident" shared
run_case untouched_1node 4 1 "--mib 128" shared
run_case resident_2nodes 4 2 "--mib 128 --resident" shared
run_case untouched_2nodes 4 2 "--mib 128" shared
# Two ranks, untouched: plain needs one more copy, the library one node copy and its margin
# (MPISHM_HEADROOM, 64 MiB): it does not fit in 16 MiB above plain's peak, so all fall back.
run_case no_headroom 2 1 "--mib 128" fallback
[[ $status == 0 ]] && echo "limit.sh: passed"
exit $status
