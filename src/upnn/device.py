"""Choosing the compute device and making CPU runs repeatable."""

from __future__ import annotations

import torch

DEVICES = ("auto", "cpu", "cuda")


def resolve(name: str = "auto") -> torch.device:
    """``auto`` → CUDA when present, else CPU. ``cuda`` without a GPU is an error, not a fallback."""
    if name not in DEVICES and not name.startswith("cuda:"):
        raise ValueError(f"unknown device {name!r}; allowed: {', '.join(DEVICES)}, cuda:N")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but torch sees no CUDA device")
    return torch.device(name)


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch's global RNG (model init) and return a CPU generator for data order."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
