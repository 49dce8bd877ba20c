#!/bin/bash
# Run a test under one policy of the system's for huge pages in shared memory, and put the
# policy back whatever happens (root only: skipped otherwise).
#   huge.sh POLICY RUN.SH [run.sh arguments] -- command...
set -u
policy=$1
shift
knob=/sys/kernel/mm/transparent_hugepage/shmem_enabled
sized=/sys/kernel/mm/transparent_hugepage/hugepages-2048kB/shmem_enabled
if [[ $(id -u) != 0 || ! -w $knob ]]; then
  echo "huge: needs root and $knob: skipped"
  exit 77
fi
word() { sed -n 's/.*\[\(.*\)\].*/\1/p' "$1"; }
before=$(word "$knob")
sized_before=$( [[ -w $sized ]] && word "$sized")
trap 'echo "$before" >"$knob"; [[ -z $sized_before ]] || echo "$sized_before" >"$sized"' EXIT
[[ -z $sized_before ]] || echo inherit >"$sized"
echo "$policy" >"$knob" || exit 1
"$@"
