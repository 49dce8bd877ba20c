#!/bin/bash
# Set up, then run the whole test suite: Criterion unit tests and MPI tests under mpiexec,
# then the same under AddressSanitizer/UBSan and the unit tests under valgrind
# (tools/sanitize.sh).
#   bash tools/test.sh [ctest arguments, e.g. -L unit or -R fault: that selection only]
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
(cd build && ctest --output-on-failure --timeout 600 "$@")
if [[ $# -eq 0 ]]; then
  bash tools/sanitize.sh
fi
