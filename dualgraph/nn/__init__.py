"""dg.nn: modules, parameters, layers, the functional API (`F`) and initialisations."""
from . import functional
from . import init
from . import utils  # dg.nn.utils: clip_grad_norm_, rnn.pad_sequence, ...
from .parameter import Parameter
from .module import Module
from .layers import *  # noqa: F401,F403
from .layers import __all__ as _layers_all

__all__ = ["functional", "init", "utils", "Parameter", "Module",
           "sparse_softmax_cross_entropy_with_logits"] + list(_layers_all)


def sparse_softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, name=None):
    """TensorFlow's tf.nn.sparse_softmax_cross_entropy_with_logits(labels=, logits=): the
    cross entropy of each row (classes on the last axis of logits, labels of the other axes'
    shape), unreduced: F.cross_entropy(..., reduction='none')."""
    from ..errors import DGValueError
    if _sentinel is not None:
        raise DGValueError("Only call `sparse_softmax_cross_entropy_with_logits` with named "
                           "arguments (labels=..., logits=..., ...).")
    if labels is None or logits is None:
        raise DGValueError("sparse_softmax_cross_entropy_with_logits needs labels= and logits=")
    if logits.dim() == 0:
        raise DGValueError("Logits cannot be scalars - received shape [].")
    if tuple(labels.shape) != tuple(logits.shape[:-1]):
        raise DGValueError(
            f"Rank mismatch: labels of shape {list(labels.shape)} need logits of shape "
            f"labels.shape + [num_classes], got logits of shape {list(logits.shape)}")
    if logits.dim() == 2:
        return functional.cross_entropy(logits, labels, reduction="none")
    c = logits.shape[-1]
    out = functional.cross_entropy(logits.reshape(-1, c), labels.reshape(-1), reduction="none")
    return out.reshape(tuple(labels.shape))
