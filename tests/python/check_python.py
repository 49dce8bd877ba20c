#!/usr/bin/env python3
"""The mpishm Python module under the preloaded library: a numpy array and a bytearray are
marked, broadcast and shared, one copy per node by the node's memory; unmark keeps the
content; bad buffers raise MpishmError with the library's sentence.
    check_python.py MODULE_DIR [--mpi4py]
With --mpi4py the script is what a user writes: comm.Bcast(table, root=0) (Debian's mpi4py
is built on Open MPI). Without, MPI is called through ctypes on MPICH's ABI, as mpi4py would
call it. Rank 0 prints "check_python: passed"."""
import ctypes
import sys

sys.path.insert(0, sys.argv[1])  # the module's directory
import numpy as np  # noqa: E402

import mpishm  # noqa: E402

if "--mpi4py" in sys.argv:
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    node = comm.Split_type(MPI.COMM_TYPE_SHARED)

    def bcast(buf, nbytes):
        comm.Bcast(buf, root=0)

    def total(values):  # sum over the ranks, elementwise
        out = np.zeros(len(values), dtype=np.int64)
        comm.Allreduce(np.array(values, dtype=np.int64), out, op=MPI.SUM)
        return [int(v) for v in out]

    def nodes():
        return total([1 if node.Get_rank() == 0 else 0])[0]

    finalize = MPI.Finalize
else:
    COMM_WORLD, BYTE, LONG_LONG, SUM = (ctypes.c_int(v) for v in
                                        (0x44000000, 0x4C00010D, 0x4C000809, 0x58000003))
    COMM_TYPE_SHARED, INFO_NULL = 1, 0x1c000000
    mpi = ctypes.CDLL(None)

    def bcast(buf, nbytes):
        address = ctypes.addressof(ctypes.c_char.from_buffer(memoryview(buf).cast("B")))
        mpi.MPI_Bcast(ctypes.c_void_p(address), ctypes.c_int(nbytes), BYTE, ctypes.c_int(0),
                      COMM_WORLD)

    def total(values):
        n = len(values)
        mine, out = (ctypes.c_longlong * n)(*values), (ctypes.c_longlong * n)()
        mpi.MPI_Allreduce(mine, out, ctypes.c_int(n), LONG_LONG, SUM, COMM_WORLD)
        return list(out)

    def nodes():
        node, node_rank = ctypes.c_int(), ctypes.c_int()
        mpi.MPI_Comm_split_type(COMM_WORLD, ctypes.c_int(COMM_TYPE_SHARED), ctypes.c_int(0),
                                ctypes.c_int(INFO_NULL), ctypes.byref(node))
        mpi.MPI_Comm_rank(node, ctypes.byref(node_rank))
        return total([1 if node_rank.value == 0 else 0])[0]

    mpi.MPI_Init(None, None)
    rank_c = ctypes.c_int()
    mpi.MPI_Comm_rank(COMM_WORLD, ctypes.byref(rank_c))
    rank = rank_c.value
    finalize = mpi.MPI_Finalize
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print(f"FAIL rank {rank}: {what}", file=sys.stderr)


def range_pss(buf):
    """Bytes of PSS of the buffer's pages (/proc/self/smaps; mappings straddling its ends are
    counted in proportion)."""
    start = ctypes.addressof(ctypes.c_char.from_buffer(memoryview(buf).cast("B")))
    end, pss, lo, hi = start + memoryview(buf).nbytes, 0.0, 0, 0
    with open("/proc/self/smaps") as f:
        for line in f:
            field = line.split()
            if "-" in field[0] and not field[0].endswith(":"):
                lo, hi = (int(x, 16) for x in field[0].split("-"))
            elif field[0] == "Pss:" and lo < end and hi > start:
                pss += int(field[1]) * 1024 * (min(hi, end) - max(lo, start)) / (hi - lo)
    return int(pss)


check(mpishm.loaded and mpishm.preloaded, "the module found the preloaded library")

table = np.empty((512, 1024), dtype=np.float64)         # 4 MiB, 2-D
check(mpishm.mark_readonly(table) is True, "a numpy array is marked")
if rank == 0:
    table[:] = np.arange(table.size, dtype=np.float64).reshape(table.shape) * 0.25
bcast(table, table.nbytes)
check(np.array_equal(table, np.arange(table.size, dtype=np.float64).reshape(table.shape) * 0.25),
      "the numpy array arrived")
check(mpishm.is_shared(table), "the numpy array is shared")

# The buffer protocol, not numpy: a 2 MiB bytearray on the heap (shared, and its data right;
# its page offset depends on what each rank allocated before, and ranks at different offsets
# keep one copy each, so its memory is not judged), and one past glibc's largest mmap
# threshold (32 MiB), mapped by itself at the same offset on every rank: one copy per node.
small = bytearray(2 << 20)
check(mpishm.mark_readonly(small), "a small bytearray is marked")
if rank == 0:
    small[:] = bytes(range(255, -1, -1)) * (len(small) // 256)
bcast(small, len(small))
check(small[:256] == bytes(range(255, -1, -1)) and small[-1] == 0, "the small bytearray arrived")
# Shared wherever its ranks' page offsets allow a saving: always when they all agree; where
# a node's ranks each have their own offset (one segment each) nothing is saved and no rank
# shares it. Either way every rank says the same.
small_at = ctypes.addressof(ctypes.c_char.from_buffer(small))
at_offset = total([1 if small_at % 4096 == o else 0 for o in range(4096)])
everywhere = total([1 if mpishm.is_shared(small) else 0])[0]
check(everywhere in (0, sum(at_offset)), "the small bytearray is shared on every rank or none")
if max(at_offset) == sum(at_offset):
    check(mpishm.is_shared(small), "the small bytearray (one page offset everywhere) is shared")
raw = bytearray(34 << 20)
check(mpishm.mark_readonly(raw), "a bytearray is marked")
if rank == 0:
    raw[:] = bytes(range(256)) * (len(raw) // 256)
bcast(raw, len(raw))
check(raw[:256] == bytes(range(256)) and raw[-1] == 255, "the bytearray arrived")
check(mpishm.is_shared(raw), "the bytearray is shared")

# the node's memory: summed over the ranks, each buffer's PSS is one copy per node (measured
# once every rank has mapped it)
n_nodes = nodes()
pss = total([range_pss(table), range_pss(raw)])
copies = [pss[0] / table.nbytes, pss[1] / len(raw)]
if rank == 0:
    print(f"check_python: {n_nodes} node(s): numpy table {copies[0]:.2f} copies, "
          f"bytearray {copies[1]:.2f} copies")
check(max(copies) <= n_nodes + 0.05, f"{copies} copies on {n_nodes} node(s)")

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

bad_count, = total([len(failures)])
if rank == 0:
    print("check_python:", "FAILED" if bad_count else "passed")
finalize()
sys.exit(1 if bad_count else 0)
