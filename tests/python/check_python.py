#!/usr/bin/env python3
"""The mpishm Python module under the preloaded library: a numpy array and a bytearray are
marked, broadcast (MPI through ctypes on MPICH's ABI, as mpi4py would call it) and shared;
unmark keeps the content; bad buffers raise MpishmError with the library's sentence.
Rank 0 prints "check_python: passed"."""
import ctypes
import os
import sys

sys.path.insert(0, sys.argv[1])  # the module's directory
import numpy as np  # noqa: E402

import mpishm  # noqa: E402

COMM_WORLD, BYTE, INT, SUM = (ctypes.c_int(v) for v in (0x44000000, 0x4C00010D, 0x4C000405, 0x58000003))
mpi = ctypes.CDLL(None)
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print(f"FAIL rank {rank.value}: {what}", file=sys.stderr)


def bcast(buf, nbytes):
    address = ctypes.addressof(ctypes.c_char.from_buffer(memoryview(buf).cast("B")))
    mpi.MPI_Bcast(ctypes.c_void_p(address), ctypes.c_int(nbytes), BYTE, ctypes.c_int(0), COMM_WORLD)


mpi.MPI_Init(None, None)
rank = ctypes.c_int()
mpi.MPI_Comm_rank(COMM_WORLD, ctypes.byref(rank))
check(mpishm.loaded and mpishm.preloaded, "the module found the preloaded library")

table = np.empty((512, 1024), dtype=np.float64)         # 4 MiB, 2-D
check(mpishm.mark_readonly(table) is True, "a numpy array is marked")
if rank.value == 0:
    table[:] = np.arange(table.size, dtype=np.float64).reshape(table.shape) * 0.25
bcast(table, table.nbytes)
check(np.array_equal(table, np.arange(table.size, dtype=np.float64).reshape(table.shape) * 0.25),
      "the numpy array arrived")
check(mpishm.is_shared(table), "the numpy array is shared")

raw = bytearray(2 << 20)                                  # the buffer protocol, not numpy
check(mpishm.mark_readonly(raw), "a bytearray is marked")
if rank.value == 0:
    raw[:] = bytes(range(256)) * (len(raw) // 256)
bcast(raw, len(raw))
check(raw[:256] == bytes(range(256)) and raw[-1] == 255, "the bytearray arrived")
check(mpishm.is_shared(raw), "the bytearray is shared")

mpishm.unmark(table)
check(not mpishm.is_shared(table) and mpishm.info(table) is None, "unmarked")
check(table[511, 1023] == (table.size - 1) * 0.25, "and its content kept")

for bad, code, what in ((b"read-only bytes", mpishm.EBADMEM, "read-only"),
                        (np.zeros(1 << 20)[::2], mpishm.EINVAL, "strided"),
                        (raw, mpishm.EOVERLAP, "already marked")):
    try:
        mpishm.mark_readonly(bad)
        check(False, f"a {what} buffer is refused")
    except mpishm.MpishmError as e:
        check(e.code == code and str(e), f"a {what} buffer: code {e.code}, expected {code}")

mine, total = ctypes.c_int(len(failures)), ctypes.c_int()
mpi.MPI_Allreduce(ctypes.byref(mine), ctypes.byref(total), ctypes.c_int(1), INT, SUM, COMM_WORLD)
if rank.value == 0:
    print("check_python:", "FAILED" if total.value else "passed")
mpi.MPI_Finalize()
sys.exit(1 if total.value else 0)
