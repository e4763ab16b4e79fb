"""dg.nn: modules, parameters, layers, the functional API (`F`) and initialisations."""
from . import functional
from . import init
from .parameter import Parameter
from .module import Module
from .layers import *  # noqa: F401,F403
from .layers import __all__ as _layers_all

__all__ = ["functional", "init", "Parameter", "Module"] + list(_layers_all)
