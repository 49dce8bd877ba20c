"""libmpishm from Python: mark the arrays an MPI program broadcasts and then only reads, so
that under the preloaded library every node keeps one copy of them.

    import numpy as np, mpishm
    table = np.empty(n)
    mpishm.mark_readonly(table)          # True when marked; False without the library
    comm.Bcast(table, root=0)            # unchanged (mpi4py): shared under the library
    mpishm.is_shared(table)              # True when its pages come from the node's copy
    mpishm.unmark(table)                 # private pages again, content kept

Any object with the buffer protocol works (numpy arrays, bytearray, array.array, memoryview)
if it is C-contiguous and writable. Pure Python over ctypes, no build step.

The library must be preloaded (LD_PRELOAD, or tools/mpishm-run) for broadcasts to be shared:
it intercepts MPI_Bcast only when it comes before the MPI library. This module uses the
preloaded copy when there is one; otherwise it loads libmpishm (from $MPISHM_LIB, beside this
module's install, or the system's) so that marking still works and says so, but nothing is
shared. Without any library, mark_readonly returns False and nothing else changes.
"""
import ctypes
import ctypes.util
import os

__all__ = ["mark_readonly", "unmark", "is_shared", "info", "loaded", "preloaded", "MpishmError"]

# include/mpishm.h's codes, in its order (tests/docs checks that they agree)
SUCCESS, EINVAL, EOVERLAP, ENOTMARKED, EBADMEM, ENOMEM, ENOTLOADED, ESYSTEM, ENOTCONTIGUOUS = range(9)


class MpishmError(OSError):
    """A libmpishm call failed: .code is the MPISHM_E* code, str() its sentence."""

    def __init__(self, code, text):
        super().__init__(code, text)
        self.code = code


class _Info(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("bytes", ctypes.c_size_t), ("shared", ctypes.c_int),
                ("shared_bytes", ctypes.c_size_t), ("segment_dev", ctypes.c_ulong),
                ("segment_inode", ctypes.c_ulong), ("broadcasts", ctypes.c_ulong)]


def _find():
    """(library, preloaded): the process's copy first, then one to load, else (None, False)."""
    here = ctypes.CDLL(None)
    if hasattr(here, "mpishm_mark_readonly"):
        return here, True
    module = os.path.dirname(os.path.abspath(__file__))
    candidates = [os.environ.get("MPISHM_LIB"),
                  os.path.join(module, "..", "..", "..", "libmpishm.so"),        # lib/python3/...
                  os.path.join(module, "..", "..", "..", "..", "lib", "libmpishm.so"),
                  os.path.join(module, "..", "..", "build", "libmpishm.so"),     # source tree
                  ctypes.util.find_library("mpishm")]
    for c in candidates:
        if c and (os.path.isfile(c) or not os.path.sep in c):
            try:
                return ctypes.CDLL(c), False
            except OSError:
                continue
    return None, False


_lib, preloaded = _find()
loaded = _lib is not None
if loaded:
    for _name in ("mpishm_mark_readonly", "mpishm_unmark", "mpishm_query"):
        getattr(_lib, _name).restype = ctypes.c_int
    _lib.mpishm_mark_readonly.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    _lib.mpishm_unmark.argtypes = [ctypes.c_void_p]
    _lib.mpishm_query.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Info)]
    _lib.mpishm_strerror.restype = ctypes.c_char_p
    _lib.mpishm_strerror.argtypes = [ctypes.c_int]


def _range(obj):
    """(address, bytes) of a writable C-contiguous buffer."""
    view = memoryview(obj)
    if not view.c_contiguous:
        raise MpishmError(EINVAL, "the buffer is not C-contiguous: there is no one range to share")
    if view.readonly:
        raise MpishmError(EBADMEM, "the buffer is read-only: only writable memory can be marked")
    if view.nbytes == 0:
        raise MpishmError(EINVAL, "the buffer is empty")
    first = ctypes.c_char.from_buffer(view.cast("B"))
    return ctypes.addressof(first), view.nbytes


def _check(code):
    if code != SUCCESS:
        raise MpishmError(code, _lib.mpishm_strerror(code).decode())


def mark_readonly(obj):
    """Mark the buffer: after its next broadcast, no rank writes it (until it is broadcast
    again, unmarked or freed). True when marked, False when libmpishm is not available."""
    if not loaded:
        return False
    _check(_lib.mpishm_mark_readonly(*_range(obj)))
    return True


def unmark(obj):
    """End the mark of the buffer (it must be the start of a marked array); its pages become
    private memory with the same content."""
    if not loaded:
        return
    _check(_lib.mpishm_unmark(_range(obj)[0]))


def info(obj):
    """The marked array containing the buffer's first byte, as a dict (None if unmarked)."""
    if not loaded:
        return None
    i = _Info()
    _check(_lib.mpishm_query(_range(obj)[0], ctypes.byref(i)))
    if not i.base:
        return None
    return {f: getattr(i, f) for f, _ in _Info._fields_}


def is_shared(obj):
    """True when the buffer's pages come from its node's shared copy."""
    i = info(obj)
    return bool(i and i["shared"])
