"""Graphs as JSON: `to_json` / `from_json`, and `save` / `load` with a sidecar `.npz` for large
arrays. The schema (version 1) is docs/graph-schema.md; this module is its reference reader.

Writing walks the graph's nodes in creation order. Reading re-creates each node in that order
with its original name: the op's shape rule runs again on the rebuilt inputs (so a file whose
shapes do not follow is refused), source and state nodes are made as graph/core.py makes them,
and the subgraphs of `cond` / `while_loop` are rebuilt (SubGraph, its captures, compiled
`_Branch`es) from their nested records. Reading never runs code from the file: no eval, no
pickle, no import of names; op names are looked up in the registry, every value is one of the
tagged JSON forms below, and every size is checked against a limit before anything is made.
Anything wrong raises `ExportError`, naming where in the file.
"""
import io
import json
import math
import os
import zipfile

import numpy as np

from ..ops.common import Slot
from ..ops.registry import OPS, Spec
from ..tensor import Tensor, wrap_array
from ..tensor_methods import TensorMethods
from ..graph.core import (Graph, GraphNode, SymbolicTensor, _State, state_key, PLACEHOLDER,
                          VARIABLE, CONSTANT, ASSIGN)
from ..graph.subgraph import SubGraph
from ..graph import control_flow as _cf
from .errors import ExportError

FORMAT = "dualgraph.graph"
VERSION = 1

# ---- limits of the reader (docs/graph-schema.md, "Limits")
MAX_TEXT_BYTES = 64 << 20        # the JSON text
MAX_JSON_DEPTH = 200             # nesting of JSON lists and objects
MAX_SUBGRAPH_DEPTH = 16          # cond / while_loop nesting
MAX_NODES = 100_000              # nodes, all subgraphs together
MAX_NAME = 1000                  # characters in a name or string attribute
MAX_RANK = 32                    # dimensions of a shape
MAX_NUMEL = 1 << 28              # elements of one array, or of one node's static output
MAX_TOTAL_NUMEL = 1 << 32        # elements of every static node output together
MAX_INLINE_ELEMENTS = 1 << 20    # elements of one array written inline
MAX_INT = 1 << 64                # magnitude of an integer
INLINE_MAX = 64                  # save(): arrays with more elements go to the sidecar

DTYPES = {n: np.dtype(n) for n in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16",
                                   "uint32", "uint64", "float16", "float32", "float64",
                                   "complex64", "complex128")}
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _dtype_name(dt, where):
    dt = np.dtype(dt)
    name = dt.name if dt.isnative or dt.itemsize == 1 else dt.newbyteorder("=").name
    if name not in DTYPES:
        raise ExportError(f"{where}: dtype {dt} cannot be written (numeric and bool dtypes only)")
    return name


# ================================================================ writing
class _Writer:
    def __init__(self, sidecar):
        self.sidecar = sidecar   # dict name -> array (save), or None: every array inline
        self.states = {}         # state_key -> handle name

    def array(self, a, where):
        a = np.asarray(a)
        name = _dtype_name(a.dtype, where)
        a = np.asarray(a, DTYPES[name], order="C")
        rec = {"dtype": name, "shape": list(a.shape)}
        if self.sidecar is not None and a.size > INLINE_MAX:
            key = f"a{len(self.sidecar)}"
            self.sidecar[key] = a
            rec["sidecar"] = key
            return rec
        if a.size > MAX_INLINE_ELEMENTS:
            raise ExportError(f"{where}: an array of {a.size} elements is too large to write inline "
                              f"(at most {MAX_INLINE_ELEMENTS}); use dg.export.save(graph, path), "
                              "which keeps large arrays in a sidecar .npz")
        flat = a.reshape(-1)
        if a.dtype.kind == "c":
            rec["data"] = [[_float(float(z.real)), _float(float(z.imag))] for z in flat]
        elif a.dtype.kind == "f":
            rec["data"] = [_float(x) for x in flat.tolist()]
        else:
            rec["data"] = flat.tolist()
        return rec

    def value(self, v, where, g):
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, int):
            return v
        if isinstance(v, float):
            f = _float(v)
            return f if isinstance(f, float) else {"$float": f}
        if isinstance(v, complex):
            return {"$complex": [self.value(v.real, where, g), self.value(v.imag, where, g)]}
        if isinstance(v, tuple):
            return {"$tuple": [self.value(x, where, g) for x in v]}
        if isinstance(v, list):
            return [self.value(x, where, g) for x in v]
        if isinstance(v, dict):
            if not all(isinstance(k, str) for k in v):
                raise ExportError(f"{where}: a dict attribute with keys that are not strings")
            return {"$dict": {k: self.value(x, where, g) for k, x in v.items()}}
        if isinstance(v, slice):
            return {"$slice": [self.value(x, where, g) for x in (v.start, v.stop, v.step)]}
        if v is Ellipsis:
            return {"$ellipsis": True}
        if isinstance(v, Slot):
            return {"$slot": int(v.i)}
        if isinstance(v, np.dtype) or (isinstance(v, type) and issubclass(v, np.generic)):
            return {"$dtype": _dtype_name(v, where)}
        from ..dtypes import DType
        if isinstance(v, DType):
            return {"$dgdtype": v.name}
        if isinstance(v, np.ndarray):
            return {"$array": self.array(v, where)}
        if isinstance(v, np.generic):
            return {"$scalar": {"dtype": _dtype_name(v.dtype, where),
                                "value": self.value(v.item(), where, g)}}
        if isinstance(v, _cf._Branch):
            return {"$subgraph": self.subgraph(v, where)}
        if isinstance(v, _cf._Keep):
            return {"$keep": bool(v.on)}
        if isinstance(v, GraphNode):
            if v.graph is not g:
                raise ExportError(f"{where}: refers to node {v.name!r} of another graph")
            return {"$node": v.name}
        if isinstance(v, TensorMethods) and not isinstance(v, SymbolicTensor):
            name = self.states.get(state_key(v))
            if name is None:
                raise ExportError(f"{where}: holds an eager tensor that is not a state of the graph")
            return {"$state": name}
        raise ExportError(f"{where}: a {type(v).__module__}.{type(v).__qualname__} attribute "
                          "cannot be written in JSON")

    def nodes(self, g):
        out = []
        for n in g.nodes:
            op = n.op
            where = f"node {n.name!r} ({op.name})"
            if OPS.get(op.name) is not op:
                raise ExportError(f"{where}: its op is not the one registered under its name")
            rec = {"name": n.name, "op": op.name}
            ins = []
            for x in n.inputs:
                if isinstance(x, SymbolicTensor):
                    if x.node.graph is not g:
                        raise ExportError(f"{where}: an input from another graph ({x.node.name!r})")
                    ins.append(x.node.name)
                elif isinstance(x, str):
                    ins.append({"$str": x})
                elif isinstance(x, TensorMethods):
                    raise ExportError(f"{where}: an eager tensor as an input")
                else:
                    ins.append(self.value(x, where, g))
            if ins:
                rec["inputs"] = ins
            if n.attrs:
                rec["attrs"] = {str(k): self.value(v, f"{where} attribute {k!r}", g)
                                for k, v in n.attrs.items()}
            out_t = n.out
            rec["shape"] = [None if d is None else int(d) for d in out_t.shape]
            dt = np.dtype(out_t._dtype)
            rec["dtype"] = "object" if dt.kind == "O" else _dtype_name(dt, where)
            if out_t._rg:
                rec["requires_grad"] = True
            if n.no_grad:
                rec["no_grad"] = True
            if out_t._weak:
                rec["weak"] = True
            out.append(rec)
        return out

    def subgraph(self, b, where):
        sub = b.graph
        return {"name": sub.name, "what": getattr(sub, "what", ""), "nodes": self.nodes(sub),
                "inputs": [p.name for p in getattr(sub, "inputs", [])],
                "captures": [ph.name for _, ph in getattr(sub, "captures", {}).values()],
                "outputs": [o.name for o in b.outputs], "index": [int(i) for i in b.index]}

    def graph(self, g, function=None):
        for st in g._states.values():
            self.states[state_key(st.ref)] = st.handle.name
        doc = {"format": FORMAT, "version": VERSION, "name": g.name}
        doc["nodes"] = self.nodes(g)
        variables = {}
        for st in g._states.values():
            name = st.handle.name
            variables[name] = {"value": self.array(st.ref._data, f"variable {name!r}"),
                               "requires_grad": bool(st.ref._rg), "cur": st.cur.name}
        doc["variables"] = variables
        doc["updates"] = [u.name for u in g.updates]
        lifted = []
        for ph, read, desc in g.lifted:
            try:
                v = np.asarray(read()).item()
            except Exception as e:  # noqa: BLE001 - a Python number read at export time
                raise ExportError(f"lifted value {desc!r} could not be read: {e}") from None
            lifted.append([ph.name, self.value(v, f"lifted {ph.name!r}", g)])
        doc["lifted"] = lifted
        if function is not None:
            doc["function"] = function
        return doc


def _float(x):
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def _resolve_subject(graph_or_fn, args, kwargs):
    """(graph, function record or None) of a graph or a dg.function."""
    if isinstance(graph_or_fn, Graph):
        if args or kwargs:
            raise ExportError("example arguments are for a dg.function, not a Graph")
        return graph_or_fn, None
    if hasattr(graph_or_fn, "graph_for") and hasattr(graph_or_fn, "plan_for"):
        if args or kwargs:
            g, plan = graph_or_fn.graph_for(*args, **kwargs), graph_or_fn.plan_for(*args, **kwargs)
        else:
            traces = getattr(graph_or_fn, "_traces", None)
            if not traces:
                raise ExportError("this dg.function has no trace yet: call it once, or pass example "
                                  "arguments (to_json(fn, x, ...))")
            g, plan = traces[-1].graph, traces[-1].plan
        fn = {"feeds": [f.name for f in plan.feeds],
              "fetches": [n for i, n in enumerate(plan.fetches) if i not in plan.hidden],
              "updates": [u.name for u in g.updates]}
        return g, fn
    raise ExportError(f"to_json needs a dg.Graph or a dg.function, got {type(graph_or_fn).__name__}")


def _document(graph_or_fn, args, kwargs, sidecar):
    g, fn = _resolve_subject(graph_or_fn, args, kwargs)
    return _Writer(sidecar).graph(g, fn)


def to_json(graph_or_fn, *args, indent=1, **kwargs):
    """The graph (or a dg.function's trace for example arguments `args`; its latest trace when
    none are given) as JSON text in schema version 1 (docs/graph-schema.md), arrays inline."""
    doc = _document(graph_or_fn, args, kwargs, None)
    return json.dumps(doc, indent=indent, allow_nan=False)


def _sidecar_path(path):
    base, ext = os.path.splitext(path)
    side = base + ".npz"
    return side if os.path.abspath(side) != os.path.abspath(path) else path + ".npz"


def save(graph_or_fn, path, *args, **kwargs):
    """Write the graph as JSON at `path`; arrays of more than INLINE_MAX elements go to a sidecar
    `.npz` beside it (`model.json` -> `model.npz`), named in the JSON. Returns the paths written."""
    path = os.fspath(path)
    arrays = {}
    doc = _document(graph_or_fn, args, kwargs, arrays)
    written = [path]
    if arrays:
        side = _sidecar_path(path)
        doc["sidecar"] = os.path.basename(side)
        with open(side, "wb") as f:
            np.savez(f, **arrays)
        written.append(side)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, allow_nan=False)
    return written


# ================================================================ reading
class FunctionTrace:
    """The traced function a file recorded (schema "function"): its plan's feeds in order, its
    fetches and its updates, as tensors of the rebuilt graph; `compile()` makes that plan."""

    def __init__(self, graph, feeds, fetches, updates):
        self.graph, self.feeds, self.fetches, self.updates = graph, feeds, fetches, updates

    def compile(self, optimize=True):
        return self.graph.compile(list(self.fetches), feeds=list(self.feeds), optimize=optimize,
                                  updates=list(self.updates))

    def __repr__(self):
        return (f"<FunctionTrace feeds={[f.name for f in self.feeds]} "
                f"fetches={[f.name for f in self.fetches]} updates={len(self.updates)}>")


def _bad(where, msg):
    raise ExportError(f"{where}: {msg}")


def _short(v):
    try:
        r = json.dumps(v)
    except (TypeError, ValueError):
        r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _obj(v, where, required=(), optional=()):
    if not isinstance(v, dict):
        _bad(where, f"expected an object, got {_short(v)}")
    for k in required:
        if k not in v:
            _bad(where, f"the key {k!r} is missing")
    allowed = set(required) | set(optional)
    for k in v:
        if k not in allowed:
            _bad(where, f"unknown key {_short(k)}")
    return v


def _list(v, where, limit=None):
    if not isinstance(v, list):
        _bad(where, f"expected a list, got {_short(v)}")
    if limit is not None and len(v) > limit:
        _bad(where, f"{len(v)} entries, more than the limit {limit}")
    return v


def _str(v, where):
    if not isinstance(v, str):
        _bad(where, f"expected a string, got {_short(v)}")
    if len(v) > MAX_NAME:
        _bad(where, f"a string of {len(v)} characters (at most {MAX_NAME})")
    return v


def _name(v, where):
    _str(v, where)
    if not v:
        _bad(where, "an empty name")
    return v


def _int(v, where, lo=None, hi=None):
    if not _is_int(v):
        _bad(where, f"expected an integer, got {_short(v)}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        _bad(where, f"{v} is out of range [{lo}, {hi}]")
    return v


def _bool(v, where):
    if not isinstance(v, bool):
        _bad(where, f"expected true or false, got {_short(v)}")
    return v


def _dtype(v, where, allow_object=False):
    if allow_object and v == "object":
        return np.dtype(object)
    if not isinstance(v, str) or v not in DTYPES:
        _bad(where, f"unknown dtype {_short(v)} (one of {', '.join(DTYPES)})")
    return DTYPES[v]


def _shape(v, where, unknown=True):
    _list(v, where, MAX_RANK)
    out = []
    for i, d in enumerate(v):
        if d is None and unknown:
            out.append(None)
        else:
            out.append(_int(d, f"{where}[{i}]", 0, MAX_NUMEL))
    return tuple(out)


def _static_numel(shape):
    n = 1
    for d in shape:
        if d is not None:
            n *= d
    return n


class _Reader:
    def __init__(self, arrays):
        self.arrays = arrays       # name -> array loader (load), or None (from_json)
        self.nodes = 0
        self.numel = 0
        self.states = {}           # handle name -> eager tensor

    # ---- values
    def array(self, rec, where):
        _obj(rec, where, ("dtype", "shape"), ("data", "sidecar"))
        dt = _dtype(rec["dtype"], f"{where}.dtype")
        shape = _shape(rec["shape"], f"{where}.shape", unknown=False)
        n = int(np.prod(shape, dtype=object)) if shape else 1
        if n > MAX_NUMEL:
            _bad(where, f"declares {n} elements (at most {MAX_NUMEL})")
        if ("data" in rec) == ("sidecar" in rec):
            _bad(where, "needs exactly one of 'data' (inline) and 'sidecar'")
        if "sidecar" in rec:
            key = _str(rec["sidecar"], f"{where}.sidecar")
            if self.arrays is None:
                _bad(where, "its data is in a sidecar file: read it with dg.export.load(path)")
            return self.arrays(key, dt, shape, where)
        data = _list(rec["data"], f"{where}.data", MAX_INLINE_ELEMENTS)
        if len(data) != n:
            _bad(where, f"{len(data)} values for shape {list(shape)} ({n} elements)")
        k = dt.kind
        if k == "b":
            if not all(isinstance(x, bool) for x in data):
                _bad(where, "a bool array holds a value that is not true or false")
            vals = data
        elif k in "iu":
            info = np.iinfo(dt)
            if not all(_is_int(x) and info.min <= x <= info.max for x in data):
                _bad(where, f"a {dt.name} array holds a value that is not an integer in range")
            vals = data
        elif k == "f":
            vals = [self._real(x, where) for x in data]
        else:
            vals = []
            for x in data:
                if not (isinstance(x, list) and len(x) == 2):
                    _bad(where, "a complex value is not a [real, imag] pair")
                vals.append(complex(self._real(x[0], where), self._real(x[1], where)))
        with np.errstate(over="ignore"):
            arr = np.array(vals, dtype=dt).reshape(shape) if n else np.zeros(shape, dt)
        return arr

    @staticmethod
    def _real(x, where):
        if isinstance(x, bool) or not isinstance(x, (int, float, str)):
            _bad(where, f"{_short(x)} is not a number")
        if isinstance(x, str):
            if x not in _NONFINITE:
                _bad(where, f"{_short(x)} is not a number (\"nan\", \"inf\" and \"-inf\" are)")
            return _NONFINITE[x]
        if isinstance(x, int) and abs(x) > MAX_INT:
            _bad(where, "an integer too large")
        return float(x)

    def value(self, v, where, env, depth=0):
        if depth > MAX_JSON_DEPTH:
            _bad(where, "nested too deeply")
        if v is None or isinstance(v, bool):
            return v
        if isinstance(v, int):
            if abs(v) > MAX_INT:
                _bad(where, "an integer too large")
            return v
        if isinstance(v, float):
            return v
        if isinstance(v, str):
            return _str(v, where)
        if isinstance(v, list):
            return [self.value(x, where, env, depth + 1) for x in v]
        if not isinstance(v, dict) or len(v) != 1:
            _bad(where, f"an object value must have exactly one '$' key, got {_short(v)}")
        (tag, p), = v.items()
        d = depth + 1
        if tag == "$tuple":
            return tuple(self.value(x, where, env, d) for x in _list(p, where))
        if tag == "$float":
            if p not in _NONFINITE:
                _bad(where, f"$float must be \"nan\", \"inf\" or \"-inf\", got {_short(p)}")
            return _NONFINITE[p]
        if tag == "$complex":
            _list(p, where)
            if len(p) != 2:
                _bad(where, "$complex needs [real, imag]")
            re, im = (self.value(x, where, env, d) for x in p)
            if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (re, im)):
                _bad(where, "$complex needs two numbers")
            return complex(re, im)
        if tag == "$dict":
            _obj(p, where, optional=p if isinstance(p, dict) else ())
            return {_str(k, where): self.value(x, where, env, d) for k, x in p.items()}
        if tag == "$slice":
            _list(p, where)
            if len(p) != 3:
                _bad(where, "$slice needs [start, stop, step]")
            parts = [self.value(x, where, env, d) for x in p]
            for x in parts:
                if not (x is None or _is_int(x) or isinstance(x, Slot)):
                    _bad(where, f"a slice bound must be an integer, null or a $slot, got {_short(x)}")
            return slice(*parts)
        if tag == "$ellipsis":
            if p is not True:
                _bad(where, "$ellipsis must be true")
            return Ellipsis
        if tag == "$slot":
            return Slot(_int(p, where, 0, 1 << 20))
        if tag == "$dtype":
            return _dtype(p, where)
        if tag == "$dgdtype":
            from ..dtypes import _BY_NAME
            if not isinstance(p, str) or p not in _BY_NAME:
                _bad(where, f"unknown dualgraph dtype {_short(p)}")
            return _BY_NAME[p]
        if tag == "$array":
            a = self.array(p, where)
            a.flags.writeable = False
            return a
        if tag == "$scalar":
            _obj(p, where, ("dtype", "value"))
            dt = _dtype(p["dtype"], where)
            x = self.value(p["value"], where, env, d)
            if isinstance(x, bool) != (dt.kind == "b") or not isinstance(x, (bool, int, float, complex)):
                _bad(where, f"$scalar value {_short(p['value'])} does not fit dtype {dt.name}")
            if dt.kind in "iu" and not (_is_int(x) and np.iinfo(dt).min <= x <= np.iinfo(dt).max):
                _bad(where, f"$scalar value {_short(p['value'])} does not fit dtype {dt.name}")
            if dt.kind in "biu" and isinstance(x, (float, complex)):
                _bad(where, f"$scalar value {_short(p['value'])} does not fit dtype {dt.name}")
            with np.errstate(over="ignore"):
                return dt.type(x)
        if tag == "$keep":
            k = _cf._Keep()
            k.on = _bool(p, where)
            return k
        if tag == "$node":
            n = env.get(_str(p, where)) if isinstance(p, str) else None
            if n is None:
                _bad(where, f"$node {_short(p)} is not an earlier node of this graph")
            return n
        if tag == "$state":
            t = self.states.get(p) if isinstance(p, str) else None
            if t is None:
                _bad(where, f"$state {_short(p)} is not one of the file's variables")
            return t
        if tag == "$subgraph":
            _bad(where, "a $subgraph belongs only in the attributes of cond and while_loop")
        _bad(where, f"unknown tag {_short(tag)}")

    # ---- graphs
    def build(self, g, recs, where, depth, sub=None):
        """Add the records' nodes to g (a SubGraph when `sub`); returns name -> node."""
        env = {}
        _list(recs, f"{where}.nodes", MAX_NODES)
        for i, rec in enumerate(recs):
            w = f"{where}.nodes[{i}]"
            _obj(rec, w, ("name", "op", "shape", "dtype"),
                 ("inputs", "attrs", "requires_grad", "no_grad", "weak"))
            name = _name(rec["name"], f"{w}.name")
            w = f"{where} node {name!r}"
            if name in env:
                _bad(w, "a second node of this name")
            self.nodes += 1
            if self.nodes > MAX_NODES:
                _bad(w, f"more than {MAX_NODES} nodes")
            opname = rec["op"]
            op = OPS.get(opname) if isinstance(opname, str) else None
            if op is None:
                _bad(w, f"unknown op {_short(opname)}")
            w = f"{where} node {name!r} ({op.name})"
            ins = []
            for j, x in enumerate(_list(rec.get("inputs", []), f"{w}.inputs", 10_000)):
                if isinstance(x, str):
                    n = env.get(x)
                    if n is None:
                        _bad(w, f"input {j} names {_short(x)}, which is not an earlier node of this "
                                "graph (a dangling input, or nodes out of order: a cycle)")
                    ins.append(n.out)
                elif isinstance(x, dict) and len(x) == 1 and "$str" in x:
                    ins.append(_str(x["$str"], w))
                else:
                    v = self.value(x, f"{w} input {j}", env)
                    if not (v is None or isinstance(v, (bool, int, float, complex))):
                        _bad(w, f"input {j} is a {type(v).__name__}: a literal input is a number, "
                                "a bool or null")
                    ins.append(v)
            raw = _obj(rec.get("attrs", {}), f"{w}.attrs", optional=rec.get("attrs", {})
                       if isinstance(rec.get("attrs"), dict) else ())
            shape = _shape(rec["shape"], f"{w}.shape")
            dtype = _dtype(rec["dtype"], f"{w}.dtype", allow_object=True)
            if op.source and ins:
                _bad(w, "a source node has no inputs")
            if op.subgraphs:
                attrs = self.control_flow(g, op, ins, raw, w, depth, env)
            else:
                attrs = {_str(k, w): self.value(v, f"{w} attribute {k!r}", env) for k, v in raw.items()}
            if sub is not None and op in (VARIABLE, ASSIGN):
                _bad(w, "a subgraph reads and writes state through its captures, not with "
                        f"{op.name} nodes")
            spec = self.spec(g, op, ins, attrs, w, env)
            if tuple(spec.shape) != shape or np.dtype(spec.dtype) != dtype:
                _bad(w, f"the file says shape {list(shape)} and dtype {dtype}, the op infers "
                        f"{list(spec.shape)} and {np.dtype(spec.dtype)}")
            if None not in shape:
                n = _static_numel(shape)
                if n > MAX_NUMEL:
                    _bad(w, f"an output of {n} elements (at most {MAX_NUMEL})")
                self.numel += n
                if self.numel > MAX_TOTAL_NUMEL:
                    _bad(w, f"the node outputs hold more than {MAX_TOTAL_NUMEL} elements together")
            node = g.add_node(op, ins, attrs, spec, name=name)
            if node.name != name:
                _bad(w, f"the name could not be kept (it became {node.name!r})")
            node.out._rg = _bool(rec.get("requires_grad", False), f"{w}.requires_grad")
            node.no_grad = _bool(rec.get("no_grad", False), f"{w}.no_grad")
            node.out._weak = _bool(rec.get("weak", False), f"{w}.weak")
            env[name] = node
            if op is ASSIGN:
                g.updates.append(node)
        return env

    def spec(self, g, op, ins, attrs, w, env):
        if op is PLACEHOLDER:
            _obj(attrs, w + " attributes", ("shape", "dtype"), ("argument", "captured", "lifted"))
            shape, dt = attrs["shape"], attrs["dtype"]
            if not isinstance(shape, tuple) or len(shape) > MAX_RANK or not all(
                    d is None or (_is_int(d) and 0 <= d <= MAX_NUMEL) for d in shape):
                _bad(w, "a placeholder's shape is a $tuple of sizes and nulls")
            if not isinstance(dt, np.dtype):
                _bad(w, "a placeholder's dtype is a $dtype")
            for k in ("argument", "captured", "lifted"):
                if k in attrs and not isinstance(attrs[k], str):
                    _bad(w, f"attribute {k!r} is a string")
            return Spec(shape, dt)
        if op is CONSTANT:
            _obj(attrs, w + " attributes", ("value",))
            if not isinstance(attrs["value"], np.ndarray):
                _bad(w, "a constant's value is an $array")
            return Spec(attrs["value"].shape, attrs["value"].dtype)
        if op is VARIABLE:
            _obj(attrs, w + " attributes", ("ref", "trainable"), ("initial", "after"))
            if not isinstance(attrs["ref"], Tensor):
                _bad(w, "a variable's ref is a $state")
            _bool(attrs["trainable"], w + " trainable")
            ref = attrs["ref"]
            if "initial" in attrs:
                ini = attrs["initial"]
                if not isinstance(ini, np.ndarray) or ini.shape != ref._data.shape:
                    _bad(w, "a variable's initial value is an $array of its shape")
                attrs["initial"] = np.array(ini)  # (writable, as dg.Variable keeps it)
            if "after" in attrs:
                a = attrs["after"]
                if not isinstance(a, GraphNode) or a.op is not ASSIGN or a.attrs["ref"] is not ref:
                    _bad(w, "'after' is a $node: an earlier assign to the same variable")
            return Spec(ref._data.shape, ref._data.dtype)
        if op is ASSIGN:
            _obj(attrs, w + " attributes", ("ref", "tracks"))
            ref = attrs["ref"]
            if not isinstance(ref, Tensor):
                _bad(w, "an assign's ref is a $state")
            _bool(attrs["tracks"], w + " tracks")
            if len(ins) != 2 or not all(isinstance(x, SymbolicTensor) for x in ins):
                _bad(w, "an assign has two node inputs (the state's current value, the new value)")
            cur, val = ins
            if cur.node.op not in (VARIABLE, ASSIGN) or cur.node.attrs["ref"] is not ref:
                _bad(w, "an assign's first input is a value of the variable it writes")
            rs = ref._data.shape
            if tuple(cur.shape) != rs or len(val.shape) != len(rs) or any(
                    d is not None and d != r for d, r in zip(val.shape, rs)):
                _bad(w, f"the value's shape {list(val.shape)} does not fit the variable's {list(rs)}")
            if val._dtype.kind == "O":
                _bad(w, "the value is not an array")
        if op is _cf.TUPLE_GET:
            self.check_tuple_get(ins, attrs, w)
        for x in ins:
            if isinstance(x, SymbolicTensor) and x._dtype.kind == "O" and op is not _cf.TUPLE_GET:
                _bad(w, "reads a control-flow op's tuple, which only tuple_get may read")
        specs = [Spec(x._shape, x._dtype) if isinstance(x, SymbolicTensor) else x for x in ins]
        try:
            spec = op.infer(*specs, **attrs)
        except Exception as e:  # noqa: BLE001 - any failure of the shape rule refuses the file
            _bad(w, f"the op's shape rule refuses it: {type(e).__name__}: {str(e)[:300]}")
        if not isinstance(spec, Spec) or not isinstance(spec.dtype, np.dtype):
            _bad(w, "the op's shape rule gives no spec")
        return spec

    def check_tuple_get(self, ins, attrs, w):
        if not ins or not isinstance(ins[0], SymbolicTensor) or not ins[0].node.op.subgraphs:
            _bad(w, "tuple_get reads a cond or while_loop node")
        if set(attrs) != {"index", "shape", "dtype"}:
            _bad(w, "tuple_get has the attributes index, shape and dtype")
        idx, shape, dt = attrs["index"], attrs["shape"], attrs["dtype"]
        if not isinstance(shape, tuple) or not all(d is None or (_is_int(d) and d >= 0) for d in shape) \
                or not isinstance(dt, np.dtype):
            _bad(w, "tuple_get's shape is a $tuple of sizes and nulls, its dtype a $dtype")
        if not _is_int(idx) or idx < 0:
            _bad(w, "tuple_get's index is a non-negative integer")
        for x in ins[1:]:
            if not isinstance(x, SymbolicTensor):
                _bad(w, "tuple_get's later inputs are nodes")
        src = ins[0].node
        a = src.attrs
        if src.op is _cf.COND:
            if idx >= a["n_out"]:
                _bad(w, f"index {idx} of a cond with {a['n_out']} outputs")
            outs = [b.outputs[idx] for b in a["branches"]]
        else:
            nv = a["n_vars"]
            n_stack = sum(a["stacked"]) if a["keep"].on else 0
            if idx > nv + n_stack:
                _bad(w, f"index {idx} of a while_loop with {nv + 1 + n_stack} outputs")
            if idx == nv:
                if shape != () or dt != np.dtype(np.int64):
                    _bad(w, "the iteration count of a while_loop is an int64 scalar")
                return
            if idx < nv:
                outs = [a["body"].outputs[idx]]
            else:
                k = [i for i, s in enumerate(a["stacked"]) if s][idx - nv - 1]
                s, d = a["specs"][k]
                if dt != d or len(shape) != len(s) + 1:
                    _bad(w, "a while_loop's kept loop variables do not fit tuple_get's spec")
                return
        for o in outs:
            if o._dtype != dt or len(o.shape) != len(shape) or any(
                    d is not None and e is not None and d != e for d, e in zip(shape, o.shape)):
                _bad(w, f"tuple_get's spec {list(shape)} {dt} does not fit the output it takes "
                        f"({list(o.shape)} {o._dtype})")

    def control_flow(self, g, op, ins, raw, w, depth, env):
        if depth + 1 > MAX_SUBGRAPH_DEPTH:
            _bad(w, f"control flow nested more than {MAX_SUBGRAPH_DEPTH} deep")
        for x in ins:
            if not isinstance(x, SymbolicTensor):
                _bad(w, "the inputs of a control-flow op are nodes")
        keys = ("branches", "n_out") if op is _cf.COND else (
            "cond", "body", "n_vars", "n_caps", "maximum_iterations", "keep", "stacked", "specs")
        _obj(raw, w + ".attrs", keys, () if op is _cf.COND else ("reach",))
        subs = ("branches",) if op is _cf.COND else ("cond", "body")
        attrs = {k: self.value(v, f"{w} attribute {k!r}", env) for k, v in raw.items() if k not in subs}

        def sub_rec(v, where):
            if not (isinstance(v, dict) and len(v) == 1 and "$subgraph" in v):
                _bad(where, "expected a $subgraph")
            return v["$subgraph"]

        if op is _cf.COND:
            n_out = _int(attrs["n_out"], w + " n_out", 0, MAX_NODES)
            if not ins or ins[0].ndim not in (0, 1) or (ins[0].ndim == 1 and tuple(ins[0].shape) != (1,)):
                _bad(w, "a cond's first input is a scalar predicate")
            br = raw["branches"]
            if not (isinstance(br, dict) and len(br) == 1 and "$tuple" in br
                    and isinstance(br["$tuple"], list) and len(br["$tuple"]) == 2):
                _bad(w, "a cond's branches are a $tuple of two $subgraph")
            frame = list(ins[1:])
            branches = tuple(self.subgraph(g, sub_rec(r, f"{w} branch {i}"), frame, 0, n_out,
                                           f"{w} branch {i}", depth) for i, r in enumerate(br["$tuple"]))
            for k, (a, b) in enumerate(zip(branches[0].outputs, branches[1].outputs)):
                if a._dtype != b._dtype or len(a.shape) != len(b.shape):
                    _bad(w, f"output {k} differs in dtype or rank between the branches")
            attrs["branches"] = branches
            attrs["n_out"] = n_out
            return {k: attrs[k] for k in raw}
        nv = _int(attrs["n_vars"], w + " n_vars", 0, MAX_NODES)
        nc = _int(attrs["n_caps"], w + " n_caps", 0, MAX_NODES)
        mi = attrs["maximum_iterations"]
        if mi is not None:
            _int(mi, w + " maximum_iterations", 0, MAX_INT)
        if len(ins) not in (nv + nc, nv + nc + 1):
            _bad(w, f"{len(ins)} inputs for {nv} loop variables and {nc} captures")
        if len(ins) == nv + nc + 1:
            m = ins[-1]
            if mi is not None or m.ndim != 0 or m._dtype.kind not in "iu":
                _bad(w, "the extra input is the integer scalar maximum_iterations")
        if not isinstance(attrs["keep"], _cf._Keep):
            _bad(w, "'keep' is a $keep")
        stacked, specs = attrs["stacked"], attrs["specs"]
        if not (isinstance(stacked, tuple) and len(stacked) == nv and all(isinstance(s, bool) for s in stacked)):
            _bad(w, "'stacked' is a $tuple of a bool per loop variable")
        ok = isinstance(specs, tuple) and len(specs) == nv
        for s in specs if ok else ():
            ok = ok and isinstance(s, tuple) and len(s) == 2 and isinstance(s[0], tuple) and \
                len(s[0]) <= MAX_RANK and all(d is None or (_is_int(d) and d >= 0) for d in s[0]) \
                and isinstance(s[1], np.dtype)
        if not ok:
            _bad(w, "'specs' is a $tuple of ($tuple shape, $dtype) per loop variable")
        frame = list(ins[:nv + nc])
        for k in range(nv):
            s, d = specs[k]
            x = frame[k]
            if x._dtype != d or len(x.shape) != len(s) or any(
                    a is not None and a != b for a, b in zip(s, x.shape)):
                _bad(w, f"loop variable {k} ({list(x.shape)} {x._dtype}) does not fit its spec")
        cond = self.subgraph(g, sub_rec(raw["cond"], f"{w} cond"), frame, nv, 1, f"{w} cond",
                             depth, specs)
        c = cond.outputs[0]
        if c.ndim not in (0, 1) or (c.ndim == 1 and tuple(c.shape) != (1,)):
            _bad(w, "a while_loop's cond returns a scalar")
        body = self.subgraph(g, sub_rec(raw["body"], f"{w} body"), frame, nv, nv, f"{w} body",
                             depth, specs)
        for k, (o, (s, d)) in enumerate(zip(body.outputs, specs)):
            if o._dtype != d or len(o.shape) != len(s) or any(
                    a is not None and a != b for a, b in zip(s, o.shape)):
                _bad(w, f"the body's output {k} ({list(o.shape)} {o._dtype}) does not fit loop "
                        "variable {k}'s spec")
        want = tuple(o.node is not p.node for o, p in zip(body.outputs, body.graph.inputs))
        if want != stacked:
            _bad(w, "'stacked' does not say which loop variables the body changes")
        reach = attrs.get("reach", ())
        # (control_flow._reach_flags: a capture's frame position, the bool loop variable saying
        # whether an iteration's gradient reached it)
        if not (isinstance(reach, tuple) and all(
                isinstance(r, tuple) and len(r) == 2 and _is_int(r[0]) and _is_int(r[1])
                and nv <= r[0] < nv + nc and 0 <= r[1] < nv and specs[r[1]] == ((), np.dtype(np.bool_))
                for r in reach)):
            _bad(w, "'reach' is a $tuple of ($tuple capture position, bool loop variable)")
        attrs["cond"], attrs["body"] = cond, body
        return {k: attrs[k] for k in raw}

    def subgraph(self, outer, rec, frame, n_inputs, n_outputs, w, depth, specs=None):
        _obj(rec, w, ("name", "nodes", "inputs", "captures", "outputs", "index"), ("what",))
        name = _str(rec["name"], f"{w}.name")
        what = _str(rec.get("what", "a subgraph"), f"{w}.what")
        sub = SubGraph(outer, name, what)
        env = self.build(sub, rec["nodes"], w, depth + 1, sub=True)

        def ph(n, where):
            node = env.get(n) if isinstance(n, str) else None
            if node is None or node.op is not PLACEHOLDER:
                _bad(where, f"{_short(n)} is not a placeholder of the subgraph")
            return node

        inputs = [ph(n, f"{w}.inputs") for n in _list(rec["inputs"], f"{w}.inputs", MAX_NODES)]
        caps = [ph(n, f"{w}.captures") for n in _list(rec["captures"], f"{w}.captures", MAX_NODES)]
        feeds = inputs + caps
        if len({id(n) for n in feeds}) != len(feeds):
            _bad(w, "a placeholder is listed twice among the inputs and captures")
        if {id(n) for n in env.values() if n.op is PLACEHOLDER} != {id(n) for n in feeds}:
            _bad(w, "every placeholder of a subgraph is one of its inputs or captures")
        if len(inputs) != n_inputs:
            _bad(w, f"{len(inputs)} inputs, expected {n_inputs}")
        index = _list(rec["index"], f"{w}.index", MAX_NODES)
        if len(index) != len(feeds):
            _bad(w, f"index has {len(index)} entries for {len(feeds)} placeholders")
        index = tuple(_int(i, f"{w}.index", 0, max(len(frame) - 1, 0)) for i in index)
        if len(frame) == 0 and index:
            _bad(w, "index names a position of an empty frame")
        if index[:n_inputs] != tuple(range(n_inputs)) or any(i < n_inputs for i in index[n_inputs:]):
            _bad(w, "index: the inputs take the loop variables in order, the captures what follows")
        for k, (node, i) in enumerate(zip(feeds, index)):
            spec = node.out
            x = frame[i]
            s, d = (specs[i] if k < n_inputs else (tuple(x.shape), x._dtype))
            if spec._dtype != d or len(spec.shape) != len(s) or any(
                    a is not None and a != b for a, b in zip(spec.shape, s)):
                _bad(w, f"placeholder {node.name!r} ({list(spec.shape)} {spec._dtype}) does not fit "
                        f"what feeds it ({list(s)} {d})")
        sub.inputs = [n.out for n in inputs]
        for node, i in zip(caps, index[n_inputs:]):
            ox = frame[i]
            if ox.node in sub.captures:
                _bad(w, f"{ox.node.name!r} is captured twice")
            sub.captures[ox.node] = (ox, node.out)
        outs = []
        for n in _list(rec["outputs"], f"{w}.outputs", MAX_NODES):
            node = env.get(n) if isinstance(n, str) else None
            if node is None:
                _bad(f"{w}.outputs", f"{_short(n)} is not a node of the subgraph")
            if node.out._dtype.kind == "O" or node.op.no_value:
                _bad(f"{w}.outputs", f"{node.name!r} is not a value")
            outs.append(node.out)
        if len(outs) != n_outputs:
            _bad(w, f"{len(outs)} outputs, expected {n_outputs}")
        try:
            return _LoadedBranch(sub, outs, index)
        except ExportError:
            raise
        except Exception as e:  # noqa: BLE001 - a subgraph that does not compile refuses the file
            _bad(w, f"the subgraph does not compile: {type(e).__name__}: {str(e)[:300]}")

    # ---- the document
    def document(self, doc):
        if not isinstance(doc, dict):
            raise ExportError(f"not a dualgraph graph file: the JSON is a {type(doc).__name__}, "
                              "not an object")
        fmt, ver = doc.get("format"), doc.get("version")
        if fmt != FORMAT:
            raise ExportError(f"not a dualgraph graph file: format is {_short(fmt)}, expected {FORMAT!r}")
        if ver != VERSION or not _is_int(ver):
            raise ExportError(
                f"this file is written in {FORMAT} schema version {_short(ver)}; this dualgraph "
                f"reads version {VERSION} only (docs/graph-schema.md says what each version holds)"
                + (": write it again with the dualgraph that reads it, or upgrade" if _is_int(ver) else ""))
        _obj(doc, "the file", ("format", "version", "nodes", "variables"),
             ("name", "updates", "lifted", "function", "sidecar"))
        name = doc.get("name")
        if name is not None:
            _str(name, "name")
        g = Graph(name)
        variables = _obj(doc["variables"], "variables",
                         optional=doc["variables"] if isinstance(doc["variables"], dict) else ())
        if len(variables) > MAX_NODES:
            _bad("variables", "too many")
        for vname, rec in variables.items():
            w = f"variable {_short(vname)}"
            _name(vname, w)
            _obj(rec, w, ("value", "requires_grad", "cur"))
            arr = np.array(self.array(rec["value"], f"{w}.value"))
            t = wrap_array(arr)
            t._rg = _bool(rec["requires_grad"], f"{w}.requires_grad") and arr.dtype.kind == "f"
            self.states[vname] = t
        env = self.build(g, doc["nodes"], "nodes", 0)
        for vname, rec in variables.items():
            w = f"variable {vname!r}"
            t = self.states[vname]
            h = env.get(vname)
            if h is None or h.op is not VARIABLE or h.attrs["ref"] is not t or "after" in h.attrs:
                _bad(w, "its name is not a variable node reading it")
            cur = env.get(rec["cur"]) if isinstance(rec["cur"], str) else None
            if cur is None or cur.op not in (VARIABLE, ASSIGN) or cur.attrs["ref"] is not t:
                _bad(w, f"'cur' {_short(rec['cur'])} is not a value of this variable")
            st = _State(t, h.out)
            st.cur = cur.out
            st.trained = t if t._rg else None
            st.leaves = [n.out for n in env.values() if n.op is VARIABLE and n.attrs["ref"] is t]
            st.version = sum(1 for n in g.updates if n.attrs["ref"] is t)
            g._states[state_key(t)] = st
        for n in env.values():
            if n.op is VARIABLE and state_key(n.attrs["ref"]) not in g._states:
                _bad(f"node {n.name!r}", "reads a variable whose node is not its handle")
        if "updates" in doc:
            ups = []
            for u in _list(doc["updates"], "updates", MAX_NODES):
                n = env.get(u) if isinstance(u, str) else None
                if n is None or n.op is not ASSIGN:
                    _bad("updates", f"{_short(u)} is not an assign node")
                ups.append(n)
            g.updates = ups
        for i, item in enumerate(_list(doc.get("lifted", []), "lifted", MAX_NODES)):
            w = f"lifted[{i}]"
            if not (isinstance(item, list) and len(item) == 2):
                _bad(w, "expected [placeholder name, value]")
            n = env.get(item[0]) if isinstance(item[0], str) else None
            if n is None or n.op is not PLACEHOLDER or "lifted" not in n.attrs or n.out.shape != ():
                _bad(w, f"{_short(item[0])} is not a lifted placeholder")
            v = self.value(item[1], w, env)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                _bad(w, "a lifted value is a number")
            dt = n.out._dtype
            if dt.kind in "iu" and not (_is_int(v) and np.iinfo(dt).min <= v <= np.iinfo(dt).max) \
                    or dt.kind not in "iufc":
                _bad(w, f"a lifted value {_short(item[1])} does not fit its placeholder's dtype {dt}")
            arr = np.asarray(v, dt)
            arr.flags.writeable = False
            g.lifted.append((n.out, (lambda a=arr: a), n.attrs["lifted"]))
        if "function" in doc:
            f = _obj(doc["function"], "function", ("feeds", "fetches", "updates"))

            def names(key, ok, what):
                out = []
                for x in _list(f[key], f"function.{key}", MAX_NODES):
                    n = env.get(x) if isinstance(x, str) else None
                    if n is None or not ok(n):
                        _bad(f"function.{key}", f"{_short(x)} is not {what}")
                    out.append(n.out)
                return out
            g.exported_function = FunctionTrace(
                g, names("feeds", lambda n: n.op is PLACEHOLDER, "a placeholder"),
                names("fetches", lambda n: n.out._dtype.kind != "O", "a value of the graph"),
                names("updates", lambda n: n.op is ASSIGN, "an assign node"))
        else:
            g.exported_function = None
        return g


class _LoadedBranch(_cf._Branch):
    """A control-flow op's branch as read from a file. `_Branch` compiles its plan when it is
    made, and the optimising compiler folds constants: it runs kernels, which a hostile file
    could make arbitrarily long (a matmul of two large `ones`). Reading checks that the
    subgraph compiles without optimising (no kernel runs); the optimised plan is compiled when
    the branch first runs, as `_Branch` would have compiled it."""

    __slots__ = ("_plan",)

    def __init__(self, graph, outputs, index):
        self.graph, self.outputs, self.index = graph, outputs, index
        graph.compile(list(outputs), feeds=graph.feeds(), optimize=False)
        self._plan = None
        self._fns = {}
        self.uses_by_output = _cf.branch_uses(graph, outputs, index)
        self.uses = frozenset().union(*self.uses_by_output)

    @property
    def plan(self):
        if self._plan is None:
            self._plan = self.graph.compile(list(self.outputs), feeds=self.graph.feeds())
        return self._plan


def _no_constant(name):
    raise ValueError(f"{name} is not JSON (write non-finite numbers as \"nan\", \"inf\", \"-inf\")")


def _pairs(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"the key {k!r} appears twice in one object")
        out[k] = v
    return out


def _check_depth(doc):
    stack = [(doc, 1)]
    while stack:
        v, d = stack.pop()
        if d > MAX_JSON_DEPTH:
            raise ExportError(f"the JSON is nested more than {MAX_JSON_DEPTH} deep")
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)


def _parse(text):
    if isinstance(text, (bytes, bytearray, memoryview)):
        if len(text) > MAX_TEXT_BYTES:
            raise ExportError(f"the file is {len(text)} bytes, more than the limit {MAX_TEXT_BYTES}")
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            raise ExportError(f"the file is not UTF-8 text: {e}") from None
    if not isinstance(text, str):
        raise ExportError(f"from_json takes JSON text (str or bytes), got {type(text).__name__}")
    if len(text) > MAX_TEXT_BYTES:
        raise ExportError(f"the text is {len(text)} characters, more than the limit {MAX_TEXT_BYTES}")
    try:
        doc = json.loads(text, parse_constant=_no_constant, object_pairs_hook=_pairs)
    except RecursionError:
        raise ExportError(f"the JSON is nested more than {MAX_JSON_DEPTH} deep") from None
    except (ValueError, TypeError) as e:
        raise ExportError(f"not valid JSON: {str(e)[:300]}") from None
    _check_depth(doc)
    return doc


def _read(doc, arrays):
    try:
        return _Reader(arrays).document(doc)
    except ExportError:
        raise
    except RecursionError:
        raise ExportError("the file nests too deeply to be read") from None


def from_json(text):
    """A runnable dg.Graph from JSON text (str or bytes) in schema version 1, with the nodes'
    original names (`Session(g).run("name:0")`); a recorded function trace is
    `g.exported_function` (a FunctionTrace), else None. Anything else raises ExportError."""
    return _read(_parse(text), None)


class _Sidecar:
    """Arrays of a sidecar .npz, each read when the JSON asks for it and checked against the
    dtype and shape the JSON declares before its data is read (allow_pickle=False)."""

    def __init__(self, path):
        self.path = path
        try:
            self.zf = zipfile.ZipFile(path)
            names = self.zf.namelist()
        except Exception as e:  # noqa: BLE001 - any damage of the archive refuses it
            raise ExportError(f"the sidecar {path!r} is not a readable .npz: "
                              f"{type(e).__name__}: {str(e)[:200]}") from None
        if len(set(names)) != len(names):
            self.zf.close()
            raise ExportError(f"the sidecar {path!r} holds two members of one name")
        self.used = set()

    def __call__(self, key, dt, shape, where):
        if not key.isidentifier():
            _bad(where, f"sidecar key {_short(key)} is not a name")
        if key in self.used:
            _bad(where, f"sidecar array {key!r} is used twice")
        self.used.add(key)
        member = key + ".npy"
        try:
            info = self.zf.getinfo(member)
        except KeyError:
            _bad(where, f"the sidecar has no array {key!r}")
        n = int(np.prod(shape, dtype=object)) if shape else 1
        limit = n * dt.itemsize + 4096
        if info.file_size > limit:
            _bad(where, f"sidecar array {key!r} is {info.file_size} bytes, more than its declared "
                        f"shape and dtype need")
        try:
            with self.zf.open(info) as f:
                data = f.read(limit + 1)
        except Exception as e:  # noqa: BLE001 - a damaged member (CRC, compression, encryption)
            _bad(where, f"sidecar array {key!r} cannot be read: {type(e).__name__}: {str(e)[:200]}")
        if len(data) > limit:
            _bad(where, f"sidecar array {key!r} is larger than its declared shape and dtype")
        try:
            bio = io.BytesIO(data)
            version = np.lib.format.read_magic(bio)
            if version == (1, 0):
                hshape, fortran, hdt = np.lib.format.read_array_header_1_0(bio)
            elif version == (2, 0):
                hshape, fortran, hdt = np.lib.format.read_array_header_2_0(bio)
            else:
                raise ValueError(f"npy version {version}")
            if hdt != dt or tuple(hshape) != tuple(shape):
                _bad(where, f"sidecar array {key!r} is {hdt} {list(hshape)}, the file declares "
                            f"{dt} {list(shape)}")
            arr = np.load(io.BytesIO(data), allow_pickle=False)
        except ExportError:
            raise
        except Exception as e:  # noqa: BLE001 - a damaged .npy member
            _bad(where, f"sidecar array {key!r} is not a valid .npy: {type(e).__name__}: {str(e)[:200]}")
        if not isinstance(arr, np.ndarray) or arr.dtype != dt or arr.shape != tuple(shape):
            _bad(where, f"sidecar array {key!r} does not hold the declared array")
        return np.asarray(arr, order="C")


def load(path):
    """A dg.Graph from a file `save` wrote (the JSON, and the sidecar .npz it names, beside it)."""
    path = os.fspath(path)
    try:
        size = os.path.getsize(path)
        if size > MAX_TEXT_BYTES:
            raise ExportError(f"{path!r} is {size} bytes, more than the limit {MAX_TEXT_BYTES}")
        with open(path, "rb") as f:
            text = f.read(MAX_TEXT_BYTES + 1)
    except OSError as e:
        raise ExportError(f"cannot read {path!r}: {e}") from None
    doc = _parse(text)
    side = None
    if isinstance(doc, dict) and "sidecar" in doc and doc.get("version") == VERSION \
            and doc.get("format") == FORMAT:
        name = doc["sidecar"]
        if not isinstance(name, str) or not name or os.path.basename(name) != name \
                or name in (".", "..") or "\\" in name or "\0" in name:
            raise ExportError(f"sidecar: {_short(name)} is not a plain file name beside the JSON")
        side = _Sidecar(os.path.join(os.path.dirname(os.path.abspath(path)), name))
    try:
        return _read(doc, side)
    finally:
        if side is not None:
            side.zf.close()
