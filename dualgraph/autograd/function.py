"""dg.autograd.Function: an op whose forward and backward the user writes (PyTorch's custom
autograd.Function), in both modes.

`MyFn.apply(*args)` runs `MyFn.forward(ctx, *args)` with gradients off (eagerly it computes now;
in a graph, or while dg.function traces, its ops become graph nodes that no gradient flows
through), then joins the outputs to the tensor inputs with one registered op, `custom_function`:
its value is the forward's output and its backward rule calls `MyFn.backward(ctx, *grads)`. The
user's backward is written with dualgraph ops, so eagerly it runs on the tape and in a graph it
builds the gradient's nodes: the same rule in both modes (TensorFlow's custom_gradient joins
the forward to its inputs with an identity whose gradient is overridden, the same idea).

Several outputs are joined by one node whose value is their flattened concatenation (slices
of it, reshaped, are the outputs), so `backward` runs once with a gradient for every output, as
in PyTorch (zeros for an output that got none: materialized grads).
"""
import numpy as np

from ..dtypes import from_np
from ..errors import DGRuntimeError, DGTypeError, DGNotImplementedError
from ..ops.dispatch import apply
from ..ops.registry import Spec, defop
from ..ops import creation as C
from ..state import _state
from ..tensor_methods import TensorMethods
from .grad_mode import no_grad, is_grad_enabled
from .tape import FREED, version_error


class FunctionCtx:
    """The `ctx` of forward and backward: saved tensors, which inputs want a gradient, the
    outputs marked non-differentiable, and any attribute the user sets."""

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self._saved = None
        self._freed = False      # a backward without retain_graph ran: the saved tensors are gone
        self._release = False    # (set for the backward running now: whether it frees them)
        self._non_differentiable = ()
        self.materialize_grads = True

    def save_for_backward(self, *tensors):
        for t in tensors:
            if t is not None and not isinstance(t, TensorMethods):
                raise DGTypeError("save_for_backward can only save variables, but argument "
                                  f"{tensors.index(t)} is of type {type(t).__name__}")
        # each tensor with its version now: backward refuses one modified in place since
        self._saved = tuple((t, getattr(t, "_version", None)) for t in tensors)

    save_for_forward = save_for_backward

    @property
    def saved_tensors(self):
        if self._freed:
            raise DGRuntimeError(FREED)
        if self._saved is None:
            return ()
        for t, v in self._saved:
            if v is not None and t._version != v:
                version_error(t, v)
        return tuple(t for t, _ in self._saved)

    def mark_non_differentiable(self, *outputs):
        self._non_differentiable = self._non_differentiable + tuple(outputs)

    def set_materialize_grads(self, value):
        self.materialize_grads = bool(value)

    def mark_dirty(self, *tensors):
        raise DGNotImplementedError(
            "ctx.mark_dirty: a custom Function that writes its inputs in place is not supported; "
            "return a new tensor instead")


class _Call:
    """The attrs of one custom_function node: the Function class, its ctx, where the tensor
    inputs sit among apply's arguments, and the outputs' shapes when several are packed."""

    __slots__ = ("cls", "ctx", "n_args", "tensor_pos", "n_out", "shapes", "outs", "non_diff", "dtypes",
                 "perms")

    def __init__(self, cls, ctx, n_args, tensor_pos, shapes, outs, non_diff, dtypes=None):
        self.cls, self.ctx, self.n_args, self.tensor_pos = cls, ctx, n_args, tensor_pos
        self.n_out, self.shapes = len(shapes), shapes
        # (outputs of several dtypes are joined in their common one; each comes back as its own)
        self.dtypes = dtypes if dtypes is not None and len(set(dtypes)) > 1 else None
        self.outs = outs  # (the non-differentiable ones give backward zeros of their shape)
        self.non_diff = frozenset(non_diff)
        # per packed output, None or the axis order its memory runs in (dg.function's outputs:
        # each comes back laid out as the plan, and eager code, made it: see layout_orders)
        self.perms = None

    def __repr__(self):
        return f"{self.cls.__name__}"


def _kernel(*arrays, call):
    outs = arrays[:call.n_out]
    if call.n_out == 1:
        return outs[0]
    if call.perms:
        return np.concatenate([o.reshape(-1) if p is None else o.transpose(p).reshape(-1)
                               for o, p in zip(outs, call.perms)])
    return np.concatenate([o.reshape(-1) for o in outs])


def layout_orders(arrays):
    """Per array, None when it is in C order, else the axis order its memory runs in (outermost
    first) when it is a permutation of a C-ordered block (a transpose): packed and split again
    in that order, a piece has the array's layout. None also for other layouts (a copy then)."""
    perms = []
    for a in arrays:
        p = None
        if not a.flags.c_contiguous:
            order = tuple(int(i) for i in np.argsort([-s for s in a.strides], kind="stable"))
            if a.transpose(order).flags.c_contiguous:
                p = order
        perms.append(p)
    return tuple(perms) if any(p is not None for p in perms) else None


def _infer(*specs, call):
    outs = specs[:call.n_out]
    if call.n_out == 1:
        return Spec(outs[0].shape, outs[0].dtype)
    dtype = np.result_type(*call.dtypes) if call.dtypes else outs[0].dtype
    return Spec((sum(int(np.prod(s)) for s in call.shapes),), dtype)


def _split(flat, shapes, perms=None):
    """The outputs packed into one node (flattened, concatenated), as tensors of their shapes
    (each a permuted view where its perm says its memory ran in another axis order)."""
    if len(shapes) == 1:
        return (flat,)
    out, off = [], 0
    for k, shape in enumerate(shapes):
        n = int(np.prod(shape))
        p = perms[k] if perms else None
        if p is None:
            out.append(flat[off:off + n].reshape(shape))
        else:
            inv = tuple(int(i) for i in np.argsort(p))
            out.append(flat[off:off + n].reshape(tuple(shape[i] for i in p)).permute(*inv))
        off += n
    return tuple(out)


def unpack(joined, shapes, dtypes, perms=None):
    """The outputs one custom_function node packs, each of its shape and dtype."""
    if len(shapes) == 1:
        return (joined,)
    return tuple(p if p._np_dtype() == d else p.to(from_np(d))
                 for p, d in zip(_split(joined, shapes, perms), dtypes))


def _vjp(g, node):
    call = node.attrs["call"]
    pieces = _split(g, call.shapes, call.perms)
    if call.dtypes:  # each output's gradient in the output's dtype (exact: it was computed so)
        pieces = tuple(p if p._np_dtype() == d else p.to(from_np(d)) for p, d in zip(pieces, call.dtypes))
    grads = _with_non_differentiable(call, pieces)
    ctx = call.ctx
    ctx._release = getattr(node, "release", False)
    result = call.cls.backward(ctx, *grads)
    if ctx._release and ctx._saved:  # PyTorch frees what save_for_backward kept
        ctx._freed = True
        ctx._saved = None
    if not isinstance(result, tuple):
        result = (result,)
    if len(result) != call.n_args:
        if len(result) > call.n_args and all(r is None for r in result[call.n_args:]):
            result = result[:call.n_args]
        else:
            raise DGRuntimeError(
                f"function {call.cls.__name__}Backward returned an incorrect number of gradients "
                f"(expected {call.n_args}, got {len(result)})")
    ins = node.inputs[call.n_out:]
    out = [None] * call.n_out
    for k, pos in enumerate(call.tensor_pos):
        r = result[pos]
        if r is not None and not node.needs[call.n_out + k]:
            r = None
        if r is not None:
            if not isinstance(r, TensorMethods):
                raise DGTypeError(f"function {call.cls.__name__}Backward returned a gradient of type "
                                  f"{type(r).__name__} for input {pos}: expected a Tensor or None")
            if any(r is t for t in node.inputs) or any(r is t for t, _ in (call.ctx._saved or ())):
                r = r.clone()  # a forward tensor handed back as a gradient: .grad gets its own
            x = ins[k]
            if tuple(r.shape) != tuple(x.shape):
                raise DGRuntimeError(
                    f"Function {call.cls.__name__}Backward returned an invalid gradient at index {pos} "
                    f"- got {list(r.shape)} but expected shape compatible with {list(x.shape)}")
        out.append(r)
    return tuple(out)


def _with_non_differentiable(call, grads):
    """The gradients backward receives: one per forward output, the non-differentiable ones
    (and, with materialize_grads, none) as zeros."""
    full, it = [], iter(grads)
    for i, o in enumerate(call.outs):
        if i in call.non_diff:
            keep = call.ctx.materialize_grads and isinstance(o, TensorMethods)
            full.append(C.zeros_like(o) if keep else None)
        else:
            full.append(next(it))
    return tuple(full)


custom_function_op = defop(
    "custom_function", _kernel, _infer, _vjp, saves=(), may_alias=True, torch_name="Custom",
    doc="the outputs of a dg.autograd.Function's forward, joined to its tensor inputs; its "
        "backward rule is the Function's backward")

class Function:
    """Subclass with static `forward(ctx, *args)` and `backward(ctx, *grad_outputs)`; call with
    `MyFn.apply(*args)`. backward returns one gradient per forward argument (None for
    non-tensors and inputs that need none)."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise DGNotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise DGNotImplementedError("You must implement either the backward or vjp method for your "
                                    "custom autograd.Function to use it with backward mode AD.")

    vjp = backward

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        raise DGRuntimeError(
            "Legacy autograd function with non-static forward method is deprecated. Please use new-style "
            "autograd function with static forward method. (Example: "
            "https://pytorch.org/docs/stable/autograd.html#torch.autograd.Function)")

    @classmethod
    def apply(cls, *args, **kwargs):
        if kwargs:
            raise DGTypeError(f"{cls.__name__}.apply takes its arguments by position only")
        tensor_pos = tuple(i for i, a in enumerate(args) if isinstance(a, TensorMethods))
        # (a TF1 graph differentiates any float tensor, with dg.gradients, after it is built)
        tf1 = _building_tf1_graph()
        needs = tuple(isinstance(a, TensorMethods) and (bool(a._rg) or (tf1 and _floating(a)))
                      for a in args)
        ctx = FunctionCtx(needs)
        with no_grad():
            result = cls.forward(ctx, *args)
        single = not isinstance(result, tuple)
        outs = (result,) if single else result
        non_diff_ids = {id(t) for t in ctx._non_differentiable}
        non_diff = {i for i, o in enumerate(outs)
                    if id(o) in non_diff_ids or not isinstance(o, TensorMethods) or not _floating(o)}
        wanted = [i for i in range(len(outs)) if i not in non_diff]
        if not any(needs) or not wanted or not is_grad_enabled():
            return result
        diff = [outs[i] for i in wanted]
        shapes = tuple(tuple(o.shape) for o in diff)
        dtypes = tuple(o._np_dtype() for o in diff)
        if len(diff) > 1 and any(d is None for s in shapes for d in s):
            raise DGNotImplementedError(
                f"{cls.__name__}.apply: several differentiable outputs of unknown shape "
                f"{[list(s) for s in shapes]}; give the graph static shapes")
        call = _Call(cls, ctx, len(args), tensor_pos, shapes, outs, non_diff, dtypes)
        joined = apply(custom_function_op, *diff, *(args[i] for i in tensor_pos), call=call)
        final = list(outs)
        for i, piece in zip(wanted, unpack(joined, shapes, dtypes)):
            final[i] = piece
        return final[0] if single else tuple(final)


def _building_tf1_graph():
    """A graph is being built outside dg.function (whose traces keep eager's requires_grad)."""
    g = getattr(_state.mode, "graph", None)
    return g is not None and getattr(g, "trace", None) is None


def _floating(t):
    return np.dtype(t._np_dtype()).kind in "fc"


def once_differentiable(fn):
    """PyTorch's decorator for a backward that is not itself differentiable: here a backward
    built with dualgraph ops is differentiable anyway, so it is returned as it is."""
    return fn


__all__ = ["Function", "FunctionCtx", "once_differentiable"]
