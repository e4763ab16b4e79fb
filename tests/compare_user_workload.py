"""A user workload for `python -m dualgraph.compare --workload compare_user_workload:make`
(tests/test_compare_*.py put tests/ on the path)."""
import numpy as np

import dualgraph as dg
import dualgraph.nn.functional as F


def make(batch):
    """A linear regression trained with SGD (a user workload)."""
    def setup():
        dg.manual_seed(0)
        model = dg.nn.Linear(4, 1)
        opt = dg.optim.SGD(model.parameters(), lr=0.1)

        def step(x, y):
            opt.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            opt.step()
            return loss
        return step

    rng = np.random.default_rng(0)
    x = dg.tensor(rng.standard_normal((batch, 4)).astype(np.float32))
    return setup, (x, x.sum(1, keepdim=True))


def not_a_pair(batch):
    """Returns something that is not (setup, args)."""
    return 42
