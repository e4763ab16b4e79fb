"""Adagrad (PyTorch's single-tensor formula, including lr_decay and maximize)."""
from .. import dtypes as _dt
from ..errors import DGValueError
from ..ops.creation import zeros, zeros_like
from .optimizer import Optimizer, _no_grad_step

__all__ = ["Adagrad"]


def _filled_like(p, value):
    return zeros_like(p).add_(value)


class Adagrad(Optimizer):
    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, *, maximize=False):
        if not 0.0 <= lr:
            raise DGValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise DGValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise DGValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise DGValueError(f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if not 0.0 <= eps:
            raise DGValueError(f"Invalid epsilon value: {eps}")
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        super().__init__(params, defaults)
        # PyTorch creates the state in the constructor (sum starts at initial_accumulator_value)
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                state["step"] = self._new_state(zeros, (), dtype=_dt.float32)
                state["sum"] = self._new_state(_filled_like, p, float(initial_accumulator_value))

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("maximize", False)

    @_no_grad_step
    def step(self):
        """s = s + g^2; p <- p - lr / (1 + (t - 1) lr_decay) * g / (sqrt(s) + eps)."""
        for group in self.param_groups:
            lr, lr_decay = group["lr"], group["lr_decay"]
            wd, eps, maximize = group["weight_decay"], group["eps"], group["maximize"]
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:   # a param added later (add_param_group)
                    state["step"] = self._new_state(zeros, (), dtype=_dt.float32)
                    state["sum"] = self._new_state(
                        _filled_like, p, float(group["initial_accumulator_value"]))
                if maximize:
                    grad = -grad
                step_t = state["step"]
                step_t.add_(1)
                if wd != 0:
                    grad = grad.add(p, alpha=wd)
                clr = lr / ((step_t.double() - 1) * lr_decay + 1)
                s = state["sum"]
                s.add_(grad * grad)
                std = s.sqrt() + eps
                p.add_(grad / std * (-clr))
