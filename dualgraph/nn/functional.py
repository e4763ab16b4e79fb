"""dg.nn.functional (as F): the functional forms of layers, activations and losses."""
from ..ops.elementwise import relu, sigmoid, tanh
from ..ops.reductions import softmax, log_softmax
from ..ops.creation import one_hot
