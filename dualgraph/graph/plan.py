"""The executable plan: a flat list of steps, turned into straight-line Python.

`Plan` holds the optimised schedule. The first call with a new set of feed shapes specialises
it: concrete shapes are inferred once, liveness and buffer reuse are planned, and the steps are
emitted as the body of one generated function (`vN = kernel(vA, vB, out=vC)`, `del vM` after
last use). Buffers that must be allocated come from an arena made once per specialisation
(`out=bN`), updates of variables are computed straight into their memory, and results handed to
the caller are always fresh arrays. Every 0-d value is a 0-d array, as eagerly (a kernel's numpy
scalar is wrapped, or written through out=). Later calls with the same shapes run that function: no graph
walking, no dict lookups by name, no shape inference.
"""
import numpy as np

from ..errors import DGRuntimeError, DGTypeError, DGValueError, DualGraphError
from ..ops.registry import Spec
from .core import PLACEHOLDER, VARIABLE, CONSTANT, ASSIGN, GROUP
from .liveness import plan_memory, aliases_input

_MATMUL = {"mm", "bmm", "matmul"}


class Step:
    __slots__ = ("name", "op", "args", "attrs", "shape", "dtype")

    def __init__(self, name, op, args, attrs, shape, dtype):
        self.name, self.op, self.args, self.attrs = name, op, args, attrs
        self.shape, self.dtype = shape, dtype

    def __repr__(self):
        a = ", ".join(x if k == "node" else repr(x) for k, x in self.args)
        return f"{self.name} = {self.op.name}({a})"


def _fmt_shape(shape):
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def _fast_kernel(step, in_dtypes):
    """(callable, takes_out): call the bare numpy function when static dtypes allow it."""
    op = step.op
    uf = op.ufunc
    if uf is not None and step.dtype.kind == "f" and all(d == step.dtype for d in in_dtypes) \
            and not step.attrs and all(k == "node" or isinstance(a, (int, float)) for k, a in step.args):
        return uf, True
    if op.name in _MATMUL and all(d == step.dtype for d in in_dtypes):
        return np.matmul, True
    return op.forward, False


class Plan:
    """Callable: plan(*arrays) in feed order, or plan(**{placeholder_name: array})."""

    def __init__(self, steps, feeds, fetches, structure, stats, optimize):
        self.steps = steps              # flat schedule (list of Step)
        self.feeds = feeds              # placeholder Steps in positional order
        self.fetches = fetches          # value names returned
        self._structure = structure     # rebuilds nested fetches
        self.stats = stats
        self.optimize = optimize
        self._feed_index = {f.name: i for i, f in enumerate(feeds)}
        self._compiled = {}
        self.source = None

    # ---- calling
    def __call__(self, *args, **kwargs):
        return self._structure(self._execute(self._bind(args, kwargs)))

    def run_unchecked(self, arrays):
        """The call path of dg.function: feeds already match the traced signature (checked
        once, when this signature is first specialised); returns the flat results."""
        return self._execute(arrays, checked=False)

    def _execute(self, arrays, checked=True):
        sig = tuple([np.shape(a) for a in arrays])
        fn = self._compiled.get(sig)
        if fn is None:
            if not checked:
                arrays = [check_feed(f, v) for f, v in zip(self.feeds, arrays)]
            fn = self._compiled[sig] = self._specialise([(a.shape, a.dtype) for a in arrays])
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
        shapes = {f.name: spec for f, spec in zip(self.feeds, feed_specs)}
        info = []
        known = {}
        for s in self.steps:
            if s.op is PLACEHOLDER:
                shape, dtype = shapes[s.name]
            elif s.op is VARIABLE:
                shape, dtype = s.attrs["ref"]._data.shape, s.attrs["ref"]._data.dtype
            elif s.op is CONSTANT:
                shape, dtype = s.attrs["value"].shape, s.attrs["value"].dtype
            else:
                specs = [Spec(*known[a]) if k == "node" else a for k, a in s.args]
                try:
                    sp = s.op.infer(*specs, **s.attrs)
                except DualGraphError as e:
                    raise type(e)(f"{e}\n  while running node '{s.name}' ({s.op.name}) with the fed shapes") from None
                shape, dtype = tuple(sp.shape), sp.dtype
            known[s.name] = (shape, dtype)
            # a data-dependent shape (boolean mask) is unknown until run: no buffer planning
            info.append((None if None in shape else shape, dtype))
        rows = []
        kernels = []
        for s, (shape, dtype) in zip(self.steps, info):
            in_ids = [a for k, a in s.args if k == "node"]
            fn, takes_out = _fast_kernel(s, [known[a][1] for a in in_ids])
            kernels.append((fn, takes_out))
            # (a 0-d result written through out= is a 0-d array, as every 0-d value of a plan is)
            rows.append({"id": s.name, "op": s.op, "in_ids": in_ids, "shape": shape, "dtype": dtype,
                         "out_capable": takes_out and shape is not None and self.optimize,
                         "elementwise": s.op.elementwise and s.op.ufunc is not None})
        if self.optimize:
            _updates_in_place(self.steps, rows, kernels)
        mem = plan_memory(rows, self.fetches, reuse=self.optimize)
        self.stats["peak_bytes"] = mem["peak_bytes"]
        self.stats["buffers_reused"] = mem["reused"]
        self.stats["buffers_allocated"] = mem["allocated"]
        fn, src = _generate(self.steps, kernels, mem, self.feeds, self.fetches, rows)
        self.source = src
        return fn

    def _locate_failure(self, arrays, exc):
        """Re-run step by step to name the node whose kernel failed."""
        env = {f.name: a for f, a in zip(self.feeds, arrays)}
        for s in self.steps:
            if s.name in env:
                continue
            if s.op is VARIABLE:
                env[s.name] = s.attrs["ref"]._data
                continue
            if s.op is CONSTANT:
                env[s.name] = s.attrs["value"]
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


def check_feed(ph, value):
    """A feed must match its placeholder's dtype kind and known dimensions."""
    if value is None:
        raise DGValueError(
            f"You must feed a value for placeholder tensor '{ph.name}' with dtype "
            f"{ph.attrs['dtype']} and shape {_fmt_shape(ph.attrs['shape'])}")
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
            f"shape {_fmt_shape(shape)}")
    return value


def _updates_in_place(steps, rows, kernels):
    """`assign(v, sub(v, d))`: let the sub write straight into v's storage (numpy out=) when it
    is v's last reader, so the assign needs no copy. Marks rows[...]["writes_into"]."""
    pos = {s.name: i for i, s in enumerate(steps)}
    readers = {}
    for i, s in enumerate(steps):
        for k, a in s.args:
            if k == "node":
                readers.setdefault(a, []).append(i)
    for i, s in enumerate(steps):
        if s.op is not ASSIGN:
            continue
        cur, val = s.args[0][1], s.args[1][1]
        if s.args[1][0] != "node":
            continue
        j = pos[val]
        vs = steps[j]
        if not (kernels[j][1] and rows[j]["shape"] == rows[pos[cur]]["shape"] and rows[j]["shape"]
                and rows[j]["dtype"] == rows[pos[cur]]["dtype"]
                and steps[pos[cur]].op in (VARIABLE, ASSIGN)):  # a chain buf.mul_().add_() too
            continue
        # (a) an elementwise update of v read only by the assign, after every other reader of v
        update = (vs.op.elementwise and vs.args and vs.args[0] == ("node", cur)
                  and readers.get(val) == [i] and all(r <= j for r in readers[cur] if r != i))
        # (b) a value computed without reading v, whose old value nobody reads (a gradient
        # store): others may read the value; it lives in v's memory from then on
        fresh = (readers.get(cur) == [i] and ("node", cur) not in vs.args and j < i
                 and (pos[cur] < j or steps[pos[cur]].op is VARIABLE))
        # one value can live in one state's memory only (two stores of an equal gradient)
        if (update or fresh) and rows[j].get("writes_into") is None:
            rows[j]["writes_into"] = cur


def _generate(steps, kernels, mem, feeds, fetches, rows=None):
    """Emit the schedule as one Python function body."""
    rows_into = [r.get("writes_into") for r in rows] if rows else [None] * len(steps)
    arena = set(mem.get("fresh", ()))
    index = {s.name: i for i, s in enumerate(steps)}
    ns = {}
    local = {}
    for i, s in enumerate(steps):
        local[s.name] = f"v{i}"
    params = [local.get(f.name, f"unused{i}") for i, f in enumerate(feeds)]  # pruned feeds
    early = _fetched_before_write(steps, fetches)
    lines = [f"def run({', '.join(params)}):"]
    for i, (s, (fn, takes_out)) in enumerate(zip(steps, kernels)):
        me = local[s.name]
        if s.op is PLACEHOLDER:
            pass
        elif s.op is VARIABLE:
            ns[f"r{i}"] = s.attrs["ref"]
            lines.append(f"    {me} = r{i}._data")
        elif s.op is CONSTANT:
            ns[f"c{i}"] = s.attrs["value"]
            lines.append(f"    {me} = c{i}")
        else:
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
            into = rows_into[i]
            if into is not None:
                k = index[into]
                # a variable may be read later in the schedule: address its storage directly
                args.append(f"out=r{k}._data" if steps[k].op is VARIABLE and k > i else f"out={local[into]}")
            elif out is not None:
                args.append(f"out={local[out]}")
            elif i in arena:
                # the arena: memory allocated once, when the plan is specialised, and written
                # again at every run (no allocation, no page faults); never handed to a caller
                ns[f"b{i}"] = np.empty(rows[i]["shape"], rows[i]["dtype"])
                args.append(f"out=b{i}")
            if s.op is ASSIGN and rows_into[index[s.args[1][1]]] == s.args[0][1]:
                lines.append(f"    {me} = {local[s.args[1][1]]}")  # already written in place
            elif rows is not None and rows[i]["shape"] == () and rows[i]["dtype"].kind != "O" \
                    and s.op not in (ASSIGN, GROUP) and into is None and out is None and i not in arena:
                # a 0-d value is a 0-d array, as eagerly (EagerInterpreter.apply): kernels return
                # numpy scalars there, and np.float64 is a Python float to dtype promotion
                lines.append(f"    {me} = _asarray(k{i}({', '.join(args)}{call_kw}))")
            else:
                lines.append(f"    {me} = k{i}({', '.join(args)}{call_kw})")
        if i in early:  # a fetched read of state a later write overwrites: its value now
            lines.append(f"    {me}_f = _copy({me})")
        for d in mem["drop"][i]:
            if d not in fetches:
                lines.append(f"    del {local[d]}")
    # results never alias memory a later run overwrites (variables, constants, feeds)
    by_name = {s.name: s for s in steps}
    rets = []
    for f in fetches:
        s = by_name[f]
        if s.op is GROUP:
            rets.append("None")  # an operation (dg.group, a train op) fetches as None, as in TF1
        elif index[f] in early:
            rets.append(f"{local[f]}_f")
        elif s.op in (VARIABLE, CONSTANT, PLACEHOLDER) or aliases_input(s.op) or rows_into[index[f]] is not None:
            rets.append(f"_copy({local[f]})")
        else:
            rets.append(local[f])
    ns["_copy"] = _copy
    ns["_asarray"] = np.asarray
    lines.append(f"    return ({', '.join(rets)}{',' if len(rets) == 1 else ''})")
    src = "\n".join(lines)
    exec(compile(src, "<dualgraph plan>", "exec"), ns)  # noqa: S102 - our own generated code
    return ns["run"], src


def _copy(x):
    return np.array(x) if isinstance(x, np.ndarray) else x


def _fetched_before_write(steps, fetches):
    """Steps whose fetched value is a read of state that a later step of the plan writes
    (`sess.run([W, train_op])`): they are copied when read, so the fetch is the value in
    program order, not the value after the update."""
    fetched = set(fetches)
    early = set()
    for i, s in enumerate(steps):
        if s.name in fetched and s.op in (VARIABLE, ASSIGN):
            ref = s.attrs["ref"]
            if any(t.op is ASSIGN and t.attrs["ref"] is ref for t in steps[i + 1:]):
                early.add(i)
    return early
