"""The eager tape as a graph: `dg.autograd.tape_graph(t)` (the facade in autograd/__init__.py).

The tape that produced eager tensor `t` is the set of tape nodes (autograd/tape.py `Node`: op,
inputs, attrs, seq) reachable from `t.grad_fn` through the nodes' inputs, each input read as the
reverse pass reads it (autograd/engine.py `EagerTape.source`: the history an input had when the
node was recorded, so a value later modified in place still points at its old producer). It is
rebuilt as a `dg.Graph`:
- a leaf tensor that requires grad (a parameter, an input made with requires_grad=True), and any
  tensor passed in `inputs`, becomes a placeholder of its shape and dtype (requiring grad when the
  tensor does); its name is the one `names` gives it (`dict(model.named_parameters())`), else
  `input` (passed in `inputs`) or `leaf`;
- every other leaf value (data, targets, index tensors, values made under no_grad) becomes a
  constant holding its current value;
- each tape node, in recording order, is applied again through the graph interpreter (the same
  op record and attrs), so its shape and dtype are inferred as in any graph; it is named after
  its op (`matmul`, `relu`, `relu_1`, ...), like the nodes of a traced graph.
With `backward=True` the graph also holds the backward, built by `dg.gradients` of the outputs
(each seeded with ones, as `backward()` of a scalar) with respect to the placeholders that require grad, in the `gradients/` scope.

The graph's `tape` attribute says what is what: `outputs` (one symbolic tensor per tensor asked
for), `leaves` (pairs (eager tensor, its placeholder or constant)), `grads` (with backward: pairs
(placeholder that requires grad, its gradient or None)), `feeds` ({placeholder: a copy of its
tensor's value}: `dg.Session(g).run(g.tape.outputs, g.tape.feeds)` recomputes t) and `nodes`
(tape node -> graph node).
"""
import types

import numpy as np

from .errors import ExportError


def _tensors(t):
    from ..tensor import Tensor
    if isinstance(t, Tensor):
        return [t]
    if isinstance(t, (list, tuple)) and t and all(isinstance(x, Tensor) for x in t):
        return list(t)
    raise ExportError(f"tape_graph needs an eager tensor (or a list of them), got {type(t).__name__}")


def _requires(x):
    return x.requires_grad


def collect(outputs):
    """The tape nodes reachable from the outputs, in recording order, and for each node the
    source of each of its inputs ((key, route, input), or None for a non-tensor input): key is the
    tape node or leaf tensor the input came from when the node was recorded, route the stale
    view whose value it was (EagerTape.source)."""
    from ..autograd.engine import EagerTape
    from ..tensor_methods import TensorMethods
    source = EagerTape().source
    srcs = {}
    stack = [o.grad_fn for o in outputs if o.grad_fn is not None]
    while stack:
        n = stack.pop()
        if n in srcs:
            continue
        lst = []
        for x in n.inputs:
            if isinstance(x, TensorMethods):
                key, _, route = source(x, n.seq, _requires)
                lst.append((key, route, x))
                if not isinstance(key, TensorMethods) and key not in srcs:
                    stack.append(key)
            else:
                lst.append(None)
        srcs[n] = lst
    return sorted(srcs, key=lambda n: n.seq), srcs


def tape_graph(t, backward=False, inputs=None, names=None):
    """The tape that produced eager tensor `t` (or each tensor of a list) as a dg.Graph (see the
    module docstring); `backward=True` adds its backward (dg.gradients). `inputs`: tensors to
    make placeholders even if they do not require grad; `names`: {name: tensor} naming leaves."""
    from ..graph.core import Graph, PLACEHOLDER, CONSTANT
    from ..graph.builder import graph_mode
    from ..graph.gradients import gradients
    from ..ops.dispatch import apply
    from ..ops.registry import Spec
    from ..tensor import Tensor
    outs = _tensors(t)
    for o in outs:
        if o.grad_fn is None and not o.requires_grad:
            raise ExportError("tape_graph: the tensor has no tape (it was not computed from a tensor "
                              "that requires grad, or under dg.no_grad())")
    order, srcs = collect(outs)
    for n in order:
        call = n.attrs.get("call") if n.op.name == "custom_function" else None
        if call is not None and getattr(call.cls, "_compiled_outputs", False):
            raise ExportError(
                "tape_graph: the tape holds the outputs of a dg.function (CompiledFunctionBackward), "
                "a compiled plan with no tape inside to rebuild: export the function itself "
                "(dg.export / to_json(fn, x, ...)), or call it eagerly")
    named = {id(v): k for k, v in (names or {}).items()}
    fed = {id(x) for x in (inputs or ())}
    g = Graph("tape")
    leaves, made = {}, {}  # id(leaf tensor) -> symbolic; tape node -> symbolic
    pairs = []             # (leaf tensor, symbolic), in the order they were made

    def leaf(x):
        s = leaves.get(id(x))
        if s is not None:
            return s
        arr = x._data
        if x.requires_grad or id(x) in fed or id(x) in named:
            name = named.get(id(x)) or ("input" if id(x) in fed else "leaf")
            node = g.add_node(PLACEHOLDER, (), {"shape": tuple(arr.shape), "dtype": arr.dtype},
                              Spec(arr.shape, arr.dtype), name=name)
            node.out._rg = bool(x.requires_grad) and arr.dtype.kind == "f"
        else:
            value = np.array(arr)
            value.flags.writeable = False
            node = g.add_node(CONSTANT, (), {"value": value}, Spec(value.shape, value.dtype), name="Const")
        leaves[id(x)] = node.out
        pairs.append((x, node.out))
        return node.out

    with graph_mode(g):
        for o in outs:
            if o.grad_fn is None:
                leaf(o)
        for n in order:
            args = []
            for x, src in zip(n.inputs, srcs[n]):
                if src is None:
                    args.append(x)
                    continue
                key, route, tensor = src
                if route is not None:
                    # a view that was stale then (its base written since): its value as a leaf
                    args.append(leaf(tensor))
                elif isinstance(key, Tensor):
                    args.append(leaf(key))
                else:
                    args.append(made[key])
            try:
                made[n] = apply(n.op, *args, **n.attrs)
            except Exception as e:  # noqa: BLE001 - name the tape node that does not rebuild
                raise ExportError(f"tape_graph: tape node {n.display_name()} (op {n.op.name}) does not "
                                  f"rebuild in a graph: {type(e).__name__}: {e}") from None
        sym = [made[o.grad_fn] if o.grad_fn is not None else leaves[id(o)] for o in outs]
        grads = None
        if backward:
            wrt = [s for _, s in pairs if s.node.op is PLACEHOLDER and s.requires_grad]
            grads = gradients(sym, wrt) if wrt else []  # (seeded with ones, as backward())
            grads = list(zip(wrt, grads))
    feeds = {s: np.array(x._data) for x, s in pairs if s.node.op is PLACEHOLDER}
    g.tape = types.SimpleNamespace(outputs=sym, leaves=pairs, grads=grads, feeds=feeds,
                                   nodes={n: made[n].node for n in order})
    return g
