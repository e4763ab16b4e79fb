"""dualgraph.utils.tree (flatten, unflatten, tree_map, TreeDef) and the walkers built on it:
dg.function's trace key, arguments and results, Session fetches, dg.cond, dg.compare; with
Function.__get__ holding instances weakly and Module._trace_key."""
import ast
import gc
import pathlib
import pickle
import warnings
import weakref
from collections import OrderedDict, defaultdict, namedtuple

import numpy as np
import pytest

import dualgraph as dg
from dualgraph.utils import tree
from dualgraph.utils.tree import TreeDef, flatten, tree_map, unflatten

Point = namedtuple("Point", "x y")
Other = namedtuple("Other", "x y")
ROOT = pathlib.Path(__file__).resolve().parents[1]

NESTED = (1, [2.5, {"b": "s", "a": (3,)}], None, Point(4, [5]), OrderedDict(z=6), (), [], {})


# ---------------------------------------------------------------- flatten / unflatten
@pytest.mark.parametrize("obj", [
    NESTED, 7, "leaf", None, (), [], {}, [None, None], {"k": None}, Point(1, 2), ((((1,),),),),
    {1: "one", "1": "string one"}, OrderedDict([("b", 1), ("a", [2, 3])]), [Point([1], {"q": (2,)})],
])
def test_round_trip(obj):
    leaves, td = flatten(obj)
    assert isinstance(td, TreeDef)
    assert td.num_leaves == len(leaves)
    back = unflatten(td, leaves)
    assert back == obj and type(back) is type(obj)
    assert flatten(back) == (leaves, td)


def test_leaf_order_is_depth_first_left_to_right_and_dicts_keep_insertion_order():
    leaves, _ = flatten(NESTED)
    assert leaves == [1, 2.5, "s", 3, 4, 5, 6]
    assert list(unflatten(flatten(NESTED)[1], leaves)[1][1]) == ["b", "a"]


def test_treedef_equality_and_hash():
    a = flatten(NESTED)[1]
    b = flatten(tree_map(lambda x: object(), NESTED))[1]  # other leaves, same structure
    assert a == b and hash(a) == hash(b) and {a: 1}[b] == 1
    distinct = [  # pairwise different structures
        {"a": 1, "b": 2}, {"b": 2, "a": 1},     # dict key order counts (PyTorch's pytree: insertion order)
        (1, 2), [1, 2], Point(1, 2), Other(1, 2),
        {"a": 1}, OrderedDict(a=1), {"b": 1},
        [1, 2, 3], [None], [1], [[1]], 1, None, (), [],
    ]
    defs = [flatten(x)[1] for x in distinct]
    for i, x in enumerate(defs):
        for j, y in enumerate(defs):
            assert (x == y) == (i == j), (distinct[i], distinct[j])
    assert len(set(defs)) == len(distinct)


def test_none_is_a_node_without_leaves_unless_is_leaf_says_otherwise():
    assert flatten(None)[0] == [] and unflatten(flatten(None)[1], []) is None
    leaves, td = flatten([None, 1, {"a": None}])
    assert leaves == [1] and unflatten(td, [9]) == [None, 9, {"a": None}]
    leaves, td = flatten([None, 1], is_leaf=lambda x: x is None)  # PyTorch's choice
    assert leaves == [None, 1] and td.num_leaves == 2


def test_is_leaf_stops_the_walk():
    obj = {"keep": [1, 2], "walk": (3, [4])}
    leaves, td = flatten(obj, is_leaf=lambda x: type(x) is list)
    assert leaves == [[1, 2], 3, [4]]
    assert unflatten(td, leaves) == obj
    assert flatten(obj, is_leaf=lambda x: x is obj)[0] == [obj]


def test_subclasses_other_than_namedtuple_and_ordereddict_are_leaves():
    dd = defaultdict(list, a=[1])
    size = dg.ones(2, 3).shape           # dg.Size, a tuple subclass
    leaves, td = flatten([dd, size])
    assert leaves[0] is dd and leaves[1] is size and td.num_leaves == 2


def test_unflatten_refuses_the_wrong_number_of_leaves_or_a_non_treedef():
    leaves, td = flatten(NESTED)
    for bad in (leaves[:-1], leaves + [0], []):
        with pytest.raises(dg.DualGraphError, match="holds 7 leaves"):
            unflatten(td, bad)
    with pytest.raises(ValueError, match="holds 1 leaf"):
        unflatten(flatten(5)[1], [])
    with pytest.raises(TypeError, match="TreeDef"):
        unflatten((tuple, ()), [1])


def test_treedef_repr_children_pickle():
    td = flatten(NESTED)[1]
    assert repr(td) == ("TreeDef((*, [*, {'b': *, 'a': (*,)}], None, Point(x=*, y=[*]), "
                        "OrderedDict({'z': *}), (), [], {}))")
    assert [c.num_leaves for c in td.children()] == [1, 3, 0, 2, 1, 0, 0, 0]
    assert flatten(3)[1].is_leaf and not td.is_leaf and flatten(3)[1].children() == []
    assert pickle.loads(pickle.dumps(td)) == td


def test_tree_map():
    assert tree_map(lambda x: x * 2, {"a": [1, (2,)], "b": None}) == {"a": [2, (4,)], "b": None}
    assert tree_map(lambda x, y: x + y, Point(1, [2]), Point(10, [20])) == Point(11, [22])
    assert tree_map(len, [[1, 2], [3]], is_leaf=lambda x: isinstance(x, list) and all(type(v) is int for v in x)) == [2, 1]
    with pytest.raises(ValueError, match="different structure"):
        tree_map(lambda x, y: x, [1, 2], (1, 2))
    assert tree.leaves(NESTED) == flatten(NESTED)[0] and tree.structure(NESTED) == flatten(NESTED)[1]


def test_tree_imports_nothing_above_errors():
    src = (ROOT / "dualgraph" / "utils" / "tree.py").read_text()
    imported = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.ImportFrom):
            imported.add(("." * node.level) + (node.module or ""))
        elif isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
    assert imported <= {"collections", "..errors"}, imported


# ---------------------------------------------------------------- properties (hypothesis)
hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

_leaf = st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=3), st.booleans())
_keys = st.one_of(st.text(max_size=3), st.integers(-3, 3))
_trees = st.recursive(
    st.one_of(_leaf, st.none()),
    lambda kids: st.one_of(
        st.lists(kids, max_size=4),
        st.lists(kids, max_size=4).map(tuple),
        st.dictionaries(_keys, kids, max_size=4),
        st.dictionaries(_keys, kids, max_size=3).map(lambda d: OrderedDict(d)),
        st.tuples(kids, kids).map(lambda t: Point(*t)),
    ),
    max_leaves=20)


@hypothesis.given(_trees)
@hypothesis.settings(max_examples=200, deadline=None)
def test_property_round_trip(obj):
    leaves, td = flatten(obj)
    back = unflatten(td, leaves)
    assert back == obj and flatten(back) == (leaves, td)
    assert td.num_leaves == len(leaves)


@hypothesis.given(_trees, _trees)
@hypothesis.settings(max_examples=200, deadline=None)
def test_property_treedefs_equal_exactly_when_structures_are(a, b):
    def shape(x):  # the structure shown with its leaves replaced: node types, keys, order
        lv, td = flatten(x)
        return repr(unflatten(td, ["*"] * len(lv)))
    ta, tb = flatten(a)[1], flatten(b)[1]
    assert (ta == tb) == (shape(a) == shape(b))
    if ta == tb:
        assert hash(ta) == hash(tb)
    relabeled = tree_map(lambda v: f"new {v!r}", a)
    assert flatten(relabeled)[1] == ta


# ---------------------------------------------------------------- dg.function on the tree
def test_function_keyword_order_does_not_swap_tensors():
    f = dg.function(lambda a, b: a - b)
    x, y = dg.tensor([1.0, 2.0]), dg.tensor([10.0, 20.0])
    np.testing.assert_array_equal(f(b=y, a=x).numpy(), [-9.0, -18.0])
    np.testing.assert_array_equal(f(a=x, b=y).numpy(), [-9.0, -18.0])
    assert f.trace_count == 1


def test_function_trace_key_fast_path_equals_the_walk():
    from dualgraph.graph.function import _arguments, _leaf_specs
    f = dg.function(lambda *a, **k: a[0])
    m = dg.nn.Linear(2, 2)
    for args in [(dg.ones(2),), (dg.ones(2), 1, 2.0, "s", m), (), (np.ones(3), True)]:
        key, tensors = f._signature(args, {})
        leaves, treedef = flatten(_arguments(args, {}))
        assert key == (treedef, _leaf_specs(leaves)[0]) and hash(key) == hash((treedef, _leaf_specs(leaves)[0]))
        assert [id(t) for t in tensors] == [id(t) for t in _leaf_specs(leaves)[1]]
    key_fast = f._signature((dg.ones(2), 3), {})[0]
    assert key_fast != f._signature(((dg.ones(2), 3),), {})[0]   # one tuple argument: not the same
    assert key_fast != f._signature((dg.ones(2),), {"k": 3})[0]  # a keyword: not the same
    assert f._signature((dg.ones(2), None), {})[0][0] == flatten(((1, None), {}))[1]  # None: walked


def test_function_namedtuple_ordereddict_and_none_arguments_and_results():
    @dg.function
    def f(p, d, nothing):
        assert nothing is None and isinstance(p, Point) and type(d) is OrderedDict
        return {"sum": p.x + p.y, "d": d["w"] * 2, "none": None, "k": 3, "pair": Point(p.x, (p.y,))}

    x, y, w = dg.ones(2), dg.full((2,), 2.0), dg.full((2,), 5.0)
    for _ in range(2):
        out = f(Point(x, y), OrderedDict(w=w), None)
    assert f.trace_count == 1
    assert list(out) == ["sum", "d", "none", "k", "pair"]
    np.testing.assert_array_equal(out["sum"].numpy(), [3, 3])
    np.testing.assert_array_equal(out["d"].numpy(), [10, 10])
    assert out["none"] is None and out["k"] == 3
    assert isinstance(out["pair"], Point) and isinstance(out["pair"].y, tuple)
    np.testing.assert_array_equal(out["pair"].y[0].numpy(), [2, 2])
    f(Point(dg.ones(3), dg.ones(3)), OrderedDict(w=w), None)  # new shapes inside the namedtuple: a new trace
    assert f.trace_count == 2


def test_function_result_in_an_unwalked_container_is_refused():
    f = dg.function(lambda x: defaultdict(list, a=x * 2))
    with pytest.raises(TypeError, match="defaultdict holding tensors"):
        f(dg.ones(2))
    assert dg.function(lambda x: (x * 2, x.shape))(dg.ones(2, 3))[1] == (2, 3)  # a Size: a constant


def test_function_in_place_refusal_names_the_argument_holding_the_tensor():
    @dg.function
    def f(n, xs, *, scale):
        xs[1].add_(n)
        return xs[0] * scale

    with pytest.raises(dg.DualGraphError, match="argument 'xs'"):
        f(2, [dg.ones(2), dg.ones(2)], scale=1.0)

    @dg.function
    def g(a, *, out):
        out.add_(1)
        return a

    with pytest.raises(dg.DualGraphError, match="argument 'out'"):
        g(dg.ones(2), out=dg.ones(2))


def test_function_retrace_warning_names_a_changed_keyword_or_nested_argument():
    f = dg.function(lambda x, *, k: x * k)
    g = dg.function(lambda xs: xs[0].sum() + xs[1].sum())
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        for i in range(7):
            f(dg.ones(2), k=float(i))
            g([dg.ones(2), dg.ones(i + 1)])
    msgs = [str(w.message) for w in rec]
    assert any("keyword argument 'k' changed: float 5.0 -> float 6.0" in m for m in msgs), msgs
    assert any("argument 0 ('xs') changed: [tensor of shape (2,) and dtype float32, tensor of shape (6,)" in m
               for m in msgs), msgs


# ---------------------------------------------------------------- Function.__get__, Module._trace_key
class _Holder:
    def __init__(self):
        self.w = dg.tensor([1.0, 2.0])
        self.k = 3.0

    @dg.function
    def f(self, x):
        return x * self.w * self.k


class _Net(dg.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = dg.nn.Linear(2, 2)

    @dg.function
    def forward(self, x):
        return self.lin(x).sum()


@pytest.mark.parametrize("make", [_Holder, _Net], ids=["plain-object", "module"])
def test_compiled_method_does_not_keep_its_instance_alive(make):
    obj = make()
    method = type(obj).__dict__["f" if make is _Holder else "forward"]
    call = obj.f if make is _Holder else obj
    out1 = call(dg.ones(2))
    out2 = call(dg.ones(2))
    np.testing.assert_allclose(out1.detach().numpy(), out2.detach().numpy())
    bound = method.__get__(obj)
    assert bound is method.__get__(obj) and bound.trace_count == 1
    ref = weakref.ref(obj)
    del obj, call, bound
    gc.collect()
    assert ref() is None
    assert not method._bound  # the cache entry went with the instance


def test_compiled_method_per_instance_and_its_guards_still_see_the_instance():
    a, b = _Holder(), _Holder()
    b.k = 10.0
    np.testing.assert_allclose(a.f(dg.ones(2)).numpy(), [3, 6])
    np.testing.assert_allclose(b.f(dg.ones(2)).numpy(), [10, 20])
    a.k = 4.0  # a guarded attribute of self: retraces
    with pytest.warns(UserWarning, match="attribute 'k' of self changed: 3.0 -> 4.0"):
        np.testing.assert_allclose(a.f(dg.ones(2)).numpy(), [4, 8])
    assert a.f.trace_count == 2 and b.f.trace_count == 1


def test_module_trace_key_and_graph_writes_nothing_onto_modules():
    net = dg.nn.Sequential(dg.nn.Linear(2, 3), dg.nn.ReLU(), dg.nn.Linear(3, 1))
    rows = net._trace_key()
    assert [name for name, _, _ in rows] == ["", "0", "1", "2"]
    assert [(a, k) for a, _, k in rows[1][2]] == [("__dict__", "value"), ("_parameters", "tensor"),
                                                  ("_buffers", "tensor"), ("_modules", "module")]
    before = [sorted(vars(m)) for m in net.modules()]
    f = dg.function(lambda x: net(x).sum())
    f(dg.ones(4, 2))
    f(dg.ones(4, 2))
    assert [sorted(vars(m)) for m in net.modules()] == before
    src = (ROOT / "dualgraph" / "graph" / "function.py").read_text()
    mods = {n.module for n in ast.walk(ast.parse(src)) if isinstance(n, ast.ImportFrom)}
    assert not any(m and m.split(".")[0] == "nn" for m in mods), mods


# ---------------------------------------------------------------- Session, cond, compare
def test_session_fetches_nested_structures_and_refuses_none():
    with dg.graph_mode() as g:
        x = dg.placeholder([2])
        y, z = x * 2, x + 1
    sess = dg.Session(g)
    feed = {x: np.ones(2, np.float32)}
    out = sess.run({"p": Point(y, [z]), "o": OrderedDict(y=y)}, feed)
    assert isinstance(out["p"], Point) and type(out["o"]) is OrderedDict
    np.testing.assert_array_equal(out["p"].x, [2, 2])
    np.testing.assert_array_equal(out["p"].y[0], [2, 2])
    assert isinstance(sess.run((y,), feed), tuple) and isinstance(sess.run([y], feed), list)
    assert len(sess._plans) == 3  # one plan per fetch structure
    with pytest.raises(TypeError, match="cannot fetch NoneType"):
        sess.run([y, None], feed)


def test_cond_maps_over_structures_and_refuses_different_ones():
    with dg.graph_mode() as g:
        x = dg.placeholder([2])
        r = dg.cond(x.sum() > 0, lambda: {"a": x * 2, "n": None, "p": Point(x, x)},
                    lambda: {"a": -x, "n": None, "p": Point(x * 0, x)})
        with pytest.raises(ValueError, match="same structure"):
            dg.cond(x.sum() > 0, lambda: (x, x), lambda: [x, x])
    assert r["n"] is None and isinstance(r["p"], Point)
    out = dg.Session(g).run(r["a"], {x: np.array([1.0, 2.0], np.float32)})
    np.testing.assert_array_equal(out, [2, 4])


def test_compare_walks_dict_results():
    from dualgraph.compare.runner import _values
    vals = _values({"a": dg.ones(2), "b": [dg.zeros(1), 3], "c": None})
    assert [v.tolist() for _, v in vals] == [[1.0, 1.0], [0.0], 3.0]  # (the number too)
    assert [str(t) for t, _ in vals] == ["float32", "float32", "int64"]
