"""Metrics on numpy arrays (the logits and targets of an epoch)."""
import numpy as np


def accuracy(output, target):
    return float(np.mean(np.argmax(output, axis=1) == target))


def top_k_acc(output, target, k=3):
    top = np.argsort(-output, axis=1)[:, :k]
    return float(np.mean(np.any(top == target[:, None], axis=1)))
