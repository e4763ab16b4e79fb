"""dualgraph/allocator.py: at import, glibc's malloc thresholds are fixed so that numpy's large
temporaries reuse freed memory instead of faulting in fresh pages every step; the opt-out and
the user's own malloc settings are respected. Each case runs in a fresh interpreter (the
thresholds are process-wide and set once)."""
import os
import subprocess
import sys
import textwrap

import pytest

from dualgraph import allocator

GLIBC = allocator._glibc() is not None

# Two 3 MiB arrays made and freed per step: with glibc's own thresholds the second free leaves
# twice the mmap threshold free at the top of the heap, which glibc then gives back, so every
# step faults its 6 MiB in again (~1500 pages a step); fixed thresholds keep it.
FAULTS = textwrap.dedent("""
    import resource, numpy as np, dualgraph
    def step():
        a = np.ones(3 << 18, np.float32); b = np.ones(3 << 18, np.float32); del a; del b
    for _ in range(3):
        step()
    r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        step()
    print(dualgraph.allocator.STATUS[0])
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0)
""")


def _run(**env):
    full = {k: v for k, v in os.environ.items()
            if k not in ("DUALGRAPH_MALLOC_TUNING", "MALLOC_MMAP_THRESHOLD_",
                         "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")}
    full.update(env)
    r = subprocess.run([sys.executable, "-c", FAULTS], capture_output=True, text=True, env=full)
    assert r.returncode == 0, r.stderr
    status, faults = r.stdout.strip().splitlines()
    return status, int(faults)


@pytest.mark.skipif(not GLIBC, reason="malloc tuning applies to glibc only")
def test_import_fixes_the_thresholds_and_steps_stop_faulting():
    status, faults = _run()
    assert status.startswith("on (M_MMAP_THRESHOLD 32 MiB")
    assert faults < 100, faults
    # the same steps with glibc's own thresholds fault every time: the check can tell
    status, faults = _run(DUALGRAPH_MALLOC_TUNING="0")
    assert status == "off (DUALGRAPH_MALLOC_TUNING=0)"
    assert faults > 1000, faults


@pytest.mark.skipif(not GLIBC, reason="malloc tuning applies to glibc only")
@pytest.mark.parametrize("env", [{"MALLOC_TRIM_THRESHOLD_": "1000000000"},
                                 {"MALLOC_MMAP_THRESHOLD_": "65536"},
                                 {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1000000000"}])
def test_the_users_malloc_settings_win(env):
    status, _ = _run(**env)
    assert status == "off (the environment sets malloc's thresholds)"


def test_tune_runs_once_and_says_what_it_did():
    first = allocator.STATUS[0]
    assert first is not None             # dualgraph's import ran it
    assert allocator.tune() == first
    if not GLIBC:
        assert first.startswith("off")
