"""dg.train: TensorFlow 1.x's optimizer names over dg.optim.

    opt = dg.train.GradientDescentOptimizer(0.1)      # or AdamOptimizer(1e-3, beta1, beta2, epsilon)
    train_op = opt.minimize(loss)                      # in a graph: a train op for Session.run

`minimize(loss, var_list=None)` takes the gradients of `loss` with respect to var_list (default:
the trainable variables of loss's graph, as tf.compat.v1) and returns one op that applies one
step (`dg.optim`'s `Optimizer.minimize` builds it: the SGD or Adam step is the PyTorch one).
Eagerly, with a computed loss: backward and one step now (var_list is then required); returns
None. Each (optimizer, var_list) keeps its own dg.optim optimizer, so the Adam moments of
repeated minimize calls over the same variables are shared, as TF's slots are.

AdamOptimizer is PyTorch's Adam: its epsilon is added to sqrt(v_hat) (TF adds it to sqrt(v)
before the bias correction, "epsilon hat"); the two agree when epsilon is small against
sqrt(v).
"""
from .errors import DGValueError

__all__ = ["Optimizer", "GradientDescentOptimizer", "AdamOptimizer", "MomentumOptimizer"]


class Optimizer:
    """The TF1 optimizer interface over one dg.optim optimizer per var_list."""

    def __init__(self, learning_rate, name):
        self._lr = learning_rate
        self._name = name
        self._opts = {}

    def _make(self, params):
        raise NotImplementedError

    def _optimizer(self, var_list):
        key = tuple(id(v) for v in var_list)
        if key not in self._opts:
            self._opts[key] = (list(var_list), self._make(list(var_list)))
        return self._opts[key][1]

    def _var_list(self, loss, var_list):
        if var_list is not None:
            var_list = list(var_list)
        elif hasattr(loss, "graph"):
            # the tensors that hold the trainable state (a dg.Variable's store, a captured
            # parameter), not this graph's handles: they stay the same over the traces of a
            # dg.function, so the optimizer (and its Adam moments) stays the same too
            var_list = [st.trained if st.trained is not None else st.ref
                        for st in loss.graph._states.values()
                        if st.handle.node.attrs.get("trainable")]
        else:
            raise DGValueError(
                f"{type(self).__name__}.minimize on an eager loss needs var_list= (the tensors to "
                "train): there is no graph to find the trainable variables in")
        if not var_list:
            raise DGValueError("No variables to optimize.")
        return var_list

    def minimize(self, loss, global_step=None, var_list=None, name=None, **unused):
        """One op (in a graph) that computes the gradients of loss and applies one step;
        fetch it with Session.run. `global_step` (a dg.Variable) is incremented by the op."""
        var_list = self._var_list(loss, var_list)
        op = self._optimizer(var_list).minimize(loss, var_list=var_list)
        if global_step is None:
            return op
        if not hasattr(global_step, "assign_add"):
            raise DGValueError("global_step must be a dg.Variable")
        from .graph.tf1 import group
        from .graph.builder import graph_mode
        with graph_mode(global_step.graph):
            return group(op, global_step.assign_add(1), name=name or "train")

    def get_name(self):
        return self._name


class GradientDescentOptimizer(Optimizer):
    """tf.train.GradientDescentOptimizer(learning_rate): var -= learning_rate * grad."""

    def __init__(self, learning_rate, use_locking=False, name="GradientDescent"):
        super().__init__(learning_rate, name)

    def _make(self, params):
        from .optim import SGD
        return SGD(params, lr=self._lr)


class MomentumOptimizer(Optimizer):
    """tf.train.MomentumOptimizer(learning_rate, momentum, use_nesterov=False): TF's
    accumulator (a = momentum * a + grad; var -= lr * a) is PyTorch's SGD momentum buffer."""

    def __init__(self, learning_rate, momentum, use_locking=False, name="Momentum",
                 use_nesterov=False):
        super().__init__(learning_rate, name)
        self._momentum = momentum
        self._nesterov = use_nesterov

    def _make(self, params):
        from .optim import SGD
        return SGD(params, lr=self._lr, momentum=self._momentum, nesterov=self._nesterov)


class AdamOptimizer(Optimizer):
    """tf.train.AdamOptimizer(learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-08)."""

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-08,
                 use_locking=False, name="Adam"):
        super().__init__(learning_rate, name)
        self._betas = (beta1, beta2)
        self._eps = epsilon

    def _make(self, params):
        from .optim import Adam
        from .mode import eager_mode
        opt = Adam(params, lr=self._lr, betas=self._betas, eps=self._eps)
        # The moments are made now, eagerly: Optimizer._new_state, called while minimize traces
        # the first step, builds its stand-in for a dg.Variable in the graph being built and
        # then fails in eager mode (a bug of optim/optimizer.py, reported with issue 13).
        with eager_mode():
            for p in params:
                opt._init_state(p, False)
        return opt
