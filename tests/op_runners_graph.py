"""The graph-mode runner for the op table: build a graph with one placeholder per array
argument, differentiate with dg.gradients (the same vjp rules eager backward uses), compile
(with or without the optimising passes) and run. Returns the same `Result` as run_eager."""
import numpy as np

import dualgraph as dg

import op_runners as R


def placeholders(sample, shape=lambda a: a.shape):
    """(feeds, arrays, inputs) for building `sample` in the current graph: a placeholder
    (of shape(a)) for each array argument, fed its copy; other arguments stay literals."""
    feeds, arrays, inputs = [], [], []
    for i, a in enumerate(sample.args):
        if isinstance(a, np.ndarray):
            p = dg.placeholder(shape(a), a.dtype, name=f"arg{i}")
            feeds.append(p)
            arrays.append(np.array(a))
            inputs.append(p)
        else:
            inputs.append(a)
    return feeds, arrays, inputs


def run_graph(record, sample, *, optimize, grad=True, out_shapes=None):
    """out_shapes: the eager outputs' shapes, for outputs whose size depends on data (a
    boolean mask): their cotangents are then fed through placeholders."""
    pos = R.grad_positions(sample) if grad else []
    with dg.graph_mode() as g:
        feeds, arrays, inputs = placeholders(sample)
        outs = R.flatten(record.fn(*inputs, **sample.kwargs))
        outs = [o if isinstance(o, dg.SymbolicTensor) else dg.constant(np.asarray(o)) for o in outs]
        grads = []
        if pos:
            diff = [o for o in outs if o.dtype.is_floating_point]
            xs = [inputs[i] for i in pos]
            if diff:
                shapes = [tuple(o.shape) if None not in o.shape else out_shapes[outs.index(o)]
                          for o in diff]
                cots = R.cotangents([(s, np.dtype(o._dtype)) for s, o in zip(shapes, diff)])
                seeds = []
                for o, c in zip(diff, cots):
                    if None in o.shape:
                        p = dg.placeholder(o.shape, c.dtype)
                        feeds.append(p)
                        arrays.append(c)
                        seeds.append(p)
                    else:
                        seeds.append(dg.constant(c))
                grads = dg.gradients(diff, xs, grad_ys=seeds)
            else:
                grads = [None] * len(xs)
    fetch = outs + [gr for gr in grads if gr is not None]
    plan = g.compile(fetch, feeds=feeds, optimize=optimize)
    values = plan(*arrays)
    result = R.Result([np.array(v) for v in values[:len(outs)]])
    if grad:
        result.grads = [None] * len(sample.args)
        it = iter(values[len(outs):])
        for i, gr in zip(pos, grads):
            x = sample.args[i]
            result.grads[i] = np.zeros(x.shape, x.dtype) if gr is None else np.array(next(it))
    return result


def error_graph(record, err):
    """The exception raised while building or running the graph (None when nothing raises),
    and whether it came at build time."""
    arrays, feeds = [], []
    try:
        with dg.graph_mode() as g:
            inputs = []
            for i, a in enumerate(err.args):
                if isinstance(a, np.ndarray):
                    p = dg.placeholder(a.shape, a.dtype, name=f"arg{i}")
                    feeds.append(p)
                    arrays.append(a)
                    inputs.append(p)
                else:
                    inputs.append(a)
            outs = R.flatten(record.fn(*inputs, **err.kwargs))
    except Exception as e:  # noqa: BLE001 - the caller inspects it
        return e, True
    try:
        outs = [o for o in outs if isinstance(o, dg.SymbolicTensor)]
        if outs:
            g.compile(outs, feeds=feeds)(*arrays)
    except Exception as e:  # noqa: BLE001
        return e, False
    return None, False
