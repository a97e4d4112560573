"""The attack stage's inputs for each of its jobs in a finished run, read as the stage reads
them (scripts/attack.py): one place for the bench scripts that rerun the stage's computation on
a run's checkpoints (cuts.py, memory_format.py, attack_work.py). Imported from bench/."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from upnn import checkpoint, data, robustness
from upnn import config as cfg


def add_run_args(p: argparse.ArgumentParser) -> None:
    """RESULTS_DIR, --configfile, --threads: the run and how many threads to time it on."""
    p.add_argument("results", type=Path)
    p.add_argument("--configfile", type=Path, default=Path("config/config.yaml"))
    p.add_argument("--threads", type=int, default=2)


def run_config(a: argparse.Namespace) -> dict[str, Any]:
    """The run's config (``--configfile``), torch pinned to ``--threads``."""
    torch.set_num_threads(a.threads)
    return yaml.safe_load(a.configfile.read_text())


@dataclass
class StageJob:
    """One attack job of the run: its names, the seeded test subset, the training split (the
    feature level's box; None unless asked for), the evaluated epochs and their checkpoint
    files, the job's attack specs and amplitudes, the last attacked epoch and the epochs of the
    extra amplitudes."""

    dataset: str
    model: str
    seed: int
    level: str
    x: torch.Tensor
    y: torch.Tensor
    x_tr: torch.Tensor | None
    epochs: list[int]
    ckpts: dict[int, Path]
    specs: list[dict[str, Any]]
    eps: list[float]
    last: int
    extra_eps_epochs: Any

    def at(self, epoch: int) -> tuple[list[dict[str, Any]], list[float]]:
        """The specs and amplitudes the stage attacks at ``epoch`` (as scripts/attack.py picks
        them: ``robustness.at_epoch``, ``robustness.amplitudes_at``)."""
        return (robustness.at_epoch(self.specs, epoch, self.last),
                robustness.amplitudes_at(self.eps, epoch, self.extra_eps_epochs))

    @property
    def name(self) -> str:
        return f"{self.dataset}/{self.model}/seed{self.seed}"


def stage_jobs(results: Path, config: dict[str, Any], *, device: str | torch.device = "cpu",
               only: str | None = None, level: str | None = None,
               epochs: list[int] | None = None, train: bool = True) -> Iterator[StageJob]:
    """Each attack job of ``config`` in the run under ``results`` (``only``: one dataset/model;
    ``level``: one level; ``epochs``: those of the evaluated epochs; ``train``: read the
    training split too)."""
    at = config["attacks"]
    for d, m, s, lv in cfg.attack_jobs(config):
        if (only and only != f"{d}/{m}") or (level and level != lv):
            continue
        x_tr = data.read_split(results / "data" / d / "train.parquet", device)[0] if train \
            else None
        x, y, _ = data.read_subset(results / "data" / d / "test.parquet", at["n_test"],
                                   at["subset_seed"], device)
        every = cfg.attack_epochs(config, m)
        evaluated = [e for e in every if not epochs or e in epochs]
        yield StageJob(d, m, s, lv, x, y, x_tr, evaluated,
                       checkpoint.folder(results / "checkpoints" / d / m / f"seed{s}", evaluated),
                       cfg.attack_specs(config, m, s), cfg.attack_eps(config, d, lv), max(every),
                       at.get("extra_eps_epochs", "all"))
