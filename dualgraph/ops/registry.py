"""The operator registry: every operator is one `Op` record, defined once.

An Op holds
  forward(*arrays, **attrs) -> ndarray   the numpy kernel (no dualgraph types inside)
  infer(*specs, **attrs) -> Spec         the shape/dtype rule; specs may hold None dims.
                                         Graph mode runs it at build time; eager mode runs it
                                         only to explain a kernel failure, or always when the
                                         numpy kernel is laxer than PyTorch (check_eager=True).
  vjp(g, node) -> tuple                  the backward rule, written with dualgraph ops, given one
                                         uniform view of its node: node.inputs, node.out,
                                         node.attrs, node.needs (eager tape node or graph node
                                         alike). The op families define ops without it; the
                                         rules live in ops/vjps/ and are attached with `defvjp`,
                                         once per op.
and flags the autograd engine and the compiler read.
"""
from ..errors import DGRuntimeError

OPS = {}


class Spec:
    """Static description of a tensor: shape (tuple, None = unknown dim) and numpy dtype."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype):
        self.shape = tuple(shape)
        self.dtype = dtype

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"Spec({list(self.shape)}, {self.dtype})"


class Op:
    __slots__ = (
        "name", "forward", "infer", "vjp", "elementwise", "view", "inplace", "random",
        "stateful", "differentiable", "saves", "saves_output", "check_eager", "ufunc",
        "torch_name", "doc", "graph_only", "source", "may_alias", "out_kernel", "no_value",
        "subgraphs", "input_used", "subgraph_reads", "element_inputs",
        "_grad_allowed",
    )

    def __init__(self, name, forward, infer, vjp=None, *, elementwise=False, view=False,
                 inplace=False, random=False, stateful=False, differentiable=True, saves=None,
                 saves_output=False, check_eager=False, ufunc=None, torch_name=None, doc="",
                 graph_only=False, source=False, may_alias=False, out_kernel=None,
                 no_value=False, subgraphs=False, input_used=None,
                 subgraph_reads=None, element_inputs=None):
        self.name = name
        self.forward = forward
        self.infer = infer
        self.elementwise = elementwise   # same-shape elementwise map: fusable, out= capable
        self.view = view                 # result aliases its first input's memory
        self.inplace = inplace
        self.random = random             # samples anew at each run
        self.stateful = stateful         # reads/writes state outside its inputs (variables)
        # differentiable: it has a backward rule (defvjp) and was not declared otherwise
        self._grad_allowed = differentiable
        self.vjp = None
        self.differentiable = False
        if vjp is not None:
            defvjp(self, vjp)
        # which inputs the backward rule reads the *values* of: None = all, a tuple of input
        # indices, or a rule saves(inputs, needs) -> indices, for a backward that reads an input
        # only in some cases (needs[i]: whether input i's gradient is computed; see reads_for).
        # Used by the version-counter check that refuses a backward through a tensor modified in
        # place, by in-place ops (whether the overwritten value must be kept) and by freeing.
        self.saves = saves
        self.saves_output = saves_output
        self.check_eager = check_eager
        self.ufunc = ufunc               # the numpy ufunc, when the kernel is one (out= reuse)
        self.torch_name = torch_name or "".join(p.capitalize() for p in name.split("_"))
        self.doc = doc
        self.graph_only = graph_only     # a graph's source, state or control-flow op (no eager use)
        self.source = source             # bound by the plan (placeholder, variable, constant)
        # the compiler's knowledge of the op (graph/liveness.py, graph/plan.py):
        self.may_alias = may_alias       # not a view, yet the result may share its first input's
        #                                  memory (sum_to of a same-shape value, contiguous, assign)
        self.out_kernel = out_kernel     # a callable taking the input arrays and out= (np.matmul),
        #                                  used when every input has the result's dtype; attrs are
        #                                  not passed. A ufunc kernel needs none: `ufunc` is one.
        #                                  An elementwise op's out= may be one of its inputs (the
        #                                  plan writes into an input that dies there): it must
        #                                  read what it needs of its inputs before writing out
        self.no_value = no_value         # an operation, not a value (group): fetches as None
        self.subgraphs = subgraphs       # control flow: attrs hold compiled subgraphs (cond, while)
        # control flow: input_used(node, i) -> None when every run uses input i, else a graph
        # boolean saying whether this run does (the branch taken uses it, the loop ran), so a
        # gradient that eagerly would not exist (.grad None) is caught (graph/gradients.py)
        self.input_used = input_used
        # control flow: subgraph_reads(node) -> the inputs whose values the rules inside its
        # subgraphs read (the eager version check's `saves`, for a node that has no rule of its own)
        self.subgraph_reads = subgraph_reads
        # control flow (every op with subgraphs gives it): element_inputs(node, i, index) ->
        # whether a gradient from element `index` of the op's tuple reaches input i (a loop
        # result: the variables and captures its body computes it from; graph/gradients.py)
        self.element_inputs = element_inputs

    def __repr__(self):
        return f"<op {self.name}>"


def reads_for(*per_input):
    """A `saves` rule from, for each input, the inputs its gradient formula reads.

    mul: reads_for((1,), (0,)): d(a*b)/da reads b, d(a*b)/db reads a, so `w * x` with only w
    requiring grad pins x and not w, and `w * 3` pins nothing (PyTorch saves the same)."""
    def saves(inputs, needs):
        out = ()
        for i, r in enumerate(per_input[:len(inputs)]):  # (an optional input may be absent)
            if needs is None or needs[i]:
                out += r
        return out
    return saves


def CROSS(inputs, needs):
    """reads_for((1,), (0,)), spelt out (it runs for every mul node of a backward): bilinear
    ops (mul, mm, matmul, dot, outer, bmm) read the other operand for each gradient."""
    if needs is None:
        return (1, 0)
    if needs[0]:
        return (1, 0) if needs[1] else (1,)
    return (0,) if needs[1] else ()


def defop(name, forward, infer, vjp=None, **flags):
    """Register the op `name`. The op families give no `vjp` (their rules are in ops/vjps/);
    the graph-only ops of graph/ still give theirs here, which goes through `defvjp` too."""
    if name in OPS:
        raise DGRuntimeError(f"operator {name!r} defined twice")
    op = Op(name, forward, infer, vjp, **flags)
    OPS[name] = op
    return op


def defvjp(op, rule=None):
    """Attach `rule` as the backward rule of `op`; `@defvjp(op)` as a decorator. An op has one
    rule: a second one raises (never two copies of a gradient)."""
    if rule is None:
        def attach(rule):
            defvjp(op, rule)
            return rule
        return attach
    if op.vjp is not None:
        raise DGRuntimeError(
            f"operator {op.name!r} already has a backward rule ({_rule_name(op.vjp)}); "
            f"refusing a second one ({_rule_name(rule)})")
    op.vjp = rule
    op.differentiable = op._grad_allowed
    return rule


def _rule_name(rule):
    return f"{getattr(rule, '__module__', '?')}.{getattr(rule, '__qualname__', repr(rule))}"
