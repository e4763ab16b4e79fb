"""Checks of values a shape rule cannot see (BCE's input in [0, 1], an embedding index or a
class target in range) raise PyTorch's error eagerly and at every run of a compiled plan, and
pass good values through unchanged (values and gradients equal over calls)."""
import numpy as np
import pytest

import dualgraph as dg
import dualgraph.nn.functional as F

rng = np.random.default_rng(0)
W = rng.standard_normal((10, 3)).astype(np.float32)
CW = np.array([1.0, 2.0, 0.5, 1.5], np.float32)


def _bce(p, t):
    return F.binary_cross_entropy(p, t)


def _embed(w, i):
    return F.embedding(i, w).sum()


def _ce_weighted(x, t):
    return F.cross_entropy(x, t, weight=dg.tensor(CW), ignore_index=-100)


def _ce_spatial(x, t):
    return F.cross_entropy(x, t, ignore_index=3)


CASES = {  # name: (loss, make good (x, other), bad others with the error each raises)
    "bce": (_bce, lambda k: (rng.uniform(0.05, 0.95, (4, 3)).astype(np.float32),
                             rng.uniform(0, 1, (4, 3)).astype(np.float32)),
            [(dg.DualGraphError, "between 0 and 1", lambda x: np.where(x > 0.5, 1.5, x).astype(np.float32)),
             (dg.DualGraphError, "between 0 and 1", lambda x: np.full_like(x, np.nan)),
             (dg.DualGraphError, "between 0 and 1", lambda x: -x)], "first"),
    "embedding": (_embed, lambda k: (W, rng.integers(0, 10, (5,))),
                  [(IndexError, "index out of range in self", lambda i: np.array([1, 12])),
                   (IndexError, "index out of range in self", lambda i: np.array([-1, 2]))], "second"),
    "cross_entropy weight": (_ce_weighted, lambda k: (rng.standard_normal((6, 4)).astype(np.float32),
                                                      np.array([0, 3, -100, 1, 2, k % 4])),
                             [(IndexError, "Target 4 is out of bounds.", lambda t: np.array([0, 4, 1, 1, 2, 0])),
                              (IndexError, "Target -2 is out of bounds.", lambda t: np.array([0, -2, 1, 1, 2, 0]))],
                             "second"),
    "cross_entropy (N,C,d)": (_ce_spatial, lambda k: (rng.standard_normal((2, 4, 3)).astype(np.float32),
                                                      np.array([[0, 3, 1], [2, 2, k % 4]])),
                              [(IndexError, "Target 7 is out of bounds.", lambda t: np.array([[0, 7, 1], [2, 2, 1]]))],
                              "second"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_good_values_pass_and_bad_values_raise_in_both_modes(case):
    loss, make, bads, bad_arg = CASES[case]

    def step(a, b):
        a.grad = None
        out = loss(a, b)
        out.backward()
        return out.detach(), a.grad

    compiled = dg.function(step)
    for k in range(3):  # good values: equal values and gradients, call after call
        a, b = make(k)
        got = []
        for f in (step, compiled):
            ta = dg.tensor(a, requires_grad=True)
            out, g = f(ta, dg.tensor(b))
            got.append((out.numpy().copy(), g.numpy().copy()))
        for x, y in zip(*got):
            np.testing.assert_array_equal(x, y)
    for err, msg, bad in bads:  # bad values: the same error from the eager call and every run
        a, b = make(0)
        a, b = (bad(a), b) if bad_arg == "first" else (a, bad(b))
        for f in (step, compiled, compiled):
            with pytest.raises(err, match=msg.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
                f(dg.tensor(a, requires_grad=True), dg.tensor(b))
