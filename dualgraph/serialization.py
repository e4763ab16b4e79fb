"""dg.save / dg.load: checkpoints in a format that cannot run code when loaded.

A checkpoint is a zip archive (stored, not compressed; every member CRC-checked) holding
  dualgraph/format         the magic line and the format version
  dualgraph/manifest.json  the object tree as tagged JSON, plus one record per tensor/array
  dualgraph/arrays/<i>.npy the raw arrays, written and read with allow_pickle=False
No pickle anywhere: loading only parses JSON and .npy headers, so a hostile file can at worst be
refused. Loading trusts nothing in the file (see "decoding" below): every zip field, member size
and manifest field is checked before anything is read or allocated, compressed members are
refused (dg.save never compresses), .npy headers are parsed without eval and only dualgraph's
dtypes are accepted; every failure is a dg.CheckpointError naming the member or field at fault
(tests/test_checkpoint_fuzz.py fuzzes it). Supported values: tensors (and nn.Parameters), numpy arrays and scalars, dicts (plain
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
import re
import secrets
import struct
import zipfile
import zlib
from collections import OrderedDict

import numpy as np

from . import dtypes as _dt
from .errors import CheckpointError, DGIsADirectoryError, DGPermissionError, DGRuntimeError, DGTypeError

__all__ = ["save", "load", "CheckpointError", "FORMAT_VERSION"]

MAGIC = "DUALGRAPH-CHECKPOINT"
FORMAT_VERSION = 1
_FORMAT = "dualgraph/format"
_MANIFEST = "dualgraph/manifest.json"
_ARRAY = "dualgraph/arrays/{}.npy"

# the numpy dtypes a checkpoint may hold (tensors: only dualgraph's dtypes, native byte order)
_NP_DTYPES = frozenset(["|b1", "|i1", "|u1"] + [o + t for o in "<>" for t in (
    "i2", "i4", "i8", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16")])
_TENSOR_DTYPES = {d.np.str: d for d in _dt.ALL}
# containers (dicts, lists, tuples) nested deeper than this are refused by dg.save: a dict
# level is three levels of manifest JSON, and both json and the decoder recurse, so a deeper
# object could be saved but not loaded again (or fail with a raw RecursionError)
MAX_DEPTH = 100


# ================================================================ encoding
class _Encoder:
    def __init__(self):
        self.arrays = []       # numpy arrays to write, in order
        self.records = []      # manifest record per array
        self._tensor_ids = {}  # id(tensor) -> index (a tensor stored twice is stored once)
        self._keep = []        # keep encoded tensors alive so ids stay unique
        self._stack = set()
        self._depth = 0

    def add_array(self, arr, **record):
        arr = np.asarray(arr)
        if arr.dtype.str not in _NP_DTYPES:
            raise DGTypeError(
                f"dg.save cannot store numpy arrays of dtype {arr.dtype} (only bool, integer, "
                "float16/32/64 and complex64/128 arrays)")
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
            if self._depth >= MAX_DEPTH:
                raise _too_deep()
            self._stack.add(id(obj))
            self._depth += 1
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
                self._depth -= 1
        raise DGTypeError(
            f"dg.save cannot store an object of type {type(obj).__module__}.{type(obj).__qualname__}: "
            "only tensors, numpy arrays, dicts, lists, tuples, str, int, float, bool and None "
            "(nothing that would need code to rebuild)")


def _too_deep():
    # a RuntimeError, as torch.save's RecursionError is
    return DGRuntimeError(
        f"dg.save cannot store containers nested more than {MAX_DEPTH} deep (dicts, lists and "
        "tuples inside one another); flatten the object first")


def _write_array(fh, arr):
    """Write one array as .npy (allow_pickle=False); a seam tests use to inject failures."""
    np.lib.format.write_array(fh, arr, allow_pickle=False)


def _manifest_text(enc, root):
    manifest = {"format": MAGIC, "version": FORMAT_VERSION, "root": root,
                "arrays": enc.records}
    return json.dumps(manifest, allow_nan=False, separators=(",", ":"))


def _write(enc, text, fh):
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        zf.writestr(_FORMAT, f"{MAGIC}\nversion={FORMAT_VERSION}\n")
        zf.writestr(_MANIFEST, text)
        for i, arr in enumerate(enc.arrays):
            big = arr.nbytes > (1 << 31) - (1 << 20)
            with zf.open(_ARRAY.format(i), "w", force_zip64=big) as member:
                _write_array(member, arr)


def save(obj, f):
    """Save obj (a state dict, an optimizer state dict, or a plain container of tensors) to a
    path or a writable binary file. Paths are replaced atomically."""
    enc = _Encoder()
    try:
        # refuse unsupported objects before touching any file; json.dumps recurses too (called
        # from deep in a program's stack even a shallower object can run out of stack)
        text = _manifest_text(enc, enc.encode(obj))
    except RecursionError:
        raise _too_deep() from None
    if hasattr(f, "write"):
        try:
            _write(enc, text, f)
            if hasattr(f, "flush"):
                f.flush()   # (a full disk shows only when the buffer is written)
        except OSError as e:  # (a full disk, a closed pipe: torch.save's RuntimeError)
            raise DGRuntimeError(f"dg.save could not write to {getattr(f, 'name', f)!r}: "
                                 f"{e.strerror or e}") from None
        return
    path = os.fspath(f)
    directory = os.path.dirname(os.path.abspath(path))
    # checked here, or the error would name the temporary file (torch.save's wording)
    if not os.path.isdir(directory):
        raise DGRuntimeError(f"Parent directory {directory} does not exist.")
    if os.path.isdir(path):
        raise DGRuntimeError(f"File {path} cannot be opened: it is a directory.")
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as e:
        raise DGRuntimeError(f"File {path} cannot be opened: {e.strerror} (writing the "
                             f"temporary file {tmp} in its directory).") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            _write(enc, text, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):  # (a full disk: torch.save's RuntimeError; `path` untouched)
            raise DGRuntimeError(f"File {path} could not be written: {e.strerror or e} (the "
                                 "file is left as it was).") from None
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
# Loading trusts nothing in the file. In order: the archive's size; the zip's central directory
# (parsed by zipfile, every ZipInfo field then checked here against the archive's size and
# layout); the member names; each member's local header against its central entry; the format
# member; the manifest (strict JSON, every field checked by type and range); each array
# member's size against what its manifest record implies; its .npy header (parsed here, no
# eval) against the record; only then a bounded read, a CRC check and np.frombuffer on bytes
# already held. No member is ever inflated (dg.save stores them), nothing is unpickled, no object
# dtype is created, and no allocation is larger than the file.
_MAX_FORMAT_BYTES = 256
_MAX_MANIFEST_BYTES = 64 << 20
_MAX_NPY_HEADER = 65536 + 12       # numpy writes version-1.0 headers (< 64 KiB) for our dtypes
_MAX_NDIM = 32
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_BAD_FLAGS = 0x1 | 0x20 | 0x40     # encrypted, compressed patched data, strong encryption
_FORMAT_RE = re.compile(r"DUALGRAPH-CHECKPOINT\nversion=([0-9]{1,9})\n")
_NPY_RE = re.compile(r"\{'descr': '([|<>][a-z][0-9]{1,2})', 'fortran_order': (True|False), "
                     r"'shape': \(([0-9, ]{0,1400})\), \} *\n")
_ARRAY_RE = re.compile(r"dualgraph/arrays/(0|[1-9][0-9]{0,8})\.npy")
_RECORD_KEYS = {"tensor": {"kind", "dtype", "shape", "requires_grad", "parameter"},
                "ndarray": {"kind", "dtype", "shape"}, "npscalar": {"kind", "dtype", "shape"}}
_TAGS = {"$tensor": "tensor", "$ndarray": "ndarray", "$npscalar": "npscalar"}


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


class _Archive:
    """The members of one checkpoint, each checked before a byte of it is read."""

    def __init__(self, fh, name):
        self.fh = fh
        self.name = name
        self.start = fh.tell()
        self.end = fh.seek(0, os.SEEK_END)
        self.size = self.end - self.start
        try:
            with zipfile.ZipFile(fh, "r") as zf:
                infos = zf.infolist()
                self.cd_start = getattr(zf, "start_dir", None)
        except CheckpointError:
            raise
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError,
                struct.error, OverflowError, UnicodeDecodeError, KeyError, IndexError, TypeError,
                NotImplementedError) as e:
            raise self.corrupt(f"its zip directory is unreadable ({type(e).__name__}: {e})")
        if self.cd_start is None or not self.start <= self.cd_start <= self.end:
            raise self.corrupt("its central directory lies outside the file")
        self.infos = infos

    def error(self, msg):
        return CheckpointError(f"{self.name}: {msg}")

    def corrupt(self, msg):
        return CheckpointError(f"{self.name} is corrupted or truncated: {msg}")

    def check_layout(self):
        """Every central-directory entry: stored, not encrypted, sizes and offsets inside the
        file, in file order, not overlapping, names unique."""
        seen = set()
        prev_end = self.start
        for i, info in enumerate(self.infos):
            m = info.orig_filename
            if m in seen:
                raise self.error(f"member {m!r} appears twice in the archive")
            seen.add(m)
            if info.compress_type != zipfile.ZIP_STORED:
                raise self.error(
                    f"member {m!r} is compressed (method {info.compress_type}); dualgraph "
                    "checkpoints store their members uncompressed, and dg.load inflates nothing")
            if info.flag_bits & _BAD_FLAGS:
                raise self.error(f"member {m!r} is encrypted or patched (flags "
                                 f"{info.flag_bits:#06x}); dualgraph never writes such members")
            if info.file_size != info.compress_size:
                raise self.corrupt(f"member {m!r} is stored but its sizes differ "
                                   f"(compressed {info.compress_size}, file {info.file_size})")
            if info.file_size > self.size:
                raise self.corrupt(f"member {m!r} claims {info.file_size} bytes in a "
                                   f"{self.size}-byte file")
            if i == 0 and info.header_offset != self.start:
                raise self.corrupt(f"member {m!r} starts at offset "
                                   f"{info.header_offset - self.start}, not at the start")
            if info.header_offset < prev_end:
                raise self.corrupt(f"member {m!r} overlaps the member before it or is out of "
                                   "order (its header offset is wrong)")
            nlen = len(self._raw_name(info))
            data_end = info.header_offset + _LOCAL_HEADER.size + nlen + info.compress_size
            if data_end > self.cd_start:
                raise self.corrupt(f"member {m!r} ({info.compress_size} bytes at offset "
                                   f"{info.header_offset - self.start}) runs past the end of "
                                   "the member data")
            prev_end = data_end
        self.bounds = [(self.infos[j + 1].header_offset if j + 1 < len(self.infos)
                        else self.cd_start) for j in range(len(self.infos))]

    @staticmethod
    def _raw_name(info):
        return info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437")

    def read(self, i, limit):
        """Member i's bytes (a bytearray), at most `limit` of them, CRC-checked."""
        info, fh = self.infos[i], self.fh
        m = info.orig_filename
        size = info.compress_size
        if size > limit:
            raise self.error(f"member {m!r} is {size} bytes; at most {limit} expected")
        fh.seek(info.header_offset)
        head = fh.read(_LOCAL_HEADER.size)
        if len(head) != _LOCAL_HEADER.size:
            raise self.corrupt(f"the local header of member {m!r} is cut off")
        (sig, _, _, flags, method, _, _, crc, csize, usize, nlen, elen) = _LOCAL_HEADER.unpack(head)
        if sig != b"PK\x03\x04":
            raise self.corrupt(f"member {m!r} has no local header at its offset")
        raw = self._raw_name(info)
        if nlen != len(raw) or fh.read(nlen) != raw:
            raise self.corrupt(f"the local header of member {m!r} names another member")
        if method != zipfile.ZIP_STORED or flags & _BAD_FLAGS or (flags ^ info.flag_bits) & 0x808:
            raise self.corrupt(f"the local header of member {m!r} disagrees with the central "
                               f"directory (method {method}, flags {flags:#06x})")
        if not flags & 0x08:    # sizes and CRC are in the local header too (else a descriptor)
            if (crc != info.CRC or (csize != 0xFFFFFFFF and csize != size)
                    or (usize != 0xFFFFFFFF and usize != info.file_size)):
                raise self.corrupt(f"the local header of member {m!r} disagrees with the central "
                                   f"directory (crc {crc:#x}/{info.CRC:#x}, sizes {csize}/{usize}"
                                   f" vs {size})")
        start = info.header_offset + _LOCAL_HEADER.size + nlen + elen
        if start + size > self.bounds[i]:
            raise self.corrupt(f"member {m!r} runs into the next member")
        fh.seek(start)
        buf = bytearray(size)
        view, got = memoryview(buf), 0
        readinto = getattr(fh, "readinto", None)
        while got < size:
            if readinto is not None:
                k = readinto(view[got:])
            else:
                chunk = fh.read(min(size - got, 1 << 24))
                k = len(chunk)
                view[got:got + k] = chunk
            if not k:
                raise self.corrupt(f"member {m!r} is cut off ({got} of {size} bytes)")
            got += k
        view.release()
        if zlib.crc32(buf) & 0xFFFFFFFF != info.CRC:
            raise self.corrupt(f"member {m!r} fails its CRC check")
        return buf


def _manifest_json(text, where):
    def pairs(items):
        d = {}
        for k, v in items:
            if k in d:
                raise CheckpointError(f"{where}: duplicate key {k!r:.60} in one JSON object")
            d[k] = v
        return d

    def constant(c):
        raise CheckpointError(f"{where}: {c} is not JSON (dg.save never writes it)")

    try:
        return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except RecursionError:
        raise CheckpointError(f"{where}: nested too deeply") from None
    except ValueError as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"{where} is not valid JSON: {str(e)[:200]}") from None


def _check_record(i, rec, where, size):
    """One manifest record -> (kind, numpy dtype, shape tuple, data bytes)."""
    at = f"{where}: arrays[{i}]"
    if not isinstance(rec, dict):
        raise CheckpointError(f"{at} must be an object, not {type(rec).__name__}")
    kind = rec.get("kind")
    if not isinstance(kind, str) or kind not in _RECORD_KEYS:
        raise CheckpointError(f"{at}.kind must be one of {sorted(_RECORD_KEYS)} (got {kind!r:.60})")
    if set(rec) != _RECORD_KEYS[kind]:
        raise CheckpointError(f"{at} ({kind}) must have exactly the fields "
                              f"{sorted(_RECORD_KEYS[kind])} (got {sorted(map(str, rec))!r:.200})")
    dts = rec["dtype"]
    allowed = _TENSOR_DTYPES if kind == "tensor" else _NP_DTYPES
    if not isinstance(dts, str) or dts not in allowed:
        raise CheckpointError(f"{at}.dtype {dts!r:.60} is not a dtype a {kind} may have")
    shape = rec["shape"]
    if (not isinstance(shape, list) or len(shape) > _MAX_NDIM
            or not all(_is_int(d) and 0 <= d < 1 << 63 for d in shape)):
        raise CheckpointError(f"{at}.shape must be a list of at most {_MAX_NDIM} non-negative "
                              f"ints (got {shape!r:.100})")
    if kind == "npscalar" and shape:
        raise CheckpointError(f"{at}.shape must be [] for a numpy scalar")
    dt = np.dtype(dts)
    numel, bound = 1, dt.itemsize
    for d in shape:
        numel *= d
        bound *= max(d, 1)
    if bound >= 1 << 63:
        raise CheckpointError(f"{at}.shape {shape} is too large for any array")
    nbytes = numel * dt.itemsize
    if nbytes > size:
        raise CheckpointError(f"{at} declares {dts} {shape} ({nbytes} bytes) but the whole file "
                              f"has {size} bytes")
    if kind == "tensor":
        for f in ("requires_grad", "parameter"):
            if not isinstance(rec[f], bool):
                raise CheckpointError(f"{at}.{f} must be true or false (got {rec[f]!r:.60})")
        if rec["requires_grad"] and dt.kind != "f":
            raise CheckpointError(f"{at}.requires_grad is true for a {dts} tensor (only floating "
                                  "point tensors can require gradients)")
    return kind, dt, tuple(shape), nbytes


def _parse_npy(buf, where):
    """(dtype str, fortran_order, shape, data offset) from a .npy header, parsed without eval."""
    if len(buf) < 10 or bytes(buf[:6]) != b"\x93NUMPY":
        raise CheckpointError(f"{where} is not a .npy array (bad magic)")
    version = (buf[6], buf[7])
    if version == (1, 0):
        (hlen,), pre = struct.unpack_from("<H", buf, 8), 10
    elif version in ((2, 0), (3, 0)) and len(buf) >= 12:
        (hlen,), pre = struct.unpack_from("<I", buf, 8), 12
    else:
        raise CheckpointError(f"{where}: unsupported .npy format version {version[0]}.{version[1]}")
    if hlen > _MAX_NPY_HEADER or pre + hlen > len(buf):
        raise CheckpointError(f"{where}: its .npy header claims {hlen} bytes; the member has "
                              f"{len(buf) - pre} after the preamble")
    try:
        header = bytes(buf[pre:pre + hlen]).decode("ascii")
    except UnicodeDecodeError:
        raise CheckpointError(f"{where}: its .npy header is not ASCII") from None
    m = _NPY_RE.fullmatch(header)
    if m is None:
        raise CheckpointError(f"{where}: malformed .npy header {header.rstrip()[:120]!r}")
    descr, fortran, dims = m.groups()
    try:
        shape = tuple(int(d) for d in dims.replace(",", " ").split())
    except ValueError:
        shape = None
    if shape is None or repr(shape) != f"({dims})":
        raise CheckpointError(f"{where}: malformed .npy shape ({dims[:100]})")
    return descr, fortran == "True", shape, pre + hlen


class _Decoder:
    def __init__(self, arrays, name):
        self.arrays = arrays        # index -> (kind, record, numpy array)
        self.name = name
        self._tensors = {}
        self._used = set()

    def error(self, msg):
        return CheckpointError(f"{self.name}: manifest root: {msg}")

    def ref(self, tag, i):
        if not _is_int(i) or not 0 <= i < len(self.arrays):
            raise self.error(f"the manifest refers to a missing array #{i!r:.40} ({tag})")
        kind, rec, arr = self.arrays[i]
        if kind != _TAGS[tag]:
            raise self.error(f"{tag} refers to array #{i}, which is a {kind}")
        return rec, arr

    def decode(self, v):
        if v is None or isinstance(v, (bool, str, int, float)):
            return v
        if isinstance(v, list):
            return [self.decode(x) for x in v]
        if not isinstance(v, dict) or len(v) == 0:
            raise self.error(f"malformed entry {v!r:.80}")
        tag = next(iter(v))
        if tag == "$dict":
            if set(v) != {"$dict", "ordered"} or not isinstance(v["ordered"], bool):
                raise self.error(f"a $dict needs exactly $dict and ordered (bool): {v!r:.80}")
            items = v["$dict"]
            if not isinstance(items, list) or not all(
                    isinstance(kv, list) and len(kv) == 2 for kv in items):
                raise self.error("a $dict holds a list of [key, value] pairs")
            out = (OrderedDict if v["ordered"] else dict)(
                (self._key(k), self.decode(x)) for k, x in items)
            if len(out) != len(items):
                raise self.error("a $dict has the same key twice")
            return out
        if len(v) != 1:
            raise self.error(f"malformed tagged entry {sorted(map(str, v))!r:.80}")
        x = v[tag]
        if tag == "$tensor":
            return self.tensor(x)
        if tag in ("$ndarray", "$npscalar"):
            _, arr = self.ref(tag, x)
            if tag == "$npscalar":
                return arr[()]
            if x in self._used:
                return arr.copy()
            self._used.add(x)
            return arr
        if tag == "$float":
            if x not in ("nan", "inf", "-inf"):
                raise self.error(f"malformed float {x!r:.40}")
            return float(x)
        if tag == "$dtype":
            if not isinstance(x, str) or x not in _dt._BY_NAME:
                raise self.error(f"unknown dtype {x!r:.40}")
            return _dt._BY_NAME[x]
        if tag == "$size":
            from .tensor_methods import Size
            if not isinstance(x, list) or not all(d is None or _is_int(d) for d in x):
                raise self.error(f"a $size holds a list of ints: {x!r:.80}")
            return Size(x)
        if tag == "$tuple":
            if not isinstance(x, list):
                raise self.error(f"a $tuple holds a list: {x!r:.80}")
            return tuple(self.decode(e) for e in x)
        raise self.error(f"unknown tag {tag!r:.40}")

    def _key(self, k):
        k = self.decode(k)
        try:
            hash(k)
        except TypeError:
            raise self.error("a dict key is not hashable") from None
        return k

    def tensor(self, i):
        rec, arr = self.ref("$tensor", i)
        if i in self._tensors:
            return self._tensors[i]
        from .tensor import from_numpy
        t = from_numpy(arr)
        if rec["parameter"]:
            from .nn.parameter import Parameter
            t = Parameter(t, requires_grad=rec["requires_grad"])
        elif rec["requires_grad"]:
            t.requires_grad_(True)
        self._tensors[i] = t
        return t


def load(f, map_location=None, weights_only=True, mmap=None, **kwargs):
    """Load what dg.save wrote. Refuses, with dg.CheckpointError, anything else: foreign files
    (including PyTorch's pickle-based files), truncated, corrupted or crafted checkpoints, and
    files of a newer format version; the message names the member or manifest field at fault.
    map_location may only name the CPU; weights_only is always true."""
    if map_location is not None and not callable(map_location) and not isinstance(map_location, dict):
        from .device import check_device
        check_device(map_location)
    name = repr(os.fspath(f)) if not hasattr(f, "read") else "checkpoint"
    if hasattr(f, "read"):
        return _load_from(f, name)
    try:
        fh = open(os.fspath(f), "rb")
    except FileNotFoundError as e:   # a DualGraphError too; torch.load's "[Errno 2] ..." message
        from .errors import DGFileNotFoundError
        raise DGFileNotFoundError(e.errno, e.strerror, e.filename) from None
    except IsADirectoryError as e:   # likewise: "[Errno 21] Is a directory: '<path>'"
        raise DGIsADirectoryError(e.errno, e.strerror, e.filename) from None
    except PermissionError as e:
        raise DGPermissionError(e.errno, e.strerror, e.filename) from None
    with fh:
        return _load_from(fh, name)


def _seekable(fh):
    try:
        return bool(fh.seekable()) if hasattr(fh, "seekable") else hasattr(fh, "seek")
    except (OSError, ValueError):
        return False


def _load_from(fh, name):
    if _seekable(fh) and hasattr(fh, "tell"):
        head = fh.read(4)
        try:
            fh.seek(-len(head), os.SEEK_CUR)
        except (OSError, ValueError, AttributeError):
            fh = io.BytesIO(head + fh.read())
    else:
        fh = io.BytesIO(fh.read())      # a stream: what it holds is the file
        head = fh.read(4)
        fh.seek(0)
    if not isinstance(head, bytes):
        raise CheckpointError(f"{name} is not open in binary mode")
    if head[:1] == b"\x80":
        raise CheckpointError(
            f"{name} is a Python pickle, not a dualgraph checkpoint; dualgraph never unpickles "
            "(pickles can run code when loaded)")
    if head != b"PK\x03\x04":
        if len(head) == 0:
            raise CheckpointError(f"{name} is empty: not a dualgraph checkpoint (truncated?)")
        raise CheckpointError(f"{name} is not a dualgraph checkpoint (unknown header {head!r})")
    try:
        return _read_checkpoint(fh, name)
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, IndexError, TypeError,
            struct.error, OverflowError, UnicodeDecodeError, RecursionError) as e:
        # a backstop: every check above should have caught the file first
        raise CheckpointError(
            f"{name} is corrupted or truncated, or not a dualgraph checkpoint: "
            f"{type(e).__name__}: {str(e)[:200]}") from None


def _read_checkpoint(fh, name):
    ar = _Archive(fh, name)
    names = [i.orig_filename for i in ar.infos]
    if not names or names[0] != _FORMAT:
        hint = (" It looks like a PyTorch torch.save() file, which holds pickles; "
                "dualgraph does not read those.") if any(n.endswith("data.pkl") for n in names) else ""
        raise CheckpointError(f"{name} is a zip archive but not a dualgraph checkpoint.{hint}")
    ar.check_layout()
    # 1. the format member: the magic line and the version
    try:
        fmt = ar.read(0, _MAX_FORMAT_BYTES).decode("utf-8")
    except UnicodeDecodeError:
        raise ar.error(f"member {_FORMAT!r} is not text") from None
    m = _FORMAT_RE.fullmatch(fmt)
    if m is None:
        raise CheckpointError(f"{name} has a bad dualgraph header (member {_FORMAT!r}: "
                              f"{fmt[:60]!r})")
    version = int(m.group(1))
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{name} uses checkpoint format version {version}; this dualgraph reads "
            f"versions up to {FORMAT_VERSION} (upgrade dualgraph)")
    if version < 1:
        raise CheckpointError(f"{name}: member {_FORMAT!r} has an invalid version {version}")
    # 2. the member names: format, manifest, arrays/0.npy ... arrays/<n-1>.npy, nothing else
    if len(names) < 2 or names[1] != _MANIFEST:
        raise ar.error(f"the second member must be {_MANIFEST!r} (found "
                       f"{names[1] if len(names) > 1 else 'nothing'!r:.80})")
    for i, n in enumerate(names[2:]):
        if n != _ARRAY.format(i):
            raise ar.error(f"unexpected member {n!r:.80} (expected {_ARRAY.format(i)!r}); a "
                           "checkpoint holds only its format, manifest and array members")
    # 3. the manifest, every field checked
    where = f"{name}: member {_MANIFEST!r}"
    try:
        text = ar.read(1, min(_MAX_MANIFEST_BYTES, ar.size)).decode("utf-8")
    except UnicodeDecodeError as e:
        raise CheckpointError(f"{where} is not UTF-8 ({e.reason} at byte {e.start})") from None
    manifest = _manifest_json(text, where)
    if not isinstance(manifest, dict):
        raise CheckpointError(f"{where}: bad manifest (an object expected, not "
                              f"{type(manifest).__name__})")
    if set(manifest) != {"format", "version", "root", "arrays"}:
        raise CheckpointError(f"{where}: bad manifest: fields must be format, version, root and "
                              f"arrays (got {sorted(map(str, manifest))!r:.200})")
    if manifest["format"] != MAGIC:
        raise CheckpointError(f"{where}: bad manifest (format is {manifest['format']!r:.60})")
    if not _is_int(manifest["version"]) or manifest["version"] != version:
        raise CheckpointError(f"{where}: bad manifest (version {manifest['version']!r:.40}, "
                              f"member {_FORMAT!r} says {version})")
    records = manifest["arrays"]
    if not isinstance(records, list):
        raise CheckpointError(f"{where}: bad manifest (arrays must be a list, not "
                              f"{type(records).__name__})")
    if len(records) != len(names) - 2:
        raise ar.error(f"the manifest lists {len(records)} arrays but the archive holds "
                       f"{len(names) - 2} array members")
    checked = [_check_record(i, r, where, ar.size) for i, r in enumerate(records)]
    # 4. every array member's size against its record, before any array is read
    for i, (kind, dt, shape, nbytes) in enumerate(checked):
        size = ar.infos[2 + i].file_size
        if not nbytes + 10 <= size <= nbytes + _MAX_NPY_HEADER:
            raise ar.corrupt(f"member {_ARRAY.format(i)!r} is {size} bytes, but arrays[{i}] "
                             f"({dt.str} {list(shape)}) needs {nbytes} bytes of data plus a header")
    # 5. the arrays: header checked against the record, then frombuffer on bytes held
    arrays = []
    for i, (kind, dt, shape, nbytes) in enumerate(checked):
        member = _ARRAY.format(i)
        buf = ar.read(2 + i, nbytes + _MAX_NPY_HEADER)
        descr, fortran, hshape, offset = _parse_npy(buf, f"{name}: member {member!r}")
        if descr != dt.str or hshape != shape:
            raise CheckpointError(
                f"{name}: array #{i} does not match its manifest record "
                f"({descr} {list(hshape)} vs {dt.str} {list(shape)}) (member {member!r})")
        if len(buf) - offset != nbytes:
            raise ar.corrupt(f"member {member!r} holds {len(buf) - offset} bytes of data; "
                             f"{dt.str} {list(shape)} needs {nbytes}")
        if nbytes == 0:
            arr = np.empty(shape, dt, order="F" if fortran else "C")
        else:
            arr = np.frombuffer(buf, dtype=dt, count=nbytes // dt.itemsize, offset=offset)
            arr = arr.reshape(shape[::-1]).T if fortran else arr.reshape(shape)
            if not arr.flags.aligned:
                arr = arr.copy(order="K")
        arrays.append((kind, records[i], arr))
    # 6. the object tree
    try:
        return _Decoder(arrays, name).decode(manifest["root"])
    except RecursionError:
        raise CheckpointError(f"{where}: the object tree is nested too deeply") from None
