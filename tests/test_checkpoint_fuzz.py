"""dg.load under fuzzing: thousands of deterministic corruptions of small valid checkpoints
(truncations, byte flips, header field rewrites in local headers / central directory / end
record, data-byte flips, manifest JSON mutations of every field, hostile .npy headers, pickles,
zip bombs, traversal and duplicate names), each run in a child process under an address-space
limit and a time bound. Each must load an object equal to the original or raise
dg.CheckpointError; anything else (another exception, MemoryError, a hang, code execution, an
allocation the file does not justify) fails with the corruption's description.

DG_FUZZ_N=20000 python -m pytest -q tests/test_checkpoint_fuzz.py   # the long run
"""
import collections
import functools
import io
import json
import math
import os
import struct
import tempfile
import zlib
from collections import OrderedDict

import numpy as np
import pytest

import fuzz_harness as fh
from fuzz_harness import Case

N = int(os.environ.get("DG_FUZZ_N", "2000"))
SEED = int(os.environ.get("DG_FUZZ_SEED", "0"))
FORMAT = "dualgraph/format"
MANIFEST = "dualgraph/manifest.json"


# ============================================================ seeds, loader, equality
def make_seeds():
    import dualgraph as dg
    from dualgraph import nn, optim
    dg.manual_seed(0)
    lin = nn.Linear(3, 2)
    opt = optim.Adam(lin.parameters(), lr=1e-2)
    lin(dg.randn(4, 3)).sum().backward()
    opt.step()
    t = dg.arange(4.0)
    seeds_objs = [
        {"model": lin.state_dict(), "optim": opt.state_dict(), "epoch": 3},
        OrderedDict([
            ("b", dg.tensor([True, False])), ("i64", dg.tensor([1, -2], dtype=dg.int64)),
            ("f16", dg.tensor([1.5], dtype=dg.float16)), ("zero_d", dg.tensor(2.0)),
            ("empty", dg.zeros(0, 3)), ("u8", dg.tensor([7], dtype=dg.uint8)),
            ("shared", [t, t]), ("grad", dg.ones(2, requires_grad=True)),
            ("param", nn.Parameter(dg.ones(1))), (5, {(1, "k"): (None, 2.5, "s")}),
            ("np", np.arange(6, dtype=np.int32).reshape(2, 3)), ("npf", np.float64(0.5)),
            ("fortran", np.asfortranarray(np.arange(6.0).reshape(2, 3))),
            ("big_endian", np.arange(3, dtype=">i4")),
            ("floats", [float("inf"), float("nan"), -0.0, 2 ** 70]),
            ("dtype", dg.float16), ("size", dg.Size([2, 3])), ("nothing", {}),
        ]),
        [],
    ]
    out = []
    for obj in seeds_objs:
        b = io.BytesIO()
        dg.save(obj, b)
        out.append(b.getvalue())
    # the same first checkpoint written to a non-seekable stream: data descriptors
    sink = _Sink()
    dg.save(seeds_objs[0], sink)
    out.append(bytes(sink.buf))
    return [fh.zip_fix_times(b) for b in out]     # no timestamps: every run fuzzes the same bytes


class _Sink(io.RawIOBase):
    def __init__(self):
        self.buf = bytearray()

    def writable(self):
        return True

    def write(self, b):
        self.buf += b
        return len(b)


class _Stream(io.RawIOBase):
    """A non-seekable reader."""
    def __init__(self, data):
        self._b = io.BytesIO(data)

    def readable(self):
        return True

    def readinto(self, buf):
        return self._b.readinto(buf)


def load(data):
    """dg.load on the bytes three ways: from a path, a BytesIO and a non-seekable stream; all
    three must agree (each refuses with CheckpointError, or each loads the same object)."""
    import dualgraph as dg
    from dualgraph.serialization import CheckpointError
    path = os.path.join(os.environ.get("FUZZ_HARNESS_TMP") or tempfile.gettempdir(), "case.dg")
    with open(path, "wb") as f:
        f.write(data)
    outcomes = []
    for how, src in (("path", lambda: path), ("BytesIO", lambda: io.BytesIO(data)),
                     ("stream", lambda: _Stream(data))):
        try:
            outcomes.append((how, True, dg.load(src())))
        except CheckpointError as e:
            outcomes.append((how, False, e))
    first = outcomes[0]
    for how, ok, got in outcomes[1:]:
        if ok != first[1] or (ok and not equal(first[2], got)):
            raise AssertionError(f"loading from a {first[0]} and from a {how} disagree: "
                                 f"{first[2]!r:.200} vs {got!r:.200}")
    if not first[1]:
        raise first[2]
    return first[2]


def equal(a, b, memo=None):
    import dualgraph as dg
    memo = {} if memo is None else memo
    if type(a) is not type(b):
        return False
    if isinstance(a, dg.Tensor):
        if id(a) in memo:
            return memo[id(a)] is b
        memo[id(a)] = b
        return (a.dtype == b.dtype and tuple(a.shape) == tuple(b.shape)
                and a.requires_grad == b.requires_grad
                and np.array_equal(a.detach().numpy(), b.detach().numpy(), equal_nan=True))
    if isinstance(a, dict):
        return len(a) == len(b) and all(equal(ka, kb, memo) and equal(va, vb, memo)
                                        for (ka, va), (kb, vb) in zip(a.items(), b.items()))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(equal(x, y, memo) for x, y in zip(a, b))
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, np.generic):
        return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    return a == b


def check(obj, depth=0):
    """What a re-packed (mode "any") checkpoint loaded must still be plain data."""
    import dualgraph as dg
    from dualgraph.tensor_methods import Size
    if obj is None or type(obj) in (bool, int, float, str) or isinstance(obj, dg.dtype):
        return
    if isinstance(obj, dg.Tensor):
        from dualgraph import dtypes
        assert obj.dtype in dtypes.ALL, obj.dtype
        return
    if isinstance(obj, (np.ndarray, np.generic)):
        assert not obj.dtype.hasobject and obj.dtype.kind not in "OV", obj.dtype
        return
    if type(obj) in (dict, OrderedDict):
        for k, v in obj.items():
            check(k, depth + 1)
            check(v, depth + 1)
        return
    if type(obj) in (list, tuple, Size):
        for v in obj:
            check(v, depth + 1)
        return
    raise AssertionError(f"unexpected {type(obj).__module__}.{type(obj).__qualname__}")


# ============================================================ checkpoint-specific families
def _ckpt_seeds(seeds):
    return [(si, fh.zip_members(s)) for si, s in enumerate(seeds)]


def _repack(ms, replace):
    return fh.zip_pack([fh.stored(n, replace.get(n, c)) for n, c in ms])


def manifest_mutations(seeds, rng, k):
    """Every field of the manifest JSON mutated (the archive re-packed with valid CRCs)."""
    per = max(1, k // len(seeds) + 1)
    groups = []
    for si, ms in _ckpt_seeds(seeds):
        doc = json.loads(dict(ms)[MANIFEST])
        g = []
        for desc, text, mode in fh.json_mutations(doc, rng, per):
            g.append(Case(f"seed {si}: manifest {desc}", functools.partial(
                _repack, ms, {MANIFEST: text.encode("utf-8", "surrogatepass")}), mode, si))
        raw = dict(ms)[MANIFEST]
        for bad, desc in ((raw[:-1] + b"\xff}", "invalid UTF-8"), (raw + b"\0", "a NUL after"),
                          (b"\xef\xbb\xbf" + raw, "a BOM first"),
                          (raw.decode().encode("utf-16"), "UTF-16")):
            g.append(Case(f"seed {si}: manifest {desc}", _repack(ms, {MANIFEST: bad}), "any", si))
        groups.append(g)
    return fh.spread(groups, k, rng)


def format_mutations(seeds, rng, k):
    """The dualgraph/format member rewritten."""
    vals = ["DUALGRAPH-CHECKPOINT\nversion=0\n", "DUALGRAPH-CHECKPOINT\nversion=-1\n",
            "DUALGRAPH-CHECKPOINT\nversion=2\n", "DUALGRAPH-CHECKPOINT\nversion=99\n",
            "DUALGRAPH-CHECKPOINT\nversion=" + "9" * 5000 + "\n",
            "DUALGRAPH-CHECKPOINT\nversion=1e3\n", "DUALGRAPH-CHECKPOINT\nversion= 1\n",
            "DUALGRAPH-CHECKPOINT\nversion=01\n", "DUALGRAPH-CHECKPOINT\nversion=1",
            "DUALGRAPH-CHECKPOINT\r\nversion=1\r\n", "DUALGRAPH-CHECKPOINT\n",
            "DUALGRAPH-CHECKPOINT", "", "\n", "DUALGRAPH-CHECKPOINT\nversion=1\nextra\n",
            "dualgraph-checkpoint\nversion=1\n", "DUALGRAPH-CHECKPOINT\nversion=\n",
            "DUALGRAPH-CHECKPOINT\nversion=one\n", "x" * 100000,
            "DUALGRAPH-CHECKPOINT\nversion=1\n" + "\n" * 1000]
    out = []
    for si, ms in _ckpt_seeds(seeds):
        for v in vals:
            out.append(Case(f"seed {si}: format member {v[:60]!r}",
                            _repack(ms, {FORMAT: v.encode()}), "any", si))
        out.append(Case(f"seed {si}: format member invalid UTF-8",
                        _repack(ms, {FORMAT: b"DUALGRAPH-CHECKPOINT\nversion=\xff\n"}), "any", si))
    return fh.spread([out], k, rng)


def _npy(descr, fortran, shape, data=b"", *, version=(1, 0), raw_header=None, hlen=None,
         magic=b"\x93NUMPY"):
    if raw_header is None:
        raw_header = ("{'descr': %s, 'fortran_order': %s, 'shape': %s, }"
                      % (descr, fortran, shape))
    h = raw_header.encode("latin1") if isinstance(raw_header, str) else raw_header
    pre = 10 if version[0] == 1 else 12
    pad = (-(pre + len(h) + 1)) % 64
    h = h + b" " * pad + b"\n"
    n = len(h) if hlen is None else hlen
    lenfield = struct.pack("<H", n & 0xFFFF) if version[0] == 1 else struct.pack("<I", n & 0xFFFFFFFF)
    return magic + bytes(version) + lenfield + h + data


def _patched(doc, i, dtype=None, shape=None):
    doc = json.loads(json.dumps(doc))
    if dtype is not None:
        doc["arrays"][i]["dtype"] = dtype
    if shape is not None:
        doc["arrays"][i]["shape"] = shape
    return json.dumps(doc).encode()


def npy_mutations(seeds, rng, k):
    """Hostile .npy members: huge declared shapes over a few bytes, negative dims, wrong and
    object dtypes (with a pickle payload), fortran_order garbage, header-length lies, bad magic
    and versions, code in the header; with the manifest left alone or patched to agree."""
    groups = collections.defaultdict(list)
    for si, ms in _ckpt_seeds(seeds):
        d = dict(ms)
        doc = json.loads(d[MANIFEST])
        for i, rec in enumerate(doc["arrays"]):
            name = f"dualgraph/arrays/{i}.npy"
            real = d[name]
            arr = np.load(io.BytesIO(real), allow_pickle=False)
            data = arr.tobytes()     # C order, so the headers below say fortran_order False
            descr, shp = repr(arr.dtype.str), repr(tuple(arr.shape))

            def add(g, desc, member, mode, manifest=None):
                rep = {name: member}
                if manifest is not None:
                    rep[MANIFEST] = manifest
                groups[g].append(Case(f"seed {si}: {name} {desc}",
                                      functools.partial(_repack, ms, rep), mode, si))

            # the case: 2**38 elements over 64 bytes, manifest agreeing
            for big in ((2 ** 38,), (2 ** 62,), (2 ** 31, 2 ** 31), (2 ** 63 - 1,), (10 ** 30,),
                        (2 ** 40, 0), (0, 2 ** 70), (2 ** 32 + 1,), (3,) * 40, (1,) * 70):
                blob = _npy(descr, False, repr(big), b"\0" * 64)
                add("huge", f"declares shape {big} over 64 bytes", blob, "error")
                add("huge", f"declares shape {big} over 64 bytes, manifest agrees", blob, "error",
                    _patched(doc, i, shape=list(big)))
            for neg in ((-1,), (2, -3), (-(2 ** 63),), (-1, -1)):
                blob = _npy(descr, False, repr(neg), data)
                add("negative", f"shape {neg}", blob, "error")
                add("negative", f"shape {neg}, manifest agrees", blob, "error",
                    _patched(doc, i, shape=list(neg)))
            for bad in ("(1.5,)", "('a',)", "[2, 3]", "None", "(True,)", "((1,),)", "2", "(1, 2",
                        "(" * 300 + ")" * 300, "(0x10,)", "(1_000,)", "(2**38,)"):
                add("shape", f"shape {bad[:30]}", _npy(descr, False, bad, data), "error")
            add("pickle", "object dtype with a pickle payload",
                _npy("'|O'", False, shp, fh.pwn_pickle()), "error")
            add("pickle", "object dtype with a pickle payload, manifest agrees",
                _npy("'|O'", False, "(1,)", fh.pwn_pickle()), "error",
                _patched(doc, i, dtype="|O", shape=[1]))
            add("pickle", "replaced by a bare pickle", fh.pwn_pickle(), "error")
            for dt in ("'O'", "'<U4'", "'|S4'", "'|V8'", "'<M8[s]'", "'<m8[s]'", "'<f16'",
                       "'<c8'", "'<i4'", "'<f4'", "'>f4'", "'<f8'", "'|b1'", "'<u8'", "'int'",
                       "''", "'<f0'", "'<f4 '", "[('a', '<f4')]", "('<f4', (10000000000,))",
                       "'<f4' if 1 else 0", "__import__('os').getpid()", "b'<f4'", "1",
                       "{'a': 1}", "'" + "x" * 1000 + "'"):
                blob = _npy(dt, False, shp, data)
                add("dtype", f"dtype {dt[:30]}", blob, "equal")
                try:
                    plain = eval(dt, {"__builtins__": {}}) if dt.startswith("'") else None  # noqa: S307
                except Exception:  # noqa: BLE001
                    plain = None
                if isinstance(plain, str):
                    add("dtype", f"dtype {dt[:30]}, manifest agrees", blob, "any",
                        _patched(doc, i, dtype=plain))
            for fo in ("1", "0", "'yes'", "None", "'False'", "True", "False ", "[]"):
                add("fortran", f"fortran_order {fo}", _npy(descr, fo, shp, data),
                    "any" if fo == "True" else "equal")
            n = len(_npy(descr, False, shp))
            hl = n - 10
            for lie in (0, 1, hl - 1, hl + 1, hl + 64, 0xFFFF, len(real), len(real) - 9):
                add("hlen", f"header length {lie} (true {hl})",
                    _npy(descr, False, shp, data, hlen=lie), "equal")
            for lie in (0xFFFFFFFF, 1 << 30, hl + 2):
                add("hlen", f"v2 header length {lie}",
                    _npy(descr, False, shp, data, version=(2, 0), hlen=lie), "equal")
            add("version", "a valid version 2.0 header", _npy(descr, False, shp, data, version=(2, 0)),
                "equal")
            add("version", "a version 3.0 header", _npy(descr, False, shp, data, version=(3, 0)),
                "equal")
            for v in ((0, 0), (9, 9), (1, 1), (255, 255)):
                add("version", f"version {v}", _npy(descr, False, shp, data, version=v), "equal")
            for mg in (b"\x93NUMPX", b"\x93numpy", b"PK\x03\x04\0\0", b"\x80\x02NUMP"):
                add("magic", f"magic {mg!r}", _npy(descr, False, shp, data, magic=mg), "equal")
            for rh in ("{'descr': %s, 'shape': %s, }" % (descr, shp),
                       "{'descr': %s, 'fortran_order': False, }" % descr,
                       "{'descr': %s, 'fortran_order': False, 'shape': %s, 'x': 1}" % (descr, shp),
                       "[1, 2]", "", "{}", "{'descr': %s, 'fortran_order': False, 'shape': %s, "
                       "'x': __import__('os').system('true')}" % (descr, shp),
                       "{" * 500 + "}" * 500, "{'descr': %s, 'fortran_order': False, 'shape': %s}"
                       % (descr, shp), "{'descr': %s,'fortran_order':False,'shape':%s}" % (descr, shp),
                       "{\"descr\": %s, \"fortran_order\": False, \"shape\": %s, }" % (descr, shp),
                       b"{'descr': \xff, }", "{'shape': %s, 'fortran_order': False, 'descr': %s, }"
                       % (shp, descr)):
                add("header", f"header {str(rh)[:50]!r}", _npy(None, None, None, data, raw_header=rh),
                    "equal")
            for cut in (1, len(data) // 2 or 1, 8):
                if cut <= len(data):
                    add("data", f"data {cut} bytes short", _npy(descr, False, shp, data[:-cut]), "equal")
            add("data", "data 1 byte long", _npy(descr, False, shp, data + b"\0"), "equal")
            add("data", "data 4096 bytes long", _npy(descr, False, shp, data + bytes(4096)), "equal")
            add("data", "empty member", b"", "equal")
            add("data", "header only, no newline", real[:9], "equal")
            add("manifest", "manifest shape doubled", real, "equal",
                _patched(doc, i, shape=[2 * x for x in rec["shape"]] or [2]))
            add("manifest", "manifest dtype changed", real, "equal",
                _patched(doc, i, dtype="<f8" if rec["dtype"] != "<f8" else "<f4"))
    return fh.spread(list(groups.values()), k, rng)


FAMILIES = [(fh.bytes_truncate, 200), (fh.bytes_flip, 250), (fh.bytes_insert_delete, 100),
            (fh.zip_field_rewrites, 400), (fh.zip_data_flips, 100), (fh.zip_member_edits, 200),
            (manifest_mutations, 400), (format_mutations, 50), (npy_mutations, 300)]


def run_fuzz(n=N, seed=SEED, timeout=None):
    import dualgraph as dg
    from dualgraph.serialization import CheckpointError
    err = getattr(dg, "CheckpointError", CheckpointError)
    return fh.fuzz_loader(make_seeds, load, equal, n=n, seed=seed, error=err, families=FAMILIES,
                          check=check, mem_limit=3 << 29,
                          timeout=timeout or max(120.0, n * 0.06))


def test_load_survives_fuzzing():
    report = run_fuzz()
    assert report["n"] >= min(N, 2000), report
    assert not report["escapes"] and not report.get("n_escapes"), fh.format_escapes(report)


if __name__ == "__main__":
    import sys
    import test_checkpoint_fuzz as this   # functions by their importable name, not __main__
    r = this.run_fuzz(int(sys.argv[1]) if len(sys.argv) > 1 else N)
    print(json.dumps({k: v for k, v in r.items() if k != "escapes"}, indent=1))
    print(fh.format_escapes(r, limit=200))


# ============================================================ the harness catches what it should
def _toy_seeds():
    return [b'{"a": [1, 2.5, "x"], "b": null}']


def _toy_load(data):
    return json.loads(data.decode("utf-8"))


def _toy_load_greedy(data):
    if len(data) != len(_toy_seeds()[0]):
        bytearray(4 << 30)              # over the address-space limit: a MemoryError
    return _toy_load(data)


def _toy_load_hangs(data):
    if len(data) < len(_toy_seeds()[0]):
        while True:
            pass
    return _toy_load(data)


def _toy_equal(a, b):
    return a == b


def _toy_digits(seeds, rng, k):
    return [Case(f"digit 1 -> {d}", seeds[0].replace(b"1", str(d).encode()), "equal", 0)
            for d in range(2, 2 + k)]


def test_harness_reports_escapes_memory_errors_and_hangs():
    r = fh.fuzz_loader(_toy_seeds, _toy_load, _toy_equal, n=60, error=ValueError,
                       families=[fh.bytes_flip, fh.bytes_truncate, _toy_digits])
    assert r["n"] == 60 and r["escapes"], r
    assert any("different from the original" in e["what"] for e in r["escapes"])
    r = fh.fuzz_loader(_toy_seeds, _toy_load_greedy, _toy_equal, n=20, error=ValueError,
                       families=[fh.bytes_insert_delete])
    assert any("MemoryError" in e["what"] for e in r["escapes"]), r
    r = fh.fuzz_loader(_toy_seeds, _toy_load_hangs, _toy_equal, n=20, error=ValueError,
                       families=[fh.bytes_truncate], timeout=3)
    assert len(r["escapes"]) == 1 and "did not finish" in r["escapes"][0]["what"], r
    assert "truncate seed 0" in r["escapes"][0]["desc"]
