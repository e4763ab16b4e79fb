"""RMSprop (PyTorch's single-tensor formula, including centered, momentum and maximize)."""
from .. import dtypes as _dt
from ..errors import DGValueError
from ..ops.creation import zeros, zeros_like
from .optimizer import Optimizer, _no_grad_step

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, *, maximize=False):
        if not 0.0 <= lr:
            raise DGValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise DGValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise DGValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise DGValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise DGValueError(f"Invalid alpha value: {alpha}")
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("momentum", 0)
            group.setdefault("centered", False)
            group.setdefault("maximize", False)

    def _init_state(self, p, momentum, centered):
        state = self.state[p]
        if len(state) == 0:
            state["step"] = self._new_state(zeros, (), dtype=_dt.float32)
            state["square_avg"] = self._new_state(zeros_like, p)
            if momentum > 0:
                state["momentum_buffer"] = self._new_state(zeros_like, p)
            if centered:
                state["grad_avg"] = self._new_state(zeros_like, p)
        return state

    @_no_grad_step
    def step(self):
        """v = alpha v + (1 - alpha) g^2; (centered: m = alpha m + (1 - alpha) g, v - m^2);
        d = g / (sqrt(v) + eps); buf = momentum buf + d, p <- p - lr buf (or p - lr d)."""
        for group in self.param_groups:
            lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
            wd, momentum = group["weight_decay"], group["momentum"]
            centered, maximize = group["centered"], group["maximize"]
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                state = self._init_state(p, momentum, centered)
                if maximize:
                    grad = -grad
                state["step"].add_(1)
                if wd != 0:
                    grad = grad.add(p, alpha=wd)
                square_avg = state["square_avg"]
                square_avg.mul_(alpha).add_(grad * (1 - alpha) * grad)
                if centered:
                    grad_avg = state["grad_avg"]
                    grad_avg.add_((grad - grad_avg) * (1 - alpha))   # lerp_(grad, 1 - alpha)
                    avg = (square_avg - grad_avg * grad_avg).sqrt()
                else:
                    avg = square_avg.sqrt()
                avg = avg + eps
                if momentum > 0:
                    buf = state["momentum_buffer"]
                    buf.mul_(momentum).add_(grad / avg)
                    p.add_(buf, alpha=-lr)
                else:
                    p.add_(grad / avg, alpha=-lr)
