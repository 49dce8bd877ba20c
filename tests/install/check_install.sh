#!/bin/bash
# Install the build into a fresh prefix, then build a user's program against it three ways
# and run each: pkg-config (header only, library preloaded), CMake find_package with the
# imported target linked (no preload), and CMake for the header only (preloaded).
#   check_install.sh BUILD_DIR MPIEXEC MPICC   (the MPI the build is for)
set -euo pipefail
build=$1 mpiexec=$2 mpicc=$3
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
lib=$(find "$tmp/prefix" -name libmpishm.so | head -1)
pcdir=$(dirname "$lib")/pkgconfig
version=$(sed -n 's/^Version: //p' "$build/mpishm.pc")
wanted="include/mpishm.h bin/mpishm-report bin/mpishm-run share/man/man7/mpishm.7
        lib/python3/dist-packages/mpishm/__init__.py share/modulefiles/libmpishm/$version.lua
        share/modulefiles/libmpishm/$version"
[[ -e $build/fortran/mpishm.mod ]] && wanted+=" include/mpishm.mod" # built with gfortran
for f in $wanted; do
  [[ -e $tmp/prefix/$f ]] || { echo "check_install: $f was not installed"; exit 1; }
done
expect() { # expect WHAT OUTPUT
  grep -q "consumer: mark success, shared, data right" <<<"$2" ||
    { echo "check_install: $1: $2"; exit 1; }
  echo "check_install: $1: shared"
}
# shellcheck disable=SC2046 # pkg-config's flags are meant to split
"$mpicc" $(PKG_CONFIG_PATH=$pcdir pkg-config --cflags mpishm) "$here/consumer/app.c" -o "$tmp/app_pc"
expect "pkg-config, preloaded" "$("$mpiexec" -n 2 -genv LD_PRELOAD "$lib" "$tmp/app_pc")"
# shellcheck disable=SC2046
"$mpicc" -DMPISHM_NO_WEAK $(PKG_CONFIG_PATH=$pcdir pkg-config --cflags mpishm) \
  "$here/consumer/app.c" $(PKG_CONFIG_PATH=$pcdir pkg-config --libs mpishm) \
  -o "$tmp/app_pc_linked" -Wl,-rpath,"$(dirname "$lib")"
expect "pkg-config, linked" "$("$mpiexec" -n 2 "$tmp/app_pc_linked")"
cmake -S "$here/consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
      -DMPI_C_COMPILER="$mpicc" -DCMAKE_BUILD_RPATH="$(dirname "$lib")" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
expect "CMake, linked" "$("$mpiexec" -n 2 "$tmp/consumer/app_linked")"
expect "CMake, header only, preloaded" \
  "$("$mpiexec" -n 2 -genv LD_PRELOAD "$lib" "$tmp/consumer/app_header")"
out=$(env -u LD_PRELOAD -u MPISHM_LIB PYTHONPATH="$tmp/prefix/lib/python3/dist-packages" \
      /usr/bin/python3 -c "import mpishm, os; print('python:', mpishm.loaded, os.path.realpath(mpishm._lib._name))")
grep -q "python: True $tmp/prefix" <<<"$out" ||
  { echo "check_install: the installed Python module did not find the installed library: $out"; exit 1; }
echo "check_install: the Python module finds the installed library"
# The environment modules, loaded as a site's users would (Lmod reads both kinds; the Tcl one
# from a copy of the prefix without the Lua one, which Lmod would prefer), then a job run
# through the mpishm-run that the module put on PATH, with the library it named
lmod=/usr/share/lmod/lmod/libexec/lmod
if [[ -x $lmod ]]; then
  cp -a "$tmp/prefix" "$tmp/tcl"
  rm "$tmp/tcl/share/modulefiles/libmpishm/$version.lua"
  for prefix in "$tmp/prefix" "$tmp/tcl"; do
    kind=Lua
    [[ $prefix == "$tmp/tcl" ]] && kind=Tcl
    out=$(env -u LD_PRELOAD -u MPISHM_LIB MODULEPATH="$prefix/share/modulefiles" bash -c \
      "eval \"\$($lmod bash load libmpishm)\"; echo \"PATH=\$PATH\"; echo \"MPISHM_LIB=\$MPISHM_LIB\";
       echo \"LD_PRELOAD=\${LD_PRELOAD-unset}\"; command -v mpishm-run;
       mpishm-run -- $mpiexec -n 2 $tmp/app_pc" 2>&1)
    grep -q "^PATH=$prefix/bin:" <<<"$out" && grep -q "^MPISHM_LIB=$prefix/.*libmpishm.so$" <<<"$out" &&
      grep -q "^LD_PRELOAD=unset$" <<<"$out" && grep -q "^$prefix/bin/mpishm-run$" <<<"$out" ||
      { echo "check_install: module load libmpishm ($kind): $out"; exit 1; }
    expect "module load libmpishm ($kind), mpishm-run -- mpiexec" "$out"
  done
else
  echo "check_install: Lmod is not installed: the modulefiles were not loaded"
fi
echo "check_install: passed"
