"""The reverse pass, shared by eager `backward()` and graph-mode `dg.gradients`.

It walks from the roots through `tensor.grad_fn` / `node.inputs`, visits nodes in reverse
creation order (a node's inputs always exist before it, so descending `seq` is a valid reverse
topological order: no sort of the graph is needed), calls each op's vjp rule and sums the
gradients that meet. Because the rules are written with dualgraph ops, the same loop computes
numbers in eager mode and adds backward nodes when a graph is being built.
"""
import re
import warnings

from ..errors import DGRuntimeError
from ..state import _state
from ..tensor_methods import TensorMethods
from ..dtypes import torch_name


def _key(t):
    return t.grad_fn if t.grad_fn is not None else t


def _src(x, seq, requires):
    """Where input x of the node made at `seq` sends its gradient: (key, wants grad, route).

    key is x's grad_fn (x itself for a leaf) *as it was when that node was made*: an in-place op
    later gives x a new history, logged on eager tensors (Tensor._history_at). route is None, or
    a stale eager view whose gradient must first be scattered into its base's shape."""
    if getattr(x, "_hist", None) is None:
        b = getattr(x, "_base", None)
        if b is None or getattr(b, "_hist", None) is None:
            f = x.grad_fn
            return (x if f is None else f), requires(x), None
    return x._history_at(seq)


def _collect(roots, requires):
    """Every node reachable from the roots, with the resolved source of each of its inputs."""
    srcs = {}
    stack = [r.grad_fn for r in roots if r.grad_fn is not None]
    while stack:
        n = stack.pop()
        if n in srcs:
            continue
        seq = n.seq
        lst = []
        for x in n.inputs:
            if isinstance(x, TensorMethods):
                s = _src(x, seq, requires)
                k = s[0]
                if not isinstance(k, TensorMethods) and k not in srcs:
                    stack.append(k)
                lst.append(s)
            else:
                lst.append(None)
        srcs[n] = lst
    return sorted(srcs, key=_seq, reverse=True), srcs


def _seq(n):
    return n.seq


def _needed(order, srcs, want):
    """The nodes worth running when only the gradients of `want` are asked for: those with a
    wanted tensor somewhere below them (PyTorch's autograd.grad runs no others)."""
    needed = set()
    for n in reversed(order):  # inputs' nodes come before their consumers
        for s in srcs[n]:
            if s is not None and (s[0] in want or s[0] in needed):
                needed.add(n)
                break
    return needed


def _check_versions(node, needs=None):
    """Refuse a backward whose rule would read a value modified in place since the node was
    made. Only what the rule really reads counts: an op whose `saves` is a rule
    saves(inputs, needs) (mul, div, indexing, ...) is asked which inputs the gradients computed
    now need (`w * 3` reads nothing of w; `w * x` reads x for w's gradient, w only for x's)."""
    vs = node.versions
    if vs is not None:
        saves = node.op.saves
        if saves is not None and type(saves) is not tuple:
            ins = node.inputs
            for i in saves(ins, needs):
                v = vs[i]
                if v is not None and ins[i]._version != v:
                    _version_error(ins[i], v)
        else:
            for x, v in zip(node.inputs, vs):
                if v is not None and x._version != v:
                    _version_error(x, v)
    if node.out_version is not None:
        out = node.out
        if out._version != node.out_version:
            _version_error(out, node.out_version, node)


def _version_error(t, expected, producer=None):
    fn = producer or t.grad_fn
    label = (fn.name() if callable(fn.name) else fn.op.torch_name) if fn is not None else ""
    where = f", which is output 0 of {re.sub(r'Backward[0-9]*$', '', label)}," if fn is not None else ""
    raise DGRuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [dualgraph.{torch_name(t._np_dtype())} {list(t.shape)}]{where} is at version "
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
        Without it only the nodes leading to the captured tensors run (the others keep their
        saved values for a later backward).
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
    order, srcs = _collect(roots, requires)
    needed = _needed(order, srcs, want) if accumulate is None and want else None

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
                if t is not None:  # accumulates across backward calls, as a leaf's .grad
                    if t._grad is None:
                        t._grad = g if create_graph else g.detach().clone()
                    else:
                        t._grad = t._grad + g
            if node in want:
                for i in want[node]:
                    captured[i] = g
            if needed is not None and node not in needed:
                continue
            if not node.op.differentiable:  # graph mode: e.g. a random mask, a stop_gradient
                continue
            if node.freed:
                raise DGRuntimeError(FREED)
            node_srcs = srcs[node]
            needs = tuple(s is not None and s[1] for s in node_srcs)
            if node.versions is not None or node.out_version is not None:
                _check_versions(node, needs)
            node.needs_grad = needs
            gin = node.op.vjp(g, node)
            if not retain_graph:
                node.release()
            for s, gx, need in zip(node_srcs, gin, needs):
                if gx is None or not need:
                    continue
                k, _, route = s
                if route is not None:
                    gx = route._grad_to_base(gx)
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


def warn_non_leaf_grad(stacklevel=3):
    warnings.warn(
        "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
        "attribute won't be populated during autograd.backward(). If you indeed want the .grad "
        "field to be populated for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. "
        "If you access the non-leaf Tensor by mistake, make sure you access the leaf Tensor "
        "instead.", UserWarning, stacklevel=stacklevel)
