#!/bin/bash
# Set up, then run the whole test suite: Criterion unit tests and MPI tests under mpiexec.
#   bash tools/test.sh [ctest arguments, e.g. -L unit or -R fault]
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
cd build
ctest --output-on-failure --timeout 600 "$@"
