"""Learning-rate schedulers with PyTorch's (2.13) names, arguments and semantics.

`step()` uses each scheduler's *chainable* form, as PyTorch does: the new lr is computed from the
current ``group["lr"]`` (StepLR multiplies it by gamma at each multiple of step_size,
CosineAnnealingLR applies the ratio of two consecutive cosine points, ...). So two schedulers
stepping one optimizer compose multiplicatively, an lr set by hand is kept and scheduled on from,
and the floats are PyTorch's to the last bit (the same operations in the same order).
`step(epoch)` (deprecated, with PyTorch's UserWarning) sets last_epoch and uses the scheduler's
closed form from base_lrs where it has one (`_get_closed_form_lr`).

Arguments PyTorch accepts but then divides by zero with at some step (StepLR(step_size=0),
CosineAnnealingLR(T_max=0), ...) are refused when the scheduler is made, with a DGValueError
saying why; an argument of the wrong type is a DGTypeError at once, not at a later step.

A compiled step (dg.function) reads every param_groups number at each call, so a scheduler is
stepped outside the compiled function; its step() inside a trace is refused (DGRuntimeError).
"""
import bisect
import functools
import math
import numbers
import types
import warnings
import weakref
from collections import Counter
from functools import partial

from ..errors import DGKeyError, DGNotImplementedError, DGRuntimeError, DGTypeError, DGValueError
from ..mode import executing_eagerly
from ..tensor_methods import TensorMethods

__all__ = ["LRScheduler", "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR",
           "LinearLR", "ExponentialLR", "SequentialLR", "PolynomialLR", "CosineAnnealingLR",
           "ChainedScheduler", "ReduceLROnPlateau", "CyclicLR", "CosineAnnealingWarmRestarts",
           "OneCycleLR"]

# (its first sentence is PyTorch's, so a warnings filter written for PyTorch's message matches)
_EPOCH_DEPRECATION = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being deprecated where "
    "possible. Call `scheduler.step()` without it; while it is deprecated, a given epoch sets "
    "last_epoch and the scheduler's closed form (from base_lrs) is used instead of the chainable "
    "form, where the scheduler has one.")


# ---------------------------------------------------------------- helpers

def _copy(value):
    """A group value the scheduler keeps: a tensor lr is copied (never aliased), a number is."""
    return value.clone() if isinstance(value, TensorMethods) else value


def _group_values(optimizer, key):
    return [_copy(group[key]) for group in optimizer.param_groups]


def _set_group_value(group, key, value):
    """group[key] = value, or written into it in place where it is a tensor (as PyTorch does)."""
    current = group[key]
    if isinstance(current, TensorMethods):
        current.fill_(value.item() if isinstance(value, TensorMethods) else value)
    else:
        group[key] = value


def _zip(*seqs):
    """zip, refusing sequences of different lengths (where PyTorch zips strictly): a param group
    added to the optimizer after the scheduler was made."""
    seqs = [list(s) for s in seqs]
    if len({len(s) for s in seqs}) > 1:
        raise DGValueError(
            "the scheduler's per-group values and the optimizer's param_groups differ in length "
            f"({', '.join(str(len(s)) for s in seqs)}): was a param group added to the optimizer "
            "after the scheduler was made? Make the scheduler after the last add_param_group.")
    return zip(*seqs)


def _per_group(name, optimizer, value):
    """value for each param group: a list or tuple of one per group, or one value for all."""
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise DGValueError(
                f"{name} must have the same length as optimizer.param_groups. {name} has "
                f"{len(value)} values, param_groups has {n}.")
        return [_copy(v) for v in value]
    return [_copy(value)] * n


def _is_real(value):
    return isinstance(value, numbers.Real)


def _real(owner, name, value):
    """value, checked to be a real number (a later step would fail on it with Python's
    TypeError)."""
    if not _is_real(value):
        raise DGTypeError(f"{owner} expected a number for {name}, but got {type(value).__name__}")
    return value


def _check_optimizer(optimizer):
    from .optimizer import Optimizer
    if not isinstance(optimizer, Optimizer):
        raise DGTypeError(f"{type(optimizer).__name__} is not an Optimizer")


def _refuse_inside_trace(sched):
    """A scheduler's step inside a dg.function trace would run once, at the trace: refused."""
    if executing_eagerly():
        return
    from ..graph.core import get_default_graph
    if getattr(get_default_graph(), "trace", None) is None:   # a plain graph_mode block: harmless
        return
    raise DGRuntimeError(
        f"{type(sched).__name__}.step() was called inside a function traced by dg.function: its "
        "Python counters and param_groups writes would run once, at the trace, not at each call. "
        "Call it outside the compiled function: the plan reads every param_groups number at each "
        "call, so the change needs no retrace.")


# (PyTorch's wording, https://github.com/pytorch/pytorch/issues/20124)
_STEP_ORDER = (
    "Detected call of `lr_scheduler.step()` before `optimizer.step()`. In PyTorch 1.1.0 and "
    "later, you should call them in the opposite order: `optimizer.step()` before "
    "`lr_scheduler.step()`.  Failure to do this will result in PyTorch skipping the first value "
    "of the learning rate schedule. See more details at "
    "https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate")
_STEP_OVERRIDDEN = (
    "Seems like `optimizer.step()` has been overridden after learning rate scheduler "
    "initialization. Please, make sure to call `optimizer.step()` before `lr_scheduler.step()`. "
    "See more details at https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate")


def _track_optimizer_steps(opt):
    """As PyTorch: the optimizer's step (its instance attribute, once) marks the optimizer
    stepped (`opt._opt_called`), so a scheduler can tell a step() called before it."""
    if hasattr(opt.step, "_wrapped_by_lr_sched"):
        return
    opt_ref = weakref.ref(opt)
    func = opt.step.__func__

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        o = opt_ref()
        o._opt_called = True
        return func.__get__(o, o.__class__)(*args, **kwargs)

    wrapper._wrapped_by_lr_sched = True
    opt.step = wrapper


def _warn_if_optimizer_not_stepped(opt):
    """PyTorch's warnings at a scheduler's first step(): optimizer.step() replaced since the
    scheduler was made, or not called yet (stacklevel: the caller of step())."""
    if not hasattr(opt.step, "_wrapped_by_lr_sched"):
        warnings.warn(_STEP_OVERRIDDEN, UserWarning, stacklevel=3)
    elif not getattr(opt, "_opt_called", False):
        warnings.warn(_STEP_ORDER, UserWarning, stacklevel=3)


def _warn_unless_in_step(sched):
    if not sched._get_lr_called_within_step:
        warnings.warn("To get the last learning rate computed by the scheduler, please use "
                      "`get_last_lr()`.", UserWarning, stacklevel=3)


def _scheduler_state(sched, state_dict):
    """A scheduler's state_dict() checked before it is loaded: a dict (its keys are merged, as
    PyTorch does: a PyTorch scheduler's extra keys load too). Returned as a copy, so loading
    never changes the caller's dict."""
    if not isinstance(state_dict, dict):
        raise DGTypeError(f"{type(sched).__name__}.load_state_dict expected a dict (from "
                          f"state_dict()), but got {type(state_dict).__name__}")
    return dict(state_dict)


def _lambdas(optimizer, lr_lambda):
    n = len(optimizer.param_groups)
    if isinstance(lr_lambda, (list, tuple)):
        if len(lr_lambda) != n:
            raise DGValueError(f"Expected {n} lr_lambdas, but got {len(lr_lambda)}")
        fns = list(lr_lambda)
    else:
        fns = [lr_lambda] * n
    for fn in fns:
        if not callable(fn):
            raise DGTypeError(f"lr_lambda should be a function, but got {type(fn).__name__}")
    return fns


def _lambdas_state(sched, state):
    """PyTorch's form: a plain function or lambda is not saved (None); a callable object's
    __dict__ is."""
    state["lr_lambdas"] = [None if isinstance(fn, types.FunctionType) else fn.__dict__.copy()
                           for fn in sched.lr_lambdas]
    return state


def _load_lambdas(sched, saved):
    for fn, d in zip(sched.lr_lambdas, saved or ()):
        if d is not None:
            fn.__dict__.update(d)


# ---------------------------------------------------------------- the base class

class LRScheduler:
    """The base class: subclasses define get_lr() (the chainable form step() uses) and
    optionally _get_closed_form_lr() (what step(epoch) uses)."""

    _get_lr_called_within_step = False
    _is_initial = False

    def __init__(self, optimizer, last_epoch=-1):
        _check_optimizer(optimizer)
        if not _is_real(last_epoch):
            raise DGTypeError(f"last_epoch must be an int, but got {type(last_epoch).__name__}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", _copy(group["lr"]))
        else:
            self._check_resumable(optimizer, ("initial_lr",))
        self.base_lrs = _group_values(optimizer, "initial_lr")
        self.last_epoch = last_epoch
        _track_optimizer_steps(optimizer)
        self._initial_step()

    def _check_resumable(self, optimizer, keys):
        for i, group in enumerate(optimizer.param_groups):
            for key in keys:
                if key not in group:
                    raise DGKeyError(
                        f"param '{key}' is not specified in param_groups[{i}] when resuming "
                        f"{type(self).__name__} with last_epoch >= 0.\nThis typically happens "
                        "when:\n1. You're resuming training from a checkpoint but haven't loaded "
                        "the optimizer state\n2. You're using last_epoch >= 0 for a fresh training "
                        "run (not recommended)")

    def _initial_step(self):
        """The step the constructor takes (a subclass's get_lr may treat it apart)."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self):
        raise DGNotImplementedError(f"{type(self).__name__} does not define get_lr()")

    def get_last_lr(self):
        return self._last_lr

    def step(self, epoch=None):
        _refuse_inside_trace(self)
        if self._step_count == 1:   # the first step after the constructor's: PyTorch's warnings
            _warn_if_optimizer_not_stepped(self.optimizer)
        self._step_count += 1
        if epoch is not None:
            warnings.warn(_EPOCH_DEPRECATION, UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch=None):
        _refuse_inside_trace(self)
        self._get_lr_called_within_step = True
        try:
            if epoch is None:
                self.last_epoch += 1
                values = self.get_lr()
            else:
                self.last_epoch = epoch
                closed = getattr(self, "_get_closed_form_lr", None)
                values = closed() if closed is not None else self.get_lr()
        finally:
            self._get_lr_called_within_step = False
        for group, lr in _zip(self.optimizer.param_groups, values):
            _set_group_value(group, "lr", lr)
        self._last_lr = _group_values(self.optimizer, "lr")

    def state_dict(self):
        return {k: v for k, v in self.__dict__.items() if k != "optimizer" and not callable(v)}

    def load_state_dict(self, state_dict):
        self.__dict__.update(_scheduler_state(self, state_dict))


# ---------------------------------------------------------------- the schedulers

class _LambdaScheduler(LRScheduler):
    """What LambdaLR and MultiplicativeLR share: one lr_lambda per param group, saved as PyTorch
    saves it (None for a function, the object's __dict__ for a callable object)."""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        self.lr_lambdas = _lambdas(optimizer, lr_lambda)
        super().__init__(optimizer, last_epoch)

    def state_dict(self):
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        return _lambdas_state(self, state)

    def load_state_dict(self, state_dict):
        state = _scheduler_state(self, state_dict)
        saved = state.pop("lr_lambdas", None)
        self.__dict__.update(state)
        _load_lambdas(self, saved)


class LambdaLR(_LambdaScheduler):
    """lr = initial lr * lr_lambda(epoch) (one function, or one per param group)."""

    def get_lr(self):
        _warn_unless_in_step(self)
        return [base * fn(self.last_epoch) for fn, base in _zip(self.lr_lambdas, self.base_lrs)]


class MultiplicativeLR(_LambdaScheduler):
    """lr = current lr * lr_lambda(epoch) at each step (not at the constructor's)."""

    def get_lr(self):
        _warn_unless_in_step(self)
        if self._is_initial:
            return _group_values(self.optimizer, "lr")
        return [group["lr"] * fn(self.last_epoch)
                for fn, group in _zip(self.lr_lambdas, self.optimizer.param_groups)]


class StepLR(LRScheduler):
    """The lr times gamma every step_size epochs."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        _real("StepLR", "step_size", step_size)
        _real("StepLR", "gamma", gamma)
        if step_size == 0:   # (PyTorch divides by it at the first step: ZeroDivisionError)
            raise DGValueError(
                f"StepLR expected a non-zero step_size (the lr is multiplied by gamma every "
                f"step_size epochs), but got {step_size}")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        _warn_unless_in_step(self)
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return _group_values(self.optimizer, "lr")
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """The lr times gamma at each milestone (a milestone given twice: gamma squared)."""

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        try:
            counts = Counter(milestones)
        except TypeError:
            raise DGTypeError("MultiStepLR expected an iterable of epoch numbers for milestones, "
                              f"but got {type(milestones).__name__}") from None
        for m in counts:
            _real("MultiStepLR", "each milestone", m)
        _real("MultiStepLR", "gamma", gamma)
        self.milestones = counts
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        _warn_unless_in_step(self)
        if self.last_epoch not in self.milestones:
            return _group_values(self.optimizer, "lr")
        k = self.milestones[self.last_epoch]
        return [group["lr"] * self.gamma ** k for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        passed = bisect.bisect_right(sorted(self.milestones.elements()), self.last_epoch)
        return [base * self.gamma ** passed for base in self.base_lrs]

    def state_dict(self):
        state = super().state_dict()
        state["milestones"] = dict(self.milestones)   # (a plain dict: dg.save stores no Counter)
        return state

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        m = self.milestones   # a dict of counts (PyTorch's Counter), or an older dualgraph's list
        self.milestones = Counter(m) if isinstance(m, (list, tuple)) else Counter(dict(m))


class ConstantLR(LRScheduler):
    """The lr times factor until epoch total_iters, then the lr it had."""

    def __init__(self, optimizer, factor=1.0 / 3, total_iters=5, last_epoch=-1):
        _real("ConstantLR", "factor", factor)
        _real("ConstantLR", "total_iters", total_iters)
        if factor > 1.0 or factor < 0:
            raise DGValueError("Constant multiplicative factor expected to be between 0 and 1.")
        if factor == 0:   # (PyTorch divides by it at epoch total_iters: ZeroDivisionError)
            raise DGValueError(
                "ConstantLR expected a non-zero factor: at epoch total_iters the lr is divided "
                "by it (to give back the lr it had), but got factor=0")
        self.factor = factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        _warn_unless_in_step(self)
        if self.last_epoch == 0:
            return [group["lr"] * self.factor for group in self.optimizer.param_groups]
        if self.last_epoch != self.total_iters:
            return _group_values(self.optimizer, "lr")
        return [group["lr"] * (1.0 / self.factor) for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        after = self.last_epoch >= self.total_iters
        return [base * (self.factor + after * (1 - self.factor)) for base in self.base_lrs]


class LinearLR(LRScheduler):
    """The lr's factor goes linearly from start_factor to end_factor over total_iters epochs."""

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5, last_epoch=-1):
        _real("LinearLR", "start_factor", start_factor)
        _real("LinearLR", "end_factor", end_factor)
        _real("LinearLR", "total_iters", total_iters)
        if start_factor > 1.0 or start_factor <= 0:
            raise DGValueError("Starting multiplicative factor expected to be greater than 0 and "
                               "less or equal to 1.")
        if end_factor > 1.0 or end_factor < 0:
            raise DGValueError("Ending multiplicative factor expected to be between 0 and 1.")
        if total_iters == 0:   # (PyTorch's closed form divides by it; its chain never moves)
            raise DGValueError("LinearLR expected a non-zero total_iters (the factor moves from "
                               "start_factor to end_factor over total_iters epochs), but got 0")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        _warn_unless_in_step(self)
        if self.last_epoch == 0:
            return [group["lr"] * self.start_factor for group in self.optimizer.param_groups]
        if self._is_initial or self.last_epoch > self.total_iters:
            return _group_values(self.optimizer, "lr")
        # the ratio of this epoch's factor to the last one's
        span = self.end_factor - self.start_factor
        ratio = 1.0 + span / (self.total_iters * self.start_factor + (self.last_epoch - 1) * span)
        return [group["lr"] * ratio for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        span = self.end_factor - self.start_factor
        done = min(self.total_iters, self.last_epoch)
        return [base * (self.start_factor + span * done / self.total_iters) for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """The lr times gamma at every epoch."""

    def __init__(self, optimizer, gamma, last_epoch=-1):
        _real("ExponentialLR", "gamma", gamma)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        _warn_unless_in_step(self)
        if self._is_initial:   # (resumed: the constructor's step must not move the lr on)
            return _group_values(self.optimizer, "lr")
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class PolynomialLR(LRScheduler):
    """The lr decays as (1 - epoch / total_iters) ** power, to 0 at total_iters."""

    def __init__(self, optimizer, total_iters=5, power=1.0, last_epoch=-1):
        _real("PolynomialLR", "total_iters", total_iters)
        _real("PolynomialLR", "power", power)
        if total_iters == 0:   # (PyTorch's closed form divides by it)
            raise DGValueError("PolynomialLR expected a non-zero total_iters (the lr decays to 0 "
                               "over total_iters epochs), but got 0")
        if power < 0:   # (0.0 ** power at epoch total_iters: PyTorch's ZeroDivisionError)
            raise DGValueError(f"PolynomialLR expected a non-negative power, but got {power}: the "
                               "decay factor reaches 0 at total_iters, and 0 ** power would "
                               "divide by zero")
        self.total_iters = total_iters
        self.power = power
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        _warn_unless_in_step(self)
        if self._is_initial or self.last_epoch > self.total_iters:
            return _group_values(self.optimizer, "lr")
        now = 1.0 - self.last_epoch / self.total_iters
        before = 1.0 - (self.last_epoch - 1) / self.total_iters
        decay = (now / before) ** self.power
        return [group["lr"] * decay for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        left = 1.0 - min(self.total_iters, self.last_epoch) / self.total_iters
        return [base * left ** self.power for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """The lr follows a cosine from base lr down to eta_min over T_max epochs (and back up)."""

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        _real("CosineAnnealingLR", "T_max", T_max)
        _real("CosineAnnealingLR", "eta_min", eta_min)
        if T_max == 0:   # (PyTorch divides by it at the first step: ZeroDivisionError)
            raise DGValueError("CosineAnnealingLR expected a non-zero T_max (the number of epochs "
                               "of a half cosine period), but got 0")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        _warn_unless_in_step(self)
        e, T, lo = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return _group_values(self.optimizer, "lr")
        if self._step_count == 1 and e > 0:   # a resumed schedule's first step: from base_lrs
            return [lo + (base - lo) * (1 + math.cos(e * math.pi / T)) / 2
                    for base, _ in _zip(self.base_lrs, self.optimizer.param_groups)]
        if (e - 1 - T) % (2 * T) == 0:   # leaving the minimum: the ratio below would be 0 / 0
            return [group["lr"] + (base - lo) * (1 - math.cos(math.pi / T)) / 2
                    for base, group in _zip(self.base_lrs, self.optimizer.param_groups)]
        ratio_num = 1 + math.cos(math.pi * e / T)
        ratio_den = 1 + math.cos(math.pi * (e - 1) / T)
        return [ratio_num / ratio_den * (group["lr"] - lo) + lo for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        e, T, lo = self.last_epoch, self.T_max, self.eta_min
        return [lo + (base - lo) * (1 + math.cos(math.pi * e / T)) / 2 for base in self.base_lrs]


class ChainedScheduler(LRScheduler):
    """Steps each scheduler in turn at every step(): their changes compose."""

    def __init__(self, schedulers, optimizer=None):
        if isinstance(schedulers, (LRScheduler, str)) or not hasattr(schedulers, "__len__"):
            raise DGTypeError("ChainedScheduler expects a list of schedulers, but got "
                              f"{type(schedulers).__name__}")
        if len(schedulers) < 1:
            raise DGValueError("ChainedScheduler expects at least one scheduler to be chained, "
                               "but got no scheduler.")
        _check_members("ChainedScheduler", schedulers, optimizer)
        self._schedulers = schedulers
        self.optimizer = optimizer if optimizer is not None else schedulers[0].optimizer
        self._last_lr = _group_values(self._schedulers[-1].optimizer, "lr")

    def step(self):
        _refuse_inside_trace(self)
        for sched in self._schedulers:
            sched.step()
        self._last_lr = _group_values(self._schedulers[-1].optimizer, "lr")

    def state_dict(self):
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict):
        state = _scheduler_state(self, state_dict)
        subs = state.pop("_schedulers", None) or ()
        self.__dict__.update(state)
        for sched, sub in zip(self._schedulers, subs):
            sched.load_state_dict(sub)


def _check_members(owner, schedulers, optimizer):
    """The checks ChainedScheduler and SequentialLR make of their schedulers (PyTorch's)."""
    for i, sched in enumerate(schedulers):
        if not hasattr(sched, "optimizer"):
            raise DGTypeError(f"{owner} at index {i} should have `optimizer` as its attribute.")
    if optimizer is None:
        optimizer = schedulers[0].optimizer
    for i, sched in enumerate(schedulers):
        if isinstance(sched, ReduceLROnPlateau):
            raise DGValueError(
                f"{owner} does not support `ReduceLROnPlateau` scheduler as it requires "
                "additional kwargs to be specified when calling `step`, but got one at index "
                f"{i} in the given schedulers sequence.")
        if sched.optimizer is not optimizer:
            raise DGValueError(
                f"{owner} expects all schedulers to belong to the same optimizer, but got "
                f"scheduler {type(sched).__name__} at index {i} has {sched.optimizer}, which is "
                f"different from {type(optimizer).__name__}.")


class SequentialLR(LRScheduler):
    """Runs schedulers one after another, switching at the milestones; at a milestone the next
    scheduler restarts from epoch 0 with its closed form (PyTorch's _update_lr(0))."""

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        if isinstance(schedulers, (LRScheduler, str)) or not hasattr(schedulers, "__len__"):
            raise DGTypeError("SequentialLR expects a list of schedulers, but got "
                              f"{type(schedulers).__name__}")
        if len(schedulers) < 1:
            raise DGValueError("SequentialLR expects at least one scheduler, but got no scheduler.")
        _check_members("SequentialLR", schedulers, optimizer)
        milestones = list(milestones)
        if len(milestones) != len(schedulers) - 1:
            raise DGValueError(
                "Sequential Schedulers expects number of schedulers provided to be one more than "
                f"the number of milestone points, but got number of schedulers {len(schedulers)} "
                f"and the number of milestones to be equal to {len(milestones)}")
        for m in milestones:
            _real("SequentialLR", "each milestone", m)
        _check_optimizer(optimizer)
        self._schedulers = schedulers
        self._milestones = milestones
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:   # back to the initial lrs
            _set_group_value(group, "lr", group["initial_lr"])
        self._undo_steps(self)   # the schedulers' constructor steps are taken back ...
        first = self._schedulers[bisect.bisect_right(self._milestones, 0)]
        first._initial_step()    # ... and only the one for epoch 0 takes it again
        self._last_lr = first.get_last_lr()

    def _undo_steps(self, sched):
        if hasattr(sched, "_schedulers"):
            for s in sched._schedulers:
                self._undo_steps(s)
        elif hasattr(sched, "last_epoch"):
            sched.last_epoch -= 1

    def recursive_undo(self, sched=None):
        """PyTorch's name: take back the constructor steps of the schedulers (nested too)."""
        self._undo_steps(self if sched is None else sched)

    def step(self):
        _refuse_inside_trace(self)
        self.last_epoch += 1
        idx = bisect.bisect_right(self._milestones, self.last_epoch)
        sched = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            sched._update_lr(0)   # restart the next scheduler at its epoch 0
        else:
            sched.step()
        self._last_lr = sched.get_last_lr()

    state_dict = ChainedScheduler.state_dict
    load_state_dict = ChainedScheduler.load_state_dict


class CyclicLR(LRScheduler):
    """The lr cycles between base_lr and max_lr (triangular, triangular2, exp_range or a
    scale_fn), stepped per batch; momentum cycles the other way when cycle_momentum."""

    def __init__(self, optimizer, base_lr, max_lr, step_size_up=2000, step_size_down=None,
                 mode="triangular", gamma=1.0, scale_fn=None, scale_mode="cycle",
                 cycle_momentum=True, base_momentum=0.8, max_momentum=0.9, last_epoch=-1):
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        base_lrs = _per_group("base_lr", optimizer, base_lr)
        if last_epoch == -1:
            for lr, group in _zip(base_lrs, optimizer.param_groups):
                _set_group_value(group, "lr", lr)
        self.max_lrs = _per_group("max_lr", optimizer, max_lr)
        _real("CyclicLR", "step_size_up", step_size_up)
        if step_size_down is not None:
            _real("CyclicLR", "step_size_down", step_size_down)
        step_size_up = float(step_size_up)
        step_size_down = float(step_size_down) if step_size_down is not None else step_size_up
        if step_size_up == 0:   # (PyTorch divides by it at the constructor's step)
            raise DGValueError("CyclicLR expected a non-zero step_size_up (the number of "
                               "iterations from base_lr up to max_lr), but got 0")
        self.total_size = step_size_up + step_size_down
        if self.total_size == 0:
            raise DGValueError("CyclicLR expected step_size_up + step_size_down to be non-zero "
                               "(the length of a cycle)")
        self.step_ratio = step_size_up / self.total_size
        if mode not in ("triangular", "triangular2", "exp_range") and scale_fn is None:
            raise DGValueError("mode is invalid and scale_fn is None")
        if scale_fn is not None and not callable(scale_fn):
            raise DGTypeError(f"scale_fn should be a function, but got {type(scale_fn).__name__}")
        self.mode = mode
        self.gamma = gamma
        self._scale_fn_custom = scale_fn
        self.scale_mode = scale_mode
        self._init_scale_fn()
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise DGValueError("optimizer must support momentum or beta1 with "
                                   "`cycle_momentum` option enabled")
            self.use_beta1 = "betas" in optimizer.defaults
            self.base_momentums = _per_group("base_momentum", optimizer, base_momentum)
            self.max_momentums = _per_group("max_momentum", optimizer, max_momentum)
            if last_epoch == -1:
                for m_mom, b_mom, group in _zip(self.max_momentums, self.base_momentums,
                                                optimizer.param_groups):
                    if self.use_beta1:
                        group["betas"] = (m_mom, *group["betas"][1:])
                    else:
                        group["momentum"] = m_mom
                    group["max_momentum"] = m_mom
                    group["base_momentum"] = b_mom
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def _init_scale_fn(self):
        if self._scale_fn_custom is not None:
            return
        if self.mode == "triangular":
            self._scale_fn_ref = self._triangular_scale_fn
            self.scale_mode = "cycle"
        elif self.mode == "triangular2":
            self._scale_fn_ref = self._triangular2_scale_fn
            self.scale_mode = "cycle"
        elif self.mode == "exp_range":
            self._scale_fn_ref = partial(self._exp_range_scale_fn, self.gamma)
            self.scale_mode = "iterations"

    def scale_fn(self, x):
        """The amplitude's scale at cycle (or iteration) x."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        return self._scale_fn_ref(x)

    @staticmethod
    def _triangular_scale_fn(x):
        return 1.0

    @staticmethod
    def _triangular2_scale_fn(x):
        return 1 / (2.0 ** (x - 1))

    @staticmethod
    def _exp_range_scale_fn(gamma, x):
        return gamma ** x

    def get_lr(self):
        _warn_unless_in_step(self)
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        if x <= self.step_ratio:
            scale = x / self.step_ratio
        else:
            scale = (x - 1) / (self.step_ratio - 1)
        at = cycle if self.scale_mode == "cycle" else self.last_epoch
        lrs = [base + (top - base) * scale * self.scale_fn(at)
               for base, top in _zip(self.base_lrs, self.max_lrs)]
        if self.cycle_momentum:
            moms = [top - (top - base) * scale * self.scale_fn(at)
                    for base, top in _zip(self.base_momentums, self.max_momentums)]
            for group, mom in _zip(self.optimizer.param_groups, moms):
                if self.use_beta1:
                    group["betas"] = (mom, *group["betas"][1:])
                else:
                    group["momentum"] = mom
        return lrs

    def state_dict(self):
        state = {k: v for k, v in self.__dict__.items()
                 if k not in ("optimizer", "_scale_fn_ref", "_scale_fn_custom")}
        fn = self._scale_fn_custom   # (saved as PyTorch does: a callable object's __dict__)
        state["_scale_fn_custom"] = (fn.__dict__.copy() if fn is not None and
                                     not isinstance(fn, types.FunctionType) else None)
        return state

    def load_state_dict(self, state_dict):
        state = _scheduler_state(self, state_dict)
        saved = state.pop("_scale_fn_custom", None)
        state.pop("_scale_fn_ref", None)
        self.__dict__.update(state)
        if saved is not None and self._scale_fn_custom is not None:
            self._scale_fn_custom.__dict__.update(saved)
        self._init_scale_fn()


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine annealing restarted every T_i epochs (T_0, then times T_mult)."""

    def __init__(self, optimizer, T_0, T_mult=1, eta_min=0.0, last_epoch=-1):
        if not _is_real(T_0):
            raise DGTypeError(f"Expected positive integer T_0, but got {type(T_0).__name__}")
        if T_0 <= 0 or not isinstance(T_0, numbers.Integral):
            raise DGValueError(f"Expected positive integer T_0, but got {T_0}")
        if not _is_real(T_mult):
            raise DGTypeError(f"Expected integer T_mult >= 1, but got {type(T_mult).__name__}")
        if T_mult < 1 or not isinstance(T_mult, numbers.Integral):
            raise DGValueError(f"Expected integer T_mult >= 1, but got {T_mult}")
        if not _is_real(eta_min):
            raise DGValueError(f"Expected float or int eta_min, but got {eta_min} of type "
                               f"{type(eta_min)}")
        self.T_0 = T_0
        self.T_i = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        _warn_unless_in_step(self)
        lo = self.eta_min
        return [lo + (base - lo) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
                for base in self.base_lrs]

    def step(self, epoch=None):
        """Without epoch: one more epoch (restarting at T_i). With epoch (may be fractional,
        per batch: epoch + i / iters): the position in the cycles at that epoch."""
        _refuse_inside_trace(self)
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            if not _is_real(epoch):
                raise DGTypeError(f"Expected a number for epoch, but got {type(epoch).__name__}")
            if epoch < 0:
                raise DGValueError(f"Expected non-negative epoch, but got {epoch}")
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur = epoch % self.T_0
                else:
                    n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult ** n - 1) / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult ** n
            else:
                self.T_i = self.T_0
                self.T_cur = epoch
        self.last_epoch = math.floor(epoch)
        self._get_lr_called_within_step = True
        try:
            values = self.get_lr()
        finally:
            self._get_lr_called_within_step = False
        for group, lr in _zip(self.optimizer.param_groups, values):
            _set_group_value(group, "lr", lr)
        self._last_lr = _group_values(self.optimizer, "lr")


class OneCycleLR(LRScheduler):
    """The 1cycle policy: the lr goes up from max_lr / div_factor to max_lr, then down to
    initial / final_div_factor (three_phase: back to initial first), stepped per batch;
    momentum goes the other way when cycle_momentum."""

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
                 pct_start=0.3, anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85,
                 max_momentum=0.95, div_factor=25.0, final_div_factor=1e4, three_phase=False,
                 last_epoch=-1):
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        if total_steps is not None:
            if not isinstance(total_steps, numbers.Integral) or total_steps <= 0:
                raise DGValueError(f"Expected positive integer total_steps, but got {total_steps}")
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            if not isinstance(epochs, numbers.Integral) or epochs <= 0:
                raise DGValueError(f"Expected positive integer epochs, but got {epochs}")
            if not isinstance(steps_per_epoch, numbers.Integral) or steps_per_epoch <= 0:
                raise DGValueError(f"Expected positive integer steps_per_epoch, but got {steps_per_epoch}")
            self.total_steps = epochs * steps_per_epoch
        else:
            raise DGValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
        if not _is_real(pct_start) or pct_start < 0 or pct_start > 1:
            raise DGValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
        n = self.total_steps

        def phase(end_step, start_lr, end_lr, start_m, end_m):
            return {"end_step": end_step, "start_lr": start_lr, "end_lr": end_lr,
                    "start_momentum": start_m, "end_momentum": end_m}
        if three_phase:
            self._schedule_phases = [
                phase(float(pct_start * n) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                phase(float(2 * pct_start * n) - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                phase(n - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
        else:
            self._schedule_phases = [
                phase(float(pct_start * n) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                phase(n - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]
        if anneal_strategy not in ("cos", "linear"):
            raise DGValueError("anneal_strategy must be one of 'cos' or 'linear', instead got "
                               f"{anneal_strategy}")
        self._anneal_func_type = anneal_strategy
        max_lrs = _per_group("max_lr", optimizer, max_lr)
        if last_epoch == -1:
            for lr, group in zip(max_lrs, optimizer.param_groups):
                group["initial_lr"] = lr / div_factor
                group["max_lr"] = lr
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise DGValueError("optimizer must support momentum or beta1 with "
                                   "`cycle_momentum` option enabled")
            self.use_beta1 = "betas" in optimizer.defaults
            max_moms = _per_group("max_momentum", optimizer, max_momentum)
            base_moms = _per_group("base_momentum", optimizer, base_momentum)
            if last_epoch == -1:
                for m_mom, b_mom, group in zip(max_moms, base_moms, optimizer.param_groups):
                    if self.use_beta1:
                        group["betas"] = (m_mom, *group["betas"][1:])
                    else:
                        group["momentum"] = m_mom
                    group["max_momentum"] = m_mom
                    group["base_momentum"] = b_mom
        if last_epoch != -1:
            keys = ("initial_lr", "max_lr", "min_lr") + (
                ("max_momentum", "base_momentum") if cycle_momentum else ())
            self._check_resumable(optimizer, keys)
        super().__init__(optimizer, last_epoch)

    def _anneal_func(self, start, end, pct):
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self):
        _warn_unless_in_step(self)
        step = self.last_epoch
        if step > self.total_steps:
            raise DGValueError(f"Tried to step {step} times. The specified number of total "
                               f"steps is {self.total_steps}")
        lrs = []
        last = len(self._schedule_phases) - 1
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, ph in enumerate(self._schedule_phases):
                end = ph["end_step"]
                if step <= end or i == last:
                    if end == start:   # (PyTorch: ZeroDivisionError)
                        raise DGValueError(
                            f"OneCycleLR's phase {i + 1} has no steps (it ends at step {end}, "
                            f"where it starts) at step {step}, and would divide by zero: choose "
                            "pct_start and total_steps so that every phase spans at least one step")
                    pct = (step - start) / (end - start)
                    lr = self._anneal_func(group[ph["start_lr"]], group[ph["end_lr"]], pct)
                    if self.cycle_momentum:
                        mom = self._anneal_func(group[ph["start_momentum"]],
                                                group[ph["end_momentum"]], pct)
                    break
                start = end
            lrs.append(lr)
            if self.cycle_momentum:
                if self.use_beta1:
                    group["betas"] = (mom, *group["betas"][1:])
                else:
                    group["momentum"] = mom
        return lrs


class ReduceLROnPlateau(LRScheduler):
    """The lr times factor when a metric has stopped improving for patience epochs."""

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0, eps=1e-8):
        if factor >= 1.0:
            raise DGValueError("Factor should be < 1.0.")
        _check_optimizer(optimizer)
        if mode not in ("min", "max"):
            raise DGValueError(f"mode {mode} is unknown!")
        if threshold_mode not in ("rel", "abs"):
            raise DGValueError(f"threshold mode {threshold_mode} is unknown!")
        self.optimizer = optimizer
        n = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n:
                raise DGValueError(f"expected {n} min_lrs, got {len(min_lr)}")
            self.default_min_lr = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * n
        self.factor, self.patience, self.cooldown, self.eps = factor, patience, cooldown, eps
        self.mode, self.threshold, self.threshold_mode = mode, threshold, threshold_mode
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.best = self.mode_worse
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = _group_values(optimizer, "lr")

    def is_better(self, a, best):
        """Whether metric a improves on best (by mode, threshold and threshold_mode)."""
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    _is_better = is_better

    @property
    def in_cooldown(self):
        return self.cooldown_counter > 0

    def step(self, metrics, epoch=None):
        if not executing_eagerly():  # it writes the lr only when it reduces: refuse at once, not then
            raise DGRuntimeError(
                "ReduceLROnPlateau.step() was called inside a function traced by dg.function: its "
                "Python counters and lr writes would run once, at the trace, not at each call. Call it "
                "outside the compiled function with the returned loss: the plan reads every "
                "param_groups number at each call, so the change needs no retrace.")
        current = float(metrics)
        if epoch is None:
            epoch = self.last_epoch + 1
        else:
            warnings.warn(_EPOCH_DEPRECATION, UserWarning, stacklevel=2)
        self.last_epoch = epoch
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = _group_values(self.optimizer, "lr")

    def _reduce_lr(self):
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise DGRuntimeError(
                    f"The number of param groups in the `optimizer` ({len(groups)}) differs from "
                    f"when `ReduceLROnPlateau` was initialized ({len(self.min_lrs)}), usually due "
                    "to a new param group being added to the optimizer. Please modify the "
                    "`min_lrs` field to match the length of the `optimizer` param groups.")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for i, group in enumerate(groups):
            old = float(group["lr"])
            new = max(old * self.factor, self.min_lrs[i])
            if old - new > self.eps:
                _set_group_value(group, "lr", new)

    def get_last_lr(self):
        return self._last_lr

    def state_dict(self):
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict):
        self.__dict__.update(_scheduler_state(self, state_dict))
        self.default_min_lr = self.__dict__.get("default_min_lr")
