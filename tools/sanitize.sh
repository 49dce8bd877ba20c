#!/bin/bash
# The memory checkers over the test suite (part of tools/test.sh, or on its own):
#  1. the library and every test program built with -fsanitize=address,undefined into
#     build-asan/, then the unit tests and the MPI tests run there (UBSan stops at the first
#     report; ASan's leak checker is off, as MPICH leaks by design at exit);
#  2. valgrind --error-exitcode=1 over the unit tests of the ordinary build.
# Left out under AddressSanitizer: the tests too big for its shadow memory (label big) and
# strict mode's (mpi_protect_*): ASan's own SIGSEGV handling and its larger stack frames
# change what a fault on an 8 KiB signal stack prints, which those tests check to the letter.
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
(cd build-asan && ctest --output-on-failure --timeout 600 -L "unit|mpi|report" -LE big -E "protect|bench")
echo "sanitize: valgrind over the unit tests"
status=0
for t in build/tests/unit/test_*; do
  if ! valgrind -q --error-exitcode=1 "$t" >/tmp/valgrind-$$.log 2>&1; then
    cat /tmp/valgrind-$$.log
    echo "sanitize: valgrind found errors in $t"
    status=1
  fi
done
rm -f /tmp/valgrind-$$.log
[[ $status == 0 ]] && echo "sanitize: valgrind: no errors in $(ls build/tests/unit/test_* | wc -l) unit test programs"
exit $status
