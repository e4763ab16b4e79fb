"""A reusable fuzzer for loaders of untrusted files (dg.load today, other loaders later).

    report = fuzz_loader(make_valid_bytes, load, equal, n=2000, seed=0, error=SomeError,
                         families=[(family, weight), ...], check=None)

* make_valid_bytes() -> list of bytes: valid files (the seeds).
* load(data: bytes) -> object: the loader under test.
* equal(a, b) -> bool: whether two loaded objects are the same.
* error: the exception class (or a tuple of them) the loader is allowed to raise.
* families: corruption generators, each ``family(seeds, rng, k)`` yielding up to k ``Case``s;
  default: the generic byte-level families below (plus the zip families if the seeds are zips).
* check(obj): optional; called on what a mode-"any" case loaded (raise to flag it).

Every corruption is a ``Case(desc, data, mode, seed)`` (data: bytes, or a zero-argument callable
returning them, so a family can enumerate many candidates and build only the ones picked):
  mode "equal": loading must give an object equal to what the unmodified seed loads, or raise
                `error` (byte-level damage: CRCs and structure checks must catch it);
  mode "any":   loading may give anything (a re-packed file with a changed but self-consistent
                content), or raise `error`;
  mode "error": loading must raise `error` (zip bombs, pickles, hostile headers).
Anything else is an *escape*: another exception type (MemoryError, AttributeError, a zlib.error,
RecursionError ...), a mode violation, code executed by the loader, a case that takes longer than
``case_timeout`` or raises the process's peak memory by more than ``case_mem`` (or 8x the file's
size, whichever is larger), or a crash or hang of the whole batch.

The whole batch runs in a child process (a fresh interpreter, so the callables must be
module-level functions in importable modules, or "module:qualname" strings) under
``resource.setrlimit(RLIMIT_AS, mem_limit)`` and killed after ``timeout`` seconds; the child
reports back as JSON. The functions are referred to by module name, and the child gets the
parent's sys.path.

Generic building blocks other loaders reuse: the byte families (truncate, flip, insert/delete),
the zip families (field rewrites in local headers / central directory / end record, data-byte
flips, member-level repacks: compression, zip bombs, traversal names, duplicates, pickles,
reorderings), ``json_mutations`` (every field of a JSON document: missing keys, wrong types,
negative and huge numbers, nested garbage, duplicate keys, broken text), ``zip_pack`` (a tiny zip
writer that writes exactly what it is told), ``zip_members``, ``spread``.
"""
import collections
import functools
import io
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import time
import zlib

Case = collections.namedtuple("Case", "desc data mode seed")

MODES = ("equal", "any", "error")


# ============================================================ the driver (parent side)
def _ref(f):
    if isinstance(f, str):
        return f
    mod, qn = getattr(f, "__module__", None), getattr(f, "__qualname__", None)
    if not mod or not qn or mod == "__main__" or "<locals>" in qn:
        raise ValueError(f"fuzz_loader needs module-level functions in importable modules "
                         f"(got {f!r}); or pass 'module:qualname'")
    return f"{mod}:{qn}"


def _refs(x):
    if isinstance(x, (tuple, list)):
        return [_ref(e) for e in x]
    return [_ref(x)]


def _resolve(ref):
    import importlib
    mod, _, qn = ref.partition(":")
    obj = importlib.import_module(mod)
    for part in qn.split("."):
        obj = getattr(obj, part)
    return obj


def fuzz_loader(make_valid_bytes, load, equal, n=2000, seed=0, *, error=Exception,
                families=None, check=None, mem_limit=3 << 29, timeout=120.0,
                case_timeout=10.0, case_mem=64 << 20, max_escapes=50):
    """Run n deterministic corruptions of the seeds through `load` in a child process; return a
    report dict (``report["escapes"]`` is the list that must be empty)."""
    fams = []
    for f in families or []:
        fn, w = (f if isinstance(f, (tuple, list)) else (f, 1.0))
        fams.append([_ref(fn), float(w)])
    spec = {"make": _ref(make_valid_bytes), "load": _ref(load), "equal": _ref(equal),
            "error": _refs(error), "families": fams or None,
            "check": _ref(check) if check else None, "n": int(n), "seed": seed,
            "mem_limit": int(mem_limit), "case_timeout": float(case_timeout),
            "case_mem": int(case_mem), "max_escapes": int(max_escapes)}
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([here] + [p for p in sys.path if p])
    for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[v] = "1"   # thread pools reserve address space; the batch is single-threaded
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fuzz-") as d:
        spec["progress"] = os.path.join(d, "progress")
        spec["result"] = os.path.join(d, "result.json")
        spec["tmp"] = d
        with open(os.path.join(d, "spec.json"), "w") as fh:
            json.dump(spec, fh)
        cmd = [sys.executable, "-c",
               "import sys, fuzz_harness; fuzz_harness._child(sys.argv[1])",
               os.path.join(d, "spec.json")]
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, timeout=timeout)
            rc, out, err = proc.returncode, proc.stdout, proc.stderr
            hung = False
        except subprocess.TimeoutExpired as e:
            rc, out, err, hung = None, e.stdout or b"", e.stderr or b"", True
        last = _last_progress(spec["progress"])
        report = None
        if os.path.exists(spec["result"]):
            with open(spec["result"]) as fh:
                report = json.load(fh)
        if report is None:
            what = (f"the batch did not finish within {timeout:.0f} s" if hung
                    else f"the child process died (exit status {rc})")
            report = {"n": n, "escapes": [{"case": last[0], "family": "?", "desc": last[1],
                                           "what": f"{what}; last case started: {last[1]!r}; "
                                                   f"stderr: {err.decode(errors='replace')[-2000:]}"}],
                      "outcomes": {}, "families": {}}
        elif rc != 0:
            report["escapes"].append({"case": None, "family": "?", "desc": "",
                                      "what": f"child exit status {rc}: "
                                              f"{err.decode(errors='replace')[-2000:]}"})
    report["wall_s"] = round(time.monotonic() - t0, 2)
    return report


def _last_progress(path):
    try:
        with open(path, "rb") as fh:
            lines = fh.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None, "(none started)"
    for line in reversed(lines):
        i, _, desc = line.partition("\t")
        if i.isdigit():
            return int(i), desc
    return None, "(none started)"


def format_escapes(report, limit=20):
    lines = [f"{len(report['escapes'])} escape(s) out of {report.get('n')} corruptions:"]
    for e in report["escapes"][:limit]:
        lines.append(f"  #{e.get('case')} [{e.get('family')}] {e.get('desc')}: {e.get('what')}")
    return "\n".join(lines)


# ============================================================ the batch (child side)
def _vm():
    out = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                k, _, v = line.partition(":")
                if k in ("VmSize", "VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0]) * 1024
    except OSError:
        pass
    return out


def _reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _pwned():
    """What the harness's pickle payloads call: if a loader ever unpickles one, the batch knows."""
    os.environ["FUZZ_HARNESS_PWNED"] = "1"
    return 0


def pwn_pickle():
    """A pickle that, when loaded, calls fuzz_harness._pwned() (harmless; marks code execution)."""
    return b"\x80\x02cfuzz_harness\n_pwned\n)R."


def _child(spec_path):
    import resource
    import warnings
    warnings.simplefilter("ignore")
    with open(spec_path) as fh:
        spec = json.load(fh)
    t_start = time.monotonic()
    make, load, equal = (_resolve(spec[k]) for k in ("make", "load", "equal"))
    errors = tuple(_resolve(r) for r in spec["error"])
    check = _resolve(spec["check"]) if spec["check"] else None
    os.environ["FUZZ_HARNESS_TMP"] = spec["tmp"]
    seeds = [bytes(s) for s in make()]
    fams = spec["families"]
    if fams is None:
        fams = [[_ref(f), w] for f, w in default_families(seeds)]
    fams = [(r, _resolve(r), w) for r, w in fams]
    baseline = _vm()
    limit = spec["mem_limit"]
    note = None
    if baseline.get("VmSize", 0) + (256 << 20) > limit:
        note = f"mem_limit raised: the interpreter already maps {baseline['VmSize'] >> 20} MiB"
        limit = baseline["VmSize"] + (1 << 30)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))

    refs = [load(s) for s in seeds]
    for i, (s, r) in enumerate(zip(seeds, refs)):
        if not equal(r, load(s)):
            raise AssertionError(f"seed {i} does not load equal to itself")
    rng = random.Random(spec["seed"])
    n = spec["n"]
    total_w = sum(w for _, _, w in fams)
    quotas = [int(n * w / total_w) for _, _, w in fams]
    for j in range(n - sum(quotas)):
        quotas[j % len(quotas)] += 1
    cases, taken = [], [set() for _ in fams]
    asked = [0] * len(fams)
    for _ in range(8):  # a family that runs out of corruptions leaves its share to the others
        for j, ((r, fn, _), k) in enumerate(zip(fams, quotas)):
            if not k:
                continue
            asked[j] += k
            frng = random.Random(f"{spec['seed']}:{r}")
            got = 0
            for c in fn(seeds, frng, asked[j]):
                if got >= k:
                    break
                if c.desc in taken[j]:
                    continue
                if c.mode not in MODES:
                    raise ValueError(f"{r}: bad mode {c.mode!r}")
                taken[j].add(c.desc)
                cases.append((r.rpartition(":")[2], c))
                got += 1
            quotas[j] = got if got == k else -1   # -1: exhausted
        short = n - len(cases)
        live = [j for j, q in enumerate(quotas) if q > 0]
        if short <= 0 or not live:
            break
        lw = sum(fams[j][2] for j in live)
        quotas = [0] * len(fams)
        for j in live:
            quotas[j] = int(short * fams[j][2] / lw)
        for i in range(short - sum(quotas)):
            quotas[live[i % len(live)]] += 1
    t_gen = time.monotonic() - t_start
    peak_ok = _reset_peak()
    outcomes = collections.Counter()
    per_family = {}
    escapes = []
    prog = open(spec["progress"], "w", buffering=1, encoding="utf-8", errors="replace")
    os.environ.pop("FUZZ_HARNESS_PWNED", None)
    t_run = time.monotonic()
    for i, (fam, c) in enumerate(cases):
        prog.write(f"{i}\t[{fam}] {c.desc}\n")
        if callable(c.data):        # families may build their bytes lazily
            c = c._replace(data=bytes(c.data()))
        st = per_family.setdefault(fam, collections.Counter())
        st["cases"] += 1
        what = None
        if peak_ok:
            _reset_peak()
        before = _vm().get("VmRSS", 0)
        t0 = time.monotonic()
        try:
            got = load(c.data)
        except errors:
            outcomes["refused"] += 1
            st["refused"] += 1
        except BaseException as e:  # noqa: B902 -- everything else is an escape
            if isinstance(e, KeyboardInterrupt):
                raise
            what = f"{type(e).__module__}.{type(e).__name__}: {str(e)[:300]}"
        else:
            st["loaded"] += 1
            if c.mode == "error":
                what = "loaded, but this corruption must be refused"
            elif c.mode == "equal":
                try:
                    ok = equal(refs[c.seed], got)
                except Exception as e:  # noqa: BLE001
                    ok, what = False, f"equal() raised {type(e).__name__}: {e}"
                if not ok:
                    what = what or "loaded an object different from the original"
                else:
                    outcomes["loaded equal"] += 1
            else:
                if check is not None:
                    try:
                        check(got)
                    except Exception as e:  # noqa: BLE001
                        what = f"loaded an unacceptable object: {type(e).__name__}: {e}"
                if what is None:
                    outcomes["loaded (mode any)"] += 1
            got = None
        dt = time.monotonic() - t0
        if what is None and dt > spec["case_timeout"]:
            what = f"took {dt:.1f} s"
        if what is None and peak_ok:
            grew = _vm().get("VmHWM", 0) - before
            budget = max(spec["case_mem"], 8 * len(c.data))
            if grew > budget:
                what = (f"raised peak memory by {grew >> 20} MiB for a {len(c.data)}-byte file "
                        f"(budget {budget >> 20} MiB)")
        if what is None and os.environ.pop("FUZZ_HARNESS_PWNED", None):
            what = "the loader executed code from the file (a pickle payload ran)"
        if what is not None:
            st["escapes"] += 1
            outcomes["escape"] += 1
            if len(escapes) < spec["max_escapes"]:
                escapes.append({"case": i, "family": fam, "desc": c.desc, "what": what})
    prog.close()
    report = {"n": len(cases), "escapes": escapes, "n_escapes": outcomes["escape"],
              "outcomes": dict(outcomes),
              "families": {k: dict(v) for k, v in per_family.items()},
              "baseline_vm_mib": baseline.get("VmSize", 0) >> 20,
              "baseline_rss_mib": baseline.get("VmRSS", 0) >> 20,
              "mem_limit_mib": limit >> 20, "note": note, "peak_checked": peak_ok,
              "generate_s": round(t_gen, 2), "run_s": round(time.monotonic() - t_run, 2)}
    with open(spec["result"] + ".part", "w") as fh:
        json.dump(report, fh)
    os.replace(spec["result"] + ".part", spec["result"])


# ============================================================ helpers for families
def spread(groups, k, rng, keep_order=False, shuffle_items=True):
    """Pick k items round-robin over groups (each shuffled), so every group gets its turn before
    any group gets a second; groups: a list of lists. keep_order: the groups take their turns
    in the order given (the first ones are the most important); shuffle_items=False: each
    group's items are taken in their order."""
    groups = [list(g) for g in groups if g]
    for g in groups:
        if shuffle_items:
            rng.shuffle(g)
    if not keep_order:
        rng.shuffle(groups)
    out, j = [], 0
    while len(out) < k and groups:
        nxt = []
        for g in groups:
            if len(out) >= k:
                break
            if j < len(g):
                out.append(g[j])
            if j + 1 < len(g):
                nxt.append(g)
        groups, j = nxt, j + 1
    return out


def _interesting_ints(v, width, size):
    top = (1 << (8 * width)) - 1
    vals = {0, 1, top, top >> 1, (top >> 1) + 1, v + 1, v - 1, v ^ 1, v * 2, v + size,
            v ^ (1 << (8 * width - 1)), v | (0x80 << (8 * (width - 1))), size, size + 1,
            v ^ (0xFF << (8 * (width - 1))), v >> 8}
    if width >= 4:
        vals |= {1 << 31, 0x7FFFFFFF, 2 << 30, v ^ (1 << 24)}
    return sorted(x & top for x in vals if x & top != v)


# ============================================================ generic byte families
def bytes_truncate(seeds, rng, k):
    groups = []
    for si, s in enumerate(seeds):
        offs = set(range(0, min(len(s), 64))) | set(range(max(0, len(s) - 64), len(s)))
        offs |= {rng.randrange(len(s)) for _ in range(64)}
        if s[:4] == b"PK\x03\x04":
            for f in zip_fields(s):
                offs |= {f.offset - 1, f.offset, f.offset + 1}
            for m in zip_layout(s)["members"]:
                offs |= {m["data_start"], m["data_start"] + m["size"] // 2, m["data_end"] - 1}
        groups.append([Case(f"truncate seed {si} to {o} of {len(s)} bytes", s[:o], "equal", si)
                       for o in sorted(x for x in offs if 0 <= x < len(s))])
    return spread(groups, k, rng)


def bytes_flip(seeds, rng, k):
    out = []
    for _ in range(k):
        si = rng.randrange(len(seeds))
        s = bytearray(seeds[si])
        pos = rng.randrange(len(s))
        how = rng.choice(["bit", "byte", "zero", "ff"])
        old = s[pos]
        if how == "bit":
            s[pos] ^= 1 << rng.randrange(8)
        elif how == "byte":
            s[pos] ^= rng.randrange(1, 256)
        elif how == "zero":
            s[pos] = 0 if old else 1
        else:
            s[pos] = 0xFF if old != 0xFF else 0xFE
        out.append(Case(f"seed {si}: byte {pos} {old:#04x}->{s[pos]:#04x} ({how})", bytes(s),
                        "equal", si))
    return out


def bytes_insert_delete(seeds, rng, k):
    out = []
    for _ in range(k):
        si = rng.randrange(len(seeds))
        s = seeds[si]
        pos = rng.randrange(len(s))
        n = rng.choice([1, 2, 3, 4, 8, 16, 64])
        how = rng.choice(["insert", "delete", "duplicate"])
        if how == "insert":
            ins = bytes(rng.randrange(256) for _ in range(n))
            d = s[:pos] + ins + s[pos:]
            how = f"insert {ins.hex()[:32]}:"
        elif how == "delete":
            d = s[:pos] + s[pos + n:]
        else:
            d = s[:pos] + s[pos:pos + n] + s[pos:]
        out.append(Case(f"seed {si}: {how} {n} bytes at {pos}", d, "equal", si))
    return out


# ============================================================ zip structure
_LOCAL = [("signature", 0, "4s"), ("version_needed", 4, "B"), ("system_needed", 5, "B"),
          ("flags", 6, "H"), ("method", 8, "H"), ("mtime", 10, "H"), ("mdate", 12, "H"),
          ("crc", 14, "L"), ("compressed_size", 18, "L"), ("file_size", 22, "L"),
          ("name_len", 26, "H"), ("extra_len", 28, "H")]
_CENTRAL = [("signature", 0, "4s"), ("create_version", 4, "B"), ("create_system", 5, "B"),
            ("extract_version", 6, "B"), ("reserved", 7, "B"), ("flags", 8, "H"),
            ("method", 10, "H"), ("mtime", 12, "H"), ("mdate", 14, "H"), ("crc", 16, "L"),
            ("compressed_size", 20, "L"), ("file_size", 24, "L"), ("name_len", 28, "H"),
            ("extra_len", 30, "H"), ("comment_len", 32, "H"), ("disk_start", 34, "H"),
            ("internal_attr", 36, "H"), ("external_attr", 38, "L"), ("header_offset", 42, "L")]
_END = [("signature", 0, "4s"), ("disk", 4, "H"), ("cd_disk", 6, "H"), ("entries_disk", 8, "H"),
        ("entries", 10, "H"), ("cd_size", 12, "L"), ("cd_offset", 16, "L"),
        ("comment_len", 20, "H")]
_END64 = [("signature", 0, "4s"), ("record_size", 4, "Q"), ("create_version", 12, "H"),
          ("extract_version", 14, "H"), ("disk", 16, "L"), ("cd_disk", 20, "L"),
          ("entries_disk", 24, "Q"), ("entries", 32, "Q"), ("cd_size", 40, "Q"),
          ("cd_offset", 48, "Q")]
_LOC64 = [("signature", 0, "4s"), ("disk", 4, "L"), ("end64_offset", 8, "Q"), ("disks", 16, "L")]

Field = collections.namedtuple("Field", "record index name offset fmt value")


def zip_layout(blob):
    """Parse a (valid, comment-free or commented) zip: {"end", "members": [...]} with offsets."""
    e = blob.rfind(b"PK\x05\x06")
    if e < 0:
        raise ValueError("no end of central directory")
    end = dict(zip([f[0] for f in _END], struct.unpack_from("<4s4H2LH", blob, e)))
    end["_offset"] = e
    cd_off, count = end["cd_offset"], end["entries"]
    l64 = e - 20
    if l64 >= 0 and blob[l64:l64 + 4] == b"PK\x06\x07":
        loc = dict(zip([f[0] for f in _LOC64], struct.unpack_from("<4sLQL", blob, l64)))
        e64 = loc["end64_offset"]
        rec = dict(zip([f[0] for f in _END64], struct.unpack_from("<4sQ2H2L4Q", blob, e64)))
        end["_loc64"], end["_end64"] = l64, e64
        cd_off, count = rec["cd_offset"], rec["entries"]
    members, p = [], cd_off
    for _ in range(count):
        c = dict(zip([f[0] for f in _CENTRAL], struct.unpack_from("<4s4B4HL2L5H2L", blob, p)))
        name = blob[p + 46:p + 46 + c["name_len"]]
        h = c["header_offset"]
        lo = dict(zip([f[0] for f in _LOCAL], struct.unpack_from("<4s2B4HL2L2H", blob, h)))
        ds = h + 30 + lo["name_len"] + lo["extra_len"]
        size = c["compressed_size"]
        if size == 0xFFFFFFFF:   # zip64: take it from the local extra field
            ex = blob[h + 30 + lo["name_len"]:ds]
            q = 0
            while q + 4 <= len(ex):
                tag, ln = struct.unpack_from("<2H", ex, q)
                if tag == 1:
                    size = struct.unpack_from("<2Q", ex, q + 4)[1]
                q += 4 + ln
        members.append({"name": name, "cd": p, "local": h, "data_start": ds, "size": size,
                        "data_end": ds + size, "central": c, "localh": lo})
        p += 46 + c["name_len"] + c["extra_len"] + c["comment_len"]
    return {"end": end, "members": members}


def zip_fields(blob):
    """Every fixed-size field of every header record of a zip, with its offset."""
    lay = zip_layout(blob)
    out = []
    for i, m in enumerate(lay["members"]):
        for nm, off, fmt in _LOCAL:
            out.append(Field("local", i, nm, m["local"] + off, fmt, m["localh"][nm]))
        for nm, off, fmt in _CENTRAL:
            out.append(Field("central", i, nm, m["cd"] + off, fmt, m["central"][nm]))
    e = lay["end"]
    for nm, off, fmt in _END:
        out.append(Field("end", 0, nm, e["_offset"] + off, fmt, e[nm]))
    if "_end64" in e:
        for nm, off, fmt in _END64:
            v = struct.unpack_from("<" + fmt, blob, e["_end64"] + off)[0]
            out.append(Field("end64", 0, nm, e["_end64"] + off, fmt, v))
        for nm, off, fmt in _LOC64:
            v = struct.unpack_from("<" + fmt, blob, e["_loc64"] + off)[0]
            out.append(Field("locator64", 0, nm, e["_loc64"] + off, fmt, v))
    return out


_SIGS = [b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06", b"PK\x07\x08", b"\0\0\0\0"]


# values that mean something in particular fields: compression methods (deflate, bzip2, lzma,
# zstd, xz, AES ...), flag bits (encrypted, data descriptor, patched, strong encryption, utf-8)
_FIELD_VALUES = {"method": [8, 12, 14, 9, 1, 6, 93, 95, 98, 99],
                 "flags": [0x1, 0x8, 0x9, 0x20, 0x40, 0x800, 0x2000]}


def zip_fix_times(blob):
    """The same zip with every member's modification time set to 1980-01-01 00:00 (so seeds,
    and with them every corruption, are byte-identical from run to run)."""
    d = bytearray(blob)
    for m in zip_layout(blob)["members"]:
        struct.pack_into("<2H", d, m["local"] + 10, 0, 0x21)
        struct.pack_into("<2H", d, m["cd"] + 12, 0, 0x21)
    return bytes(d)


def zip_field_rewrites(seeds, rng, k):
    """Each header field of each record set to boundary values (0, 1, max, +-1, x2, top bit,
    the file's size, ...): local headers, central directory entries, end records."""
    groups = collections.defaultdict(lambda: collections.defaultdict(list))
    for si, s in enumerate(seeds):
        if s[:4] != b"PK\x03\x04":
            continue
        for f in zip_fields(s):
            if f.fmt == "4s":
                vals = [x for x in _SIGS if x != f.value] + [f.value[:3] + b"\x00"]
                kinds = [("sig", x) for x in vals]
            else:
                w = struct.calcsize("<" + f.fmt)
                special = [x for x in _FIELD_VALUES.get(f.name, ()) if x != f.value]
                kinds = [("special", x) for x in special] + [
                    ("big" if x >= 1 << (8 * w - 1) else "other", x)
                    for x in _interesting_ints(f.value, w, len(s)) if x not in special]
            for kind, v in kinds:
                shown = v if isinstance(v, bytes) else f"{v:#x}"

                def make(s=s, f=f, v=v):
                    d = bytearray(s)
                    struct.pack_into("<" + f.fmt, d, f.offset, v)
                    return d
                key = v if kind in ("special", "sig") else kind
                groups[(f.record, f.name)][key].append(
                    Case(f"seed {si}: {f.record}[{f.index}].{f.name} {f.value!r}->{shown}",
                         make, "equal", si))
    # every field gets its turn; within a field, its meaningful values first, then huge
    # values (sizes and offsets far past the file), then the other boundary values
    ordered = []
    for sub in groups.values():
        keys = sorted(sub, key=lambda x: (0, str(x)) if x not in ("big", "other") else
                      (1 if x == "big" else 2, ""))
        ordered.append(spread([sub[x] for x in keys], sum(map(len, sub.values())), rng,
                              keep_order=True))
    return spread(ordered, k, rng, shuffle_items=False)


def zip_data_flips(seeds, rng, k):
    """Flip bytes inside each member's data (CRC-protected)."""
    out = []
    zs = [(i, s, zip_layout(s)["members"]) for i, s in enumerate(seeds) if s[:4] == b"PK\x03\x04"]
    for _ in range(k):
        si, s, ms = rng.choice(zs)
        m = rng.choice([m for m in ms if m["size"]] or ms)
        if not m["size"]:
            continue
        pos = m["data_start"] + rng.choice([0, 1, m["size"] // 2, m["size"] - 1,
                                            rng.randrange(m["size"])])
        d = bytearray(s)
        x = rng.choice([1, 0x80, 0xFF, rng.randrange(1, 256)])
        d[pos] ^= x
        out.append(Case(f"seed {si}: data byte {pos} of member {m['name']!r} xor {x:#04x}",
                        bytes(d), "equal", si))
    return out


def zip_members(blob):
    """[(name, content)] of a valid zip, in central-directory order."""
    import zipfile
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        return [(i.filename, zf.read(i)) for i in zf.infolist()]


def zip_pack(members, *, prefix=b"", suffix=b"", comment=b"", central=None):
    """Write a zip exactly as told. members: dicts with
        name (str/bytes), data (bytes as stored in the archive), plain (the uncompressed bytes,
        for crc/file_size; default data), method (0), flags (0 or 0x800 for utf-8 names),
        crc / file_size / compressed_size (override), local_name (override the local header's),
        descriptor (True: sizes 0 in the local header and a data descriptor after the data).
    central: optional list of central-directory entry overrides (dicts, same keys + header_offset);
    entries can be duplicated or point anywhere."""
    out = bytearray(prefix)
    entries = []
    for m in members:
        name = m["name"].encode() if isinstance(m["name"], str) else m["name"]
        lname = m.get("local_name", name)
        lname = lname.encode() if isinstance(lname, str) else lname
        data = m["data"]
        plain = m.get("plain", data)
        crc = m.get("crc", zlib.crc32(plain) & 0xFFFFFFFF)
        usize = m.get("file_size", len(plain))
        csize = m.get("compressed_size", len(data))
        method, flags = m.get("method", 0), m.get("flags", 0)
        desc = m.get("descriptor", False)
        if desc:
            flags |= 0x08
        off = len(out) - len(prefix)
        out += struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, flags, method, 0x6000, 0x5A21,
                           0 if desc else crc, 0 if desc else csize, 0 if desc else usize,
                           len(lname), 0)
        out += lname + data
        if desc:
            out += struct.pack("<4s3L", b"PK\x07\x08", crc, csize, usize)
        entries.append(dict(name=name, crc=crc, file_size=usize, compressed_size=csize,
                            method=method, flags=flags, header_offset=off))
    if central is not None:
        entries = [dict(entries[c["from"]], **{k: v for k, v in c.items() if k != "from"})
                   if "from" in c else c for c in central]
    cd_start = len(out) - len(prefix)
    for e in entries:
        name = e["name"].encode() if isinstance(e["name"], str) else e["name"]
        out += struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, e["flags"], e["method"],
                           0x6000, 0x5A21, e["crc"], e["compressed_size"], e["file_size"],
                           len(name), 0, 0, 0, 0, 0o644 << 16, e["header_offset"])
        out += name
    cd_size = len(out) - len(prefix) - cd_start
    out += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), cd_size,
                       cd_start, len(comment)) + comment
    return bytes(out + suffix)


def stored(name, content, **kw):
    return dict(name=name, data=content, **kw)


def deflated(name, content, **kw):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return dict(name=name, data=c.compress(content) + c.flush(), plain=content, method=8, **kw)


_BOMB = {}


def deflate_bomb(size=512 << 20):
    """A raw-deflate stream of `size` zero bytes (512 MiB -> about 2.3 MB), built once."""
    if size not in _BOMB:
        c = zlib.compressobj(1, zlib.DEFLATED, -15)
        chunk = bytes(1 << 20)
        parts = [c.compress(chunk) for _ in range(size >> 20)]
        parts.append(c.compress(bytes(size & ((1 << 20) - 1))))
        parts.append(c.flush())
        crc = 0
        for _ in range(size >> 20):
            crc = zlib.crc32(chunk, crc)
        crc = zlib.crc32(bytes(size & ((1 << 20) - 1)), crc)
        _BOMB[size] = (b"".join(parts), crc & 0xFFFFFFFF)
    return _BOMB[size]


TRAVERSAL_NAMES = ["../x", "../../etc/passwd", "/abs/x", "/dualgraph/format", "\\windows\\x",
                   "C:/x", "C:\\x", "dualgraph/../../x", "./dualgraph/format",
                   "dualgraph//manifest.json", "dualgraph/./manifest.json", "dualgraph\\format",
                   "x\0y", "", "/", ".", "..", "dualgraph/arrays/../../../x.npy"]


def zip_member_edits(seeds, rng, k):
    """Whole-member edits of a zip, re-packed with valid CRCs: compression (honest, lying sizes,
    unknown methods, zip bombs), encryption flags, traversal and absolute names, duplicates,
    drops, reorderings, extra members, pickles, data descriptors, prefixes/suffixes/comments,
    central entries that alias one local header."""
    groups = collections.defaultdict(list)
    bomb = None
    for si, s in enumerate(seeds):
        if s[:4] != b"PK\x03\x04":
            continue
        ms = zip_members(s)
        st = [stored(n, c) for n, c in ms]

        def add(g, desc, members=None, mode="equal", **kw):
            groups[g].append(Case(f"seed {si}: {desc}", functools.partial(
                zip_pack, st if members is None else members, **kw), mode, si))

        add("repack", "re-packed unchanged")
        add("descriptor", "all members with data descriptors",
            [dict(m, descriptor=True) for m in st])
        add("prefix", "64 bytes of garbage before the archive", prefix=b"\0" * 64)
        add("suffix", "garbage after the archive", suffix=b"garbage" * 3)
        add("comment", "an archive comment", comment=b"hello")
        for i, (n, c) in enumerate(ms):
            rest = lambda m: st[:i] + [m] + st[i + 1:]  # noqa: E731
            add("deflate", f"member {n!r} deflated honestly", rest(deflated(n, c)))
            add("deflate", f"member {n!r} deflated, file_size claims 1",
                rest(deflated(n, c, file_size=1)))
            add("deflate", f"member {n!r} deflated, file_size claims 2**32-1",
                rest(deflated(n, c, file_size=0xFFFFFFFF)))
            add("deflate", f"member {n!r} stored but marked deflated",
                rest(stored(n, c, method=8)))
            for meth in (1, 6, 9, 12, 14, 93, 95, 98, 99, 0xFFFF):
                add("method", f"member {n!r} method {meth}", rest(stored(n, c, method=meth)))
            for fl in (0x01, 0x40, 0x20, 0x2000):
                add("flags", f"member {n!r} flags {fl:#x}", rest(stored(n, c, flags=fl)))
            if bomb is None:
                bomb = deflate_bomb()
            bz, bcrc = bomb
            for claim in (512 << 20, len(c), 100, 0):
                add("bomb", f"member {n!r} replaced by a {len(bz)}-byte deflate bomb of 512 MiB "
                            f"(file_size claims {claim})",
                    rest(dict(name=n, data=bz, plain=b"", crc=bcrc, method=8, file_size=claim)),
                    mode="error")
            for bad in TRAVERSAL_NAMES:
                add("names", f"member {n!r} renamed {bad!r}", rest(stored(bad, c)))
                add("names", f"member {n!r} local name {bad!r}", rest(stored(n, c, local_name=bad)))
            add("names", f"member {n!r} with a utf-8 flag", rest(stored(n, c, flags=0x800)))
            add("names", f"member {n!r} renamed with invalid utf-8",
                rest(stored(n.encode() + b"\xff\xfe", c, flags=0x800)))
            add("dup", f"member {n!r} duplicated", st[:i + 1] + [stored(n, c)] + st[i + 1:])
            add("dup", f"member {n!r} duplicated with other content at the end",
                st + [stored(n, c[::-1] or b"x")])
            add("dup", f"member {n!r} duplicated with other content first",
                st[:i] + [stored(n, b"garbage")] + st[i:])
            add("drop", f"member {n!r} dropped", st[:i] + st[i + 1:])
            add("empty", f"member {n!r} emptied", rest(stored(n, b"")))
            add("pickle", f"member {n!r} replaced by a pickle", rest(stored(n, pwn_pickle())))
            add("alias", f"central entry of {n!r} points at member 0's local header",
                central=[{"from": j} for j in range(i)] + [{"from": i, "header_offset": 0}]
                + [{"from": j} for j in range(i + 1, len(st))])
            if i + 1 < len(ms):
                sw = list(st)
                sw[i], sw[i + 1] = sw[i + 1], sw[i]
                add("order", f"members {i} and {i + 1} swapped", sw)
        add("order", "members reversed", st[::-1])
        add("extra", "an extra member data.pkl holding a pickle",
            st + [stored("data.pkl", pwn_pickle())])
        add("extra", "an extra member with a traversal name", st + [stored("../evil", b"x")])
        add("extra", "an extra member first", [stored("zzz", b"x")] + st)
        add("empty", "no members at all", [])
        add("dup", "every member twice", st + st)
        add("alias", "two central entries for one local header",
            central=[{"from": j} for j in range(len(st))] + [{"from": 0}])
    return spread(list(groups.values()), k, rng)


def default_families(seeds):
    fams = [(bytes_truncate, 1), (bytes_flip, 2), (bytes_insert_delete, 1)]
    if all(s[:4] == b"PK\x03\x04" for s in seeds):
        fams += [(zip_field_rewrites, 3), (zip_data_flips, 1), (zip_member_edits, 2)]
    return fams


# ============================================================ JSON documents
GARBAGE = [None, True, False, 0, 1, -1, 2, 2 ** 31, -2 ** 31 - 1, 2 ** 63, -2 ** 63 - 1, 2 ** 64,
           10 ** 40, -(10 ** 40), 1.5, -0.0, 1e308, -1e308, "", "x", "A" * 1000, "\u0000",
           "$tensor", [], {}, [None], [[]], [[[[[[[[]]]]]]]], {"": None}, {"a": {"b": {"c": [1]}}},
           [0] * 100, {"$tensor": 0}, {"$dict": "ab", "ordered": True}, {"$float": "1e999"},
           {"$dtype": "object"}, {"$size": [-1]}, {"$tuple": 5}, {"$npscalar": 0},
           {"$ndarray": 10 ** 9}, [{"kind": "tensor"}]]


def json_paths(doc, path=()):
    """Every (path, value) in a JSON tree, the root included."""
    yield path, doc
    if isinstance(doc, dict):
        for key, v in doc.items():
            yield from json_paths(v, path + (key,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from json_paths(v, path + (i,))


def _set(doc, path, value, delete=False):
    doc = json.loads(json.dumps(doc))
    if not path:
        return value
    parent = doc
    for p in path[:-1]:
        parent = parent[p]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


def _dumps_dup(doc, path, value, first):
    """JSON text of doc where the object holding path gets a second entry for its key."""
    if not path:
        return json.dumps(doc)
    if isinstance(doc, dict):
        parts = []
        for key, v in doc.items():
            txt = json.dumps(key) + ":"
            if key == path[0]:
                if len(path) == 1:
                    pair = [txt + json.dumps(v), txt + json.dumps(value)]
                    parts += pair[::-1] if first else pair
                    continue
                parts.append(txt + _dumps_dup(v, path[1:], value, first))
            else:
                parts.append(txt + json.dumps(v))
        return "{" + ",".join(parts) + "}"
    if isinstance(doc, list):
        return "[" + ",".join(_dumps_dup(v, path[1:], value, first) if i == path[0]
                              else json.dumps(v) for i, v in enumerate(doc)) + "]"
    return json.dumps(doc)


def json_mutations(doc, rng, k):
    """k mutations of a JSON document as (desc, text, mode), spread over every field: missing
    keys, wrong types, negative/huge numbers, nested garbage, renamed and unknown keys, duplicate
    keys, plus broken text (truncation, bad UTF-8, NaN, deep nesting, long numbers). mode is
    "equal" for a mutation that keeps the meaning (re-formatting), "any" otherwise."""
    text = json.dumps(doc, separators=(",", ":"))
    by_field = collections.defaultdict(list)   # fields alike (list indices as *) share a turn
    for path, v in json_paths(doc):
        g = by_field["/".join("*" if isinstance(p, int) else str(p) for p in path)]
        where = "/".join(map(str, path)) or "(root)"
        for bad in GARBAGE:
            if bad == v and type(bad) is type(v):
                continue
            g.append((f"{where} = {json.dumps(bad)[:40]}", _lazy(_set, doc, path, bad), "any"))
        for bad in ([v], {"x": v}, str(v)[:50]):
            g.append((f"{where} wrapped as {type(bad).__name__}", _lazy(_set, doc, path, bad),
                      "any"))
        if isinstance(v, int) and not isinstance(v, bool):
            for bad in (-v, v + 1, v - 1, -v - 1, v * 1000, v + 2 ** 32, v + 2 ** 64, float(v)):
                g.append((f"{where} {v}->{bad}", _lazy(_set, doc, path, bad), "any"))
        if path:
            g.append((f"{where} deleted", _lazy(_set, doc, path, None, delete=True), "any"))
            if isinstance(path[-1], str):
                for bad in (v, "garbage", None, 10 ** 20):
                    g.append((f"{where} duplicated ({json.dumps(bad)[:30]})",
                              functools.partial(_dumps_dup, doc, path, bad, rng.random() < 0.5),
                              "any"))
        if isinstance(v, dict):
            g.append((f"{where} gains an unknown key", _lazy(_set, doc, path, dict(v, zz=1)),
                      "any"))
            for key in list(v):
                nv = {(key + "_" if kk == key else kk): vv for kk, vv in v.items()}
                g.append((f"{where} key {key!r} renamed", _lazy(_set, doc, path, nv), "any"))
        if isinstance(v, list) and v:
            g.append((f"{where} doubled", _lazy(_set, doc, path, v + v), "any"))
            g.append((f"{where} reversed", _lazy(_set, doc, path, v[::-1]), "any"))
    groups = list(by_field.values())
    raw = [("reformatted with indentation", json.dumps(doc, indent=2), "equal"),
           ("reformatted with spaces", json.dumps(doc), "equal"),
           ("leading and trailing whitespace", " \n" + text + "\n ", "equal"),
           ("a UTF-8 BOM first", "\ufeff" + text, "any"),
           ("trailing garbage", text + "xyz", "any"),
           ("two documents", text + text, "any"),
           ("NaN literal", text.replace("1", "NaN", 1), "any"),
           ("Infinity literal", text.replace("1", "Infinity", 1), "any"),
           ("-Infinity literal", text.replace("1", "-Infinity", 1), "any"),
           ("a 5000-digit number", text.replace("1", "9" * 5000, 1), "any"),
           ("1e999", text.replace("1", "1e999", 1), "any"),
           ("deep nesting (100000 lists)", "[" * 100000 + "]" * 100000, "any"),
           ("deep nesting (100000 objects)", '{"a":' * 100000 + "1" + "}" * 100000, "any"),
           ("unclosed deep nesting", "[" * 100000, "any"),
           ("not JSON", "not json", "any"), ("empty", "", "any"), ("null", "null", "any"),
           ("a number", "12", "any"), ("a list", "[]", "any"),
           ("a huge string", json.dumps("x" * 100000), "any"),
           ("a lone surrogate", text[:-1] + ',"\\ud800":1}' if text.endswith("}") else text, "any")]
    cuts = sorted({0, 1, len(text) // 2, len(text) - 1} | {rng.randrange(len(text) or 1)
                                                           for _ in range(20)})
    groups += [[r] for r in raw] + [[(f"truncated at {c}", text[:c], "any") for c in cuts]]
    return [(d, t() if callable(t) else t, m) for d, t, m in spread(groups, k, rng)]


def _lazy(fn, *args, **kw):
    return lambda: json.dumps(fn(*args, **kw))

