"""Adam and AdamW (PyTorch's single-tensor formulas, including amsgrad and maximize)."""
from .. import dtypes as _dt
from ..errors import DGValueError
from ..ops.creation import zeros, zeros_like
from ..ops.elementwise import maximum
from .optimizer import Optimizer, _no_grad_step

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, maximize=False, decoupled_weight_decay=False):
        if not 0.0 <= lr:
            raise DGValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise DGValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise DGValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise DGValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise DGValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, betas=tuple(float(b) for b in betas), eps=eps,
                        weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("amsgrad", False)
            group.setdefault("maximize", False)
            group.setdefault("decoupled_weight_decay", False)

    def _init_state(self, p, amsgrad):
        state = self.state[p]
        if len(state) == 0:
            state["step"] = self._new_state(zeros, (), dtype=_dt.float32)
            state["exp_avg"] = self._new_state(zeros_like, p)
            state["exp_avg_sq"] = self._new_state(zeros_like, p)
            if amsgrad:
                state["max_exp_avg_sq"] = self._new_state(zeros_like, p)
        return state

    @_no_grad_step
    def step(self):
        """m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g^2;
        p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps), with L2 weight
        decay added to g (Adam) or decoupled p <- p (1 - lr wd) first (AdamW)."""
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
            amsgrad, maximize = group["amsgrad"], group["maximize"]
            decoupled = group["decoupled_weight_decay"]
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                state = self._init_state(p, amsgrad)
                if maximize:
                    grad = -grad
                step_t = state["step"]
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                step_t.add_(1)
                if wd != 0:
                    if decoupled:
                        p.mul_(1 - lr * wd)
                    else:
                        grad = grad.add(p, alpha=wd)
                # exp_avg.lerp_(grad, 1 - beta1), exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2)
                exp_avg.add_((grad - exp_avg) * (1 - beta1))
                exp_avg_sq.mul_(beta2).add_(grad * (1 - beta2) * grad)
                step = step_t.double()      # bias corrections in float64, as PyTorch's Python floats
                bias_correction1 = 1 - beta1 ** step
                bias_correction2 = 1 - beta2 ** step
                step_size = lr / bias_correction1
                bias_correction2_sqrt = bias_correction2.sqrt()
                if amsgrad:
                    mx = state["max_exp_avg_sq"]
                    mx.copy_(maximum(mx, exp_avg_sq))
                    denom = mx.sqrt() / bias_correction2_sqrt + eps
                else:
                    denom = exp_avg_sq.sqrt() / bias_correction2_sqrt + eps
                p.add_(exp_avg / denom * (-step_size))


class AdamW(Adam):
    """Adam with decoupled weight decay (default weight_decay=1e-2)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
