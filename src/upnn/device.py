"""Choosing the compute device, making CPU runs repeatable, and CPU memory reuse."""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

import torch

from upnn import io

DEVICES = ("auto", "cpu", "cuda")


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


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 << 20  # glibc's ceiling for it on 64-bit machines
TRIM_THRESHOLD = 256 << 20


def reuse_cpu_memory() -> bool:
    """Let glibc's malloc reuse freed tensor memory instead of returning it to the system.

    By default glibc serves every allocation above 128 KiB with its own ``mmap`` and unmaps it
    on free, so each new activation of that size costs one page fault per 4 KiB when first
    written: for the batched seeds (upnn.stacked) that is most of the time of an elementwise op,
    and the run time swings with it. Raising ``M_MMAP_THRESHOLD`` to 32 MiB and
    ``M_TRIM_THRESHOLD`` to 256 MiB keeps such blocks in the heap (the same effect as the
    jemalloc/tcmalloc preload that PyTorch's CPU tuning guide recommends). Process-wide; results
    are unchanged. Returns whether it applied (False where the C library is not glibc).
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
