#!/bin/bash
# Jobs started the way clusters start them: a real Slurm (munged, slurmctld, slurmd), started
# here from scratch in a private directory (its own configuration, spool, state, munge
# socket and ports, so that a Slurm the machine may run is never touched), stopped at the
# end whatever happens.
#
#   slurm_test.sh --mpi mpich|openmpi --build DIR --source DIR CASE
#
# CASE:
#   one-node   one slurmd: the MPI's srun plugin (MPICH: --mpi=pmi2, Open MPI: --mpi=pmix)
#              and salloc + mpiexec, each through tools/mpishm-run with --report, --sites and
#              --auto, the table shared (one copy per node, measured by the report) and the
#              data right; the same job without the wrapper runs, and shares nothing;
#              tools/mpishm-bench through srun and through the MPI's own mpiexec
#   two-nodes  two slurmd, each in its own namespaces (hostname, IPC, /dev/shm), so that
#              Slurm places ranks on two nodes that cannot share memory: one copy per node
#   memory     Slurm's memory cgroups (task/cgroup, ConstrainRAMSpace), 4 ranks, a 128 MiB
#              table: with --mem just above plain MPI_Bcast's peak (4 copies and MPI), tables
#              every rank touched first run with the library as without it; with --mem
#              between two copies and plain's peak, untouched tables run only with it (plain
#              MPI_Bcast is killed by the OOM killer)
#
# Exit status 0 when every check passed, 77 (skipped) where Slurm cannot run here (not
# root, packages missing: `bash tools/setup.sh --slurm` installs them), 1 otherwise.
set -u
mpi= build= source= case=
while [ $# -gt 0 ]; do
  case "$1" in
    --mpi) mpi=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --source) source=$2; shift 2 ;;
    *) case=$1; shift ;;
  esac
done
skip() { echo "slurm_test: skipped: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "not root (slurmd and munged run as root here)"
for b in munged slurmctld slurmd srun salloc sinfo scancel unshare python3; do
  command -v "$b" >/dev/null || skip "$b is missing: bash tools/setup.sh --slurm installs Slurm and munge"
done
plugins=/usr/lib/x86_64-linux-gnu/slurm-wlm
[ -e "$plugins/mpi_pmi2.so" ] || skip "Slurm's mpi_pmi2 plugin is missing"

failures=0
check() { # check DESCRIPTION COMMAND...: run the command, count a failure when it fails
  local what=$1; shift
  if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; failures=$((failures + 1)); fi
}

# (not under /tmp: each node of two-nodes has a /tmp of its own, as PMIx and Open MPI's
# session directories need)
D=$(mktemp -d /var/tmp/mpishm-slurm.XXXXXX)
chmod 755 "$D" # (munged wants its socket's directory searchable by all)
export SLURM_CONF=$D/slurm.conf

stop() {
  scancel --quiet --full -u root >/dev/null 2>&1
  # (the namespaces' slurmd is each one's first process: its PID file holds the namespace's
  # number, so it is found as unshare's child; when it goes, its namespace goes with it)
  local pids=() f
  for f in "$D"/unshare.*.pid; do
    [ -f "$f" ] && pids+=($(pgrep -P "$(cat "$f")"))
  done
  [ "$case" = two-nodes ] || for f in "$D"/slurmd.*.pid; do [ -f "$f" ] && pids+=("$(cat "$f")"); done
  for f in "$D"/slurmctld.pid "$D"/munged.pid; do [ -f "$f" ] && pids+=("$(cat "$f")"); done
  [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
  for _ in $(seq 1 20); do # (at most 2 s)
    kill -0 "${pids[@]}" 2>/dev/null || break
    sleep 0.1
  done
  [ ${#pids[@]} -gt 0 ] && kill -9 "${pids[@]}" 2>/dev/null
  if [ $failures -ne 0 ]; then # what a failure needs to be understood
    for log in "$D"/*.log; do echo "== $log"; tail -20 "$log"; done
  fi
  rm -rf "$D"
}
trap stop EXIT

# Free ports, chosen by the kernel: controller, one per slurmd.
read -r ctld_port node_port1 node_port2 < <(python3 -c '
import socket
s = [socket.socket() for _ in range(3)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')

dd if=/dev/urandom of="$D/munge.key" bs=1024 count=1 2>/dev/null
chmod 600 "$D/munge.key"
munged -f --socket="$D/munge.sock" --key-file="$D/munge.key" --log-file="$D/munged.log" \
  --pid-file="$D/munged.pid" --seed-file="$D/munged.seed" || skip "munged does not start"

host=$(hostname)
proctrack=proctrack/linuxproc task=task/none select=CR_CPU
# Slurm's directory for a step's PMI2 and PMIx sockets, named by job and step: this Slurm's
# own (a job here may have the number of an earlier one's); on two nodes, the same path is
# each node's own directory (bind-mounted in its namespace)
tmpfs=$D/tmp
if [ "$case" = memory ]; then # each job in a memory cgroup of Slurm's, limited by --mem
  proctrack=proctrack/cgroup task=task/cgroup select=CR_CPU_Memory
  cgroup=cgroup/v2
  [ -d /sys/fs/cgroup/memory ] && cgroup=cgroup/v1
  printf 'CgroupPlugin=%s\nConstrainRAMSpace=yes\nConstrainSwapSpace=yes\nAllowedSwapSpace=0\n' \
    "$cgroup" > "$D/cgroup.conf"
fi
if [ "$case" = two-nodes ]; then
  nodes="NodeName=n1 NodeHostname=n1 NodeAddr=127.0.0.1 Port=$node_port1 CPUs=4 State=UNKNOWN
NodeName=n2 NodeHostname=n2 NodeAddr=127.0.0.1 Port=$node_port2 CPUs=4 State=UNKNOWN"
else
  nodes="NodeName=$host NodeAddr=127.0.0.1 Port=$node_port1 CPUs=8 RealMemory=4096 State=UNKNOWN"
fi
mkdir -p "$D/state" "$D/spool" "$D/tmp" # (tmp: PMIx's directories, of this Slurm's jobs only)
cat > "$SLURM_CONF" <<EOF
ClusterName=mpishm
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
AuthType=auth/munge
AuthInfo=socket=$D/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$D/state
TmpFS=$tmpfs
SlurmdSpoolDir=$D/spool/%n
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.%n.pid
SlurmctldLogFile=$D/slurmctld.log
SlurmdLogFile=$D/slurmd.%n.log
ProctrackType=$proctrack
TaskPlugin=$task
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=$select
ReturnToService=2
SlurmdParameters=config_overrides
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
$nodes
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

slurmctld -f "$SLURM_CONF" || skip "slurmctld does not start (see $D/slurmctld.log)"
if [ "$case" = two-nodes ]; then
  # each slurmd, and the job steps it starts, on a host of its own: its hostname, SysV IPC,
  # /dev/shm (ranks there cannot share memory with the other node's), Slurm's TmpFS, and
  # its own process IDs (UCX must not reach the other node's ranks by their PIDs); the rest
  # of the file system is shared, as a cluster's home and project directories are. slurmd
  # stays in the foreground, the namespace's first process.
  for n in n1 n2; do
    mkdir -p "$D/spool/$n" "$D/tmp.$n"
    unshare --uts --ipc --mount --pid --fork --mount-proc bash -c \
      "hostname $n && mount -t tmpfs -o size=50% tmpfs /dev/shm &&
       mount --bind '$D/tmp.$n' '$D/tmp' && exec slurmd -D -f '$SLURM_CONF'" \
      > "$D/slurmd.$n.out" 2>&1 &
    echo $! > "$D/unshare.$n.pid"
  done
  want=2
else
  mkdir -p "$D/spool/$host"
  slurmd -f "$SLURM_CONF" || skip "slurmd does not start"
  want=1
fi
for _ in $(seq 1 150); do # until every node is idle (at most 30 s)
  idle=$(sinfo -h -o '%t %D' 2>/dev/null | awk '$1 == "idle" {n += $2} END {print n + 0}')
  [ "$idle" = "$want" ] && break
  sleep 0.2
done
[ "$idle" = "$want" ] || { failures=1; echo "FAIL: $want node(s) never became idle"; exit 1; }

run=$source/tools/mpishm-run
job=$build/tests/mpi/table_job
lib=$build/libmpishm.so
if [ "$mpi" = openmpi ]; then
  plugin=pmix mpiexec="mpiexec.openmpi --allow-run-as-root --oversubscribe"
else
  plugin=pmi2 mpiexec=mpiexec.mpich
fi
[ "$mpi" != openmpi ] || [ -e "$plugins/mpi_pmix.so" ] || skip "Slurm's mpi_pmix plugin is missing"

# job COMMAND...: its output; a job that did its work (table_job printed its line) and then
# hung in MPI_Finalize is killed after 30 s and said so, under MPICH only (its UCX's TCP
# transport stops progressing before MPICH flushes its connections: openucx/ucx#8738; plain
# programs hang there too)
job() {
  local out rc
  out=$(timeout 30 "$@" 2>&1)
  rc=$?
  if [ $rc -eq 124 ] && [ "$mpi" = mpich ] && grep -q "^table_job: " <<<"$out"; then
    echo "note: the job hung in MPI_Finalize after its work (openucx/ucx#8738), killed" >&2
    rc=0
  fi
  echo "$out"
  return $rc
}

# shared_everywhere OUTPUT RANKS: table_job's line says every rank shared the table
shared_everywhere() { grep -q "data right on every rank, shared on $2 of $2 rank(s)" <<<"$1"; }
# one_copy_per_node REPORT NODES RANKS MIB: at its peak (table_job frees its table before
# MPI_Finalize) each node held one copy of the table, and saved (ranks there - 1) copies,
# measured from the pages its ranks mapped
one_copy_per_node() {
  python3 - "$@" <<'EOF'
import json, sys
path, nodes, ranks, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
r = json.load(open(path))
ok = len(r["nodes"]) == nodes and r["job"]["ranks"] == ranks
for n in r["nodes"]:
    want = (len(n["ranks"]) - 1) * (mib << 20)
    ok &= abs(n["peak_segment_bytes"] - (mib << 20)) <= 8192
    ok &= abs(n["peak_saved_bytes_measured"] - want) <= 8192 * len(n["ranks"])
    print(f"  node {n['node']} ({n['host']}): {len(n['ranks'])} ranks, one copy of "
          f"{n['peak_segment_bytes']} bytes, saved {n['peak_saved_bytes_measured']} measured "
          f"(one copy per node: {want})")
sys.exit(0 if ok else 1)
EOF
}

T=$D/out
mkdir -p "$T"
if [ -n "${SLURM_TEST_RUN:-}" ]; then # (a command of one's own under this Slurm, to look into one)
  bash -c "$SLURM_TEST_RUN"
  exit
fi
if [ "$case" = one-node ]; then
  out=$(timeout 120 srun -n 4 --mpi=$plugin "$job" --mib 8 2>&1)
  check "srun --mpi=$plugin without the wrapper runs, nothing shared" \
    grep -q "data right on every rank, shared on 0 of 4 rank(s)" <<<"$out"
  out=$(timeout 120 "$run" --lib "$lib" --report="$T/srun.json" -- srun -n 4 --mpi=$plugin \
    "$job" --mib 8 --unmarked 2>&1)
  check "mpishm-run --report -- srun: a report, nothing marked: nothing shared" \
    grep -q "shared on 0 of 4" <<<"$out"
  check "  the report's line names the table's site" \
    grep -q '"suggested_sites": "broadcast_table"' "$T/srun.json"
  out=$(timeout 120 "$run" --lib "$lib" --sites broadcast_table --report="$T/sites.json" -- \
    srun -n 4 --mpi=$plugin "$job" --mib 8 --unmarked 2>&1)
  check "mpishm-run --sites broadcast_table -- srun: shared on every rank" shared_everywhere "$out" 4
  check "  one copy per node, measured" one_copy_per_node "$T/sites.json" 1 4 8
  out=$(timeout 120 "$run" --lib "$lib" --auto -- srun -n 4 --mpi=$plugin "$job" --mib 8 \
    --unmarked 2>&1)
  check "mpishm-run --auto -- srun: shared on every rank" shared_everywhere "$out" 4
  out=$(timeout 120 salloc -n 4 "$run" --lib "$lib" --report="$T/salloc.json" -- $mpiexec -n 4 \
    "$job" --mib 8 2>&1)
  check "salloc + mpishm-run --report -- mpiexec: the marked table shared on every rank" \
    shared_everywhere "$out" 4
  check "  one copy per node, measured" one_copy_per_node "$T/salloc.json" 1 4 8
  out=$(timeout 120 salloc -n 4 $mpiexec -n 4 "$job" --mib 8 2>&1)
  check "salloc + mpiexec without the wrapper runs, nothing shared" \
    grep -q "data right on every rank, shared on 0 of 4 rank(s)" <<<"$out"
  # the benchmark through srun, and through the MPI's own mpiexec: one copy, measured
  bench=("$source/tools/mpishm-bench" --build "$build" --no-latency --steps 0 --ranks 4 --nodes 1
         --sizes 8M --runs 1 --repeats 2 --methods plain,mpishm)
  out=$(timeout 300 "${bench[@]}" --mpiexec "srun --mpi=$plugin" 2>&1)
  grep -E " (plain|mpishm) " <<<"$out"
  # (copies count the ranks' page tables: 8 bytes per 4 KiB page each, 0.008 of a copy on 4)
  check "mpishm-bench --mpiexec \"srun --mpi=$plugin\": 4 copies without the library" \
    grep -qE " plain .* 4\.0[01][0-9] " <<<"$out"
  check "  one with it" grep -qE " mpishm .* 1\.0[01][0-9] " <<<"$out"
  out=$(timeout 300 "${bench[@]}" --mpiexec "${mpiexec%% *}" 2>&1)
  check "mpishm-bench --mpiexec ${mpiexec%% *}: one copy with the library" \
    grep -qE " mpishm .* 1\.0[01][0-9] " <<<"$out"
elif [ "$case" = memory ]; then
  # Each job's peak, measured first in an allocation of 2 GiB: its job cgroup's high-water
  # mark (cgroup v1 memory.max_usage_in_bytes, v2 memory.peak), read after the step while a
  # step that only sleeps keeps the job's cgroup
  peak_of() { # peak_of SRUN-ARGUMENTS...: that step's job's peak in MiB
    salloc -n 4 --mem=2000M bash -c '
      srun --overlap -n 1 sleep 120 & holder=$!
      sleep 1
      srun --overlap "$@" >/dev/null 2>&1
      trap "kill $holder" EXIT
      for f in /sys/fs/cgroup/memory/slurm*/uid_*/job_$SLURM_JOB_ID/memory.max_usage_in_bytes \
               /sys/fs/cgroup/system.slice/slurm*/job_$SLURM_JOB_ID/memory.peak \
               /sys/fs/cgroup/slurm*/job_$SLURM_JOB_ID/memory.peak; do
        [ -r "$f" ] && { echo $(( $(cat "$f") >> 20 )); exit; }
      done' peak "$@" 2>/dev/null | tail -1
  }
  plain=$(peak_of -n 4 --mpi=$plugin "$job" --mib 128 --resident)
  library=$(peak_of -n 4 --mpi=$plugin --export=ALL,LD_PRELOAD=$lib "$job" --mib 128)
  echo "peaks: plain MPI_Bcast ${plain:-?} MiB, the library with untouched tables ${library:-?} MiB"
  if [ -z "$plain" ] || [ -z "$library" ]; then
    failures=$((failures + 1))
    echo "FAIL: no job cgroup's peak to read"
    exit 1
  fi
  above_plain=$((plain + 32))M between=$(((plain + library) / 2))M
  out=$(timeout 120 srun -n 4 --mpi=$plugin --mem=$above_plain "$job" --mib 128 --resident 2>&1)
  check "--mem=$above_plain, tables touched first: plain MPI_Bcast runs" \
    grep -q "data right on every rank" <<<"$out"
  out=$(timeout 120 "$run" --lib "$lib" -- srun -n 4 --mpi=$plugin --mem=$above_plain "$job" \
    --mib 128 --resident 2>&1)
  check "--mem=$above_plain, tables touched first: with the library too, shared" \
    shared_everywhere "$out" 4
  out=$(timeout 120 srun -n 4 --mpi=$plugin --mem=$between "$job" --mib 128 2>&1)
  status=$?
  check "--mem=$between, untouched tables: plain MPI_Bcast is killed (Out Of Memory)" \
    test $status -ne 0 -a -n "$(grep -i "out of memory\|oom" <<<"$out")"
  echo "$out" | grep -i "memory" | head -2
  out=$(timeout 120 "$run" --lib "$lib" -- srun -n 4 --mpi=$plugin --mem=$between "$job" \
    --mib 128 2>&1)
  check "--mem=$between, untouched tables: runs with the library, shared" \
    shared_everywhere "$out" 4
else
  out=$(job "$run" --lib "$lib" --report="$T/two.json" -- srun -N 2 -n 6 --mpi=$plugin \
    "$job" --mib 8)
  check "mpishm-run --report -- srun -N 2 -n 6: shared on every rank" shared_everywhere "$out" 6
  check "  one copy on each of the 2 nodes, measured" one_copy_per_node "$T/two.json" 2 6 8
  check "  the nodes are Slurm's n1 and n2" python3 -c "
import json, sys
r = json.load(open('$T/two.json'))
sys.exit(0 if sorted(n['host'] for n in r['nodes']) == ['n1', 'n2'] else 1)"
  out=$(job salloc -N 2 -n 6 "$run" --lib "$lib" --report="$T/two_salloc.json" -- \
    $mpiexec -n 6 "$job" --mib 8)
  check "salloc -N 2 + mpishm-run --report -- mpiexec: shared on every rank" \
    shared_everywhere "$out" 6
  check "  one copy on each of the 2 nodes, measured" one_copy_per_node "$T/two_salloc.json" 2 6 8
fi
echo "slurm_test: $case, $mpi: $failures failure(s)"
[ $failures -eq 0 ]
