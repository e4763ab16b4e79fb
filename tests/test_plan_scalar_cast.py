"""A binary op of a float tensor and a 0-d float tensor of another width (Adam's float64 bias
corrections of float32 moments) runs in a plan as its ufunc with dtype= and out= (plan.py
_fast_kernel, elementwise.cast_ufunc): no fresh array per call, and the same bits as eager,
which casts the 0-d operand to the tensor's dtype (PyTorch's rule) and computes in it."""
import numpy as np
import pytest

import dualgraph as dg
from dualgraph.graph.passes import fuse_elementwise as FE

OPS = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
       "div": lambda a, b: a / b, "rsub": lambda a, b: b - a, "rdiv": lambda a, b: b / a}


@pytest.fixture(autouse=True)
def _no_fusion():
    old = FE.get_fusion()
    FE.set_fusion(None)
    yield
    FE.set_fusion(old)


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("dtype,scalar_dtype", [("float32", "float64"), ("float16", "float32"),
                                                ("float16", "float64"), ("float64", "float32")])
def test_a_0d_operand_of_another_width_gives_eager_bits_through_out(name, dtype, scalar_dtype):
    fn = OPS[name]
    # (a * 2: the op's operand is not a feed; * 2 after: its result is not the fetch)
    f = dg.function(lambda a, s: fn(a * 2, s) * 2)
    rng = np.random.default_rng(3)
    for call in range(4):
        a = dg.tensor((rng.standard_normal((7, 5)) + 2).astype(dtype))
        s = dg.tensor(np.asarray(rng.standard_normal() + 1.1234567891234567, dtype=scalar_dtype))
        want = fn(a * 2, s) * 2
        got = f(a, s)
        assert got.dtype == want.dtype == a.dtype
        assert np.array_equal(got.numpy(), want.numpy(), equal_nan=True), (call, got, want)
    src = f.plan_for(a, s).source
    line = next(ln for ln in src.splitlines() if f"# {'sub' if name == 'rsub' else 'div' if name == 'rdiv' else name} " in ln and "[7, 5]" in ln)
    assert "out=" in line, line


def test_the_float64_bias_corrections_of_a_compiled_adam_step_allocate_nothing():
    m = dg.nn.Linear(6, 4)
    opt = dg.optim.Adam(m.parameters(), lr=0.01)
    x = dg.randn(3, 6)

    @dg.function
    def step(x):
        opt.zero_grad()
        m(x).sum().backward()
        opt.step()

    step(x)
    src = step.plan_for(x).source
    divs = [ln for ln in src.splitlines() if "# div " in ln and "[4, 6]" in ln]
    assert divs and all("out=" in ln for ln in divs), divs
