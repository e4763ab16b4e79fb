"""BaseModel: a dg.nn.Module that says how many parameters it trains."""
import numpy as np

import dualgraph as dg


class BaseModel(dg.nn.Module):
    def forward(self, *inputs):
        raise NotImplementedError

    def __str__(self):
        n = sum(int(np.prod(p.shape)) for p in self.parameters() if p.requires_grad)
        return super().__str__() + f"\nTrainable parameters: {n}"
