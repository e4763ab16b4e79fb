"""Devices: dualgraph computes with numpy on the CPU; asking for CUDA says so clearly."""
from .errors import DGRuntimeError


class device:
    __slots__ = ("type", "index")

    def __init__(self, type="cpu", index=None):
        if isinstance(type, device):
            type, index = type.type, type.index
        if ":" in str(type):
            type, index = str(type).split(":")
            index = int(index)
        self.type = str(type)
        self.index = index

    def __repr__(self):
        return f"device(type='{self.type}')" if self.index is None else f"device(type='{self.type}', index={self.index})"

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other):
        return str(self) == str(other if isinstance(other, device) else device(other))

    def __hash__(self):
        return hash(str(self))


CPU = device("cpu")


class CudaUnavailableError(DGRuntimeError, AssertionError):
    """Asking for CUDA: PyTorch without CUDA raises AssertionError; RuntimeError is caught too."""


def check_device(dev):
    d = device(dev) if not isinstance(dev, device) else dev
    if d.type == "cpu":
        return d
    if d.type == "cuda":
        raise CudaUnavailableError(
            "Torch not compiled with CUDA enabled: dualgraph runs its kernels with numpy on the "
            "CPU and has no CUDA backend (dg.cuda.is_available() is False). Keep tensors on 'cpu'.")
    raise DGRuntimeError(f"Expected one of cpu, cuda device type at start of device string: {d.type}")


class cuda:
    """dg.cuda: there is no GPU backend, and it says so honestly."""

    @staticmethod
    def is_available():
        return False

    @staticmethod
    def device_count():
        return 0
