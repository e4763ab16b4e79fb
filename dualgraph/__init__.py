"""dualgraph: one operator set, two ways to run it (PyTorch-style eager, TF1-style graphs).

This module only gathers the public names; see ../DESIGN.md for where each piece lives.
"""
import warnings as _warnings

# PyTorch computes inf and NaN silently; numpy warns ("overflow encountered in exp"), naming the
# dualgraph line that called it, not the user's. Ignored for dualgraph's own modules only (the
# user's numpy calls still warn), and at no cost per op (a filter is read only when numpy warns).
_warnings.filterwarnings("ignore", r"(invalid value|overflow|divide by zero|underflow) encountered",
                         RuntimeWarning, r"dualgraph(\.|$)")
from . import allocator as _allocator
_allocator.tune()   # large numpy temporaries reuse freed memory, not fresh pages (allocator.py)
from .errors import DualGraphError, ShapeError
from .errors import CheckpointError
from . import dtypes as _dtypes
from .dtypes import (DType as dtype, float32, float64, float16, int64, int32, int16, int8, uint8,
                     float, double, half, long, int)
from .dtypes import bool_ as bool  # noqa: A001  (dg.bool, as torch.bool)
from . import eager as _eager  # installs the eager interpreter as the default mode
from .tensor import (Tensor, tensor, as_tensor, from_numpy, FloatTensor, DoubleTensor, LongTensor,
                     IntTensor, BoolTensor)
from .tensor_methods import Size
from .device import device, cuda
from .random import manual_seed, seed, get_rng_state, set_rng_state
from .ops import OPS
from .ops.elementwise import (add, sub, mul, div, pow, neg, abs, sign, exp, log, log1p, sqrt,
                              rsqrt, sin, cos, tanh, sigmoid, relu, maximum, minimum,
                              where, masked_fill, floor_divide, remainder, eq, ne, lt, le, gt, ge,
                              logical_and, logical_or, logical_not,
                              bitwise_and, bitwise_or, bitwise_not, floor, ceil, round, trunc,
                              fix)
from .ops.elementwise import (bitwise_xor, bitwise_left_shift, bitwise_right_shift,  # noqa: E402
                              fmod)
from .ops.elementwise import erf  # noqa: E402  (torch.erf)
from .ops.elementwise_math import *  # noqa: E402,F401,F403  (tan ... lerp, addcmul: its __all__)
from .ops.reductions import (sum, mean, prod, max, min, amax, amin, argmax, argmin, var, std,
                             logsumexp, softmax, log_softmax, all, any, cumsum, cumprod, sort,
                             argsort, topk, norm)
from .ops.shape import (reshape, transpose, permute, squeeze, unsqueeze, flatten, cat, concat,
                        stack, gather, narrow, split, chunk, unbind, t, cartesian_prod, tril,
                        triu, flip, roll)
from .ops.linalg import mm, bmm, dot, matmul, outer
from .ops.linalg import einsum  # noqa: E402  (tensor ops: einsum, diag, repeat_interleave, ...)
from .ops.shape import repeat_interleave, diag, diagonal, diag_embed
from .ops.reductions import nonzero, unique, where  # (where(cond) alone: nonzero's indices)
from ._tensor_str import set_printoptions, get_printoptions, printoptions
from .ops.indexing import (index_select, index_add, index_copy, index_fill, scatter,  # noqa: E402
                           scatter_add, scatter_reduce, take_along_dim, masked_select,
                           masked_scatter)
from .ops.order_stats import (median, nanmedian, kthvalue, cummax, cummin, aminmax,  # noqa: E402
                              nansum, nanmean, count_nonzero, quantile, nanquantile,
                              logcumsumexp)  # (mode: the method; dg.mode is the module)
from .ops.composites import (broadcast_to, broadcast_tensors, tile, ravel, movedim,  # noqa: E402
                             moveaxis, swapdims, swapaxes, unflatten, rot90, fliplr, flipud,
                             tensor_split, hsplit, vsplit, dsplit, diff, trace, kron, inner, mv,
                             addmm, addmv, baddbmm, addbmm, vdot, cross, dist)
from .ops.creation import (zeros, ones, empty, full, arange, linspace, eye, zeros_like,
                           ones_like, empty_like, full_like, rand, randn, randint, rand_like,
                           randn_like)
from .autograd import no_grad, enable_grad, set_grad_enabled, is_grad_enabled, inference_mode
from . import autograd
from .mode import executing_eagerly, eager_mode
from .compare_values import allclose, equal, isclose
from . import linalg  # noqa: E402  (dg.linalg.norm, vector_norm, matrix_norm)
from .dtypes import set_default_dtype, get_default_dtype
from . import nn

__version__ = "0.1.0"


def is_tensor(obj):
    from .tensor_methods import TensorMethods
    return isinstance(obj, TensorMethods)


def numel(t):
    return t.numel()

from .graph import (Graph, SymbolicTensor, placeholder, constant, Variable, gradients, Session, graph_mode,
                    get_default_graph, reset_default_graph, name_scope)
from .graph.function import function, jit, TracedFunction
from .graph.control_flow import cond, while_loop
from .graph.passes.fuse_elementwise import set_fusion, get_fusion
from .ops.blas import set_blas, get_blas  # noqa: E402  (2-D products on numpy's BLAS or MKL)
from . import autograph  # noqa: E402  (dg.autograph: to_code, convert)
from . import export  # noqa: E402  (dg.export: to_json, to_dot, to_onnx, ...)
from .graph.tf1 import group, global_variables_initializer, trainable_variables, global_variables
from .graph.tf1 import (reduce_sum, reduce_mean, reduce_max, reduce_min, square,  # noqa: E402
                        stop_gradient, random_normal, random_uniform)
from .graph.tf1 import print  # noqa: E402,A001  (tf.print; the builtin is builtins.print)
from . import train  # noqa: E402  (dg.train: TF1's GradientDescentOptimizer, AdamOptimizer)
from . import optim, utils  # noqa: E402  (dg.optim, dg.utils.data)
from .serialization import save, load  # noqa: E402


def __getattr__(name):
    """dg.compare and dg.check_consistency sit above these public names (they use them):
    imported on first use. `dg.compare` is the package dualgraph.compare, made callable."""
    if name == "compare":
        from .compare import runner  # noqa: F401  (importing it binds the package here)
        return globals()["compare"]
    if name == "check_consistency":
        from .compare.consistency import check_consistency
        return check_consistency
    if name == "Function":
        import warnings
        warnings.warn("dg.Function is deprecated: the tracing wrapper is dg.TracedFunction "
                      "(dg.autograd.Function is the custom-gradient base class)",
                      DeprecationWarning, stacklevel=2)
        return TracedFunction
    raise AttributeError(f"module 'dualgraph' has no attribute {name!r}")
