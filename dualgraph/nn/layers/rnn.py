"""Recurrent layers: RNN (tanh / relu), LSTM, GRU and their cells, with PyTorch's parameter names,
shapes, initialisation, arguments and results.

Each layer and direction first projects the whole sequence (x W_ih^T + b_ih, one matmul), then
runs the recurrence over time. Eagerly the time loop is a Python loop (the tape records every
step). While a graph is built (dg.graph_mode, dg.function) it is one `dg.while_loop`, whose loop
variables are the step counter, the hidden state(s) and an output buffer written one row per
step (index_put), so one graph serves every sequence length, also a length unknown while the
graph is built (a placeholder or a slice x[:n] with a tensor n).

A PackedSequence input runs the steps it holds as a Python loop (its batch sizes are Python data,
so they are fixed by the trace anyway), in either mode.
"""
import math
import numbers
import warnings

from ... import dtypes as _dt
from ...errors import DGRuntimeError, DGTypeError, DGValueError
from ...ops.creation import zeros_like
from ...ops.dispatch import apply
from ...ops.elementwise import sigmoid, tanh, relu
from ...ops.shape import cat, stack, index_put_op, split_index, contiguous_op
from ...tensor_methods import TensorMethods
from .. import functional as F
from .. import init
from ..module import Module
from ..parameter import Parameter
from ..utils.rnn import PackedSequence, _ints
from ._factory import new_empty

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _eager():
    from ...mode import executing_eagerly
    return executing_eagerly()


# ---------------------------------------------------------------- one time step
def _step(mode, xg, h, c, w_hh, b_hh, w_hr=None):
    """One step of the recurrence given xg = x_t W_ih^T + b_ih: (h', c') (c' None unless LSTM)."""
    hg = F.linear(h, w_hh, b_hh)
    if mode == "RNN_TANH":
        return tanh(xg + hg), None
    if mode == "RNN_RELU":
        return relu(xg + hg), None
    n = w_hh.shape[0] // _GATES[mode]
    if mode == "LSTM":
        g = xg + hg
        i = sigmoid(g[..., 0:n])
        f = sigmoid(g[..., n:2 * n])
        gg = tanh(g[..., 2 * n:3 * n])
        o = sigmoid(g[..., 3 * n:4 * n])
        c = f * c + i * gg
        h = o * tanh(c)
        if w_hr is not None:
            h = F.linear(h, w_hr)
        return h, c
    # GRU: n = tanh(x W_in + b_in + r * (h W_hn + b_hn)), h' = (1 - z) n + z h
    r = sigmoid(xg[..., 0:n] + hg[..., 0:n])
    z = sigmoid(xg[..., n:2 * n] + hg[..., n:2 * n])
    nn_ = tanh(xg[..., 2 * n:3 * n] + r * hg[..., 2 * n:3 * n])
    return (1 - z) * nn_ + z * h, None


def _put_row(buf, v, t):
    """buf with row t (a 0-d int tensor) replaced by v: out of place, differentiable in both."""
    index, tensors = split_index((t,), lambda k: isinstance(k, TensorMethods))
    return apply(index_put_op, buf, v, *tensors, index=index)


def _run_eager(mode, xw, h, c, w, reverse):
    T = xw.shape[0]
    outs = [None] * T
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        h, c = _step(mode, xw[t], h, c, *w)
        # (a node of its own, no copy: backward then adds the output row's gradient to h's
        # last, after step t+1's two uses of h (GRU: z*h and h W_hh), as _run_graph's loop
        # does; float32 sums in another order differ in the last bits)
        outs[t] = apply(contiguous_op, h)
    if T == 0:
        return zeros_like(xw[..., :h.shape[-1]]), h, c
    return stack(outs), h, c


def _run_graph(mode, xw, h, c, w, reverse):
    """The time loop as one dg.while_loop: loop variables (t, h[, c], out)."""
    from ...graph.control_flow import while_loop
    from ...ops.creation import ones_like
    from ...tensor import tensor as _tensor
    T = xw.shape[0]
    if T is None:  # known when the graph runs: count the rows
        T = ones_like(xw[:, 0, 0], dtype=_dt.int64).sum()
    lstm = c is not None
    # the output buffer: (T, B, H), zeros to start with
    buf = zeros_like(xw[..., :h.shape[-1]]) if h.shape[-1] is not None else None
    if buf is None:
        raise DGRuntimeError("RNN: the hidden size must be known while the graph is built")

    def cond(t, *rest):
        return t < T

    def body(t, *rest):
        hh, cc, out = (rest[0], rest[1], rest[2]) if lstm else (rest[0], None, rest[1])
        k = (T - 1 - t) if reverse else t
        hh, cc = _step(mode, xw[k], hh, cc, *w)
        out = _put_row(out, hh, k)
        return (t + 1, hh, cc, out) if lstm else (t + 1, hh, out)

    t0 = _tensor(0)
    init_vars = (t0, h, c, buf) if lstm else (t0, h, buf)
    res = while_loop(cond, body, init_vars, name="rnn_time_loop")
    if lstm:
        return res[3], res[1], res[2]
    return res[2], res[1], None


def _run_packed(mode, xw, batch_sizes, h, c, w, reverse):
    """A packed layer: xw holds the batch_sizes[t] running sequences of step t, step after step."""
    offs = [0]
    for b in batch_sizes:
        offs.append(offs[-1] + b)
    B = batch_sizes[0]
    outs = [None] * len(batch_sizes)
    steps = range(len(batch_sizes) - 1, -1, -1) if reverse else range(len(batch_sizes))
    for t in steps:
        b = batch_sizes[t]
        xt = xw[offs[t]:offs[t + 1]]
        hb, cb = _step(mode, xt, h[:b], None if c is None else c[:b], *w)
        outs[t] = hb
        h = hb if b == B else cat([hb, h[b:]], 0)
        if c is not None:
            c = cb if b == B else cat([cb, c[b:]], 0)
    return cat(outs, 0), h, c


# ---------------------------------------------------------------- the layers
class RNNBase(Module):
    """The multi-layer, optionally bidirectional recurrence shared by RNN, LSTM and GRU."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        if (not isinstance(dropout, numbers.Number) or isinstance(dropout, bool)
                or not 0 <= dropout <= 1):
            raise DGValueError("dropout should be a number in range [0, 1] representing the "
                               "probability of an element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          "non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", UserWarning, stacklevel=3)
        if not isinstance(bias, bool):
            raise DGTypeError(f"bias should be of type bool, got: {type(bias).__name__}")
        if not isinstance(batch_first, bool):
            raise DGTypeError(f"batch_first should be of type bool, got: {type(batch_first).__name__}")
        if not isinstance(input_size, int):
            raise DGTypeError(f"input_size should be of type int, got: {type(input_size).__name__}")
        if input_size <= 0:
            raise DGValueError("input_size must be greater than zero")
        if not isinstance(hidden_size, int):
            raise DGTypeError(f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise DGValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise DGValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise DGValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise DGValueError("proj_size has to be smaller than hidden_size")
        if mode not in _GATES:
            raise DGValueError("Unrecognized RNN mode: " + mode)
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        gate_size = _GATES[mode] * hidden_size
        dirs = 2 if bidirectional else 1
        real_hidden = proj_size if proj_size > 0 else hidden_size
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            for direction in range(dirs):
                layer_in = input_size if layer == 0 else real_hidden * dirs
                sfx = "_reverse" if direction == 1 else ""
                params = [("weight_ih", (gate_size, layer_in)), ("weight_hh", (gate_size, real_hidden))]
                if bias:
                    params += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                if proj_size > 0:
                    params += [("weight_hr", (proj_size, hidden_size))]
                names = []
                for base, shape in params:
                    name = f"{base}_l{layer}{sfx}"
                    setattr(self, name, Parameter(new_empty(*shape, dtype=dtype, device=device)))
                    names.append(name)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    @property
    def _flat_weights(self):
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self):
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def flatten_parameters(self):
        """PyTorch's cuDNN weight compaction: nothing to do here."""

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    # ---- the checks PyTorch makes
    def _name(self):
        return "RNN" if self.mode.startswith("RNN") else self.mode

    def _real_hidden(self):
        return self.proj_size if self.proj_size > 0 else self.hidden_size

    def _check_input(self, input, packed):
        w = self._flat_weights[0]
        if input.dtype != w.dtype:
            raise DGValueError(
                f"RNN input dtype ({input.dtype}) does not match weight dtype ({w.dtype}). "
                f"Convert input: input.to({w.dtype}), or convert model: model.to({input.dtype})")
        want = 2 if packed else 3
        if input.ndim != want:
            raise DGRuntimeError(f"input must have {want} dimensions, got {input.ndim}")
        if input.shape[-1] is not None and self.input_size != input.shape[-1]:
            raise DGRuntimeError("input.size(-1) must be equal to input_size. Expected "
                                 f"{self.input_size}, got {input.shape[-1]}")

    def _check_hidden(self, hx, batch, size, msg="Expected hidden size {}, got {}"):
        want = (self.num_layers * (2 if self.bidirectional else 1), batch, size)
        got = tuple(hx.shape)
        if len(got) != 3 or any(a is not None and b is not None and a != b for a, b in zip(want, got)):
            raise DGRuntimeError(msg.format(want, list(got)))

    # ---- forward
    def forward(self, input, hx=None):
        lstm = self.mode == "LSTM"
        name = self._name()
        dirs = 2 if self.bidirectional else 1
        packed = isinstance(input, PackedSequence)
        is_batched = True
        if packed:
            data, batch_sizes, sorted_indices, unsorted_indices = input
            batch_sizes = [int(b) for b in _ints(batch_sizes, "batch_sizes")]
            self._check_input(data, True)
            batch = batch_sizes[0]
            x = data
        else:
            if not isinstance(input, TensorMethods):
                raise DGTypeError(f"{name}: expected a tensor or a PackedSequence as input, got "
                                  f"{type(input).__name__}")
            if input.ndim not in (2, 3):
                tail = "tensor instead" if name == "RNN" else "instead"
                raise DGValueError(f"{name}: Expected input to be 2D or 3D, got {input.ndim}D {tail}")
            is_batched = input.ndim == 3
            sorted_indices = unsorted_indices = None
            x = input
            if not is_batched:
                x = x.unsqueeze(1)  # (L, 1, H_in), time first below
                if hx is not None:
                    if lstm:
                        if hx[0].ndim != 2 or hx[1].ndim != 2:
                            raise DGRuntimeError(
                                "For unbatched 2-D input, hx and cx should also be 2-D but got "
                                f"({hx[0].ndim}-D, {hx[1].ndim}-D) tensors")
                        hx = (hx[0].unsqueeze(1), hx[1].unsqueeze(1))
                    else:
                        if hx.ndim != 2:
                            raise DGRuntimeError("For unbatched 2-D input, hx should also be 2-D "
                                                 f"but got {hx.ndim}-D tensor")
                        hx = hx.unsqueeze(1)
            else:
                if self.batch_first:
                    x = x.transpose(0, 1)
                if hx is not None:
                    if lstm:
                        if hx[0].ndim != 3 or hx[1].ndim != 3:
                            raise DGRuntimeError(
                                "For batched 3-D input, hx and cx should also be 3-D but got "
                                f"({hx[0].ndim}-D, {hx[1].ndim}-D) tensors")
                    elif hx.ndim != 3:
                        raise DGRuntimeError("For batched 3-D input, hx should also be 3-D but "
                                             f"got {hx.ndim}-D tensor")
            self._check_input(x, False)
            batch = x.shape[1]
        real_hidden = self._real_hidden()
        if hx is not None:
            if lstm:
                self._check_hidden(hx[0], batch, real_hidden, "Expected hidden[0] size {}, got {}")
                self._check_hidden(hx[1], batch, self.hidden_size, "Expected hidden[1] size {}, got {}")
                h0, c0 = hx
            else:
                self._check_hidden(hx, batch, self.hidden_size)
                h0, c0 = hx, None
            if sorted_indices is not None:
                h0 = h0[:, sorted_indices]
                c0 = None if c0 is None else c0[:, sorted_indices]
        else:
            h0 = c0 = None

        layer_in = x
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(dirs):
                k = layer * dirs + d
                names = self._all_weights[k]
                ws = {n.rsplit("_l", 1)[0]: getattr(self, n) for n in names}
                xw = F.linear(layer_in, ws["weight_ih"], ws.get("bias_ih"))
                w = (ws["weight_hh"], ws.get("bias_hh"), ws.get("weight_hr"))
                if h0 is not None:
                    h, c = h0[k], (c0[k] if lstm else None)
                else:
                    rows = xw[0] if packed else xw[0, :, :]
                    h = zeros_like(rows[..., :real_hidden])
                    c = zeros_like(rows[..., :self.hidden_size]) if lstm else None
                    if packed:
                        h = zeros_like(xw[:batch, :real_hidden])
                        c = zeros_like(xw[:batch, :self.hidden_size]) if lstm else None
                if packed:
                    out, h, c = _run_packed(self.mode, xw, batch_sizes, h, c, w, d == 1)
                elif _eager():
                    out, h, c = _run_eager(self.mode, xw, h, c, w, d == 1)
                else:
                    out, h, c = _run_graph(self.mode, xw, h, c, w, d == 1)
                outs.append(out)
                h_n.append(h)
                if lstm:
                    c_n.append(c)
            layer_in = outs[0] if dirs == 1 else cat(outs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_in = F.dropout(layer_in, self.dropout, True)
        output = layer_in
        h_n = stack(h_n)
        c_n = stack(c_n) if lstm else None
        if packed:
            if unsorted_indices is not None:
                h_n = h_n[:, unsorted_indices]
                c_n = None if c_n is None else c_n[:, unsorted_indices]
            output = PackedSequence(output, input.batch_sizes, sorted_indices, unsorted_indices)
        else:
            if not is_batched:
                output = output.squeeze(1)
                h_n = h_n.squeeze(1)
                c_n = None if c_n is None else c_n.squeeze(1)
            elif self.batch_first:
                output = output.transpose(0, 1)
        return (output, (h_n, c_n)) if lstm else (output, h_n)


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu)."""

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise DGValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            nl = args[3]
            args = args[:3] + args[4:]
        else:
            nl = kwargs.pop("nonlinearity", "tanh")
        if nl == "tanh":
            mode = "RNN_TANH"
        elif nl == "relu":
            mode = "RNN_RELU"
        else:
            raise DGValueError(f"Unknown nonlinearity '{nl}'. Select from 'tanh' or 'relu'.")
        super().__init__(mode, *args, **kwargs)
        self.nonlinearity = nl


class LSTM(RNNBase):
    """LSTM (gates i, f, g, o in PyTorch's order), optional projections (proj_size)."""

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    """GRU (gates r, z, n in PyTorch's order)."""

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise DGValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)


# ---------------------------------------------------------------- cells
class RNNCellBase(Module):
    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = Parameter(new_empty(num_chunks * hidden_size, input_size, dtype=dtype, device=device))
        self.weight_hh = Parameter(new_empty(num_chunks * hidden_size, hidden_size, dtype=dtype, device=device))
        if bias:
            self.bias_ih = Parameter(new_empty(num_chunks * hidden_size, dtype=dtype, device=device))
            self.bias_hh = Parameter(new_empty(num_chunks * hidden_size, dtype=dtype, device=device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        nl = getattr(self, "nonlinearity", "tanh")
        if nl != "tanh":
            s += f", nonlinearity={nl}"
        return s

    def _prepare(self, input, hx, name):
        if input.ndim not in (1, 2):
            raise DGValueError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        batched = input.ndim == 2
        if not batched:
            input = input.unsqueeze(0)
        if input.shape[-1] is not None and input.shape[-1] != self.input_size:
            raise DGRuntimeError(f"input has inconsistent input_size: got {input.shape[-1]} expected "
                                 f"{self.input_size}")
        return input, batched

    def _zeros(self, input):
        if input.shape[0] is not None:
            from ...ops.creation import zeros
            return zeros(input.shape[0], self.hidden_size, dtype=input.dtype)
        return zeros_like(F.linear(input.detach(), self.weight_ih.detach())[:, :self.hidden_size])

    def _cell(self, mode, input, h, c=None):
        xg = F.linear(input, self.weight_ih, self.bias_ih)
        return _step(mode, xg, h, c, self.weight_hh, self.bias_hh)


class RNNCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        if hx is not None and hx.ndim not in (1, 2):
            raise DGValueError(f"RNNCell: Expected hidden to be 1D or 2D, got {hx.ndim}D instead")
        input, batched = self._prepare(input, hx, "RNNCell")
        hx = self._zeros(input) if hx is None else (hx if batched else hx.unsqueeze(0))
        if self.nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif self.nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise DGRuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        h, _ = self._cell(mode, input, hx)
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        if input.ndim not in (1, 2):
            raise DGValueError(f"LSTMCell: Expected input to be 1D or 2D, got {input.ndim}D instead")
        if hx is not None:
            for idx, value in enumerate(hx):
                if value.ndim not in (1, 2):
                    raise DGValueError(f"LSTMCell: Expected hx[{idx}] to be 1D or 2D, got "
                                       f"{value.ndim}D instead")
        input, batched = self._prepare(input, hx, "LSTMCell")
        if hx is None:
            z = self._zeros(input)
            hx = (z, z)
        elif not batched:
            hx = (hx[0].unsqueeze(0), hx[1].unsqueeze(0))
        h, c = self._cell("LSTM", input, hx[0], hx[1])
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        if hx is not None and hx.ndim not in (1, 2):
            raise DGValueError(f"GRUCell: Expected hidden to be 1D or 2D, got {hx.ndim}D instead")
        input, batched = self._prepare(input, hx, "GRUCell")
        hx = self._zeros(input) if hx is None else (hx if batched else hx.unsqueeze(0))
        h, _ = self._cell("GRU", input, hx)
        return h if batched else h.squeeze(0)

