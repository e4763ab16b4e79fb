"""A misuse catalogue: what dualgraph says when it is used wrongly, next to what PyTorch says.

Each case is a small function of the library module `m` doing one misuse. Most are written once
and run twice, with `m = dualgraph` and with `m = torch` (the same code: dualgraph spells its API
as PyTorch does); a case PyTorch has no counterpart for (graph mode, dualgraph's own checkpoint
format) runs on dualgraph only. For every case:

- dualgraph raises the expected built-in exception type, and its error is a `dg.DualGraphError`;
- the message carries the key phrase, a substring taken from PyTorch's actual message;
- where PyTorch has the case, torch raises the same built-in type with the same phrase (the torch
  half skips cleanly when torch is not installed; the dualgraph half has run by then);
- a case marked `known=` is a divergence these files cannot fix yet: it xfails (not strict)
  while dualgraph's error is not a DualGraphError, and passes once it is;
- graph-mode cases only *build* nodes (nothing is run), so raising proves the error comes at build
  time; the message must also name the node being built ("while building node ...").
"""
import math
import pickle

import numpy as np
import pytest

import dualgraph as dg

BUILTINS = (IndexError, TypeError, ValueError, FileNotFoundError, NotImplementedError,
            RuntimeError, AttributeError, KeyError, AssertionError)


class Case:
    def __init__(self, name, fn, exc, phrase, torch=True, torch_exc=None, graph=False, known=None):
        self.name, self.fn, self.exc, self.phrase = name, fn, exc, phrase
        self.known = known            # a divergence not fixed yet (outside these files): why
        self.torch = torch            # True: run fn with torch too; a function: torch's version
        self.torch_exc = torch_exc    # where PyTorch's built-in type differs (a known divergence)
        self.graph = graph

    def __repr__(self):
        return self.name


CASES = []


def case(name, exc, phrase, **kw):
    def deco(fn):
        CASES.append(Case(name, fn, exc, phrase, **kw))
        return fn
    return deco


def builtin_type(e):
    """The most specific built-in exception class of e (dualgraph's errors mix one in)."""
    for k in type(e).__mro__:
        if k.__module__ == "builtins":
            return k
    return None


# ============================================================== tensors: in-place dtype rules
@case("inplace-int-add-float", RuntimeError,
      "result type Float can't be cast to the desired output type Long")
def _(m):
    x = m.zeros(3, dtype=m.int64)
    x += 0.5


@case("inplace-int-mul-float-tensor", RuntimeError,
      "result type Float can't be cast to the desired output type Long")
def _(m):
    m.zeros(3, dtype=m.int64).mul_(m.ones(3))


@case("inplace-int-div", RuntimeError,
      "result type Float can't be cast to the desired output type Long")
def _(m):
    m.ones(3, dtype=m.int64).div_(2)


@case("inplace-int32-add-0d-float", RuntimeError,
      "result type Float can't be cast to the desired output type Int")
def _(m):
    m.zeros(3, dtype=m.int32).add_(m.tensor(1.5))


@case("inplace-bool-add-int", RuntimeError,
      "result type Long can't be cast to the desired output type Bool")
def _(m):
    m.zeros(3, dtype=m.bool).add_(1)


@case("inplace-bool-div-bool", RuntimeError,
      "result type Float can't be cast to the desired output type Bool")
def _(m):
    m.zeros(3, dtype=m.bool).div_(m.ones(3, dtype=m.bool))


@case("inplace-int-clamp-float", RuntimeError,
      "result type Float can't be cast to the desired output type long int")
def _(m):
    m.zeros(3, dtype=m.int64).clamp_(0.5)


@case("add-int-float-alpha", RuntimeError,
      "For integral input tensors, argument alpha must not be a floating point number.")
def _(m):
    m.zeros(3, dtype=m.int64).add_(1, alpha=0.5)


@case("add-bool-alpha-float-result", RuntimeError, "Boolean alpha only supported for Boolean results.")
def _(m):
    m.add(m.ones(3), 1, alpha=True)


@case("index-put-dtype-mismatch", RuntimeError,
      "Index put requires the source and destination dtypes match, got Float for the destination "
      "and Double for the source.")
def _(m):
    x = m.zeros(3)
    x[m.tensor([0])] = m.tensor([1.0], dtype=m.float64)


@case("normal-on-int-tensor", NotImplementedError, "\"normal_kernel_cpu\" not implemented for 'Long'")
def _(m):
    m.zeros(3, dtype=m.int64).normal_()


@case("uniform-on-int-tensor", NotImplementedError,
      "\"check_uniform_bounds\" not implemented for 'Int'")
def _(m):
    m.zeros(3, dtype=m.int32).uniform_()


@case("normal-on-bool-tensor", NotImplementedError, "\"normal_kernel_cpu\" not implemented for 'Bool'")
def _(m):
    m.zeros(3, dtype=m.bool).normal_(0.0, 2.0)


@case("inplace-output-shape", RuntimeError, "doesn't match the broadcast shape")
def _(m):
    m.zeros(3).add_(m.ones(2, 3))


# ============================================================== tensors: split/chunk/narrow
@case("split-size-zero", RuntimeError,
      "split_size can only be 0 if dimension size is 0, but got dimension size of 4")
def _(m):
    m.ones(4).split(0)


@case("split-size-negative", RuntimeError, "split expects split_size be non-negative, but got split_size=-1")
def _(m):
    m.ones(4).split(-1)


@case("split-sizes-negative-entry", RuntimeError,
      "split_with_sizes expects split_sizes have only non-negative entries")
def _(m):
    m.ones(4).split([1, -1, 4])


@case("split-sizes-wrong-sum", RuntimeError, "split_with_sizes expects split_sizes to sum exactly to 4")
def _(m):
    m.ones(4).split([1, 2])


@case("split-float-size", TypeError, "must be tuple of ints, not float")
def _(m):
    m.ones(4).split(2.0)


@case("split-0d", RuntimeError, "split expects at least a 1-dimensional tensor")
def _(m):
    m.tensor(1.0).split(1)


@case("chunk-zero", RuntimeError, "chunk expects `chunks` to be greater than 0, got: 0")
def _(m):
    m.ones(4).chunk(0)


@case("chunk-float", TypeError, "chunk(): argument 'chunks' (position 1) must be int, not float")
def _(m):
    m.ones(4).chunk(2.5)


@case("narrow-start-out-of-range", IndexError, "start out of range (expected to be in range of [-4, 4], but got 5)")
def _(m):
    m.ones(4).narrow(0, 5, 0)


@case("narrow-exceeds", RuntimeError, "start (3) + length (2) exceeds dimension size (4).")
def _(m):
    m.ones(4).narrow(0, 3, 2)


@case("narrow-negative-length", RuntimeError, "narrow(): length must be non-negative.")
def _(m):
    m.ones(4).narrow(0, 1, -1)


@case("narrow-0d", RuntimeError, "narrow() cannot be applied to a 0-dim tensor.")
def _(m):
    m.tensor(1.0).narrow(0, 0, 1)


@case("unbind-0d", IndexError, "Dimension specified as 0 but tensor has no dimensions")
def _(m):
    m.tensor(1.0).unbind(0)


# ============================================================== tensors: creation and conversion
@case("tensor-of-multi-element-tensors", ValueError, "only one element tensors can be converted to Python scalars")
def _(m):
    m.tensor([m.ones(2), m.ones(2)])


@case("tensor-ragged", ValueError, "expected sequence of length 2 at dim 1 (got 1)")
def _(m):
    m.tensor([[1, 2], [3]])


@case("tensor-of-str", TypeError, "new(): invalid data type 'str'")
def _(m):
    m.tensor("a")


@case("tensor-of-none", RuntimeError, "Could not infer dtype of NoneType")
def _(m):
    m.tensor([None])


@case("item-of-many", RuntimeError, "a Tensor with 3 elements cannot be converted to Scalar")
def _(m):
    m.ones(3).item()


@case("bool-of-many", RuntimeError, "Boolean value of Tensor with more than one value is ambiguous")
def _(m):
    bool(m.ones(3))


@case("float-of-many", ValueError, "only one element tensors can be converted to Python scalars")
def _(m):
    float(m.ones(3))


@case("numpy-of-requires-grad", RuntimeError, "Can't call numpy() on Tensor that requires grad.")
def _(m):
    m.ones(3, requires_grad=True).numpy()


@case("int-requires-grad", RuntimeError, "only Tensors of floating point")
def _(m):
    m.zeros(3, dtype=m.int64).requires_grad_()


# ============================================================== tensors: shapes and indexing
@case("reshape-wrong-size", RuntimeError, "shape '[4, 5]' is invalid for input of size 6")
def _(m):
    m.ones(2, 3).reshape(4, 5)


@case("view-two-minus-ones", RuntimeError, "only one dimension can be inferred")
def _(m):
    m.ones(6).view(-1, -1)


@case("view-non-contiguous", RuntimeError, "view size is not compatible with input tensor's size and stride")
def _(m):
    m.ones(2, 3).t().view(6)


@case("broadcast-mismatch", RuntimeError,
      "The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1")
def _(m):
    m.ones(2, 3) + m.ones(2, 4)


@case("matmul-mismatch", RuntimeError, "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)")
def _(m):
    m.ones(2, 3) @ m.ones(4, 5)


@case("index-out-of-bounds", IndexError, "index 5 is out of bounds for dimension 0 with size 3")
def _(m):
    m.ones(3)[5]


@case("too-many-indices", IndexError, "too many indices for tensor of dimension 1")
def _(m):
    m.ones(3)[0, 0]


@case("float-index-tensor", IndexError, "tensors used as indices must be long, int, byte or bool tensors")
def _(m):
    m.ones(3)[m.tensor([0.0])]


@case("cat-zero-dim", RuntimeError, "zero-dimensional tensor (at position 0) cannot be concatenated")
def _(m):
    m.cat([m.tensor(1.0), m.tensor(2.0)])


@case("stack-unequal", RuntimeError, "stack expects each tensor to be equal size")
def _(m):
    m.stack([m.ones(2), m.ones(3)])


@case("transpose-dim-out-of-range", IndexError, "Dimension out of range (expected to be in range of [-2, 1], but got 2)")
def _(m):
    m.ones(2, 3).transpose(0, 2)


@case("permute-wrong-length", RuntimeError, "number of dimensions in the tensor input does not match the length of the desired ordering of dimensions")
def _(m):
    m.ones(2, 3).permute(0)


@case("expand-wrong-size", RuntimeError, "The expanded size of the tensor (4) must match the existing size (3) at non-singleton dimension 1")
def _(m):
    m.ones(2, 3).expand(2, 4)


@case("sub-bool", RuntimeError, "Subtraction, the `-` operator, with two bool tensors is not supported.")
def _(m):
    m.ones(2, dtype=m.bool) - m.ones(2, dtype=m.bool)


@case("neg-bool", RuntimeError, "Negation, the `-` operator, on a bool tensor is not supported.")
def _(m):
    -m.ones(2, dtype=m.bool)


@case("invert-float", TypeError, "~ (operator.invert) is only implemented on integer and Boolean-type tensors")
def _(m):
    ~m.ones(2)


@case("int-divide-by-zero", RuntimeError, "ZeroDivisionError")
def _(m):
    m.ones(2, dtype=m.int64) // 0


@case("gather-float-index", RuntimeError, "gather(): Expected dtype int32/int64 for index")
def _(m):
    m.ones(3).gather(0, m.zeros(3))


@case("where-non-bool-condition", RuntimeError, "where expected condition to be a boolean tensor")
def _(m):
    m.where(m.ones(3), m.ones(3), m.zeros(3))


@case("masked-fill-non-bool-mask", RuntimeError, "masked_fill_ only supports boolean masks")
def _(m):
    m.ones(3).masked_fill(m.ones(3), 0.0)


# ============================================================== autograd
@case("backward-twice", RuntimeError, "Trying to backward through the graph a second time")
def _(m):
    w = m.ones(3, requires_grad=True)
    y = (w * w).sum()
    y.backward()
    y.backward()


@case("leaf-inplace", RuntimeError, "a leaf Variable that requires grad is being used in an in-place operation.")
def _(m):
    m.ones(3, requires_grad=True).add_(1)


@case("view-of-leaf-inplace", RuntimeError, "a view of a leaf Variable that requires grad is being used in an in-place operation.")
def _(m):
    m.ones(3, requires_grad=True)[:2].add_(1)


@case("modified-saved-value", RuntimeError, "one of the variables needed for gradient computation has been modified by an inplace operation")
def _(m):
    w = m.ones(3, requires_grad=True)
    out = (w * w).sum()
    with m.no_grad():
        w.add_(1)
    out.backward()


@case("modified-index-tensor", RuntimeError, "one of the variables needed for gradient computation has been modified by an inplace operation")
def _(m):
    w = m.ones(3, requires_grad=True)
    i = m.tensor([0, 1])
    out = w[i].sum()
    i[0] = 2
    out.backward()


@case("modified-mul-partner", RuntimeError, "one of the variables needed for gradient computation has been modified by an inplace operation")
def _(m):
    w = m.ones(3, requires_grad=True)
    x = m.ones(3) * 2
    out = (w * x).sum()
    x.add_(1)              # w's gradient reads x
    out.backward()


@case("modified-through-detach", RuntimeError, "one of the variables needed for gradient computation has been modified by an inplace operation")
def _(m):
    w = m.ones(3, requires_grad=True)
    out = (w * w).sum()
    w.detach().mul_(2)     # detach() shares the version counter (.data does not)
    out.backward()


@case("backward-non-scalar", RuntimeError, "grad can be implicitly created only for scalar outputs")
def _(m):
    (m.ones(3, requires_grad=True) * 2).backward()


@case("backward-no-grad-fn", RuntimeError, "element 0 of tensors does not require grad and does not have a grad_fn")
def _(m):
    m.ones(3).sum().backward()


@case("requires-grad-false-non-leaf", RuntimeError, "you can only change requires_grad flags of leaf variables.")
def _(m):
    (m.ones(3, requires_grad=True) * 2).requires_grad_(False)


@case("retain-grad-no-grad", RuntimeError, "can't retain_grad on Tensor that has requires_grad=False")
def _(m):
    m.ones(3).retain_grad()


@case("hook-no-grad", RuntimeError, "cannot register a hook on a tensor that doesn't require gradient")
def _(m):
    m.ones(3).register_hook(lambda g: g)


@case("grad-unused-input", RuntimeError, "appears to not have been used in the graph. Set allow_unused=True")
def _(m):
    a = m.ones(3, requires_grad=True)
    b = m.ones(3, requires_grad=True)
    m.autograd.grad((a * 2).sum(), [a, b])


@case("assign-grad-wrong-size", RuntimeError,
      "attempting to assign a gradient of size '[4]' to a tensor of size '[3]'")
def _(m):
    w = m.ones(3, requires_grad=True)
    w.grad = m.ones(4)


@case("deepcopy-non-leaf", RuntimeError, "Only Tensors created explicitly by the user (graph leaves) support the deepcopy protocol")
def _(m):
    import copy
    copy.deepcopy(m.ones(3, requires_grad=True) * 2)


# ============================================================== nn
@case("linear-wrong-features", RuntimeError, "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)")
def _(m):
    m.manual_seed(0)
    m.nn.Linear(4, 5)(m.ones(2, 3))


@case("conv2d-wrong-channels", RuntimeError, "expected input[1, 2, 5, 5] to have 3 channels, but got 2 channels instead")
def _(m):
    m.manual_seed(0)
    m.nn.Conv2d(3, 4, 3)(m.ones(1, 2, 5, 5))


@case("cross-entropy-target-out-of-bounds", IndexError, "Target 5 is out of bounds.")
def _(m):
    m.nn.functional.cross_entropy(m.zeros(2, 3), m.tensor([0, 5]))


@case("register-parameter-plain-tensor", TypeError, "nn.Parameter or None required)")
def _(m):
    m.nn.Module().register_parameter("w", m.ones(2))


@case("module-attr-before-init", AttributeError, "cannot assign module before Module.__init__() call")
def _(m):
    class Net(m.nn.Module):
        def __init__(self):
            self.fc = m.nn.Linear(2, 2)
            super().__init__()
    Net()


@case("load-state-dict-missing", RuntimeError, "Missing key(s) in state_dict: \"bias\"")
def _(m):
    lin = m.nn.Linear(2, 2)
    lin.load_state_dict({"weight": m.ones(2, 2)})


@case("load-state-dict-size-mismatch", RuntimeError, "size mismatch for weight: copying a param with shape")
def _(m):
    lin = m.nn.Linear(2, 2)
    lin.load_state_dict({"weight": m.ones(3, 2), "bias": m.ones(2)})


@case("sequential-index", IndexError, "index 5 is out of range")
def _(m):
    m.nn.Sequential(m.nn.ReLU())[5]


@case("embedding-index-out-of-range", IndexError, "index out of range in self")
def _(m):
    m.manual_seed(0)
    m.nn.Embedding(3, 2)(m.tensor([3]))


@case("dropout-bad-p", ValueError, "dropout probability has to be between 0 and 1, but got 1.5")
def _(m):
    m.nn.Dropout(1.5)


@case("batchnorm-wrong-features", RuntimeError, "running_mean should contain 2 elements not 3")
def _(m):
    m.nn.BatchNorm1d(3)(m.ones(4, 2))


# ============================================================== optim
def _params(m):
    return [m.nn.Parameter(m.ones(2))]


@case("sgd-negative-lr", ValueError, "Invalid learning rate: -0.1")
def _(m):
    m.optim.SGD(_params(m), lr=-0.1)


@case("sgd-negative-momentum", ValueError, "Invalid momentum value: -0.5")
def _(m):
    m.optim.SGD(_params(m), lr=0.1, momentum=-0.5)


@case("sgd-nesterov-without-momentum", ValueError, "Nesterov momentum requires a momentum and zero dampening")
def _(m):
    m.optim.SGD(_params(m), lr=0.1, nesterov=True)


@case("optimizer-empty-params", ValueError, "optimizer got an empty parameter list")
def _(m):
    m.optim.SGD([], lr=0.1)


@case("optimizer-single-tensor", TypeError, "params argument given to the optimizer should be an iterable of Tensors or dicts")
def _(m):
    m.optim.SGD(m.nn.Parameter(m.ones(2)), lr=0.1)


@case("optimizer-non-leaf", ValueError, "can't optimize a non-leaf Tensor")
def _(m):
    m.optim.SGD([m.ones(2, requires_grad=True) * 2], lr=0.1)


@case("optimizer-duplicate-groups", ValueError, "some parameters appear in more than one parameter group")
def _(m):
    p = m.nn.Parameter(m.ones(2))
    m.optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)


@case("adam-bad-beta", ValueError, "Invalid beta parameter at index 0: 1.5")
def _(m):
    m.optim.Adam(_params(m), betas=(1.5, 0.9))


@case("adam-negative-eps", ValueError, "Invalid epsilon value: -1")
def _(m):
    m.optim.Adam(_params(m), eps=-1)


@case("adam-negative-weight-decay", ValueError, "Invalid weight_decay value: -1")
def _(m):
    m.optim.Adam(_params(m), weight_decay=-1)


@case("optimizer-load-state-dict-groups", ValueError, "loaded state dict has a different number of parameter groups")
def _(m):
    opt = m.optim.SGD(_params(m), lr=0.1)
    sd = m.optim.SGD([{"params": _params(m)}, {"params": _params(m)}], lr=0.1).state_dict()
    opt.load_state_dict(sd)


# ============================================================== data
@case("dataloader-batch-size-zero", ValueError, "batch_size should be a positive integer value")
def _(m):
    m.utils.data.DataLoader(m.utils.data.TensorDataset(m.ones(4)), batch_size=0)


@case("dataloader-shuffle-and-sampler", ValueError, "sampler option is mutually exclusive with shuffle")
def _(m):
    ds = m.utils.data.TensorDataset(m.ones(4))
    m.utils.data.DataLoader(ds, shuffle=True, sampler=m.utils.data.SequentialSampler(ds))


@case("dataloader-negative-workers", ValueError, "num_workers option should be non-negative")
def _(m):
    m.utils.data.DataLoader(m.utils.data.TensorDataset(m.ones(4)), num_workers=-1)


@case("dataloader-batch-sampler-and-batch-size", ValueError, "batch_sampler option is mutually exclusive with batch_size")
def _(m):
    ds = m.utils.data.TensorDataset(m.ones(4))
    bs = m.utils.data.BatchSampler(m.utils.data.SequentialSampler(ds), 2, False)
    m.utils.data.DataLoader(ds, batch_size=3, batch_sampler=bs)


@case("random-split-bad-lengths", ValueError, "Sum of input lengths does not equal the length of the input dataset!")
def _(m):
    m.utils.data.random_split(m.utils.data.TensorDataset(m.ones(4)), [1, 2])


@case("collate-unequal-sizes", RuntimeError, "stack expects each tensor to be equal size")
def _(m):
    m.utils.data.default_collate([m.ones(2), m.ones(3)])


@case("tensor-dataset-index", IndexError, "index 4 is out of bounds for dimension 0 with size 4")
def _(m):
    m.utils.data.TensorDataset(m.ones(4))[4]


# ============================================================== checkpoints (errors dg.load raises today)
def _missing_path(tmp):
    return str(tmp / "no-such-checkpoint.pt")


@case("load-missing-file", FileNotFoundError, "No such file or directory: '")
def _(m, tmp):
    m.load(_missing_path(tmp))


@case("load-not-a-checkpoint", RuntimeError, "is not a dualgraph checkpoint", torch=False)
def _(m, tmp):
    p = tmp / "notes.txt"
    p.write_text("hello, I am not a checkpoint\n")
    m.load(str(p))


@case("save-unsupported-object", TypeError, "dg.save cannot store an object of type builtins.function",
      torch=False)
def _(m, tmp):
    m.save({"f": lambda: 1}, str(tmp / "x.pt"))


# ============================================================== graph mode (build-time errors)
def _graph(fn):
    with dg.graph_mode():
        fn()


@case("graph-reshape-no-batch-fits", RuntimeError, "is invalid for input of size", torch=False, graph=True)
def _(m):
    _graph(lambda: dg.placeholder((None, 3), name="x").reshape(4, 5))


@case("graph-view-zero-with-inferred", RuntimeError, "can be any value and is ambiguous", torch=False, graph=True)
def _(m):
    _graph(lambda: dg.placeholder((None, 3), name="x").view(0, -1))


@case("graph-broadcast-mismatch", RuntimeError, "must match the size of tensor b", torch=False, graph=True)
def _(m):
    _graph(lambda: dg.placeholder((None, 3)) + dg.placeholder((None, 4)))


@case("graph-matmul-mismatch", RuntimeError, "cannot be multiplied", torch=False, graph=True)
def _(m):
    _graph(lambda: dg.placeholder((None, 3)) @ dg.placeholder((4, 5)))


def _int_variable_add_float():
    v = dg.Variable(np.zeros(3, np.int64), name="counter")
    v.add_(0.5)


@case("graph-inplace-int-variable-add-float", RuntimeError,
      "result type Float can't be cast to the desired output type Long", torch=False, graph=True)
def _(m):
    _graph(_int_variable_add_float)


def _int_value_div():
    x = dg.placeholder((None, 3), dtype=dg.int64, name="x")
    x = x * 1
    x.div_(2)


@case("graph-inplace-int-value-div", RuntimeError,
      "result type Float can't be cast to the desired output type Long", torch=False, graph=True)
def _(m):
    _graph(_int_value_div)


def _captured_bool_add():
    t = dg.zeros(3, dtype=dg.bool)
    t.add_(1)


@case("graph-inplace-captured-bool-add", RuntimeError,
      "result type Long can't be cast to the desired output type Bool", torch=False, graph=True)
def _(m):
    _graph(_captured_bool_add)


def _index_put_dtype():
    v = dg.Variable(np.zeros(3, np.float32), name="v")
    v[dg.tensor([0])] = dg.tensor([1.0], dtype=dg.float64)


@case("graph-index-put-dtype", RuntimeError, "Index put requires the source and destination dtypes match",
      torch=False, graph=True)
def _(m):
    _graph(_index_put_dtype)


def _normal_on_int():
    dg.Variable(np.zeros(3, np.int64), name="v").normal_()


@case("graph-normal-on-int", NotImplementedError, "\"normal_kernel_cpu\" not implemented for 'Long'",
      torch=False, graph=True)
def _(m):
    _graph(_normal_on_int)


def _uniform_on_int():
    dg.Variable(np.zeros(3, np.int32), name="v").uniform_(-1.0, 1.0)


@case("graph-uniform-on-int", NotImplementedError, "\"check_uniform_bounds\" not implemented for 'Int'",
      torch=False, graph=True)
def _(m):
    _graph(_uniform_on_int)


def _inplace_shape():
    v = dg.Variable(np.zeros(3, np.float32), name="v")
    v.add_(dg.ones(2, 3))


@case("graph-inplace-output-shape", RuntimeError, "doesn't match the broadcast shape", torch=False, graph=True)
def _(m):
    _graph(_inplace_shape)


@case("graph-split-unknown-dim", RuntimeError, "unknown while the graph is built", torch=False, graph=True)
def _(m):
    _graph(lambda: dg.placeholder((None, 3)).split(2, 0))


@case("graph-narrow-exceeds", RuntimeError, "exceeds dimension size (3).", torch=False, graph=True)
def _(m):
    _graph(lambda: dg.placeholder((None, 3)).narrow(1, 2, 2))


@case("graph-cat-mismatch", RuntimeError, "Sizes of tensors must match except in dimension 0", torch=False, graph=True)
def _(m):
    _graph(lambda: dg.cat([dg.placeholder((None, 3)), dg.placeholder((None, 4))]))


def _two_graphs():
    g1 = dg.Graph()
    with dg.graph_mode(g1):
        a = dg.placeholder((3,), name="a")
    with dg.graph_mode():
        a + 1


@case("graph-mixing-graphs", TypeError, "must be from the same graph", torch=False)
def _(m):
    _two_graphs()


def _symbolic_in_eager():
    with dg.graph_mode():
        a = dg.placeholder((3,), name="a")
    dg.ones(3) + a


@case("graph-symbolic-in-eager", TypeError, "graph-mode (symbolic) tensor", torch=False)
def _(m):
    _symbolic_in_eager()


# ============================================================== the test
def _run(c, m, tmp_path):
    if c.fn.__code__.co_argcount == 2:
        return c.fn(m, tmp_path)
    return c.fn(m)


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.name)
def test_misuse(c, tmp_path):
    with pytest.raises(c.exc) as ei:
        _run(c, dg, tmp_path)
    e = ei.value
    assert c.phrase in str(e), str(e)
    if c.known and not isinstance(e, dg.DualGraphError):
        pytest.xfail(c.known)
    assert isinstance(e, dg.DualGraphError), f"{type(e).__name__}: {e}"
    if c.graph:
        assert "while building node" in str(e), str(e)
    if c.torch is False:
        return
    torch = pytest.importorskip("torch")
    with pytest.raises(BaseException) as et:
        _run(c, torch, tmp_path)
    te = et.value
    want = c.torch_exc or builtin_type(e)
    assert builtin_type(te) is want, f"torch raised {type(te).__name__}: {te}"
    assert c.phrase in str(te), str(te)


def test_catalogue_size():
    assert len(CASES) >= 60
    assert len({c.name for c in CASES}) == len(CASES)
