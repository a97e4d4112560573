"""Checkpoints a researcher already has (issue 29): one state dict per epoch of their own run,
brought into the pipeline in place of training, so every stage that reads checkpoints (attacks,
minimal amplitude, uncertainty, claims, figures) runs on them unchanged.

A model entry names them with a path pattern, ``checkpoints: runs/my/epoch_{epoch}.pt`` (``{seed}``
may appear too). Every epoch 1..E of the model's ``train.epochs`` must exist; the files are read
with ``torch.load(..., weights_only=True)`` (state dicts only) into the referenced net
(:func:`upnn.models.build`) and written as upnn checkpoints, with the test accuracy per epoch as
the run's training table.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from upnn import checkpoint, models
from upnn.models import accuracy


class ExternalCheckpointError(ValueError):
    """A checkpoint of a researcher's run is missing or does not fit the model (one line)."""


def epoch_files(pattern: str, epochs: int, seed: int = 0) -> dict[int, Path]:
    """Epoch → file of ``pattern`` for epochs 1..``epochs``; a missing one raises one line
    naming the missing epochs and those found."""
    files = {e: Path(pattern.format(epoch=e, seed=seed)) for e in range(1, epochs + 1)}
    missing = [e for e, f in files.items() if not f.is_file()]
    if missing:
        found = [e for e in files if e not in missing]
        raise ExternalCheckpointError(
            f"checkpoints {pattern}: epochs {missing} missing (seed {seed}); found: "
            f"{', '.join(map(str, found)) or 'none'}; every epoch 1..{epochs} is needed")
    return files


def load_into(name: str, file: Path, reference: Mapping[str, Any], *, in_channels: int,
              image_size: int, num_classes: int) -> models.Classifier:
    """The referenced net with ``file``'s state dict loaded (``weights_only=True``); a file that
    is not a state dict of this net raises one line naming it."""
    state = torch.load(file, map_location="cpu", weights_only=True)
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ExternalCheckpointError(f"checkpoint {file} is not a state dict (a mapping of "
                                      "names to tensors); save model.state_dict()")
    try:
        return models.build(name, in_channels=in_channels, image_size=image_size,
                            num_classes=num_classes, state=state, **reference)
    except RuntimeError as err:  # load_state_dict: missing, unexpected or mis-shaped keys
        first = str(err).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:2])[:300]
        raise ExternalCheckpointError(f"checkpoint {file} does not fit model {name} "
                                      f"({reference.get('ref')}): {detail}") from None


def import_run(name: str, files: Mapping[int, Path], reference: Mapping[str, Any],
               x_test: Tensor, y_test: Tensor, out_dir: str | Path,
               num_classes: int) -> list[dict[str, float]]:
    """Write each epoch's checkpoint as a upnn checkpoint (``epoch{NNN}.pt`` in ``out_dir``) and
    return the training-table rows: epoch, test_acc, seconds (train_loss and train_acc NaN: the
    run was not trained here)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for epoch, file in sorted(files.items()):
        t0 = time.perf_counter()
        model = load_into(name, file, reference, in_channels=x_test.shape[1],
                          image_size=x_test.shape[-1], num_classes=num_classes).to(x_test.device)
        checkpoint.save({"model": model.state_dict(), "meta": model.meta, "epoch": epoch,
                         "source": str(file)}, checkpoint.path(out_dir, epoch))
        rows.append({"epoch": epoch, "train_loss": float("nan"), "train_acc": float("nan"),
                     "test_acc": accuracy(model, x_test, y_test),
                     "seconds": time.perf_counter() - t0})
    return rows
