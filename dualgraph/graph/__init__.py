"""Graph mode: Graph and symbolic tensors (core.py), the build-time interpreter (builder.py),
symbolic gradients (gradients.py), the networkx compiler (compiler.py, passes/, liveness.py),
the executable plan (plan.py), Session, and @dg.function (function.py)."""
from .core import Graph, SymbolicTensor, get_default_graph, reset_default_graph, name_scope
from .builder import graph_mode, placeholder, constant, Variable
from .gradients import gradients
from .session import Session
