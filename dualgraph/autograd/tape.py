"""The eager tape: what recording an op keeps for backward, and the checks made before using it.

`Node` is one recorded op (a tensor's `grad_fn`): the op, its inputs and attrs, the output when
the rule reads it, the version of every input the rule reads (so a backward through a value
modified in place since is refused, as in PyTorch), and the hooks and retained-grad link the user
attaches. `_AccumulateGrad` stands for a leaf in `grad_fn.next_functions`. `next_seq()` numbers
nodes and history entries in creation order: the reverse pass's order (autograd/engine.py).

Backward rules never see a Node: the engine hands them a narrow view (engine.RuleView).
"""
import itertools
import re
import weakref

from ..dtypes import torch_name
from ..errors import DGRuntimeError
from ..ops.registry import Spec
from ..tensor import Tensor, wrap_array

_weak = weakref.ref

# creation order of tape nodes and of history entries (views.rebase); a builtin method, as it
# runs for every recorded op
next_seq = itertools.count().__next__

FREED = ("Trying to backward through the graph a second time (or directly access saved tensors "
         "after they have already been freed). Saved intermediate values of the graph are freed "
         "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
         "backward through the graph a second time or if you need to access saved tensors after "
         "calling backward.")


class Node:
    """A tape node (PyTorch's grad_fn): one recorded op and what its backward needs. Made by
    record(op, inputs, attrs, out) (no __init__: the bare class call is the cheapest way to
    make an object, and the eager interpreter makes one per recorded op; it also spells out
    record's node for ops whose rule reads no value, saves=(): keep the two alike)."""

    __slots__ = ("op", "inputs", "attrs", "seq", "versions", "out_version", "_out", "_out_vc",
                 "_meta", "hooks", "retained", "freed", "__weakref__")

    @property
    def out(self):
        """The output, for a rule that reads it (saves_output): the tensor itself while it
        lives, else the same array and version counter rewrapped, with this node as grad_fn
        (what PyTorch's saved output unpacks to). The node holds it weakly: the output holds
        the node (its grad_fn), and a strong link back would make a cycle that only Python's
        cyclic collector frees, keeping every such activation alive until it runs."""
        ref = self._out
        if ref is not None:
            t = ref()
            return t if t is not None else self._revived()
        if self.freed:
            raise DGRuntimeError(FREED)
        a = self._meta
        return Spec(a.shape, a.dtype)

    def _revived(self):
        t = wrap_array(self._meta)
        t._vc = self._out_vc
        t._rg = True
        t.grad_fn = self
        return t

    def release(self, needs):
        """Free what the backward just run (computing the gradients `needs` asked for) read.
        (engine.reverse_pass spells this out for every node it runs: keep the two alike.)"""
        op = self.op
        s = op.saves
        if s is None or op.saves_output or (s and (type(s) is tuple or s(self.inputs, needs))):
            self.freed = True
            self._out = None

    def display_name(self):
        call = self.attrs.get("call") if self.op.torch_name == "Custom" else None
        if call is not None:  # a dg.autograd.Function: its class's name, as PyTorch names it
            return f"{call.cls.__name__}Backward"
        return f"{self.op.torch_name}Backward0"

    # PyTorch's grad_fn.name() (y.grad_fn.name() == "MulBackward0"). A graph node's `.name` is
    # instead its unique name in the graph, a str (TensorFlow's op.name).
    name = display_name

    def __repr__(self):
        return f"<{self.display_name()} object>"

    # PyTorch users poke at grad_fn.next_functions
    @property
    def next_functions(self):
        return tuple(((x.grad_fn if x.grad_fn is not None else (_AccumulateGrad(x) if x.requires_grad else None)), 0)
                     for x in self.inputs if isinstance(x, Tensor))


def record(op, inputs, attrs, out):
    """The tape node of op(*inputs, **attrs), whose result is the tensor `out` (the eager
    interpreter records every op with it)."""
    n = Node()
    n.op = op
    n.inputs = inputs
    n.attrs = attrs
    n.seq = next_seq()
    n.hooks = None
    n.retained = None
    n.freed = False
    saves = op.saves
    if saves is None or (saves and type(saves) is not tuple):
        # every input's version (a rule saves(inputs, needs) picks at backward time which of
        # them the gradients asked for then really read: check_versions)
        if len(inputs) == 2:  # (spelt out: mul, div, matmul, ...)
            a, b = inputs
            if isinstance(a, Tensor):
                vc = a._vc
                va = vc[0] if vc is not None else 0
            else:
                va = None
            if isinstance(b, Tensor):
                vc = b._vc
                vb = vc[0] if vc is not None else 0
            else:
                vb = None
            n.versions = (va, vb)
        else:
            vs = []
            for x in inputs:
                if isinstance(x, Tensor):
                    vc = x._vc
                    vs.append(vc[0] if vc is not None else 0)
                else:
                    vs.append(None)
            n.versions = tuple(vs)
    elif saves:  # the versions of the inputs the rule reads (None for the others)
        vs = []
        for i, x in enumerate(inputs):
            if i in saves and isinstance(x, Tensor):
                vc = x._vc
                vs.append(vc[0] if vc is not None else 0)
            else:
                vs.append(None)
        n.versions = tuple(vs)
    else:
        n.versions = None
    if op.saves_output:  # (weakly: see Node.out)
        vc = out._vc
        if vc is None:
            vc = out._vc = [0]
        n._out = _weak(out)
        n._out_vc = vc
        n.out_version = vc[0]
    else:
        n._out = n._out_vc = None
        n.out_version = None
    n._meta = out._data  # shape/dtype for rules that need only those
    return n


class _AccumulateGrad:
    """A leaf in grad_fn.next_functions (PyTorch's AccumulateGrad node)."""

    def __init__(self, t):
        self.variable = t

    def display_name(self):
        return "AccumulateGrad"

    name = display_name

    def __repr__(self):
        return "<AccumulateGrad object>"


def check_versions(node, needs=None):
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
                    version_error(ins[i], v)
        else:
            for x, v in zip(node.inputs, vs):
                if v is not None and x._version != v:
                    version_error(x, v)
    if node.out_version is not None:
        out = node.out
        if out._version != node.out_version:
            version_error(out, node.out_version, node)


def rule_reads(op, inputs, needs):
    """The indices of the inputs whose values op's backward rule reads (its `saves`)."""
    saves = op.saves
    if saves is None:
        return range(len(inputs))
    return saves if type(saves) is tuple else saves(inputs, needs)


def node_reads(node, needs):
    """rule_reads of a graph node: for a dg.cond / dg.while_loop, the inputs the rules in its
    subgraphs read (eagerly those ops are their body's nodes, each saving what it reads)."""
    op = node.op
    if op.subgraph_reads is not None:
        return op.subgraph_reads(node)
    return rule_reads(op, node.inputs, needs)


def check_write_counts(node, needs):
    """A graph node built while dg.function traces (graph/builder.py records `versions`): refuse,
    as check_versions does eagerly, a rule that would read state written in place since."""
    vs = node.versions
    for i in node_reads(node, needs):
        e = vs[i]
        if e is not None and e[0].version != e[1]:
            held = getattr(e[0], "ref", None)
            t = held if held is not None else e[0].root
            base = t._version if held is not None else 0
            version_error(t, base + e[1], None, base + e[0].version)


def version_error(t, expected, producer=None, now=None):
    fn = producer or t.grad_fn
    where = ""
    if fn is not None:
        where = f", which is output 0 of {re.sub(r'Backward[0-9]*$', '', fn.display_name())},"
    raise DGRuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [dualgraph.{torch_name(t._np_dtype())} {list(t.shape)}]{where} is at version "
        f"{t._version if now is None else now}; expected version {expected} instead. Hint: the operation that failed "
        "to compute its gradient used this tensor's old value; clone() it before modifying it "
        "in place.")
