"""The layering of dualgraph (issue 9), checked against docs/ARCHITECTURE.md.

The import graph is built from the source (ast + networkx, imports inside functions included;
the checker is tests/layering.py). The layers, the facade methods (the only upward imports
allowed) and the separations are parsed out of docs/ARCHITECTURE.md, so the document and this
test cannot disagree silently: change the tables there, not here.

  - every module of dualgraph/ has exactly one layer in the table;
  - (a) no import cycle once the facade imports are left out;
  - (b) no import of a higher layer except the facade imports, and no import a separation forbids;
  - the facade table names real imports, and only upward ones;
  - (c) every `Op` reachable from the package is the very object registered in `OPS`, and no `Op`
    record is built outside `defop`.
The last three tests run the checker on a small synthetic package, so it is known to fail when
it should. `python tests/layering.py` prints the whole report for the current tree.
"""
import textwrap
import types

import pytest

import layering as L


@pytest.fixture(scope="module")
def tree():
    modules = L.package_modules()
    sites = L.import_sites(modules)
    arch = L.load_architecture()
    layer_of, problems = L.assign_layers(modules, arch)
    return types.SimpleNamespace(modules=modules, sites=sites, graph=L.import_graph(modules, sites),
                                 arch=arch, layer_of=layer_of, problems=problems)


def _fail(header, lines):
    if lines:
        pytest.fail(f"{header} ({len(lines)}):\n" + "\n".join(lines), pytrace=False)


# ---------------------------------------------------------------- the real tree
def test_layer_table_names_every_module(tree):
    assert tree.arch.facades, "docs/ARCHITECTURE.md: the facade table was not found"
    assert tree.arch.separations, "docs/ARCHITECTURE.md: the separations table was not found"
    _fail("modules without exactly one layer in docs/ARCHITECTURE.md's layer table", tree.problems)


def test_no_import_cycles(tree):
    found = L.cycles(tree.graph, tree.arch, tree.layer_of)
    _fail("import cycles (facade imports of docs/ARCHITECTURE.md left out)",
          [c.describe(tree.modules) for c in found])


def test_no_upward_imports(tree):
    found = L.upward_imports(tree.sites, tree.layer_of, tree.arch)
    _fail("imports of a higher layer (docs/ARCHITECTURE.md) that are not facade imports",
          [f"{s.where(tree.modules)}: {s.module} [{lo.label()}] imports {s.target} [{hi.label()}]"
           for s, lo, hi in found])


def test_no_forbidden_imports(tree):
    found = L.forbidden_imports(tree.sites, tree.arch)
    _fail("imports that a separation of docs/ARCHITECTURE.md forbids",
          [f"{s.where(tree.modules)}: {s.module} imports {s.target} ({sep.why})" for s, sep in found])


def test_facade_table_matches_the_code(tree):
    _fail("facade table of docs/ARCHITECTURE.md against the code",
          L.facade_problems(tree.sites, tree.layer_of, tree.arch))


def test_every_op_is_registered(tree):
    from dualgraph.ops.registry import Op, OPS
    found = L.unregistered_ops(L.import_all(tree.modules), Op, OPS)
    _fail("Op objects reachable from dualgraph that are not in dualgraph.ops.registry.OPS",
          [L.describe_op(op, wheres, OPS) for op, wheres in found])


def test_no_op_records_outside_defop(tree):
    found = L.bare_op_records(tree.modules)
    _fail("Op(...) built outside ops/registry.py's defop (register them with defop)",
          [f"{s.where(tree.modules)}: {s.target}" for s in found])


# ---------------------------------------------------------------- the checker can fail
DOC = """
| layer | name | modules | holds |
|---|---|---|---|
| 1 | low | `fake.low`, `fake.sub`, `fake.sub.*` | a `fake.mid` named here is no pattern |
| 2 | mid | `fake.mid`, `fake.sub.leaf` | |
| 3 | high | `fake.high`, `fake` | |

| importing module | function | imported module | why |
|---|---|---|---|
| `fake.low` | `C.backward` | `fake.high` | by design |
| `fake.low` | `gone` | `fake.high` | stale: no such import |
| `fake.high` | `g` | `fake.low` | not upward |

| module | must not import | why |
|---|---|---|
| `fake.mid` | `fake.low` | a separation |
"""

FILES = {
    "fake/__init__.py": "from . import low\nfrom .mid import thing\nimport fake.sub.leaf\n",
    "fake/low.py": """\
        import os


        def f():
            from .high import h  # upward, inside a function: closes low -> high -> mid -> low
            return h


        class C:
            def backward(self):
                from . import high  # a facade import
                return high
        """,
    "fake/mid.py": "from .low import f\nthing = 1\n",
    "fake/high.py": "from .mid import thing\n\n\ndef g():\n    from . import low\n",
    "fake/sub/__init__.py": "",
    "fake/sub/leaf.py": "from .. import low\nfrom ..sub import leaf2 as L2\nfrom . import *\n",
    "fake/sub/leaf2.py": "",
    "fake/extra.py": "",
}


@pytest.fixture
def fake(tmp_path):
    for name, text in FILES.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    modules = L.package_modules(tmp_path, "fake")
    sites = L.import_sites(modules, "fake")
    arch = L.parse_architecture(DOC)
    layer_of, problems = L.assign_layers(modules, arch)
    return types.SimpleNamespace(modules=modules, sites=sites, graph=L.import_graph(modules, sites),
                                 arch=arch, layer_of=layer_of, problems=problems)


def test_checker_resolves_imports(fake):
    got = {(s.module, s.line, s.function, s.target) for s in fake.sites}
    assert got == {
        ("fake", 1, "<module>", "fake.low"),                # from . import low: the submodule
        ("fake", 2, "<module>", "fake.mid"),                # from .mid import thing: the module
        ("fake", 3, "<module>", "fake.sub.leaf"),           # import a.b.c
        ("fake.low", 5, "f", "fake.high"),                  # inside a function
        ("fake.low", 11, "C.backward", "fake.high"),        # inside a method
        ("fake.mid", 1, "<module>", "fake.low"),
        ("fake.high", 1, "<module>", "fake.mid"),
        ("fake.high", 5, "g", "fake.low"),
        ("fake.sub.leaf", 1, "<module>", "fake.low"),       # from .. import low
        ("fake.sub.leaf", 2, "<module>", "fake.sub.leaf2"), # from ..sub import leaf2 as L2
        ("fake.sub.leaf", 3, "<module>", "fake.sub"),       # from . import *: the package
    }, got
    assert [lay.number for lay in fake.arch.layers] == [1, 2, 3]
    assert fake.arch.layers[0].patterns == ["fake.low", "fake.sub", "fake.sub.*"]  # not the last column
    # an exact name wins over a glob; a module no pattern names is reported
    assert fake.layer_of["fake.sub.leaf"].number == 2 and fake.layer_of["fake.sub.leaf2"].number == 1
    assert fake.problems == ["fake.extra: no layer of docs/ARCHITECTURE.md names it (add it to the layer table)"]


def test_checker_reports_a_cycle_and_an_upward_import(fake):
    found = L.cycles(fake.graph, fake.arch, fake.layer_of)
    assert [c.modules for c in found] == [["fake.high", "fake.low", "fake.mid"]]
    assert found[0].loops == [["fake.high", "fake.mid", "fake.low", "fake.high"]]
    text = found[0].describe(fake.modules)
    assert "fake.low -> fake.high [up]: fake/low.py:5 (f)" in text
    assert "C.backward" not in text  # the facade import is left out

    up = L.upward_imports(fake.sites, fake.layer_of, fake.arch)
    assert [(s.module, s.line, s.target) for s, _, _ in up] == [("fake.low", 5, "fake.high")]
    assert [(s.module, s.target) for s, _ in L.forbidden_imports(fake.sites, fake.arch)] == [("fake.mid", "fake.low")]
    problems = L.facade_problems(fake.sites, fake.layer_of, fake.arch)
    assert len(problems) == 2
    assert problems[0].startswith("fake.low gone -> fake.high: no such import")
    assert problems[1].startswith("fake.high g -> fake.low: not an upward import")

    # without the function-level import the circle is gone, and the facade alone makes none
    fake.sites = [s for s in fake.sites if s.function != "f"]
    assert L.cycles(L.import_graph(fake.modules, fake.sites), fake.arch) == []
    assert L.upward_imports(fake.sites, fake.layer_of, fake.arch) == []


def test_op_walk_finds_unregistered_ops():
    from dualgraph.ops.registry import Op, Spec

    def infer(x):
        return Spec(x.shape, x.dtype)

    reg, loose, in_table, in_class, in_closure = (Op(n, abs, infer) for n in ("reg", "loose", "t", "k", "c"))
    shadow = Op("reg", abs, infer)
    mod = types.ModuleType("fakeops")
    K = type("K", (), {"op": in_class, "__module__": "fakeops"})

    def make():
        def f():
            return in_closure
        return f

    f = make()
    f.__module__ = "fakeops"
    mod.__dict__.update(REG=reg, LOOSE=loose, TABLE=(reg, in_table), K=K, f=f, SHADOW=shadow)
    registry = {"reg": reg}
    found = L.unregistered_ops([mod], Op, registry, package="fakeops")
    got = {op.name: wheres for op, wheres in found if op is not shadow}
    assert got == {"loose": ["fakeops.LOOSE"], "t": ["fakeops.TABLE[1]"], "k": ["fakeops.K.op"],
                   "c": ["fakeops.f (closure in_closure)"]}
    assert any(op is shadow for op, _ in found)
    assert "OPS['reg'] is a different object" in L.describe_op(shadow, ["fakeops.SHADOW"], registry)
