#!/bin/bash
# The memory and thread checkers over the test suite (part of tools/test.sh, or on its own):
#  1. the library and every test program built with -fsanitize=address,undefined into
#     build-asan/, then the unit tests and the MPI tests run there (UBSan stops at the first
#     report; ASan's leak checker is off, as MPICH leaks by design at exit);
#  2. the library and tests/mpi/thread_check built with -fsanitize=thread into build-tsan/:
#     threads broadcasting on their own communicators while another marks and unmarks;
#  3. libFuzzer (clang) over the option parser and random mark/unmark/lookup/free sequences
#     on the registry, checked against a plain list of intervals (tests/fuzz/), 20 s each;
#  4. valgrind --error-exitcode=1 over the unit tests of the ordinary build.
# Left out under AddressSanitizer: the tests too big for its shadow memory (label big);
# strict mode's (mpi_protect_*): ASan's own SIGSEGV handling and its larger stack frames
# change what a fault on an 8 KiB signal stack prints, which those tests check to the letter;
# tcmalloc's (a second allocator beside ASan's), and numpy's and the Python module's (python3
# is not built with ASan, whose runtime must come first in a process).
#   bash tools/sanitize.sh
set -euo pipefail
cd "$(dirname "$0")/.."
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS="$flags" \
      -DCMAKE_Fortran_FLAGS="-fsanitize=address,undefined" \
      -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
      -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
cmake --build build-asan -j "$(nproc)" >/dev/null
echo "sanitize: AddressSanitizer and UndefinedBehaviorSanitizer"
# The programs carry the ASan runtime; the preloaded library comes before it in the list.
export ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# (memlimit left out: it compares memory peaks, which the sanitizers' own memory moves)
(cd build-asan && ctest --output-on-failure --timeout 600 -L "unit|mpi|report" -LE "big|memlimit" \
                  -E "protect|bench|tcmalloc|numpy|python")
echo "sanitize: ThreadSanitizer over concurrent broadcasts (MPI_THREAD_MULTIPLE)"
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS="-fsanitize=thread -O1" \
      -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=thread" \
      -DMPISHM_UNIT_TESTS=OFF >/dev/null
cmake --build build-tsan -j "$(nproc)" --target mpishm thread_check >/dev/null
# UCX's memory hooks run inside glibc's thread exit, after ThreadSanitizer let go of the
# thread, and crash it: they are off for this run (UCX_MEM_EVENTS=no).
TSAN_OPTIONS="halt_on_error=0 exitcode=66 suppressions=$PWD/tests/mpi/tsan.supp" \
  timeout 600 "$(command -v mpiexec.mpich || command -v mpiexec)" -n 3 \
  -genv UCX_MEM_EVENTS no -genv LD_PRELOAD "$PWD/build-tsan/libmpishm.so" \
  build-tsan/tests/mpi/thread_check --threads 3 --rounds 10
echo "sanitize: ThreadSanitizer: no race reported"
echo "sanitize: libFuzzer over the option parser and the registry, 20 s each"
mkdir -p build-fuzz
for target in options:"src/options.c src/log.c" registry:src/region.c; do
  name=${target%%:*}
  # shellcheck disable=SC2086 # the source list is meant to split
  clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Isrc -Iinclude \
        "tests/fuzz/fuzz_$name.c" ${target#*:} -o "build-fuzz/fuzz_$name"
  if ! (cd build-fuzz && "./fuzz_$name" -max_total_time=20 -print_final_stats=1 \
          >"fuzz_$name.log" 2>&1); then
    tail -40 "build-fuzz/fuzz_$name.log"
    echo "sanitize: fuzz_$name failed; the input is in build-fuzz/ (crash-*, oom-*, timeout-*)"
    exit 1
  fi
  echo "sanitize: fuzz_$name: $(grep -m1 'stat::number_of_executed_units' "build-fuzz/fuzz_$name.log" |
                                 awk '{print $2}') inputs, no failure"
done
echo "sanitize: valgrind over the unit tests"
# Criterion runs every test in a child process it starts anew (traced): each process gets its
# own log, and an error in any of them fails the step (the runner's exit status would not).
logs=$(mktemp -d)
status=0
for t in build/tests/unit/test_*; do
  # nouserintercepts: the tests' own free() (release.c, linked in) must stay theirs
  valgrind --trace-children=yes --soname-synonyms=somalloc=nouserintercepts \
           --suppressions=tests/unit/valgrind.supp --error-exitcode=1 \
           --log-file="$logs/$(basename "$t").%p" "$t" >/dev/null 2>&1 || status=1
done
if grep -l "ERROR SUMMARY: [1-9]" "$logs"/* >/dev/null 2>&1; then
  grep -h -B2 -A20 "Invalid\|uninitialised\|definitely lost" "$logs"/* | head -60
  echo "sanitize: valgrind found errors in: $(grep -l "ERROR SUMMARY: [1-9]" "$logs"/* | xargs -n1 basename)"
  status=1
elif [[ $status != 0 ]]; then
  echo "sanitize: a unit test failed under valgrind"
fi
[[ $status == 0 ]] && echo "sanitize: valgrind: no errors in $(ls "$logs" | wc -l) processes of $(ls build/tests/unit/test_* | wc -l) unit test programs"
rm -rf "$logs"
exit $status
