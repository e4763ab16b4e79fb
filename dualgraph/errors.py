"""dualgraph's errors: each is a DualGraphError *and* the built-in type PyTorch raises.

So `except RuntimeError:` written for PyTorch keeps working, and `except dg.DualGraphError:`
catches everything the library itself raises.
"""


class DualGraphError(Exception):
    """Base class of every error dualgraph raises on purpose."""


class DGRuntimeError(DualGraphError, RuntimeError):
    pass


class DGTypeError(DualGraphError, TypeError):
    pass


class DGValueError(DualGraphError, ValueError):
    pass


class DGIndexError(DualGraphError, IndexError):
    pass


class DGKeyError(DualGraphError, KeyError):
    """PyTorch's KeyError (a missing param_groups key), printed as its message (KeyError's str()
    would show the repr of a multi-line message)."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class DGNotImplementedError(DualGraphError, NotImplementedError):
    """What PyTorch raises for a kernel missing for a dtype (normal_ on an integer tensor)."""


class DGOverflowError(DualGraphError, OverflowError):
    """A Python int that fits no 64-bit integer (PyTorch: "int too big to convert")."""


class DGFileNotFoundError(DualGraphError, FileNotFoundError):
    """dg.load of a path that does not exist; built as OSError(errno, strerror, filename), so
    its message and attributes are torch.load's (open()'s)."""


class DGIsADirectoryError(DualGraphError, IsADirectoryError):
    """dg.load of a directory: open()'s error and message, as torch.load raises it."""


class DGPermissionError(DualGraphError, PermissionError):
    """dg.load of a file it may not read: open()'s error and message, as torch.load's."""


class ShapeError(DGRuntimeError):
    """A shape rule refused its inputs (raised at build time in graph mode)."""


class CheckpointError(DGRuntimeError, DGValueError):
    """dg.load refused a file: not a (complete, intact, supported) dualgraph checkpoint. Both a
    RuntimeError (what dualgraph raised before) and a ValueError (a bad value in the file); the
    message says what is wrong and where (the archive member, the manifest field)."""
