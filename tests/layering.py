"""The layering checker behind tests/test_layering.py (issue 9): dualgraph's import graph, read
from the source, checked against the layers and facade methods that docs/ARCHITECTURE.md states.

Everything the checker is told comes from docs/ARCHITECTURE.md, parsed here, so the document and
the test cannot disagree silently:
  - the layer table  `| layer | name | modules | holds |`   (module names or globs, bottom first)
  - the facade table `| importing module | function | imported module | why |`
  - the separations  `| module | must not import | why |`

The import graph: one node per module of the package (a package's __init__ is the package's own
module), one edge per imported module, with every import statement that makes it (its line and
the function it sits in: imports inside functions count like any other). `from pkg import name`
is an import of the submodule pkg.name when that is a module, else of pkg.

Run `python tests/layering.py` for the full report on the current tree.
"""
import ast
import fnmatch
import importlib
import pathlib
import re
import sys
import types
from dataclasses import dataclass, field

import networkx as nx

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = "dualgraph"
DOC = ROOT / "docs" / "ARCHITECTURE.md"
MODULE_LEVEL = "<module>"


# ---------------------------------------------------------------- the import graph
@dataclass(frozen=True)
class Site:
    """One import statement: `module`:`line`, inside `function` (MODULE_LEVEL at top level),
    importing module `target`."""
    module: str
    line: int
    function: str
    target: str

    def where(self, modules=None):
        path = self.module
        if modules and self.module in modules:  # the file, from the package's folder on
            p = modules[self.module]
            path = "/".join(p.parts[-(self.module.count(".") + 1 + (p.name == "__init__.py")):])
        return f"{path}:{self.line} ({self.function})"

    def __str__(self):
        return f"{self.module}:{self.line} in {self.function}: imports {self.target}"


def package_modules(root=ROOT, package=PACKAGE):
    """{module name: path} for every .py file of the package (an __init__.py names its package)."""
    base = pathlib.Path(root) / package.replace(".", "/")
    out = {}
    for p in sorted(base.rglob("*.py")):
        parts = p.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _is_package(modules, name):
    p = modules.get(name)
    return p is not None and p.name == "__init__.py"


def _resolve_from(modules, module, level, name):
    """The absolute module a `from <level dots><name> import ...` in `module` names."""
    if level == 0:
        return name
    pkg = module if _is_package(modules, module) else module.rpartition(".")[0]
    for _ in range(level - 1):
        pkg = pkg.rpartition(".")[0]
    return f"{pkg}.{name}" if name else pkg


def import_sites(modules, package=PACKAGE):
    """Every import of a package module by a package module, as Sites."""
    sites, seen = [], set()
    for mod, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))

        def add(line, scope, target):
            if target == package or target.startswith(package + "."):
                if target not in modules:
                    raise ValueError(f"{mod}:{line}: import of {target!r}, which is not a module of {package}")
                site = Site(mod, line, ".".join(scope) or MODULE_LEVEL, target)
                if target != mod and site not in seen:  # (one statement may import several names)
                    seen.add(site)
                    sites.append(site)

        def walk(node, scope):
            for ch in ast.iter_child_nodes(node):
                if isinstance(ch, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    walk(ch, scope + [ch.name])
                elif isinstance(ch, ast.Import):
                    for a in ch.names:
                        add(ch.lineno, scope, a.name)
                elif isinstance(ch, ast.ImportFrom):
                    base = _resolve_from(modules, mod, ch.level, ch.module or "")
                    for a in ch.names:
                        sub = f"{base}.{a.name}"
                        add(ch.lineno, scope, sub if a.name != "*" and sub in modules else base)
                else:
                    walk(ch, scope)

        walk(tree, [])
    return sites


def import_graph(modules, sites):
    """networkx DiGraph importer -> imported; each edge's "sites" lists its import statements."""
    G = nx.DiGraph()
    G.add_nodes_from(modules)
    for s in sites:
        if G.has_edge(s.module, s.target):
            G.edges[s.module, s.target]["sites"].append(s)
        else:
            G.add_edge(s.module, s.target, sites=[s])
    return G


# ---------------------------------------------------------------- docs/ARCHITECTURE.md
@dataclass
class Layer:
    number: int
    name: str
    patterns: list

    def label(self):
        return f"layer {self.number} ({self.name})"


@dataclass(frozen=True)
class Facade:
    module: str
    function: str
    target: str

    def __str__(self):
        return f"{self.module} {self.function} -> {self.target}"


@dataclass
class Separation:
    module: str
    forbidden: list
    why: str = ""


@dataclass
class Architecture:
    layers: list = field(default_factory=list)
    facades: list = field(default_factory=list)
    separations: list = field(default_factory=list)

    def excused(self, site):
        return Facade(site.module, site.function, site.target) in self.facades


_NAME = re.compile(r"`([A-Za-z_][\w.]*(?:\.\*)?)`")


def _tables(text):
    """Every markdown table of the text: (header cells lowercased, list of row cells)."""
    tables, block = [], []
    for line in text.splitlines() + [""]:
        s = line.strip()
        if s.startswith("|"):
            block.append([c.strip() for c in s.strip("|").split("|")])
            continue
        if len(block) >= 2 and set("".join(block[1])) <= set("-: "):
            tables.append(([c.lower() for c in block[0]], block[2:]))
        block = []
    return tables


def _names(cell):
    return _NAME.findall(cell)


def parse_architecture(text):
    """The layer table, the facade list and the separations, as docs/ARCHITECTURE.md states them."""
    arch = Architecture()
    for header, rows in _tables(text):
        if header[:3] == ["layer", "name", "modules"]:
            for r in rows:
                arch.layers.append(Layer(int(r[0]), r[1].strip("* "), _names(r[2])))
        elif header[:3] == ["importing module", "function", "imported module"]:
            for r in rows:
                (m,), (f,), (t,) = _names(r[0]), _names(r[1]), _names(r[2])
                arch.facades.append(Facade(m, f, t))
        elif header[:2] == ["module", "must not import"]:
            for r in rows:
                (m,) = _names(r[0])
                arch.separations.append(Separation(m, _names(r[1]), r[2] if len(r) > 2 else ""))
    if not arch.layers:
        raise ValueError("no layer table (| layer | name | modules | ... |) found")
    nums = [lay.number for lay in arch.layers]
    if nums != sorted(set(nums)):
        raise ValueError(f"layer numbers must rise strictly down the table: {nums}")
    return arch


def load_architecture(path=DOC):
    return parse_architecture(pathlib.Path(path).read_text())


def _specificity(pattern):
    return (not pattern.endswith("*"), len(pattern))


def assign_layers(modules, arch):
    """({module: Layer}, problems): each module takes the layer of its most specific pattern
    (an exact name before a glob, a longer glob before a shorter one)."""
    layer_of, problems = {}, []
    for m in modules:
        best = []
        for lay in arch.layers:
            for p in lay.patterns:
                if fnmatch.fnmatchcase(m, p):
                    best.append((_specificity(p), p, lay))
        if not best:
            problems.append(f"{m}: no layer of docs/ARCHITECTURE.md names it (add it to the layer table)")
            continue
        best.sort(key=lambda b: b[0], reverse=True)
        if len(best) > 1 and best[0][0] == best[1][0] and best[0][2] is not best[1][2]:
            problems.append(f"{m}: named by {best[0][1]!r} ({best[0][2].label()}) and "
                            f"{best[1][1]!r} ({best[1][2].label()}) alike")
            continue
        layer_of[m] = best[0][2]
    return layer_of, problems


# ---------------------------------------------------------------- the checks
@dataclass
class Cycle:
    modules: list       # the strongly connected component, sorted
    edges: list         # (importer, imported, [Site]) inside it, facade sites left out
    loops: list         # its elementary cycles (module lists, first module repeated at the end)
    kinds: dict = field(default_factory=dict)  # (importer, imported) -> "up", "same layer", "down"

    def describe(self, modules=None, max_loops=25):
        lines = [f"import cycle among {len(self.modules)} modules: {', '.join(self.modules)}",
                 f"  {len(self.loops)} elementary cycle(s):"]
        lines += [f"    {' -> '.join(c)}" for c in self.loops[:max_loops]]
        if len(self.loops) > max_loops:
            lines.append(f"    ... and {len(self.loops) - max_loops} more")
        lines.append("  its imports (cut one per cycle; [up] and [forbidden] ones also break the layering):")
        for a, b, ss in self.edges:
            kind = self.kinds.get((a, b))
            lines.append(f"    {a} -> {b}{f' [{kind}]' if kind else ''}: "
                         + "; ".join(s.where(modules) for s in ss))
        return "\n".join(lines)


def cycles(G, arch, layer_of=None, max_loops=200):
    """The import circles left once the facade imports are taken out: one Cycle per strongly
    connected component of more than one module."""
    H = nx.DiGraph()
    H.add_nodes_from(G)
    for a, b, d in G.edges(data=True):
        kept = [s for s in d["sites"] if not arch.excused(s)]
        if kept:
            H.add_edge(a, b, sites=kept)
    out = []
    for comp in nx.strongly_connected_components(H):
        if len(comp) < 2:
            continue
        sub = H.subgraph(comp)
        edges = sorted((a, b, d["sites"]) for a, b, d in sub.edges(data=True))
        loops = []
        for c in nx.simple_cycles(sub):
            i = c.index(min(c))
            loops.append(c[i:] + c[:i] + [c[i]])
            if len(loops) >= max_loops:
                break
        loops.sort(key=lambda c: (len(c), c))
        kinds = {}
        if layer_of:
            for a, b, _ in edges:
                la, lb = layer_of.get(a), layer_of.get(b)
                if la is not None and lb is not None:
                    kinds[(a, b)] = ("up" if lb.number > la.number else
                                     "same layer" if lb.number == la.number else "down")
        for a, b, _ in edges:
            if any(fnmatch.fnmatchcase(a, sep.module) and any(fnmatch.fnmatchcase(b, f) for f in sep.forbidden)
                   for sep in arch.separations):
                kinds[(a, b)] = "forbidden" if (a, b) not in kinds else kinds[(a, b)] + ", forbidden"
        out.append(Cycle(sorted(comp), edges, loops, kinds))
    return sorted(out, key=lambda c: c.modules)


def upward_imports(sites, layer_of, arch):
    """(Site, importer's Layer, imported's Layer) for each import of a higher layer that is not a
    facade import."""
    out = []
    for s in sites:
        lo, hi = layer_of.get(s.module), layer_of.get(s.target)
        if lo is not None and hi is not None and hi.number > lo.number and not arch.excused(s):
            out.append((s, lo, hi))
    return out


def forbidden_imports(sites, arch):
    """(Site, Separation) for each import that a separation of docs/ARCHITECTURE.md forbids."""
    out = []
    for s in sites:
        for sep in arch.separations:
            if fnmatch.fnmatchcase(s.module, sep.module) and not arch.excused(s) and any(
                    fnmatch.fnmatchcase(s.target, p) for p in sep.forbidden):
                out.append((s, sep))
    return out


def facade_problems(sites, layer_of, arch):
    """Facade entries of the doc that no import of the code matches, or that need no excuse."""
    out = []
    for f in arch.facades:
        if f.function == MODULE_LEVEL:
            out.append(f"{f}: a facade is a lazy import inside one function, not a module-level import")
            continue
        here = [s for s in sites if (s.module, s.function, s.target) == (f.module, f.function, f.target)]
        if not here:
            seen = sorted({s.target for s in sites if (s.module, s.function) == (f.module, f.function)})
            out.append(f"{f}: no such import in the code (the function imports "
                       f"{', '.join(seen) if seen else 'nothing of the package'}); "
                       "fix the code or the facade table of docs/ARCHITECTURE.md")
            continue
        lo, hi = layer_of.get(f.module), layer_of.get(f.target)
        if lo is not None and hi is not None and hi.number <= lo.number:
            out.append(f"{f}: not an upward import ({lo.label()} imports {hi.label()}), so it needs "
                       "no facade entry; remove it from docs/ARCHITECTURE.md")
    return out


# ---------------------------------------------------------------- ops outside the registry
def bare_op_records(modules, package=PACKAGE):
    """Sites (target = the source text) of `Op(...)` built outside ops/registry.py's defop."""
    out = []
    for mod, path in modules.items():
        if mod == f"{package}.ops.registry":
            continue
        tree = ast.parse(path.read_text(), filename=str(path))

        def walk(node, scope):
            for ch in ast.iter_child_nodes(node):
                if isinstance(ch, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    walk(ch, scope + [ch.name])
                    continue
                if isinstance(ch, ast.Call):
                    f = ch.func
                    if (isinstance(f, ast.Name) and f.id == "Op") or (isinstance(f, ast.Attribute) and f.attr == "Op"):
                        name = ch.args[0].value if ch.args and isinstance(ch.args[0], ast.Constant) else "?"
                        out.append(Site(mod, ch.lineno, ".".join(scope) or MODULE_LEVEL, f"Op({name!r}, ...)"))
                walk(ch, scope)

        walk(tree, [])
    return out


def import_all(modules):
    """Import every module of the package (not __main__ modules: they run a program)."""
    loaded = []
    for m in modules:
        if m.rpartition(".")[2] == "__main__":
            continue
        loaded.append(importlib.import_module(m))
    return loaded


def _children(obj, package):
    """What one level down from a module global the op walk looks at."""
    if isinstance(obj, (tuple, list, set, frozenset)):
        return [(f"[{i}]", x) for i, x in enumerate(obj)]
    if isinstance(obj, dict):
        return [(f"[{k!r}]", v) for k, v in obj.items()] + [(f" key {k!r}", k) for k in obj]
    if isinstance(obj, types.ModuleType):
        return []
    if isinstance(obj, type):
        if not (obj.__module__ or "").startswith(package):
            return []
        return [(f".{k}", v) for k, v in vars(obj).items()]
    if isinstance(obj, types.FunctionType):
        if not (obj.__module__ or "").startswith(package):
            return []
        got = [(f".__defaults__[{i}]", v) for i, v in enumerate(obj.__defaults__ or ())]
        for name, cell in zip(obj.__code__.co_freevars, obj.__closure__ or ()):
            try:
                got.append((f" (closure {name})", cell.cell_contents))
            except ValueError:
                pass
        return got
    if (type(obj).__module__ or "").startswith(package) and hasattr(obj, "__dict__"):
        return [(f".{k}", v) for k, v in vars(obj).items()]
    return []


def unregistered_ops(module_objects, op_type, registry, package=PACKAGE):
    """(op, [where it is reachable]) for every op_type object reachable from the modules' globals
    (and one level down: container items, class attributes, closures, instance attributes)
    that is not, by identity, a value of `registry`."""
    registered = {id(o) for o in registry.values()}
    found = {}

    def see(obj, where):
        if isinstance(obj, op_type) and id(obj) not in registered:
            found.setdefault(id(obj), (obj, []))[1].append(where)

    for mod in module_objects:
        for k, v in list(vars(mod).items()):
            where = f"{mod.__name__}.{k}"
            see(v, where)
            for sub, x in _children(v, package):
                see(x, where + sub)
    return list(found.values())


def describe_op(op, wheres, registry):
    name = getattr(op, "name", "?")
    other = registry.get(name)
    why = (f"OPS[{name!r}] is a different object" if other is not None
           else f"no op is registered under {name!r}")
    shown = ", ".join(wheres[:4]) + (f" and {len(wheres) - 4} more" if len(wheres) > 4 else "")
    return f"{op!r} is not in dualgraph.ops.registry.OPS ({why}); reachable as {shown}"


# ---------------------------------------------------------------- report
def report():
    modules = package_modules()
    sites = import_sites(modules)
    G = import_graph(modules, sites)
    arch = load_architecture()
    layer_of, problems = assign_layers(modules, arch)
    print(f"{len(modules)} modules, {G.number_of_edges()} import edges, {len(sites)} import statements")
    for p in problems:
        print("LAYER TABLE:", p)
    for c in cycles(G, arch, layer_of):
        print(c.describe(modules))
    for s, lo, hi in upward_imports(sites, layer_of, arch):
        print(f"UPWARD: {s.where(modules)}: {s.module} [{lo.label()}] imports {s.target} [{hi.label()}]")
    for s, sep in forbidden_imports(sites, arch):
        print(f"FORBIDDEN: {s.where(modules)}: {s.module} imports {s.target}")
    for p in facade_problems(sites, layer_of, arch):
        print("FACADE:", p)
    for s in bare_op_records(modules):
        print(f"BARE OP: {s.where(modules)}: {s.target}")
    sys.path.insert(0, str(ROOT))
    from dualgraph.ops.registry import Op, OPS
    for op, wheres in unregistered_ops(import_all(modules), Op, OPS):
        print("UNREGISTERED:", describe_op(op, wheres, OPS))


if __name__ == "__main__":
    report()
