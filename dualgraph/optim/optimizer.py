"""Optimizer base class with PyTorch's param_groups, state and state_dict structure.

step() implementations are written with dualgraph tensor ops and in-place tensor methods (or
their list forms, optim/foreach.py) under no_grad (never touching numpy arrays), and keep their
state (momentum buffers, moments, step counts) as dualgraph tensors, so the same update code is
staged as assign ops in a graph.
Traced (dg.function, minimize), the numbers in param_groups are lifted to run-time inputs
(graph/guards.py; imported lazily, only while a graph is built).
"""
import copy
import warnings
from collections import defaultdict
from itertools import chain

from ..autograd import no_grad, enable_grad
from ..mode import executing_eagerly
from ..ops.numba_loops import BACKEND
from ..autograd.functional import zero_grads
from ..errors import DGTypeError, DGValueError
from ..tensor_methods import TensorMethods

__all__ = ["Optimizer", "required"]


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()


def _typename(x):
    if isinstance(x, TensorMethods):
        from ..dtypes import torch_name
        return "dualgraph." + torch_name(x.dtype.np)
    return type(x).__name__


class _IdDefaultDict(defaultdict):
    """state: a dict keyed by parameter tensors (tensors hash by identity)."""


class Optimizer:
    _stepped_by_dg_function = True   # (how graph/function.py knows an optimizer, not importing optim)

    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = _IdDefaultDict(dict)
        self.param_groups = []
        if isinstance(params, TensorMethods):
            raise DGTypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                f"dicts, but got {_typename(params)}")
        groups = list(params)
        if len(groups) == 0:
            raise DGValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    # ------------------------------------------------------------ groups
    def add_param_group(self, param_group):
        if not isinstance(param_group, dict):
            raise DGTypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, TensorMethods):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise DGTypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead.")
        else:
            param_group["params"] = list(params)
        for p in param_group["params"]:
            if not isinstance(p, TensorMethods):
                raise DGTypeError("optimizer can only optimize Tensors, but one of the params is "
                                  + _typename(p))
            if not (p.is_leaf or getattr(p, "retains_grad", False)):
                raise DGValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise DGValueError(
                    f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)
        ids = [id(p) for p in param_group["params"]]
        if len(ids) != len(set(ids)):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in "
                          "future, this will cause an error; see "
                          "github.com/pytorch/pytorch/issues/40967 for more information",
                          stacklevel=3)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if seen & set(ids):
            raise DGValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ------------------------------------------------------------ gradients
    def zero_grad(self, set_to_none=True):
        zero_grads((p for group in self.param_groups for p in group["params"]), set_to_none)

    def step(self, closure=None):
        raise NotImplementedError

    @staticmethod
    def _new_state(fn, *args, **kwargs):
        """Create a state tensor eagerly, even while a step is being traced into a graph (so it
        is a persistent tensor the graph updates in place, not a node recomputed each run)."""
        from ..mode import eager_mode
        from ..ops.creation import zeros
        with eager_mode():
            args = [zeros(tuple(a.shape), dtype=a.dtype) if isinstance(a, TensorMethods) and
                    not hasattr(a, "_vc") else a for a in args]  # a graph variable: a store of its shape
            return fn(*args, **kwargs)

    def _guard_first_step(self, group, p, key):
        """A step branching on a missing state entry: while traced, the plan is guarded on it."""
        add = getattr(group, "guard_absent", None)
        if add is not None:
            add(self, p, key)

    def minimize(self, loss, var_list=None):
        """TensorFlow 1.x's train op: in a graph, the gradients of `loss` with respect to
        var_list (default: this optimizer's parameters) and one step with them, as a fetchable
        op (`sess.run(train_op, feed)` runs one step; its numbers, lr included, are read at every
        run). Eagerly: zero_grad(), loss.backward(), step(); returns None."""
        params = [p for g in self.param_groups for p in g["params"]]
        chosen = params if var_list is None else list(var_list)
        if executing_eagerly() and not hasattr(loss, "graph"):
            self.zero_grad()
            loss.backward()
            self.step()
            return None
        from ..graph.gradients import gradients
        from ..graph.guards import Guards, lifting
        from ..graph.tf1 import group
        from ..graph.builder import graph_mode
        g = loss.graph
        grads = gradients(loss, chosen)
        with graph_mode(g):
            saved = dict(g.grads)
            for p in params:
                p.grad = None
            for p, gr in zip(chosen, grads):
                p.grad = gr
            start = len(g.updates)
            with lifting(g, Guards(), [(self, type(self).__name__)]):
                self.step()
            ops = [n.out for n in g.updates[start:]]
            g.grads.clear()
            g.grads.update(saved)
            return group(*ops, name="train")

    def _closure(self, closure):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    # ------------------------------------------------------------ state dicts
    def state_dict(self):
        """{'state': {index: {...}}, 'param_groups': [{..., 'params': [index, ...]}]}: parameters
        numbered across groups in order; state tensors are references (save them with dg.save)."""
        mapping = {}
        start = 0

        def pack(group):
            nonlocal start
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                mapping.setdefault(id(p), i)
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            return packed

        groups = [pack(g) for g in self.param_groups]
        state = {(mapping[id(k)] if isinstance(k, TensorMethods) else k): v
                 for k, v in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore state saved by state_dict(); state tensors are copied (cast to each
        parameter's floating dtype, except 'step'), hyper-parameters taken from the dict."""
        groups = self.param_groups
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise DGValueError(
                "loaded state dict is not an optimizer state dict: expected a dict with the keys "
                f"'state' and 'param_groups' (from Optimizer.state_dict()), got "
                f"{sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__}")
        saved = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved):
            raise DGValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved)):
            raise DGValueError("loaded state dict contains a parameter group that doesn't match "
                               "the size of optimizer's group")
        id_map = dict(zip(chain.from_iterable(s["params"] for s in saved),
                          chain.from_iterable(g["params"] for g in groups)))

        def cast(param, value, key=None):
            if (key == "step" and isinstance(value, (int, float)) and not isinstance(value, bool)
                    and type(self).__module__.startswith("dualgraph.optim")):
                # (older checkpoints keep the step a Python number; the built-ins update a tensor;
                # a user's optimizer gets its own value back)
                from ..ops.creation import full
                from .. import dtypes as _dt
                return self._new_state(full, (), float(value), dtype=_dt.float32)
            if isinstance(value, TensorMethods):
                if key != "step" and param.is_floating_point() and value.is_floating_point():
                    value = value.to(param.dtype)
                return value.detach().clone()
            if isinstance(value, dict):
                return {k: cast(param, v, k) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return type(value)(cast(param, v) for v in value)
            return copy.deepcopy(value)

        state = _IdDefaultDict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                p = id_map[k]
                state[p] = cast(p, v)
            else:
                state[k] = copy.deepcopy(v)
        new_groups = []
        for g, s in zip(groups, saved):
            s["params"] = g["params"]
            new_groups.append(s)
        self.state = state
        self.param_groups = new_groups

    def __repr__(self):
        s = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            s += "\n" + f"Parameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    s += f"    {key}: {group[key]}\n"
        return s + ")"

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)


def _no_grad_step(fn):
    """Run an optimizer's step under no_grad (closure evaluated with grad enabled)."""
    import functools

    @functools.wraps(fn)
    def wrapper(self, closure=None):
        if closure is None and BACKEND[0] is not None and COMPILED_STEPS[0] and executing_eagerly():
            run = _compiled_step(self, fn)
            if run is not None:
                run()
                return None
        loss = self._closure(closure)
        with no_grad(), _lifted_while_traced(self):
            fn(self)
        return loss
    return wrapper


# With the numba backend on (dg.set_fusion("numba")), an eager step of a built-in optimizer
# runs as its own compiled plan, where each parameter's update is one fused loop: the same bits
# as the step's numpy passes (graph/passes/fuse_updates.py; tests/test_compiled_steps.py), in
# one pass over memory instead of up to 13 (Adam). The first step runs eagerly (it makes the
# state). check_consistency turns it off while it records eager ops (it must see every write).
COMPILED_STEPS = [True]
_FIRST, _NEXT = object(), object()


def _compiled_step(opt, fn):
    """The dg.function of opt's step an eager step runs, or None (step eagerly)."""
    run = opt.__dict__.get("_compiled", _FIRST)
    if run is _FIRST:
        opt.__dict__["_compiled"] = _NEXT if type(opt).__module__.startswith("dualgraph.optim.") else None
        return None
    if run is _NEXT:
        from ..graph.function import TracedFunction

        def step():
            with no_grad(), _lifted_while_traced(opt):
                fn(opt)
        run = opt.__dict__["_compiled"] = TracedFunction(step, autograph=False)
        run.quiet = True   # (its retraces are the optimizer's business, not the user's code)
    return run


def _lifted_while_traced(opt):
    """An optimizer stepped inside a dg.function trace that the function did not name (reached
    through a helper, say): its param_groups numbers are lifted all the same, never frozen."""
    import contextlib
    if executing_eagerly():
        return contextlib.nullcontext()
    from ..graph.core import get_default_graph
    g = get_default_graph()
    trace = getattr(g, "trace", None)
    if trace is None or any(o is opt for o, _ in trace.optimizers) or \
            type(opt.param_groups[0]).__name__ == "_LiftingGroup":
        return contextlib.nullcontext()
    from ..graph.guards import lifting
    trace.optimizers.append((opt, f"{type(opt).__name__} optimizer"))
    return lifting(g, trace.guards, [trace.optimizers[-1]])
