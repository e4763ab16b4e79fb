"""The one error of the export package."""
from ..errors import DGValueError


class ExportError(DGValueError):
    """A graph that cannot be written in a format, or a file that is not a graph dualgraph can
    read (malformed, hostile, another schema version): always this, never a raw parser error."""


def require(module, extra, what):
    """Import an optional package, or say which extra to install."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ExportError(f"{what} needs the {module!r} package: pip install 'dualgraph[{extra}]'") from None
