import dualgraph as dg

from base import BaseModel


class DigitsMLP(BaseModel):
    def __init__(self, hidden=(128, 64), num_classes=10, in_features=64):
        super().__init__()
        layers, last = [], in_features
        for h in hidden:
            layers += [dg.nn.Linear(last, h), dg.nn.ReLU()]
            last = h
        layers.append(dg.nn.Linear(last, num_classes))
        self.net = dg.nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)
