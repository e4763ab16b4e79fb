"""Eager autograd with PyTorch's semantics: accumulation, retain_graph, create_graph,
autograd.grad, leaves and .grad, retain_grad, hooks, grad modes, detach, requires_grad_, in-place
ops and the version counter, and every misuse with PyTorch's error.

Where torch is installed, the same code runs through it in the same test and the values, error
types and messages are compared; without torch those parts are skipped and the rest still runs.
"""
import re
import warnings

import numpy as np
import pytest

import dualgraph as dg

try:
    import torch
except ImportError:  # the comparisons below are skipped
    torch = None

MODS = [dg] + ([torch] if torch is not None else [])


def arr(t):
    return t.detach().numpy()


def same_msg(a, b):
    """Messages equal once the library names are the same."""
    norm = lambda e: str(e).replace("dualgraph.", "torch.")  # noqa: E731
    assert norm(a) == norm(b)


def raises_like_torch(fn, etype=RuntimeError, match=None):
    """fn(dg) raises etype (a DualGraphError too); fn(torch), if installed, raises the same
    type with the same message. Returns dualgraph's exception."""
    with pytest.raises(etype, match=match) as e:
        fn(dg)
    assert isinstance(e.value, dg.DualGraphError)
    if torch is not None:
        with pytest.raises(etype) as te:
            fn(torch)
        same_msg(e.value, te.value)
    return e.value


def values(t):
    return None if t is None else np.asarray(t.tolist())


# ================================================================ accumulation and retain_graph
def test_gradients_accumulate_across_backward_calls():
    for m in MODS:
        x = m.tensor([1.0, 2.0], requires_grad=True)
        (x * x).sum().backward()
        g = x.grad
        assert g.tolist() == [2.0, 4.0]
        (x * 3).sum().backward()
        assert x.grad.tolist() == [5.0, 7.0]
        assert x.grad is g  # accumulated in place: the same .grad object
        x.grad = None
        (x * x).sum().backward()
        assert x.grad.tolist() == [2.0, 4.0]


def test_leaf_grad_is_a_plain_contiguous_tensor():
    for m in MODS:
        x = m.ones(3, requires_grad=True)
        x.sum().backward()  # sum's gradient is a broadcast: .grad must not be a stride-0 view
        assert x.grad.is_contiguous() and x.grad.stride() == (1,)
        assert not x.grad.requires_grad and x.grad.grad_fn is None
        x.grad.zero_()
        assert x.grad.tolist() == [0.0, 0.0, 0.0]


def test_grad_is_not_shared_between_leaves_or_with_the_seed():
    a = dg.tensor([1.0, 2.0], requires_grad=True)
    b = dg.tensor([3.0, 4.0], requires_grad=True)
    seed = dg.tensor([1.0, 1.0])
    (a + b).backward(seed)
    assert not np.shares_memory(arr(a.grad), arr(b.grad))
    assert not np.shares_memory(arr(a.grad), arr(seed))
    a.grad.add_(1)
    assert b.grad.tolist() == [1.0, 1.0] and seed.tolist() == [1.0, 1.0]


def test_second_backward_through_freed_buffers_raises():
    def twice(m):
        a = m.tensor([1.0, 2.0], requires_grad=True)
        b = m.tensor([3.0, 4.0], requires_grad=True)
        s = (a * b).sum()
        s.backward()
        s.backward()
    e = raises_like_torch(twice)
    assert str(e).startswith("Trying to backward through the graph a second time")
    assert "Specify retain_graph=True" in str(e)


def test_retain_graph_allows_a_second_backward():
    for m in MODS:
        a = m.tensor([1.0, 2.0], requires_grad=True)
        b = m.tensor([3.0, 4.0], requires_grad=True)
        s = (a * b).sum()
        s.backward(retain_graph=True)
        s.backward()
        assert a.grad.tolist() == [6.0, 8.0] and b.grad.tolist() == [2.0, 4.0]


def test_graph_without_saved_values_can_be_walked_twice():
    for m in MODS:  # add and sum save nothing, so nothing is freed
        a = m.tensor([1.0, 2.0], requires_grad=True)
        s = (a + 1).sum()
        s.backward()
        s.backward()
        assert a.grad.tolist() == [2.0, 2.0]


def test_backward_with_inputs_fills_only_those():
    for m in MODS:
        x = m.tensor([1.0, 2.0], requires_grad=True)
        w = m.tensor([3.0, 4.0], requires_grad=True)
        y = x * w
        z = (y * y).sum()
        z.backward(inputs=[x, y], retain_graph=True)  # a non-leaf in inputs gets its .grad too
        assert x.grad.tolist() == [18.0, 64.0] and w.grad is None and y.grad.tolist() == [6.0, 16.0]
        z.backward(inputs=[y])
        assert y.grad.tolist() == [12.0, 32.0] and x.grad.tolist() == [18.0, 64.0]


# ================================================================ create_graph (higher order)
def test_second_and_third_derivative_of_x_cubed():
    for m in MODS:
        x = m.tensor(2.0, requires_grad=True)
        y = x ** 3
        (g1,) = m.autograd.grad(y, x, create_graph=True)
        assert g1.item() == 12.0 and g1.requires_grad  # 3x^2
        (g2,) = m.autograd.grad(g1, x, create_graph=True)
        assert g2.item() == 12.0  # 6x
        (g3,) = m.autograd.grad(g2, x)
        assert g3.item() == 6.0 and not g3.requires_grad


def test_backward_with_create_graph_gives_a_differentiable_grad():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    (x ** 3).sum().backward(create_graph=True)
    g = x.grad
    assert g.tolist() == [3.0, 12.0] and g.requires_grad and g.grad_fn is not None
    x.grad = None
    g.sum().backward()
    assert x.grad.tolist() == [6.0, 12.0]


def test_hessian_vector_product():
    for m in MODS:
        x = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
        f = (x ** 2 * x.sin()).sum()
        (g,) = m.autograd.grad(f, x, create_graph=True)
        v = m.tensor([1.0, 0.5, -1.0])
        (hv,) = m.autograd.grad((g * v).sum(), x)
        xs = np.array([1.0, 2.0, 3.0])
        diag = 2 * np.sin(xs) + 4 * xs * np.cos(xs) - xs ** 2 * np.sin(xs)
        np.testing.assert_allclose(values(hv), diag * np.array([1.0, 0.5, -1.0]), rtol=1e-5)


def test_gradcheck_and_gradgradcheck():
    x = dg.tensor([0.5, -1.0, 2.0], dtype=dg.float64, requires_grad=True)
    w = dg.tensor([[1.0, 2.0], [0.5, -1.0], [3.0, 0.1]], dtype=dg.float64, requires_grad=True)
    assert dg.autograd.gradcheck(lambda x, w: (x.tanh() @ w).exp(), (x, w))
    assert dg.autograd.gradgradcheck(lambda x: x * x * x, [x])


def test_gradcheck_perturbs_non_contiguous_inputs():
    x = dg.from_numpy(np.asfortranarray(np.random.default_rng(0).random((3, 4)))).requires_grad_()
    assert not x.is_contiguous()
    assert dg.autograd.gradcheck(lambda a: (a * a).sum(1), (x,))


def test_gradcheck_catches_a_wrong_rule():
    x = dg.tensor([0.5, 1.5], dtype=dg.float64, requires_grad=True)

    def wrong(a):  # forward a*a, gradient flowing as if it were a*c with c a constant copy
        return a * a.detach()
    assert dg.autograd.gradcheck(wrong, (x,), raise_exception=False) is False
    with pytest.raises(RuntimeError, match="Jacobian mismatch"):
        dg.autograd.gradcheck(wrong, (x,))


# ================================================================ autograd.grad
def test_autograd_grad_returns_a_tuple_and_leaves_dot_grad_alone():
    for m in MODS:
        x = m.tensor([1.0, 2.0], requires_grad=True)
        w = m.tensor([3.0, -1.0], requires_grad=True)
        out = m.autograd.grad((x * w).sum(), [x, w])
        assert isinstance(out, tuple) and len(out) == 2
        assert out[0].tolist() == [3.0, -1.0] and out[1].tolist() == [1.0, 2.0]
        assert x.grad is None and w.grad is None


def test_autograd_grad_with_grad_outputs():
    for m in MODS:
        x = m.tensor([1.0, 2.0], requires_grad=True)
        (g,) = m.autograd.grad(x * 2, x, grad_outputs=m.tensor([1.0, 10.0]))
        assert g.tolist() == [2.0, 20.0]


def test_autograd_grad_allow_unused():
    for m in MODS:
        x = m.tensor(2.0, requires_grad=True)
        z = m.tensor(3.0, requires_grad=True)
        gx, gz = m.autograd.grad(x * 2, [x, z], allow_unused=True)
        assert gx.item() == 2.0 and gz is None

    def unused(m):
        x = m.tensor(2.0, requires_grad=True)
        z = m.tensor(3.0, requires_grad=True)
        m.autograd.grad(x * 2, [x, z])
    e = raises_like_torch(unused)
    assert str(e) == ("The differentiated Tensor at index 1 appears to not have been used in the "
                      "graph. Set allow_unused=True if this is the desired behavior.")


def test_autograd_grad_of_non_leaf_inputs():
    for m in MODS:
        x = m.tensor(2.0, requires_grad=True)
        y = x * 3
        z = y * y
        (gy,) = m.autograd.grad(z, y)
        assert gy.item() == 12.0  # 2y
        assert x.grad is None
        # only the part of the graph above y ran: y's own history is still intact
        y.backward()
        assert x.grad.item() == 3.0


def test_autograd_grad_input_must_require_grad():
    def fn(m):
        x = m.tensor(1.0, requires_grad=True)
        c = m.tensor(2.0)
        m.autograd.grad(x * c, [x, c])
    raises_like_torch(fn, match="^One of the differentiated Tensors does not require grad$")


# ================================================================ leaves and .grad
def test_leaf_and_non_leaf():
    for m in MODS:
        x = m.tensor([1.0, 2.0], requires_grad=True)
        c = m.tensor([1.0, 2.0])
        y = x * 2
        assert x.is_leaf and c.is_leaf and not y.is_leaf
        assert x.grad_fn is None and y.grad_fn is not None
        assert y.grad_fn.name() == "MulBackward0"
        assert (c * 2).is_leaf and not (c * 2).requires_grad  # no input requires grad
        with m.no_grad():
            z = x * 2
        assert z.is_leaf and not z.requires_grad
        assert x.detach().is_leaf


def test_only_leaves_get_grad_and_non_leaf_grad_warns():
    for m in MODS:
        x = m.tensor([1.0, 2.0], requires_grad=True)
        c = m.tensor([5.0, 6.0])
        y = x * c
        y.sum().backward()
        assert x.grad.tolist() == [5.0, 6.0]
        assert c.grad is None
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            assert y.grad is None
        assert len(w) == 1 and w[0].category is UserWarning
        assert str(w[0].message).startswith(
            "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed.")
        assert "use .retain_grad() on the non-leaf Tensor" in str(w[0].message)
        assert w[0].filename == __file__  # points at the user's line


def test_retain_grad():
    for m in MODS:
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = x * 3
        y.retain_grad()
        assert y.retains_grad and not x.retains_grad
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no warning for a tensor that retains its grad
            assert y.grad is None
        (y * y).sum().backward(retain_graph=True)
        assert y.grad.tolist() == [6.0, 12.0]
        (y * y).sum().backward()
        assert y.grad.tolist() == [12.0, 24.0]  # accumulates, as a leaf's .grad
        assert x.grad.tolist() == [36.0, 72.0]
        x.retain_grad()  # a no-op on a leaf
        assert not x.retains_grad


def test_retain_grad_needs_requires_grad():
    raises_like_torch(lambda m: m.tensor([1.0]).retain_grad(),
                      match="^can't retain_grad on Tensor that has requires_grad=False$")


# ================================================================ hooks
def test_hook_on_a_leaf_sees_and_replaces_the_gradient():
    for m in MODS:
        x = m.tensor([1.0, 2.0], requires_grad=True)
        seen = []
        h1 = x.register_hook(lambda g: seen.append(g.tolist()))  # returns None: no change
        h2 = x.register_hook(lambda g: g * 10)
        (x * 2).sum().backward()
        assert seen == [[2.0, 2.0]] and x.grad.tolist() == [20.0, 20.0]
        h1.remove()
        h2.remove()
        x.grad = None
        (x * 2).sum().backward()
        assert seen == [[2.0, 2.0]] and x.grad.tolist() == [2.0, 2.0]


def test_hook_on_a_non_leaf_changes_what_flows_on():
    for m in MODS:
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        h = y.register_hook(lambda g: g * 10)
        y.retain_grad()
        y.sum().backward(retain_graph=True)
        assert x.grad.tolist() == [20.0, 20.0]
        assert y.grad.tolist() == [10.0, 10.0]  # retain_grad sees the hook's result
        h.remove()
        x.grad = None
        y.sum().backward()
        assert x.grad.tolist() == [2.0, 2.0]


def test_hooks_run_in_registration_order():
    x = dg.tensor(1.0, requires_grad=True)
    x.register_hook(lambda g: g + 1)
    x.register_hook(lambda g: g * 10)
    (x * 1).backward()
    assert x.grad.item() == 20.0


def test_hook_on_a_tensor_without_grad_is_refused():
    raises_like_torch(lambda m: m.tensor([1.0]).register_hook(lambda g: g),
                      match="^cannot register a hook on a tensor that doesn't require gradient$")


# ================================================================ grad modes
def test_no_grad_enable_grad_nesting():
    for m in MODS:
        x = m.tensor([1.0], requires_grad=True)
        with m.no_grad():
            assert not m.is_grad_enabled()
            assert not (x * 2).requires_grad
            with m.enable_grad():
                assert m.is_grad_enabled() and (x * 2).requires_grad
            assert not m.is_grad_enabled()
        assert m.is_grad_enabled() and (x * 2).requires_grad


def test_grad_modes_as_decorators():
    for m in MODS:
        x = m.tensor([1.0], requires_grad=True)

        @m.no_grad()
        def f():
            return x * 2

        @m.no_grad
        def f_bare():
            return x * 2

        @m.enable_grad()
        def g():
            return x * 2

        @m.set_grad_enabled(False)
        def h():
            return x * 2

        assert m.is_grad_enabled()  # decorating changed nothing
        assert not f().requires_grad and not f_bare().requires_grad and not h().requires_grad
        with m.no_grad():
            assert g().requires_grad
        assert m.is_grad_enabled()


def test_set_grad_enabled():
    for m in MODS:
        x = m.tensor([1.0], requires_grad=True)
        with m.set_grad_enabled(False):
            assert not (x * 2).requires_grad
        assert (x * 2).requires_grad
        m.set_grad_enabled(False)  # called as a function it takes effect at once
        try:
            assert not m.is_grad_enabled() and not (x * 2).requires_grad
        finally:
            m.set_grad_enabled(True)
        assert m.is_grad_enabled()


def test_grad_mode_is_restored_after_an_exception():
    with pytest.raises(ValueError):
        with dg.no_grad():
            raise ValueError("boom")
    assert dg.is_grad_enabled()


# ================================================================ detach and requires_grad_
def test_detach_stops_the_gradient():
    for m in MODS:
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        d = y.detach()
        assert not d.requires_grad and d.grad_fn is None and d.is_leaf
        (y * d).sum().backward()  # d is a constant: d(y*d)/dx = 2*d
        assert x.grad.tolist() == [4.0, 8.0]


def test_detach_shares_memory():
    for m in MODS:
        x = m.tensor([1.0, 2.0], requires_grad=True)
        d = x.detach()
        d[0] = 5.0
        assert x.tolist() == [5.0, 2.0]


def test_requires_grad_():
    for m in MODS:
        x = m.tensor([1.0, 2.0])
        assert x.requires_grad_() is x and x.requires_grad and x.is_leaf
        y = x * 2
        assert y.requires_grad and not y.is_leaf
        x.requires_grad_(False)
        assert not x.requires_grad and not (x * 2).requires_grad
    raises_like_torch(lambda m: (m.tensor([1.0], requires_grad=True) * 2).requires_grad_(False),
                      match="^you can only change requires_grad flags of leaf variables.")
    raises_like_torch(lambda m: m.tensor([1, 2]).requires_grad_(),
                      match="^only Tensors of floating point dtype can require gradients$")


# ================================================================ misuse, with PyTorch's errors
def test_backward_of_a_non_scalar_needs_gradient():
    raises_like_torch(lambda m: (m.tensor([1.0, 2.0], requires_grad=True) * 2).backward(),
                      match="^grad can be implicitly created only for scalar outputs$")


def test_backward_of_a_tensor_without_grad():
    raises_like_torch(lambda m: (m.tensor([1.0, 2.0]) * 2).sum().backward(),
                      match="^element 0 of tensors does not require grad and does not have a grad_fn$")
    raises_like_torch(lambda m: m.autograd.grad(m.tensor([1.0, 2.0]).sum(), m.tensor([1.0], requires_grad=True)),
                      match="^element 0 of tensors does not require grad and does not have a grad_fn$")


def test_gradient_of_the_wrong_shape():
    e = raises_like_torch(lambda m: (m.tensor([1.0, 2.0], requires_grad=True) * 2).backward(m.ones(3)))
    assert str(e) == ("Mismatch in shape: grad_output[0] has a shape of dualgraph.Size([3]) and "
                      "output[0] has a shape of dualgraph.Size([2]).")


VERSION_PREFIX = re.compile(r"^(.*expected version \d+ instead\.)")


def _version_error(fn):
    """The version-counter message up to its hint (dualgraph's hint is its own)."""
    with pytest.raises(RuntimeError) as e:
        fn(dg)
    assert isinstance(e.value, dg.DualGraphError)
    mine = VERSION_PREFIX.match(str(e.value)).group(1)
    if torch is not None:
        with pytest.raises(RuntimeError) as te:
            fn(torch)
        assert mine.replace("dualgraph.", "torch.") == VERSION_PREFIX.match(str(te.value)).group(1)
    return mine


def test_saved_input_modified_in_place():
    def fn(m):
        a = m.tensor([1.0, 2.0], requires_grad=True)
        b = a * 2
        c = b * b  # saves b
        b.add_(1)
        c.sum().backward()
    assert _version_error(fn) == (
        "one of the variables needed for gradient computation has been modified by an inplace "
        "operation: [dualgraph.FloatTensor [2]], which is output 0 of Add, is at version 1; "
        "expected version 0 instead.")


def test_saved_output_modified_in_place():
    def fn(m):
        a = m.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        y = a.sigmoid()  # saves its output
        y.mul_(2)
        y.sum().backward()
    assert _version_error(fn) == (
        "one of the variables needed for gradient computation has been modified by an inplace "
        "operation: [dualgraph.FloatTensor [2, 2]], which is output 0 of Sigmoid, is at version 1; "
        "expected version 0 instead.")


def test_saved_constant_modified_in_place():
    def fn(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        w = m.tensor([3.0, 4.0], dtype=m.float64)
        z = x * w
        w.add_(1)
        w.add_(1)
        z.sum().backward()
    assert _version_error(fn) == (
        "one of the variables needed for gradient computation has been modified by an inplace "
        "operation: [dualgraph.DoubleTensor [2]] is at version 2; expected version 0 instead.")


def test_modified_through_a_view_or_detach_is_caught_too():
    for m in MODS:
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = x.exp()
        y.detach().zero_()  # detach shares the version counter
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = x.tanh()
        y[0].mul_(2)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


def test_inplace_on_a_leaf_that_requires_grad():
    msg = "^a leaf Variable that requires grad is being used in an in-place operation.$"
    raises_like_torch(lambda m: m.tensor([1.0, 2.0], requires_grad=True).add_(1), match=msg)
    raises_like_torch(lambda m: m.tensor([1.0, 2.0], requires_grad=True).zero_(), match=msg)
    raises_like_torch(lambda m: m.tensor([1.0, 2.0], requires_grad=True).__setitem__([0], 3.0), match=msg)
    raises_like_torch(lambda m: m.tensor([1.0, 2.0], requires_grad=True).__setitem__(Ellipsis, 3.0), match=msg)


def test_inplace_on_a_view_of_a_leaf_that_requires_grad():
    msg = "^a view of a leaf Variable that requires grad is being used in an in-place operation.$"
    raises_like_torch(lambda m: m.tensor([1.0, 2.0], requires_grad=True)[0].mul_(2), match=msg)
    raises_like_torch(lambda m: m.tensor([1.0, 2.0], requires_grad=True).__setitem__(0, 3.0), match=msg)
    raises_like_torch(lambda m: m.tensor([[1.0, 2.0]], requires_grad=True).t().zero_(), match=msg)


def test_inplace_on_a_leaf_is_fine_under_no_grad():
    for m in MODS:
        x = m.tensor([1.0, 2.0], requires_grad=True)
        with m.no_grad():
            x.add_(1)
            x[0] = 10.0
        assert x.tolist() == [10.0, 3.0] and x.is_leaf and x.requires_grad and x._version == 2
        x.detach().mul_(2)  # through detach (or .data) too
        x.data.mul_(2)
        assert x.tolist() == [40.0, 12.0]


def test_numpy_of_a_tensor_that_requires_grad():
    raises_like_torch(
        lambda m: m.tensor([1.0], requires_grad=True).numpy(),
        match=re.escape("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead."))
    raises_like_torch(lambda m: np.asarray(m.tensor([1.0], requires_grad=True) * 2),
                      match=re.escape("Can't call numpy() on Tensor that requires grad."))


# ================================================================ autograd through in-place ops
# Each scenario returns (result, grads); dualgraph's values are checked against the numbers
# worked out by hand and, where installed, against PyTorch.
X = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
W = [0.5, -1.0, 2.0]


def _inplace_mul(m, x, w):
    y = x * 2
    y.mul_(w)
    y.sum().backward()
    return y


def _write_through_view(m, x, w):
    y = x * 1
    y[:, 1].mul_(w[0])
    (y * y).sum().backward()
    return y


def _consumer_made_before_inplace(m, x, w):
    y = x * 2
    z = y + 1  # sees y's old value (and history)
    y.mul_(3)
    (z + y).sum().backward()
    return z


def _view_made_before_base_modified(m, x, w):
    y = x + 0
    a = y[0]
    y.mul_(2)  # a's values (and history) follow its base
    a.sum().backward()
    return a


def _sibling_views(m, x, w):
    y = x * 1
    y2 = y.view(6)
    v = y2[:3]
    v.mul_(5)
    (y2 * 1).sum().backward()
    return y2


def _setitem_from_leaf(m, x, w):
    z = m.zeros(2, 3)
    z[0] = w
    z[1, :2] = w[:2] * 3
    (z * x).sum().backward()
    return z


def _fill_cuts_the_gradient(m, x, w):
    y = x * 1
    y.fill_(2.0)
    (y * w).sum().backward()
    return y


def _copy_into_a_view(m, x, w):
    y = x * 1
    y[1].copy_(w)
    (y * y).sum().backward()
    return y


def _transpose_view_add(m, x, w):
    y = x + 0
    y.t().add_(w.unsqueeze(1))
    (y ** 2).sum().backward()
    return y


def _chained_inplace(m, x, w):
    y = x * 1
    y.mul_(w).add_(1).div_(2)
    y.pow(2).sum().backward()
    return y


def _inplace_mul_by_grad_tensor_on_constant(m, x, w):
    a = m.zeros(3)
    a += w
    a *= w
    a.sum().backward()
    return a


SCENARIOS = {
    "mul_ by a leaf": (_inplace_mul, [[1.0, -2.0, 4.0]] * 2, [10.0, 14.0, 18.0]),
    "write through a view": (_write_through_view, [[2.0, 1.0, 6.0], [8.0, 2.5, 12.0]], [29.0, 0.0, 0.0]),
    "consumer made before in-place": (_consumer_made_before_inplace, [[8.0] * 3] * 2, None),
    "view made before its base changed": (_view_made_before_base_modified, [[2.0] * 3, [0.0] * 3], None),
    "sibling views": (_sibling_views, [[5.0, 5.0, 5.0], [1.0, 1.0, 1.0]], None),
    "setitem from a leaf": (_setitem_from_leaf, None, [13.0, 17.0, 3.0]),
    "fill_ cuts the gradient": (_fill_cuts_the_gradient, [[0.0] * 3] * 2, [4.0, 4.0, 4.0]),
    "copy_ into a view": (_copy_into_a_view, [[2.0, 4.0, 6.0], [0.0] * 3], [1.0, -2.0, 4.0]),
    "add_ through a transpose": (_transpose_view_add, [[3.0, 2.0, 10.0], [9.0, 8.0, 16.0]], [12.0, 10.0, 26.0]),
    "chained in-place ops": (_chained_inplace, None, None),
    "in-place on a constant": (_inplace_mul_by_grad_tensor_on_constant, None, [1.0, -2.0, 4.0]),
}


def _run(m, fn):
    x = m.tensor(X, requires_grad=True)
    w = m.tensor(W, requires_grad=True)
    out = fn(m, x, w)
    return values(out.detach()), values(x.grad), values(w.grad)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_gradients_through_inplace_ops(name):
    fn, gx, gw = SCENARIOS[name]
    out, got_x, got_w = _run(dg, fn)
    if gx is not None:
        np.testing.assert_allclose(got_x, gx)
    if gw is not None:
        np.testing.assert_allclose(got_w, gw)
    if torch is not None:
        t_out, t_x, t_w = _run(torch, fn)
        np.testing.assert_allclose(out, t_out, rtol=1e-6)
        for mine, theirs in ((got_x, t_x), (got_w, t_w)):
            assert (mine is None) == (theirs is None)
            if mine is not None:
                np.testing.assert_allclose(mine, theirs, rtol=1e-6)


def test_inplace_history_and_grad_fn():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    assert y.grad_fn.name() == "MulBackward0"
    y.add_(1)
    assert y.grad_fn.name() == "AddBackward0" and y._version == 1
    y[0] = 7.0
    assert y.grad_fn.name() == "IndexPutBackward0" and y._version == 2
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 2.0]


# ---------------------------------------------------------------- .grad takes a fresh gradient's memory
def _shares(a, b):
    return np.shares_memory(a.numpy(), b.numpy())


def test_grad_takes_the_memory_of_a_fresh_gradient_and_accumulates_right():
    x = dg.randn(3, 4, requires_grad=True)
    w = dg.randn(4, 2, requires_grad=True)
    (x @ w).sum().backward()
    first = w.grad.numpy().copy()
    (x @ w).sum().backward()                     # accumulates in place into the same .grad
    np.testing.assert_allclose(w.grad.numpy(), 2 * first, rtol=1e-6)


def test_grad_never_shares_memory_with_a_tensor_someone_holds():
    kept = []
    # a hook on a non-leaf hands on a tensor the user keeps
    x = dg.randn(3, requires_grad=True)
    y = x * 2
    y.register_hook(lambda g: kept.append(g * 1) or kept[-1])
    (y * 1).sum().backward()
    assert not _shares(x.grad, kept[-1])
    # a leaf's own hook
    x = dg.randn(3, requires_grad=True)
    x.register_hook(lambda g: kept.append(g * 1) or kept[-1])
    (x * 3).sum().backward()
    assert not _shares(x.grad, kept[-1])
    # two leaves reached by one gradient object (add's rule)
    b, c = dg.randn(3, requires_grad=True), dg.randn(3, requires_grad=True)
    (b + c).sum().backward()
    assert not _shares(b.grad, c.grad)
    # the seed the user passes
    z = dg.randn(3, requires_grad=True)
    seed = dg.ones(3)
    (z + 0).backward(seed)
    assert not _shares(z.grad, seed)


def test_a_custom_function_handing_back_a_saved_tensor_does_not_alias_grad():
    class PassSaved(dg.autograd.Function):
        @staticmethod
        def forward(ctx, x, s):
            ctx.save_for_backward(s)
            return x * 1

        @staticmethod
        def backward(ctx, g):
            s, = ctx.saved_tensors
            return s, None          # (a forward tensor as the gradient)
    x = dg.randn(3, requires_grad=True)
    s = dg.randn(3)
    PassSaved.apply(x, s).sum().backward()
    assert not _shares(x.grad, s)
    x.grad.add_(1.0)
    assert not np.allclose(x.grad.numpy(), s.numpy())


# ---- a saved output is held weakly by its node (autograd/tape.py, Node.out): no y <-> grad_fn
# cycle, so an activation is freed as soon as nothing uses it, without Python's cyclic GC
def test_an_op_that_saves_its_output_makes_no_reference_cycle():
    import gc
    import weakref
    x = dg.tensor([1.0, -2.0, 3.0], requires_grad=True)
    was = gc.isenabled()
    gc.disable()
    try:
        for f in (dg.exp, dg.relu, dg.tanh, dg.sigmoid, dg.sqrt):
            y = f(x.abs())
            r = weakref.ref(y)
            del y
            assert r() is None, f.__name__   # freed by its reference count alone
        gc.collect()
        loss = (dg.relu(x) * dg.exp(x)).sum()
        loss.backward()
        del loss
        assert gc.collect() == 0   # the tape and backward() left nothing for the cyclic GC
    finally:
        if was:
            gc.enable()


def test_a_dead_saved_output_is_rewrapped_with_its_version_counter():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    node = y.grad_fn
    v = y[:1]   # a view of y: it shares y's memory and version counter
    data = y._data
    del y
    out = node.out   # the tensor is gone: the same array, the node as grad_fn
    assert out._data is data and out.grad_fn is node and out.requires_grad
    assert out._version == node.out_version == 0
    v.detach().mul_(2)   # writes y's memory through the view: the version a rule would check
    assert node.out._version == 1
