"""Side-by-side comparison of the two modes: same results, measured speed and memory."""
from .runner import compare, Comparison

__all__ = ["compare", "Comparison"]
