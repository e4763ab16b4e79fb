"""What the exporter's converter modules (onnx_ops_*.py) share: each family's table of
converters and the decorator that fills it, and the converter of an op that is one ONNX op.

A converter is `fn(ex, n)`: the `_Exporter` of onnx_export.py (its `emit`, `value`, `ins`,
`where`, ... write ONNX nodes) and one dualgraph GraphNode; it returns the ONNX name of the
node's output (a list of names for a tuple). onnx_export.py merges the families' tables into
its own (`_CONVERT`, by dualgraph op name); a converter module imports none of its peers and
never the driver."""


def registrar(table):
    """`conv(*names)`: a decorator that files a converter in `table` under each op name."""
    def conv(*names):
        def deco(fn):
            for nm in names:
                table[nm] = fn
            return fn
        return deco
    return conv


def simple(op_type, same_dtype=True):
    """The converter of an op that is the ONNX op `op_type` of its inputs, cast to its dtype."""
    def fn(ex, n):
        return ex.emit(op_type, ex.ins(n, ex.out_dtype(n) if same_dtype else None))
    return fn
