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
