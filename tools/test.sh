#!/bin/bash
# Set up, then run the whole test suite: Criterion unit tests and MPI tests under MPICH's
# mpiexec, and jobs under a Slurm of the tests' own (label slurm); the same suite built for
# Open MPI (build-openmpi/, its largest cases left out: label big); then under
# AddressSanitizer/UBSan and the unit tests under valgrind (tools/sanitize.sh).
#   bash tools/test.sh [ctest arguments, e.g. -L unit or -R fault: that selection only, MPICH]
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh --openmpi --slurm
(cd build && ctest --output-on-failure --timeout 600 "$@")
if [[ $# -eq 0 ]]; then
  echo "test: the suite under Open MPI"
  (cd build-openmpi && ctest --output-on-failure --timeout 600 -LE big)
  bash tools/sanitize.sh
fi
