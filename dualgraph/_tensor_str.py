"""Tensor printing: repr(t) with PyTorch's rules (torch/_tensor_str.py), default print options.

Only the values, the dtype and the autograd state are read (`t._data`, `t.grad_fn`, `t._rg`), so
this module knows no tensor class; `Tensor.__repr__` (tensor.py) calls `format_tensor`.
"""
import numpy as np

from . import dtypes as _dt

# PyTorch's default print options (torch's PRINT_OPTS: precision, threshold, edgeitems, linewidth)
_PRECISION, _THRESHOLD, _EDGE, _LINEWIDTH = 4, 1000, 3, 80


class _Formatter:
    """One width and one style (integer-valued, fixed or scientific) for all shown elements."""

    def __init__(self, a):
        self.floating = a.dtype.kind == "f"
        self.int_mode, self.sci_mode, self.width = True, False, 1
        if not self.floating:
            for v in a.reshape(-1).tolist():
                self.width = max(self.width, len(str(v)))
            return
        v = a.reshape(-1).astype(np.float64)
        v = v[np.isfinite(v) & (v != 0)]
        if v.size == 0:
            return
        mag = np.abs(v)
        lo, hi = mag.min(), mag.max()
        self.int_mode = bool(np.all(v == np.ceil(v)))
        self.sci_mode = bool(hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4)
        if self.sci_mode:
            self.width = max(len(f"{x:.{_PRECISION}e}") for x in v.tolist())
        elif self.int_mode:
            self.width = max(len(f"{x:.0f}") + 1 for x in v.tolist())
        else:
            self.width = max(len(f"{x:.{_PRECISION}f}") for x in v.tolist())

    def format(self, value):
        if self.floating:
            if self.sci_mode:
                r = f"{value:{self.width}.{_PRECISION}e}"
            elif self.int_mode:
                r = f"{value:.0f}"
                if not (np.isinf(value) or np.isnan(value)):
                    r += "."
            else:
                r = f"{value:.{_PRECISION}f}"
        else:
            r = str(value)
        return " " * (self.width - len(r)) + r


def _summarized(a):
    """The elements printing shows when summarizing (edge items of every dim)."""
    if a.ndim == 0:
        return a
    if a.ndim == 1:
        return np.concatenate([a[:_EDGE], a[-_EDGE:]]) if a.shape[0] > 2 * _EDGE else a
    rows = list(range(_EDGE)) + list(range(a.shape[0] - _EDGE, a.shape[0])) \
        if a.shape[0] > 2 * _EDGE else range(a.shape[0])
    return np.stack([_summarized(a[i]) for i in rows])


def _vector_str(a, indent, summarize, fmt):
    per_line = max(1, int((_LINEWIDTH - indent) // (fmt.width + 2)))
    if summarize and a.shape[0] > 2 * _EDGE:
        data = [fmt.format(v) for v in a[:_EDGE].tolist()] + [" ..."] + \
               [fmt.format(v) for v in a[-_EDGE:].tolist()]
    else:
        data = [fmt.format(v) for v in a.tolist()]
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"


def _array_str(a, indent, summarize, fmt):
    if a.ndim == 0:
        return fmt.format(a.item())
    if a.ndim == 1:
        return _vector_str(a, indent, summarize, fmt)
    n = a.shape[0]
    if summarize and n > 2 * _EDGE:
        parts = [_array_str(a[i], indent + 1, summarize, fmt) for i in range(_EDGE)] + ["..."] + \
                [_array_str(a[i], indent + 1, summarize, fmt) for i in range(n - _EDGE, n)]
    else:
        parts = [_array_str(a[i], indent + 1, summarize, fmt) for i in range(n)]
    return "[" + ("," + "\n" * (a.ndim - 1) + " " * (indent + 1)).join(parts) + "]"


def format_tensor(t, prefix="tensor("):
    """repr(t): PyTorch's layout of the values, then dtype, grad_fn or requires_grad."""
    a = t._data
    indent = len(prefix)
    suffixes = []
    if a.size == 0:
        if a.ndim != 1:
            suffixes.append(f"size={tuple(a.shape)}")
        if a.dtype != _dt.F32:
            suffixes.append(f"dtype=dualgraph.{_dt.from_np(a.dtype).name}")
        body = "[]"
    else:
        if a.dtype not in (_dt.F32, _dt.I64, _dt.BOOL):
            suffixes.append(f"dtype=dualgraph.{_dt.from_np(a.dtype).name}")
        summarize = a.size > _THRESHOLD
        body = _array_str(a, indent, summarize, _Formatter(_summarized(a) if summarize else a))
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.display_name()}>")
    elif t._rg:
        suffixes.append("requires_grad=True")
    out = [prefix + body]
    last = len(out[0]) - out[0].rfind("\n") + 1
    for sfx in suffixes:
        if last + len(sfx) + 2 > _LINEWIDTH:
            out.append(",\n" + " " * indent + sfx)
            last = indent + len(sfx)
        else:
            out.append(", " + sfx)
            last += len(sfx) + 2
    return "".join(out) + ")"
