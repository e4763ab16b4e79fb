"""gradcheck: compare backward-rule gradients with central finite differences in float64."""
import numpy as np

from ..errors import DGRuntimeError
from ..tensor import Tensor, _wrap
from .grad_mode import no_grad, enable_grad
from .functional import grad as _grad


class GradcheckError(DGRuntimeError):
    pass


def _outputs(fn, inputs):
    out = fn(*inputs)
    return list(out) if isinstance(out, (tuple, list)) else [out]


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """True when analytic vjps match numerical Jacobians for every differentiable input.

    Inputs that require grad should be float64 (as in PyTorch; float32 differences are noise).
    """
    inputs = tuple(inputs) if isinstance(inputs, (list, tuple)) else (inputs,)
    diff = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    outs = _outputs(fn, inputs)
    for o_idx, out in enumerate(outs):
        if not isinstance(out, Tensor) or out._data.dtype.kind != "f":
            continue
        n_out = out.numel()
        # analytic: one vjp per output element
        analytic = {i: np.zeros((n_out, inputs[i].numel())) for i in diff}
        if out.requires_grad:
            for k in range(n_out):
                seed = np.zeros(out._data.shape, dtype=out._data.dtype)
                seed.reshape(-1)[k] = 1
                gs = _grad([out], [inputs[i] for i in diff], [_wrap(seed)], retain_graph=True,
                           allow_unused=True)
                for i, g in zip(diff, gs):
                    if g is not None:
                        analytic[i][k] = g._data.reshape(-1)
        # numerical: central differences, one input element at a time
        for i in diff:
            x = inputs[i]._data
            numeric = np.zeros((n_out, x.size))
            # perturb in place through multi-indices: reshape(-1) of a non-contiguous input
            # would be a copy, and the perturbation would never reach fn
            for j, at in enumerate(np.ndindex(x.shape)):
                orig = x[at]
                with no_grad():
                    x[at] = orig + eps
                    plus = _outputs(fn, inputs)[o_idx]._data.astype(np.float64).reshape(-1).copy()
                    x[at] = orig - eps
                    minus = _outputs(fn, inputs)[o_idx]._data.astype(np.float64).reshape(-1).copy()
                x[at] = orig
                numeric[:, j] = (plus - minus) / (2 * eps)
            if not np.allclose(analytic[i], numeric, atol=atol, rtol=rtol):
                if raise_exception:
                    raise GradcheckError(
                        f"Jacobian mismatch for output {o_idx} with respect to input {i},\n"
                        f"numerical:{numeric}\nanalytical:{analytic[i]}")
                return False
    return True


def gradgradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3):
    """Second order: gradcheck the function x -> d(sum(fn(x) * v))/dx built with create_graph."""
    inputs = tuple(inputs)
    rng = np.random.default_rng(0)
    outs = _outputs(fn, inputs)
    vs = [_wrap(rng.standard_normal(o._data.shape)) for o in outs]

    def first_grads(*xs):
        with enable_grad():  # gradcheck evaluates fn under no_grad for finite differences
            return _first_grads(*xs)

    def _first_grads(*xs):
        os = _outputs(fn, xs)
        total = None
        for o, v in zip(os, vs):
            s = (o * v).sum()
            total = s if total is None else total + s
        dx = [x for x in xs if isinstance(x, Tensor) and x.requires_grad]
        gs = _grad([total], dx, create_graph=True, allow_unused=True)
        return tuple(g if g is not None else (x * 0).sum() for g, x in zip(gs, dx))

    return gradcheck(first_grads, inputs, eps=eps, atol=atol, rtol=rtol)
