"""Elementwise fusion: chains of same-shape elementwise steps become one generated kernel.

Run on the specialised schedule (concrete shapes), when a fusion backend is on (`dg.set_fusion`,
or the environment variable DUALGRAPH_FUSION). A step is fusible when its kernel is a numpy
ufunc or op kernel this pass can write as scalar code (FUSIBLE), every tensor input has its shape and dtype
(no broadcasting), its other inputs are Python numbers, and it writes no state. A fusible step
whose value leaves the fusible region (read by any other step, fetched, or written into state)
is a *root*: it becomes one kernel computing it from the region's external inputs, element by
element, with every fusible step below it inlined (XLA's loop fusion: a cheap producer shared
by two roots is recomputed in each, so every kernel has one output and intermediate values never
touch memory). The forward of a 100-op chain is one kernel, its backward another.

The same bits as the steps it replaces: numba's arithmetic is numpy's, and the scalar functions
that are not (exp, log, tanh, ...: libm's) are inlined only on arrays of at most SMALL elements,
where the ops' own kernels are numba's too while the backend is on (ops/numba_loops.py), in eager
code as in plans.

Backends: "numba" (the `fast` extra) compiles each kernel once with numba, caching the machine
code on disk (DUALGRAPH_CACHE_DIR, else ~/.cache/dualgraph) so a later process loads it;
numexpr was measured and not chosen (benchmarks/fusion.py: one call for the chain's forward alone
costs ~12 µs on 16 floats, numba's fused forward and backward ~10 µs; at 65536 floats numexpr is
2x slower than numpy). Without numba nothing is fused.
"""
import importlib.util

import numpy as np

from ...ops import elementwise as E, numba_loops as _loops
from ..core import ASSIGN

# ufunc -> scalar code ({0}, {1}: the operands). Numba compiles numpy's scalar functions with
# numpy's semantics (NaN propagation of maximum, true division).
FUSIBLE = {
    np.add: "{0} + {1}", np.subtract: "{0} - {1}", np.multiply: "{0} * {1}",
    np.divide: "{0} / {1}", np.negative: "-{0}", np.absolute: "np.abs({0})",
    E._exp: "np.exp({0})", E._log: "np.log({0})", E._log1p: "np.log1p({0})",
    np.sqrt: "np.sqrt({0})", E._tanh: "np.tanh({0})", E._sin: "np.sin({0})",
    E._cos: "np.cos({0})", np.maximum: "np.maximum({0}, {1})", np.minimum: "np.minimum({0}, {1})",
    # the gradients of tanh and sigmoid (one op each), in the numpy kernel's order of operations
    E._tanh_backward: "{0} * ({one} - {1} * {1})",
    E._sigmoid_backward: "({0} * {1}) * ({one} - {1})",
    # relu's gradient as its kernel computes it: g itself, or +0.0 where y <= 0 (not y <= 0:
    # a NaN output passes g)
    E._relu_backward: "({0} if not {1} <= {zero} else {zero})",
}
# kernels of several numpy passes: one loop pays even for the op alone (a group of one)
MULTI_PASS = {E._relu_backward}
# numba computes these with scalar libm calls (~10 ns each here), numpy with SIMD loops (<1 ns):
# fused only on arrays this small (benchmarks/fusion.py measured the crossover at 16 to 256),
# where their kernels are numba's in eager code too (ops/numba_loops.py: the same bits)
TRANSCENDENTAL = {E._exp, E._log, E._log1p, E._tanh, E._sin, E._cos}
SMALL = _loops.SMALL
# (a plan made with the backend off calls their bare ufuncs: the same ops, for what inspects one)
FUSIBLE.update({k.ufunc: FUSIBLE[k] for k in TRANSCENDENTAL})
TRANSCENDENTAL |= {k.ufunc for k in TRANSCENDENTAL}
MAX_GROUP = 2000     # a bigger kernel takes numba too long to compile: the plan is not fused
MAX_GROWTH = 2.5     # recomputation may at most multiply the fused region's work by this

_BACKEND = _loops.BACKEND   # (the setting lives with the kernels both modes share)
_NO_NUMBA = _loops._NO_NUMBA
compile_kernel = _loops.compile_kernel   # (fuse_updates and the tests find it here)


def set_fusion(backend):
    """Turn the numba backend on ("numba") or off (None). On, compiled plans fuse elementwise
    regions and optimizer updates into numba loops, and the kernels whose numba form rounds
    differently from numpy's (exp, log, ... on small arrays, cross_entropy: ops/numba_loops.py)
    are numba's in eager code and in plans alike, so both modes keep computing the same bits. A
    plan specialised under the other setting is specialised again at its next call.

    Turning it on starts numba in a background thread: its import and first compilation cost
    ~0.3 s per process even with every kernel cached, time a program usually spends on other
    things (data, model) before its first plan; the first fused plan (or numba kernel) waits for
    whatever is left of it."""
    if backend not in (None, "numba"):
        from ...errors import DGValueError
        raise DGValueError(f"unknown fusion backend {backend!r}: expected 'numba' or None")
    if backend == "numba":
        if not _numba_installed():
            from ...errors import DGRuntimeError
            raise DGRuntimeError(_NO_NUMBA)
        _loops.start_numba()
    _BACKEND[0] = backend


def get_fusion():
    return _BACKEND[0]


def _numba_installed():
    if not _INSTALLED:   # (looked up once: set_fusion is cheap enough to set around each call)
        _INSTALLED.append(importlib.util.find_spec("numba") is not None)
    return _INSTALLED[0]


_INSTALLED = []


class _FusedStep:
    """What a fused plan step has in place of an op: it is not an operator (no graph node is
    ever made of it, so it is not in the registry), only the flags the plan and liveness read.
    (A failing plan is re-run step by step from the unfused schedule: Plan._locate_failure.)"""

    name = "fused_elementwise"
    source = view = may_alias = no_value = subgraphs = stateful = random = False
    elementwise = True
    ufunc = forward = None
    doc = "a group of elementwise steps computed by one generated kernel"

    def __repr__(self):
        return "<fused_elementwise>"


FUSED = _FusedStep()


class _FusedUpdateStep(_FusedStep):
    """A fused group that writes state: its kernel writes each updated state's memory and
    returns nothing (no value: no buffer is planned for it, nothing reads it)."""

    name = "fused_update"
    no_value = True
    doc = "elementwise state updates (an optimizer's step) computed in one pass, in place"

    def __repr__(self):
        return "<fused_update>"


FUSED_UPDATE = _FusedUpdateStep()


def _fusible(s, shapes):
    if s.kernel not in FUSIBLE or not s.takes_out or s.writes_into is not None or s.attrs:
        return False
    if s.shape is None or not s.shape or s.dtype not in (np.float32, np.float64):
        return False
    n = int(np.prod(s.shape))
    if n == 0 or (n > SMALL and s.kernel in TRANSCENDENTAL):
        return False
    for k, a in s.args:
        if k == "node":
            if shapes[a] != (s.shape, s.dtype):
                return False
        elif type(a) not in (int, float) or not np.isfinite(a):
            return False
    return True


def plan_groups(steps, fetches):
    """[(root index, [indices of the steps it inlines, in schedule order], [external input
    names])] for the schedule `steps`, or [] when fusing would not pay (no group of two steps,
    a group too big to compile, too much recomputation)."""
    shapes = {s.name: (s.shape, s.dtype) for s in steps}
    pos = {s.name: i for i, s in enumerate(steps)}
    fus = {s.name for s in steps if _fusible(s, shapes)}
    if len(fus) < 2 and not any(s.kernel in MULTI_PASS for s in steps if s.name in fus):
        return []
    leaves = set(fetches)
    for s in steps:
        if s.name not in fus:
            leaves.update(a for a in s.in_ids if a in fus)
    # positions of the writes to state decided before fusing (assigns, updates computed into a
    # variable's memory): a kernel reads its inputs at its root's place, so a group whose steps
    # straddle one could read a state's new value where its first step read the old one
    writes = [i for i, s in enumerate(steps)
              if s.op is ASSIGN or s.writes_into is not None or s.op is FUSED_UPDATE]
    while True:
        groups, work, unfused = _grow(steps, pos, fus, leaves, writes)
        if not unfused:
            break
        # a root left unfused computes as it is, from its direct inputs: they must exist
        leaves |= unfused
    if any(len(ms) > MAX_GROUP for _, ms, _ in groups):
        return []
    if not groups or work > MAX_GROWTH * len(fus) + 16:
        return []
    return groups


def _grow(steps, pos, fus, leaves, writes):
    """Each root's group given the current leaves; also the fusible inputs of roots that cannot
    be fused (they straddle a write) but were inlined, which must become leaves."""
    groups, work, unfused = [], 0, set()
    for i, s in enumerate(steps):
        if s.name not in fus or s.name not in leaves:
            continue
        members, ext, stack = set(), [], [s.name]
        while stack:
            v = stack.pop()
            if v in members:
                continue
            members.add(v)
            for a in steps[pos[v]].in_ids:
                if a in fus and a not in leaves:   # (another root is computed anyway: read it)
                    stack.append(a)
                elif a not in ext:
                    ext.append(a)
        if len(members) < 2 and s.kernel not in MULTI_PASS:
            continue
        first = min(pos[v] for v in members)
        if any(first < w < i for w in writes):
            unfused.update(a for a in s.in_ids if a in fus and a not in leaves)
            continue
        work += len(members)
        groups.append((i, sorted(pos[v] for v in members), ext))
    return groups, work, unfused


def scalar_code(key, operands, consts):
    """FUSIBLE[key] written with these operand names; the constants 1 and 0 it uses are named
    in `consts` (repr -> name: typed constants of the kernel's dtype, never float64 literals)."""
    code = FUSIBLE[key]
    named = {c: consts.setdefault(repr(v), f"c{len(consts)}") if "{" + c + "}" in code else None
             for c, v in (("one", 1.0), ("zero", 0.0))}
    return code.format(*operands, **named)


def kernel_source(steps, members, ext, dtype):
    """The scalar loop of one group: numba source whose function `kernel` takes the external
    inputs (flat) and the flat output."""
    names = {e: f"x{j}" for j, e in enumerate(ext)}
    tname = np.dtype(dtype).name
    body = [f"        {names[e]} = a{j}[i]" for j, e in enumerate(ext)]
    consts = {}
    for k, m in enumerate(members):
        s = steps[m]
        operands = []
        for kind, a in s.args:
            if kind == "node":
                operands.append(names[a])
            else:
                c = consts.setdefault(repr(float(a)), f"c{len(consts)}")
                operands.append(c)
        names[s.name] = f"t{k}"
        body.append(f"        t{k} = " + scalar_code(s.kernel, operands, consts))
    body.append(f"        out[i] = t{len(members) - 1}")
    params = ", ".join([f"a{j}" for j in range(len(ext))] + ["out"])
    head = ["import numpy as np", "from numba import njit", ""]
    head += [f"{c} = np.{tname}({v})" for v, c in consts.items()]
    return "\n".join(head + ["", "", '@njit(cache=True, nogil=True, error_model="numpy")', f"def kernel({params}):",
                             "    for i in range(out.shape[0]):"] + body) + "\n"


def make_caller(kernel, n_in, unfused):
    """kernel(flat inputs..., flat out) as a plan kernel k(*inputs, out=buffer) -> buffer.
    Called without a buffer on inputs not all in C order (the plan gives one only when they
    are), it runs the group's own kernels one by one (`unfused`): eagerly each result is laid
    out as numpy's K order makes it, and what reads it (a sum, a product) rounds by layout."""
    params = ", ".join(f"a{j}" for j in range(n_in))
    flat = ", ".join(f"a{j}.reshape(-1)" for j in range(n_in))
    in_c = " and ".join(f"a{j}.flags.c_contiguous" for j in range(n_in))
    src = (f"def call({params}, out=None):\n"
           f"    if out is None:  # (a result handed to the caller: fresh memory)\n"
           f"        if not ({in_c}):\n"
           f"            return unfused({params})\n"
           f"        out = np.empty(a0.shape, a0.dtype)\n"
           f"    if out.flags.c_contiguous:\n"
           f"        kernel({flat}, out.reshape(-1))\n"
           f"    else:  # (a buffer numpy laid out otherwise: write a flat copy, then back)\n"
           f"        o = np.empty(out.size, out.dtype)\n"
           f"        kernel({flat}, o)\n"
           f"        out[...] = o.reshape(out.shape)\n"
           f"    return out\n")
    ns = {"kernel": kernel, "np": np, "unfused": unfused}
    exec(compile(src, "<dualgraph fused call>", "exec"), ns)  # noqa: S102 - our own code
    return ns["call"]


def _unfused(steps, members, ext):
    """The group's steps as one function of its external inputs: each step's kernel called as
    the unfused plan (and eager code) calls it, without out=, in schedule order."""
    calls = [(steps[m].kernel, steps[m].args, steps[m].name) for m in members]

    def run(*inputs):
        env = dict(zip(ext, inputs))
        for kernel, args, name in calls:
            env[name] = kernel(*[env[a] if k == "node" else a for k, a in args])
        return env[calls[-1][2]]
    return run


def fuse(steps, fetches):
    """The schedule with each group replaced by one step at its root's place (the `specialised`
    steps of plan.py: the root's record with the group's kernel and external inputs)."""
    groups = plan_groups(steps, fetches)
    if not groups:
        return steps, 0
    gone = set()
    fused = {}
    for root, members, ext in groups:
        s = steps[root]
        src = kernel_source(steps, members, ext, s.dtype)
        call = make_caller(compile_kernel(src), len(ext), _unfused(steps, members, ext))
        f = s.specialised(s.shape, s.dtype, call, True, True)
        f.op, f.args, f.in_ids = FUSED, tuple(("node", e) for e in ext), tuple(ext)
        f.attrs = {}
        # not written into a dying input (liveness would, for an elementwise step): LLVM
        # vectorises the loop only when the output does not alias an input (2.5x at 65536)
        f.elementwise = False
        fused[root] = f
        gone.update(m for m in members if m != root)
    out = [fused.get(i, s) for i, s in enumerate(steps) if i not in gone]
    return out, len(groups)
