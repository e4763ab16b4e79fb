"""Graph, graph nodes and symbolic tensors (TensorFlow 1.x style, PyTorch-style methods).

A `GraphNode` offers a vjp rule the same view an eager tape node does (`inputs`, `out`,
`attrs`), so the shared reverse pass in autograd/engine.py runs over graphs unchanged.
"""
import itertools

import numpy as np

from ..errors import DGTypeError, DGValueError, DGRuntimeError
from ..ops.registry import Op, Spec
from ..tensor_methods import TensorMethods, Size


# ---------------------------------------------------------------- graph-only source/state ops
def _no_kernel(*a, **k):
    raise DGRuntimeError("source nodes are bound by the executor, not run as kernels")


PLACEHOLDER = Op("placeholder", _no_kernel, lambda shape, dtype: Spec(shape, dtype),
                 differentiable=False, stateful=True, doc="a value fed at each run")
VARIABLE = Op("variable", _no_kernel, lambda ref, dtype=None: Spec(ref._data.shape, ref._data.dtype),
              differentiable=False, stateful=True, doc="reads a value that persists across runs")
CONSTANT = Op("constant", _no_kernel, lambda value: Spec(value.shape, value.dtype),
              differentiable=False, doc="a value baked into the graph")


def _assign_kernel(ref_value, value, ref):
    np.copyto(ref._data, value, casting="same_kind")
    return ref._data


ASSIGN = Op("assign", _assign_kernel, lambda cur, value, ref: Spec(cur.shape, cur.dtype),
            differentiable=False, stateful=True, doc="writes a new value into a variable")
SOURCE_OPS = (PLACEHOLDER, VARIABLE, CONSTANT)


class GraphNode:
    __slots__ = ("op", "inputs", "attrs", "seq", "name", "out", "graph", "hooks", "retained",
                 "freed", "versions", "out_version", "needs_grad", "control_inputs")

    def __init__(self, graph, op, inputs, attrs, spec, name, seq):
        self.graph = graph
        self.op = op
        self.inputs = inputs
        self.attrs = attrs
        self.seq = seq
        self.name = name
        self.hooks = None
        self.retained = None
        self.freed = False
        self.versions = None
        self.out_version = None
        self.needs_grad = None
        self.control_inputs = ()
        self.out = SymbolicTensor(self, spec)

    def release(self):
        pass  # a graph keeps its nodes: gradients can be taken again

    def __repr__(self):
        return f"<node {self.name}: {self.op.name}>"


class Graph:
    """A define-then-run graph: nodes in creation order, compiled by networkx passes."""

    def __init__(self, name=None):
        self.name = name
        self.nodes = []
        self._names = {}
        self._by_name = {}
        self._seq = itertools.count()
        self._scope = []
        self._captures = {}       # id(eager tensor) -> symbolic read of it (current value)
        self._captured = {}       # id(eager tensor) -> eager tensor (kept alive)
        self.grads = {}           # id(eager tensor) -> symbolic .grad set by backward()
        self.updates = []         # assign nodes, in program order
        self.finalized = False

    # ---- building
    def unique_name(self, base):
        base = "/".join(self._scope + [base]) if self._scope else base
        n = self._names.get(base)
        if n is None:
            self._names[base] = 1
            name = base
        else:
            self._names[base] = n + 1
            name = f"{base}_{n}"
        while name in self._by_name:
            name = f"{name}_"
        return name

    def add_node(self, op, inputs, attrs, spec, name=None):
        if self.finalized:
            raise DGRuntimeError("Graph is finalized and cannot be modified.")
        node = GraphNode(self, op, tuple(inputs), attrs, spec,
                         self.unique_name(name or op.name), next(self._seq))
        self.nodes.append(node)
        self._by_name[node.name] = node
        return node

    def get_tensor_by_name(self, name):
        key = name[:-2] if name.endswith(":0") else name
        node = self._by_name.get(key)
        if node is None:
            raise DGValueError(f"The name '{name}' refers to a Tensor which does not exist in graph {self!r}.")
        return node.out

    def get_operation_by_name(self, name):
        return self.get_tensor_by_name(name).node

    def as_default(self):
        from ..mode import graph_mode
        return graph_mode(self)

    def capture(self, t):
        """An eager tensor used in this graph: read it as a variable, by reference."""
        key = id(t)
        cur = self._captures.get(key)
        if cur is None:
            node = self.add_node(VARIABLE, (), {"ref": t, "trainable": bool(t._rg)},
                                 Spec(t._data.shape, t._data.dtype), name="captured")
            cur = node.out
            cur._rg = bool(t._rg)
            self._captures[key] = cur
            self._captured[key] = t
        return cur

    def assign(self, ref, value):
        """Write `value` into eager tensor `ref` when the graph runs; later reads see it."""
        cur = self.capture(ref)
        from ..ops.dispatch import apply
        from ..mode import current
        if not isinstance(value, SymbolicTensor):
            value = current().lift(value)
        if tuple(value.shape) != tuple(cur.shape):
            value = apply(_broadcast_op(), value, shape=tuple(cur.shape))
        node = self.add_node(ASSIGN, (cur, value), {"ref": ref}, Spec(cur.shape, cur._dtype),
                             name="assign")
        self.updates.append(node)
        out = node.out
        out._rg = cur._rg
        self._captures[id(ref)] = out
        return out

    def variables(self, trainable_only=False):
        out = []
        for n in self.nodes:
            if n.op is VARIABLE and (not trainable_only or n.attrs["trainable"]):
                out.append(n.out)
        return out

    def trainable_variables(self):
        return self.variables(True)

    # ---- analysis
    def to_networkx(self):
        from .networkx_view import to_networkx
        return to_networkx(self)

    def summary(self):
        from collections import Counter
        c = Counter(n.op.name for n in self.nodes)
        lines = [f"Graph{' ' + self.name if self.name else ''}: {len(self.nodes)} nodes"]
        lines += [f"  {k:<16}{v}" for k, v in sorted(c.items(), key=lambda kv: -kv[1])]
        return "\n".join(lines)

    def compile(self, fetches, feeds=None, optimize=True, updates=()):
        """A callable plan computing `fetches` (and running the assign ops in `updates`)."""
        from .compiler import compile_graph
        return compile_graph(self, fetches, feeds, optimize=optimize, updates=updates)

    def finalize(self):
        self.finalized = True

    def __repr__(self):
        return f"<dualgraph.Graph {self.name or hex(id(self))} with {len(self.nodes)} nodes>"


def _broadcast_op():
    from ..ops.unbroadcast import broadcast_to_op
    return broadcast_to_op


_CONTROL_HINT = ("Use dg.cond / dg.while_loop for control flow that depends on a graph value, "
                 "or run the graph (dg.Session(g).run(...) or g.compile(...)) to get a value.")


class SymbolicTensor(TensorMethods):
    """A graph-mode tensor: a node's output with a static shape (None = unknown dim)."""

    __slots__ = ("node", "_shape", "_dtype", "_grad", "_rg", "__weakref__")
    _hooks = None  # gradient hooks live on the producing node

    def __init__(self, node, spec):
        self.node = node
        self._shape = Size(spec.shape)
        self._dtype = spec.dtype
        self._grad = None
        self._rg = spec.dtype.kind == "f" and node.op not in (PLACEHOLDER, CONSTANT)

    @property
    def shape(self):
        return self._shape

    def get_shape(self):
        return self._shape

    def _np_dtype(self):
        return self._dtype

    @property
    def graph(self):
        return self.node.graph

    @property
    def name(self):
        return self.node.name

    @property
    def op(self):
        return self.node

    @property
    def grad_fn(self):
        n = self.node
        return None if n.op in SOURCE_OPS else n

    @property
    def is_leaf(self):
        return self.node.op in SOURCE_OPS

    @property
    def requires_grad(self):
        return self._rg

    def requires_grad_(self, flag=True):
        self._rg = bool(flag)
        return self

    @property
    def grad(self):
        return self._grad

    @grad.setter
    def grad(self, value):
        self._grad = value

    def numel(self):
        n = 1
        for d in self._shape:
            if d is None:
                raise DGTypeError(f"numel() of {self.name} is unknown until the graph runs (shape {list(self._shape)})")
            n *= d
        return n

    def is_contiguous(self, memory_format=None):
        return True

    def detach(self):
        from ..ops.dispatch import apply
        out = apply(STOP_GRADIENT, self)
        out._rg = False
        return out

    # ---- things a symbolic value cannot answer
    @property
    def _data(self):
        raise DGTypeError(
            f"symbolic tensor {self.name!r} has no value while the graph is being built. " + _CONTROL_HINT)

    def numpy(self):
        raise DGTypeError(
            f"numpy() of symbolic tensor {self.name!r}: a graph-mode tensor has no value until "
            "the graph runs. Run it: dg.Session(graph).run(tensor, feed_dict) or graph.compile(...).")

    def item(self):
        raise DGTypeError(f"item() of symbolic tensor {self.name!r}: it has no value until the graph runs. " + _CONTROL_HINT)

    def tolist(self):
        return self.item()

    def __bool__(self):
        raise DGTypeError(
            f"Using a symbolic tensor ({self.name!r}) as a Python bool is not allowed in graph "
            "mode: its value is unknown until the graph runs. " + _CONTROL_HINT)

    def __len__(self):
        if not self._shape:
            raise DGTypeError("len() of a 0-d tensor")
        if self._shape[0] is None:
            raise DGTypeError(
                f"len() of symbolic tensor {self.name!r} is unknown: its first dimension is not "
                "known until the graph runs. " + _CONTROL_HINT)
        return self._shape[0]

    def __iter__(self):
        n = len(self)
        return iter(self.unbind(0)) if n else iter(())

    def __float__(self):
        return self.item()

    __int__ = __index__ = __float__

    def __array__(self, *a, **k):
        return self.numpy()

    def __repr__(self):
        from ..dtypes import from_np
        shape = "(" + ", ".join("None" if d is None else str(d) for d in self._shape) + ("," if len(self._shape) == 1 else "") + ")"
        return f"<dg.SymbolicTensor '{self.name}' shape={shape} dtype={from_np(self._dtype).name}>"

    # ---- graph-mode autograd and state
    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        from .gradients import graph_backward
        graph_backward(self, gradient, inputs)

    def register_hook(self, hook):
        n = self.grad_fn
        if n is None:
            raise DGRuntimeError("register_hook on a graph source tensor is not supported")
        from ..tensor import RemovableHandle, _HookDict
        if n.hooks is None:
            n.hooks = _HookDict()
        h = RemovableHandle(n.hooks)
        n.hooks[h.id] = hook
        return h

    def retain_grad(self):
        """Nothing to retain in a graph: dg.gradients can ask for any tensor's gradient."""

    def assign(self, value):
        ref = self._variable_ref()
        return self.graph.assign(ref, value)

    def load(self, value):
        """Write a value into the variable between runs (TensorFlow 1.x's Variable.load)."""
        ref = self._variable_ref()
        arr = np.asarray(value._data if hasattr(value, "_data") and not isinstance(value, SymbolicTensor) else value)
        if arr.shape != ref._data.shape:
            raise DGValueError(f"Variable {self.name!r} has shape {list(ref._data.shape)}; cannot load a value of shape {list(arr.shape)}")
        np.copyto(ref._data, arr, casting="same_kind")

    def read_value(self):
        """The variable's current value (a copy), read between runs."""
        return np.array(self._variable_ref()._data)

    def assign_add(self, delta):
        return self.assign(self + delta)

    def assign_sub(self, delta):
        return self.assign(self - delta)

    def _variable_ref(self):
        n = self.node
        if n.op is VARIABLE or n.op is ASSIGN:
            return n.attrs["ref"]
        raise DGTypeError(
            f"{self.name!r} is not a variable: only dg.Variable / captured tensors can be assigned "
            "in graph mode (graphs are functional: build a new tensor instead).")

    # In-place methods keep the Python program's sequential meaning in a functional graph: on a
    # variable they add an assign op; either way this Python object then names the new value,
    # while the nodes built earlier keep reading the old one.
    def _inplace_result(self, new):
        n = self.node
        if n.op is VARIABLE or n.op is ASSIGN:
            new = self.graph.assign(n.attrs["ref"], new)
        elif not isinstance(new, SymbolicTensor):
            from ..mode import current
            new = current().lift(new)
        if tuple(new.shape) != tuple(self._shape) and None not in self._shape:
            from ..ops.dispatch import apply
            new = apply(_broadcast_op(), new, shape=tuple(self._shape))
        if new._dtype != self._dtype:
            new = new.to(self.dtype)
        self._rebind(new)
        return self

    def _rebind(self, new):
        g = self.graph
        old = SymbolicTensor.__new__(SymbolicTensor)
        old.node, old._shape, old._dtype, old._grad, old._rg = (
            self.node, self._shape, self._dtype, self._grad, self._rg)
        self.node.out = old
        for n in g.nodes:
            if any(x is self for x in n.inputs):
                n.inputs = tuple(old if x is self else x for x in n.inputs)
        for k, v in list(g._captures.items()):
            if v is self:
                g._captures[k] = old
        self.node, self._shape, self._dtype, self._rg = new.node, new._shape, new._dtype, new._rg
        self._grad = None
        new.node.out = self
        for k, v in list(g._captures.items()):
            if v is new:
                g._captures[k] = self

    def __setitem__(self, key, value):
        from ..ops import shape as S
        from ..ops.dispatch import apply
        index, tensors = S.split_index(key, lambda k: isinstance(k, TensorMethods))
        tensors = [t if isinstance(t, TensorMethods) else np.asarray(t) for t in tensors]
        self._inplace_result(apply(S.index_put_op, self, value, *tensors, index=index))

    def normal_(self, mean=0.0, std=1.0):
        from ..ops import creation as C
        from ..ops.dispatch import apply
        return self._inplace_result(apply(C.normal_like_op, self, mean=mean, std=std))

    def uniform_(self, a=0.0, b=1.0):
        from ..ops import creation as C
        from ..ops.dispatch import apply
        return self._inplace_result(apply(C.uniform_like_op, self, low=a, high=b))

    def add_(self, other, *, alpha=1):
        return self._inplace_result(self.add(other, alpha=alpha))

    def sub_(self, other, *, alpha=1):
        return self._inplace_result(self.sub(other, alpha=alpha))

    def mul_(self, other):
        return self._inplace_result(self * other)

    def div_(self, other):
        return self._inplace_result(self / other)

    def clamp_(self, min=None, max=None):
        return self._inplace_result(self.clamp(min, max))

    def copy_(self, src):
        return self._inplace_result(src)

    def fill_(self, value):
        from ..ops.creation import full_like
        return self._inplace_result(full_like(self, value))

    def zero_(self):
        return self.fill_(0)


STOP_GRADIENT = Op("stop_gradient", np.array, lambda x: Spec(x.shape, x.dtype), differentiable=False,
           doc="identity whose gradient is not propagated (detach)")


def placeholder(shape=None, dtype=None, name=None):
    """A graph input fed at each run; None marks a dimension known only then."""
    from ..mode import current_graph
    from ..dtypes import to_np, F32
    g = current_graph("dg.placeholder")
    if shape is None:
        raise DGValueError("dg.placeholder needs a shape (use None for unknown dimensions)")
    shape = tuple(None if d is None or d == -1 else int(d) for d in shape)
    dt = to_np(dtype) if dtype is not None else F32
    node = g.add_node(PLACEHOLDER, (), {"shape": shape, "dtype": dt}, Spec(shape, dt),
                      name=name or "Placeholder")
    return node.out


def constant(value, dtype=None, name=None, shape=None):
    """A value baked into the graph (an eager tensor when called eagerly)."""
    from ..mode import executing_eagerly, current_graph
    from ..dtypes import to_np
    from ..tensor import tensor, Tensor
    if isinstance(value, Tensor):
        arr = value._data.copy()
    else:
        arr = tensor(value)._data
    if dtype is not None:
        arr = arr.astype(to_np(dtype))
    if shape is not None:
        arr = np.broadcast_to(arr, tuple(shape)).copy()
    if executing_eagerly():
        from ..tensor import _wrap
        return _wrap(arr)
    g = current_graph("dg.constant")
    arr.flags.writeable = False
    return g.add_node(CONSTANT, (), {"value": arr}, Spec(arr.shape, arr.dtype),
                      name=name or "Const").out


def Variable(initial_value, name=None, trainable=True, dtype=None):
    """A value that persists across runs; assign ops update it. Eagerly: a leaf tensor."""
    from ..mode import executing_eagerly, current_graph, eager_mode
    from ..tensor import tensor, Tensor, _wrap
    from ..dtypes import to_np
    if isinstance(initial_value, SymbolicTensor):
        from .session import Session
        arr = np.array(Session(initial_value.graph).run(initial_value))
    elif isinstance(initial_value, Tensor):
        arr = initial_value._data.copy()
    else:
        with eager_mode():
            arr = tensor(initial_value)._data
    if dtype is not None:
        arr = arr.astype(to_np(dtype))
    store = _wrap(arr)
    if trainable and arr.dtype.kind == "f":
        store._rg = True
    if executing_eagerly():
        return store
    g = current_graph("dg.Variable")
    node = g.add_node(VARIABLE, (), {"ref": store, "trainable": bool(trainable)},
                      Spec(arr.shape, arr.dtype), name=name or "Variable")
    g._captures[id(store)] = node.out
    g._captured[id(store)] = store
    node.out._rg = bool(trainable) and arr.dtype.kind == "f"
    return node.out
