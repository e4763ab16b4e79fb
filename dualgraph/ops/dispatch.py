"""The one door every operator call goes through: ask the current mode to apply it.

`apply` computes a new value; `apply_inplace` is the write door: `target` takes the value
`op(target, *inputs, **attrs)`. Eagerly that writes the tensor's memory (and its autograd
history); while a graph is built it records a stateful write (an assign) or, for a plain graph
value, rebinds the Python object to the new value. Every in-place method, `.grad`, optimizer and
buffer update goes through here, so no tensor class ever checks which mode it is in.
"""
from ..state import _state


def apply(op, *inputs, **attrs):
    return _state.mode.apply(op, inputs, attrs)


def apply_inplace(target, op, *inputs, **attrs):
    return _state.mode.write(target, op, inputs, attrs)


def apply_inplace_each(updates):
    """The write door over lists (optim/foreach.py, PyTorch's _foreach_ ops): updates =
    [(targets, op, others, alpha)]; index by index, each update in turn has targets[i] take
    op(targets[i], others[i] * alpha) (a None target skipped): the same writes, in the same
    order, as apply_inplace one by one (eagerly in one loop; a graph being built gets them one
    by one)."""
    _state.mode.write_each(updates)


def get_grad(t):
    """t.grad as the current mode sees it (a graph being built keeps its own, symbolic .grad)."""
    return _state.mode.get_grad(t)


def set_grad(t, value):
    return _state.mode.set_grad(t, value)
