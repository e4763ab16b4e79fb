"""TensorFlow 1.x's training names in a graph: dg.group, dg.global_variables_initializer,
dg.trainable_variables (Optimizer.minimize lives with the optimizers)."""
from ..ops.registry import Spec
from .core import SymbolicTensor, GROUP, CONSTANT


def _graph():
    from .core import get_default_graph
    return get_default_graph()


def group(*updates, name="group"):
    """One fetchable op running every update given (once per run); it fetches as None.
    Eagerly the updates have already run: returns None."""
    from ..mode import executing_eagerly, current
    flat = []
    for u in updates:
        flat.extend(u if isinstance(u, (list, tuple)) else [u])
    syms = [u for u in flat if isinstance(u, SymbolicTensor)]
    if executing_eagerly() and not syms:
        return None
    g = syms[0].graph if syms else current().graph
    return g.add_node(GROUP, [current().lift(u) if not executing_eagerly() else u for u in syms], {},
                      Spec((), GROUP.infer().dtype), name=name).out


def global_variables_initializer():
    """An op that re-sets every dg.Variable of the default graph to its initial value."""
    from ..mode import executing_eagerly
    g = _graph()
    if executing_eagerly() and not g.nodes:  # no graph was built: eager variables need no init
        return None
    from .builder import graph_mode
    with graph_mode(g):
        ups = []
        for st in list(g._states.values()):
            init = st.handle.node.attrs.get("initial")
            if init is not None:
                c = g.add_node(CONSTANT, (), {"value": init}, Spec(init.shape, init.dtype), name="init").out
                ups.append(g.assign(st.ref, c))
        return group(*ups, name="init")


def trainable_variables():
    """The trainable variables (dg.Variable and captured tensors that require grad) of the
    default graph."""
    return _graph().trainable_variables()


def global_variables():
    return _graph().variables()
