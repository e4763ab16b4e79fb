"""Conv2d (the convolution itself is the registry op `conv2d`, see ops/nn_ops.py)."""

from ...errors import DGValueError
from ...ops.nn_ops import _pair
from .. import functional as F
from .. import init
from ..module import Module
from ..parameter import Parameter
from ._factory import new_empty


class Conv2d(Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        if groups <= 0:
            raise DGValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise DGValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise DGValueError("out_channels must be divisible by groups")
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise DGValueError(
                    f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
            if padding == "same" and _pair(stride) != (1, 1):
                raise DGValueError("padding='same' is not supported for strided convolutions")
        if padding_mode != "zeros":
            raise DGValueError(
                f"padding_mode {padding_mode!r} is not supported by dualgraph (only 'zeros')")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = padding if isinstance(padding, str) else _pair(padding)
        self.dilation = _pair(dilation)
        self.transposed = False
        self.output_padding = (0, 0)
        self.groups = groups
        self.padding_mode = padding_mode
        self.weight = Parameter(new_empty(out_channels, in_channels // groups, *self.kernel_size,
                                          dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(new_empty(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.default_reset_(self.weight, self.bias)

    def forward(self, input):
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * len(self.padding):
            s += f", padding={self.padding}"
        if self.dilation != (1,) * len(self.dilation):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s
