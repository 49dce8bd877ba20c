#!/usr/bin/env python3
"""Every option of the library's table (src/options.c) and every public function
(include/mpishm.h) is documented in README.md and in the man page docs/man/mpishm.7; every
src/*.c is in the README's layout of the source; the Python module has the header's error
codes; the man page renders without a warning
(when groff is here)."""
import re
import shutil
import subprocess
import sys

root = sys.argv[1]
options = re.findall(r'\{"(MPISHM_[A-Z_]+)"', open(f"{root}/src/options.c").read())
functions = sorted(set(re.findall(r"^\w[\w\s\*]*?\b(mpishm_\w+)\(", open(f"{root}/include/mpishm.h").read(),
                                  re.M)))
readme = open(f"{root}/README.md").read()
man = open(f"{root}/docs/man/mpishm.7").read().replace("\\-", "-")
missing = [f"{name} in {where}" for name in options + functions
           for where, text in (("README.md", readme), ("mpishm.7", man)) if name not in text]
import glob
import os
for source in sorted(glob.glob(f"{root}/src/*.c")):  # the README's map of the source
    name = "src/" + os.path.basename(source)
    if not re.search(rf"^    {re.escape(name)}\b", readme, re.M):
        missing.append(f"{name} in README.md's layout of the source")
# the Python module's error codes are the header's
header_codes = re.findall(r"MPISHM_(E[A-Z]+) = (\d+)", open(f"{root}/include/mpishm.h").read())
python = open(f"{root}/python/mpishm/__init__.py").read()
names = re.search(r"^SUCCESS, (.*) = range\((\d+)\)", python, re.M)
py_codes = [(n.strip(), str(i + 1)) for i, n in enumerate(names.group(1).split(","))] if names else []
if names and int(names.group(2)) != len(py_codes) + 1:
    py_codes = []
for code in header_codes:
    if code not in py_codes:
        missing.append(f"MPISHM_{code[0]} = {code[1]} in python/mpishm/__init__.py")
if shutil.which("groff"):
    out = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", f"{root}/docs/man/mpishm.7"],
                         capture_output=True, text=True)
    if out.returncode or out.stderr.strip():
        missing.append(f"groff: {out.stderr.strip()}")
if len(options) < 10 or len(functions) < 5:
    missing.append(f"found only {len(options)} options and {len(functions)} functions")
for m in missing:
    print("check_docs: not documented:", m)
print(f"check_docs: {len(options)} options, {len(functions)} functions: "
      f"{'FAILED' if missing else 'passed'}")
sys.exit(1 if missing else 0)
