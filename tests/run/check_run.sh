#!/bin/bash
# tools/mpishm-run as a user runs it: the command each launcher gets (MPICH hydra -genv, Open
# MPI -x, Slurm --export, the environment otherwise), an existing LD_PRELOAD kept after the
# library, bad arguments refused; then a real job (MPICH or Open MPI) with --report and --sites.
#   check_run.sh MPISHM_RUN LIBRARY MPIEXEC SITES_CHECK
set -u
run=$1 lib=$2 mpiexec=$3 prog=$4
status=0
expect() { # expect WHAT PATTERN OUTPUT
  if grep -Eq -- "$2" <<<"$3"; then echo "check_run: $1: ok"; else
    echo "check_run: $1: /$2/ not in: $3"; status=1; fi
}
out=$("$run" --lib "$lib" --dry-run --report --sites load_mesh -- mpiexec.hydra -n 2 ./app)
expect "hydra gets -genv" "^mpiexec.hydra -genv LD_PRELOAD [^ ]*libmpishm[^ ]* -genv MPISHM_REPORT stderr -genv MPISHM_SITES load_mesh -n 2 ./app$" "$out"
other=$(ls /lib/x86_64-linux-gnu/libm.so.6 /lib64/libm.so.6 2>/dev/null | head -1) # harmless here
out=$(LD_PRELOAD=$other "$run" --lib "$lib" --dry-run --auto -- mpirun.openmpi -n 2 ./app)
expect "Open MPI gets -x, LD_PRELOAD kept" "^mpirun.openmpi -x 'LD_PRELOAD=[^ ]*libmpishm[^ ]* $other' -x MPISHM_AUTO=1 -n 2 ./app$" "$out"
out=$("$run" --lib "$lib" --dry-run --protect warn --env UCX_TLS=sm -- srun -n 2 ./app)
expect "srun gets --export" "^srun --export=ALL,LD_PRELOAD=[^ ,]*libmpishm[^ ,]*,MPISHM_PROTECT=warn,UCX_TLS=sm -n 2 ./app$" "$out"
# without --lib, in a source tree: the build for the launcher's MPI
tree=$(mktemp -d)
mkdir -p "$tree/tools" "$tree/build" "$tree/build-openmpi"
cp "$run" "$tree/tools/" && touch "$tree/build/libmpishm.so" "$tree/build-openmpi/libmpishm.so"
out=$(env -u MPISHM_LIB "$tree/tools/mpishm-run" --dry-run -- mpirun.openmpi -n 2 ./app)
expect "Open MPI: build-openmpi's library" "^mpirun.openmpi -x LD_PRELOAD=$tree/build-openmpi/libmpishm.so -n 2 ./app$" "$out"
out=$(env -u MPISHM_LIB "$tree/tools/mpishm-run" --dry-run -- mpiexec.hydra -n 2 ./app)
expect "hydra: build's library" "^mpiexec.hydra -genv LD_PRELOAD $tree/build/libmpishm.so -n 2 ./app$" "$out"
rm -rf "$tree"
out=$("$run" --lib "$lib" --dry-run --report=/tmp/r.json -- ./app)
expect "anything else: the environment" "^LD_PRELOAD=[^ ]*libmpishm[^ ]* MPISHM_REPORT=/tmp/r.json ./app$" "$out"
out=$("$run" --lib /nonexistent/libmpishm.so -- ./app 2>&1)
expect "a missing library is named" "^mpishm-run: no library at /nonexistent/libmpishm.so$" "$out"
out=$("$run" --lib "$lib" --protect always -- ./app 2>&1)
expect "a bad mode is refused" "invalid choice: 'always'" "$out"
out=$("$run" --lib "$lib" 2>&1)
expect "no command is refused" "give the launcher after --" "$out"
# the real job goes through the MPI's own launcher, which mpishm-run must recognise
launch=("$mpiexec")
if OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "$mpiexec" --version 2>&1 | grep -Eq "Open MPI|OpenRTE"; then
  launch+=(--oversubscribe)
  [[ $(id -u) -ne 0 ]] || launch+=(--allow-run-as-root)
fi
out=$("$run" --lib "$lib" --report --sites load_mesh -- "${launch[@]}" -n 3 "$prog" \
        --expect mesh=shared --expect basis=private --expect cross_sections=shared 2>&1)
expect "a real job: the program's checks" "sites_check: calls 6 small 1 failures 0" "$out"
# (an unoptimised build keeps the program's bcast() helper as the innermost frame)
expect "a real job: the report, load_mesh shared by sites" "sites +(bcast\+0x[0-9a-f]+ < )?load_mesh\+0x" "$out"
[[ $status == 0 ]] && echo "check_run: passed"
exit $status
