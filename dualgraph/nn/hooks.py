"""Module hooks: the hook dicts and handles, and the full backward hooks.

`register_full_backward_hook` / `register_full_backward_pre_hook` are Module's (thin methods in
module.py). A module call with such hooks goes through `BackwardHook` (PyTorch's
torch.utils.hooks.BackwardHook): identity nodes around the call whose tensor hooks see
grad_output and grad_input as tuples.
"""
import itertools
import warnings
import weakref
from collections import OrderedDict

from .. import dtypes as _dt
from ..errors import DGRuntimeError
from ..ops import nn_ops as _nn
from ..ops.creation import zeros
from ..ops.dispatch import apply
from ..ops.shape import cat
from ..state import _state
from ..tensor import RemovableHandle
from ..tensor_methods import TensorMethods


# ================================================================ hook dicts and handles
HOOKS_CHANGED = [0]   # bumped at every change to any module's hook dict (Module._hooks_changed)


class _Hooks(OrderedDict):
    """An ordered dict of hooks that a RemovableHandle can reference weakly. Each change bumps
    HOOKS_CHANGED: a dg.function whose trace called modules guards it, so a hook registered
    or removed after the trace retraces (the plan holds what the hooks did while traced)."""

    def __setitem__(self, key, value):
        HOOKS_CHANGED[0] += 1
        super().__setitem__(key, value)

    def __delitem__(self, key):
        HOOKS_CHANGED[0] += 1
        super().__delitem__(key)

    def pop(self, *args):
        HOOKS_CHANGED[0] += 1
        return super().pop(*args)

    def popitem(self, last=True):
        HOOKS_CHANGED[0] += 1
        return super().popitem(last)

    def clear(self):
        HOOKS_CHANGED[0] += 1
        super().clear()

    def move_to_end(self, key, last=True):
        HOOKS_CHANGED[0] += 1
        super().move_to_end(key, last)

    def update(self, *args, **kwargs):
        HOOKS_CHANGED[0] += 1
        super().update(*args, **kwargs)

    def setdefault(self, key, default=None):
        HOOKS_CHANGED[0] += 1
        return super().setdefault(key, default)


class _Flags(dict):
    """id -> True markers (with_kwargs, always_call) that a handle also clears."""


class _Handle(RemovableHandle):
    """A handle removing its hook from the hook dict and from any flag dicts."""

    def __init__(self, hooks, *extra):
        super().__init__(hooks)
        self._extra = [weakref.ref(d) for d in extra]

    def remove(self):
        super().remove()
        for r in self._extra:
            d = r()
            if d is not None:
                d.pop(self.id, None)


# ================================================================ full backward hooks
def register_full_backward_hook(module, hook, prepend=False):
    """Module.register_full_backward_hook: hook(module, grad_input, grad_output) -> None or a
    replacement grad_input tuple."""
    return _add(module._backward_hooks, hook, prepend)


def register_full_backward_pre_hook(module, hook, prepend=False):
    """Module.register_full_backward_pre_hook: hook(module, grad_output) -> None or a
    replacement grad_output tuple."""
    return _add(module._backward_pre_hooks, hook, prepend)


def _add(hooks, hook, prepend):
    h = _Handle(hooks)
    hooks[h.id] = hook
    if prepend:
        hooks.move_to_end(h.id, last=False)
    return h


def _pack(tensors):
    """Route tensors through one identity node so a single tensor hook sees all their
    gradients at once: one tensor -> identity(t); several -> views into identity(cat(flat)).
    Returns (new tensors, the packed tensor, the split function for its gradient)."""
    if len(tensors) == 1:
        t = tensors[0]
        z = apply(_nn.identity_op, t)
        return [z], z, (lambda g: [g]), (lambda gs: gs[0])
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = _dt.from_np(_dt.promote_types(dtype.np, t.dtype.np))
    shapes = [tuple(t.shape) for t in tensors]
    sizes = [t.numel() for t in tensors]
    z = apply(_nn.identity_op, cat([t.reshape(-1).to(dtype) for t in tensors]))
    bounds = list(itertools.accumulate([0] + sizes))
    dtypes = [t.dtype for t in tensors]

    def split(flat):
        return [flat[a:b].reshape(s).to(d) for a, b, s, d in zip(bounds, bounds[1:], shapes, dtypes)]

    def join(gs):
        return cat([(zeros(s, dtype=dtype) if g is None else g.reshape(-1).to(dtype))
                    for g, s in zip(gs, sizes)])

    return split(z), z, split, join


def _run_hooks(hooks, call, res, kind, what):
    """Run the user hooks in order: call(hook, res) returns None or a replacement for the
    tuple res, of the same length."""
    for h in hooks:
        out = call(h, res)
        if out is None:
            continue
        if len(out) != len(res):
            raise DGRuntimeError(
                f"Backward {kind} returned an invalid number of {what}, got {len(out)}, but "
                f"expected {len(res)}")
        res = tuple(out)
    return res


class BackwardHook:
    """PyTorch's BackwardHook: identity nodes around a module call; the output one records
    grad_output, the input one calls the user hooks with (grad_input, grad_output)."""

    def __init__(self, module, hooks, pre_hooks):
        self.module = module
        self.hooks = hooks
        self.pre_hooks = pre_hooks
        self.grad_outputs = None
        self.n_inputs = 0
        self.input_index = None

    def setup_input(self, args):
        self.n_inputs = len(args)
        idx = [i for i, a in enumerate(args) if isinstance(a, TensorMethods) and a.requires_grad]
        if not idx or not _state.grad_enabled:
            return args
        new, z, split, join = _pack([args[i] for i in idx])
        self.input_index = idx

        def hook(g):
            if self.grad_outputs is None:
                return None
            res = [None] * self.n_inputs
            for i, gi in zip(idx, split(g)):
                res[i] = gi
            res = tuple(res)
            go = self.grad_outputs
            res = _run_hooks(self.hooks, lambda user, r: user(self.module, r, go), res,
                             "hook", "grad_input")
            self.grad_outputs = None
            return join([res[i] for i in idx])

        z.register_hook(hook)
        args = list(args)
        for i, t in zip(idx, new):
            args[i] = t
        return tuple(args)

    def setup_output(self, result):
        single = not isinstance(result, tuple)
        outs = (result,) if single else result
        idx = [i for i, a in enumerate(outs) if isinstance(a, TensorMethods) and a.requires_grad]
        if not idx or not _state.grad_enabled:
            return result
        new, z, split, join = _pack([outs[i] for i in idx])
        n_out = len(outs)

        def hook(g):
            res = [None] * n_out
            for i, gi in zip(idx, split(g)):
                res[i] = gi
            res = tuple(res)
            res = _run_hooks(self.pre_hooks, lambda pre, r: pre(self.module, r), res,
                             "pre hook", "grad_output")
            self.grad_outputs = res
            if self.input_index is None:
                warnings.warn(
                    "Full backward hook is firing when gradients are computed with respect to "
                    "module outputs since no inputs require gradients.", UserWarning, stacklevel=2)
                none_in = (None,) * self.n_inputs
                for user in self.hooks:
                    r = user(self.module, none_in, res)
                    if r is not None and not all(x is None for x in r):
                        raise DGRuntimeError(
                            "Backward hook for Modules where no input requires gradient should "
                            "always return None or None for all gradients.")
                self.grad_outputs = None
            if any(x is None for x in (res[i] for i in idx)):
                return None
            return join([res[i] for i in idx])

        z.register_hook(hook)
        outs = list(outs)
        for i, t in zip(idx, new):
            outs[i] = t
        return outs[0] if single else tuple(outs)
