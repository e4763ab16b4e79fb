"""dg.Session: TensorFlow 1.x's way to run a graph (`sess.run(fetches, feed_dict)`)."""
from .compiler import compile_graph, flatten_fetches, resolve


class Session:
    def __init__(self, graph=None, optimize=True):
        from .core import get_default_graph
        self.graph = graph if graph is not None else get_default_graph()
        self.optimize = optimize
        self._plans = {}

    def run(self, fetches, feed_dict=None):
        feed_dict = feed_dict or {}
        flat, treedef = flatten_fetches(fetches, self.graph)
        feed_ts = [resolve(k, self.graph, "feed") for k in feed_dict]
        lifted = self.graph.lifted  # Python numbers (an optimizer's lr, ...) read at every run
        checks = self.graph.checks  # (refusals every run makes: graph/memories.py refuse_at)
        key = (tuple(t.name for t in flat), tuple(t.name for t in feed_ts), treedef, len(lifted), len(checks))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = compile_graph(self.graph, fetches,
                                                    feeds=feed_ts + [s for s, _, _ in lifted],
                                                    optimize=self.optimize, updates=list(checks))
        return plan(*feed_dict.values(), *[read() for _, read, _ in lifted])

    def close(self):
        self._plans.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

