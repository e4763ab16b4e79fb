"""The layers of dg.nn, one file per family."""
from .container import Sequential, ModuleList, ModuleDict, ParameterList
from .linear import Identity, Linear, Flatten, Unflatten
from .conv import Conv2d
from .pooling import MaxPool2d
from .activation import ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, LogSoftmax
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from .dropout import Dropout
from .sparse import Embedding
from .loss import (MSELoss, L1Loss, CrossEntropyLoss, NLLLoss, BCELoss, BCEWithLogitsLoss)

__all__ = [
    "Sequential", "ModuleList", "ModuleDict", "ParameterList", "Identity", "Linear", "Flatten",
    "Unflatten", "Conv2d", "MaxPool2d", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax",
    "LogSoftmax", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Dropout", "Embedding", "MSELoss",
    "L1Loss", "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss",
]

from .rnn import RNNBase, RNN, LSTM, GRU, RNNCellBase, RNNCell, LSTMCell, GRUCell  # noqa: E402
__all__ += ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

from .transformer import MultiheadAttention, TransformerEncoderLayer, TransformerEncoder  # noqa: E402
__all__ += ["MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder"]

from .conv import Conv1d, ConvTranspose2d  # noqa: E402
from .pooling import (AvgPool2d, AdaptiveAvgPool2d, Upsample, UpsamplingNearest2d,  # noqa: E402
                      UpsamplingBilinear2d)
from .normalization import GroupNorm  # noqa: E402
from .dropout import Dropout2d  # noqa: E402
__all__ += ["Conv1d", "ConvTranspose2d", "AvgPool2d", "AdaptiveAvgPool2d", "Upsample",
            "UpsamplingNearest2d", "UpsamplingBilinear2d", "GroupNorm", "Dropout2d"]

from .activation import GELU, SiLU, ELU, Softplus  # noqa: E402
from .loss import KLDivLoss, SmoothL1Loss, HuberLoss, CosineSimilarity  # noqa: E402
__all__ += ["GELU", "SiLU", "ELU", "Softplus", "KLDivLoss", "SmoothL1Loss", "HuberLoss",
            "CosineSimilarity"]
