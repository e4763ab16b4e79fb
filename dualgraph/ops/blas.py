"""Matrix products through one door: numpy's BLAS (the default) or Intel MKL (`dg.set_blas("mkl")`).

Every op kernel that multiplies 2-D matrices (mm, matmul, the products of linear and of the
backward rules built from them) calls `matmul` here, eagerly and in compiled plans alike, so the
two modes always run the same product on the same layout and give the same numbers, whichever
library is on.

Why MKL: numpy's wheels carry OpenBLAS, whose single-thread sgemm takes 1.05-1.5x MKL's time
on the products of a small network's training step (`benchmarks/blas.py`); PyTorch's CPU build
runs MKL. With the `mkl` extra installed (`pip install 'dualgraph[mkl]'`) `set_blas("mkl")`
routes every 2-D float32/float64 product big enough to gain (`_MKL_FROM`) through MKL's
`cblas_?gemm`, reading numpy's row- or column-major operands in place (no copy) and writing
into the caller's `out=`. It calls MKL through cffi (ABI mode, no compiler), whose calls and
buffer pointers cost a fraction of ctypes' (~5 us less per product: `benchmarks/blas.py`). Everything else (batched, 1-D, integer, complex,
non-contiguous operands, overlapping out) stays with np.matmul. The environment variable
DUALGRAPH_BLAS=mkl turns it on at import (the test suite runs on MKL that way too). MKL reads its
own environment variables (MKL_NUM_THREADS, MKL_THREADING_LAYER).

The two libraries round differently in the last bits: switching changes numbers by float
rounding, never one mode against the other. Plans call the kernels at run time, so a switch
applies to plans made before it too.
"""
import os
import sys

import numpy as np

from ..errors import DGRuntimeError, DGValueError

_NO_MKL = ("set_blas('mkl') needs Intel MKL's runtime library (libmkl_rt): "
           "pip install 'dualgraph[mkl]' (the mkl package); looked in {where}")
_NO_CFFI = ("set_blas('mkl') calls MKL through cffi, which is not installed: "
            "pip install 'dualgraph[mkl]' (the mkl and cffi packages)")
_GEMM_DECLS = """
void cblas_sgemm(int, int, int, int, int, int, float, const void *, int, const void *, int,
                 float, void *, int);
void cblas_dgemm(int, int, int, int, int, int, double, const void *, int, const void *, int,
                 double, void *, int);
"""
_MKL_FROM = 1 << 21      # multiply-adds (m*n*k): smaller products stay with numpy. The door's
#                         checks cost ~3 us a call, and MKL itself is no faster than OpenBLAS below
#                         about two million multiply-adds (benchmarks/blas.py: 1.1-1.7x numpy's
#                         time there); a fixed bound, not a timing, so the library a product runs
#                         on (and its last bits) never depends on the machine's load
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112

_state = {"name": "numpy", "gemm": None}   # gemm: {dtype: cblas_?gemm} when MKL is on
_MKL = {}   # once a process: "ffi" (cffi.FFI), "lib" (libmkl_rt), "gemm", "buffer" (from_buffer)


def get_blas():
    """The library 2-D products run on: "numpy" (numpy's own BLAS) or "mkl"."""
    return _state["name"]


def set_blas(name):
    """Run 2-D matrix products on numpy's BLAS ("numpy", the default) or Intel MKL ("mkl").
    Returns the previous name."""
    if name not in ("numpy", "mkl"):
        raise DGValueError(f"unknown BLAS {name!r}: expected 'numpy' or 'mkl'")
    old = _state["name"]
    _state["gemm"] = _mkl_gemm() if name == "mkl" else None
    _state["name"] = name
    return old


def _library_dirs():
    import site
    dirs = [os.path.join(p, "lib") for p in (sys.prefix, sys.base_prefix, site.USER_BASE) if p]
    return list(dict.fromkeys(dirs))


def _load_mkl():
    if "lib" in _MKL:
        return _MKL["lib"]
    try:
        import cffi   # (here, not at import: `import dualgraph` never loads it)
    except ImportError:
        raise DGRuntimeError(_NO_CFFI) from None
    import ctypes.util   # (ctypes.util alone costs ~4 ms: only when MKL is asked for)
    import glob
    ffi = cffi.FFI()
    ffi.cdef(_GEMM_DECLS)
    paths = [p for d in _library_dirs() for p in sorted(glob.glob(os.path.join(d, "libmkl_rt.so*")))]
    found = ctypes.util.find_library("mkl_rt")
    for path in paths + ([found] if found else []):
        try:
            lib = ffi.dlopen(path)
        except OSError:
            continue
        _MKL.update(ffi=ffi, lib=lib, buffer=ffi.from_buffer)
        return lib
    raise DGRuntimeError(_NO_MKL.format(where=", ".join(_library_dirs()) + " and the linker's path"))


def _mkl_gemm():
    if "gemm" in _MKL:
        return _MKL["gemm"]
    lib = _load_mkl()
    # (keyed by dtype: a byte-swapped float32 is another dtype, left to numpy)
    gemm = {np.dtype(np.float32): lib.cblas_sgemm, np.dtype(np.float64): lib.cblas_dgemm}
    _MKL["gemm"] = gemm
    return gemm


def _operand(a, buffer):
    """(memory, transpose flag, leading dimension) of a 2-D operand MKL can read in place, else
    None. A column-major operand is handed over as its row-major transpose (the same memory:
    cffi takes the buffer of a C-contiguous array only)."""
    flags = a.flags
    if flags.c_contiguous:
        return buffer(a), _NO_TRANS, max(1, a.shape[1])
    if flags.f_contiguous:
        return buffer(a.T), _TRANS, max(1, a.shape[0])
    return None


def _unbroadcast(a):
    # (`0 in strides` first: this runs for every product, and a zero stride is rare)
    if 0 in a.strides and any(s == 0 and d > 1 for s, d in zip(a.strides, a.shape)):
        return np.ascontiguousarray(a)
    return a


def matmul(a, b, out=None):
    """np.matmul(a, b, out=out), on MKL when it is on and the product suits it (see the module
    docstring); the same signature, so it is also the ops' out_kernel."""
    # a broadcast operand (stride 0 along a dimension: the gradient of x.sum() is ones made so)
    # is not one BLAS reads, so numpy takes its own loop, which rounds otherwise: the same value
    # laid out in memory (a compiled plan's buffer) would give other bits; a copy gives BLAS's
    a, b = _unbroadcast(a), _unbroadcast(b)
    gemm = _state["gemm"]
    if gemm is None or a.ndim != 2 or b.ndim != 2:
        return np.matmul(a, b, out=out)
    (m, k), n = a.shape, b.shape[1]
    f = gemm.get(a.dtype)
    if (f is None or b.dtype != a.dtype or b.shape[0] != k or m * n * k < _MKL_FROM
            or max(m, n, k) >= 1 << 31):
        return np.matmul(a, b, out=out)
    buffer = _MKL["buffer"]
    la, lb = _operand(a, buffer), _operand(b, buffer)
    if la is None or lb is None:
        return np.matmul(a, b, out=out)
    if out is None:
        out = np.empty((m, n), a.dtype)
    else:
        flags = out.flags
        if (out.shape != (m, n) or out.dtype != a.dtype or not flags.c_contiguous
                or not flags.writeable or np.may_share_memory(out, a) or np.may_share_memory(out, b)):
            return np.matmul(a, b, out=out)
    f(_ROW_MAJOR, la[1], lb[1], m, n, k, 1.0, la[0], la[2], lb[0], lb[2], 0.0, buffer(out), max(1, n))
    return out


if os.environ.get("DUALGRAPH_BLAS"):
    set_blas(os.environ["DUALGRAPH_BLAS"])
