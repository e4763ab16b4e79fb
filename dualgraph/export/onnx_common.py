"""What the ONNX exporter and importer share: the optional packages, dtype codes, IR versions."""
import numpy as np

from .errors import ExportError, require


def onnx_module(what):
    """The `onnx` package, or an ExportError saying which extra to install."""
    return require("onnx", "onnx", what)


def elem_type(onnx, dtype):
    """The TensorProto element type of a numpy dtype."""
    try:
        return onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    except Exception:  # noqa: BLE001 - an unknown dtype, said as an export error
        raise ExportError(f"ONNX has no element type for dtype {np.dtype(dtype).name}") from None


def np_dtype(onnx, elem):
    """The numpy dtype of a TensorProto element type."""
    try:
        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(int(elem)))
    except Exception:  # noqa: BLE001
        raise ExportError(f"ONNX element type {elem} has no numpy dtype") from None


def ir_version_for(opset):
    """An IR version that current onnxruntime accepts (1.18 and later read up to 10) and that
    the opset needs: 10 from opset 21 (its first), 9 below."""
    return 10 if opset >= 21 else 9
