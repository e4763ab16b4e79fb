"""dg.export.from_json under fuzzing, with the checkpoint loader's harness (tests/fuzz_harness.py):
thousands of deterministic cases made from small valid graph files (an MLP training graph,
views and indexing, cond and while_loop with gradients, a dg.function trace, odd values):
every field of the JSON mutated (missing keys, wrong types, huge numbers, nested garbage,
duplicate keys, broken text), byte-level damage, graph-level edits (nodes reordered, dropped
and duplicated: cycles and dangling inputs; ops swapped for every registered op; huge shapes
and giant declared arrays; deep nesting; hostile tags; other schema versions), and random JSON.
Each runs in a child process under an address-space limit and a time bound; each must load
(then the graph lints and writes again) or raise dg.export.ExportError. Anything else fails
with the case's description.

The sidecar .npz that dg.export.load reads beside the JSON is fuzzed the same way, with the
harness's byte and zip families (bombs, pickles, traversal names, duplicate members, lying
sizes): each case must load the same graph or raise ExportError.

DG_FUZZ_N=20000 python -m pytest -q tests/test_export_json_fuzz.py   # the long run (both)
"""
import collections
import functools
import json
import os

import numpy as np

import fuzz_harness as fh
from fuzz_harness import Case

N = int(os.environ.get("DG_FUZZ_N", "3000"))
SEED = int(os.environ.get("DG_FUZZ_SEED", "0"))


# ============================================================ seeds, loader, equality
def _graphs():
    import dualgraph as dg
    rng = np.random.default_rng(0)
    out = []
    with dg.graph_mode() as g:                       # an MLP training graph
        x = dg.placeholder([None, 3], name="x")
        y = dg.placeholder([None], "int64", name="y")
        with dg.name_scope("l1"):
            w = dg.Variable(rng.standard_normal((3, 4)).astype(np.float32), name="w")
        b = dg.Variable(np.zeros(2, np.float32), name="b")
        w2 = dg.Variable(rng.standard_normal((4, 2)).astype(np.float32), name="w2")
        loss = dg.nn.functional.cross_entropy((x @ w).relu() @ w2 + b, y)
        gs = dg.gradients(loss, [w, b, w2])
        dg.group(*[v.assign_sub(0.1 * gr) for v, gr in zip([w, b, w2], gs)])
    out.append(g)
    with dg.graph_mode() as g:                       # views, indexing, writes through them
        a = dg.placeholder([3, 4], name="a")
        i = dg.placeholder([2], "int64", name="i")
        d = a.clone()
        d[0, 1:3] += 1.0
        d[1].mul_(2)
        (a[1:, ::2] * 2).sum() + a[..., None, 0].sum() + a[i].sum() + d.view(12)[::5].sum()
    out.append(g)
    with dg.graph_mode() as g:                       # cond and while_loop, with gradients
        x = dg.placeholder((2,), "float64", name="x")
        k = dg.placeholder((), "int64", name="k")
        _, p = dg.while_loop(lambda i, y: i < k, lambda i, y: (i + 1, y * x), (0, dg.ones_like(x)))
        z = dg.cond(p.sum() > 0, lambda: dg.sqrt(p.sum()) * x, lambda: 0 * x)
        dg.gradients(z.sum(), [x])
    out.append(g)
    dg.manual_seed(0)
    lin = dg.nn.Linear(2, 2)
    opt = dg.optim.SGD(lin.parameters(), lr=0.1)

    @dg.function
    def step(x):
        opt.zero_grad()
        loss = lin(x).pow(2).mean()
        loss.backward()
        opt.step()
        return loss
    step(dg.ones(3, 2))
    out.append(step)
    with dg.graph_mode() as g:                       # odd values
        c = dg.constant(np.array([np.nan, np.inf, -np.inf, -0.0], np.float64), name="odd")
        u = dg.constant(np.array([0, 255], np.uint8), name="u8")
        s = dg.placeholder((), "int64", name="s")
        v = dg.placeholder([6], name="v")
        (c * 2).sum() + u.sum() + v[s:s + 2].sum() + v[::-1 if False else 2][0]
    out.append(g)
    return out


def make_seeds():
    from dualgraph import export as ex
    return [ex.to_json(g, indent=None).encode() for g in _graphs()]


def load(data):
    from dualgraph import export as ex
    return ex.from_json(data)


def equal(a, b):
    from dualgraph import export as ex
    return ex.to_json(a) == ex.to_json(b)


def check(g):
    """What a mode-"any" case loaded must be: a graph that lints and writes again."""
    import dualgraph as dg
    from dualgraph import export as ex
    assert isinstance(g, dg.Graph), type(g)
    g.lint()
    ex.from_json(ex.to_json(g))


# ============================================================ families
def _as_any(family, seeds, rng, k):
    # JSON has no checksums: byte damage may give another valid graph (a changed digit)
    return [c._replace(mode="any") for c in family(seeds, rng, k)]


def bytes_truncate(seeds, rng, k):
    return _as_any(fh.bytes_truncate, seeds, rng, k)


def bytes_flip(seeds, rng, k):
    return _as_any(fh.bytes_flip, seeds, rng, k)


def bytes_insert_delete(seeds, rng, k):
    return _as_any(fh.bytes_insert_delete, seeds, rng, k)


def json_field_mutations(seeds, rng, k):
    """fh.json_mutations on every seed: every field mutated."""
    per = max(1, k // len(seeds) + 1)
    groups = []
    for si, s in enumerate(seeds):
        doc = json.loads(s)
        groups.append([Case(f"seed {si}: {d}", t.encode("utf-8", "surrogatepass"), m, si)
                       for d, t, m in fh.json_mutations(doc, rng, per)])
    return fh.spread(groups, k, rng)


def _walk_graphs(doc, path=()):
    """Every node list of the document (the top graph's and each subgraph's), with its path."""
    if isinstance(doc, dict):
        if isinstance(doc.get("nodes"), list):
            yield path, doc
        for key, v in doc.items():
            yield from _walk_graphs(v, path + (key,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _walk_graphs(v, path + (i,))


def _at(doc, path):
    for p in path:
        doc = doc[p]
    return doc


def _edit(doc, path, fn):
    doc = json.loads(json.dumps(doc))
    fn(_at(doc, path))
    return json.dumps(doc).encode()


def _set_key(key, value):
    def f(x):
        x[key] = value
    return f


def graph_edits(seeds, rng, k):
    """Graph-level edits of each (sub)graph: nodes reordered, dropped, duplicated, renamed
    (cycles, dangling inputs, duplicate names); inputs pointed at later nodes; ops swapped for
    registered ops (every one); huge and negative shapes; giant declared arrays; hostile tags."""
    from dualgraph.ops.registry import OPS
    import dualgraph  # noqa: F401 - fills the registry
    ops = sorted(OPS)
    groups = collections.defaultdict(list)
    for si, s in enumerate(seeds):
        doc = json.loads(s)
        for gpath, gd in _walk_graphs(doc):
            nodes = gd["nodes"]
            where = "/".join(map(str, gpath)) or "top"

            def add(group, desc, fn, mode="any", path=gpath):
                groups[group].append(Case(f"seed {si} {where}: {desc}",
                                          functools.partial(_edit, doc, path, fn), mode, si))

            add("order", "nodes reversed", lambda g: g["nodes"].reverse())
            add("order", "nodes shuffled", lambda g, r=rng.random(): __import__("random").Random(r).shuffle(g["nodes"]))
            for j, n in enumerate(nodes):
                npath = gpath + ("nodes", j)
                add("drop", f"node {j} dropped", lambda g, j=j: g["nodes"].pop(j))
                add("dup", f"node {j} duplicated", lambda g, j=j: g["nodes"].insert(j, dict(g["nodes"][j])))
                if j + 1 < len(nodes):
                    add("order", f"nodes {j}, {j + 1} swapped",
                        lambda g, j=j: g["nodes"].__setitem__(slice(j, j + 2), g["nodes"][j:j + 2][::-1]))
                    add("cycle", f"node {j} reads node {j + 1} (later)",
                        lambda g, j=j: g["nodes"][j].__setitem__("inputs", [g["nodes"][j + 1]["name"]]))
                add("cycle", f"node {j} reads itself",
                    lambda g, j=j: g["nodes"][j].__setitem__("inputs", [g["nodes"][j]["name"]]))
                add("dangling", f"node {j} reads a missing node",
                    lambda g, j=j: g["nodes"][j].__setitem__("inputs", ["no such node"]))
                if j:
                    add("names", f"node {j} renamed as node 0",
                        lambda g, j=j: g["nodes"][j].__setitem__("name", g["nodes"][0]["name"]))
                for opname in rng.sample(ops, 6) + ["os.system", "__import__", "eval", ""]:
                    add("op", f"node {j} op -> {opname!r}", _set_key("op", opname), path=npath)
                for shp in ([2 ** 62], [2 ** 31, 2 ** 31], [-1], [None] * 40, [1] * 33, "x", [1.5]):
                    add("shape", f"node {j} shape {str(shp)[:30]}", _set_key("shape", shp), path=npath)
                for tag in ({"$pickle": "cos\nsystem\n(S'true'\ntR."}, {"$eval": "1+1"},
                            {"$import": "os.system"}, {"$array": {"dtype": "float64", "shape": [2 ** 40],
                                                                  "data": [1.0]}},
                            {"$array": {"dtype": "float64", "shape": [4096, 4096, 4096], "data": []}},
                            {"$array": {"dtype": "object", "shape": [1], "data": [None]}},
                            {"$array": {"dtype": "float32", "shape": [2], "sidecar": "a0"}},
                            {"$subgraph": {}}, {"$state": "nope"}, {"$node": "nope"},
                            {"$tuple": [{"$slot": -1}]}, {"$slice": [1, 2]}, {"$dtype": "O"},
                            {"$scalar": {"dtype": "int8", "value": 1000}}, {"$dgdtype": "complex"}):
                    add("tags", f"node {j} attribute {str(tag)[:40]}",
                        lambda x, t=tag: x.setdefault("attrs", {}).__setitem__("zz", t), path=npath)
                    if n.get("attrs"):
                        key = next(iter(n["attrs"]))
                        add("tags", f"node {j} attribute {key!r} -> {str(tag)[:40]}",
                            lambda x, t=tag, key=key: x["attrs"].__setitem__(key, t), path=npath)
        for v in (0, 2, -1, 10 ** 6, "1", 1.0, None, True):
            groups["version"].append(Case(f"seed {si}: version {v!r}",
                                          json.dumps(dict(doc, version=v)).encode(), "error", si))
        for f in ("dualgraph.graph2", "onnx", None, 1):
            groups["version"].append(Case(f"seed {si}: format {f!r}",
                                          json.dumps(dict(doc, format=f)).encode(), "error", si))
        for name, val in doc["variables"].items():
            for shp in ([2 ** 40], [2 ** 20] * 3, [0], [-2]):
                groups["arrays"].append(Case(
                    f"seed {si}: variable {name!r} declares shape {shp}",
                    functools.partial(_edit, doc, ("variables", name, "value"), _set_key("shape", shp)),
                    "error", si))
            groups["arrays"].append(Case(
                f"seed {si}: variable {name!r} with 10**5 values", functools.partial(
                    _edit, doc, ("variables", name, "value"), _set_key("data", [0.0] * 10 ** 5)),
                "error", si))
    for depth, mode in ((3, "any"), (10, "any"), (17, "error"), (20, "error"), (40, "error")):
        groups["deep"].append(Case(f"control flow nested {depth} deep",
                                   functools.partial(nested_cond_doc, depth), mode, 0))
    return fh.spread(list(groups.values()), k, rng)


def _const(name, dtype, value):
    return {"name": name, "op": "constant", "shape": [], "dtype": dtype,
            "attrs": {"value": {"$array": {"dtype": dtype, "shape": [], "data": [value]}}}}


def _cond_nodes(true, false):
    return [_const("p", "bool", True),
            {"name": "c", "op": "cond", "inputs": ["p"], "shape": [], "dtype": "object",
             "attrs": {"branches": {"$tuple": [true, false]}, "n_out": 1}},
            {"name": "o", "op": "tuple_get", "inputs": ["c"], "shape": [], "dtype": "float32",
             "attrs": {"index": 0, "shape": {"$tuple": []}, "dtype": {"$dtype": "float32"}}}]


def nested_cond_doc(depth):
    """A file of conds nested `depth` deep (each true branch holds the next cond)."""
    leaf = {"$subgraph": {"name": "leaf", "nodes": [_const("k", "float32", 1.0)], "inputs": [],
                          "captures": [], "outputs": ["k"], "index": []}}
    br = leaf
    for _ in range(depth - 1):
        br = {"$subgraph": {"name": "b", "nodes": _cond_nodes(br, leaf), "inputs": [],
                            "captures": [], "outputs": ["o"], "index": []}}
    return json.dumps({"format": "dualgraph.graph", "version": 1, "name": None,
                       "nodes": _cond_nodes(br, leaf), "variables": {}}).encode()


def _random_json(rng, depth=0):
    r = rng.random()
    if depth > 6 or r < 0.3:
        return rng.choice([None, True, False, 0, -1, 2 ** 63, 1.5, "", "x", "$tuple", "nodes",
                           "placeholder", "float32", [], {}])
    if r < 0.6:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["format", "version", "nodes", "variables", "name", "op", "inputs", "attrs", "shape",
            "dtype", "$tuple", "$array", "$subgraph", "data", "x"]
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randrange(4))}


def random_json(seeds, rng, k):
    """Random JSON documents, some shaped like a graph file (format and version right)."""
    out = []
    for j in range(k):
        doc = _random_json(rng)
        if j % 2 and isinstance(doc, dict):
            doc.update(format="dualgraph.graph", version=1)
            doc.setdefault("nodes", [_random_json(rng) for _ in range(3)])
            doc.setdefault("variables", {})
        out.append(Case(f"random JSON #{j}: {json.dumps(doc)[:60]}", json.dumps(doc).encode(),
                        "any", 0))
    return out


FAMILIES = [(json_field_mutations, 1200), (graph_edits, 900), (random_json, 300),
            (bytes_truncate, 200), (bytes_flip, 250), (bytes_insert_delete, 150)]


def run_fuzz(n=N, seed=SEED, timeout=None):
    from dualgraph.export import ExportError
    return fh.fuzz_loader(make_seeds, load, equal, n=n, seed=seed, error=ExportError,
                          families=FAMILIES, check=check, mem_limit=3 << 29,
                          timeout=timeout or max(120.0, n * 0.06))


# ============================================================ the sidecar .npz of dg.export.load
_SIDE = {}


def _sidecar_files():
    """(JSON text, .npz bytes) that dg.export.save writes for a graph with large arrays; made
    once per process (the child makes the seeds and loads them)."""
    if not _SIDE:
        import tempfile
        import dualgraph as dg
        from dualgraph import export as ex
        with dg.graph_mode() as g:
            x = dg.placeholder([None, 10], name="x")
            w = dg.Variable(np.arange(100, dtype=np.float32).reshape(10, 10) / 50, name="w")
            c = dg.constant(np.linspace(-1, 1, 80).reshape(8, 10), name="c")
            ((x @ w).sum() + c.sum()).backward()
        with tempfile.TemporaryDirectory() as d:
            ex.save(g, os.path.join(d, "g.json"))
            with open(os.path.join(d, "g.json")) as f:
                _SIDE["json"] = f.read()
            with open(os.path.join(d, "g.npz"), "rb") as f:
                _SIDE["npz"] = fh.zip_fix_times(f.read())
    return _SIDE["json"], _SIDE["npz"]


def make_sidecar_seeds():
    return [_sidecar_files()[1]]


def load_sidecar(data):
    """dg.export.load of the graph's JSON beside `data` as its sidecar .npz."""
    from dualgraph import export as ex
    d = os.environ.get("FUZZ_HARNESS_TMP") or __import__("tempfile").gettempdir()
    with open(os.path.join(d, "g.json"), "w") as f:
        f.write(_sidecar_files()[0])
    with open(os.path.join(d, "g.npz"), "wb") as f:
        f.write(data)
    return ex.load(os.path.join(d, "g.json"))


SIDECAR_N = int(os.environ.get("DG_FUZZ_N", "1500"))


def run_sidecar_fuzz(n=SIDECAR_N, seed=SEED, timeout=None):
    """The harness's byte and zip families (field rewrites, data flips, member edits: bombs,
    pickles, traversal names, duplicates, lying sizes, unknown methods) on the sidecar."""
    from dualgraph.export import ExportError
    return fh.fuzz_loader(make_sidecar_seeds, load_sidecar, equal, n=n, seed=seed,
                          error=ExportError, check=check, mem_limit=3 << 29,
                          timeout=timeout or max(120.0, n * 0.06))


def test_load_sidecar_survives_fuzzing():
    report = run_sidecar_fuzz()
    assert report["n"] >= min(SIDECAR_N, 1000), report
    assert not report["escapes"] and not report.get("n_escapes"), fh.format_escapes(report)


def test_from_json_survives_fuzzing():
    report = run_fuzz()
    assert report["n"] >= min(N, 2000), report
    assert not report["escapes"] and not report.get("n_escapes"), fh.format_escapes(report)
    fams = report["families"]
    assert {"json_field_mutations", "graph_edits", "random_json"} <= set(fams), fams
    assert report["outcomes"].get("refused", 0) > report["n"] // 2, report["outcomes"]


def test_seeds_load_and_run():
    import dualgraph as dg
    gs = [load(s) for s in make_seeds()]
    assert all(isinstance(g, dg.Graph) for g in gs)
    assert gs[3].exported_function is not None
    assert any(n.op.name == "while_loop" for n in gs[2].nodes)
    g = load(nested_cond_doc(10))
    assert float(dg.Session(g).run("o:0")) == 1.0


if __name__ == "__main__":
    import sys
    import test_export_json_fuzz as this   # functions by their importable name, not __main__
    for run in (this.run_fuzz, this.run_sidecar_fuzz):
        r = run(int(sys.argv[1]) if len(sys.argv) > 1 else N)
        print(json.dumps({k: v for k, v in r.items() if k != "escapes"}, indent=1))
        print(fh.format_escapes(r, limit=200))
