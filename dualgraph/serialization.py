"""dg.save / dg.load: checkpoints in a format that cannot run code when loaded.

A checkpoint is a zip archive (stored, not compressed; every member CRC-checked) holding
  dualgraph/format         the magic line and the format version
  dualgraph/manifest.json  the object tree as tagged JSON, plus one record per tensor/array
  dualgraph/arrays/<i>.npy the raw arrays, written and read with allow_pickle=False
No pickle anywhere: loading only parses JSON and .npy headers, so a hostile file can at worst be
refused. Supported values: tensors (and nn.Parameters), numpy arrays and scalars, dicts (plain
and OrderedDict, any order and key type below), lists, tuples, str, int, float (inf/nan too),
bool, None, dg dtypes and dg.Size. A tensor stored twice in one object is restored as one
object.

Saving to a path writes a temporary file in the same directory, fsyncs it and os.replace()s it
into place, so a crash or an exception mid-save leaves any previous checkpoint intact.
"""
import io
import json
import math
import os
import secrets
import zipfile
from collections import OrderedDict

import numpy as np

from . import dtypes as _dt
from .errors import DGRuntimeError, DGTypeError

__all__ = ["save", "load", "CheckpointError", "FORMAT_VERSION"]

MAGIC = "DUALGRAPH-CHECKPOINT"
FORMAT_VERSION = 1
_FORMAT = "dualgraph/format"
_MANIFEST = "dualgraph/manifest.json"
_ARRAY = "dualgraph/arrays/{}.npy"


class CheckpointError(DGRuntimeError):
    """A file that is not a (complete, intact, supported) dualgraph checkpoint."""


# ================================================================ encoding
class _Encoder:
    def __init__(self):
        self.arrays = []       # numpy arrays to write, in order
        self.records = []      # manifest record per array
        self._tensor_ids = {}  # id(tensor) -> index (a tensor stored twice is stored once)
        self._keep = []        # keep encoded tensors alive so ids stay unique
        self._stack = set()

    def add_array(self, arr, **record):
        arr = np.asarray(arr)
        if arr.dtype.kind in "OUSV" or arr.dtype.hasobject:
            raise DGTypeError(f"dg.save cannot store numpy arrays of dtype {arr.dtype}")
        i = len(self.arrays)
        self.arrays.append(arr)
        record.update(dtype=arr.dtype.str, shape=list(arr.shape))
        self.records.append(record)
        return i

    def encode(self, obj):
        from .tensor import Tensor
        from .tensor_methods import TensorMethods, Size
        if isinstance(obj, np.generic):     # before float: np.float64 subclasses float
            return {"$npscalar": self.add_array(np.asarray(obj), kind="npscalar")}
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int) and not isinstance(obj, bool):
            return int(obj)
        if isinstance(obj, float):
            if math.isfinite(obj):
                return float(obj)
            return {"$float": repr(obj)}
        if isinstance(obj, TensorMethods):
            if not isinstance(obj, Tensor):
                raise DGTypeError(
                    "dg.save cannot store a symbolic (graph-mode) tensor; run the graph and save "
                    "its values, or save the variables' values")
            key = id(obj)
            if key not in self._tensor_ids:
                from .nn.parameter import Parameter
                self._keep.append(obj)
                self._tensor_ids[key] = self.add_array(
                    obj.detach().numpy(), kind="tensor", requires_grad=bool(obj.requires_grad),
                    parameter=isinstance(obj, Parameter))
            return {"$tensor": self._tensor_ids[key]}
        if isinstance(obj, np.ndarray):
            return {"$ndarray": self.add_array(obj, kind="ndarray")}
        if isinstance(obj, _dt.DType):
            return {"$dtype": obj.name}
        if isinstance(obj, Size):
            return {"$size": [self.encode(d) for d in obj]}
        if isinstance(obj, (dict, list, tuple)):
            if id(obj) in self._stack:
                raise DGTypeError("dg.save cannot store a container that contains itself")
            self._stack.add(id(obj))
            try:
                if isinstance(obj, dict):
                    if type(obj) not in (dict, OrderedDict):
                        raise DGTypeError(
                            f"dg.save cannot store a {type(obj).__name__} (a dict subclass); "
                            "convert it to dict or OrderedDict")
                    return {"$dict": [[self.encode(k), self.encode(v)] for k, v in obj.items()],
                            "ordered": type(obj) is OrderedDict}
                if isinstance(obj, list):
                    if type(obj) is not list:
                        raise DGTypeError(f"dg.save cannot store a {type(obj).__name__}")
                    return [self.encode(v) for v in obj]
                if type(obj) is not tuple:
                    raise DGTypeError(
                        f"dg.save cannot store a {type(obj).__name__} (a tuple subclass); "
                        "convert it to a tuple")
                return {"$tuple": [self.encode(v) for v in obj]}
            finally:
                self._stack.discard(id(obj))
        raise DGTypeError(
            f"dg.save cannot store an object of type {type(obj).__module__}.{type(obj).__qualname__}: "
            "only tensors, numpy arrays, dicts, lists, tuples, str, int, float, bool and None "
            "(nothing that would need code to rebuild)")


def _write_array(fh, arr):
    """Write one array as .npy (allow_pickle=False); a seam tests use to inject failures."""
    np.lib.format.write_array(fh, arr, allow_pickle=False)


def _write(enc, root, fh):
    manifest = {"format": MAGIC, "version": FORMAT_VERSION, "root": root,
                "arrays": enc.records}
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        zf.writestr(_FORMAT, f"{MAGIC}\nversion={FORMAT_VERSION}\n")
        zf.writestr(_MANIFEST, json.dumps(manifest, allow_nan=False, separators=(",", ":")))
        for i, arr in enumerate(enc.arrays):
            big = arr.nbytes > (1 << 31) - (1 << 20)
            with zf.open(_ARRAY.format(i), "w", force_zip64=big) as member:
                _write_array(member, arr)


def save(obj, f):
    """Save obj (a state dict, an optimizer state dict, or a plain container of tensors) to a
    path or a writable binary file. Paths are replaced atomically."""
    enc = _Encoder()
    root = enc.encode(obj)          # refuse unsupported objects before touching any file
    if hasattr(f, "write"):
        _write(enc, root, f)
        return
    path = os.fspath(f)
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            _write(enc, root, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)


def _fsync_dir(directory):
    if os.name != "posix":
        return
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


# ================================================================ decoding
class _Decoder:
    def __init__(self, zf, records, name):
        self.zf = zf
        self.records = records
        self.name = name
        self._cache = {}

    def array(self, i):
        if not isinstance(i, int) or not 0 <= i < len(self.records):
            raise CheckpointError(f"{self.name}: the manifest refers to a missing array #{i}")
        if i in self._cache:
            return self._cache[i]
        rec = self.records[i]
        data = self.zf.read(_ARRAY.format(i))
        arr = np.load(io.BytesIO(data), allow_pickle=False)
        if arr.dtype.str != rec.get("dtype") or list(arr.shape) != rec.get("shape"):
            raise CheckpointError(
                f"{self.name}: array #{i} does not match its manifest record "
                f"({arr.dtype.str} {list(arr.shape)} vs {rec.get('dtype')} {rec.get('shape')})")
        self._cache[i] = arr
        return arr

    def decode(self, v):
        if v is None or isinstance(v, (bool, str, int, float)):
            return v
        if isinstance(v, list):
            return [self.decode(x) for x in v]
        if not isinstance(v, dict) or len(v) == 0:
            raise CheckpointError(f"{self.name}: malformed manifest entry {v!r:.80}")
        if "$tensor" in v:
            return self.tensor(v["$tensor"])
        if "$ndarray" in v:
            return self.array(v["$ndarray"]).copy()
        if "$npscalar" in v:
            return self.array(v["$npscalar"])[()]
        if "$float" in v:
            if v["$float"] not in ("nan", "inf", "-inf"):
                raise CheckpointError(f"{self.name}: malformed float {v['$float']!r}")
            return float(v["$float"])
        if "$dtype" in v:
            return _dt.to_dtype(v["$dtype"])
        if "$size" in v:
            from .tensor_methods import Size
            return Size(self.decode(x) for x in v["$size"])
        if "$tuple" in v:
            return tuple(self.decode(x) for x in v["$tuple"])
        if "$dict" in v:
            items = [(self._key(k), self.decode(x)) for k, x in v["$dict"]]
            return OrderedDict(items) if v.get("ordered") else dict(items)
        raise CheckpointError(f"{self.name}: unknown manifest tag {sorted(v)!r:.80}")

    def _key(self, k):
        k = self.decode(k)
        try:
            hash(k)
        except TypeError:
            raise CheckpointError(f"{self.name}: a dict key is not hashable") from None
        return k

    def tensor(self, i):
        key = ("tensor", i)
        if key in self._cache:
            return self._cache[key]
        arr = self.array(i).copy()
        rec = self.records[i]
        _dt.from_np(arr.dtype)          # refuses dtypes dualgraph does not have
        from .tensor import from_numpy
        t = from_numpy(arr)
        if rec.get("parameter"):
            from .nn.parameter import Parameter
            t = Parameter(t, requires_grad=bool(rec.get("requires_grad")))
        elif rec.get("requires_grad"):
            t.requires_grad_(True)
        self._cache[key] = t
        return t


_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError,
                KeyError, IndexError, TypeError, NotImplementedError, RecursionError,
                UnicodeDecodeError, OverflowError)


def load(f, map_location=None, weights_only=True, mmap=None, **kwargs):
    """Load what dg.save wrote. Refuses, with CheckpointError, anything else: foreign files
    (including PyTorch's pickle-based files), truncated or corrupted checkpoints, and files of a
    newer format version. map_location may only name the CPU; weights_only is always true."""
    if map_location is not None and not callable(map_location) and not isinstance(map_location, dict):
        from .device import check_device
        check_device(map_location)
    name = repr(os.fspath(f)) if not hasattr(f, "read") else "checkpoint"
    if hasattr(f, "read"):
        return _load_from(f, name)
    with open(os.fspath(f), "rb") as fh:
        return _load_from(fh, name)


def _load_from(fh, name):
    head = fh.read(4)
    try:
        fh.seek(-len(head), os.SEEK_CUR)
    except (OSError, ValueError):
        data = head + fh.read()
        fh = io.BytesIO(data)
    if head[:1] == b"\x80":
        raise CheckpointError(
            f"{name} is a Python pickle, not a dualgraph checkpoint; dualgraph never unpickles "
            "(pickles can run code when loaded)")
    if head != b"PK\x03\x04":
        if len(head) == 0:
            raise CheckpointError(f"{name} is empty: not a dualgraph checkpoint (truncated?)")
        raise CheckpointError(f"{name} is not a dualgraph checkpoint (unknown header {head!r})")
    try:
        with zipfile.ZipFile(fh, "r") as zf:
            names = zf.namelist()
            if not names or names[0] != _FORMAT:
                hint = (" It looks like a PyTorch torch.save() file, which holds pickles; "
                        "dualgraph does not read those.") if any(n.endswith("data.pkl") for n in names) else ""
                raise CheckpointError(
                    f"{name} is a zip archive but not a dualgraph checkpoint.{hint}")
            fmt = zf.read(_FORMAT).decode("utf-8").split("\n")
            if fmt[0] != MAGIC or not fmt[1].startswith("version="):
                raise CheckpointError(f"{name} has a bad dualgraph header")
            version = int(fmt[1][len("version="):])
            if version > FORMAT_VERSION:
                raise CheckpointError(
                    f"{name} uses checkpoint format version {version}; this dualgraph reads "
                    f"versions up to {FORMAT_VERSION} (upgrade dualgraph)")
            manifest = json.loads(zf.read(_MANIFEST).decode("utf-8"))
            if not isinstance(manifest, dict) or manifest.get("format") != MAGIC:
                raise CheckpointError(f"{name}: bad manifest")
            records = manifest.get("arrays")
            if not isinstance(records, list):
                raise CheckpointError(f"{name}: bad manifest (arrays)")
            dec = _Decoder(zf, records, name)
            return dec.decode(manifest.get("root"))
    except CheckpointError:
        raise
    except _READ_ERRORS as e:
        raise CheckpointError(
            f"{name} is corrupted or truncated, or not a dualgraph checkpoint: "
            f"{type(e).__name__}: {e}") from None
