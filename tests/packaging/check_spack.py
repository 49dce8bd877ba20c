#!/usr/bin/env python3
"""The Spack recipe parses and declares what it should, checked without Spack: the names it
imports from spack.package are stand-ins that record the declarations."""
import importlib.util
import sys
import types

recorded = {"version": [], "variant": [], "depends_on": []}


def recorder(kind):
    return lambda *args, **kwargs: recorded[kind].append((args, kwargs))


stub = types.ModuleType("spack.package")
stub.CMakePackage = type("CMakePackage", (), {"define": lambda self, k, v: f"-D{k}={v}"})
for kind in recorded:
    setattr(stub, kind, recorder(kind))
stub.maintainers = stub.license = lambda *a, **k: None
stub.join_path = lambda *parts: "/".join(parts)
stub.__all__ = [n for n in vars(stub) if not n.startswith("_")]
sys.modules["spack"] = types.ModuleType("spack")
sys.modules["spack.package"] = stub

spec = importlib.util.spec_from_file_location("recipe", sys.argv[1])
recipe = importlib.util.module_from_spec(spec)
spec.loader.exec_module(recipe)
cls = recipe.Libmpishm
problems = []
variants = {a[0]: k for a, k in recorded["variant"]}
deps = [a[0] for a, k in recorded["depends_on"]]
if set(variants.get("mpi", {}).get("values", ())) != {"mpich", "openmpi"}:
    problems.append(f"variant mpi: {variants.get('mpi')}")
for needed in ("mpich", "openmpi", "libunwind", "cmake@3.18:"):
    if needed not in deps:
        problems.append(f"no depends_on({needed!r})")
for method in ("cmake_args", "setup_run_environment"):
    if not callable(getattr(cls, method, None)):
        problems.append(f"no {method}")
for p in problems:
    print("check_spack:", p)
print(f"check_spack: {len(recorded['variant'])} variants, {len(deps)} dependencies: "
      f"{'FAILED' if problems else 'passed'}")
sys.exit(1 if problems else 0)
