from .allclose import allclose, equal, isclose  # noqa: F401  (the former name of allclose.py)
