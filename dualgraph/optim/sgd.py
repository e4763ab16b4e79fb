"""SGD with momentum, dampening, weight decay and Nesterov (PyTorch's formulas)."""
from itertools import repeat

from ..errors import DGValueError
from ..ops.creation import zeros_like
from .foreach import ADD, MUL, foreach_writes
from .optimizer import Optimizer, _no_grad_step

__all__ = ["SGD"]


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
                 *, maximize=False):
        if lr < 0.0:
            raise DGValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise DGValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise DGValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise DGValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("nesterov", False)
            group.setdefault("maximize", False)

    @_no_grad_step
    def step(self):
        """p <- p - lr * d, where g = grad (+ weight_decay * p), buf = momentum * buf +
        (1 - dampening) * g (buf = g at the first step), d = g + momentum * buf (Nesterov) or buf
        (or g without momentum). The writes go over the group's list of tensors at once
        (PyTorch's foreach form, optim/foreach.py), parameter by parameter."""
        for group in self.param_groups:
            lr, momentum = group["lr"], group["momentum"]
            dampening, wd = group["dampening"], group["weight_decay"]
            nesterov, maximize = group["nesterov"], group["maximize"]
            params = [p for p in group["params"] if p.grad is not None]
            grads = [p.grad for p in params]
            if maximize:
                grads = [-g for g in grads]
            if wd != 0:
                grads = [g.add(p, alpha=wd) for g, p in zip(grads, params)]
            writes = []   # (each parameter's writes together: foreach.py)
            if momentum != 0:
                bufs, moved = [], []   # moved: the buffers the momentum update writes (or None)
                for p, g in zip(params, grads):
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None and dampening == 0:
                        # PyTorch starts with buf = grad; from a zero buffer the update below
                        # gives exactly grad (0 * momentum + grad), with no first-step branch,
                        # so a traced step keeps accumulating momentum across runs
                        buf = state["momentum_buffer"] = self._new_state(zeros_like, p)
                    if buf is None:  # PyTorch's first step with dampening: buf = grad
                        self._guard_first_step(group, p, "momentum_buffer")
                        buf = state["momentum_buffer"] = self._new_state(zeros_like, p)
                        buf.copy_(g.detach())
                        moved.append(None)
                    else:
                        moved.append(buf)
                    bufs.append(buf)
                # buf = momentum * buf + (1 - dampening) * g (a lifted dampening is guarded:
                # no multiply by 1 per step without one)
                writes = [(moved, MUL, repeat(momentum), 1),
                          (moved, ADD, grads, 1 - dampening if dampening != 0 else 1)]
                if nesterov:   # (d reads every updated buffer: the buffers' writes go first)
                    foreach_writes(writes)
                    writes = []
                    grads = [g.add(b, alpha=momentum) for g, b in zip(grads, bufs)]
                else:
                    grads = bufs
            foreach_writes(writes + [(params, ADD, grads, -lr)])
