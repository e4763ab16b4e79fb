"""The executable plan: a flat list of steps, turned into straight-line Python.

`Plan` holds the optimised schedule. The first call with a new set of feed shapes specialises
it: concrete shapes are inferred once, liveness and buffer reuse are planned, and the steps are
emitted as the body of one generated function (`vN = kernel(vA, vB, out=vC)`, `del vM` after
last use). Buffers that must be allocated come from an arena made once per specialisation
(`out=bN`), updates of variables are computed straight into their memory, and results handed to
the caller are always fresh arrays. Every 0-d value is a 0-d array, as eagerly (a kernel's numpy
scalar is wrapped, or written through out=). Later calls with the same shapes run that function: no graph
walking, no dict lookups by name, no shape inference.

A node reaches the code as one record: the compiler makes a `Step` per scheduled node of the
networkx form, and specialising copies it with the concrete shape, the kernel and the memory
facts that liveness (`plan_memory`) and the code generator read. Source nodes (placeholder,
variable, constant) are bound through one table, `SOURCE_BINDERS`; what else the plan knows of
an op is a flag on its record (`ufunc`, `out_kernel`, `may_alias`, `no_value`), apart from the
write itself (`ASSIGN`: args (state's current value, value), attrs["ref"]).
"""
import time

import numpy as np

from ..errors import DGRuntimeError, DGTypeError, DGValueError, DualGraphError
from ..ops.common import fmt_shape, numel
from ..ops.elementwise import SCALAR_CAST_UFUNCS, cast_ufunc
from ..ops.registry import Spec
from .core import PLACEHOLDER, VARIABLE, CONSTANT, ASSIGN, STATE_OPS
from .liveness import plan_memory, aliases_input
from .passes.fuse_elementwise import fuse, get_fusion, _BACKEND


# ---------------------------------------------------------------- how the plan binds sources
class _Feed:
    """A placeholder: the caller passes its value (a parameter of the generated function)."""
    fed = True

    def spec(self, step, fed):
        return fed[step.name]

    def value(self, step, fed):
        return fed[step.name]

    def code(self, step, i, ns):
        return None  # bound as a parameter of run()


class _Variable:
    """A variable read: the state's memory, read when the plan runs (the tensor's array may be
    replaced between runs: p.data = ...)."""
    fed = False

    def spec(self, step, fed):
        a = step.attrs["ref"]._data
        return a.shape, a.dtype

    def value(self, step, fed):
        return step.attrs["ref"]._data

    def code(self, step, i, ns):
        ns[f"r{i}"] = step.attrs["ref"]
        return f"r{i}._data"


class _Constant:
    """A constant: its array, baked into the plan."""
    fed = False

    def spec(self, step, fed):
        v = step.attrs["value"]
        return v.shape, v.dtype

    def value(self, step, fed):
        return step.attrs["value"]

    def code(self, step, i, ns):
        ns[f"c{i}"] = step.attrs["value"]
        return f"c{i}"


# every op flagged `source` (tests/test_compiler.py checks the two agree): spec(step, fed) its
# (shape, dtype) when the plan is specialised (fed: the feed specs by name), value(step, fed) its
# array now (fed: the feed arrays by name), code(step, i, ns) the expression of the generated
# function that reads it (None: a parameter), putting what it names into the namespace ns
SOURCE_BINDERS = {PLACEHOLDER: _Feed(), VARIABLE: _Variable(), CONSTANT: _Constant()}


def is_feed(op):
    """Whether nodes of op are fed by the caller (a placeholder)."""
    b = SOURCE_BINDERS.get(op)
    return b is not None and b.fed


class Step:
    """One scheduled node: everything specialisation, liveness and code generation read.

    The compiler makes one per scheduled node: name, op, args (each ("node", name) or ("lit",
    value)), attrs, the static shape (None = unknown dim) and dtype, in_ids (the names of the
    node arguments, in order) and source (the node's SOURCE_BINDERS entry, None for a computed
    value). Specialising the plan to concrete feed shapes makes a copy of each (`specialised`)
    with the concrete shape (None when known only at run time: a boolean mask), the kernel,
    whether it takes out=, and the memory facts liveness reads: out_capable, elementwise and
    writes_into (the state an update is computed straight into, or None)."""

    __slots__ = ("name", "op", "args", "attrs", "shape", "dtype", "in_ids", "source",
                 "kernel", "takes_out", "out_capable", "elementwise", "writes_into")

    def __init__(self, name, op, args, attrs, shape, dtype):
        self.name, self.op, self.args, self.attrs = name, op, args, attrs
        self.shape, self.dtype = shape, dtype
        self.in_ids = tuple(a for k, a in args if k == "node")
        self.source = SOURCE_BINDERS.get(op)
        if op.source and self.source is None:
            raise DGRuntimeError(f"source op {op.name!r} has no entry in plan.SOURCE_BINDERS")
        self.kernel, self.takes_out = op.forward, False
        self.out_capable = self.elementwise = False
        self.writes_into = None

    def specialised(self, shape, dtype, kernel, takes_out, optimize):
        s = Step.__new__(Step)
        s.name, s.op, s.args, s.attrs = self.name, self.op, self.args, self.attrs
        s.in_ids, s.source = self.in_ids, self.source
        s.shape, s.dtype, s.kernel, s.takes_out = shape, dtype, kernel, takes_out
        # (a 0-d result written through out= is a 0-d array, as every 0-d value of a plan is)
        s.out_capable = takes_out and shape is not None and optimize
        # (may write into a dying input: a ufunc, or an elementwise op's out_kernel, which the
        # registry asks to read its inputs before it writes: relu, relu_backward, tanh_backward)
        s.elementwise = self.op.elementwise and (self.op.ufunc is not None or self.op.out_kernel is not None)
        s.writes_into = None
        return s

    @property
    def fed(self):
        """A placeholder: its value is passed by the caller."""
        return is_feed(self.op)

    def __repr__(self):
        a = ", ".join(x if k == "node" else repr(x) for k, x in self.args)
        return f"{self.name} = {self.op.name}({a})"


def _fast_kernel(step, in_specs):
    """(callable, takes_out): call the bare numpy function when static dtypes allow it: the
    op's ufunc (with dtype= where a 0-d operand of another float width is cast, as the op's
    kernel casts it), or its out_kernel (np.matmul for mm, bmm, matmul)."""
    op = step.op
    uf = op.ufunc
    in_dtypes = [d for _, d in in_specs]
    if uf is not None and step.dtype.kind == "f" and not step.attrs \
            and all(k == "node" or isinstance(a, (int, float)) for k, a in step.args):
        if all(d == step.dtype for d in in_dtypes):
            return uf, True
        if uf in SCALAR_CAST_UFUNCS and all(d == step.dtype or (sh == () and d.kind == "f")
                                            for sh, d in in_specs):
            # (x / a float64 0-d: no fresh array per call, the same bits)
            return cast_ufunc(uf, step.dtype), True
    if op.out_kernel is not None and all(d == step.dtype for d in in_dtypes):
        bare = getattr(op.out_kernel, "ufunc", None)
        if bare is not None and _BACKEND[0] is None:
            # exp, log, ...: numpy's ufunc itself while the numba backend is off (a plan is
            # specialised again when it is turned on: ops/numba_loops.py)
            return bare, True
        return op.out_kernel, True
    # (a kernel whose eager-only checks graph mode made when the node was built)
    return getattr(op.forward, "plan_kernel", op.forward), False


class Plan:
    """Callable: plan(*arrays) in feed order, or plan(**{placeholder_name: array})."""

    def __init__(self, steps, feeds, fetches, structure, stats, optimize):
        self.steps = steps              # flat schedule (list of Step)
        self.feeds = feeds              # placeholder Steps in positional order
        self.fetches = fetches          # value names returned
        self.hidden = ()                # indices of fetches kept for a compiled backward only
        self._structure = structure     # rebuilds nested fetches
        self.stats = stats
        self.optimize = optimize
        self._feed_index = {f.name: i for i, f in enumerate(feeds)}
        self._compiled = {}
        self._backend = _BACKEND[0]     # the fusion setting the plans in _compiled were made under
        self.source = None
        # every fetched value that may share memory (a state read, a view) copied right where it
        # is computed, not when returned: each fetch is its value at its place in the program
        # (dg.check_consistency fetches every node and compares it with eager's value then)
        self.snapshot_fetches = False

    # ---- calling
    def __call__(self, *args, **kwargs):
        return self._structure(self._execute(self._bind(args, kwargs)))

    def run_unchecked(self, arrays):
        """The call path of dg.function: feeds already match the traced signature (checked
        once, when this signature is first specialised); returns the flat results."""
        return self._execute(arrays, checked=False)

    def _execute(self, arrays, checked=True):
        if self._backend != _BACKEND[0]:
            # specialised under the other fusion setting: fused loops (or not) and the numba
            # kernels eager code now uses (or not) would round differently: specialise again
            self._compiled.clear()
            self._backend = _BACKEND[0]
        sig = tuple([a.shape if type(a) is np.ndarray else _feed_shape(a) for a in arrays])
        fn = self._compiled.get(sig)
        if fn is None:
            if not checked:
                arrays = [check_feed(f, v) for f, v in zip(self.feeds, arrays)]
            fn = self._compiled[sig] = self._specialise([(_feed_shape(a), _feed_dtype(a)) for a in arrays])
        try:
            with np.errstate(all="ignore"):
                return fn(*arrays)
        except DualGraphError:
            raise
        except Exception as e:  # noqa: BLE001
            self._locate_failure([check_feed(f, v) for f, v in zip(self.feeds, arrays)], e)

    def _bind(self, args, kwargs):
        feeds = self.feeds
        if len(args) > len(feeds):
            raise DGTypeError(f"plan takes {len(feeds)} feeds ({', '.join(f.name for f in feeds)}), got {len(args)}")
        values = list(args) + [None] * (len(feeds) - len(args))
        for k, v in kwargs.items():
            k = k[:-2] if k.endswith(":0") else k
            i = self._feed_index.get(k)
            if i is None:
                raise DGValueError(f"{k!r} is not a placeholder this plan reads; it reads {[f.name for f in feeds]}")
            values[i] = v
        return [check_feed(f, v) for f, v in zip(feeds, values)]

    # ---- specialisation: shapes -> straight-line code
    def specialise_static(self):
        """Plan memory and emit code now when every feed's shape is known statically."""
        sig = []
        for f in self.feeds:
            shape = f.attrs["shape"]
            if None in shape:
                return
            sig.append((tuple(shape), f.attrs["dtype"]))
        self._compiled[tuple(s for s, _ in sig)] = self._specialise(sig)

    def _specialise(self, feed_specs):
        t0 = time.perf_counter()
        fed = {f.name: spec for f, spec in zip(self.feeds, feed_specs)}
        known = {}
        steps = []
        for s in self.steps:
            if s.source is not None:
                shape, dtype = s.source.spec(s, fed)
            else:
                specs = [Spec(*known[a]) if k == "node" else a for k, a in s.args]
                try:
                    sp = s.op.infer(*specs, **s.attrs)
                except DualGraphError as e:
                    raise type(e)(f"{e}\n  while running node '{s.name}' ({s.op.name}) with the fed shapes") from None
                shape, dtype = tuple(sp.shape), sp.dtype
            known[s.name] = (shape, dtype)
            fn, takes_out = _fast_kernel(s, [known[a] for a in s.in_ids])
            # a data-dependent shape (boolean mask) is unknown until run: no buffer planning
            steps.append(s.specialised(None if None in shape else shape, dtype, fn, takes_out,
                                       self.optimize))
        for k in ("fused_updates", "fused_kernels"):   # (what the last specialisation fused)
            self.stats.pop(k, None)
        if self.optimize:
            _updates_in_place(steps, self.fetches)
            if get_fusion() is not None:
                from .passes.fuse_updates import fuse_updates  # (only with fusion on)
                steps, self.stats["fused_updates"] = fuse_updates(steps, self.fetches)
                steps, self.stats["fused_kernels"] = fuse(steps, self.fetches)
        mem = plan_memory(steps, self.fetches, reuse=self.optimize)
        self.stats["peak_bytes"] = mem["peak_bytes"]
        self.stats["buffers_reused"] = mem["reused"]
        self.stats["buffers_allocated"] = mem["allocated"]
        fn, src = _generate(steps, mem, self.feeds, self.fetches, self.snapshot_fetches)
        self.source = src
        self.stats["specialise_ms"] = (time.perf_counter() - t0) * 1e3
        return fn

    def _locate_failure(self, arrays, exc):
        """Re-run step by step to name the node whose kernel failed."""
        fed = {f.name: a for f, a in zip(self.feeds, arrays)}
        env = {}
        for s in self.steps:
            if s.source is not None:
                env[s.name] = s.source.value(s, fed)
                continue
            vals = [env[a] if k == "node" else a for k, a in s.args]
            if s.op is ASSIGN:  # no second write: the failure is elsewhere
                env[s.name] = vals[1]
                continue
            try:
                out = s.op.forward(*vals, **s.attrs)
                env[s.name] = out if type(out) is np.ndarray else np.asarray(out)  # as eagerly
            except Exception as e:  # noqa: BLE001
                shapes = ", ".join(str(list(np.shape(v))) for v in vals)
                raise DGRuntimeError(
                    f"while running node '{s.name}' ({s.op.name}) on inputs of shapes {shapes}: {e}") from None
        raise DGRuntimeError(f"plan failed: {exc}") from exc

    def __repr__(self):
        return f"<dualgraph Plan: {len(self.steps)} steps, feeds={[f.name for f in self.feeds]}>"


def _feed_shape(a):
    """A feed's shape; () for a control-flow op's tuple of values (fed to a compiled backward)."""
    return () if type(a) is tuple else np.shape(a)


def _feed_dtype(a):
    return np.dtype(object) if type(a) is tuple else a.dtype


def check_feed(ph, value):
    """A feed must match its placeholder's dtype kind and known dimensions."""
    if value is None:
        raise DGValueError(
            f"You must feed a value for placeholder tensor '{ph.name}' with dtype "
            f"{ph.attrs['dtype']} and shape {fmt_shape(ph.attrs['shape'], ',')}")
    if type(value) is tuple and np.dtype(ph.attrs["dtype"]) == object:
        return value  # (a control-flow op's values, fed to a compiled backward as made)
    if hasattr(value, "_data") and not isinstance(value, np.ndarray):
        try:
            value = value._data
        except DualGraphError:
            raise DGTypeError(f"cannot feed symbolic tensor {value.name!r} into '{ph.name}': feed values (numpy arrays, lists, eager tensors)") from None
    want = ph.attrs["dtype"]
    if not isinstance(value, np.ndarray):
        value = np.asarray(value)
        if value.dtype.kind in "iufb" and (value.dtype.kind == want.kind or (value.dtype.kind in "iu" and want.kind == "f")):
            value = value.astype(want)
    if value.dtype != want:
        if value.dtype.kind == want.kind and np.can_cast(value.dtype, want, "same_kind"):
            value = value.astype(want)
        else:
            raise DGTypeError(
                f"Cannot feed value of dtype {value.dtype} for placeholder '{ph.name}', which has "
                f"dtype {want}")
    shape = ph.attrs["shape"]
    if len(shape) != value.ndim or any(d is not None and d != v for d, v in zip(shape, value.shape)):
        raise DGValueError(
            f"Cannot feed value of shape {list(value.shape)} for placeholder '{ph.name}', which has "
            f"shape {fmt_shape(shape, ',')}")
    return value


def _readers_through_views(steps, direct, v):
    """The steps reading value v's memory: v's readers and the readers of views of it."""
    out, stack, seen = [], [v], {v}
    while stack:
        x = stack.pop()
        for r in direct.get(x, ()):
            out.append(r)
            s = steps[r]
            if s.op is not ASSIGN and aliases_input(s.op) and s.in_ids and s.in_ids[0] == x \
                    and s.name not in seen:
                seen.add(s.name)
                stack.append(s.name)
    return sorted(set(out))


def _updates_in_place(steps, fetches=()):
    """`assign(v, sub(v, d))`: let the sub write straight into v's storage (numpy out=) when it
    is v's last reader, so the assign needs no copy. Sets the value step's writes_into.
    A fetched value is not put in v's storage: a later write to v in the same run would change
    it before it is handed back (`m = v * 0.5; v.assign(m); v.assign(m + 1)`, fetching m)."""
    fetched = set(fetches)
    pos = {s.name: i for i, s in enumerate(steps)}
    direct = {}
    for i, s in enumerate(steps):
        for a in s.in_ids:
            direct.setdefault(a, []).append(i)
    for i, s in enumerate(steps):
        if s.op is not ASSIGN or s.args[1][0] != "node":
            continue
        cur, val = s.in_ids
        j = pos[val]
        vs, state = steps[j], steps[pos[cur]]
        if vs.name in fetched or not (vs.takes_out and vs.shape == state.shape and vs.shape and vs.dtype == state.dtype
                and state.op in STATE_OPS):  # a chain buf.mul_().add_() too
            continue
        # v's readers, through views of v too: a backward reading `W[0:4]` after the update is
        # computed reads W's memory (writing the update there early gave it the new W)
        old_readers = _readers_through_views(steps, direct, cur)
        # (a) an elementwise update of v read only by the assign, after every other reader of v
        update = (vs.op.elementwise and vs.args and vs.args[0] == ("node", cur)
                  and direct.get(val) == [i] and all(r <= j for r in old_readers if r != i))
        # (b) a value computed without reading v, whose old value nobody reads (a gradient
        # store): others may read the value; it lives in v's memory from then on
        fresh = (old_readers == [i] and cur not in vs.in_ids and j < i
                 and (pos[cur] < j or state.source is not None))
        # one value can live in one state's memory only (two stores of an equal gradient)
        if (update or fresh) and vs.writes_into is None:
            vs.writes_into = cur


def _generate(steps, mem, feeds, fetches, snapshot=False):
    """Emit the specialised schedule as one Python function body."""
    arena = set(mem.get("fresh", ()))
    index = {s.name: i for i, s in enumerate(steps)}
    ns = {}
    local = {}
    for i, s in enumerate(steps):
        local[s.name] = f"v{i}"
    params = [local.get(f.name, f"unused{i}") for i, f in enumerate(feeds)]  # pruned feeds
    early = _fetched_before_write(steps, fetches)
    if snapshot:
        fetched = set(fetches)
        early |= {i for i, s in enumerate(steps) if s.name in fetched and not s.op.no_value
                  and (s.source is not None or aliases_input(s.op) or s.writes_into is not None)}
    known_c = set()   # values in C order whatever the layouts of feeds and state
    shapes = {s.name: s.shape for s in steps}
    lines = [f"def run({', '.join(params)}):"]
    # comments: what each value is (op, node name, shape, dtype); the compiled code is the same
    lines += [f"    # {local[f.name]}: {_comment(steps[index[f.name]])[4:]}" for f in feeds if f.name in index]
    for i, s in enumerate(steps):
        me = local[s.name]
        if s.source is not None:
            read = s.source.code(s, i, ns)
            if read is not None:
                lines.append(f"    {me} = {read}{_comment(s)}")
        else:
            fn, takes_out = s.kernel, s.takes_out
            args = []
            for j, (k, a) in enumerate(s.args):
                if k == "node":
                    args.append(local[a])
                elif type(a) in (int, float, bool) and np.isfinite(a):
                    args.append(repr(a))
                else:
                    ns[f"l{i}_{j}"] = a
                    args.append(f"l{i}_{j}")
            ns[f"k{i}"] = fn
            call_kw = ""
            if s.attrs and not (takes_out and fn is not s.op.forward):
                ns[f"a{i}"] = s.attrs
                call_kw = f", **a{i}" if args else f"**a{i}"
            out = mem["out"][i]
            into = s.writes_into
            buf = None
            if into is not None:
                k = index[into]
                st = steps[k]
                # state read later in the schedule: address its storage directly (its source's read)
                args.append(f"out={st.source.code(st, k, ns)}" if st.source is not None and k > i
                            else f"out={local[into]}")
            elif out is not None:
                buf, buf_c = local[out], out in known_c
            elif i in arena:
                # the arena: memory allocated once, when the plan is specialised, and written
                # again at every run (no allocation, no page faults); never handed to a caller
                ns[f"b{i}"] = np.empty(s.shape, s.dtype)
                buf, buf_c = f"b{i}", True
            checks = []
            if buf is not None:
                checks = _layout_checks(s, local, known_c, shapes) + ([] if buf_c else [buf])
                if not checks:
                    args.append(f"out={buf}")
            if (takes_out and not s.op.elementwise) or (s.op.elementwise and not checks and (
                    buf is not None or not _layout_checks(s, local, known_c, shapes))):
                known_c.add(s.name)
            if checks:
                # eager's result is laid out as numpy's K order makes it from the inputs: C
                # when they are C; otherwise the kernel allocates, as it does eagerly
                plain = f"k{i}({', '.join(args)}{call_kw})"
                into_buf = f"k{i}({', '.join(args + [f'out={buf}'])}{call_kw})"
                cond = " and ".join(f"{x}.flags.c_contiguous" for x in checks)
                lines.append(f"    {me} = {into_buf} if {cond} else {plain}{_comment(s)}")
            elif s.op is ASSIGN and steps[index[s.args[1][1]]].writes_into == s.args[0][1]:
                lines.append(f"    {me} = {local[s.args[1][1]]}{_comment(s)}")  # already written in place
            elif s.shape == () and s.dtype.kind != "O" and s.op is not ASSIGN and not s.op.no_value \
                    and into is None and out is None and i not in arena:
                # a 0-d value is a 0-d array, as eagerly (EagerInterpreter.apply): kernels return
                # numpy scalars there, and np.float64 is a Python float to dtype promotion
                lines.append(f"    {me} = _asarray(k{i}({', '.join(args)}{call_kw})){_comment(s)}")
            else:
                lines.append(f"    {me} = k{i}({', '.join(args)}{call_kw}){_comment(s)}")
        if i in early:  # a fetched read of state a later write overwrites: its value now
            lines.append(f"    {me}_f = _copy({me})")
        for d in mem["drop"][i]:
            if d not in fetches:
                lines.append(f"    del {local[d]}")
    # results never alias memory a later run overwrites (variables, constants, feeds)
    rets = []
    for f in fetches:
        i = index[f]
        s = steps[i]
        if s.op.no_value:
            rets.append("None")  # an operation (dg.group, a train op) fetches as None, as in TF1
        elif i in early:
            rets.append(f"{local[f]}_f")
        elif s.source is not None or aliases_input(s.op) or s.writes_into is not None:
            rets.append(f"_copy({local[f]})")
        else:
            rets.append(local[f])
    ns["_copy"] = _copy
    ns["_asarray"] = np.asarray
    lines.append(f"    return ({', '.join(rets)}{',' if len(rets) == 1 else ''})")
    src = "\n".join(lines)
    exec(compile(src, "<dualgraph plan>", "exec"), ns)  # noqa: S102 - our own generated code
    return ns["run"], src


def _layout_checks(s, local, known_c, shapes):
    """The inputs of step s to find in C order at run time before it may write into a C
    buffer (out=): an elementwise result takes its inputs' layout (numpy's K order), and a
    reduction or a product reading it rounds by that layout. A product's result is C always."""
    if not s.op.elementwise:
        return []
    return [local[a] for k, a in s.args
            if k == "node" and a not in known_c and numel((2,) if shapes[a] is None else shapes[a]) > 1]


def _comment(s):
    """`  # matmul 'dense/matmul' [64, 10] float32`: a step's op, node name, shape and dtype."""
    shape = fmt_shape(s.shape) if s.shape is not None else "[data-dependent]"
    return f"  # {s.op.name} {s.name!r} {shape} {getattr(s.dtype, 'name', s.dtype)}"


def _copy(x):
    return np.array(x) if isinstance(x, np.ndarray) else x


def _fetched_before_write(steps, fetches):
    """Steps whose fetched value is a read of state that a later step of the plan writes
    (`sess.run([W, train_op])`): they are copied when read, so the fetch is the value in
    program order, not the value after the update."""
    fetched = set(fetches)
    index = {s.name: i for i, s in enumerate(steps)}
    early = set()
    for i, s in enumerate(steps):
        if s.name not in fetched:
            continue
        # (a view of such a read too, t = p.expand(2) fetched with p's update after it: its
        # memory is the state's; dg.function's backward outside is fed such values)
        base = s
        while base.op not in STATE_OPS and aliases_input(base.op) and base.args \
                and base.args[0][0] == "node" and base.args[0][1] in index:
            base = steps[index[base.args[0][1]]]
        if base.op in STATE_OPS:
            ref = base.attrs["ref"]
            if any(t.op is ASSIGN and t.attrs["ref"] is ref for t in steps[i + 1:]):
                early.add(i)
    return early
