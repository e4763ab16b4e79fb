"""backward() and autograd.grad(): the eager entry points into the shared reverse pass.

`grad` on symbolic outputs (inside dg.function or a graph block) delegates to
graph/gradients.py: one lazy upward call, like Tensor.backward's."""
import numpy as np

from ..errors import DGRuntimeError
from ..tensor import Tensor, _wrap
from .engine import reverse_pass, EagerTape


def _seeds(outputs, grad_outputs):
    seeds = []
    for i, out in enumerate(outputs):
        g = grad_outputs[i] if grad_outputs is not None and i < len(grad_outputs) else None
        if not out.requires_grad:
            raise DGRuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if out.numel() != 1:
                raise DGRuntimeError("grad can be implicitly created only for scalar outputs")
            g = _wrap(np.ones(out._data.shape, dtype=out._data.dtype))
        else:
            if not isinstance(g, Tensor):
                g = _wrap(np.asarray(g, dtype=out._data.dtype))
            if tuple(g.shape) != tuple(out.shape):
                raise DGRuntimeError(
                    f"Mismatch in shape: grad_output[{i}] has a shape of dualgraph.Size({list(g.shape)}) "
                    f"and output[{i}] has a shape of dualgraph.Size({list(out.shape)}).")
        seeds.append(g)
    return seeds


def _requires(x):
    return x._rg


def _accumulate(t, g, create_graph, fresh):
    """t.grad += g, as PyTorch's AccumulateGrad: the first gradient is stored as a tensor of its
    own (never a view of something else), later ones are added in place (the .grad object stays
    the same) unless a graph of the gradient is being built."""
    old = t._grad
    if create_graph:
        t._grad = (g if fresh else g.clone()) if old is None else old + g
        return
    if old is None:
        t._grad = _wrap(np.array(g._data, order="C"))
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
    stored = set()

    def accumulate(leaf, g):
        if not leaf._rg:
            return
        # under create_graph one gradient object may reach two leaves (x + y, add's rule), or be
        # the seed itself: never let two .grad share one tensor
        fresh = id(g) not in stored and not any(g is s for s in seeds)
        stored.add(id(g))
        _accumulate(leaf, g, create_graph, fresh)

    reverse_pass(tensors, seeds, requires=_requires, create_graph=create_graph,
                 tape=EagerTape(retain_graph, create_graph, accumulate))


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=None, materialize_grads=False):
    """d(outputs)/d(inputs) returned as a tuple; .grad fields are left untouched."""
    outs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    if outs and not isinstance(outs[0], Tensor):  # a graph being built (dg.function): symbolic
        from ..graph.gradients import autograd_grad
        return autograd_grad(outs, inputs, grad_outputs, allow_unused, materialize_grads)
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
