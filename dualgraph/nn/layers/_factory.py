"""Creating parameter storage for layers (dtype= and device= arguments, as PyTorch)."""
from ... import dtypes as _dt
from ...ops.creation import empty


def new_empty(*shape, dtype=None, device=None):
    if device is not None:
        from ...device import check_device
        check_device(device)
    return empty(*shape, dtype=dtype if dtype is not None else _dt.float32)
