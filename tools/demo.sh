#!/bin/bash
# The main job: set up, then run the example (a legacy-style program that broadcasts a table
# from rank 0) with plain MPI_Bcast and with libmpishm, and print memory and time side by side.
#   bash tools/demo.sh [ranks=8] [table MiB=256] [simulated nodes=1]
set -euo pipefail
cd "$(dirname "$0")/.."
ranks=${1:-8} mib=${2:-256} nodes=${3:-1}
bash tools/setup.sh

mpiexec=/usr/bin/mpiexec.mpich
[[ -x $mpiexec ]] || mpiexec=mpiexec
example=build/examples/table_bcast
common=(-n "$ranks" -genv MPIR_CVAR_NUM_CLIQUES "$nodes")
plain=$("$mpiexec" "${common[@]}" "$example" "$mib")
shared=$("$mpiexec" "${common[@]}" -genv LD_PRELOAD "$(pwd)/build/libmpishm.so" "$example" "$mib")

echo
echo "table of $mib MiB broadcast from rank 0 to $ranks ranks on $nodes simulated node(s)"
printf '%-20s %26s %26s\n' "" "plain MPI_Bcast" "libmpishm"
field() { grep -F "$2:" <<<"$1" | sed -E 's/^[^:]+: +//'; }
for row in "broadcast" "broadcast + read" "table memory" "process memory" "checksum" "identical tables"; do
  printf '%-20s %26s %26s\n' "$row" "$(field "$plain" "$row" | cut -c1-26)" \
    "$(field "$shared" "$row" | cut -c1-26)"
done
echo "(memory is PSS summed over all ranks: a page shared by k ranks counts 1/k on each)"
