"""backward() and autograd.grad(): the eager entry points into the shared reverse pass.

`grad` on symbolic outputs (inside dg.function or a graph block) delegates to
graph/gradients.py: one lazy upward call, like Tensor.backward's."""
import sys

import numpy as np

from ..errors import DGRuntimeError
from ..tensor import Tensor, _wrap
from .engine import reverse_pass, EagerTape, requires_grad as _requires


def _seeds(outputs, grad_outputs):
    seeds = []
    for i, out in enumerate(outputs):
        g = grad_outputs[i] if grad_outputs is not None and i < len(grad_outputs) else None
        if not out.requires_grad:
            raise DGRuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn")
        if g is None:
            a = out._data
            if a.size != 1:
                raise DGRuntimeError("grad can be implicitly created only for scalar outputs")
            # (a 0-d loss, the common case, without np.ones' Python-level work)
            g = _wrap(np.array(1, dtype=a.dtype) if a.ndim == 0 else np.ones(a.shape, dtype=a.dtype))
        else:
            if not isinstance(g, Tensor):
                g = _wrap(np.asarray(g, dtype=out._data.dtype))
            if tuple(g.shape) != tuple(out.shape):
                raise DGRuntimeError(
                    f"Mismatch in shape: grad_output[{i}] has a shape of dualgraph.Size({list(g.shape)}) "
                    f"and output[{i}] has a shape of dualgraph.Size({list(out.shape)}).")
        seeds.append(g)
    return seeds


def _accumulate(t, g, create_graph, fresh, steal=False):
    """t.grad += g, as PyTorch's AccumulateGrad: the first gradient is stored as a tensor of its
    own (never a view of something else), later ones are added in place (the .grad object stays
    the same) unless a graph of the gradient is being built. `steal`: g's memory is a result of
    this backward that nothing else holds, so .grad takes it (PyTorch steals a gradient whose
    use count is 1) instead of a copy."""
    old = t._grad
    if create_graph:
        t._grad = (g if fresh else g.clone()) if old is None else old + g
        return
    if old is None:
        t._grad = _wrap(g._data if steal else np.array(g._data, order="C"))
    elif not old._rg and old._data.flags.writeable:
        np.add(old._data, g._data, out=old._data, casting="unsafe")
        old._bump()
    else:
        t._grad = old.detach() + g


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate d(tensors)/d(leaf) into every leaf's .grad (or only into `inputs`' .grad,
    leaves or not, when given)."""
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    if isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors]
    if tensors and not isinstance(tensors[0], Tensor) and hasattr(tensors[0], "graph"):
        # a graph being built (dg.function, a graph block): what loss.backward() does there
        from ..graph.gradients import graph_backward
        gs = list(grad_tensors) if grad_tensors is not None else [None] * len(tensors)
        for t, g in zip(tensors, gs):
            graph_backward(t, g, inputs)
        return
    if retain_graph is None:
        retain_graph = create_graph
    seeds = _seeds(tensors, grad_tensors)
    if inputs is not None:
        inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        got = reverse_pass(tensors, seeds, requires=_requires, capture=inputs,
                           create_graph=create_graph, tape=EagerTape(retain_graph, create_graph))
        for t, g in zip(inputs, got):
            if g is not None:
                _accumulate(t, g, create_graph, False)
        return
    # ids of the gradients and arrays handed to a .grad so far, and of the seeds (never stolen)
    stored = {id(s) for s in seeds}

    def accumulate(leaf, g):
        if not leaf._rg:
            return
        # one gradient object may reach two leaves (x + y, add's rule), or be the seed itself:
        # never let two .grad share one tensor
        gid = id(g)
        fresh = gid not in stored
        stored.add(gid)
        a = g._data
        steal = False
        if (fresh and not create_graph and not tape.hooked and not leaf._hooks
                and g.grad_fn is None and a.base is None):
            flags = a.flags
            dense = flags.c_contiguous and flags.writeable
            flags = None  # (a flags object holds a reference to its array: see getrefcount)
            ld = leaf._data
            steal = (dense and a.dtype == ld.dtype and a.shape == ld.shape and id(a) not in stored
                     and sys.getrefcount(a) == 3)  # (g's slot, a, the call)
        stored.add(id(a))
        _accumulate(leaf, g, create_graph, fresh, steal)

    tape = EagerTape(retain_graph, create_graph, accumulate)
    try:
        reverse_pass(tensors, seeds, requires=_requires, create_graph=create_graph, tape=tape)
    finally:
        tape.accumulate = None   # (accumulate reads `tape`: no cycle left for the cyclic GC)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=None, materialize_grads=False):
    """d(outputs)/d(inputs) returned as a tuple; .grad fields are left untouched."""
    outs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    if outs and not isinstance(outs[0], Tensor):  # a graph being built (dg.function): symbolic
        from ..graph.gradients import autograd_grad
        return autograd_grad(outs, inputs, grad_outputs, allow_unused, materialize_grads,
                             retain_graph, create_graph)
    if isinstance(outputs, Tensor):
        outputs = [outputs]
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    if retain_graph is None:
        retain_graph = create_graph
    seeds = _seeds(outputs, grad_outputs)
    for t in inputs:
        if not t.requires_grad:
            raise DGRuntimeError("One of the differentiated Tensors does not require grad")
    got = reverse_pass(outputs, seeds, requires=_requires, capture=inputs,
                       create_graph=create_graph, tape=EagerTape(retain_graph, create_graph))
    out = []
    for i, (t, g) in enumerate(zip(inputs, got)):
        if g is None:
            if materialize_grads:
                g = _wrap(np.zeros(t._data.shape, t._data.dtype))
            elif not allow_unused:
                raise DGRuntimeError(
                    f"The differentiated Tensor at index {i} appears to not have been used in the "
                    "graph. Set allow_unused=True if this is the desired behavior.")
        elif not create_graph:
            g = g.detach()
        out.append(g)
    return tuple(out)


def zero_grads(params, set_to_none=True):
    """What Module.zero_grad and Optimizer.zero_grad do to each parameter's .grad."""
    for p in params:
        if set_to_none:  # a write only: a traced step need not depend on whether .grad existed
            p.grad = None
            continue
        g = p.grad
        if g is None:
            continue
        else:
            if g.grad_fn is not None:
                g.detach_()
            else:
                g.requires_grad_(False)
            g.zero_()


# --- torch.autograd.functional: vjp, jvp, jacobian, hessian (eager; built on grad) -----------

def _as_tuple(x):
    return (tuple(x), True) if isinstance(x, (tuple, list)) else ((x,), False)


def _prep_inputs(inputs):
    ins, is_tuple = _as_tuple(inputs)
    return tuple(i.detach().requires_grad_(True) for i in ins), is_tuple


def _zeros_of(t):
    return _wrap(np.zeros(tuple(t.shape), dtype=t.detach().numpy().dtype))


def _grads_or_zeros(outs, ins, grad_outputs, create_graph, strict):
    gs = grad(outs, ins, grad_outputs, retain_graph=True, create_graph=create_graph, allow_unused=True)
    res = []
    for i, (g, x) in enumerate(zip(gs, ins)):
        if g is None:
            if strict:
                raise DGRuntimeError(f"The output of the user-provided function is independent of "
                                     f"input {i}. This is not allowed in strict mode.")
            g = _zeros_of(x)
        res.append(g if create_graph else g.detach())
    return tuple(res)


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T J) as torch.autograd.functional.vjp."""
    ins, in_tuple = _prep_inputs(inputs)
    outs, out_tuple = _as_tuple(func(*ins))
    if v is None:
        if len(outs) != 1 or outs[0].numel() != 1:
            raise DGRuntimeError("The vector v can only be None if the user-provided function "
                                 "returns a single Tensor with a single element.")
        v = (_wrap(np.ones(tuple(outs[0].shape), dtype=outs[0].detach().numpy().dtype)),)
    else:
        v, _ = _as_tuple(v)
    res = _grads_or_zeros(list(outs), list(ins), list(v), create_graph, strict)
    outs = tuple(o if create_graph else o.detach() for o in outs)
    return (outs if out_tuple else outs[0]), (res if in_tuple else res[0])


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    """torch.autograd.functional.jacobian (row by row, reverse mode; vectorize is accepted and
    ignored). Output i, input j: a tensor of shape out_i.shape + in_j.shape."""
    if strategy not in ("reverse-mode", "forward-mode"):
        raise DGRuntimeError('Expected strategy to be either "forward-mode" or "reverse-mode".')
    ins, in_tuple = _prep_inputs(inputs)
    outs, out_tuple = _as_tuple(func(*ins))
    table = []
    for o in outs:
        flat = o.reshape(-1)
        n = flat.shape[0]
        rows = [[] for _ in ins]
        for k in range(n):
            gs = _grads_or_zeros([flat[k]], list(ins), None, create_graph, strict)
            for j, g in enumerate(gs):
                rows[j].append(g.detach().numpy() if not create_graph else g)
        row = []
        for j, x in enumerate(ins):
            shape = tuple(o.shape) + tuple(x.shape)
            if create_graph and n:
                from ..ops.shape import stack  # noqa: PLC0415
                row.append(stack(rows[j]).reshape(shape))
            else:
                dt = x.detach().numpy().dtype
                arr = np.stack(rows[j]) if n else np.zeros((0,) + tuple(x.shape), dt)
                row.append(_wrap(arr.reshape(shape).astype(dt, copy=False)))
        table.append(tuple(row) if in_tuple else row[0])
    return (tuple(table) if out_tuple else table[0])


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J v) as torch.autograd.functional.jvp (computed from the Jacobian)."""
    ins, in_tuple = _prep_inputs(inputs)
    outs, out_tuple = _as_tuple(func(*ins))
    if v is None:
        if len(ins) != 1 or ins[0].numel() != 1:
            raise DGRuntimeError("The vector v can only be None if the input to the user-provided "
                                 "function is a single Tensor with a single element.")
        v = (_wrap(np.ones(tuple(ins[0].shape), dtype=ins[0].detach().numpy().dtype)),)
    else:
        v, _ = _as_tuple(v)
    J = jacobian(func, tuple(ins), strict=strict)
    J = J if out_tuple else (J,)
    res = []
    for i, o in enumerate(outs):
        acc = np.zeros(tuple(o.shape), dtype=o.detach().numpy().dtype)
        for j, x in enumerate(ins):
            jm = J[i][j].detach().numpy().reshape(int(np.prod(o.shape, dtype=int)), -1)
            acc = acc + (jm @ v[j].detach().numpy().reshape(-1)).reshape(acc.shape)
        res.append(_wrap(acc.astype(o.detach().numpy().dtype, copy=False)))
    outs = tuple(o.detach() for o in outs)
    res = tuple(res)
    return (outs if out_tuple else outs[0]), (res if out_tuple else res[0])


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False, outer_jacobian_strategy="reverse-mode"):
    """torch.autograd.functional.hessian: the Jacobian of the gradient of a scalar func."""
    ins, in_tuple = _prep_inputs(inputs)

    def grad_fn(*xs):
        out = func(*xs)
        if out.numel() != 1:
            raise DGRuntimeError("The function given to hessian should return a single Tensor "
                                 "with a single element")
        gs = _grads_or_zeros([out.reshape(())], list(xs), None, True, strict)
        return gs if in_tuple else gs[0]
    return jacobian(grad_fn, ins if in_tuple else ins[0], create_graph, strict)
