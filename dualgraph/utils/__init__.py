"""dg.utils: data loading (dg.utils.data)."""
from . import data

__all__ = ["data"]
