"""docs/api.md, the API reference, against the code and the contract.

(a) every backticked `dg.` name in docs/api.md resolves (a getattr chain from `dualgraph`, importing
    submodules where an attribute is missing);
(b) every name of tests/data/api_contract.txt (the names ../shared/API.md promises, vendored
    because CI runs without ../shared) has a row in docs/api.md (it is in the row's first cell),
    and no name has two rows;
(c) when ../shared/API.md sits beside the repository, every `dg.` token in it is in the contract
    (so the vendored copy cannot go stale); skipped otherwise;
(d) every public function and class of the main modules is listed in docs/api.md (their __all__
    where defined, plus the functions and classes a module defines itself; all public functions
    and classes of `dualgraph`, which has no __all__) has a row, with the exemptions named below;
(e) every public method and property of the main classes (dg.Tensor, dg.nn.Module, dg.Graph, ...)
    has a row.

Each check fails with the list of the names at fault.
"""
import importlib
import inspect
import re
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "api.md"
CONTRACT = ROOT / "tests" / "data" / "api_contract.txt"
SHARED_API = ROOT.parent / "shared" / "API.md"

# A `dg.` token: a dotted path (a trailing dot, as in `dg.nn.init.*`, is dropped).
_TOKEN = re.compile(r"\bdg\.[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_SPAN = re.compile(r"`([^`\n]+)`")

# Modules whose public names must all be in docs/api.md (check d).
CHECKED_MODULES = [
    "dualgraph", "dualgraph.nn", "dualgraph.nn.functional", "dualgraph.optim",
    "dualgraph.optim.lr_scheduler", "dualgraph.nn.init", "dualgraph.nn.utils",
    "dualgraph.nn.utils.rnn", "dualgraph.autograd", "dualgraph.autograd.functional",
    "dualgraph.utils.data", "dualgraph.export", "dualgraph.train", "dualgraph.autograph",
    "dualgraph.linalg",
]

# Names check (d) does not require, each with its reason.
EXEMPT = {
    # the pieces of the autograd.functional implementation
    "dualgraph.autograd.functional.EagerTape": "the tape class, internal",
    "dualgraph.autograd.functional.reverse_pass": "the engine's reverse pass, internal",
    "dualgraph.autograd.functional.zero_grads": "an internal helper",
    "dualgraph.autograd.functional.Tensor": "dg.Tensor, imported (documented as dg.Tensor)",
    "dualgraph.autograd.functional.DGRuntimeError": "the error class, imported (see dg.errors)",
    "dualgraph.nn.utils.rnn.invert_permutation": "an internal helper of PackedSequence",
    "dualgraph.autograph.converted_call": "what AutoGraph-converted code calls (TF's internal ag__ API)",
    "dualgraph.autograph.converted_or_original": "AutoGraph's internal entry for dg.function",
    "dualgraph.autograph.operators": "the run-time operators of converted code (a module)",
    "dualgraph.autograph.Undefined": "the placeholder value of converted code, internal",
}


def _doc_text():
    return DOC.read_text(encoding="utf-8")


def doc_names():
    """The `dg.` names written in backticks in docs/api.md: each token inside a code span."""
    names = set()
    for span in _SPAN.findall(_doc_text()):
        names.update(_TOKEN.findall(span))
    return names


def row_names():
    """The names a table row of docs/api.md documents: the `dg.` names of its first cell, with
    the number of rows each is in."""
    counts = {}
    for line in _doc_text().splitlines():
        if not line.startswith("| `"):
            continue
        first = line.strip().strip("|").split("|")[0]
        for span in _SPAN.findall(first):
            for name in _TOKEN.findall(span):
                counts[name] = counts.get(name, 0) + 1
    return counts


def contract_names():
    out = []
    for line in CONTRACT.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def resolve(path):
    """The object a `dg.a.b.c` path names: getattr from dualgraph, importing a submodule where
    a module lacks the attribute. Raises AttributeError/ImportError when it does not resolve."""
    parts = path.split(".")
    assert parts[0] == "dg", path
    obj = importlib.import_module("dualgraph")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # dg.Function is a deprecated alias
        for part in parts[1:]:
            try:
                obj = getattr(obj, part)
            except AttributeError:
                if not inspect.ismodule(obj):
                    raise
                obj = importlib.import_module(f"{obj.__name__}.{part}")
    return obj


def _fmt(names):
    return "\n  " + "\n  ".join(sorted(names))


def test_doc_exists():
    assert DOC.is_file(), f"{DOC} is missing"
    assert len(doc_names()) > 100


def test_every_doc_name_resolves():
    bad = []
    for name in sorted(doc_names()):
        try:
            resolve(name)
        except Exception as e:  # noqa: BLE001 (report every failure)
            bad.append(f"{name}  ({type(e).__name__}: {e})")
    assert not bad, f"{len(bad)} name(s) in docs/api.md do not resolve:" + _fmt(bad)


def test_one_row_per_name():
    twice = [f"{n} ({c} rows)" for n, c in row_names().items() if c > 1]
    assert not twice, "name(s) with more than one row in docs/api.md:" + _fmt(twice)


def test_every_contract_name_is_documented():
    documented = row_names()
    missing = [n for n in contract_names() if n not in documented]
    assert not missing, (f"{len(missing)} name(s) of tests/data/api_contract.txt are not in "
                         "docs/api.md:" + _fmt(missing))


def test_contract_names_resolve():
    bad = []
    for name in contract_names():
        try:
            resolve(name)
        except Exception as e:  # noqa: BLE001
            bad.append(f"{name}  ({type(e).__name__}: {e})")
    assert not bad, f"{len(bad)} contract name(s) do not resolve:" + _fmt(bad)


@pytest.mark.skipif(not SHARED_API.is_file(), reason="../shared/API.md is not beside the repository")
def test_contract_covers_shared_api():
    tokens = {t.rstrip(".") for t in _TOKEN.findall(SHARED_API.read_text(encoding="utf-8"))}
    contract = set(contract_names())
    missing = tokens - contract
    assert not missing, (f"{len(missing)} dg. name(s) of ../shared/API.md are not in "
                         "tests/data/api_contract.txt (add them):" + _fmt(missing))


def _public_names(modname):
    """modname's public names: __all__ where defined, plus the public functions and classes
    defined in the module itself; for a module without __all__, every public function or class."""
    mod = importlib.import_module(modname)
    names = set()
    explicit = getattr(mod, "__all__", None)
    if explicit is not None:
        names.update(explicit)
    for attr, obj in vars(mod).items():
        if attr.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        if explicit is None or getattr(obj, "__module__", None) == modname:
            names.add(attr)
    return names


def _dg_path(modname, attr):
    return "dg" + modname[len("dualgraph"):] + "." + attr


@pytest.mark.parametrize("modname", CHECKED_MODULES)
def test_every_public_name_is_documented(modname):
    documented = row_names()
    missing = [_dg_path(modname, a) for a in _public_names(modname)
               if f"{modname}.{a}" not in EXEMPT and _dg_path(modname, a) not in documented]
    assert not missing, (f"{len(missing)} public name(s) of {modname} are not in docs/api.md "
                         "(document them, or exempt them in tests/test_api_doc.py with a reason):"
                         + _fmt(missing))


# Classes whose public attributes must each have a row (check e); for a class given with a
# base, only the attributes the base lacks.
CHECKED_CLASSES = [
    ("dg.Tensor", None), ("dg.SymbolicTensor", "dg.Tensor"), ("dg.nn.Module", None),
    ("dg.optim.Optimizer", None), ("dg.Graph", None), ("dg.Session", None),
    ("dg.TracedFunction", None), ("dg.train.Optimizer", None),
]


@pytest.mark.parametrize("path,base", CHECKED_CLASSES)
def test_every_public_attribute_is_documented(path, base):
    """(e) the methods and properties of the main classes (dg.Tensor's methods above all)."""
    documented = row_names()
    cls = resolve(path)
    skip = set(dir(resolve(base))) if base else set()
    missing = [f"{path}.{a}" for a in dir(cls)
               if not a.startswith("_") and a not in skip and f"{path}.{a}" not in documented]
    assert not missing, (f"{len(missing)} public attribute(s) of {path} are not in docs/api.md:"
                         + _fmt(missing))


def test_exemptions_are_still_needed():
    """An exemption for a name that is gone or now documented is stale."""
    documented = row_names()
    stale = []
    for full in EXEMPT:
        modname, _, attr = full.rpartition(".")
        if attr not in _public_names(modname) or _dg_path(modname, attr) in documented:
            stale.append(full)
    assert not stale, "stale exemption(s) in tests/test_api_doc.py:" + _fmt(stale)
