"""Nested containers as a flat list of leaves and a treedef: `flatten`, `unflatten`, `tree_map`.

jax.tree_util and torch.utils._pytree are the models. The one walker of nested Python structure
in dualgraph: dg.function's arguments (its trace key) and results, Session fetches, dg.cond's
branch results, dg.compare's outputs.

Nodes (containers) are `tuple`, `list`, `dict`, `collections.OrderedDict`, namedtuples and
`None`; everything else is a leaf, including other subclasses of tuple, list and dict, and
tensors. The order of the leaves is depth first, left to right:

- a dict's children come in insertion order and its keys are part of the treedef, as in
  PyTorch's pytree: `{'a': 1, 'b': 2}` and `{'b': 2, 'a': 1}` flatten to different treedefs
  (JAX sorts the keys instead). Unflattening restores the order.
- `None` is a node with no children, as in JAX (`flatten(None) == ([], treedef)`), so a `None`
  in a structure comes back as `None` and is not a leaf. PyTorch's pytree makes it a leaf: pass
  `is_leaf=lambda x: x is None` for that.
- `is_leaf(x)`, when given, is asked first at every subtree; True makes `x` a leaf as it is.

A `TreeDef` is hashable and compares equal exactly when the structures are the same: the same
node types at the same places, the same dict keys in the same order and the same number of
leaves. dg.function makes it part of its trace key, so it is built for speed: a TreeDef is a
tuple holding its encoding (below), so hashing and comparing run at C speed, with no Python
method in the way (a plain class with `__hash__`/`__eq__` costs about 0.3 us more per compiled
call). Treat the encoding as private: it may change.

    leaf                     ()
    tuple / list             (tuple, child, ...)          (list, child, ...)
    dict / OrderedDict       (dict, keys, child, ...)     keys: a tuple in insertion order
    namedtuple               (its class, child, ...)
    None                     (NoneType,)
"""
from collections import OrderedDict

from ..errors import DGTypeError, DGValueError

__all__ = ["TreeDef", "flatten", "unflatten", "tree_map", "leaves", "structure", "NODE_TYPES"]

_NoneType = type(None)
_LEAF = ()
_NONE = (_NoneType,)
_MAPPINGS = (dict, OrderedDict)
# the exact types of the nodes other than namedtuples (tuple subclasses): x is a node exactly when
# type(x) is in it or x is a namedtuple (a caller may test `isinstance(x, tuple)` for the latter)
NODE_TYPES = _NODE_TYPES = frozenset((tuple, list, dict, OrderedDict, _NoneType))


class TreeDef(tuple):
    """The structure of a nested container, without its leaves (see the module docstring)."""

    __slots__ = ()

    @property
    def num_leaves(self):
        return _count(self)

    @property
    def is_leaf(self):
        """True for the treedef of a single leaf (`flatten(x)` for a leaf x)."""
        return len(self) == 0

    def children(self):
        """The treedefs of the node's children (none for a leaf or None)."""
        if not self:
            return []
        return [TreeDef(c) for c in self[2 if self[0] in _MAPPINGS else 1:]]

    def __repr__(self):
        return f"TreeDef({_show(self)})"

    def __reduce__(self):
        return (TreeDef, (tuple(self),))


def _count(node):
    if not node:
        return 1
    t = node[0]
    if t is _NoneType:
        return 0
    return sum([_count(c) for c in node[2 if t in _MAPPINGS else 1:]])


def _show(node):
    if not node:
        return "*"
    t = node[0]
    if t is _NoneType:
        return "None"
    if t in _MAPPINGS:
        body = ", ".join(f"{k!r}: {_show(c)}" for k, c in zip(node[1], node[2:]))
        return "{" + body + "}" if t is dict else f"OrderedDict({{{body}}})"
    parts = [_show(c) for c in node[1:]]
    if t is tuple:
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
    if t is list:
        return "[" + ", ".join(parts) + "]"
    return f"{t.__name__}(" + ", ".join(f"{f}={p}" for f, p in zip(t._fields, parts)) + ")"


def _walk(obj, out):
    """The encoding of obj's structure; its leaves are appended to `out`."""
    t = type(obj)
    if t is tuple or t is list:
        enc, items = [t], obj
    elif t is dict or t is OrderedDict:
        enc, items = [t, tuple(obj)], obj.values()
    elif obj is None:
        return _NONE
    elif isinstance(obj, tuple) and hasattr(t, "_fields"):  # a namedtuple
        enc, items = [t], obj
    else:
        out.append(obj)
        return _LEAF
    for x in items:
        if type(x) in _NODE_TYPES or isinstance(x, tuple):  # a node (or a tuple subclass)
            enc.append(_walk(x, out))
        else:  # a leaf, without a call: dg.function flattens its arguments at every call
            out.append(x)
            enc.append(_LEAF)
    return tuple(enc)


def _walk_is_leaf(obj, out, is_leaf):
    if is_leaf(obj):
        out.append(obj)
        return _LEAF
    t = type(obj)
    if t is tuple or t is list:
        return (t, *[_walk_is_leaf(x, out, is_leaf) for x in obj])
    if t is dict or t is OrderedDict:
        return (t, tuple(obj), *[_walk_is_leaf(x, out, is_leaf) for x in obj.values()])
    if obj is None:
        return _NONE
    if isinstance(obj, tuple) and hasattr(t, "_fields"):
        return (t, *[_walk_is_leaf(x, out, is_leaf) for x in obj])
    out.append(obj)
    return _LEAF


def flatten(obj, is_leaf=None):
    """obj -> (leaves, treedef): the leaves in depth-first, left-to-right order."""
    out = []
    node = _walk(obj, out) if is_leaf is None else _walk_is_leaf(obj, out, is_leaf)
    return out, TreeDef(node)


def leaves(obj, is_leaf=None):
    """The leaves of obj, as `flatten(obj)[0]`."""
    return flatten(obj, is_leaf)[0]


def structure(obj, is_leaf=None):
    """The treedef of obj, as `flatten(obj)[1]`."""
    return flatten(obj, is_leaf)[1]


def _build(node, it):
    if not node:
        return next(it)
    t = node[0]
    if t is tuple:
        return tuple([_build(c, it) for c in node[1:]])
    if t is list:
        return [_build(c, it) for c in node[1:]]
    if t is dict or t is OrderedDict:
        return t(zip(node[1], [_build(c, it) for c in node[2:]]))
    if t is _NoneType:
        return None
    return t(*[_build(c, it) for c in node[1:]])


def unflatten(treedef, leaves):
    """The structure `treedef` describes, holding `leaves` (a sequence of exactly
    treedef.num_leaves values) in flatten's order."""
    if not isinstance(treedef, TreeDef):
        raise DGTypeError(f"unflatten expects a TreeDef (from flatten), got {type(treedef).__name__}")
    if not treedef:
        if len(leaves) != 1:
            raise DGValueError(f"unflatten: {treedef!r} holds 1 leaf, got {len(leaves)}")
        return leaves[0]
    it = iter(leaves)
    try:
        out = _build(treedef, it)
    except StopIteration:  # too few leaves
        out = it
    if out is it or next(it, it) is not it:  # too few, or some left over
        raise DGValueError(f"unflatten: {treedef!r} holds {treedef.num_leaves} leaves, got {len(leaves)}")
    return out


def tree_map(fn, tree, *rest, is_leaf=None):
    """`fn` applied to each leaf of `tree` (and the leaves at the same places of each tree in
    `rest`, which must have tree's structure), in a structure like tree's."""
    flat, treedef = flatten(tree, is_leaf)
    if not rest:
        return unflatten(treedef, [fn(x) for x in flat])
    others = []
    for i, r in enumerate(rest, 1):
        leaves_r, td = flatten(r, is_leaf)
        if td != treedef:
            raise DGValueError(
                f"tree_map: tree {i} has a different structure from the first: {td!r} vs {treedef!r}")
        others.append(leaves_r)
    return unflatten(treedef, [fn(*xs) for xs in zip(flat, *others)])
