"""Conv1d, Conv2d and ConvTranspose2d (the convolutions are the registry ops `conv2d` and its
input gradient `conv2d_input_grad`, see ops/nn_ops.py)."""

from ...errors import DGValueError
from ...ops.nn_ops import _pair
from .. import functional as F
from .. import init
from ..module import Module
from ..parameter import Parameter
from ._factory import new_empty


def _single(v):
    if isinstance(v, (list, tuple)):
        return (int(v[0]),)
    return (int(v),)


class _ConvNd(Module):
    """What Conv1d and Conv2d share (PyTorch's _ConvNd): the checks, the attributes, the
    parameters and their reset, the repr. `_ntuple` makes a size per spatial dim."""

    _ntuple = staticmethod(_pair)

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None, *,
                 transposed=False, output_padding=0):
        super().__init__()
        nt = self._ntuple
        if groups <= 0:
            raise DGValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise DGValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise DGValueError("out_channels must be divisible by groups")
        if isinstance(padding, str):
            if transposed:
                raise DGValueError(f"padding={padding!r} is not supported for {type(self).__name__}")
            if padding not in ("valid", "same"):
                raise DGValueError(
                    f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
            if padding == "same" and nt(stride) != nt(1):
                raise DGValueError("padding='same' is not supported for strided convolutions")
        if padding_mode != "zeros":
            raise DGValueError(
                'Only "zeros" padding mode is supported for ' + type(self).__name__ if transposed
                else f"padding_mode {padding_mode!r} is not supported by dualgraph (only 'zeros')")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = nt(kernel_size)
        self.stride = nt(stride)
        self.padding = padding if isinstance(padding, str) else nt(padding)
        self.dilation = nt(dilation)
        self.transposed = transposed
        self.output_padding = nt(output_padding)
        self.groups = groups
        self.padding_mode = padding_mode
        # (a transposed convolution's weight is (in, out / groups, ...), as PyTorch's)
        shape = (in_channels, out_channels // groups) if transposed else (out_channels, in_channels // groups)
        self.weight = Parameter(new_empty(*shape, *self.kernel_size, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(new_empty(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.default_reset_(self.weight, self.bias)

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * len(self.padding):
            s += f", padding={self.padding}"
        if self.dilation != (1,) * len(self.dilation):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * len(self.output_padding):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_ConvNd):
    def forward(self, input):
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


class Conv1d(_ConvNd):
    """1-D convolution over (N, C, L) input (F.conv1d: the conv2d op with a unit height)."""

    _ntuple = staticmethod(_single)

    def forward(self, input):
        return F.conv1d(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


class ConvTranspose2d(_ConvNd):
    """2-D transposed convolution (F.conv_transpose2d); weight (in, out / groups, kh, kw)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, padding_mode, device, dtype, transposed=True,
                         output_padding=output_padding)

    def _output_padding(self, input, output_size):
        if output_size is None:
            return self.output_padding
        k = 2
        lead = 2 if input.ndim == k + 2 else 1
        if len(output_size) == lead + k:
            output_size = output_size[lead:]
        if len(output_size) != k:
            raise DGValueError(
                f"ConvTranspose{k}D: for {input.ndim}D input, output_size must have {k} or "
                f"{lead + k} elements (got {len(output_size)})")
        spatial = input.shape[lead:]
        lo = [(spatial[d] - 1) * self.stride[d] - 2 * self.padding[d]
              + self.dilation[d] * (self.kernel_size[d] - 1) + 1 for d in range(k)]
        hi = [lo[d] + self.stride[d] - 1 for d in range(k)]
        for d in range(k):
            if not lo[d] <= output_size[d] <= hi[d]:
                raise DGValueError(
                    f"requested an output size of {output_size}, but valid sizes range from "
                    f"{lo} to {hi} (for an input of {spatial})")
        return tuple(output_size[d] - lo[d] for d in range(k))

    def forward(self, input, output_size=None):
        op_ = self._output_padding(input, output_size)
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding, op_,
                                  self.groups, self.dilation)
