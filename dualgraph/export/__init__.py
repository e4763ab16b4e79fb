"""Export and look at graphs: JSON, DOT and pictures, GraphML, ONNX both ways, TensorBoard, and
the eager tape as a graph. Formats that need an optional package (onnx, onnxruntime,
tensorboard, matplotlib, pydot) import it when called and say which extra to install."""
from .errors import ExportError

__all__ = ["ExportError"]


def _public(module, names):
    g = globals()
    for n in names:
        g[n] = getattr(module, n)
        __all__.append(n)


try:  # each format in its own module; a missing one (being written) does not break the others
    from . import json_format as _json
    _public(_json, ["to_json", "from_json", "save", "load"])
except ImportError:  # pragma: no cover
    pass
try:
    from . import dot as _dot
    _public(_dot, ["to_dot", "draw", "draw_plan"])
except ImportError:  # pragma: no cover
    pass
try:
    from . import graphml as _graphml
    _public(_graphml, ["to_graphml"])
except ImportError:  # pragma: no cover
    pass
try:
    from . import onnx_export as _onnx_out
    _public(_onnx_out, ["to_onnx"])
except ImportError:  # pragma: no cover
    pass
try:
    from . import onnx_import as _onnx_in
    _public(_onnx_in, ["from_onnx"])
except ImportError:  # pragma: no cover
    pass
try:
    from . import tensorboard as _tb
    _public(_tb, ["to_tensorboard"])
except ImportError:  # pragma: no cover
    pass
try:
    from . import diff as _diff
    _public(_diff, ["diff"])
except ImportError:  # pragma: no cover
    pass
