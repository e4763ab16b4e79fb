"""The seed tutorial's section 5 (nn.Module), run eagerly and then in graph mode.

Eager part: children vs modules, get_submodule, Parameter vs buffer vs plain tensor attribute,
hooks (forward pre-hook, forward hook replacing the output, full backward hook, a tensor hook,
handle.remove()), apply() for weight initialisation.
Graph part: the same model inside `dg.graph_mode()` and `dg.function`: its parameters and
buffers become the graph's variables (by reference), forward hooks run while tracing (once per
trace, documented behaviour) and not at every run of the compiled plan, and a training step
compiled with dg.function updates the very parameters the eager step updates.

    python examples/modules.py
"""
import numpy as np

import dualgraph as dg
import dualgraph.nn.functional as F
from dualgraph import nn


def heading(title):
    print(f"\n--- {title}")


# ================================================================ the model
class Block(nn.Module):
    """Linear + ReLU, scaled, with one of each kind of tensor attribute."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)
        self.act = nn.ReLU()
        self.scale = nn.Parameter(dg.ones(n_out))            # Parameter: trained and saved
        self.register_buffer("calls", dg.zeros(()))           # buffer: saved, not trained
        self.register_buffer("mask", dg.ones(n_out), persistent=False)  # buffer, not saved
        self.offset = dg.zeros(n_out)                         # plain tensor: neither

    def forward(self, x):
        with dg.no_grad():
            self.calls.add_(1)                                # state updated by a tensor op
        return self.act(self.linear(x)) * self.scale * self.mask + self.offset


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.b = Block(4, 8)
        self.c = Block(8, 8)

    def forward(self, x):
        return self.c(self.b(x))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Encoder()
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(self.a(x))


def data(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return (dg.tensor(rng.standard_normal((n, 4)).astype(np.float32)),
            dg.tensor(rng.integers(0, 3, n)))


def train_step(model, opt, x, y):
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss


# ================================================================ eager
def containers(net):
    heading("named_children: direct children only")
    children = [name for name, _ in net.named_children()]
    print(children)
    heading("named_modules: every descendant, the module itself first (name ''), dotted names")
    modules = [name for name, _ in net.named_modules()]
    print(modules)
    heading('get_submodule("a.b")')
    sub = net.get_submodule("a.b")
    print(sub)
    assert sub is net.a.b
    return children, modules


def tensors_kinds(net):
    heading("Parameter vs buffer (persistent / not) vs plain tensor attribute")
    b = net.a.b
    params = [n for n, _ in b.named_parameters()]
    buffers = [n for n, _ in b.named_buffers()]
    saved = list(b.state_dict())
    print("parameters()  :", params)
    print("buffers()     :", buffers, "  (both buffers, persistent or not)")
    print("state_dict()  :", saved, "  (parameters + persistent buffers only)")
    print("offset is a plain attribute: in none of them;",
          "requires_grad:", b.offset.requires_grad, "vs scale:", b.scale.requires_grad)
    assert "offset" not in params + buffers + saved and "mask" not in saved

    heading("one SGD step changes parameters only")
    before = {k: v.clone() for k, v in b.state_dict(keep_vars=False).items()}
    mask_before, offset_before = b.mask.clone(), b.offset.clone()
    x, y = data()
    opt = dg.optim.SGD(net.parameters(), lr=0.1)
    train_step(net, opt, x, y)
    for k, v in b.state_dict().items():
        print(f"  {k:14} changed: {not np.array_equal(v.numpy(), before[k].numpy())}")
    print(f"  {'mask':14} changed: {not np.array_equal(b.mask.numpy(), mask_before.numpy())}"
          f"   offset changed: {not np.array_equal(b.offset.numpy(), offset_before.numpy())}")
    print("  (calls counts forward passes: a buffer changed by code, not by the optimizer)")

    heading("load_state_dict: strict=True refuses missing keys, strict=False reports them")
    partial = {k: v for k, v in net.state_dict().items() if not k.startswith("head.")}
    try:
        Net().load_state_dict(partial)
    except RuntimeError as e:  # dg.DualGraphError, also a RuntimeError as in PyTorch
        print("  strict=True :", type(e).__name__, "-", " ".join(str(e).split()))
    print("  strict=False:", Net().load_state_dict(partial, strict=False))
    return params, buffers, saved


def hooks(net):
    x, y = data()
    plain = net(x).detach().numpy()
    log = []
    heading("forward pre-hook (sees the inputs) and forward hook replacing the output")
    h_pre = net.a.b.register_forward_pre_hook(
        lambda mod, args: log.append(("pre a.b", tuple(args[0].shape))))
    h_fwd = net.head.register_forward_hook(
        lambda mod, args, out: out - out.mean(dim=1, keepdim=True))   # centred logits
    out = net(x)
    print("  hooks ran:", log)
    print("  output rows now sum to ~0:", bool(np.abs(out.detach().numpy().sum(1)).max() < 1e-5),
          " (without the hook:", ", ".join(f"{v:.3f}" for v in plain.sum(1)) + ")")

    heading("full backward hook on a module, and register_hook on a tensor")

    def backward_hook(mod, grad_input, grad_output):
        log.append(("backward head", tuple(grad_input[0].shape), tuple(grad_output[0].shape)))

    h_bwd = net.head.register_full_backward_hook(backward_hook)
    xr = x.clone().requires_grad_(True)
    hidden = net.a(xr)
    h_t = hidden.register_hook(lambda g: g * 2)                     # doubles the gradient
    F.cross_entropy(net.head(hidden), y).backward()
    doubled = xr.grad.clone()
    print("  backward hook:", log[-1])
    xr.grad = None
    h_t.remove()
    F.cross_entropy(net.head(net.a(xr)), y).backward()
    print("  tensor hook doubled x.grad:", np.allclose(doubled.numpy(), 2 * xr.grad.numpy()))

    heading("handle.remove(): the hooks stop running")
    for h in (h_pre, h_fwd, h_bwd):
        h.remove()
    n = len(log)
    again = net(x).detach().numpy()
    print("  new hook calls:", len(log) - n, "  output back to plain:", np.allclose(again, plain))
    return log


def init_weights(net):
    heading("apply(fn): every submodule, children first, then the module itself")
    visited = []

    def init(m):
        visited.append(type(m).__name__)
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)

    net.apply(init)
    print(" ", " -> ".join(visited))
    print("  biases are zero now:", all(float(m.bias.abs().sum()) == 0
                                      for m in net.modules() if isinstance(m, nn.Linear)))
    return visited


# ================================================================ graph mode
def graph_variables(net):
    heading("inside dg.graph_mode(): the module's tensors become the graph's variables")
    with dg.graph_mode() as g:
        x = dg.placeholder([None, 4], name="x")
        out = net(x)                       # builds nodes, computes nothing
        print("  net(x) ->", out)
        print("  named_modules is the same in graph mode:",
              [n for n, _ in net.named_modules()][:4], "...")
    owner = {id(t): name for name, t in list(net.named_parameters()) + list(net.named_buffers())}
    owner.update({id(m.offset): f"{name}.offset (plain)" for name, m in net.named_modules()
                  if isinstance(m, Block)})
    rows = []
    for v in g.variables():
        ref = v.node.attrs["ref"]          # the eager tensor the variable reads, by reference
        rows.append((v.name, owner[id(ref)], v.node.attrs["trainable"]))
    for r in rows:
        print(f"  {r[0]:12} <- {r[1]:24} trainable={r[2]}")
    n_params = len(list(net.parameters()))
    assert sum(t for *_, t in rows) == n_params
    heading("running the graph reads the parameters' current values")
    plan = g.compile(out, updates=g.updates)  # updates: also run the buffer's assign op
    xe, _ = data()
    calls = float(net.a.b.calls)
    same = np.allclose(plan(xe.numpy()), net(xe).detach().numpy(), atol=1e-6)
    print("  plan(x) == net(x) eagerly:", same,
          f"  a.b.calls {calls:.0f} -> {float(net.a.b.calls):.0f} (plan's assign + eager call)")
    return rows


def hooks_at_trace_time(net):
    heading("forward hooks under dg.function run while tracing, once, not at every call")
    log = []
    h1 = net.a.b.register_forward_pre_hook(lambda m, args: log.append(type(args[0]).__name__))
    h2 = net.head.register_forward_hook(lambda m, args, out: out * 0.5)  # baked into the plan
    fwd = dg.function(lambda inp: net(inp))
    x, _ = data()
    calls = float(net.a.b.calls)
    for _ in range(3):
        y = fwd(x)
    print("  3 calls, trace_count", fwd.trace_count, " hook calls:", log)
    print("  but the buffer's add_ (a graph op) ran at every call: a.b.calls",
          f"{calls:.0f} -> {float(net.a.b.calls):.0f}")
    traced = fwd.trace_count
    h1.remove()
    h2.remove()
    after = fwd(x)   # (removing a hook retraces: the plan held what the hook did)
    print("  after remove(), the next call retraces (trace_count", fwd.trace_count, ") and drops "
          "the hook's effect, as eagerly:", np.allclose(after.detach().numpy(), 2 * y.detach().numpy(), atol=1e-6),
          np.allclose(net(x).detach().numpy(), after.detach().numpy(), atol=1e-6))
    return traced, len(log)


def graph_backward_hooks(net):
    heading("backward hooks in graph mode fire while loss.backward() builds the gradient graph")
    log = []
    h = net.head.register_full_backward_hook(
        lambda m, gi, go: log.append((type(go[0]).__name__, tuple(go[0].shape))))
    with dg.graph_mode() as g:
        x = dg.placeholder([None, 4], name="x")
        y = dg.placeholder([None], dtype=dg.int64, name="y")
        hidden = net.a(x)
        hidden.register_hook(lambda gr: gr * 2)                     # a symbolic gradient, doubled
        loss = F.cross_entropy(net.head(hidden), y)
        loss.backward()                                              # symbolic p.grad
        grads = {n: p.grad for n, p in net.named_parameters()}
    h.remove()
    print("  backward hook saw:", log)
    print("  p.grad inside the graph:", type(grads["head.weight"]).__name__)
    xe, ye = data()
    got = dg.Session(g).run(grads, {x: xe.numpy(), y: ye.numpy()})
    for p in net.parameters():
        p.grad = None
    hid = net.a(xe)
    hid.register_hook(lambda gr: gr * 2)
    F.cross_entropy(net.head(hid), ye).backward()
    same = all(np.allclose(got[n], p.grad.numpy(), atol=1e-6) for n, p in net.named_parameters())
    print("  Session.run(grads) == eager .grad (same hooks):", same)
    return log


def compiled_training():
    heading("a training step compiled with dg.function updates the same parameters")
    dg.manual_seed(0)
    ref = Net()                                  # trained eagerly only
    net = Net()
    net.load_state_dict(ref.state_dict())
    opt_ref = dg.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    opt = dg.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    compiled = dg.function(train_step)
    w = net.head.weight                          # the Parameter object itself
    x, y = data()
    losses_ref, losses, modes = [], [], []
    for i in range(6):                           # alternate eager and compiled steps on `net`
        step = train_step if i % 2 == 0 else compiled
        losses.append(float(step(net, opt, x, y)))
        modes.append("eager" if i % 2 == 0 else "compiled")
        losses_ref.append(float(train_step(ref, opt_ref, x, y)))
    diff = max(float((a - b).abs().max()) for a, b in zip(net.parameters(), ref.parameters()))
    for m, a, b in zip(modes, losses, losses_ref):
        print(f"  {m:9} step loss {a:.6f}   eager-only model {b:.6f}")
    print("  trace_count:", compiled.trace_count, "  same Parameter object:", net.head.weight is w,
          f"  max |param - eager-only param| = {diff:.2e}")
    print("  (the plan reads and writes the parameters and the momentum buffers in place, so "
          "eager and compiled steps share one model and one optimizer state)")
    return losses, losses_ref, diff, compiled.trace_count


def main():
    dg.manual_seed(0)
    net = Net()
    print("===== 5. nn.Module, eagerly =====")
    print(net)
    children, modules = containers(net)
    params, buffers, saved = tensors_kinds(net)
    hook_log = hooks(net)
    visited = init_weights(net)
    print("\n===== 5. nn.Module, in graph mode =====")
    var_rows = graph_variables(net)
    trace_count, trace_hook_calls = hooks_at_trace_time(net)
    bw_log = graph_backward_hooks(net)
    losses, losses_ref, diff, train_traces = compiled_training()
    return dict(children=children, modules=modules, params=params, buffers=buffers,
                state_dict=saved, hook_log=hook_log, apply_order=visited, variables=var_rows,
                trace_count=trace_count, trace_hook_calls=trace_hook_calls,
                graph_backward_hook=bw_log, losses=losses, losses_eager_only=losses_ref,
                max_param_diff=diff, train_trace_count=train_traces)


if __name__ == "__main__":
    main()
