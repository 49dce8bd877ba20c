#!/bin/bash
# Install what libmpishm needs on Debian 12 (when missing) and build it into build/.
#   bash tools/setup.sh [--openmpi] [--slurm] [cmake arguments]   # then: build/libmpishm.so
# --openmpi also installs Open MPI and mpi4py and builds the library for Open MPI into
# build-openmpi/ (the tests run under both MPIs). Installing Open MPI would make it what plain
# mpicc and mpiexec mean (Debian's alternatives): the choice made before is put back.
# --slurm also installs Slurm and munge for the Slurm tests (tests/slurm), which start their
# own daemons: the packages' services are not started by the installation.
# Other arguments go to cmake (e.g. -DCMAKE_BUILD_TYPE=Debug).
set -euo pipefail
cd "$(dirname "$0")/.."
openmpi=0 slurm=0
while [[ ${1:-} == --openmpi || ${1:-} == --slurm ]]; do
  [[ $1 == --openmpi ]] && openmpi=1
  [[ $1 == --slurm ]] && slurm=1
  shift
done

# python3 and gnuplot-nox: the benchmark driver and its plots (tools/mpishm-bench);
# gfortran: tests of Fortran call sites; binutils: addr2line for tools/mpishm-report;
# valgrind, clang and libclang-rt-14-dev (libFuzzer): tools/sanitize.sh; python3-numpy and
# libtcmalloc-minimal4: lifetime tests (numpy arrays; an allocator that replaces delete);
# lmod: the installed modulefiles are loaded by tests/install.
packages=(mpich libmpich-dev libunwind-dev libcriterion-dev pkg-config cmake make gcc gfortran
          binutils python3 python3-numpy gnuplot-nox valgrind clang libclang-rt-14-dev
          libtcmalloc-minimal4 lmod)
install_missing() { # install_missing PACKAGE...
  local missing=() p sudo=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [[ ${#missing[@]} -gt 0 ]] || return 0
  echo "setup: installing ${missing[*]}"
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}
install_missing "${packages[@]}"
if [[ $openmpi == 1 ]]; then
  # (not mpi-x86_64-linux-gnu, the generic libmpi.so and mpi.h: Debian's mpif90.openmpi
  # links -lmpi through it, and the MPICH wrappers never use it)
  alternatives=(mpi mpirun)
  declare -A before
  for a in "${alternatives[@]}"; do
    before[$a]=$(update-alternatives --query "$a" 2>/dev/null | sed -n 's/^Value: //p')
  done
  install_missing openmpi-bin libopenmpi-dev python3-mpi4py
  for a in "${alternatives[@]}"; do
    now=$(update-alternatives --query "$a" 2>/dev/null | sed -n 's/^Value: //p')
    if [[ -n ${before[$a]} && $now != "${before[$a]}" ]]; then
      sudo=""
      [[ $(id -u) -eq 0 ]] || sudo="sudo"
      $sudo update-alternatives --quiet --set "$a" "${before[$a]}"
    fi
  done
fi

if [[ $slurm == 1 ]]; then
  # No service starts on installation (Debian's policy-rc.d): the tests run their own, and a
  # machine's own Slurm, if it has one, is left as it is.
  policy=/usr/sbin/policy-rc.d
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
    trap '$sudo rm -f "$policy"' EXIT
  fi
  install_missing slurmd slurmctld slurm-client munge
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
echo "setup: built $(pwd)/build/libmpishm.so"
if [[ $openmpi == 1 ]]; then
  cmake -S . -B build-openmpi -DMPISHM_MPI=openmpi -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build build-openmpi -j "$(nproc)" >/dev/null
  echo "setup: built $(pwd)/build-openmpi/libmpishm.so (for Open MPI)"
fi
