"""Tensor printing: repr(t) with PyTorch's rules (torch/_tensor_str.py) and its print options
(`set_printoptions`, `get_printoptions`, `printoptions`: precision, threshold, edgeitems,
linewidth, profile, sci_mode).

Only the values, the dtype and the autograd state are read (`t._data`, `t.grad_fn`, `t._rg`), so
this module knows no tensor class; `Tensor.__repr__` (tensor.py) calls `format_tensor`.
"""
import contextlib
import dataclasses
import math

import numpy as np

from . import dtypes as _dt


@dataclasses.dataclass
class _PrintOptions:
    """torch._tensor_str.PRINT_OPTS: PyTorch's defaults."""
    precision: int = 4
    threshold: float = 1000
    edgeitems: int = 3
    linewidth: int = 80
    sci_mode: object = None   # None: chosen per tensor by the formatter


PRINT_OPTS = _PrintOptions()

_PROFILES = {"default": (4, 1000, 3, 80), "short": (2, 1000, 2, 80), "full": (4, math.inf, 3, 80)}


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None,
                     profile=None, sci_mode=None):
    """torch.set_printoptions: a profile ('default', 'short', 'full') sets the four numbers, then
    each given option overrides; sci_mode is always set (None: chosen per tensor), as PyTorch."""
    if profile is not None and profile in _PROFILES:
        (PRINT_OPTS.precision, PRINT_OPTS.threshold, PRINT_OPTS.edgeitems,
         PRINT_OPTS.linewidth) = _PROFILES[profile]
    if precision is not None:
        PRINT_OPTS.precision = precision
    if threshold is not None:
        PRINT_OPTS.threshold = threshold
    if edgeitems is not None:
        PRINT_OPTS.edgeitems = edgeitems
    if linewidth is not None:
        PRINT_OPTS.linewidth = linewidth
    PRINT_OPTS.sci_mode = sci_mode


def get_printoptions():
    """The current options, as a dict set_printoptions(**d) takes back."""
    return dataclasses.asdict(PRINT_OPTS)


@contextlib.contextmanager
def printoptions(**kwargs):
    """Print options changed inside the block only (torch._tensor_str.printoptions)."""
    old = get_printoptions()
    set_printoptions(**kwargs)
    try:
        yield
    finally:
        set_printoptions(**old)


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
        p = PRINT_OPTS.precision
        self.int_mode = bool(np.all(v == np.ceil(v)))
        self.sci_mode = bool(hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4) \
            if PRINT_OPTS.sci_mode is None else bool(PRINT_OPTS.sci_mode)
        if self.sci_mode:
            self.width = max(len(f"{x:.{p}e}") for x in v.tolist())
        elif self.int_mode:
            self.width = max(len(f"{x:.0f}") + 1 for x in v.tolist())
        else:
            self.width = max(len(f"{x:.{p}f}") for x in v.tolist())

    def format(self, value):
        p = PRINT_OPTS.precision
        if self.floating:
            if self.sci_mode:
                r = f"{value:{self.width}.{p}e}"
            elif self.int_mode:
                r = f"{value:.0f}"
                if not (np.isinf(value) or np.isnan(value)):
                    r += "."
            else:
                r = f"{value:.{p}f}"
        else:
            r = str(value)
        return " " * (self.width - len(r)) + r


def _summarized(a):
    """The elements printing shows when summarizing (edge items of every dim)."""
    e = PRINT_OPTS.edgeitems
    if a.ndim == 0:
        return a
    if a.ndim == 1:
        return np.concatenate([a[:e], a[-e:]]) if a.shape[0] > 2 * e else a
    if not e:
        return np.empty((0,) * a.ndim, a.dtype)
    rows = list(range(e)) + list(range(a.shape[0] - e, a.shape[0])) \
        if a.shape[0] > 2 * e else range(a.shape[0])
    return np.stack([_summarized(a[i]) for i in rows])


def _vector_str(a, indent, summarize, fmt):
    e = PRINT_OPTS.edgeitems
    per_line = max(1, int(math.floor((PRINT_OPTS.linewidth - indent) / (fmt.width + 2))))
    if summarize and not e:
        data = ["..."]
    elif summarize and a.shape[0] > 2 * e:
        data = [fmt.format(v) for v in a[:e].tolist()] + [" ..."] + \
               [fmt.format(v) for v in a[a.shape[0] - e:].tolist()]
    else:
        data = [fmt.format(v) for v in a.tolist()]
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"


def _array_str(a, indent, summarize, fmt):
    if a.ndim == 0:
        return fmt.format(a.item())
    if a.ndim == 1:
        return _vector_str(a, indent, summarize, fmt)
    n, e = a.shape[0], PRINT_OPTS.edgeitems
    if summarize and n > 2 * e:
        parts = [_array_str(a[i], indent + 1, summarize, fmt) for i in range(e)] + ["..."] + \
                [_array_str(a[i], indent + 1, summarize, fmt) for i in range(n - e, n)]
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
        if a.dtype != _dt._DEFAULT_FOR[2]:
            suffixes.append(f"dtype=dualgraph.{_dt.from_np(a.dtype).name}")
        body = "[]"
    else:
        if not PRINT_OPTS.edgeitems:
            suffixes.append(f"size={tuple(a.shape)}")
        if a.dtype not in (_dt._DEFAULT_FOR[2], _dt.I64, _dt.BOOL):
            suffixes.append(f"dtype=dualgraph.{_dt.from_np(a.dtype).name}")
        summarize = a.size > PRINT_OPTS.threshold
        body = _array_str(a, indent, summarize, _Formatter(_summarized(a) if summarize else a))
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.display_name()}>")
    elif t._rg:
        suffixes.append("requires_grad=True")
    out = [prefix + body]
    last = len(out[0]) - out[0].rfind("\n") + 1
    for sfx in suffixes:
        if last + len(sfx) + 2 > PRINT_OPTS.linewidth:
            out.append(",\n" + " " * indent + sfx)
            last = indent + len(sfx)
        else:
            out.append(", " + sfx)
            last += len(sfx) + 2
    return "".join(out) + ")"
