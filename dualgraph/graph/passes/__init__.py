"""Compiler passes: each is a function (G, ctx) -> stats dict, rewriting the networkx graph G.

Order (compiler.py): prune -> constant_fold -> cse -> simplify -> relu_pool_grad -> (prune
again) -> schedule.
Liveness and buffer reuse run on the flat schedule (liveness.py).
"""
from .prune import prune
from .constant_fold import constant_fold
from .cse import cse
from .simplify import simplify
from .relu_pool_grad import relu_pool_grad
from .schedule import schedule

__all__ = ["prune", "constant_fold", "cse", "simplify", "relu_pool_grad", "schedule"]
