"""The exporter's converters of dualgraph's matrix products (ops/linalg.py): matmul, mm, bmm
and dot (MatMul), outer. (linear, a layer, is in onnx_ops_nn.py.)"""
from .onnx_ops_common import registrar, simple

CONVERTERS = {}
_conv = registrar(CONVERTERS)

for _name in ("matmul", "mm", "bmm", "dot"):
    CONVERTERS[_name] = simple("MatMul")


@_conv("outer")
def _outer(ex, n):
    a, b = ex.ins(n, ex.out_dtype(n))
    return ex.emit("Mul", [ex.squeeze("Unsqueeze", a, [1]), ex.squeeze("Unsqueeze", b, [0])])
