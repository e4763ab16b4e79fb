"""Eager ops compute inf and NaN silently, as PyTorch does: numpy's floating-point warnings,
which name a dualgraph line, never reach the user; the user's own numpy calls still warn."""
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import numpy as np
    import dualgraph as dg
    x = dg.tensor([0.0, 1.0, -1.0], requires_grad=True)
    (x * float("inf")).sum().backward()          # inf * 0 in the forward and the gradient
    dg.log(dg.tensor([0.0, -1.0]))                # divide by zero, invalid
    dg.exp(dg.tensor([1000.0])) * dg.tensor([1e30]) / dg.tensor([0.0])   # overflow, divide
    dg.tensor([1e-30]) * dg.tensor([1e-30])        # underflow (numpy ignores it by default)
    f = dg.function(lambda t: dg.log(t) * t)
    f(dg.tensor([0.0])); f(dg.tensor([0.0]))
    try:
        np.log(np.zeros(1))
    except RuntimeWarning as e:
        print("user:", e)
""")


def test_numpy_warnings_stay_inside_dualgraph():
    # -W error: any warning that escapes is an exception (the script would fail)
    r = subprocess.run([sys.executable, "-W", "error", "-c", SCRIPT], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "user: divide by zero encountered in log"
