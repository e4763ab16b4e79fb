"""Neural-network operators: conv2d, max_pool2d, avg_pool2d, adaptive_avg_pool2d, interpolate
(nearest, bilinear), constant padding, and their backward helpers. avg_pool2d, adaptive_avg_pool2d
and interpolate are linear maps: each backward op is the adjoint, and its own vjp the forward op.

Each is an ordinary registry op (numpy kernel, shape rule with None dims allowed; its vjp,
written with dualgraph ops, is in ops/vjps/nn_ops.py). The backward of a convolution is itself
a pair of registry ops (`conv2d_input_grad`, `conv2d_weight_grad`) whose own vjps are
convolutions again, so gradients of any order stay inside the registry; likewise
`max_pool2d_backward` and its adjoint `max_pool2d_select`.

Kernels are vectorised: windows are read with `numpy.lib.stride_tricks.as_strided` (no copy);
convolutions copy them into (N, groups, C/groups * kh * kw, OH * OW) columns (whole rows at a
time) and run one batched matmul straight into NCHW (see "conv2d kernels" below); the Python
loops are over kernel offsets and over cache-sized chunks of the batch, never over pixels.

Layout is PyTorch's NCHW; weights are (out_channels, in_channels / groups, kh, kw).
Padding attrs are always 4-tuples (top, bottom, left, right), so 'same' padding with an even
kernel (PyTorch pads the extra row/column at the end) is just another padding.
"""
import sys
import time

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..dtypes import scalar_name
from ..errors import DGRuntimeError, DGValueError, DGIndexError, DGNotImplementedError
from . import blas, numba_loops as _loops
from .common import Spec, c_order, ctype_name, fmt_shape as _fmt, numel, scratch
from .registry import defop, reads_for
from .reductions import _columns_lse, _lse_by_columns, _log_softmax_kernel, _shifted_lse


def _out_len(size, pad_lo, pad_hi, k, stride, dilation):
    """Output length of a convolution/pooling window sweep; None when size is unknown."""
    if size is None:
        return None
    return (size + pad_lo + pad_hi - dilation * (k - 1) - 1) // stride + 1


def _windows(xp, oh, ow, kh, kw, stride, dilation):
    """(N, C, OH, OW, kh, kw) read-only strided view of a padded NCHW array (no copy)."""
    n, c, hp, wp = xp.shape
    if oh <= 0 or ow <= 0 or min(stride) <= 0 or min(dilation) <= 0 or kh <= 0 or kw <= 0 or (
            (oh - 1) * stride[0] + (kh - 1) * dilation[0] >= hp or
            (ow - 1) * stride[1] + (kw - 1) * dilation[1] >= wp):
        raise ValueError("window geometry out of bounds")  # never let as_strided read outside
    s0, s1, s2, s3 = xp.strides
    sh, sw = stride
    dh, dw = dilation
    return as_strided(xp, (n, c, oh, ow, kh, kw),
                      (s0, s1, s2 * sh, s3 * sw, s2 * dh, s3 * dw), writeable=False)


def _pad(x, padding, value=0):
    """Constant padding of the last two dims (top, bottom, left, right): one filled array and
    one copy (np.pad costs ~10x that in Python overhead on small arrays)."""
    pt, pb, pl, pr = padding
    if not (pt or pb or pl or pr):
        return x
    n, c, h, w = x.shape
    out = np.full((n, c, h + pt + pb, w + pl + pr), value, dtype=x.dtype)
    out[:, :, pt:pt + h, pl:pl + w] = x
    return out


# ================================================================ conv2d
def _conv_out_hw(h, w, kh, kw, stride, padding, dilation):
    pt, pb, pl, pr = padding
    return (_out_len(h, pt, pb, kh, stride[0], dilation[0]),
            _out_len(w, pl, pr, kw, stride[1], dilation[1]))


def _check_conv_args(stride, padding, dilation, groups):
    if any(s <= 0 for s in stride):
        raise DGRuntimeError("non-positive stride is not supported")
    if any(p < 0 for p in padding):
        raise DGRuntimeError("negative padding is not supported")
    if any(d <= 0 for d in dilation):
        raise DGRuntimeError("dilation should be greater than zero")
    if groups <= 0:
        raise DGRuntimeError("non-positive groups is not supported")


# ---------------------------------------------------------------- conv2d kernels (im2col + matmul)
# Columns are laid out (N, groups, C/groups * kh * kw, OH * OW) so that every copy moves whole
# output rows and one batched matmul (the weight (groups, O/groups, C/groups * kh * kw) times the
# columns) writes the result straight into NCHW. With a unit row stride a cheaper "row-shared"
# form is used when it moves less data: the columns of the kw column offsets only,
# (N, groups, C/groups * kw, H' * OW), in which the kh row offsets are kh contiguous windows of
# OH * OW positions, so kh matmuls (one per row offset) read them without any copy. The batch is
# taken in chunks whose columns and results stay in the CPU cache (measured in
# benchmarks/conv.py: 2x at batch 128).
_CHUNK_BYTES = 1 << 20
# The forward's chunks are 4x that (_FORWARD_CHUNKS): its per-sample GEMMs give the same bits
# whatever the chunk, and fewer, larger chunks ran up to 14% faster on the AMD EPYC of
# benchmarks/README.md (issue 14, ninth session), never slower on the shapes measured.
_FORWARD_CHUNKS = 4


def _chunks(n, per_sample_bytes, budget=None):
    """(start, stop) ranges over the batch, each about `budget` (_CHUNK_BYTES) bytes of
    working set."""
    step = max(1, (budget or _CHUNK_BYTES) // max(int(per_sample_bytes), 1))
    return [(s, min(n, s + step)) for s in range(0, n, step)] or [(0, 0)]


def _rows_shared(c, o, kh, kw, hp, oh, ow, sh):
    """Whether the row-shared columns (kw copies of the input plus kh - 1 result additions) move
    less data than the full columns (kh * kw copies) for this convolution."""
    if sh != 1 or kh == 1:
        return False
    return 2 * c * kw * hp * ow + (kh - 1) * o * oh * ow < 2 * c * kh * kw * oh * ow


def _check_window(xp, oh, ow, kh, kw, stride, dilation):
    """Never let as_strided read outside xp: every window of the sweep lies inside it."""
    hp, wp = xp.shape[2], xp.shape[3]
    if oh <= 0 or ow <= 0 or min(stride) <= 0 or min(dilation) <= 0 or kh <= 0 or kw <= 0 or (
            (oh - 1) * stride[0] + (kh - 1) * dilation[0] >= hp or
            (ow - 1) * stride[1] + (kw - 1) * dilation[1] >= wp):
        raise ValueError("window geometry out of bounds")


def _cols_full(xp, oh, ow, kh, kw, stride, dilation, groups):
    """(N, groups, C/groups * kh * kw, OH * OW) columns: one copy through a strided view."""
    n, c = xp.shape[:2]
    s0, s1, s2, s3 = xp.strides
    v = as_strided(xp, (n, c, kh, kw, oh, ow),
                   (s0, s1, s2 * dilation[0], s3 * dilation[1], s2 * stride[0], s3 * stride[1]),
                   writeable=False)
    return np.ascontiguousarray(v).reshape(n, groups, c // groups * kh * kw, oh * ow)


def _cols_rows_shared(xp, oh, ow, kh, kw, stride, dilation, groups, wide=None, ones=False):
    """(N, groups, wide, H' * OW) columns of the kw column offsets (H' = the rows the sweep
    reads), C/groups * kw of them, then (with `ones`) a row of ones, then zero rows up to `wide`
    (default: none past those); row offset i is the window [i * dh * OW, i * dh * OW + OH * OW)
    of the last axis. Unit row stride only."""
    n, c = xp.shape[:2]
    m = c // groups * kw
    rows = oh + (kh - 1) * dilation[0]
    s0, s1, s2, s3 = xp.strides
    v = as_strided(xp, (n, groups, c // groups, kw, rows, ow),
                   (s0, s1 * (c // groups), s1, s3 * dilation[1], s2, s3 * stride[1]),
                   writeable=False)
    cols = np.empty((n, groups, wide or m + ones, rows * ow), xp.dtype)
    cols[:, :, m:] = 0
    if ones:
        cols[:, :, m] = 1
    np.copyto(cols[:, :, :m].reshape(v.shape), v)
    return cols


def _conv_forward(xp, w, oh, ow, stride, dilation, groups, bias=None):
    """conv2d of an already padded input, (N, O, OH, OW), plus the bias when given. In the
    row-shared form the bias rides in the first GEMM (a row of ones in the columns, the bias
    a column of row offset 0's weight): no pass of its own over the result."""
    n, c = xp.shape[:2]
    o, cg, kh, kw = w.shape
    _check_window(xp, oh, ow, kh, kw, stride, dilation)
    og, p = o // groups, oh * ow
    dtype = np.result_type(xp, w)
    out = np.empty((n, groups, og, p), dtype)
    if _rows_shared(c, o, kh, kw, xp.shape[2], oh, ow, stride[0]):
        wr = w.reshape(groups, og, cg, kh, kw)
        ones = bias is not None
        wi = np.zeros((kh, groups, og, cg * kw + ones), dtype)
        wi[..., :cg * kw] = wr.transpose(3, 0, 1, 2, 4).reshape(kh, groups, og, cg * kw)
        if ones:
            wi[0, ..., cg * kw] = bias.reshape(groups, og)
        per = dtype.itemsize * (c * kw * (oh + (kh - 1) * dilation[0]) * ow + 2 * o * p)
        tmp = None
        for s, e in _chunks(n, per, _FORWARD_CHUNKS * _CHUNK_BYTES):
            cols = _cols_rows_shared(xp[s:e], oh, ow, kh, kw, stride, dilation, groups,
                                     ones=ones)
            np.matmul(wi[0], cols[..., :p], out=out[s:e])
            for i in range(1, kh):
                a = i * dilation[0] * ow
                if tmp is None or tmp.shape[0] != e - s:
                    tmp = np.empty((e - s, groups, og, p), dtype)
                np.matmul(wi[i], cols[..., a:a + p], out=tmp)
                out[s:e] += tmp
    else:
        w2 = w.reshape(groups, og, cg * kh * kw)
        per = dtype.itemsize * (c * kh * kw * p + o * p)
        for s, e in _chunks(n, per, _FORWARD_CHUNKS * _CHUNK_BYTES):
            cols = _cols_full(xp[s:e], oh, ow, kh, kw, stride, dilation, groups)
            np.matmul(w2, cols, out=out[s:e])
        if bias is not None:
            out += bias.reshape(groups, og, 1)
    return out.reshape(n, o, oh, ow)


# Which GEMM form a convolution's gradient takes is a rule on its shapes alone, never a timing,
# so that a shape always gets the same bits (eager, compiled, any process). The rules come
# from benchmarks/conv_algorithms.py: the stacked weight gradient wins where the per-sample
# GEMMs have few rows (few output channels) and loses or ties elsewhere; at unit stride the
# input gradient takes whichever of the stacked and the shifted forms moves fewer rows.
def _stacked_weight_grad_wins(og, cg, kh, kw, stride):
    return stride[0] == 1 and kh > 1 and og <= 8 and cg * kw >= 5


def _stacked_input_grad_wins(og, cg, kh, kw, stride):
    """At unit stride: the stacked input gradient (it writes kh * kw * cg rows per position,
    reading og) rather than the shifted one (it builds og * kw rows and writes kh * cg), when
    it moves clearly fewer rows (by a fifth: the shifted form's GEMM is the faster one)."""
    return tuple(stride) == (1, 1) and 6 * (og + kh * kw * cg) < 5 * (og * kw + kh * cg)


def _padded_width(n):
    """How many columns to give a GEMM result that needs n: OpenBLAS's sgemm (its Haswell
    kernels, what numpy's wheels run on AVX2 machines) takes 3 or 5 to 7 columns past a
    multiple of 8 at 1.1-1.6x the cost of 8 (benchmarks/gemm_padding.py), so those are padded
    to the next multiple of 8 with zero operand rows; 1, 2 and 4 past one are cheaper as they
    are. A rule on the shape, so a shape always gets the same bits."""
    return n + (-n) % 8 if n % 8 in (3, 5, 6, 7) else n


_PAGE = 4096   # bytes: loads and stores whose addresses agree modulo this may falsely conflict


def _shifted_rows(r, k, shifts, dtype):
    """(src, dst) for building shifted copies of r rows of k values by whole-row copies (see
    _fill_shifted): src (r, k) to be filled by the caller, dst (r, len(shifts), k), both views
    of one buffer, or None where no layout below avoids the slow case. (The shifted input
    gradient's: its per-row build copied runs of OW values, 10 at LeNet's conv2.)
    A long copy whose destination lies a few hundred bytes above its source modulo 4 KiB runs
    ~2.5x slower (4K aliasing: the CPU takes each load for a read of a store just issued;
    benchmarks/README.md, issue 14, tenth session), and where two separately allocated buffers
    land is up to malloc. So both live in one buffer: rows padded to 2 KiB past a multiple of
    4 KiB (every copy's distance is then `base` or `base` + 2 KiB, modulo 4 KiB) and dst placed
    `base` bytes past src modulo 4 KiB, `base` chosen so that no shift's distance falls within
    512 bytes above a multiple of 4 KiB. Padded rows feed BLAS as they are (a leading
    dimension), so the products read the same values: the same bits."""
    isz = dtype.itemsize
    if _PAGE % isz or not shifts:
        return None
    unit = _PAGE // isz
    width = k + (unit // 2 - k) % unit          # row length: 2 KiB past a multiple of 4 KiB
    for base in range(512, 2048, 64):
        if all((base + s * isz) % 2048 >= 512 for s in shifts):
            break
    else:
        return None
    n = len(shifts)
    buf = np.empty(r * width * (n + 1) + 2 * unit, dtype)
    g0 = (-buf.ctypes.data % 64) // isz         # (cache-line aligned rows)
    s0 = g0 + r * width
    s0 += ((base - s0 * isz + g0 * isz) % _PAGE) // isz
    src = buf[g0:g0 + r * width].reshape(r, width)[:, :k]
    dst = buf[s0:s0 + r * n * width].reshape(r, n, width)[..., :k]
    return src, dst


def _fill_shifted(src, dst, shifts):
    """dst[:, j] = src moved right by shifts[j] values along its rows, zeros before it."""
    k = src.shape[1]
    for j, s in enumerate(shifts):
        dst[:, j, :s] = 0
        dst[:, j, s:] = src[:, :k - s]


def _stacked_weight_grad(xp, g, kh, kw, stride, dilation, groups):
    """_conv_weight_grad for a unit row stride as one GEMM per chunk of the batch: the gradient
    stacked kh times, row offset i shifted down i rows (og * kh rows), times the row-shared
    columns (cg * kw rows), the batch and the rows folded into the contracted axis. For few
    output channels the per-sample GEMMs have og rows only and BLAS runs them slowly; here
    they have og * kh. The stack's slack rows are zeros, so an inf/NaN input would give NaN
    through them: the caller checks the (small) result."""
    n, c = xp.shape[:2]
    o, oh, ow = g.shape[1:]
    cg, og = c // groups, o // groups
    dh, dw = dilation
    rows = oh + (kh - 1) * dh
    dtype = np.result_type(xp, g)
    m = cg * kw
    wide = _padded_width(m)      # the columns' zero rows past m give result columns dropped
    gw = np.zeros((groups, og * kh, m), dtype)
    s0, s1, s2, s3 = xp.strides
    for s, e in _chunks(n, dtype.itemsize * (c * kw + o * kh) * rows * ow, 2 * _CHUNK_BYTES):
        nb = e - s
        cols = np.empty((groups, wide, nb * rows * ow), dtype)
        cols[:, m:] = 0      # (only dropped columns read them; not garbage: denormals are slow)
        np.copyto(cols[:, :m].reshape(groups, cg, kw, nb, rows, ow), as_strided(
            xp[s:e], (c, kw, nb, rows, ow), (s1, s3 * dw, s0, s2, s3 * stride[1]),
            writeable=False).reshape(groups, cg, kw, nb, rows, ow))
        stack = np.empty((o, kh, nb, rows, ow), dtype)
        gt = g[s:e].transpose(1, 0, 2, 3)
        for i in range(kh):     # (runs of OH * OW values: as fast as whole-row copies here)
            a = i * dh
            stack[:, i, :, :a] = 0
            stack[:, i, :, a:a + oh] = gt
            stack[:, i, :, a + oh:] = 0
        gw += np.matmul(stack.reshape(groups, og * kh, nb * rows * ow),
                        cols.swapaxes(-1, -2))[..., :m]
    # (groups, og, kh, cg, kw) -> (groups, og, cg, kh, kw)
    return gw.reshape(groups, og, kh, cg, kw).transpose(0, 1, 3, 2, 4).reshape(o, cg, kh, kw)


def _conv_weight_grad(xp, g, kh, kw, stride, dilation, groups):
    """J_w^T g for y = conv2d(xp, w) of an already padded input: the columns rebuilt (cheaper
    than keeping them: see benchmarks/conv.py) times the gradient, summed over the batch.
    Which of the three GEMM forms runs is a rule on the shapes alone (measured in
    benchmarks/conv_algorithms.py), never a timing, so a shape always gets the same bits."""
    n, c = xp.shape[:2]
    o, oh, ow = g.shape[1:]
    _check_window(xp, oh, ow, kh, kw, stride, dilation)
    cg, og, p = c // groups, o // groups, oh * ow
    dtype = np.result_type(xp, g)
    if _stacked_weight_grad_wins(og, cg, kh, kw, stride):
        gw = _stacked_weight_grad(xp, g, kh, kw, stride, dilation, groups)
        if np.isfinite(gw).all():       # else an inf/NaN input met the stack's slack zeros
            return gw
    g4 = g.reshape(n, groups, og, p)
    if _rows_shared(c, o, kh, kw, xp.shape[2], oh, ow, stride[0]):
        wide = _padded_width(cg * kw)
        gw = np.zeros((kh, groups, og, wide), dtype)
        per = dtype.itemsize * (c * kw * (oh + (kh - 1) * dilation[0]) * ow + o * p)
        for s, e in _chunks(n, per):
            cols = _cols_rows_shared(xp[s:e], oh, ow, kh, kw, stride, dilation, groups, wide)
            for i in range(kh):
                a = i * dilation[0] * ow
                gw[i] += np.add.reduce(np.matmul(g4[s:e], cols[..., a:a + p].swapaxes(-1, -2)),
                                       axis=0)
        # (kh, groups, og, cg, kw) -> (groups, og, cg, kh, kw); the padding's columns dropped
        gw = gw[..., :cg * kw].reshape(kh, groups, og, cg, kw).transpose(1, 2, 3, 0, 4)
    else:
        gw = np.zeros((groups, og, cg * kh * kw), dtype)
        per = dtype.itemsize * (c * kh * kw * p + o * p)
        for s, e in _chunks(n, per):
            cols = _cols_full(xp[s:e], oh, ow, kh, kw, stride, dilation, groups)
            gw += np.add.reduce(np.matmul(g4[s:e], cols.swapaxes(-1, -2)), axis=0)
    return gw.reshape(o, cg, kh, kw)


def _conv_input_grad(g, w, shape, padding, stride, dilation, groups):
    """J_x^T g for y = conv2d(x, w), x of `shape` (N, C, H, W) padded by `padding`. Unit
    stride: one GEMM per chunk of the batch, in the stacked or the shifted form (a rule on the
    shapes: _stacked_input_grad_wins). Otherwise: the columns (N, C, kh, kw, OH, OW) of one
    batched matmul, folded back with one strided pass per kernel offset."""
    n, o, oh, ow = g.shape
    _, cg, kh, kw = w.shape
    og, c = o // groups, cg * groups
    h, wd = shape[2], shape[3]
    pt, pb, pl, pr = padding
    hp, wp = h + pt + pb, wd + pl + pr
    sh, sw = stride
    dh, dw = dilation
    if oh <= 0 or ow <= 0 or (oh - 1) * sh + (kh - 1) * dh >= hp or (
            ow - 1) * sw + (kw - 1) * dw >= wp:
        raise ValueError("window geometry out of bounds")
    dtype = np.result_type(g, w)
    if n == 0:
        return np.zeros((n, c, h, wd), dtype)
    if tuple(stride) == (1, 1):
        return _unit_stride_input_grad(g, w, shape, padding, dilation, groups)
    cols = np.matmul(w.reshape(groups, og, cg * kh * kw).swapaxes(-1, -2),
                     g.reshape(n, groups, og, oh * ow)).reshape(n, c, kh, kw, oh, ow)
    out = np.zeros((n, c, hp, wp), dtype)
    for i in range(kh):          # loops over kernel offsets only, never over pixels
        r0 = i * dh
        for j in range(kw):
            c0 = j * dw
            out[:, :, r0:r0 + sh * (oh - 1) + 1:sh, c0:c0 + sw * (ow - 1) + 1:sw] += cols[:, :, i, j]
    return np.ascontiguousarray(out[:, :, pt:pt + h, pl:pl + wd])


def _unit_stride_input_grad(g, w, shape, padding, dilation, groups):
    """_conv_input_grad at unit stride: one GEMM per chunk of the batch, in one of two forms
    (the rule _stacked_input_grad_wins), each chunk's result gathered on rows as wide as the
    padded input and cropped into place.
    - stacked: the weight's kh * kw offsets stacked (kh * kw * cg rows) times g padded to the
      input's width, each offset's block then added back at its shift, whole rows at a time;
      for few input channels and many output channels it moves the fewer rows.
    - shifted: g shifted kw times along its rows (og * kw rows, zeros where a shift runs off)
      times the weight's (kh * cg, og * kw) matrix, then the kh row offsets added back; its
      GEMM contracts og * kw, not og, the faster one wherever it moves no more rows.
    Both forms' zero slack multiplies w: the stacked form zeroes its slack's sums for an
    inf/NaN w, which therefore always takes it."""
    n, o, oh, ow = g.shape
    _, cg, kh, kw = w.shape
    og, c = o // groups, cg * groups
    h, wd = shape[2], shape[3]
    pt, pb, pl, pr = padding
    hp, wp = h + pt + pb, wd + pl + pr
    dtype = np.result_type(g, w)
    finite = bool(np.isfinite(w).all())     # (the small weight: one cheap pass)
    stacked = not finite or _stacked_input_grad_wins(og, cg, kh, kw, (1, 1))
    q = oh * wp
    if stacked:   # (groups, kh * kw * cg, og); one spare row: the last shift's slack spills
        wt = w.reshape(groups, og, cg, kh, kw).transpose(0, 3, 4, 2, 1)
        wt, rows = np.ascontiguousarray(wt).reshape(groups, kh * kw * cg, og), hp + 1
        per = kh * kw * c * q + o * q + c * rows * wp
    else:         # (groups, kh * cg, og * kw)
        wt = w.reshape(groups, og, cg, kh, kw).transpose(0, 3, 2, 1, 4)
        wt, rows = np.ascontiguousarray(wt).reshape(groups, kh * cg, og * kw), hp
        per = o * kw * q + kh * c * q + c * rows * wp
    res = np.empty((n, c, h, wd), dtype)
    for s, e in _chunks(n, dtype.itemsize * per, 8 * _CHUNK_BYTES):
        nb = e - s
        out = np.zeros((groups, cg, nb, rows, wp), dtype)
        form = _stacked_input_chunk if stacked else _shifted_input_chunk
        form(g[s:e].transpose(1, 0, 2, 3), wt, out, finite, (kh, kw), dilation, ow)
        res[s:e] = out.reshape(c, nb, rows, wp)[:, :, pt:pt + h, pl:pl + wd].transpose(1, 0, 2, 3)
    return res


def _stacked_input_chunk(gt, wt, out, finite, kernel_size, dilation, ow):
    """Adds one chunk's input gradient into out (groups, cg, nb, rows, wp), stacked form;
    gt is the chunk's g as (o, nb, oh, ow)."""
    (kh, kw), (dh, dw) = kernel_size, dilation
    groups, cg, nb, rows, wp = out.shape
    o, _, oh, _ = gt.shape
    q = oh * wp
    gf = np.empty((o, nb, oh, wp), out.dtype)
    gf[..., :ow] = gt
    gf[..., ow:] = 0
    t = np.matmul(wt, gf.reshape(groups, o // groups, nb * q))
    if not finite:
        np.copyto(t, 0, where=np.tile(np.arange(wp) >= ow, nb * oh))
    t = t.reshape(groups, kh, kw, cg, nb, q)
    flat = out.reshape(groups, cg, nb, rows * wp)
    for i in range(kh):
        for j in range(kw):
            off = i * dh * wp + j * dw
            flat[..., off:off + q] += t[:, i, j]


def _shifted_input_chunk(gt, wt, out, finite, kernel_size, dilation, ow):
    """The same, shifted form (a finite w only: its shifts' zeros multiply w)."""
    (kh, kw), (dh, dw) = kernel_size, dilation
    groups, cg, nb, rows, wp = out.shape
    o, _, oh, _ = gt.shape
    k = nb * oh * wp
    shifts = [j * dw for j in range(kw)]
    bufs = _shifted_rows(o, k, shifts, out.dtype)
    if bufs is not None:   # g padded to the input's width, then moved right j * dw values:
        src, shifted = bufs    # the padding absorbs the move into the next row (wp = ow + (kw-1) dw)
        src4 = src.reshape(o, nb, oh, wp)
        src4[..., :ow] = gt
        src4[..., ow:] = 0
        _fill_shifted(src, shifted, shifts)
    else:
        shifted = np.zeros((o, kw, nb, oh, wp), out.dtype)
        for j in range(kw):
            shifted[:, j, :, :, j * dw:j * dw + ow] = gt
    t = np.matmul(wt, shifted.reshape(groups, o // groups * kw, k))
    t = t.reshape(groups, kh, cg, nb, oh, wp)
    for i in range(kh):
        out[:, :, :, i * dh:i * dh + oh] += t[:, i]


def _conv2d_infer(x, w, *b, stride, padding, dilation, groups):
    _check_conv_args(stride, padding, dilation, groups)
    if len(x.shape) != 4:
        raise DGRuntimeError(
            "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: "
            f"{_fmt(x.shape)}")
    if len(w.shape) != 4:
        raise DGRuntimeError(
            f"Expected 4D weight for conv2d (out_channels, in_channels/groups, kH, kW), but got "
            f"weight of size {_fmt(w.shape)}")
    if x.dtype.kind != "f":
        raise DGRuntimeError(f'"slow_conv2d_cpu" not implemented for \'{scalar_name(x.dtype)}\'')
    if x.dtype != w.dtype:
        raise DGRuntimeError(
            f"expected scalar type {scalar_name(x.dtype)} but found {scalar_name(w.dtype)}")
    o, cg, kh, kw = w.shape
    if o is not None and o % groups:
        raise DGRuntimeError(
            f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
            f"but got weight of size [{_fmt(w.shape)}] instead")
    c = x.shape[1]
    if c is not None and cg is not None and c != cg * groups:
        raise DGRuntimeError(
            f"Given groups={groups}, weight of size {_fmt(w.shape)}, expected input"
            f"{_fmt(x.shape)} to have {cg * groups} channels, but got {c} channels instead")
    if b:
        bs = b[0]
        if len(bs.shape) != 1 or (o is not None and bs.shape[0] is not None and bs.shape[0] != o):
            raise DGRuntimeError(
                f"Given weight of size {_fmt(w.shape)}, expected bias to be 1-dimensional with "
                f"{o} elements, but got bias of size {_fmt(bs.shape)} instead")
        if bs.dtype != x.dtype:
            raise DGRuntimeError(
                f"Input type ({ctype_name(x.dtype)}) and bias type ({ctype_name(bs.dtype)}) should be the same")
    pt, pb, pl, pr = padding
    h, wd = x.shape[2], x.shape[3]
    if None not in (h, wd, kh, kw):
        ph, pw = h + pt + pb, wd + pl + pr
        ekh, ekw = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
        if ph < ekh or pw < ekw:
            raise DGRuntimeError(
                f"Calculated padded input size per channel: ({ph} x {pw}). Kernel size: "
                f"({ekh} x {ekw}). Kernel size can't be greater than actual input size")
    oh, ow = (None, None) if kh is None or kw is None else _conv_out_hw(
        h, wd, kh, kw, stride, padding, dilation)
    return Spec((x.shape[0], o, oh, ow), x.dtype)


def _conv2d_kernel(x, w, *b, stride, padding, dilation, groups):
    if x.ndim != 4 or w.ndim != 4 or x.dtype != w.dtype or x.dtype.kind != "f" or (
            b and (b[0].dtype != x.dtype or b[0].shape != (w.shape[0],))):
        raise ValueError("conv2d arguments")
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    if c != cg * groups or o % groups:
        raise ValueError("conv2d channels")
    oh, ow = _conv_out_hw(h, wd, kh, kw, stride, padding, dilation)
    if oh <= 0 or ow <= 0:
        raise ValueError("conv2d kernel larger than input")
    out = _conv_forward(_pad(x, padding), w, oh, ow, stride, dilation, groups,
                        b[0] if b else None)
    return np.ascontiguousarray(out, dtype=x.dtype)


# d/dx reads w, d/dw reads x, d/db nothing: the bias is not pinned. x and w are pinned both,
# whichever gradients are asked for (not CROSS): PyTorch's ConvolutionBackward0 saves both
conv2d_op = defop("conv2d", _conv2d_kernel, _conv2d_infer, torch_name="Convolution",
                  check_eager=True, saves=(0, 1),
                  doc="2-D cross-correlation, NCHW, with stride/padding/dilation/groups and optional bias")


# ---------------------------------------------------------------- conv2d backward helpers
def _fold(cols, out_shape, stride, dilation, dtype):
    """col2im: add cols (N, C, OH, OW, kh, kw) back into a padded (N, C, Hp, Wp) array
    (avg_pool2d's backward; the convolutions' input gradient is _conv_input_grad)."""
    n, c, oh, ow, kh, kw = cols.shape
    sh, sw = stride
    dh, dw = dilation
    out = np.zeros(out_shape, dtype=dtype)
    for i in range(kh):          # loops over kernel offsets only, never over pixels
        r0 = i * dh
        for j in range(kw):
            c0 = j * dw
            out[:, :, r0:r0 + sh * (oh - 1) + 1:sh, c0:c0 + sw * (ow - 1) + 1:sw] += cols[..., i, j]
    return out


def _conv2d_input_grad_kernel(g, w, like, stride, padding, dilation, groups):
    """J_x^T g for y = conv2d(x, w): a transposed convolution of g with w."""
    gx = _conv_input_grad(g, w, like.shape, padding, stride, dilation, groups)
    return gx.astype(g.dtype, copy=False)


def _conv2d_input_grad_infer(g, w, like, stride, padding, dilation, groups):
    return Spec(like.shape, g.dtype)


conv2d_input_grad_op = defop(
    "conv2d_input_grad", _conv2d_input_grad_kernel, _conv2d_input_grad_infer,
    # bilinear in (g, w), yet both pinned as PyTorch's double backward does; `like` gives a shape
    saves=(0, 1), torch_name="ConvolutionBackwardInput",
    doc="gradient of conv2d w.r.t. its input (a transposed convolution); the third input "
        "only gives the input's shape")


def _conv2d_weight_grad_kernel(x, g, kernel_size, stride, padding, dilation, groups):
    """J_w^T g for y = conv2d(x, w)."""
    kh, kw = kernel_size
    gw = _conv_weight_grad(_pad(x, padding), g, kh, kw, stride, dilation, groups)
    return np.ascontiguousarray(gw, dtype=x.dtype)


def _conv2d_weight_grad_infer(x, g, kernel_size, stride, padding, dilation, groups):
    c = x.shape[1]
    return Spec((g.shape[1], None if c is None else c // groups) + tuple(kernel_size), x.dtype)


conv2d_weight_grad_op = defop(
    "conv2d_weight_grad", _conv2d_weight_grad_kernel, _conv2d_weight_grad_infer,
    # bilinear in (x, g), yet both pinned (not CROSS) as PyTorch's double backward does
    saves=(0, 1), torch_name="ConvolutionBackwardWeight",
    doc="gradient of conv2d w.r.t. its weight")


# ================================================================ max_pool2d
def pool_out_len(size, k, stride, pad, dilation, ceil_mode):
    """PyTorch's pooling_output_shape (symmetric padding `pad`)."""
    if size is None:
        return None
    num = size + 2 * pad - dilation * (k - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = num // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _pool_geometry(h, w, kernel_size, stride, padding, dilation, ceil_mode):
    kh, kw = kernel_size
    sh, sw = stride
    ph, pw = padding
    dh, dw = dilation
    oh = pool_out_len(h, kh, sh, ph, dh, ceil_mode)
    ow = pool_out_len(w, kw, sw, pw, dw, ceil_mode)
    # bottom/right padding so that every window lies inside the padded array
    pb = max(ph, (oh - 1) * sh + dh * (kh - 1) + 1 - h - ph)
    pr = max(pw, (ow - 1) * sw + dw * (kw - 1) + 1 - w - pw)
    return oh, ow, (ph, pb, pw, pr)


def _max_pool2d_infer(x, kernel_size, stride, padding, dilation, ceil_mode):
    kh, kw = kernel_size
    if kh <= 0 or kw <= 0:
        raise DGRuntimeError(f"kernel size should be greater than zero, but got kH: {kh} kW: {kw}")
    if stride[0] <= 0 or stride[1] <= 0:
        raise DGRuntimeError("stride should not be zero")
    if dilation[0] <= 0 or dilation[1] <= 0:
        raise DGRuntimeError(
            f"dilation should be greater than zero, but got dilationH: {dilation[0]} "
            f"dilationW: {dilation[1]}")
    if padding[0] < 0 or padding[1] < 0:
        raise DGRuntimeError(f"pad must be non-negative, but got pad: {min(padding)}")
    if padding[0] > kh // 2 or padding[1] > kw // 2:
        p, k = (padding[0], kh) if padding[0] > kh // 2 else (padding[1], kw)
        raise DGRuntimeError(
            f"pad should be at most half of effective kernel size, but got pad={p}, "
            f"kernel_size={k} and dilation={dilation[0]}")
    if len(x.shape) != 4 or 0 in x.shape[1:]:
        raise DGRuntimeError("non-empty 3D or 4D (batch mode) tensor expected for input")
    if x.dtype.kind not in "fiu":
        raise DGRuntimeError(f'"max_pool2d" not implemented for \'{scalar_name(x.dtype)}\'')
    n, c, h, w = x.shape
    oh = pool_out_len(h, kh, stride[0], padding[0], dilation[0], ceil_mode)
    ow = pool_out_len(w, kw, stride[1], padding[1], dilation[1], ceil_mode)
    if (oh is not None and oh < 1) or (ow is not None and ow < 1):
        raise DGRuntimeError(
            f"Given input size: ({_fmt((c, h, w), 'x', brackets=False)}). "
            f"Calculated output size: ({_fmt((c, oh, ow), 'x', brackets=False)}). "
            "Output size is too small")
    return Spec((n, c, oh, ow), x.dtype)


def _pool_windows(x, kernel_size, stride, padding, dilation, ceil_mode):
    n, c, h, w = x.shape
    oh, ow, pads = _pool_geometry(h, w, kernel_size, stride, padding, dilation, ceil_mode)
    if oh <= 0 or ow <= 0:
        raise ValueError("output too small")
    low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    xp = _pad(x, pads, value=low)
    return _windows(xp, oh, ow, *kernel_size, stride, dilation), xp.shape, pads


def _max_pool2d_kernel(x, kernel_size, stride, padding, dilation, ceil_mode):
    if x.ndim != 4 or x.dtype.kind not in "fiu":
        raise ValueError("max_pool2d input")
    r = _loops.max_pool2x2(x, kernel_size, stride, padding, dilation)   # (the numba backend)
    if r is not None:
        return r
    win, _, _ = _pool_windows(x, kernel_size, stride, padding, dilation, ceil_mode)
    return _window_max(win)


def _window_max(win):
    """The max of each window: one np.maximum per kernel offset (kh*kw passes over strided
    slices, ~30x faster than reducing the 6-d window view), over chunks of the batch that stay
    in the CPU cache; NaN propagates as in PyTorch."""
    n, c, oh, ow, kh, kw = win.shape
    per = c * (oh * ow * win.dtype.itemsize + oh * win.strides[2])
    chunks = ((0, n),) if n * per <= _CHUNK_BYTES else _chunks(n, per)
    out = None if len(chunks) == 1 else np.empty((n, c, oh, ow), win.dtype)
    for s, e in chunks:
        v = win if out is None else win[s:e]
        if out is None:
            o = out = np.array(v[..., 0, 0])
        else:
            o = out[s:e]
            np.copyto(o, v[..., 0, 0])
        for i in range(kh):
            for j in range(kw):
                if i or j:
                    np.maximum(o, v[..., i, j], out=o)
    return out


def _window_max_separable(win, sw, dw):
    """The max of each window, as _window_max, but over the kernel rows first (kh passes over
    whole padded rows, contiguous) and then its columns (kw strided passes): the same values
    (a signed zero aside: of equal -0.0 and 0.0 either may come out), for the backward, which
    only compares with them."""
    n, c, oh, ow, kh, kw = win.shape
    span = (ow - 1) * sw + (kw - 1) * dw + 1
    s0, s1, s2, s3 = win.strides[:4]
    rows = [as_strided(win[:, :, :, 0, i, 0], (n, c, oh, span), (s0, s1, s2, s3 // sw),
                       writeable=False) for i in range(kh)]
    m = rows[0] if kh == 1 else np.maximum(rows[0], rows[1])
    for r in rows[2:]:
        np.maximum(m, r, out=m)
    cols = [m[..., j * dw:j * dw + sw * (ow - 1) + 1:sw] for j in range(kw)]
    if kw == 1:
        return cols[0]
    best = np.maximum(cols[0], cols[1])
    for v in cols[2:]:
        np.maximum(best, v, out=best)
    return best


def _in_bounds(shape, oh, ow, kh, kw, stride, dilation, pads):
    """in_bounds(k): (OH, OW) mask of the windows whose offset k (= i*kw + j) reads the input,
    not its padding."""
    h, w = shape[2], shape[3]
    r = np.arange(oh)[:, None] * stride[0] - pads[0]
    q = np.arange(ow) * stride[1] - pads[2]
    rows = [(r + i * dilation[0] >= 0) & (r + i * dilation[0] < h) for i in range(kh)]
    cols = [(q + j * dilation[1] >= 0) & (q + j * dilation[1] < w) for j in range(kw)]
    return lambda k: rows[k // kw] & cols[k % kw]


def _first_max_offsets(win, best, in_bounds=None):
    """Offset k (= i*kw + j) of each window's maximum as PyTorch's kernel picks it (it keeps a
    value that is > the max so far or NaN, starting from the first in-bounds one): the last NaN
    if there is one, else the first maximum that is not padding (the padding value may equal
    a maximum: -inf, or an integer type's minimum). Loops over the kernel offsets only."""
    kh, kw = win.shape[4:]
    a = np.full(best.shape, kh * kw - 1, dtype=np.int64)
    for k in range(kh * kw - 2, -1, -1):  # backwards, so the first maximum wins
        hit = win[..., k // kw, k % kw] == best
        if in_bounds is not None:
            hit &= in_bounds(k)
        a = np.where(hit, k, a)
    if best.dtype.kind == "f" and np.isnan(best).any():
        for k in range(kh * kw):          # forwards, so the last NaN wins
            a = np.where(np.isnan(win[..., k // kw, k % kw]), k, a)
    return a


def _padding_ties(x, best, pads):
    """Whether a padded window's maximum may be the padding value itself (then an offset into
    the padding would tie with it)."""
    if not any(pads):
        return False
    low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    return bool((best == low).any())


def _window_argmax(x, kernel_size, stride, padding, dilation, ceil_mode):
    """Index (k = i*kw + j) of each window's maximum, as PyTorch (_first_max_offsets)."""
    win, pshape, pads = _pool_windows(x, kernel_size, stride, padding, dilation, ceil_mode)
    kh, kw = win.shape[4:]
    best = np.array(win[..., 0, 0])
    for i in range(kh):
        for j in range(kw):
            if i or j:
                np.maximum(best, win[..., i, j], out=best)
    inb = _in_bounds(x.shape, *win.shape[2:], stride, dilation, pads) \
        if _padding_ties(x, best, pads) else None
    return _first_max_offsets(win, best, inb), win.shape, pshape, pads


def _argmax_positions(x, kernel_size, stride, padding, dilation, ceil_mode):
    """Row and column (in padded coordinates) of each window's maximum, plus the padded shape
    and the padding."""
    a, (n, c, oh, ow, kh, kw), pshape, pads = _window_argmax(
        x, kernel_size, stride, padding, dilation, ceil_mode)
    rows = np.arange(oh).reshape(oh, 1) * stride[0] + (a // kw) * dilation[0]
    cols = np.arange(ow) * stride[1] + (a % kw) * dilation[1]
    return rows, cols, pshape, pads


def _flat_index(rows, cols, pshape):
    n, c, hp, wp = pshape
    base = (np.arange(n * c).reshape(n, c, 1, 1) * hp) * wp
    return base + rows * wp + cols


max_pool2d_op = defop(
    "max_pool2d", _max_pool2d_kernel, _max_pool2d_infer, torch_name="MaxPool2DWithIndices", check_eager=True,
    doc="2-D max pooling over NCHW windows (kernel, stride, symmetric padding, dilation, ceil_mode)")


_TOP_PAIRS = {}  # (m, ow) -> read-only mask of the top-row pairs in (m, 2, ow) pair order


def _top_pairs(m, ow):
    q = _TOP_PAIRS.get((m, ow))
    if q is None:
        q = np.zeros((m, 2, ow), bool)
        q[:, 0] = True
        q = q.reshape(-1)
        q.flags.writeable = False
        if len(_TOP_PAIRS) < 32:
            _TOP_PAIRS[(m, ow)] = q
    return q


_WIDE = {2: (np.uint16, np.uint32), 4: (np.uint32, np.uint64)}  # itemsize -> (its bits, twice)


def _max_pool2x2_backward(g, x):
    """max_pool2d_backward for 2x2 windows at stride 2 tiling an even (H, W) exactly (the
    common LeNet/CNN pool), in flat 1-D contiguous passes: numpy's loops over the (N, C, OH, OW)
    strided corners of the windows run one short inner loop per output row (14 values at
    28x28), and its strided 1-D loops are not vectorised (a compare over every other float
    costs 3-4x a contiguous one), so the input is split into its horizontal pairs (a, b) once,
    by two copies, in (N*C*OH, 2, OW) order: the pair's first maximum is a where a >= b; the top
    pair of a window holds its first maximum where its max >= the bottom pair's (the pair OW
    further on). (g + 0.0) goes to that position, +0.0 everywhere else, as PyTorch's scatter.
    None (use the general kernel) when x holds a NaN, or, for float64, g a non-finite value."""
    n, c, h, w = x.shape
    ow = w // 2
    m = n * c * (h // 2)
    flat = x.reshape(-1)
    p = flat.size // 2
    a, b = np.empty(p, x.dtype), np.empty(p, x.dtype)
    np.copyto(a, flat[0::2])
    np.copyto(b, flat[1::2])
    pv = np.maximum(a, b)
    if np.isnan(pv).any():
        return None
    lw = np.greater_equal(a, b)
    q = _top_pairs(m, ow)[:p - ow]
    rt = np.greater_equal(pv[:p - ow], pv[ow:])
    rt &= q                          # top pairs whose row holds the window's first maximum
    r = np.empty(p, bool)            # the pairs holding it
    r[:p - ow] = rt
    r[p - ow:] = False
    r[ow:] |= q ^ rt                 # a bottom pair: its window's top pair lost
    g0 = np.add(g, 0)                # 0.0 + g, as PyTorch's scatter: no -0.0
    gh = np.repeat(g0.reshape(m, ow), 2, axis=0).reshape(-1)   # each window's g at both pairs
    wide = _WIDE.get(g.dtype.itemsize)
    if wide is not None and sys.byteorder == "little":
        # each output pair as one integer twice g's width holding g's bits, shifted into the
        # upper half where the maximum is b and out (numpy's shift by >= the width gives 0)
        # where the pair does not hold it: bits moved, so an inf/NaN g reaches its maximum
        # alone; contiguous passes (np.where on this mask runs ~10x slower)
        bits = 8 * g.dtype.itemsize
        shift = np.multiply(np.logical_not(lw).view(np.uint8), bits)
        shift += np.multiply(np.logical_not(r).view(np.uint8), 2 * bits)
        pairs = gh.view(wide[0]).astype(wide[1])
        np.left_shift(pairs, shift.astype(wide[1]), out=pairs)
        return pairs.view(g.dtype).reshape(x.shape)
    if not np.isfinite(g).all():     # (inf * False would be NaN)
        return None
    left = np.logical_and(r, lw)
    right = np.logical_xor(r, left)
    gx = np.empty(x.shape, g.dtype)
    gf = gx.reshape(-1)
    np.multiply(gh, left, out=gf[0::2])
    np.multiply(gh, right, out=gf[1::2])
    gx += 0      # (a negative g times False is -0.0)
    return gx


def _max_pool2d_backward_kernel(g, x, kernel_size, stride, padding, dilation, ceil_mode):
    if (tuple(kernel_size) == (2, 2) and tuple(stride) == (2, 2) and tuple(dilation) == (1, 1)
            and not any(padding) and x.ndim == 4 and x.shape[2] % 2 == 0
            and x.shape[3] % 2 == 0 and x.shape[2] and x.shape[3] and x.dtype.kind == "f"
            and x.flags.c_contiguous and g.dtype.kind == "f" and x.size
            and g.shape == (x.shape[0], x.shape[1], x.shape[2] // 2, x.shape[3] // 2)):
        r = _max_pool2x2_backward(g, x)
        if r is not None:
            return r
    return _max_pool2d_backward_general(g, x, kernel_size, stride, padding, dilation, ceil_mode)


def _max_pool2d_backward_general(g, x, kernel_size, stride, padding, dilation, ceil_mode):
    """Each pooled gradient to its window's maximum as PyTorch picks it (the first one,
    row-major, not in the padding; the last NaN: _first_max_offsets). One pass per kernel
    offset: the offset's first-maximum mask (equal to the window max and no earlier offset
    taken; with a NaN or a maximum equal to the padding, _first_max_offsets) times g, written
    into that offset's strided view of the input (with non-overlapping windows each pixel is
    written at most once; when they overlap, distinct windows still hit distinct pixels at
    one offset, so += is exact). Over chunks of the batch that stay in the CPU cache."""
    win, pshape, pads = _pool_windows(x, kernel_size, stride, padding, dilation, ceil_mode)
    n, c, oh, ow, kh, kw = win.shape
    # g * mask is g where the mask holds and 0 elsewhere only for a finite g (inf * 0 is nan)
    finite = g.dtype.kind != "f" or bool(np.isfinite(g).all())
    overlap = stride[0] < dilation[0] * (kh - 1) + 1 or stride[1] < dilation[1] * (kw - 1) + 1
    gxp = np.zeros(pshape, dtype=g.dtype)
    g = np.broadcast_to(g, (n, c, oh, ow))
    s0, s1, s2, s3 = gxp.strides
    last = kh * kw - 1
    per = c * pshape[2] * pshape[3] * (win.dtype.itemsize + gxp.dtype.itemsize) + \
        c * oh * ow * (2 * win.dtype.itemsize + 2)
    for s, e in _chunks(n, per):
        v, gc, gxc = win[s:e], g[s:e], gxp[s:e]
        best = _window_max_separable(v, stride[1], dilation[1])
        # a NaN (the last one wins) or a maximum equal to the padding: PyTorch's pick
        odd = (best.dtype.kind == "f" and bool(np.isnan(best).any())) or \
            _padding_ties(x, best, pads)
        if odd:
            a = _first_max_offsets(v, best, _in_bounds(x.shape, oh, ow, kh, kw, stride,
                                                       dilation, pads) if any(pads) else None)
        taken = None
        for k in range(kh * kw):
            i, j = divmod(k, kw)
            if odd:
                hit = a == k
            elif k == last and taken is not None:
                hit = ~taken                 # every window has a maximum: the rest is here
            else:
                hit = v[..., i, j] == best
                if taken is None:
                    taken = hit              # (hit is used up before taken changes)
                else:
                    hit &= ~taken
                    taken |= hit
            dst = as_strided(gxc[:, :, i * dilation[0]:, j * dilation[1]:], (e - s, c, oh, ow),
                             (s0, s1, s2 * stride[0], s3 * stride[1]))
            if overlap:
                dst += gc * hit if finite else np.where(hit, gc, 0)
            elif finite:
                np.multiply(gc, hit, out=dst)
            else:
                np.copyto(dst, gc, where=hit)
        if not overlap and gxc.dtype.kind == "f":
            gxc += 0      # 0.0 + g, as PyTorch's scatter: no -0.0 (a negative g times False)
    h, w = x.shape[2:]
    if pshape[2:] == (h, w):
        return gxp
    return np.ascontiguousarray(gxp[:, :, pads[0]:pads[0] + h, pads[2]:pads[2] + w])


def _max_pool2d_select_kernel(gg, x, kernel_size, stride, padding, dilation, ceil_mode):
    rows, cols, pshape, pads = _argmax_positions(x, kernel_size, stride, padding, dilation,
                                                 ceil_mode)
    ggp = _pad(gg, pads, value=0).reshape(-1)
    return ggp[_flat_index(rows, cols, pshape)]


def _max_pool2d_select_infer(gg, x, **attrs):
    return Spec(_max_pool2d_infer(x, **attrs).shape, gg.dtype)


max_pool2d_backward_op = defop(
    "max_pool2d_backward", _max_pool2d_backward_kernel,
    lambda g, x, **attrs: Spec(x.shape, g.dtype),
    saves=(1,), torch_name="MaxPool2DWithIndicesBackward",
    doc="scatter the pooled gradient to each window's argmax (backward of max_pool2d)")
max_pool2d_select_op = defop(
    "max_pool2d_select", _max_pool2d_select_kernel, _max_pool2d_select_infer,
    saves=(1,), doc="gather each window's argmax entry of a tensor shaped like the pooled input "
                    "(the adjoint of max_pool2d_backward)")


def _max_pool2d_indices_kernel(x, kernel_size, stride, padding, dilation, ceil_mode):
    rows, cols, _, pads = _argmax_positions(x, kernel_size, stride, padding, dilation, ceil_mode)
    w = x.shape[3]
    return ((rows - pads[0]) * w + (cols - pads[2])).astype(np.int64)


max_pool2d_indices_op = defop(
    "max_pool2d_indices", _max_pool2d_indices_kernel,
    lambda x, **attrs: Spec(_max_pool2d_infer(x, **attrs).shape, np.dtype(np.int64)), check_eager=True,
    doc="flat (h * W + w) index of each window's maximum, as max_pool2d(return_indices=True)")


# ================================================================ constant padding
def _pad_infer(x, pads, value):
    if len(pads) != len(x.shape):
        raise DGRuntimeError("constant_pad: one (before, after) pair per dimension expected")
    out = []
    for d, (lo, hi) in zip(x.shape, pads):
        if d is None:
            out.append(None)
            continue
        n = d + lo + hi
        if n < 0:
            raise DGRuntimeError(
                f"narrow(): length must be non-negative. (pad: the input size {d}, plus padding "
                f"{lo} and {hi}, gives a negative output size)")
        out.append(n)
    return Spec(out, x.dtype)


def _pad_kernel(x, pads, value):
    grow = [(max(lo, 0), max(hi, 0)) for lo, hi in pads]
    if any(lo or hi for lo, hi in grow):
        x = np.pad(x, grow, constant_values=value)
    crop = tuple(slice(-lo if lo < 0 else 0, x.shape[i] + hi if hi < 0 else None)
                 for i, (lo, hi) in enumerate(pads))
    return np.array(x[crop])


constant_pad_op = defop(
    "constant_pad", _pad_kernel, _pad_infer, check_eager=True, saves=(), torch_name="ConstantPadNd",
    doc="pad (or, with negative amounts, crop) each dim with a constant; the gradient is the "
        "opposite crop")


# ================================================================ identity (module boundaries)
identity_op = defop(
    "identity", lambda x: x.view(), lambda x: Spec(x.shape, x.dtype), view=True, saves=(), torch_name="BackwardHookFunction",
    doc="the identity as a view; marks a module boundary so backward hooks can see gradients")


# ================================================================ value checks (both modes, at run time)
def _check_values_kernel(x, kind, message, bound=None, ignore=None):
    """x itself (as a view) once its values pass the check, else PyTorch's error: eagerly at the
    call, in a plan at each run, where a shape rule cannot see values. `message` may name the
    first bad value as {value}."""
    if x.size:
        if kind == "unit_interval":   # binary_cross_entropy's input (nan fails too)
            bad = ~((x >= 0) & (x <= 1))
            err = DGRuntimeError
        else:                         # "index": an index into a dimension of size bound
            bad = (x < 0) | (x >= bound)
            if ignore is not None:    # (a target equal to ignore_index is not an index)
                bad &= x != ignore
            err = DGIndexError
        if bad.any():
            raise err(message.format(value=x[bad].flat[0]))
    return x.view()


check_values_op = defop(
    "check_values", _check_values_kernel, lambda x, kind, message, bound=None, ignore=None: Spec(x.shape, x.dtype),
    view=True, saves=(), torch_name="CheckValues",
    doc="the identity, refusing values a loss or an index may not take (BCE's input outside [0, 1], "
        "an embedding index out of range) with PyTorch's error, eagerly and at each run of a plan")


def _pair(v, name="value"):
    if isinstance(v, (list, tuple)):
        if len(v) == 1:
            return (int(v[0]),) * 2
        if len(v) != 2:
            raise DGValueError(f"{name} must be an int or a pair of ints, got {v!r}")
        return (int(v[0]), int(v[1]))
    return (int(v), int(v))


# ================================================================ linear
def _linear_infer(x, w, *b):
    if len(w.shape) != 2:
        raise DGRuntimeError(f"linear: weight must be 2-D (out_features, in_features), got {len(w.shape)}-D")
    if len(x.shape) == 0:
        raise DGRuntimeError("both arguments to linear need to be at least 1D, but they are 0D and 2D")
    k, (out, kw) = x.shape[-1], w.shape
    if k is not None and kw is not None and k != kw:
        rows = numel(x.shape[:-1])
        raise DGRuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({'?' if rows is None else rows}x{k} and {kw}x{out})")
    if x.dtype != w.dtype:
        raise DGRuntimeError(
            f"mat1 and mat2 must have the same dtype, but got {scalar_name(x.dtype)} and {scalar_name(w.dtype)}")
    if b:
        if len(b[0].shape) > 1 or (b[0].shape and b[0].shape[0] not in (None, 1, out)):
            raise DGRuntimeError(
                f"The size of tensor a ({out}) must match the size of tensor b ({b[0].shape[-1]}) at "
                f"non-singleton dimension {len(x.shape) - 1}")
    return Spec(tuple(x.shape[:-1]) + (out,), x.dtype)


_LAYOUTS = {}            # (n, in, out, dtype) -> whether W x^T then a transposed copy is faster
_MEASURED_FROM = 1 << 18      # multiply-adds: smaller products (a few µs) take x W^T unmeasured
_MEASURED_UP_TO = 1 << 24     # multiply-adds: bigger products take x W^T unmeasured (the other
#                               layout won only on small batches here; 6 runs of a big one would
#                               add tens of ms to a first call)
_ROUNDS = 7   # timed runs of each layout: with 3, a fresh process picked the slower layout for
#               the MLP's 64x784x256 product in half its runs (the first runs of a process are
#               noisy; the two differ by ~10%), with 7 it picked the faster one in 8 of 8


def _transposed_faster(x, w):
    """Which way round the BLAS product of linear runs faster for these shapes, measured once
    per shape in this process (after a warm-up run of each, the best of _ROUNDS interleaved
    runs each), not assumed: x W^T, or W x^T into a scratch buffer and a transposed copy
    (OpenBLAS picks a better kernel for some shapes: benchmarks/linear_layout.py). Only where
    both give the same bits (_layouts_agree): a result never depends on a timing.
    Products too small for the choice to matter, or too big to time on a first call, take
    x W^T unmeasured."""
    if blas.get_blas() != "numpy":
        return False  # (MKL: x W^T is as fast, and the swapped roles round differently)
    key = (x.shape[0], x.shape[1], w.shape[0], x.dtype.str)
    hit = _LAYOUTS.get(key)
    if hit is None and (not _MEASURED_FROM <= key[0] * key[1] * key[2] <= _MEASURED_UP_TO
                        or not _layouts_agree(key[0], key[1], key[2], x.dtype)):
        hit = _LAYOUTS[key] = False
    if hit is None:
        out = np.empty((x.shape[0], w.shape[0]), x.dtype)
        for f in (_plain_product, _transposed_product):
            f(x, w, out)  # (warm caches and the scratch buffer: the first run is not timed)
        best = [float("inf"), float("inf")]
        for r in range(_ROUNDS):
            for k in ((0, 1) if r % 2 else (1, 0)):   # (each goes first in half the rounds)
                f = _transposed_product if k else _plain_product
                t = time.perf_counter()
                f(x, w, out)
                best[k] = min(best[k], time.perf_counter() - t)
        hit = _LAYOUTS[key] = best[1] < 0.95 * best[0]
    return hit


def _layouts_agree(n, k, o, dtype):
    """Whether the two layouts give the same bits for these shapes on this BLAS, probed once on
    random data: on some machines it is one kernel with the roles swapped (a Xeon's OpenBLAS),
    on others two kernels that sum in different orders (an AMD EPYC's)."""
    rng = np.random.default_rng(0)   # (every bit of the dtype random: short ones sum exactly)
    x = (rng.random((n, k)) - 0.5).astype(dtype)
    w = (rng.random((o, k)) - 0.5).astype(dtype)
    a, b = np.empty((n, o), dtype), np.empty((n, o), dtype)
    _plain_product(x, w, a)
    _transposed_product(x, w, b)
    return a.tobytes() == b.tobytes()


def _plain_product(x, w, out):
    blas.matmul(x, w.T, out=out)


def _transposed_product(x, w, out):
    t = scratch((w.shape[0], x.shape[0]), x.dtype)  # (the (out, n) product)
    blas.matmul(w, x.T, out=t)
    np.copyto(out, t.T)   # (adding the bias in this pass is no faster, and numpy buffers it)


def _linear_out(x, w, *b, out=None):
    """y = x W^T (+ b) written into `out` (the plan's buffer) or a new row-major array; 2-D x
    takes the layout _transposed_faster chose for its shapes."""
    if w.ndim != 2 or x.ndim == 0 or x.shape[-1] != w.shape[1] or x.dtype != w.dtype:
        raise ValueError("linear shapes")
    if x.ndim == 2:
        if out is None:
            out = np.empty((x.shape[0], w.shape[0]), x.dtype)
        if x.shape[0] and w.shape[0] and _transposed_faster(x, w):
            _transposed_product(x, w, out)
        else:
            blas.matmul(x, w.T, out=out)
    else:
        out = np.matmul(x, w.T, out=out)
    if b:
        np.add(out, b[0], out=out)
    return out


def _linear_kernel(x, w, *b):
    return _linear_out(x, w, *b)


# d/dx reads w, d/dw reads x, d/db nothing (its shape only)
linear_op = defop("linear", _linear_kernel, _linear_infer, torch_name="Addmm",
                  saves=reads_for((1,), (0,), ()), out_kernel=_linear_out,
                  doc="y = x W^T + b, PyTorch's F.linear (weight stored (out, in))")


# ================================================================ nll_loss (class indices)
def _nll_rows(logp, target, ignore_index):
    """(valid, safe): which rows count (their target is not ignore_index) and the targets with
    ignored rows sent to class 0; an out-of-range target raises PyTorch's error."""
    c = logp.shape[1]
    if target.size and not 0 <= ignore_index < c:
        lo, hi = np.minimum.reduce(target), np.maximum.reduce(target)
        if 0 <= lo and hi < c:  # every target a class (the common case): nothing to mask
            m = _ALL_VALID.get(target.shape[0])
            return (m if m is not None else _all_valid(target.shape[0])), target
    valid = target != ignore_index
    safe = np.where(valid, target, 0)
    bad = valid & ((safe < 0) | (safe >= c))
    if bad.any():
        raise DGIndexError(f"Target {int(target[bad][0])} is out of bounds.")
    return valid, safe


_ALL_VALID = {}  # n -> a read-only all-True mask (the rows of a batch with no ignored target)
_ROWS = {}       # n -> a read-only np.arange(n) (row indices of a batch)


def _rows(n):
    r = _ROWS.get(n)
    if r is None:
        r = np.arange(n)
        r.flags.writeable = False
        if len(_ROWS) < 64:
            _ROWS[n] = r
    return r


def _all_valid(n):
    m = np.ones(n, bool)
    m.flags.writeable = False
    if len(_ALL_VALID) < 64:
        _ALL_VALID[n] = m
    return m


def _every_row_counts(target, c, ignore_index):
    """Whether no row is ignored and every target is a class (the common case), with one
    reduction: viewed unsigned, a negative target is huge, so max < c checks both bounds."""
    if not target.size or 0 <= ignore_index < c or target.dtype.kind not in "iu":
        return False
    if target.dtype.kind == "i":
        u = _UNSIGNED.get(target.dtype)
        target = target.view(u if u is not None else target.dtype.str.replace("i", "u"))
    return int(np.maximum.reduce(target)) < c


_UNSIGNED = {np.dtype(f"i{k}"): np.dtype(f"u{k}") for k in (1, 2, 4, 8)}


_ROW_STARTS = {}  # (n, c) -> a read-only np.arange(n) * c (each row's start in a flat (n, c))


def _flat_targets(target, c):
    """Flat indices (row * c + target) of each row's target in a C-contiguous (N, c) array."""
    n = len(target)
    r = _ROW_STARTS.get((n, c))
    if r is None:
        r = np.arange(n) * c
        r.flags.writeable = False
        if len(_ROW_STARTS) < 64:
            _ROW_STARTS[(n, c)] = r
    return np.add(r, target, dtype=np.intp, casting="unsafe")


def _nll_check(logp, target):
    if logp.ndim != 2 or target.ndim != 1 or logp.shape[0] != target.shape[0] or target.dtype.kind not in "iu":
        raise ValueError("nll_loss shapes")


def _nll_reduce(picked, n, dtype, reduction):
    """-picked log-probabilities of n rows, none of them ignored, reduced (as _nll_kernel)."""
    picked = np.negative(picked, out=picked)
    if reduction == "none":
        return picked
    total = np.add.reduce(picked, dtype=dtype)
    if reduction == "sum":
        return np.asarray(total)
    return np.asarray(total / dtype.type(n))  # (n > 0: no 0 / 0, nothing to silence)


def _nll_kernel(logp, target, ignore_index, reduction):
    _nll_check(logp, target)
    if _every_row_counts(target, logp.shape[1], ignore_index):
        return _nll_reduce(logp[_rows(len(target)), target], len(target), logp.dtype, reduction)
    valid, safe = _nll_rows(logp, target, ignore_index)
    picked = logp[_rows(len(safe)), safe]
    if valid is _ALL_VALID.get(len(safe)):   # no ignored row: the same numbers, fewer passes
        picked = np.negative(picked, out=picked)
    else:
        picked = np.where(valid, -picked, 0).astype(logp.dtype, copy=False)
    if reduction == "none":
        return picked
    total = np.add.reduce(picked, dtype=logp.dtype)
    if reduction == "sum":
        return np.asarray(total)
    with np.errstate(all="ignore"):
        return np.asarray(total / logp.dtype.type(valid.sum()))


def _nll_infer(logp, target, ignore_index, reduction):
    if len(logp.shape) != 2 or len(target.shape) != 1:
        raise DGRuntimeError(
            f"nll_loss (fused): expected 2-D input and 1-D target, got {len(logp.shape)}-D and {len(target.shape)}-D")
    n, m = logp.shape[0], target.shape[0]
    if n is not None and m is not None and n != m:
        raise DGValueError(f"Expected input batch_size ({n}) to match target batch_size ({m}).")
    if target.dtype.kind not in "iu":
        raise DGRuntimeError(f"expected scalar type Long but found {scalar_name(target.dtype)}")
    return Spec((n,) if reduction == "none" else (), logp.dtype)


def _nll_backward_kernel(g, target, like, ignore_index, reduction):
    valid, safe = _nll_rows(like, target, ignore_index)
    z = np.zeros(like.shape, dtype=like.dtype)
    if reduction == "mean":
        with np.errstate(all="ignore"):
            scale = -g / like.dtype.type(valid.sum())
    else:
        scale = -g
    if valid is not _ALL_VALID.get(len(safe)):
        # a select, not scale * valid: an ignored row is exactly 0 for an inf/NaN g (0 * inf
        # is NaN); with no ignored row, nothing to select
        scale = np.where(valid, scale, like.dtype.type(0))
    z[_rows(len(safe)), safe] = scale
    return z


nll_loss_op = defop(
    "nll_loss", _nll_kernel, _nll_infer, saves=(1,), torch_name="NllLoss",
    doc="negative log-likelihood of (N, C) log-probabilities at class indices (no class weights)")
nll_loss_backward_op = defop(
    "nll_loss_backward", _nll_backward_kernel,
    lambda g, target, like, ignore_index, reduction: Spec(like.shape, like.dtype),
    saves=(1,), torch_name="NllLossBackward",
    doc="the gradient of nll_loss: -g (over the count of kept rows) at each row's target")


# ================================================================ cross_entropy (fused)
# log_softmax over the classes and nll_loss in one op, forward and backward (F.cross_entropy of
# (N, C) logits at class indices, no class weights, no label smoothing). With the numba backend
# on, one numba loop each way where it applies (ops/numba_loops.py), in both modes. The same kernels in the
# same order as the two ops it replaces, so the same numbers: the loss is nll_loss of
# log_softmax; the gradient softmax * s - onehot * s (s = g / count on valid rows) is what
# log_softmax's rule makes of nll_loss's gradient, in 2 passes instead of 5 ops.
def _ce_kernel(x, target, ignore_index, reduction):
    r = _loops.cross_entropy(x, target, ignore_index, reduction)   # (the numba backend's loop)
    if r is not None:
        return r
    if x.ndim == 2 and x.dtype.kind == "f" and x.flags.c_contiguous:
        _nll_check(x, target)
        if _every_row_counts(target, x.shape[1], ignore_index):
            # log_softmax at the targets only: (s - lse)[row, target] is s[row, target] - lse[row],
            # the same subtraction of the same two numbers, without the (N, C) pass
            at = _flat_targets(target, x.shape[1])
            if _lse_by_columns(x, 1):    # (the same: x - m at the targets, then - lse)
                _, m, lse = _columns_lse(x)
                picked = np.subtract(x.ravel()[at], m.ravel())
                picked -= lse.ravel()
            else:
                s, lse = _shifted_lse(x, 1)
                picked = np.subtract(s.ravel()[at], lse.ravel())
            return _nll_reduce(picked, len(target), x.dtype, reduction)
    return _nll_kernel(_log_softmax_kernel(x, 1), target, ignore_index, reduction)


def _ce_infer(x, target, ignore_index, reduction):
    if x.dtype.kind != "f":
        raise DGRuntimeError(f'"log_softmax_lastdim_kernel_impl" not implemented for \'{scalar_name(x.dtype)}\'')
    return _nll_infer(x, target, ignore_index, reduction)


def _ce_scale(g, valid, dtype, reduction):
    """Each row's scale: g (over the count of kept rows), and exactly 0 at an ignored row (a
    select: g * valid is NaN there for an inf/NaN g)."""
    if reduction == "mean":
        with np.errstate(all="ignore"):
            g = g / dtype.type(valid.sum())
    return np.where(valid, g, dtype.type(0))


def _ce_backward_kernel(g, x, target, ignore_index, reduction):
    r = _loops.cross_entropy_backward(g, x, target, ignore_index, reduction)
    if r is not None:
        return r
    logp = _log_softmax_kernel(x, 1)
    if (x.ndim == 2 and logp.flags.c_contiguous and np.ndim(g) == (reduction == "none")
            and target.ndim == 1 and len(target) == x.shape[0]
            and _every_row_counts(target, x.shape[1], ignore_index)):
        # every row counts: for "mean" and "sum" the scale is one number, g / n or g (what
        # (g / n) * valid holds in each row), multiplied in as a scalar: the same products
        # (a NaN scale aside: of two NaN operands numpy's scalar loop may return the other
        # one, so that case keeps the row of scales); the targets by flat index
        n = len(target)
        if reduction == "mean":
            scale = np.asarray(g / x.dtype.type(n), dtype=x.dtype)
        else:
            scale = np.asarray(g * True, dtype=x.dtype)   # (g * valid, valid all True)
        if reduction == "none" or scale == scale:
            r = np.exp(logp, out=logp)
            r *= scale if reduction != "none" else scale[:, None]
            flat = r.ravel()
            flat[_flat_targets(target, x.shape[1])] -= scale
            return r
    valid, safe = _nll_rows(logp, target, ignore_index)
    scale = np.asarray(_ce_scale(g, valid, x.dtype, reduction), dtype=x.dtype)
    r = np.exp(logp, out=logp)
    r *= scale[:, None]
    r[_rows(len(safe)), safe] -= scale
    return r


def _ce_backward_infer(g, x, target, ignore_index, reduction):
    return Spec(x.shape, x.dtype)


cross_entropy_op = defop(
    "cross_entropy", _ce_kernel, _ce_infer, saves=(0, 1), torch_name="NllLoss",
    doc="log_softmax over dim 1 and nll_loss at class indices, fused (no class weights)")
cross_entropy_backward_op = defop(
    "cross_entropy_backward", _ce_backward_kernel, _ce_backward_infer, saves=(0, 1, 2),
    torch_name="LogSoftmaxBackwardData",
    doc="(softmax(x) - onehot(target)) * g / count: the gradient of cross_entropy")


# ================================================================ avg_pool2d
def _avg_pool_divisor(h, w, oh, ow, kernel_size, stride, padding, count_include_pad,
                      divisor_override, dtype):
    """The (OH, OW) divisor of each window, as PyTorch's avg_pool2d: the window clipped to the
    padded input (count_include_pad) or to the input itself, or the override. Separable, so
    built from one vector per axis (no loop over pixels)."""
    if divisor_override is not None:
        return np.full((oh, ow), divisor_override, dtype=dtype)
    sizes = []
    for n_out, size, k, s, p in ((oh, h, kernel_size[0], stride[0], padding[0]),
                                 (ow, w, kernel_size[1], stride[1], padding[1])):
        start = np.arange(n_out) * s - p
        end = np.minimum(start + k, size + p)
        if count_include_pad:
            sizes.append(end - start)
        else:
            sizes.append(np.minimum(end, size) - np.maximum(start, 0))
    return np.multiply.outer(sizes[0], sizes[1]).astype(dtype)


def _avg_pool2d_infer(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                      divisor_override):
    kh, kw = kernel_size
    if divisor_override is not None and divisor_override == 0:
        raise DGRuntimeError("divisor must be not zero")
    if stride[0] == 0 or stride[1] == 0:
        raise DGRuntimeError("stride should not be zero")
    if kh <= 0 or kw <= 0:
        raise DGRuntimeError(f"kernel size should be greater than zero, but got kH: {kh} kW: {kw}")
    if stride[0] < 0 or stride[1] < 0:
        raise DGRuntimeError(
            f"stride should be greater than zero, but got dH: {stride[0]} dW: {stride[1]}")
    if padding[0] < 0 or padding[1] < 0:
        raise DGRuntimeError(f"pad must be non-negative, but got pad: {min(padding)}")
    if padding[0] > kh // 2 or padding[1] > kw // 2:
        p, k = (padding[0], kh) if padding[0] > kh // 2 else (padding[1], kw)
        raise DGRuntimeError(
            f"pad should be at most half of effective kernel size, but got pad={p}, "
            f"kernel_size={k} and dilation=1")
    if len(x.shape) != 4 or 0 in x.shape[1:]:
        raise DGRuntimeError(
            "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, "
            f"but got:{_fmt(x.shape)}")
    n, c, h, w = x.shape
    oh = pool_out_len(h, kh, stride[0], padding[0], 1, ceil_mode)
    ow = pool_out_len(w, kw, stride[1], padding[1], 1, ceil_mode)
    if (oh is not None and oh < 1) or (ow is not None and ow < 1):
        raise DGRuntimeError(
            f"Given input size: ({_fmt((c, h, w), 'x', brackets=False)}). "
            f"Calculated output size: ({_fmt((c, oh, ow), 'x', brackets=False)}). "
            "Output size is too small")
    if x.dtype.kind != "f" and x.dtype != np.int64:
        raise DGNotImplementedError(f'"avg_pool2d" not implemented for \'{scalar_name(x.dtype)}\'')
    return Spec((n, c, oh, ow), x.dtype)


def _avg_pool2d_kernel(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                       divisor_override):
    if x.ndim != 4 or (x.dtype.kind != "f" and x.dtype != np.int64):
        raise ValueError("avg_pool2d input")
    n, c, h, w = x.shape
    oh, ow, pads = _pool_geometry(h, w, kernel_size, stride, padding, (1, 1), ceil_mode)
    win = _windows(_pad(x, pads), oh, ow, *kernel_size, stride, (1, 1))
    kh, kw = kernel_size
    out = np.array(win[..., 0, 0])
    for i in range(kh):               # one pass per kernel offset, never a loop over pixels
        for j in range(kw):
            if i or j:
                out += win[..., i, j]
    div = _avg_pool_divisor(h, w, oh, ow, kernel_size, stride, padding, count_include_pad,
                            divisor_override, np.int64 if x.dtype.kind != "f" else x.dtype)
    if x.dtype.kind != "f":           # integer division truncating towards zero, as C++
        return (np.sign(out) * (np.abs(out) // div)).astype(x.dtype)
    out /= div
    return out


def _avg_pool2d_backward_kernel(g, like, kernel_size, stride, padding, ceil_mode,
                                count_include_pad, divisor_override):
    n, c, h, w = like.shape
    oh, ow, pads = _pool_geometry(h, w, kernel_size, stride, padding, (1, 1), ceil_mode)
    div = _avg_pool_divisor(h, w, oh, ow, kernel_size, stride, padding, count_include_pad,
                            divisor_override, g.dtype)
    gd = g / div
    cols = np.broadcast_to(gd[..., None, None], gd.shape + tuple(kernel_size))
    full = _fold(cols, (n, c, h + pads[0] + pads[1], w + pads[2] + pads[3]), stride, (1, 1),
                 g.dtype)
    return np.ascontiguousarray(full[:, :, pads[0]:pads[0] + h, pads[2]:pads[2] + w])


avg_pool2d_op = defop(
    "avg_pool2d", _avg_pool2d_kernel, _avg_pool2d_infer, torch_name="AvgPool2D",
    check_eager=True, saves=(),
    doc="2-D average pooling over NCHW windows (kernel, stride, symmetric padding, ceil_mode, "
        "count_include_pad, divisor_override)")
avg_pool2d_backward_op = defop(
    "avg_pool2d_backward", _avg_pool2d_backward_kernel,
    lambda g, like, **attrs: Spec(like.shape, g.dtype), saves=(),
    torch_name="AvgPool2DBackward",
    doc="spread each pooled gradient over its window, divided by the window's divisor (the "
        "adjoint of avg_pool2d; the second input only gives the input's shape)")


# ================================================================ adaptive_avg_pool2d
def _adaptive_windows(size, n_out):
    """PyTorch's adaptive windows [floor(i*size/n_out), ceil((i+1)*size/n_out)) along one axis:
    their starts and ends."""
    i = np.arange(n_out)
    return (i * size) // n_out, -((-(i + 1) * size) // n_out)


def _adaptive_matrix(size, n_out, dtype):
    """(n_out, size) 0/1 matrix of the adaptive windows, and each window's length."""
    start, end = _adaptive_windows(size, n_out)
    pos = np.arange(size)
    m = ((pos >= start[:, None]) & (pos < end[:, None])).astype(dtype)
    return m, (end - start).astype(dtype)


def _take(a, idx, axis):
    index = [slice(None)] * a.ndim
    index[axis] = idx
    return tuple(index)


def _window_sums(x, start, end, axis):
    """Sum of each window [start, end) of x along axis, with no 0 * x term (a 0/1 matrix
    product spreads an inf or NaN over every window: 0 * inf is NaN)."""
    size, n_out = x.shape[axis], len(start)
    if n_out and (n_out == 1 or end[-2] < size):
        # only the last window reaches the end (always when n_out <= size): one reduceat over
        # the indices start0, end0, start1, ..., start_last, of which the even results are the
        # window sums (end_k >= start_k+1, so the odd ones are single elements)
        idx = np.empty(2 * n_out - 1, np.intp)
        idx[0::2] = start
        idx[1::2] = end[:-1]
        return np.add.reduceat(c_order(x), idx, axis=axis)[_take(x, slice(None, None, 2), axis)]
    # more windows than elements: each window 1 or 2 long (any length works here)
    out = np.take(x, start, axis)
    length = end - start
    for d in range(1, int(length.max()) if n_out else 0):
        sel = np.flatnonzero(length > d)
        out[_take(out, sel, axis)] += np.take(x, start[sel] + d, axis)
    return out


def _window_spread(g, start, end, size, axis):
    """The adjoint of _window_sums: each position gets the sum of g over the windows that
    hold it (windows are runs of k: start and end never decrease), no 0 * g term."""
    if g.shape[axis] == 0:
        shape = list(g.shape)
        shape[axis] = size
        return np.zeros(shape, g.dtype)
    pos = np.arange(size)
    lo = np.searchsorted(end, pos, side="right")          # first window ending after pos
    count = np.searchsorted(start, pos, side="right") - lo   # windows holding pos (>= 1)
    out = np.repeat(g, np.bincount(lo, minlength=g.shape[axis]), axis)   # g[lo], as lo rises
    for d in range(1, int(count.max())):
        sel = np.flatnonzero(count > d)
        out[_take(out, sel, axis)] += np.take(g, lo[sel] + d, axis)
    return out


def _adaptive_out(x_shape, output_size):
    h, w = x_shape[2], x_shape[3]
    oh, ow = output_size
    return (h if oh is None else oh), (w if ow is None else ow)


def _adaptive_avg_pool2d_infer(x, output_size):
    if len(x.shape) != 4:
        raise DGRuntimeError(f"adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got {_fmt(x.shape)}")
    if any(o is not None and o < 0 for o in output_size):
        raise DGRuntimeError(
            "adaptive_avg_pool2d: elements of output_size must be greater than or equal to 0 but "
            f"received {{{', '.join(str(o) for o in output_size)}}}")
    for d in (2, 3):
        if x.shape[d] == 0:
            raise DGRuntimeError(
                "adaptive_avg_pool2d(): Expected input to have non-zero size for non-batch "
                f"dimensions, but input has sizes {_fmt(x.shape)} with dimension {d} being empty")
    if x.dtype.kind != "f":
        raise DGNotImplementedError(
            f'"adaptive_avg_pool2d" not implemented for \'{scalar_name(x.dtype)}\'')
    oh, ow = _adaptive_out(x.shape, output_size)
    return Spec((x.shape[0], x.shape[1], oh, ow), x.dtype)


def _adaptive_avg_pool2d_kernel(x, output_size):
    if x.ndim != 4 or x.dtype.kind != "f":
        raise ValueError("adaptive_avg_pool2d input")
    n, c, h, w = x.shape
    oh, ow = _adaptive_out(x.shape, output_size)
    if oh and ow and h % oh == 0 and w % ow == 0:      # equal windows: one reshaped mean
        kh, kw = h // oh, w // ow
        s = x.reshape(n, c, oh, kh, ow, kw).sum(axis=(3, 5))
        return (s / x.dtype.type(kh * kw)).astype(x.dtype, copy=False)
    mh, ch = _adaptive_matrix(h, oh, x.dtype)
    mw, cw = _adaptive_matrix(w, ow, x.dtype)
    s = np.matmul(mh, np.matmul(x, mw.T))              # window sums, (N, C, OH, OW)
    # an inf/NaN in a plane makes every sum of that plane inf/NaN (its products with the 0s
    # of the matrices are NaN, in every row of x @ mw.T and then in every sum): where a first
    # sum is not finite, the sums again without 0 * x terms
    if not oh or not ow or np.isfinite(s[:, :, 0, 0]).all():
        return np.ascontiguousarray(s / np.multiply.outer(ch, cw))
    (sh, eh), (sw, ew) = _adaptive_windows(h, oh), _adaptive_windows(w, ow)
    s = _window_sums(_window_sums(x, sw, ew, 3), sh, eh, 2)   # the same sums, no 0 * x term
    return np.ascontiguousarray(s / np.multiply.outer(ch, cw))


def _adaptive_avg_pool2d_backward_kernel(g, like, output_size):
    n, c, h, w = like.shape
    oh, ow = g.shape[2], g.shape[3]
    mh, ch = _adaptive_matrix(h, oh, g.dtype)
    mw, cw = _adaptive_matrix(w, ow, g.dtype)
    gd = g / np.multiply.outer(ch, cw)
    r = np.matmul(mh.T, np.matmul(gd, mw))
    if np.isfinite(r[:, :, 0, 0]).all():   # (as the forward: an inf/NaN reaches every element)
        return np.ascontiguousarray(r, dtype=g.dtype)
    if oh and ow and h % oh == 0 and w % ow == 0:      # equal windows: one broadcast copy
        kh, kw = h // oh, w // ow
        out = np.broadcast_to(gd[:, :, :, None, :, None], (n, c, oh, kh, ow, kw))
        return np.ascontiguousarray(out.reshape(n, c, h, w), dtype=g.dtype)
    (sh, eh), (sw, ew) = _adaptive_windows(h, oh), _adaptive_windows(w, ow)
    out = _window_spread(_window_spread(gd, sh, eh, h, 2), sw, ew, w, 3)
    return np.ascontiguousarray(out, dtype=g.dtype)


adaptive_avg_pool2d_op = defop(
    "adaptive_avg_pool2d", _adaptive_avg_pool2d_kernel, _adaptive_avg_pool2d_infer,
    torch_name="AdaptiveAvgPool2D", check_eager=True, saves=(),
    doc="2-D adaptive average pooling to an output size (None: keep that input size), with "
        "PyTorch's windows [floor(i*H/oh), ceil((i+1)*H/oh))")
adaptive_avg_pool2d_backward_op = defop(
    "adaptive_avg_pool2d_backward", _adaptive_avg_pool2d_backward_kernel,
    lambda g, like, **attrs: Spec(like.shape, g.dtype), saves=(),
    torch_name="AdaptiveAvgPool2DBackward",
    doc="spread each pooled gradient over its adaptive window (the adjoint of "
        "adaptive_avg_pool2d; the second input only gives the input's shape)")


# ================================================================ interpolate (nearest, bilinear)
def _interp_out(x_shape, size, scales):
    out = []
    for d, s, sc in zip(x_shape[2:], size, scales):
        if s is not None:
            out.append(s)
        elif d is None:
            out.append(None)
        else:
            out.append(int(np.floor(d * sc)))
    return tuple(out)


def _interp_axis(n_in, n_out, mode, align_corners, scale, dtype):
    """Per output position along one axis: two source indices and their weights (nearest: the
    second weight is 0), with PyTorch's index arithmetic in the op-math type."""
    ft = np.float32 if dtype != np.float64 else np.float64
    j = np.arange(n_out)
    if mode == "linear1d":    # (its length axis as bilinear's; its unit height is not used)
        mode = "bilinear"
    if n_out == n_in and mode == "bilinear":  # PyTorch copies an axis whose size is kept,
        return j, j, np.ones(n_out, dtype), np.zeros(n_out, dtype)   # whatever the scale
    if mode in ("nearest", "nearest1d"):
        # PyTorch's 2-D kernel takes two shortcuts (kept size, exact doubling), whatever the
        # scale; its 1-D kernel ("nearest1d", a unit-height image here) takes none
        if n_out == n_in and mode == "nearest":
            i0 = j
        elif n_out == 2 * n_in and mode == "nearest":
            i0 = j >> 1
        else:
            sc = np.float32(1.0 / scale) if scale is not None and scale > 0 else \
                np.float32(n_in) / np.float32(n_out)
            i0 = np.minimum(np.floor(j.astype(np.float32) * sc).astype(np.int64), n_in - 1)
        return i0, i0, np.ones(n_out, dtype), np.zeros(n_out, dtype)
    if align_corners:
        sc = ft(n_in - 1) / ft(n_out - 1) if n_out > 1 else ft(0)
        src = sc * j.astype(ft)
    else:
        sc = ft(1.0 / scale) if scale is not None and scale > 0 else ft(n_in) / ft(n_out)
        if ft is np.float32:  # PyTorch's kernel rounds sc * (j + 0.5) - 0.5 once (an FMA):
            src = (np.float64(sc) * (j + 0.5) - 0.5).astype(ft)   # exact in float64, rounded
        else:
            src = sc * (j.astype(ft) + ft(0.5)) - ft(0.5)
        src = np.maximum(src, ft(0))
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    l1 = np.clip(src - i0.astype(ft), 0, 1).astype(ft)
    i1 = i0 + (i0 < n_in - 1)
    return i0, i1, (ft(1) - l1).astype(dtype), l1.astype(dtype)


def _interp_attrs_axes(shape, size, scales, mode, align_corners, dtype):
    oh, ow = _interp_out(shape, size, scales)
    ah = _interp_axis(shape[2], oh, mode, align_corners, scales[0], dtype)
    aw = _interp_axis(shape[3], ow, mode, align_corners, scales[1], dtype)
    return ah, aw


def _interp_infer(x, size, scales, mode, align_corners):
    if len(x.shape) != 4:
        raise DGRuntimeError(f"interpolate: expected 4-D input, got {len(x.shape)}-D")
    oh, ow = _interp_out(x.shape, size, scales)
    h, w = x.shape[2], x.shape[3]
    if any(v is not None and v <= 0 for v in (h, w, oh, ow)):
        raise DGRuntimeError(
            f"Input and output sizes should be greater than 0, but got input (H: {h}, W: {w}) "
            f"output (H: {oh}, W: {ow})")
    if x.shape[1] == 0 and mode == "bilinear":  # (the F layer words 1-D checks itself)
        raise DGRuntimeError(f"Non-empty 4D data tensor expected but got a tensor with sizes {_fmt(x.shape)}")
    if x.dtype.kind != "f":
        raise DGNotImplementedError(
            f'"upsample_{mode}2d_channels_last" not implemented for \'{scalar_name(x.dtype)}\'')
    return Spec((x.shape[0], x.shape[1], oh, ow), x.dtype)


def _interp_kernel(x, size, scales, mode, align_corners):
    if x.ndim != 4 or x.dtype.kind != "f":
        raise ValueError("interpolate input")
    (h0, h1, hl0, hl1), (w0, w1, wl0, wl1) = _interp_attrs_axes(
        x.shape, size, scales, mode, align_corners, x.dtype)
    if mode not in ("bilinear", "linear1d"):
        return np.ascontiguousarray(x.take(h0, axis=2).take(w0, axis=3))
    if mode == "linear1d":    # a unit-height image: no x * 0 term (NaN at an inf) for that axis
        r = x.take(w0, axis=3) * wl0 + x.take(w1, axis=3) * wl1
        return _linear1d_zeros(x, w0, wl0, w1, wl1, r) if x.dtype == np.float32 else r
    t = x.take(h0, axis=2) * hl0[:, None] + x.take(h1, axis=2) * hl1[:, None]   # (N, C, OH, W)
    return t.take(w0, axis=3) * wl0 + t.take(w1, axis=3) * wl1


def _linear1d_zeros(x, i0, l0, i1, l1, out):
    """PyTorch's 1-D kernel rounds x0 * l0 + (x1 * l1) once (an FMA): where the two rounded
    products cancel to 0 here, its exact sum is tiny, of either sign, or 0. Those entries of
    out again, the product exact in float64 (the sum is: no bit is lost next to a zero)."""
    z = np.flatnonzero(out == 0)
    if z.size:
        w = x.shape[-1]
        rows, cols = np.divmod(z, len(i0))
        x2 = x.reshape(-1, w)
        x1l1 = x2[rows, i1[cols]] * l1[cols]
        s = x2[rows, i0[cols]].astype(np.float64) * l0[cols] + x1l1
        out.reshape(-1)[z] = s
    return out


def _scatter_axis(v, idx, wt, n_in, axis):
    """Adjoint of y = v.take(idx, axis) * wt (wt along `axis`), for a non-decreasing idx (every
    interpolation's source indices are): run sums with np.add.reduceat, no loop over pixels."""
    shape = list(v.shape)
    shape[axis] = n_in
    out = np.zeros(shape, dtype=v.dtype)
    if v.size == 0:
        return out
    w = wt.reshape((-1,) + (1,) * (v.ndim - 1 - axis))
    uniq, first = np.unique(idx, return_index=True)
    sums = np.add.reduceat(c_order(v * w), first, axis=axis)
    index = [slice(None)] * v.ndim
    index[axis] = uniq
    out[tuple(index)] = sums
    return out


def _interp_backward_kernel(g, like, size, scales, mode, align_corners):
    n, c, h, w = like.shape
    (h0, h1, hl0, hl1), (w0, w1, wl0, wl1) = _interp_attrs_axes(
        like.shape, size, scales, mode, align_corners, g.dtype)
    t = _scatter_axis(g, w0, wl0, w, 3)                           # (N, C, OH, W)
    if mode in ("bilinear", "linear1d"):
        t += _scatter_axis(g, w1, wl1, w, 3)
    if mode == "linear1d":    # (the unit height: as the forward, no g * 0 term)
        return t
    out = _scatter_axis(t, h0, hl0, h, 2)                         # (N, C, H, W)
    if mode == "bilinear":
        out += _scatter_axis(t, h1, hl1, h, 2)
    return out


interpolate_op = defop(
    "interpolate", _interp_kernel, _interp_infer, torch_name="UpsampleBilinear2D",
    check_eager=True, saves=(),
    doc="2-D resizing of NCHW input, nearest or bilinear (align_corners), with PyTorch's source "
        "index arithmetic (explicit scales are used as given)")
interpolate_backward_op = defop(
    "interpolate_backward", _interp_backward_kernel,
    lambda g, like, **attrs: Spec(like.shape, g.dtype), saves=(),
    torch_name="UpsampleBilinear2DBackward",
    doc="the adjoint of interpolate: each output gradient added back to its source pixels with "
        "the interpolation weights (the second input only gives the input's shape)")
