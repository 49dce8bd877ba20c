#!/bin/bash
# Run one test command and judge it as a user would:
#   run.sh [--stderr RE]... [--no-stderr RE]... [--stdout RE]... [--fail | --exit N] -- command...
# Passes when the command exits 0 (non-zero with --fail, N with --exit), its stderr matches every --stderr
# pattern and no --no-stderr pattern, its stdout every --stdout pattern, and no POSIX shared
# memory object of the library (/dev/shm/libmpishm-*) created meanwhile is left behind.
set -u
want_rc=0 stderr_re=() nostderr_re=() stdout_re=()
while [[ $# -gt 0 && $1 != -- ]]; do
  case $1 in
    --stderr) stderr_re+=("$2"); shift 2 ;;
    --no-stderr) nostderr_re+=("$2"); shift 2 ;;
    --stdout) stdout_re+=("$2"); shift 2 ;;
    --fail) want_rc=1; shift ;;
    --exit) want_rc=exact exact_rc=$2; shift 2 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
shift
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
shm_before=$(ls /dev/shm | grep '^libmpishm-' | sort)
"$@" >"$out" 2>"$err"
rc=$?
cat "$out"; cat "$err" >&2
[[ $rc != 77 ]] || exit 77 # the launcher cannot run this layout here: skipped
status=0
if [[ $want_rc == 0 && $rc != 0 ]]; then echo "run.sh: exit status $rc, expected 0" >&2; status=1; fi
if [[ $want_rc == 1 && $rc == 0 ]]; then echo "run.sh: exit status 0, expected a failure" >&2; status=1; fi
if [[ $want_rc == exact && $rc != "$exact_rc" ]]; then
  echo "run.sh: exit status $rc, expected $exact_rc" >&2; status=1
fi
for re in "${stderr_re[@]+"${stderr_re[@]}"}"; do
  grep -Eq -- "$re" "$err" || { echo "run.sh: stderr lacks /$re/" >&2; status=1; }
done
for re in "${nostderr_re[@]+"${nostderr_re[@]}"}"; do
  ! grep -Eq -- "$re" "$err" || { echo "run.sh: stderr has /$re/" >&2; status=1; }
done
for re in "${stdout_re[@]+"${stdout_re[@]}"}"; do
  grep -Eq -- "$re" "$out" || { echo "run.sh: stdout lacks /$re/" >&2; status=1; }
done
left=$(comm -13 <(echo "$shm_before") <(ls /dev/shm | grep '^libmpishm-' | sort))
if [[ -n $left ]]; then echo "run.sh: left behind in /dev/shm: $left" >&2; status=1; fi
exit $status
