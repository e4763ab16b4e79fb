"""glibc's malloc thresholds, fixed so that numpy's large temporaries reuse freed memory.

Every kernel allocates its results and temporaries through numpy, that is through malloc. glibc
serves a block above its mmap threshold (128 KiB at start, then the largest block freed so far)
with fresh pages, and gives the top of its heap back to the system once more than twice that is
free. A convolution step makes blocks of a few MiB, so in a fresh process each step faulted in
new pages: at LeNet batch 32, 760-830 page faults a step and 7.6-8.1 ms against 5.5-6.3 ms
without them (benchmarks/conv.py --modes, each mode alone; benchmarks/README.md, eighth
session). PyTorch's kernels, which keep few temporaries, take none.

At import dualgraph sets both thresholds (mallopt) to values that keep such blocks in the heap:
M_MMAP_THRESHOLD 32 MiB (glibc's largest) and M_TRIM_THRESHOLD 64 MiB: freed memory stays
with the process for the next step (glibc gives back only the top of its heap, once more than
64 MiB of it is free), so the resident size follows the peak. It is skipped when the environment already sets malloc's
thresholds (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_, GLIBC_TUNABLES with glibc.malloc),
when DUALGRAPH_MALLOC_TUNING=0, and off glibc (macOS, Windows, musl).
"""
import ctypes
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3       # glibc's <malloc.h>
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 64 << 20

# what tune() did: None before it ran, else a sentence (for dg's diagnostics and the tests)
STATUS = [None]


def _user_set():
    env = os.environ
    return ("MALLOC_MMAP_THRESHOLD_" in env or "MALLOC_TRIM_THRESHOLD_" in env
            or "glibc.malloc" in env.get("GLIBC_TUNABLES", ""))


def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    for name in (None, "libc.so.6"):     # (None: the interpreter's own symbols, libc's among them)
        try:
            libc = ctypes.CDLL(name)
            libc.gnu_get_libc_version    # glibc only (musl has mallopt as a no-op stub)
            libc.mallopt
            return libc
        except (OSError, AttributeError):
            continue
    return None


def tune():
    """Set the thresholds once (see the module's docstring); returns STATUS[0]."""
    if STATUS[0] is not None:
        return STATUS[0]
    if os.environ.get("DUALGRAPH_MALLOC_TUNING", "1") == "0":
        STATUS[0] = "off (DUALGRAPH_MALLOC_TUNING=0)"
    elif _user_set():
        STATUS[0] = "off (the environment sets malloc's thresholds)"
    else:
        libc = _glibc()
        if libc is None:
            STATUS[0] = "off (not glibc)"
        elif libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and libc.mallopt(
                M_TRIM_THRESHOLD, TRIM_THRESHOLD):
            STATUS[0] = (f"on (M_MMAP_THRESHOLD {MMAP_THRESHOLD >> 20} MiB, "
                         f"M_TRIM_THRESHOLD {TRIM_THRESHOLD >> 20} MiB)")
        else:
            STATUS[0] = "off (mallopt refused)"
    return STATUS[0]
