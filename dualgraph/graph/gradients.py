"""Symbolic gradients: `dg.gradients` (tf.gradients) and `loss.backward()` in graph mode.

Both call the very reverse pass eager `backward()` uses (autograd/engine.py) with the same vjp
rules; because a graph is being built, each rule adds backward nodes instead of computing.
"""
import networkx as nx

from ..errors import DGTypeError, DGRuntimeError
from ..autograd.engine import reverse_pass
from ..mode import push
from ..ops.dispatch import apply
from ..ops.creation import full_op, full_like_op
from .builder import GraphInterpreter
from .core import SymbolicTensor, VARIABLE, ASSIGN, SOURCE_OPS


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _is_eager(x):
    from ..tensor import Tensor
    return isinstance(x, Tensor)


def _ones_like(y):
    if None not in y.shape:
        return apply(full_op, shape=tuple(y.shape), fill_value=1, dtype=y._dtype)
    return apply(full_like_op, y, fill_value=1, dtype=None)


def _on_path(graph, xs, ys):
    """Tensors that depend on some x and feed some y: the ones worth differentiating."""
    G = graph.to_networkx()
    down = set()
    for x in xs:
        down |= nx.descendants(G, x.node.name) | {x.node.name}
    up = set()
    for y in ys:
        up |= nx.ancestors(G, y.node.name) | {y.node.name}
    return down & up


def gradients(ys, xs, grad_ys=None, name="gradients"):
    """d(sum of ys)/d(x) for each x, as symbolic tensors (None where x does not reach ys)."""
    ys = _as_list(ys)
    xs = _as_list(xs)
    graph = next((t.graph for t in ys if isinstance(t, SymbolicTensor)), None)
    if graph is not None:  # eager tensors (a module's parameters) are the graph's variables
        xs = [graph.capture(x) if _is_eager(x) else x for x in xs]
    for t in ys + xs:
        if not isinstance(t, SymbolicTensor):
            raise DGTypeError(
                f"dg.gradients works on graph-mode tensors; got {type(t).__name__}. In eager mode "
                "use loss.backward() or dg.autograd.grad.")
    graph = ys[0].graph
    names = _on_path(graph, xs, ys)
    interp = GraphInterpreter(graph)
    from ..mode import name_scope
    with push(interp), name_scope(name):
        if grad_ys is None:
            seeds = [_ones_like(y) for y in ys]
        else:
            seeds = [_ones_like(y) if g is None else interp.lift(g) for y, g in zip(ys, _as_list(grad_ys))]
        got = reverse_pass(ys, seeds, requires=lambda x: x.node.name in names, capture=xs,
                           retain_graph=True, create_graph=True)
    return got


def graph_backward(loss, gradient=None, inputs=None):
    """loss.backward() while building: record symbolic grads of trainable variables and of
    tensors with requires_grad, so code written for eager mode also builds a training graph."""
    graph = loss.graph
    if gradient is None and None not in loss.shape and len(loss.shape) and _numel(loss.shape) != 1:
        raise DGRuntimeError("grad can be implicitly created only for scalar outputs")
    G = graph.to_networkx()
    anc = nx.ancestors(G, loss.node.name)
    if inputs is not None:
        targets = [graph.capture(t) if not isinstance(t, SymbolicTensor) else t for t in _as_list(inputs)]
    else:
        targets = [graph._by_name[n].out for n in anc
                   if graph._by_name[n].op in SOURCE_OPS and graph._by_name[n].out._rg]
    targets.sort(key=lambda t: t.node.seq)
    if not targets:
        raise DGRuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
    grads = gradients([loss], targets, None if gradient is None else [gradient])
    for t, g in zip(targets, grads):
        if g is None:
            continue
        ref = t.node.attrs.get("ref") if t.node.op in (VARIABLE, ASSIGN) else None
        if ref is not None:
            old = graph.grads.get(id(ref))
            graph.grads[id(ref)] = g if old is None else old + g
            t._grad = graph.grads[id(ref)]
        else:
            t._grad = g if t._grad is None else t._grad + g


def _numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n
