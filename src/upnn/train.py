"""Per-epoch classifier training with a checkpoint after every epoch and exact resume.

Data lives on the device as two tensors; an epoch is a seeded permutation sliced into batches
(no DataLoader). Each checkpoint holds the model, optimizer, the shuffle generator's state and
the per-epoch rows so far, so a run killed after epoch k and restarted continues bit-for-bit
as if it had never stopped (on CPU).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from upnn import checkpoint, io, models
from upnn import device as devices

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "constant"
    eval_batch_size: int = 1024

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        """From the config's ``train`` block (with a model's overrides), which the schema has
        checked: its enums of optimizers and schedules come from :data:`OPTIMIZERS` and
        :data:`SCHEDULES` (:func:`upnn.config.with_code_enums`)."""
        return cls(**d)


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD (Nesterov momentum when ``momentum`` > 0) or Adam, as ``cfg.optimizer`` says."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay, nesterov=cfg.momentum > 0)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; allowed: {', '.join(OPTIMIZERS)}")


def learning_rate(cfg: TrainConfig, epoch: int) -> float:
    """LR for 1-based ``epoch``: constant, or cosine from ``lr`` down to 0 over all epochs."""
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / cfg.epochs))
    if cfg.schedule == "constant":
        return cfg.lr
    raise ValueError(f"unknown schedule {cfg.schedule!r}; allowed: {', '.join(SCHEDULES)}")


def num_classes(*labels: Tensor) -> int:
    """The number of classes, from the data: the largest label of any split, plus one."""
    return int(max(int(y.max()) for y in labels if len(y))) + 1


def train_epoch(model: nn.Module, opt: torch.optim.Optimizer, x: Tensor, y: Tensor,
                batch_size: int, gen: torch.Generator,
                precision: str = "fp32") -> tuple[float, float]:
    """One pass over a seeded permutation of (x, y); returns (mean loss, accuracy). The forward
    pass runs in ``precision`` (:func:`upnn.device.autocast`: CUDA only; the loss in fp32, the
    weights and the optimizer stay fp32)."""
    model.train()
    perm = torch.randperm(len(y), generator=gen).to(x.device)
    total_loss = torch.zeros((), device=x.device)
    correct = torch.zeros((), device=x.device)
    for i in range(0, len(y), batch_size):
        idx = perm[i:i + batch_size]
        with devices.autocast(precision, x.device):
            logits = model(x[idx])
        loss = F.cross_entropy(logits.float(), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total_loss += loss.detach() * len(idx)
        correct += (logits.argmax(1) == y[idx]).sum()
    return (total_loss / len(y)).item(), (correct / len(y)).item()


def fingerprint(cfg: TrainConfig, model_meta: Mapping[str, Any], seed: int, x: Tensor,
                y: Tensor) -> str:
    """Hash of everything a run depends on (:func:`upnn.io.fingerprint`): its checkpoint folder
    belongs to it (:func:`upnn.checkpoint.claim`), so checkpoints of another setting are never
    resumed."""
    return io.fingerprint(asdict(cfg), dict(model_meta), seed, tensors=(x, y))


def train(
    model_name: str,
    data: tuple[Tensor, Tensor, Tensor, Tensor],
    cfg: TrainConfig,
    checkpoint_dir: str | Path,
    *,
    seed: int = 0,
    width: float = 1.0,
    device: str | torch.device = "cpu",
    progress: bool = True,
    after_epoch: Callable[[int], None] | None = None,
    precision: str = "fp32",
    reference: Mapping[str, Any] | None = None,
    memory_format: str = "contiguous",
) -> list[dict[str, float]]:
    """Train ``model_name`` on ``data`` = (x_train, y_train, x_test, y_test) for ``cfg.epochs``,
    writing ``epoch{NNN}.pt`` into ``checkpoint_dir`` after each epoch. The folder is claimed for
    this run's fingerprint and resumed by :mod:`upnn.checkpoint` (files of other settings are
    moved aside, the log says from which epoch it continues).

    ``precision`` (fp32, tf32, bf16; CUDA only, :func:`upnn.device.autocast`) applies to the
    training forward passes; another precision is another fingerprint, except fp32 (the
    fingerprint of runs from before the setting existed).

    ``memory_format`` (contiguous, channels_last; :func:`upnn.device.with_memory_format`): the
    layout of the net's convolution weights while it trains; another format is another
    fingerprint, except contiguous. The checkpoints load into either.

    ``reference``: a referenced net's ``ref``, ``kwargs``, ``head``, ``normalize``
    (:func:`upnn.models.build`). The number of classes comes from the labels.

    Returns one row per epoch: epoch, train_loss, train_acc, test_acc, seconds.
    """
    device = torch.device(device)
    devices.check_precision(precision)
    x_tr, y_tr, x_te, y_te = (t.to(device) for t in data)
    torch.manual_seed(seed)
    model = models.build(model_name, in_channels=x_tr.shape[1], image_size=x_tr.shape[-1],
                         num_classes=num_classes(y_tr, y_te), width=width,
                         **dict(reference or {})).to(device)
    model = devices.with_memory_format(model, memory_format)  # before the optimizer's state
    opt = make_optimizer(model, cfg)
    gen = torch.Generator().manual_seed(seed)
    meta = model.meta if precision == "fp32" else {**model.meta, "precision": precision}
    if memory_format != "contiguous":
        meta = {**meta, "memory_format": memory_format}
    fp = fingerprint(cfg, meta, seed, x_tr, y_tr)
    directory = Path(checkpoint_dir)
    checkpoint.claim(directory, fp)
    # a checkpoint of the code before checkpoint.rng_state (its keys rng_shuffle/rng_cpu) fails
    # the check: moved aside, not mixed in
    start, ckpt = checkpoint.resume(directory, cfg.epochs,
                                    check=lambda c: c.get("fingerprint") == fp
                                    and "shuffle_rng" in c)
    rows: list[dict[str, float]] = []
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        checkpoint.restore_rng(ckpt, gen, device)
        rows = [dict(r) for r in ckpt["rows"]]
    bar = tqdm(range(start + 1, cfg.epochs + 1), desc=f"train {model_name}", disable=not progress,
               initial=start, total=cfg.epochs)
    for epoch in bar:
        for group in opt.param_groups:
            group["lr"] = learning_rate(cfg, epoch)
        t0 = time.perf_counter()
        loss, acc = train_epoch(model, opt, x_tr, y_tr, cfg.batch_size, gen, precision)
        test_acc = models.accuracy(model, x_te, y_te, cfg.eval_batch_size)
        rows.append({"epoch": epoch, "train_loss": loss, "train_acc": acc, "test_acc": test_acc,
                     "seconds": time.perf_counter() - t0})
        bar.set_postfix(loss=f"{loss:.3f}", test_acc=f"{test_acc:.3f}")
        checkpoint.save({
            "model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch,
            "meta": model.meta, "fingerprint": fp, "rows": rows,
            **checkpoint.rng_state(gen, device),
        }, checkpoint.path(directory, epoch))
        if after_epoch is not None:
            after_epoch(epoch)
    return rows
