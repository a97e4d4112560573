"""Choosing the compute device, its precision and memory format, and making CPU runs repeatable."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from upnn import io

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "tf32", "bf16")
MEMORY_FORMATS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}
_log = logging.getLogger(__name__)
_ignored: set[tuple[str, str]] = set()  # (precision, device type) already logged as ignored


def resolve(name: str = "auto") -> torch.device:
    """``auto`` → CUDA when present, else CPU. ``cuda`` without a GPU is an error, not a fallback."""
    if name not in DEVICES and not name.startswith("cuda:"):
        raise ValueError(f"unknown device {name!r}; allowed: {', '.join(DEVICES)}, cuda:N")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but torch sees no CUDA device")
    io.DEVICE = name  # the device every table this process writes records (upnn.io provenance)
    return torch.device(name)


def device_of(module: torch.nn.Module, fallback: torch.device) -> torch.device:
    """The device of the module's first parameter (else buffer), else ``fallback``."""
    for t in module.parameters():
        return t.device
    for t in module.buffers():
        return t.device
    return fallback


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch's global RNG (model init) and return a CPU generator for data order."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; allowed: {', '.join(PRECISIONS)}")
    return precision


def _effective(precision: str, device: str | torch.device) -> str:
    """``precision`` on a CUDA device; fp32 elsewhere (logged), so CPU results stay bit-identical."""
    check_precision(precision)
    kind = torch.device(device).type
    if precision != "fp32" and kind != "cuda":
        if (precision, kind) not in _ignored:
            _ignored.add((precision, kind))
            _log.info("precision %s applies on CUDA only; %s runs in fp32", precision, kind)
        return "fp32"
    return precision


@contextmanager
def autocast(precision: str, device: str | torch.device) -> Iterator[None]:
    """Run the block in ``precision`` on ``device``: fp32 changes nothing; tf32 lets matmuls and
    cuDNN convolutions use TF32 (flags restored on exit); bf16 is ``torch.autocast("cuda",
    torch.bfloat16)`` (matmuls and convolutions in bf16, reductions and losses in fp32). On a
    non-CUDA device anything but fp32 is ignored and logged."""
    precision = _effective(precision, device)
    if precision == "fp32":
        yield
    elif precision == "tf32":
        flags = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = flags
    else:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            yield


class Autocast(nn.Module):
    """``module`` run under :func:`autocast`, its floating output returned in fp32: whatever
    follows (the head, the loss, an attack's input gradient and sign step) works in fp32."""

    def __init__(self, module: nn.Module, precision: str) -> None:
        super().__init__()
        self.module = module
        self.precision = check_precision(precision)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with autocast(self.precision, x.device):
            out = self.module(x)
        return out.float() if out.is_floating_point() else out


def with_precision(model: nn.Module, precision: str, device: str | torch.device) -> nn.Module:
    """``model`` (a :class:`upnn.models.Classifier`) with its ``features`` run in ``precision``
    for evaluation and attacks: the head, the logits and every gradient w.r.t. the input stay
    fp32 (the input is an fp32 leaf, so its gradient is fp32 whatever the layers compute in).
    Unchanged for fp32 and off CUDA. For inference only: the wrapper changes the state dict's
    keys, so never save the returned model."""
    precision = _effective(precision, device)
    if precision != "fp32":
        model.features = Autocast(model.features, precision)
    return model


def check_memory_format(name: str) -> str:
    if name not in MEMORY_FORMATS:
        raise ValueError(f"unknown memory_format {name!r}; allowed: {', '.join(MEMORY_FORMATS)}")
    return name


def with_memory_format(model: nn.Module, name: str) -> nn.Module:
    """``model`` with its 4-D weights (the convolutions') in memory format ``name``, in place.
    ``channels_last`` (NHWC) lets cuDNN and oneDNN pick their NHWC kernels for every convolution
    whose weight is NHWC: the tensor cores' layout on CUDA; on the 2-core CPU resnet9's input
    gradients ran 1.1–1.3× faster (``bench/memory_format.py``). The same function at float level,
    not bit for bit (other kernels). ``contiguous``: unchanged. Inputs need no conversion."""
    if check_memory_format(name) == "contiguous":
        return model
    return model.to(memory_format=MEMORY_FORMATS[name])
