"""Padded and packed sequences (torch.nn.utils.rnn): pad_sequence, pack_padded_sequence,
pad_packed_sequence, pack_sequence, unpad_sequence, unpack_sequence and PackedSequence.

Built from dualgraph ops (cat, stack, indexing), so gradients flow from a padded or packed
result back to the sequences. Lengths are Python data (a list, or an int64 tensor that is read
now), as PyTorch keeps them on the CPU.
"""
from collections import namedtuple

import numpy as np

from ...errors import DGRuntimeError, DGTypeError, DGValueError
from ...tensor_methods import TensorMethods

__all__ = ["PackedSequence", "pad_sequence", "pack_padded_sequence", "pad_packed_sequence",
           "pack_sequence", "unpad_sequence", "unpack_sequence", "invert_permutation"]


class PackedSequence(namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices",
                                                   "unsorted_indices"])):
    """A batch of variable-length sequences, packed time step by time step: `data` holds
    the batch_sizes[t] sequences still running at step t, for each t; `sorted_indices` maps
    the packed order to the original batch (None when the input was sorted)."""
    __slots__ = ()

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = invert_permutation(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    @property
    def is_cuda(self):
        return False

    def to(self, *args, **kwargs):
        data = self.data.to(*args, **kwargs)
        return self if data is self.data else type(self)(data, self.batch_sizes,
                                                         self.sorted_indices, self.unsorted_indices)


def _ints(lengths, what="lengths"):
    if isinstance(lengths, TensorMethods):
        node = getattr(lengths, "node", None)
        if node is not None and node.op.name == "constant":
            # (a PackedSequence made inside a trace holds its batch sizes as a graph constant:
            # known while the graph is built, as eagerly)
            return _ints(node.attrs["value"], what)
        if hasattr(lengths, "graph"):
            raise DGTypeError(f"{what} must be known while the graph is built (a list or an eager "
                              "tensor), not a symbolic tensor: pass it to a dg.function as a list of "
                              "ints (a call with other lengths traces again)")
        lengths = lengths.numpy()
    arr = np.asarray(lengths)
    if arr.ndim != 1:
        raise DGValueError(f"{what} must be a 1D sequence of ints, got shape {tuple(arr.shape)}")
    return arr.astype(np.int64)


def _long(values):
    from ...tensor import tensor
    return tensor(np.asarray(values, dtype=np.int64))


def invert_permutation(permutation):
    if permutation is None:
        return None
    perm = _ints(permutation, "permutation")
    out = np.empty_like(perm)
    out[perm] = np.arange(len(perm))
    return _long(out)


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack tensors of shapes (L_i, *) into (max L, B, *) (or (B, max L, *) with batch_first),
    padding with padding_value."""
    from ...ops.creation import full
    from ...ops.shape import cat, stack
    if isinstance(sequences, TensorMethods):
        sequences = list(sequences.unbind(0))
    sequences = list(sequences)
    if not sequences:
        raise DGRuntimeError("received an empty list of sequences")
    if padding_side not in ("left", "right"):
        raise DGValueError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    trailing = tuple(sequences[0].shape[1:])
    for s in sequences:
        if tuple(s.shape[1:]) != trailing:
            raise DGRuntimeError(
                f"The size of tensor a ({trailing}) must match the size of tensor b "
                f"({tuple(s.shape[1:])}) at non-singleton dimension 1: pad_sequence needs the "
                "same trailing dimensions")
    max_len = max(int(s.shape[0]) for s in sequences)
    rows = []
    for s in sequences:
        n = max_len - int(s.shape[0])
        if n == 0:
            rows.append(s)
            continue
        pad = full((n,) + trailing, padding_value, dtype=s.dtype)
        rows.append(cat([s, pad] if padding_side == "right" else [pad, s], 0))
    return stack(rows, 0 if batch_first else 1)


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):  # noqa: A002
    """Pack a padded batch (T, B, *) (or (B, T, *) with batch_first) of sequences with the
    given lengths. enforce_sorted=True needs lengths in decreasing order; False sorts them
    (and records the permutation in the PackedSequence)."""
    lens = _ints(lengths)
    if len(lens) == 0 or lens.min() <= 0:
        raise DGRuntimeError("Length of all samples has to be greater than 0, but found an element "
                             "in 'lengths' that is <= 0")
    if enforce_sorted:
        if np.any(np.diff(lens) > 0):
            raise DGRuntimeError(
                "`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. "
                "You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence "
                "to sidestep this requirement if you do not need ONNX exportability.")
        sorted_indices = None
    else:
        order = np.argsort(-lens, kind="stable")
        lens = lens[order]
        sorted_indices = _long(order)
        idx = sorted_indices
        input = input[idx] if batch_first else input[:, idx]
    if batch_first:
        input = input.transpose(0, 1)
    T, B = int(input.shape[0]), int(input.shape[1])
    if B != len(lens):
        raise DGValueError(f"Expected `len(lengths)` to be equal to batch_size, but got {len(lens)} "
                           f"(batch_size={B})")
    if lens[0] > T:
        raise DGRuntimeError(f"Start ({0}) + length ({int(lens[0])}) exceeds dimension size ({T}).")
    from ...ops.shape import cat
    batch_sizes = [int((lens > t).sum()) for t in range(int(lens[0]))]
    data = cat([input[t, :bs] for t, bs in enumerate(batch_sizes)], 0)
    return PackedSequence(data, _long(batch_sizes), sorted_indices, None)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """The inverse of pack_padded_sequence: (padded, lengths), the batch in its original
    order; total_length pads the time dimension to that length."""
    from ...ops.creation import full
    from ...ops.shape import cat, stack
    data = sequence.data
    batch_sizes = _ints(sequence.batch_sizes, "batch_sizes")
    max_len = len(batch_sizes)
    if total_length is not None:
        if total_length < max_len:
            raise DGValueError(
                "Expected total_length to be at least the length of the longest sequence in input, "
                f"but got total_length={total_length} and max sequence length being {max_len}")
    else:
        total_length = max_len
    B = int(batch_sizes[0])
    trailing = tuple(data.shape[1:])
    steps, offset = [], 0
    for bs in batch_sizes.tolist():
        chunk = data[offset:offset + bs]
        offset += bs
        if bs < B:
            chunk = cat([chunk, full((B - bs,) + trailing, padding_value, dtype=data.dtype)], 0)
        steps.append(chunk)
    for _ in range(total_length - max_len):
        steps.append(full((B,) + trailing, padding_value, dtype=data.dtype))
    padded = stack(steps, 0)
    lengths = np.array([int((batch_sizes > b).sum()) for b in range(B)], dtype=np.int64)
    if sequence.unsorted_indices is not None:
        un = sequence.unsorted_indices
        padded = padded[:, un]
        lengths = lengths[_ints(un, "unsorted_indices")]
    if batch_first:
        padded = padded.transpose(0, 1)
    return padded, _long(lengths)


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of tensors of shapes (L_i, *)."""
    lengths = [int(s.shape[0]) for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of sequences of a padded batch, each cut to its length."""
    lens = _ints(lengths)
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [padded_sequences[i, :int(n)] for i, n in enumerate(lens.tolist())]


def unpack_sequence(packed_sequences):
    """The list of sequences of a PackedSequence, in the original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
