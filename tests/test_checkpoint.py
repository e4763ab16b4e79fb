"""dg.save / dg.load: round trips of state dicts, optimizer states and plain containers; atomic
replacement (a save that fails halfway leaves the previous checkpoint loadable); truncated,
corrupted and foreign files refused with a dualgraph error; nothing executes code on load."""
import io
import json
import math
import os
import pickle
import warnings
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import dualgraph as dg
from dualgraph import nn, optim, serialization
from dualgraph.serialization import CheckpointError


def model():
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                         nn.Linear(2 * 4 * 4, 3))


def trained():
    dg.manual_seed(0)
    m = model()
    opt = optim.Adam(m.parameters(), lr=1e-2)
    x, y = dg.randn(4, 1, 6, 6), dg.tensor([0, 1, 2, 1])
    for _ in range(3):
        opt.zero_grad()
        nn.functional.cross_entropy(m(x), y).backward()
        opt.step()
    return m, opt, x


def same(a, b):
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, dg.Tensor):
        assert a.dtype == b.dtype and tuple(a.shape) == tuple(b.shape)
        assert a.requires_grad == b.requires_grad
        assert np.array_equal(a.detach().numpy(), b.detach().numpy(), equal_nan=True)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    else:
        assert a == b


def test_model_and_optimizer_round_trip(tmp_path):
    m, opt, x = trained()
    path = tmp_path / "ckpt.dg"
    dg.save({"model": m.state_dict(), "optim": opt.state_dict(), "epoch": 3}, path)
    ck = dg.load(path)
    assert list(ck) == ["model", "optim", "epoch"] and ck["epoch"] == 3
    assert isinstance(ck["model"], OrderedDict) and list(ck["model"]) == list(m.state_dict())
    same(ck["model"], m.state_dict())
    assert ck["model"]["1.num_batches_tracked"].dtype == dg.int64
    assert list(ck["optim"]["state"]) == [0, 1, 2, 3, 4, 5]      # int keys survive
    same(ck["optim"], opt.state_dict())
    m2 = model()
    m2.load_state_dict(ck["model"])
    o2 = optim.Adam(m2.parameters(), lr=1e-2)
    o2.load_state_dict(ck["optim"])
    m.eval(), m2.eval()
    assert np.array_equal(m(x).detach().numpy(), m2(x).detach().numpy())
    # both continue identically
    y = dg.tensor([0, 1, 2, 1])
    for mm, oo in ((m, opt), (m2, o2)):
        mm.train()
        oo.zero_grad()
        nn.functional.cross_entropy(mm(x), y).backward()
        oo.step()
    for p, q in zip(m.parameters(), m2.parameters()):
        assert np.array_equal(p.detach().numpy(), q.detach().numpy())


def test_plain_containers_round_trip(tmp_path):
    obj = OrderedDict([
        ("z", 1), ("a", [1, 2.5, True, None, "s", (3, (4,))]), (7, {"nested": {(1, 2): "tuple key"}}),
        ("floats", [float("inf"), -float("inf"), float("nan"), -0.0, 1e-310]),
        ("big", 2 ** 70), ("t64", dg.tensor([1.5, 2.5], dtype=dg.float64)),
        ("f16", dg.tensor([1.0], dtype=dg.float16)), ("bool", dg.tensor([True, False])),
        ("i8", dg.tensor([-3], dtype=dg.int8)), ("u8", dg.tensor([200], dtype=dg.uint8)),
        ("scalar", dg.tensor(3.0)), ("empty", dg.zeros(0, 3)), ("grad", dg.ones(2, requires_grad=True)),
        ("param", nn.Parameter(dg.ones(2))), ("frozen", nn.Parameter(dg.ones(1), requires_grad=False)),
        ("np", np.arange(6, dtype=np.int32).reshape(2, 3)), ("npscalar", np.float64(2.5)),
        ("dtype", dg.float64), ("size", dg.zeros(2, 3).shape), ("empty dict", {}), ("empty list", []),
    ])
    for f in (tmp_path / "a.dg", io.BytesIO()):
        dg.save(obj, f)
        if isinstance(f, io.BytesIO):
            f.seek(0)
        back = dg.load(f)
        same(back, obj)
    assert isinstance(back["param"], nn.Parameter) and back["param"].requires_grad
    assert isinstance(back["frozen"], nn.Parameter) and not back["frozen"].requires_grad
    assert type(back["a"][5]) is tuple and type(back[7]) is dict
    assert math.copysign(1, back["floats"][3]) == -1


def test_shared_tensors_stay_shared_and_views_are_copied(tmp_path):
    t = dg.arange(6.0)
    view = t[2:4]
    dg.save({"a": t, "b": t, "v": view}, tmp_path / "s.dg")
    back = dg.load(tmp_path / "s.dg")
    assert back["a"] is back["b"]
    assert back["v"].tolist() == [2.0, 3.0]
    with zipfile.ZipFile(tmp_path / "s.dg") as z:
        assert len([n for n in z.namelist() if n.endswith(".npy")]) == 2


def test_unsupported_objects_are_refused_before_writing(tmp_path):
    path = tmp_path / "x.dg"
    for bad in [object(), {"f": lambda: 0}, {1, 2}, [nn.Linear(1, 1)], np.array([object()]),
                type("D", (dict,), {})(a=1)]:
        with pytest.raises(TypeError) as e:
            dg.save(bad, path)
        assert isinstance(e.value, dg.DualGraphError)
        assert not path.exists()
    loop = []
    loop.append(loop)
    with pytest.raises(TypeError, match="contains itself"):
        dg.save(loop, path)
    assert os.listdir(tmp_path) == []


def test_save_killed_halfway_keeps_previous_checkpoint(tmp_path, monkeypatch):
    m, opt, _ = trained()
    path = tmp_path / "ckpt.dg"
    dg.save(m.state_dict(), path)
    good = path.read_bytes()
    calls = {"n": 0}
    real = serialization._write_array

    def dying(fh, arr):
        calls["n"] += 1
        if calls["n"] == 3:
            real(fh, arr[: arr.size // 2] if arr.ndim == 1 else arr)
            raise KeyboardInterrupt("killed mid-save")
        real(fh, arr)

    monkeypatch.setattr(serialization, "_write_array", dying)
    with dg.no_grad():
        for p in m.parameters():
            p.add_(1.0)
    with pytest.raises(KeyboardInterrupt):
        dg.save({"model": m.state_dict(), "optim": opt.state_dict()}, path)
    assert calls["n"] == 3
    assert path.read_bytes() == good                       # untouched
    assert os.listdir(tmp_path) == ["ckpt.dg"]              # no temporary file left behind
    back = dg.load(path)
    m2 = model()
    m2.load_state_dict(back)                               # the previous checkpoint loads
    monkeypatch.setattr(serialization, "_write_array", real)
    dg.save(m.state_dict(), path)                          # and a later save replaces it
    assert float(dg.load(path)["4.bias"][0]) == pytest.approx(float(m[4].bias[0]))


def test_truncated_and_corrupted_files_are_refused(tmp_path):
    m, opt, _ = trained()
    path = tmp_path / "ckpt.dg"
    dg.save({"model": m.state_dict(), "optim": opt.state_dict()}, path)
    blob = path.read_bytes()
    for n in (0, 3, 10, len(blob) // 3, len(blob) // 2, len(blob) - 30, len(blob) - 1):
        bad = tmp_path / f"trunc{n}.dg"
        bad.write_bytes(blob[:n])
        with pytest.raises(CheckpointError) as e:
            dg.load(bad)
        assert isinstance(e.value, dg.DualGraphError) and isinstance(e.value, RuntimeError)
    # flip bytes inside the array data and inside the manifest: CRCs catch both
    with zipfile.ZipFile(path) as z:
        infos = {i.filename: i for i in z.infolist()}
    for name in ("dualgraph/arrays/0.npy", "dualgraph/manifest.json"):
        info = infos[name]
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
        pos = start + info.compress_size // 2
        corrupt = bytearray(blob)
        corrupt[pos] ^= 0xFF
        bad = tmp_path / "corrupt.dg"
        bad.write_bytes(bytes(corrupt))
        with pytest.raises(CheckpointError, match="corrupted or truncated"):
            dg.load(bad)


def test_foreign_files_are_refused(tmp_path):
    cases = {
        "random.bin": os.urandom(256),
        "text.txt": b"hello world\n",
        "pickle.pkl": pickle.dumps({"a": 1}),
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(CheckpointError):
            dg.load(tmp_path / name)
    with pytest.raises(CheckpointError, match="never unpickles"):
        dg.load(tmp_path / "pickle.pkl")
    z = tmp_path / "other.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(CheckpointError, match="zip archive but not a dualgraph checkpoint"):
        dg.load(z)
    # a checkpoint from a newer format version
    newer = tmp_path / "newer.dg"
    with zipfile.ZipFile(newer, "w") as zf:
        zf.writestr("dualgraph/format", "DUALGRAPH-CHECKPOINT\nversion=99\n")
        zf.writestr("dualgraph/manifest.json", "{}")
    with pytest.raises(CheckpointError, match="format version 99"):
        dg.load(newer)
    # a manifest that points at an array that is not there
    broken = tmp_path / "broken.dg"
    with zipfile.ZipFile(broken, "w") as zf:
        zf.writestr("dualgraph/format", "DUALGRAPH-CHECKPOINT\nversion=1\n")
        zf.writestr("dualgraph/manifest.json",
                    '{"format": "DUALGRAPH-CHECKPOINT", "version": 1, "root": {"$tensor": 0}, "arrays": []}')
    with pytest.raises(CheckpointError, match="missing array"):
        dg.load(broken)
    with pytest.raises(FileNotFoundError):
        dg.load(tmp_path / "does-not-exist.dg")


def test_object_arrays_in_a_crafted_file_are_refused(tmp_path):
    """A hand-made checkpoint carrying a pickled object array: np.load(allow_pickle=False)
    refuses it, so loading raises instead of unpickling."""
    buf = io.BytesIO()
    np.save(buf, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    evil = tmp_path / "evil.dg"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("dualgraph/format", "DUALGRAPH-CHECKPOINT\nversion=1\n")
        zf.writestr("dualgraph/manifest.json",
                    '{"format": "DUALGRAPH-CHECKPOINT", "version": 1, "root": {"$ndarray": 0}, '
                    '"arrays": [{"kind": "ndarray", "dtype": "|O", "shape": [1]}]}')
        zf.writestr("dualgraph/arrays/0.npy", buf.getvalue())
    with pytest.raises(CheckpointError):
        dg.load(evil)


def test_torch_files_are_refused(tmp_path):
    torch = pytest.importorskip("torch")
    p = tmp_path / "torch.pt"
    torch.save({"w": torch.ones(2)}, p)
    with pytest.raises(CheckpointError, match="PyTorch"):
        dg.load(p)
    old = tmp_path / "old.pt"
    torch.save({"w": torch.ones(2)}, old, _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError, match="pickle"):
        dg.load(old)


def test_dg_checkpoint_loads_into_torch_model_via_numpy(tmp_path):
    """Interchange the other way round: a dualgraph state dict feeds a PyTorch model."""
    torch = pytest.importorskip("torch")
    m, _, x = trained()
    dg.save(m.state_dict(), tmp_path / "m.dg")
    sd = dg.load(tmp_path / "m.dg")
    tm = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.ReLU(),
                             torch.nn.Flatten(), torch.nn.Linear(2 * 4 * 4, 3))
    tm.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in sd.items()})
    m.eval(), tm.eval()
    assert np.allclose(m(x).detach().numpy(), tm(torch.from_numpy(x.numpy())).detach().numpy(), atol=1e-5)


def test_map_location_and_weights_only():
    buf = io.BytesIO()
    dg.save([dg.ones(1)], buf)
    buf.seek(0)
    assert dg.load(buf, map_location="cpu", weights_only=True)[0].tolist() == [1.0]
    buf.seek(0)
    with pytest.raises(RuntimeError, match="CUDA"):
        dg.load(buf, map_location="cuda")


# ---------------------------------------------------------------- hardened loading (issue 8)
def _members(blob):
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        return [(i.filename, z.read(i)) for i in z.infolist()]


def _pack(members, compress=None):
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w") as zf:
        warnings.simplefilter("ignore")     # duplicate names are what some tests want
        for n, c in members:
            zf.writestr(zipfile.ZipInfo(n), c,
                        compress_type=(compress or {}).get(n, zipfile.ZIP_STORED))
    return buf.getvalue()


def _small_checkpoint():
    buf = io.BytesIO()
    lin = nn.Linear(3, 2)
    dg.save({"model": lin.state_dict(), "step": 1}, buf)
    return buf.getvalue()


def test_checkpoint_error_is_exported_and_is_a_value_and_runtime_error():
    assert dg.CheckpointError is CheckpointError
    assert issubclass(CheckpointError, dg.DualGraphError)
    assert issubclass(CheckpointError, ValueError) and issubclass(CheckpointError, RuntimeError)


def test_save_writes_every_member_stored_and_refuses_unsupported_numpy_dtypes(tmp_path):
    blob = _small_checkpoint()
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_STORED}
    for bad in (np.array(["2020-01-01"], dtype="datetime64[D]"), np.array([1], dtype=np.longdouble),
                np.array([b"x"]), np.zeros(1, dtype=[("a", "<f4")])):
        with pytest.raises(TypeError, match="cannot store numpy arrays of dtype"):
            dg.save({"x": bad}, tmp_path / "x.dg")


def test_more_round_trips_stream_fortran_big_endian_complex():
    obj = {"f": np.asfortranarray(np.arange(6.0).reshape(2, 3)), "be": np.arange(3, dtype=">i4"),
           "c": np.array([1 + 2j], dtype=np.complex64), "u16": np.array([7], dtype=np.uint16),
           "e": np.zeros((0, 2 ** 40), dtype=np.float32), "t": dg.zeros(2, 0)}

    class Sink(io.RawIOBase):        # not seekable: zipfile writes data descriptors
        def __init__(self):
            self.b = bytearray()

        def writable(self):
            return True

        def write(self, b):
            self.b += b
            return len(b)

    class Source(io.RawIOBase):
        def __init__(self, b):
            self.f = io.BytesIO(b)

        def readable(self):
            return True

        def readinto(self, buf):
            return self.f.readinto(buf)

    sink = Sink()
    dg.save(obj, sink)
    for src in (io.BytesIO(bytes(sink.b)), Source(bytes(sink.b))):
        back = dg.load(src)
        same(back, obj)
        assert back["be"].dtype.str == ">i4" and back["f"].flags.f_contiguous


def test_compression_method_changed_in_central_directory_is_refused():
    blob = bytearray(_small_checkpoint())
    cd = blob.rfind(b"PK\x05\x06")
    cd_off = int.from_bytes(blob[cd + 16:cd + 20], "little")
    blob[cd_off + 10:cd_off + 12] = (8).to_bytes(2, "little")     # first entry: deflated
    with pytest.raises(CheckpointError, match=r"'dualgraph/format' is compressed \(method 8\)"):
        dg.load(io.BytesIO(bytes(blob)))


def test_deflated_members_and_zip_bombs_are_refused_without_inflating():
    ms = _members(_small_checkpoint())
    deflated = _pack(ms, {"dualgraph/arrays/0.npy": zipfile.ZIP_DEFLATED})
    with pytest.raises(CheckpointError, match=r"'dualgraph/arrays/0.npy' is compressed"):
        dg.load(io.BytesIO(deflated))
    # a bomb: about 250 KiB of deflate expanding to 256 MiB, declared honestly
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w") as zf:
        for n, c in ms:
            if n == "dualgraph/manifest.json":
                zinfo = zipfile.ZipInfo(n)
                zinfo.compress_type = zipfile.ZIP_DEFLATED
                with zf.open(zinfo, "w", force_zip64=True) as w:
                    chunk = bytes(1 << 20)
                    for _ in range(256):
                        w.write(chunk)
            else:
                zf.writestr(zipfile.ZipInfo(n), c)
    data = bomb.getvalue()
    assert len(data) < 2 << 20
    with pytest.raises(CheckpointError, match="compressed"):
        dg.load(io.BytesIO(data))


def test_non_dict_manifest_records_name_the_field():
    ms = dict(_members(_small_checkpoint()))
    man = json.loads(ms["dualgraph/manifest.json"])
    for bad, msg in (("str", r"arrays\[1\] must be an object, not str"),
                     (None, r"arrays\[1\] must be an object"),
                     ({"kind": "tensor"}, r"arrays\[1\] \(tensor\) must have exactly the fields"),
                     (dict(man["arrays"][1], shape=[-2]), r"arrays\[1\]\.shape"),
                     (dict(man["arrays"][1], dtype="|O"), r"arrays\[1\]\.dtype '\|O'"),
                     (dict(man["arrays"][1], requires_grad="yes"), r"arrays\[1\]\.requires_grad")):
        m = json.loads(json.dumps(man))
        m["arrays"][1] = bad
        blob = _pack(list(dict(ms, **{"dualgraph/manifest.json": json.dumps(m).encode()}).items()))
        with pytest.raises(CheckpointError, match=msg):
            dg.load(io.BytesIO(blob))


def test_huge_npy_shape_over_a_few_bytes_is_refused_before_allocating():
    ms = dict(_members(_small_checkpoint()))
    man = json.loads(ms["dualgraph/manifest.json"])
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (274877906944,), }"
    header += " " * ((-(10 + len(header) + 1)) % 64) + "\n"
    npy = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + bytes(64)
    for agree in (False, True):
        m = json.loads(json.dumps(man))
        if agree:
            m["arrays"][0]["shape"] = [2 ** 38]
        blob = _pack(list(dict(ms, **{"dualgraph/arrays/0.npy": npy,
                                      "dualgraph/manifest.json": json.dumps(m).encode()}).items()))
        with pytest.raises(CheckpointError, match="arrays/0.npy|arrays\\[0\\]"):
            dg.load(io.BytesIO(blob))


def test_flipped_compressed_size_and_bad_offsets_are_refused_without_big_reads(tmp_path):
    blob = _small_checkpoint()
    cd = blob.rfind(b"PK\x05\x06")
    cd_off = int.from_bytes(blob[cd + 16:cd + 20], "little")
    for field, byte in ((20, 3), (24, 3), (42, 3), (42, 0)):
        bad = bytearray(blob)
        bad[cd_off + field + byte] ^= 0x80       # compressed size / file size / header offset
        p = tmp_path / "bad.dg"
        p.write_bytes(bytes(bad))
        with pytest.raises(CheckpointError, match="corrupted or truncated"):
            dg.load(p)


def test_pickles_object_dtypes_traversal_and_duplicate_names_are_refused():
    ms = _members(_small_checkpoint())
    d = dict(ms)
    cases = {
        "pickle member": ms + [("data.pkl", pickle.dumps({"a": 1}))],
        "pickle as an array": list(dict(d, **{"dualgraph/arrays/0.npy": pickle.dumps(1)}).items()),
        "traversal": [(("../" + n) if n.endswith("0.npy") else n, c) for n, c in ms],
        "absolute": [(("/" + n) if n.endswith("manifest.json") else n, c) for n, c in ms],
        "duplicate": ms[:2] + [ms[1]] + ms[2:],
    }
    for what, members in cases.items():
        with pytest.raises(CheckpointError):
            dg.load(io.BytesIO(_pack(members)))
    np_obj = io.BytesIO()
    np.save(np_obj, np.array([1], dtype=object), allow_pickle=True)
    with pytest.raises(CheckpointError, match="malformed .npy header|does not match"):
        dg.load(io.BytesIO(_pack(list(dict(d, **{"dualgraph/arrays/0.npy": np_obj.getvalue()}).items()))))
