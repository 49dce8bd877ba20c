"""numpy's arrays (malloc, and calloc for numpy.zeros) and Python's bytearray go through
malloc: their large blocks start on a 2 MiB boundary under the library. Prints
"align_numpy: passed" when every check passed."""
import ctypes
import sys

import numpy

HUGE = 2 << 20
arrays = {
    "numpy.empty(8 Mi)": numpy.empty(8 << 20),
    "numpy.zeros(8 Mi)": numpy.zeros(8 << 20),
    "numpy.ones((3000, 1000))": numpy.ones((3000, 1000)),
}
failures = [f"{name} at {a.ctypes.data % HUGE} modulo 2 MiB"
            for name, a in arrays.items() if a.ctypes.data % HUGE]
if not numpy.all(arrays["numpy.zeros(8 Mi)"] == 0):
    failures.append("numpy.zeros is not zero")
raw = bytearray(64 << 20)
at = ctypes.addressof((ctypes.c_char * len(raw)).from_buffer(raw))
if at % HUGE:
    failures.append(f"bytearray(64 MiB) at {at % HUGE} modulo 2 MiB")
for f in failures:
    print("FAIL:", f)
print("align_numpy: passed" if not failures else "align_numpy: FAILED")
sys.exit(1 if failures else 0)
