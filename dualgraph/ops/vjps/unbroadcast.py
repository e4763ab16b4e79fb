"""Backward rules of `sum_to` and `broadcast_to` (ops/unbroadcast.py): each is the other's
adjoint."""
from ..registry import defvjp
from ..unbroadcast import sum_to, broadcast_to_op, broadcast_like, unbroadcast


@defvjp(sum_to)
def _sum_to_vjp(gg, node):
    return (broadcast_like(gg, node.inputs[0]),) + (None,) * (len(node.inputs) - 1)


@defvjp(broadcast_to_op)
def _broadcast_to_vjp(g, node):
    return (unbroadcast(g, node.inputs[0]),) + (None,) * (len(node.inputs) - 1)
