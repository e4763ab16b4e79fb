"""dg.nn.utils: clip_grad_norm_ / clip_grad_value_ (eagerly and inside dg.function, against
torch.nn.utils), parameters_to_vector / vector_to_parameters, and dg.nn.utils.rnn's padded
and packed sequences (against torch.nn.utils.rnn)."""
import math

import numpy as np
import pytest

import dualgraph as dg
from dualgraph.nn.utils import rnn

F = dg.nn.functional


def _torch():
    return pytest.importorskip("torch")


def _model_pair(seed=0):
    torch = _torch()
    dg.manual_seed(seed)
    m = dg.nn.Sequential(dg.nn.Linear(3, 5), dg.nn.Tanh(), dg.nn.Linear(5, 2))
    t = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    with torch.no_grad():
        for tp, dp in zip(t.parameters(), m.parameters()):
            tp.copy_(torch.tensor(dp.detach().numpy()))
    return m, t


def _data(k):
    rng = np.random.default_rng(k)
    return rng.normal(size=(8, 3)).astype(np.float32) * 3, rng.normal(size=(8, 2)).astype(np.float32)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf, "inf"])
@pytest.mark.parametrize("max_norm", [0.05, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    torch = _torch()
    m, t = _model_pair()
    x, y = _data(0)
    F.mse_loss(m(dg.tensor(x)), dg.tensor(y)).backward()
    torch.nn.functional.mse_loss(t(torch.tensor(x)), torch.tensor(y)).backward()
    got = dg.nn.utils.clip_grad_norm_(m.parameters(), max_norm, norm_type=norm_type)
    want = torch.nn.utils.clip_grad_norm_(t.parameters(), max_norm, norm_type=norm_type)
    assert isinstance(got, dg.Tensor) and got.shape == ()
    assert np.allclose(got.item(), want.item(), rtol=1e-5)
    for dp, tp in zip(m.parameters(), t.parameters()):
        assert np.allclose(dp.grad.numpy(), tp.grad.numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # inf * 0, as torch
def test_clip_grad_value_and_edge_cases():
    torch = _torch()
    m, t = _model_pair(1)
    x, y = _data(1)
    F.mse_loss(m(dg.tensor(x)), dg.tensor(y)).backward()
    torch.nn.functional.mse_loss(t(torch.tensor(x)), torch.tensor(y)).backward()
    assert dg.nn.utils.clip_grad_value_(m.parameters(), 0.1) is None
    torch.nn.utils.clip_grad_value_(t.parameters(), 0.1)
    for dp, tp in zip(m.parameters(), t.parameters()):
        assert np.allclose(dp.grad.numpy(), tp.grad.numpy(), rtol=1e-5, atol=1e-7)
        assert np.abs(dp.grad.numpy()).max() <= 0.1
    # a single tensor, parameters without .grad, no grads at all
    p = dg.tensor([3.0, 4.0], requires_grad=True)
    (p * dg.tensor([1.0, 1.0])).sum().backward()
    assert np.isclose(dg.nn.utils.clip_grad_norm_(p, 1.0).item(), math.sqrt(2))
    assert np.allclose(p.grad.numpy(), [1 / math.sqrt(2)] * 2, rtol=1e-5)
    q = dg.tensor([1.0], requires_grad=True)
    assert dg.nn.utils.clip_grad_norm_([q], 1.0).item() == 0.0
    # non-finite norms
    r = dg.tensor([1.0, 2.0], requires_grad=True)
    (r * dg.tensor([float("inf"), 1.0])).sum().backward()
    with pytest.raises(RuntimeError, match="The total norm of order 2.0 for gradients from `parameters` is non-finite"):
        dg.nn.utils.clip_grad_norm_([r], 1.0, error_if_nonfinite=True)
    tr = torch.tensor([1.0, 2.0], requires_grad=True)
    (tr * torch.tensor([float("inf"), 1.0])).sum().backward()
    with pytest.raises(RuntimeError) as te:
        torch.nn.utils.clip_grad_norm_([tr], 1.0, error_if_nonfinite=True)
    assert str(te.value).startswith("The total norm of order 2.0 for gradients from `parameters` is non-finite")
    assert math.isinf(dg.nn.utils.clip_grad_norm_([r], 1.0).item())


def test_clip_grad_norm_inside_dg_function_equals_eager():
    """A compiled training step that clips: the same losses, norms, .grad and weights as the
    eager step and as torch, over several calls (the optimizer's state included)."""
    torch = _torch()
    m_e, t = _model_pair(2)
    m_c, _ = _model_pair(2)
    opt_e = dg.optim.Adam(m_e.parameters(), lr=0.05)
    opt_c = dg.optim.Adam(m_c.parameters(), lr=0.05)
    opt_t = torch.optim.Adam(t.parameters(), lr=0.05)

    def step(model, opt, x, y):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        norm = dg.nn.utils.clip_grad_norm_(model.parameters(), 0.3)
        opt.step()
        return loss, norm

    compiled = dg.function(lambda x, y: step(m_c, opt_c, x, y))
    for k in range(4):
        x, y = _data(10 + k)
        le, ne = step(m_e, opt_e, dg.tensor(x), dg.tensor(y))
        lc, nc = compiled(dg.tensor(x), dg.tensor(y))
        opt_t.zero_grad()
        lt = torch.nn.functional.mse_loss(t(torch.tensor(x)), torch.tensor(y))
        lt.backward()
        nt = torch.nn.utils.clip_grad_norm_(t.parameters(), 0.3)
        opt_t.step()
        assert np.allclose(le.item(), lc.item(), rtol=1e-6) and np.allclose(le.item(), lt.item(), rtol=1e-5)
        assert np.allclose(ne.item(), nc.item(), rtol=1e-6) and np.allclose(ne.item(), nt.item(), rtol=1e-5)
        assert nc.item() > 0.3                                   # it did clip
        for pe, pc, pt in zip(m_e.parameters(), m_c.parameters(), t.parameters()):
            assert np.allclose(pe.grad.numpy(), pc.grad.numpy(), rtol=1e-5, atol=1e-7)
            assert np.allclose(pc.grad.numpy(), pt.grad.numpy(), rtol=1e-4, atol=1e-6)
            assert np.allclose(pe.detach().numpy(), pc.detach().numpy(), rtol=1e-5, atol=1e-6)
            assert np.allclose(pc.detach().numpy(), pt.detach().numpy(), rtol=1e-4, atol=1e-5)
    assert compiled.trace_count == 1

    @dg.function
    def refuse(x):
        p = m_c[0].weight
        (p * x).sum().backward()
        return dg.nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)

    with pytest.raises(RuntimeError, match="error_if_nonfinite=True\\) while a graph is built"):
        refuse(dg.ones(5, 3))


def test_clip_grad_value_inside_dg_function():
    p_e = dg.nn.Parameter(dg.tensor([1.0, -2.0, 3.0]))
    p_c = dg.nn.Parameter(dg.tensor([1.0, -2.0, 3.0]))

    def step(p, x):
        p.grad = None
        (p * p * x).sum().backward()
        dg.nn.utils.clip_grad_value_([p], 1.5)
        return p.grad * 1

    f = dg.function(lambda x: step(p_c, x))
    for k in range(3):
        x = dg.tensor([0.1, 1.0, -0.5]) * (k + 1)
        assert np.array_equal(step(p_e, x).numpy(), f(x).numpy())
        assert np.array_equal(p_e.grad.numpy(), p_c.grad.numpy())


def test_parameters_to_vector_roundtrip():
    torch = _torch()
    m, t = _model_pair(3)
    v = dg.nn.utils.parameters_to_vector(m.parameters())
    tv = torch.nn.utils.parameters_to_vector(t.parameters())
    assert v.shape == (sum(p.numel() for p in m.parameters()),)
    assert np.allclose(v.detach().numpy(), tv.detach().numpy())
    new = np.arange(v.numel(), dtype=np.float32) / 10
    dg.nn.utils.vector_to_parameters(dg.tensor(new), m.parameters())
    torch.nn.utils.vector_to_parameters(torch.tensor(new), t.parameters())
    for dp, tp in zip(m.parameters(), t.parameters()):
        assert np.array_equal(dp.detach().numpy(), tp.detach().numpy())
        assert dp.requires_grad and dp.grad_fn is None
    with pytest.raises(TypeError, match="expected torch.Tensor, but got"):
        dg.nn.utils.vector_to_parameters(new, m.parameters())
    # differentiable: the gradient of a function of the vector reaches the parameters
    (dg.nn.utils.parameters_to_vector(m.parameters()) ** 2).sum().backward()
    assert np.allclose(m[0].weight.grad.numpy(), 2 * m[0].weight.detach().numpy())


def _seqs(lengths, feat=(2,), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n,) + feat).astype(np.float32) for n in lengths]


@pytest.mark.parametrize("batch_first", [False, True])
def test_pad_sequence_matches_torch(batch_first):
    torch = _torch()
    seqs = _seqs([3, 5, 1])
    got = rnn.pad_sequence([dg.tensor(s) for s in seqs], batch_first=batch_first, padding_value=-1.0)
    want = torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in seqs], batch_first=batch_first,
                                           padding_value=-1.0)
    assert tuple(got.shape) == tuple(want.shape) and np.array_equal(got.numpy(), want.numpy())
    left = rnn.pad_sequence([dg.tensor(s) for s in seqs], batch_first=True, padding_side="left")
    tleft = torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in seqs], batch_first=True,
                                            padding_side="left")
    assert np.array_equal(left.numpy(), tleft.numpy())
    assert rnn.pad_sequence([dg.tensor([1, 2]), dg.tensor([3])]).dtype == dg.int64


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("lengths,enforce", [([5, 3, 3, 1], True), ([2, 5, 1, 4], False),
                                             ([4, 4, 2], False)])
def test_pack_and_pad_packed_match_torch(batch_first, lengths, enforce):
    torch = _torch()
    seqs = _seqs(lengths, feat=(3,), seed=len(lengths))
    padded = rnn.pad_sequence([dg.tensor(s) for s in seqs], batch_first=batch_first)
    tpadded = torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in seqs], batch_first=batch_first)
    p = rnn.pack_padded_sequence(padded, lengths, batch_first=batch_first, enforce_sorted=enforce)
    tp = torch.nn.utils.rnn.pack_padded_sequence(tpadded, lengths, batch_first=batch_first,
                                                 enforce_sorted=enforce)
    assert isinstance(p, rnn.PackedSequence) and p._fields == tp._fields
    assert np.array_equal(p.data.numpy(), tp.data.numpy())
    assert p.batch_sizes.tolist() == tp.batch_sizes.tolist() and p.batch_sizes.dtype == dg.int64
    if enforce:
        assert p.sorted_indices is None and tp.sorted_indices is None and p.unsorted_indices is None
    else:
        assert p.sorted_indices.tolist() == tp.sorted_indices.tolist()
        assert p.unsorted_indices.tolist() == tp.unsorted_indices.tolist()
    out, lens = rnn.pad_packed_sequence(p, batch_first=batch_first, padding_value=9.0, total_length=7)
    tout, tlens = torch.nn.utils.rnn.pad_packed_sequence(tp, batch_first=batch_first, padding_value=9.0,
                                                         total_length=7)
    assert tuple(out.shape) == tuple(tout.shape) and np.array_equal(out.numpy(), tout.numpy())
    assert lens.tolist() == tlens.tolist() and lens.dtype == dg.int64
    # pack_sequence / unpack_sequence round trip
    ps = rnn.pack_sequence([dg.tensor(s) for s in seqs], enforce_sorted=enforce)
    assert np.array_equal(ps.data.numpy(), tp.data.numpy())
    back = rnn.unpack_sequence(ps)
    assert all(np.array_equal(b.numpy(), s) for b, s in zip(back, seqs))


def test_packed_sequence_gradients_and_errors():
    torch = _torch()
    seqs = _seqs([2, 4, 3], feat=(2,), seed=5)
    xs = [dg.tensor(s, requires_grad=True) for s in seqs]
    ts = [torch.tensor(s, requires_grad=True) for s in seqs]
    w = np.arange(1, 3, dtype=np.float32)
    p = rnn.pack_padded_sequence(rnn.pad_sequence(xs), [2, 4, 3], enforce_sorted=False)
    tp = torch.nn.utils.rnn.pack_padded_sequence(torch.nn.utils.rnn.pad_sequence(ts), [2, 4, 3],
                                                 enforce_sorted=False)
    weights = np.arange(p.data.shape[0], dtype=np.float32)[:, None]
    ((p.data * dg.tensor(w)) * dg.tensor(weights)).sum().backward()
    ((tp.data * torch.tensor(w)) * torch.tensor(weights)).sum().backward()
    for x, t in zip(xs, ts):
        assert np.allclose(x.grad.numpy(), t.grad.numpy())
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order when `enforce_sorted` is True"):
        rnn.pack_padded_sequence(rnn.pad_sequence([x.detach() for x in xs]), [2, 4, 3])
    with pytest.raises(RuntimeError, match="Length of all samples has to be greater than 0"):
        rnn.pack_padded_sequence(dg.zeros(3, 2), [3, 0])
    with pytest.raises(ValueError, match="Expected total_length to be at least the length"):
        rnn.pad_packed_sequence(p, total_length=2)
    assert rnn.PackedSequence(p.data, p.batch_sizes, p.sorted_indices).unsorted_indices.tolist() == \
        tp.unsorted_indices.tolist()
