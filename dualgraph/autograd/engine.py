"""The reverse pass, shared by eager `backward()` and graph-mode `dg.gradients`.

It walks from the roots through `tensor.grad_fn` / `node.inputs`, visits nodes in reverse
creation order (a node's inputs always exist before it, so descending `seq` is a valid reverse
topological order: no sort of the graph is needed), calls each op's vjp rule and sums the
gradients that meet. Because the rules are written with dualgraph ops, the same loop computes
numbers in eager mode and adds backward nodes when a graph is being built.
"""
import warnings

from ..errors import DGRuntimeError
from ..state import _state
from ..tensor_methods import TensorMethods
from ..dtypes import torch_name


def _key(t):
    return t.grad_fn if t.grad_fn is not None else t


def _collect(roots):
    seen = set()
    stack = [r.grad_fn for r in roots if r.grad_fn is not None]
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        for x in n.inputs:
            if isinstance(x, TensorMethods):
                f = x.grad_fn
                if f is not None and f not in seen:
                    stack.append(f)
    return sorted(seen, key=_seq, reverse=True)


def _seq(n):
    return n.seq


def _check_versions(node):
    vs = node.versions
    if vs is not None:
        for x, v in zip(node.inputs, vs):
            if v is not None and x._version != v:
                _version_error(x, v)
    if node.out_version is not None:
        out = node.out
        if out._version != node.out_version:
            _version_error(out, node.out_version, node)


def _version_error(t, expected, producer=None):
    fn = producer or t.grad_fn
    where = f", which is output 0 of {fn.name()}," if fn is not None else ""
    raise DGRuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [dualgraph.{torch_name(t._data.dtype)} {list(t.shape)}]{where} is at version "
        f"{t._version}; expected version {expected} instead. Hint: the operation that failed "
        "to compute its gradient used this tensor's old value; clone() it before modifying it "
        "in place.")


FREED = ("Trying to backward through the graph a second time (or directly access saved tensors "
         "after they have already been freed). Saved intermediate values of the graph are freed "
         "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
         "backward through the graph a second time or if you need to access saved tensors after "
         "calling backward.")


def reverse_pass(roots, seeds, *, requires, retain_graph=False, create_graph=False,
                 capture=None, accumulate=None):
    """Propagate `seeds` (one gradient per root) back through the graph.

    requires(x) -> bool: whether input x wants a gradient (eager: x.requires_grad; graph mode:
        x lies on a path to the tensors asked for).
    capture: tensors whose total gradient is returned (autograd.grad / dg.gradients).
    accumulate(leaf, g): called for every leaf reached (eager backward() fills .grad with it).
    Returns the list of captured gradients (None where nothing flowed).
    """
    grads = {}
    for r, s in zip(roots, seeds):
        k = _key(r)
        grads[k] = s if k not in grads else grads[k] + s
    want = {}
    for i, t in enumerate(capture or ()):
        want.setdefault(_key(t), []).append(i)
    captured = [None] * len(capture or ())
    order = _collect(roots)

    prev = _state.grad_enabled
    _state.grad_enabled = create_graph
    try:
        for node in order:
            g = grads.pop(node, None)
            if g is None:
                continue
            if node.hooks:
                for h in list(node.hooks.values()):
                    r = h(g)
                    if r is not None:
                        g = r
            if node.retained is not None:
                t = node.retained()
                if t is not None:
                    t._grad = g if create_graph else g.detach()
            if node in want:
                for i in want[node]:
                    captured[i] = g
            if node.freed:
                raise DGRuntimeError(FREED)
            if node.versions is not None or node.out_version is not None:
                _check_versions(node)
            inputs = node.inputs
            needs = tuple(isinstance(x, TensorMethods) and requires(x) for x in inputs)
            node.needs_grad = needs
            gin = node.op.vjp(g, node)
            if not retain_graph:
                node.release()
            for x, gx, need in zip(inputs, gin, needs):
                if gx is None or not need:
                    continue
                k = _key(x)
                old = grads.get(k)
                grads[k] = gx if old is None else old + gx
        # whatever is left is keyed by leaf tensors
        for k, g in grads.items():
            if isinstance(k, TensorMethods):
                hooks = k._hooks
                if hooks:
                    for h in list(hooks.values()):
                        r = h(g)
                        if r is not None:
                            g = r
                if k in want:
                    for i in want[k]:
                        captured[i] = g
                if accumulate is not None:
                    accumulate(k, g)
    finally:
        _state.grad_enabled = prev
    return captured


def warn_non_leaf_grad():
    warnings.warn(
        "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
        "attribute won't be populated during autograd.backward(). If you indeed want the .grad "
        "field to be populated for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. "
        "If you access the non-leaf Tensor by mistake, make sure you access the leaf Tensor "
        "instead.", UserWarning, stacklevel=3)
