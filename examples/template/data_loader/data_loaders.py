"""scikit-learn's digits (8x8 images, 10 classes, 1797 samples, shipped inside the package: no
download). A fixed split: 360 samples, drawn once with seed 0, are the test set."""
import sys

import numpy as np

from base import BaseDataLoader

TEST_SIZE = 360


def load_digits_split():
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        sys.exit('error: the digits data needs scikit-learn: pip install -e ".[examples]"')
    d = load_digits()
    # The file is ordered by writer; a fixed permutation mixes writers into both parts.
    order = np.random.default_rng(0).permutation(len(d.target))
    x = (d.data[order] / 16.0).astype(np.float32)
    y = d.target[order].astype(np.int64)
    return (x[:-TEST_SIZE], y[:-TEST_SIZE]), (x[-TEST_SIZE:], y[-TEST_SIZE:])


class DigitsDataLoader(BaseDataLoader):
    def __init__(self, batch_size, shuffle=True, validation_split=0.1, training=True, seed=0):
        (xtr, ytr), (xte, yte) = load_digits_split()
        x, y = (xtr, ytr) if training else (xte, yte)
        super().__init__(x, y, batch_size, shuffle, validation_split if training else 0.0, seed)
