"""Products: mm (2-D only), bmm (3-D only), dot (1-D only), matmul (broadcasting), outer.

The three products differ on purpose, as in PyTorch; each rule raises PyTorch's error.
"""
import numpy as np

from ..dtypes import scalar_name, result_type
from ..errors import DGRuntimeError
from .common import Spec, broadcast_shapes, c_order, ctype_name, fmt_shape, numel
from .blas import matmul as matmul_kernel
from .dispatch import apply
from .registry import defop, CROSS


def _dims(s):
    return fmt_shape(s, "x", brackets=False)


def _same_dtype(name, a, b):
    if a.dtype != b.dtype:
        raise DGRuntimeError(
            f"expected {name} to have the same dtype, but got: {scalar_name(a.dtype)} != {scalar_name(b.dtype)}")


def _compatible(k1, k2):
    return k1 is None or k2 is None or k1 == k2


def _mm_infer(a, b):
    if len(a.shape) != 2:
        raise DGRuntimeError("self must be a matrix")
    if len(b.shape) != 2:
        raise DGRuntimeError("mat2 must be a matrix")
    if not _compatible(a.shape[1], b.shape[0]):
        raise DGRuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({_dims(a.shape)} and {_dims(b.shape)})")
    if a.dtype != b.dtype:
        raise DGRuntimeError(
            f"expected m1 and m2 to have the same dtype, but got: {ctype_name(a.dtype)} != "
            f"{ctype_name(b.dtype)}")
    return Spec((a.shape[0], b.shape[1]), a.dtype)


def _mm_kernel(a, b):
    if a.ndim != 2 or b.ndim != 2 or a.dtype is not b.dtype:
        raise ValueError("mm")
    return matmul_kernel(a, b)


# bilinear (here and below): each gradient reads only the other operand (CROSS), so the
# version check pins only that one
mm_op = defop("mm", _mm_kernel, _mm_infer, saves=CROSS, out_kernel=matmul_kernel)


def _bmm_infer(a, b):
    if len(a.shape) != 3:
        raise DGRuntimeError("batch1 must be a 3D tensor")
    if len(b.shape) != 3:
        raise DGRuntimeError("batch2 must be a 3D tensor")
    if not (_compatible(a.shape[0], b.shape[0]) and _compatible(a.shape[2], b.shape[1])):
        raise DGRuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: [{a.shape[0]}, "
            f"{a.shape[2]}] but got: [{b.shape[0]}, {b.shape[1]}].")
    _scalar_type(a, b)
    return Spec((a.shape[0], a.shape[1], b.shape[2]), a.dtype)


def _scalar_type(a, b):
    if a.dtype != b.dtype:
        raise DGRuntimeError(
            f"expected scalar type {scalar_name(a.dtype)} but found {scalar_name(b.dtype)}")


def _bmm_kernel(a, b):
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0] or a.dtype is not b.dtype:
        raise ValueError("bmm")
    return matmul_kernel(a, b)


bmm_op = defop("bmm", _bmm_kernel, _bmm_infer, saves=CROSS, out_kernel=matmul_kernel)


def _dot_infer(a, b):
    if len(a.shape) != 1 or len(b.shape) != 1:
        raise DGRuntimeError(
            f"1D tensors expected, but got {len(a.shape)}D and {len(b.shape)}D tensors")
    if not _compatible(a.shape[0], b.shape[0]):
        raise DGRuntimeError(
            f"inconsistent tensor size, expected tensor [{a.shape[0]}] and src [{b.shape[0]}] to "
            f"have the same number of elements, but got {a.shape[0]} and {b.shape[0]} elements respectively")
    if a.dtype != b.dtype:
        raise DGRuntimeError(
            f"dot : expected both vectors to have same dtype, but found {scalar_name(a.dtype)} and {scalar_name(b.dtype)}")
    return Spec((), a.dtype)


def _dot_kernel(a, b):
    if a.ndim != 1 or b.ndim != 1 or a.dtype is not b.dtype:
        raise ValueError("dot")
    return np.asarray(np.dot(a, b))


dot_op = defop("dot", _dot_kernel, _dot_infer, saves=CROSS)


def _matmul_infer(a, b):
    sa, sb = tuple(a.shape), tuple(b.shape)
    if not sa or not sb:
        raise DGRuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {len(sa)}D and {len(sb)}D")
    if len(sa) == 1 and len(sb) == 1:
        return _dot_infer(a, b)
    if len(sa) == 2 and len(sb) == 2:
        return _mm_infer(a, b)
    if len(sa) == 1 and len(sb) == 2:   # PyTorch runs (1, k) @ (k, m)
        return Spec((_mm_infer(Spec((1,) + sa, a.dtype), b).shape[1],), a.dtype)
    ka = sa[-1]
    kb = sb[0] if len(sb) == 1 else sb[-2]
    if not _compatible(ka, kb):
        if len(sb) == 1:
            raise DGRuntimeError(
                f"size mismatch, got input ({sa[-2] if len(sa) > 1 else 1}), mat "
                f"({_dims(sa)}), vec ({sb[0]})")
        raise DGRuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: [{_bat(sa)}, {ka}] "
            f"but got: [{_bat(sb)}, {kb}].")
    if a.dtype != b.dtype:
        if len(sa) > 2 or len(sb) > 2:
            _scalar_type(a, b)
        _same_dtype("both arguments", a, b)
    batch = broadcast_shapes(sa[:-2], sb[:-2]) if len(sa) > 1 and len(sb) > 1 else (
        sa[:-2] if len(sb) == 1 else sb[:-2])
    out = batch + ((sa[-2],) if len(sa) > 1 else ()) + ((sb[-1],) if len(sb) > 1 else ())
    return Spec(out, a.dtype)


def _bat(s):
    return numel(s[:-2])


def _matmul_kernel(a, b):
    if a.dtype is not b.dtype:
        raise ValueError("matmul dtypes")
    return matmul_kernel(a, b)


matmul_op = defop("matmul", _matmul_kernel, _matmul_infer, saves=CROSS, torch_name="Mm",
                  out_kernel=matmul_kernel)


def _outer_infer(a, b):
    if len(a.shape) != 1 or len(b.shape) != 1:
        raise DGRuntimeError(
            f"outer: Expected 1-D argument self, but got {len(a.shape)}-D" if len(a.shape) != 1
            else f"outer: Expected 1-D argument vec2, but got {len(b.shape)}-D")
    return Spec((a.shape[0], b.shape[0]), result_type((a.dtype, 1), (b.dtype, 1)))


def _outer_kernel(a, b):
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError("outer")
    return np.multiply.outer(a, b).astype(result_type((a.dtype, 1), (b.dtype, 1)), copy=False)


outer_op = defop("outer", _outer_kernel, _outer_infer, saves=CROSS)


def _product_out(result, out, name):
    """out= of the products: elementwise's `_out` (the write door, PyTorch's checks), with the
    products' exact-dtype rule."""
    if out is None:
        return result
    from .elementwise import _out
    return _out(result, out, name, exact_dtype=True)


def mm(input, mat2, *, out=None):
    return _product_out(apply(mm_op, input, mat2), out, "mm")


def bmm(input, mat2, *, out=None):
    return _product_out(apply(bmm_op, input, mat2), out, "bmm")


def dot(input, other):
    return apply(dot_op, input, other)


def matmul(input, other, *, out=None):
    return _product_out(apply(matmul_op, input, other), out, "matmul")


def outer(input, vec2):
    return apply(outer_op, input, vec2)


ger = outer


# ---------------------------------------------------------------- einsum
# The op holds an explicit equation over letters (no '...', an output always given): the public
# einsum parses the user's equation (ellipsis, implicit output) into one. Beyond the user's
# einsum the op allows a repeated output subscript ("i->ii": the values put on the diagonal of
# zeros), the adjoint of a repeated input subscript (which takes a diagonal): so the backward
# rule of an einsum is an einsum (of the output gradient and the other operands).
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _split_eq(equation):
    ins, out = equation.split("->")
    return ins.split(","), out


def _label_sizes(subs, shapes):
    """{label: size} over the operands (size 1 broadcasts; None unknown), PyTorch's errors."""
    sizes = {}
    for k, (sub, shape) in enumerate(zip(subs, shapes)):
        own = {}
        for lab, d in zip(sub, shape):
            if lab in own and None not in (own[lab], d) and own[lab] != d:
                raise DGRuntimeError(
                    f"einsum(): subscript {lab} is repeated for operand {k} but the sizes don't "
                    f"match, {d} != {own[lab]}")
            own[lab] = d if own.get(lab) is None else own[lab]
        for lab, d in own.items():
            prev = sizes.get(lab, 1)
            if lab not in sizes:
                sizes[lab] = d
            elif d == 1 or prev == d:
                continue
            elif prev == 1:
                sizes[lab] = d
            elif prev is None or d is None:
                sizes[lab] = prev if d is None else d
            else:
                raise DGRuntimeError(
                    f"einsum(): subscript {lab} has size {d} for operand {k} which does not "
                    f"broadcast with previously seen size {prev}")
    return sizes


def _einsum_infer(*xs, equation):
    subs, out = _split_eq(equation)
    for k, (sub, x) in enumerate(zip(subs, xs)):
        if len(sub) != len(x.shape):
            raise DGRuntimeError(
                f"einsum(): the number of subscripts in the equation ({len(sub)}) does not match "
                f"the number of dimensions ({len(x.shape)}) for operand {k} and no ellipsis was given")
    for x in xs[1:]:
        if x.dtype != xs[0].dtype:
            raise DGRuntimeError(
                f"expected scalar type {scalar_name(xs[0].dtype)} but found {scalar_name(x.dtype)}")
    sizes = _label_sizes(subs, [x.shape for x in xs])
    return Spec(tuple(sizes[lab] for lab in out), _einsum_dtype(subs, out, xs[0].dtype))


def _einsum_dtype(subs, out, dtype):
    """PyTorch sums a lone operand's dropped subscripts with sum, which makes integer and bool
    inputs int64."""
    dtype = np.dtype(dtype)
    if len(subs) == 1 and dtype.kind in "biu" and set(subs[0]) - set(out):
        return np.dtype(np.int64)
    return dtype


def _einsum_kernel(*xs, equation):
    subs, out = _split_eq(equation)
    if any(len(s) != x.ndim for s, x in zip(subs, xs)) or any(x.dtype != xs[0].dtype for x in xs):
        raise ValueError("einsum")
    sizes = _label_sizes(subs, [x.shape for x in xs])
    ops, new_subs = [], []
    for sub, x in zip(subs, xs):  # a size-1 dim broadcast against a larger one: dropped
        drop = tuple(i for i, lab in enumerate(sub) if x.shape[i] == 1 and sizes[lab] != 1)
        if drop:
            x = x.reshape(tuple(d for i, d in enumerate(x.shape) if i not in drop))
            sub = "".join(lab for i, lab in enumerate(sub) if i not in drop)
        ops.append(c_order(x))
        new_subs.append(sub)
    uniq = "".join(dict.fromkeys(out))
    want = _einsum_dtype(subs, out, xs[0].dtype)
    if want != xs[0].dtype:
        ops = [x.astype(want) for x in ops]
    r = np.einsum(",".join(new_subs) + "->" + uniq, *ops, optimize=len(ops) > 1)
    if len(uniq) != len(out):  # a repeated output subscript: r on the diagonal of zeros
        z = np.zeros(tuple(sizes[lab] for lab in out), dtype=r.dtype)
        np.einsum(out + "->" + uniq, z)[...] = r
        r = z
    return np.asarray(r, dtype=want)


def _einsum_saves(inputs, needs):
    """Operand k's gradient reads every other operand (a bilinear op reads the other one)."""
    n = len(inputs)
    return tuple(j for j in range(n) if any(
        (needs is None or needs[k]) for k in range(n) if k != j))


einsum_op = defop("einsum", _einsum_kernel, _einsum_infer, saves=_einsum_saves,
                  torch_name="Einsum")


def _einsum_error(msg):
    raise DGRuntimeError("einsum(): " + msg)


def _parse_einsum(equation, shapes):
    """The user's equation (spaces, '...', implicit output) as the op's explicit one."""
    if not isinstance(equation, str):
        from ..errors import DGTypeError
        raise DGTypeError(f"einsum(): argument 'equation' must be str, not {type(equation).__name__}")
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    # subscripts are checked first (their index in the equation string), as PyTorch
    for i, c in enumerate(equation):
        if c not in _LETTERS and c not in ".,->" and c != " ":
            _einsum_error(f"invalid subscript given at index {i} in the equation string, "
                          "subscripts must be in [a-zA-Z]")
    if len(terms) > len(shapes):
        _einsum_error("fewer operands were provided than specified in the equation")
    if len(terms) < len(shapes):
        _einsum_error("more operands were provided than specified in the equation")
    parsed = []  # per operand: a list of labels, '...' marking the ellipsis
    for k, t in enumerate(terms):
        labs, i = [], 0
        while i < len(t):
            if t.startswith("...", i):
                if "..." in labs:
                    _einsum_error(f"found '.' for operand {k} for which an ellipsis was already found")
                labs.append("...")
                i += 3
            elif t[i] == ".":
                _einsum_error(f"found '.' for operand {k} that is not part of any ellipsis")
            else:
                labs.append(t[i])
                i += 1
        parsed.append(labs)
    used = set(c for c in eq if c in _LETTERS)
    fresh = [c for c in _LETTERS if c not in used]
    ell_rank = 0
    for k, (labs, shape) in enumerate(zip(parsed, shapes)):
        n = len(labs) - ("..." in labs)
        if "..." in labs:
            if n > len(shape):
                _einsum_error(f"the number of subscripts in the equation ({n}) is more than the "
                              f"number of dimensions ({len(shape)}) for operand {k}")
            ell_rank = max(ell_rank, len(shape) - n)
        elif n != len(shape):
            _einsum_error(f"the number of subscripts in the equation ({n}) does not match the "
                          f"number of dimensions ({len(shape)}) for operand {k} and no ellipsis was given")
    if ell_rank > len(fresh):
        _einsum_error("too many dimensions (more than 52 subscripts)")
    ell = fresh[:ell_rank]  # the ellipsis dims, right-aligned (they broadcast)
    subs = []
    for labs, shape in zip(parsed, shapes):
        s = []
        for lab in labs:
            s += ell[ell_rank - (len(shape) - len(labs) + 1):] if lab == "..." else [lab]
        subs.append("".join(s))
    if arrow:
        out, i = [], 0
        while i < len(rhs):
            if rhs.startswith("...", i):
                if "..." in out:
                    _einsum_error("found '.' for output but an ellipsis (...) was already found")
                out.append("...")
                i += 3
            elif rhs[i] == ".":
                _einsum_error("found '.' for output that is not part of any ellipsis (...)")
            elif rhs[i] in ",->":
                _einsum_error(f"invalid subscript given at index {len(lhs) + 2 + i} in the equation "
                              "string, subscripts must be in [a-zA-Z]")
            else:
                lab = rhs[i]
                if lab in out:
                    _einsum_error(f"output subscript {lab} appears more than once in the output")
                if not any(lab in labs for labs in parsed):
                    _einsum_error(f"output subscript {lab} does not appear in the equation for any "
                                  "input operand")
                out.append(lab)
                i += 1
        out = "".join("".join(ell) if lab == "..." else lab for lab in out)
    else:  # implicit: the ellipsis dims, then the subscripts seen once, in alphabetical order
        counts = {}
        for labs in parsed:
            for lab in labs:
                if lab != "...":
                    counts[lab] = counts.get(lab, 0) + 1
        out = "".join(ell) + "".join(sorted(lab for lab, n in counts.items() if n == 1))
    return ",".join(subs) + "->" + out


def einsum(equation, *operands):
    """torch.einsum(equation, *operands) (or a single list of operands): '...' broadcasts, an
    equation without '->' sums the subscripts seen more than once (its output: the ellipsis
    dims, then the others in alphabetical order, uppercase first)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    for x in operands:
        if not (hasattr(x, "shape") and hasattr(x, "dtype")) or isinstance(x, np.generic):
            from ..errors import DGTypeError
            raise DGTypeError(
                f"einsum(): argument 'operands' must be tuple of Tensors, not {type(x).__name__}")
    eq = _parse_einsum(equation, [tuple(x.shape) for x in operands])
    try:
        _label_sizes(_split_eq(eq)[0], [tuple(x.shape) for x in operands])
    except DGRuntimeError as e:  # PyTorch names the ellipsis dims that do not broadcast
        lab = str(e).split("subscript ", 1)[1][0]
        if lab not in equation:
            raise DGRuntimeError(_ellipsis_msg(_split_eq(eq)[0], operands, lab, equation)) from None
        raise
    return apply(einsum_op, *operands, equation=eq)


def _ellipsis_msg(subs, operands, lab, equation):
    """PyTorch's words for ellipsis dims that do not broadcast (lab: the ellipsis dim's letter)."""
    pos = [c for c in _LETTERS if c not in equation].index(lab)
    seen = 1
    for k, (sub, x) in enumerate(zip(subs, operands)):
        if lab not in sub:
            continue
        d = x.shape[sub.index(lab)]
        if d not in (1, None) and seen not in (1, d):
            return (f"einsum(): dimension {pos} covered by ellipsis in operand {k}has size {d} "
                    f"which does not broadcast with previously seen ellipsis with size {seen} for "
                    "the respective dimension")
        if d not in (1, None):
            seen = d
    return f"einsum(): the ellipsis dimension {pos} does not broadcast"
