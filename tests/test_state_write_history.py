"""What a write to a buffer does to its gradient history, compiled as eagerly: a write under
no_grad keeps the history the buffer had (eagerly its grad_fn stays), a recorded write that
takes a value without history (copy_ of a detached value, fill_) ends it, and a buffer a loop
body writes with a value requiring grad carries that history into the next iteration's writes.
In plain code, in dg.cond branches and in dg.while_loop bodies; and a dg.cond / dg.while_loop
whose gradient re-runs its branch or body reads the buffer's value at entry, not the value the
op itself wrote into it."""
import numpy as np
import pytest

import dualgraph as dg

WRITES = {
    "nograd_keeps_history": "b.add_(p * 0.5)\nwith dg.no_grad():\n    b.mul_(0.5)",
    "detached_copy_ends_it": "b.add_(p * 1.0)\nb.copy_((b * 3).detach())",
    "fill_ends_it": "b.add_(p * 1.0)\nb.fill_(3.0)",
    "mul_by_param": "b.add_(p * 1.0)\nb.mul_(p)",
    "reads_entry_value": "c = b + p\nb.copy_(c * p)",
    "ema": "b.mul_(0.5)\nb.add_(p * 0.5)",
}


def _writes(code, p, b):
    def run():
        exec(code, {"dg": dg, "p": p, "b": b})
        return b * 1
    return run


def _plain(code, p, b, x, n):
    _writes(code, p, b)()


def _in_cond(code, p, b, x, n):
    dg.cond(x.sum() > 0, _writes(code, p, b), lambda: b * 1)


def _in_loop(code, p, b, x, n):
    w = _writes(code, p, b)

    def body(i):
        w()
        return i + 1
    dg.while_loop(lambda i: i < n, body, dg.tensor(0))


def _history_before(code, p, b, x, n):   # b carries p's history into the loop
    b.add_(p * 1.0)
    _in_loop(code, p, b, x, n)


WHERE = {"plain": _plain, "cond": _in_cond, "loop": _in_loop, "loop_after_history": _history_before}


@pytest.mark.parametrize("where", list(WHERE))
@pytest.mark.parametrize("write", list(WRITES))
def test_eager_and_compiled_agree(write, where):
    # (one call per fresh state: a buffer holding history across calls would backward through
    # the previous call's freed graph, eagerly and in PyTorch)
    for n in (0, 1, 2, 3):
        results = {}
        for mode in ("eager", "compiled"):
            p = dg.nn.Parameter(dg.tensor([2.0]))
            b = dg.zeros(1)
            opt = dg.optim.SGD([p], lr=0.1, momentum=0.9)

            def step(x, n):
                opt.zero_grad()
                WHERE[where](WRITES[write], p, b, x, n)
                loss = (b * p).sum()
                loss.backward()
                opt.step()
                return loss

            f = step if mode == "eager" else dg.function(step)
            loss = f(dg.tensor([1.0]), dg.tensor(n))
            results[mode] = (loss.item(), p.grad.item(), p.item(), b.item())
        assert results["compiled"] == results["eager"], n


def test_an_outer_view_read_after_the_branch_writes_sees_the_write_or_is_refused():
    def run(make_view):
        b = dg.tensor([1.0, 2.0, 3.0, 4.0])

        def step(x):
            v = make_view(b)

            def yes():
                b.mul_(0.5)
                return v * 1
            return dg.cond(x.sum() > 0, yes, lambda: v * 2)
        return step, b

    step, _ = run(lambda b: b[1:3])          # an indexing view: eagerly it sees the write
    eager = step(dg.tensor([1.0]))
    step_c, _ = run(lambda b: b[1:3])
    assert dg.function(step_c)(dg.tensor([1.0])).tolist() == eager.tolist() == [1.0, 1.5]
    step_r, _ = run(lambda b: b.reshape(2, 2)[0])   # view or copy by the layout: refused
    with pytest.raises(dg.errors.DGRuntimeError, match="made by reshape outside dg.cond"):
        dg.function(step_r)(dg.tensor([1.0]))


def test_an_in_place_write_of_a_wider_dtype_sums_its_gradient_in_the_target_dtype():
    """float32 x.add_(float64 y, alpha=-0.5): eagerly (and in PyTorch) y's gradient is summed in
    float32, then cast; compiled it was cast first (1 ulp apart: random program 832)."""
    rng = np.random.default_rng(0)
    xv = rng.standard_normal((4, 2, 3, 2)).astype(np.float32)
    wv = rng.standard_normal((4, 2, 3, 2)).astype(np.float32)

    def prog(x, y, w):
        t = x.clone()
        t.add_(y, alpha=-0.5)
        (t * w).sum().backward()

    grads = []
    for compiled in (False, True):
        x = dg.tensor(xv, requires_grad=True)
        y = dg.tensor(np.array([0.3, -0.7]), requires_grad=True)
        (dg.function(prog) if compiled else prog)(x, y, dg.tensor(wv))
        grads.append(y.grad.numpy())
    assert grads[0].dtype == np.float64 and np.array_equal(grads[0], grads[1])
    want = wv.reshape(-1, 2).sum(0, dtype=np.float32).astype(np.float64) * -0.5
    assert np.array_equal(grads[0], want)


def test_a_buffer_a_branch_writes_does_not_require_grad_after_the_cond():
    """A cond result computed from no value requiring grad does not require grad (as eagerly):
    a buffer written in a branch and again after the cond was taken to need its clamp's
    backward, and a backward outside the dg.function refused (random cf program 1470)."""
    p = dg.nn.Parameter(dg.tensor([0.1, 0.2, 0.3, 0.4]))
    b = dg.tensor([0.9, -0.8, 0.1, 0.7])

    def program(x, s):
        def yes():
            t = s * p
            b.clamp_(-0.5, 0.5)
            return t
        t = dg.cond(x.sum() > 0.0, yes, lambda: s * p)
        b.clamp_(-0.5, 0.5)
        return (0.125 * t.mean()), dg.where(b > 0.19, b, 0.0)

    f = dg.function(program)
    loss, _ = f(dg.tensor([1.0, 2.0], requires_grad=True), dg.tensor(-1.4))
    loss.backward()
    assert np.allclose(p.grad.numpy(), -1.4 * 0.125 / 4)
    assert not b.requires_grad


def test_loop_carried_buffer_history_reaches_the_gradient():
    """(Found by the random cf programs, seeds 10343 and 11664; present before 2026-12-07's
    sixth session.) A buffer written in a while body with a value computed from a loop variable
    that requires grad, read by the next iteration: the loop variable's placeholder did not
    require grad in the trace, so the write was taken for one that does not record and the
    gradient missed that path (p.grad 0.25, eagerly 0.375). Loop variables that may require grad
    are traced so now (found by tracing again, as loop-carried state is)."""
    def run(compiled, n_iter):
        p = dg.nn.Parameter(dg.tensor(0.5))
        b = dg.zeros(())

        def fn():
            p.grad = None

            def body(i, h):
                t = h * 0.5 + b * 0.25
                b.add_(h * 0.5)          # b takes a history from h
                return i + 1, t
            loss = dg.while_loop(lambda i, h: i < n_iter, body, (0, p * 1.0))[1] * 1.0
            loss.backward()
            return loss
        f = dg.function(fn) if compiled else fn
        return f().item(), p.grad.item()
    for n in (1, 2, 3):
        assert run(True, n) == run(False, n), n      # n=2: p.grad 0.25, eagerly 0.375
