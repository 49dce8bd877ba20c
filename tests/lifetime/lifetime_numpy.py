#!/usr/bin/env python3
"""A shared table's life in Python: a numpy array is marked, broadcast (shared) and dropped.
Afterwards the mark is gone, no segment is mapped, the node's shared memory went down, and
a new array reads zeros and stays private. MPI is called through ctypes (MPICH's ABI: its
handles are integers), so that no mpi4py is needed; the calls go through the preloaded
library's MPI_Bcast, as an mpi4py program's would. Rank 0 prints "lifetime_numpy: passed"."""
import ctypes
import sys

import numpy as np

MPI_COMM_WORLD = ctypes.c_int(0x44000000)
MPI_BYTE = ctypes.c_int(0x4C00010D)
MPI_INT = ctypes.c_int(0x4C000405)
MPI_SUM = ctypes.c_int(0x58000003)

lib = ctypes.CDLL(None)  # the process's global scope: libmpishm (preloaded), then libmpich


class Info(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("bytes", ctypes.c_size_t), ("shared", ctypes.c_int),
                ("shared_bytes", ctypes.c_size_t), ("segment_dev", ctypes.c_ulong),
                ("segment_inode", ctypes.c_ulong), ("broadcasts", ctypes.c_ulong)]


def marked_base(addr):
    info = Info()
    assert lib.mpishm_query(ctypes.c_void_p(addr), ctypes.byref(info)) == 0
    return info.base, info.shared


def segment_mappings():
    with open("/proc/self/maps") as f:
        return sum("memfd:libmpishm" in line for line in f)


def node_shmem():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Shmem:"):
                return int(line.split()[1]) * 1024
    return -1


def main():
    failures = []

    def check(ok, what):
        if not ok:
            failures.append(what)
            print(f"FAIL rank {rank.value}: {what}", file=sys.stderr)

    lib.MPI_Init(None, None)
    rank = ctypes.c_int()
    lib.MPI_Comm_rank(MPI_COMM_WORLD, ctypes.byref(rank))
    n = 8 << 20
    lib.MPI_Barrier(MPI_COMM_WORLD)
    before = node_shmem()
    table = np.empty(n, dtype=np.uint8)
    addr = table.ctypes.data
    check(lib.mpishm_mark_readonly(ctypes.c_void_p(addr), ctypes.c_size_t(n)) == 0, "mark")
    if rank.value == 0:
        table[:] = np.arange(n, dtype=np.uint64).astype(np.uint8) * 7
    lib.MPI_Bcast(ctypes.c_void_p(addr), ctypes.c_int(n), MPI_BYTE, ctypes.c_int(0), MPI_COMM_WORLD)
    expected = (np.arange(n, dtype=np.uint64).astype(np.uint8) * 7)
    check(np.array_equal(table, expected), "the data arrived")
    check(marked_base(addr)[1] == 1, "the array is shared")
    check(segment_mappings() == 1, "one segment mapping while shared")
    lib.MPI_Barrier(MPI_COMM_WORLD)
    shared = node_shmem()
    del table  # numpy frees its data with free()
    check(marked_base(addr)[0] is None, "no mark after the array is gone")
    check(segment_mappings() == 0, "no segment mapping after the array is gone")
    lib.MPI_Barrier(MPI_COMM_WORLD)
    after = node_shmem()
    copy = n * 9 // 10
    check(shared - before >= copy, "the node's copy shows in its shared memory")
    check(shared - after >= copy, "and leaves it when every rank dropped the array")
    again = np.zeros(n, dtype=np.uint8)
    check(not again.any(), "a new array reads zeros")
    again[:] = rank.value + 1
    lib.MPI_Barrier(MPI_COMM_WORLD)
    check(int(again[n // 2]) == rank.value + 1, "writes stay private")
    mine, total = ctypes.c_int(len(failures)), ctypes.c_int()
    lib.MPI_Allreduce(ctypes.byref(mine), ctypes.byref(total), ctypes.c_int(1), MPI_INT, MPI_SUM,
                      MPI_COMM_WORLD)
    if rank.value == 0:
        print(f"lifetime_numpy: node shared memory {before >> 20} MiB, {shared >> 20} MiB while "
              f"shared, {after >> 20} MiB after; {'FAILED' if total.value else 'passed'}")
    lib.MPI_Finalize()
    return 1 if total.value else 0


if __name__ == "__main__":
    sys.exit(main())
