"""Export and look at graphs: JSON, DOT and pictures, GraphML, ONNX both ways, TensorBoard, and
the eager tape as a graph (`dg.autograd.tape_graph`), and `diff` between two graphs. Formats
that need an optional package (onnx, onnxruntime, tensorboard, matplotlib, pydot) import it
when called and otherwise raise ExportError naming the extra to install."""
from .errors import ExportError
from .json_format import to_json, from_json, save, load
from .dot import to_dot, draw, draw_plan
from .graphml import to_graphml
from .onnx_export import to_onnx
from .onnx_import import from_onnx
from .tensorboard import to_tensorboard
from .diff import diff

__all__ = ["ExportError", "to_json", "from_json", "save", "load", "to_dot", "draw", "draw_plan",
           "to_graphml", "to_onnx", "from_onnx", "to_tensorboard", "diff"]
