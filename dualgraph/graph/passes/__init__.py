"""Compiler passes: each is a function (G, ctx) -> stats dict, rewriting the networkx graph G.

Order (compiler.py): prune -> constant_fold -> cse -> simplify -> (prune again) -> schedule.
Liveness and buffer reuse run on the flat schedule (liveness.py).
"""
from .prune import prune
from .constant_fold import constant_fold
from .cse import cse
from .simplify import simplify
from .schedule import schedule

__all__ = ["prune", "constant_fold", "cse", "simplify", "schedule"]
