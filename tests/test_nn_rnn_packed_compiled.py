"""Packed sequences inside a dg.function: pack_padded_sequence makes its batch sizes a graph
constant in a trace, and the RNN reads them while the graph is built (it raised a misleading
item() error); lengths passed as a list retrace per value. Eager == compiled over several calls,
with backward and an optimizer step."""
import numpy as np
import pytest

import dualgraph as dg
import dualgraph.nn as nn
from dualgraph.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_a_packed_training_step_compiled_equals_eager(cls):
    def build():
        dg.manual_seed(0)
        m = getattr(nn, cls)(4, 6, batch_first=True, num_layers=2, bidirectional=True)
        return m, dg.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)

    def step(m, opt, x, lengths):
        opt.zero_grad()
        p = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = m(p)
        y, lens = pad_packed_sequence(out, batch_first=True)
        loss = y.pow(2).sum() / lens.sum()
        loss.backward()
        opt.step()
        return loss, y

    dg.manual_seed(1)
    x = dg.randn(3, 5, 4)
    me, oe = build()
    mc, oc = build()
    f = dg.function(step)
    for lengths in ([5, 3, 2], [2, 5, 4], [5, 3, 2]):
        le, ye = step(me, oe, x, lengths)
        lc, yc = f(mc, oc, x, lengths)
        assert le.item() == lc.item()
        np.testing.assert_array_equal(yc.detach().numpy(), ye.detach().numpy())
        for pe, pc in zip(me.parameters(), mc.parameters()):
            np.testing.assert_array_equal(pc.detach().numpy(), pe.detach().numpy())


def test_lengths_as_a_tensor_argument_are_refused_at_trace_with_the_way_out():
    m = nn.LSTM(4, 6, batch_first=True)

    def f(x, lengths):
        return m(pack_padded_sequence(x, lengths, batch_first=True))[1][0]
    with pytest.raises(dg.DualGraphError, match="as a list of ints"):
        dg.function(f)(dg.randn(3, 5, 4), dg.tensor([5, 3, 2]))
