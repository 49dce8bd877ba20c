#!/bin/bash
# Install what libmpishm needs on Debian 12 (when missing) and build it into build/.
#   bash tools/setup.sh            # then: build/libmpishm.so
# Extra arguments go to cmake (e.g. -DCMAKE_BUILD_TYPE=Debug).
set -euo pipefail
cd "$(dirname "$0")/.."

# python3 and gnuplot-nox: the benchmark driver and its plots (tools/mpishm-bench);
# gfortran: tests of Fortran call sites; binutils: addr2line for tools/mpishm-report;
# valgrind, clang and libclang-rt-14-dev (libFuzzer): tools/sanitize.sh; python3-numpy and
# libtcmalloc-minimal4: lifetime tests (numpy arrays; an allocator that replaces delete).
packages=(mpich libmpich-dev libunwind-dev libcriterion-dev pkg-config cmake make gcc gfortran
          binutils python3 python3-numpy gnuplot-nox valgrind clang libclang-rt-14-dev
          libtcmalloc-minimal4)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
echo "setup: built $(pwd)/build/libmpishm.so"
