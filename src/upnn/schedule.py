"""Scheduling: the makespan and critical path of a priced job list on one machine, and the
SLURM ``runtime`` and ``mem_mb`` each rule asks for (rules/common.smk), with the GPU limit of a
local run."""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from upnn.plan import Job

SAFETY_FACTOR, SAFETY_MINUTES = 3.0, 5  # SLURM runtime = factor × estimate + minutes, × attempt


def schedule(plan: Sequence[Job], rates: Mapping[str, Any]) -> tuple[float, float]:
    """(makespan, critical path) in seconds: a greedy list schedule on the rates' machine
    (``cores`` cores, each job taking min(threads, cores); ``gpus`` GPUs, one per GPU job, as
    ``snakemake --cores all`` would run them), and the longest chain of needs."""
    by_key = {j.key: j for j in plan}
    finish: dict[str, float] = {}

    def chain(key: str) -> float:
        if key not in finish:
            j = by_key[key]
            finish[key] = j.seconds + max((chain(k) for k in j.needs if k in by_key), default=0.0)
        return finish[key]

    critical = max((chain(j.key) for j in plan), default=0.0)
    cores, gpus = int(rates["cores"]), int(rates.get("gpus", 0))
    done: dict[str, float] = {}
    pending = list(plan)
    running: list[tuple[float, str]] = []
    free_c, free_g, now = cores, gpus, 0.0
    while pending or running:
        started = True
        while started:
            started = False
            for j in sorted(pending, key=lambda j: -finish[j.key]):  # longest chain first
                if not all(k in done or k not in by_key for k in j.needs):
                    continue
                c = min(j.threads, cores)
                g = 1 if (j.gpu and gpus) else 0
                if c <= free_c and g <= free_g:
                    free_c, free_g = free_c - c, free_g - g
                    heapq.heappush(running, (now + j.seconds, j.key))
                    pending.remove(j)
                    started = True
                    break
        if not running:
            break
        now, key = heapq.heappop(running)
        j = by_key[key]
        done[key] = now
        free_c += min(j.threads, cores)
        free_g += 1 if (j.gpu and gpus) else 0
    return now, critical


def local_gpus(proc: str | Path = "/proc/driver/nvidia/gpus") -> int:
    """NVIDIA GPUs on this machine as its driver lists them (0 without the driver), narrowed by
    ``CUDA_VISIBLE_DEVICES``; read without importing torch, so a Snakemake start stays fast."""
    import os

    listed = len(list(Path(proc).iterdir())) if Path(proc).is_dir() else 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return listed
    return min(listed, len([d for d in visible.split(",") if d.strip() not in ("", "-1")]))


def gpu_limit(given: Mapping[str, Any], gpus: int) -> int | None:
    """The scheduler's ``gpu`` limit for a run on this machine: what the command line or profile
    gave (``--resources gpu=N``; None here: keep it), else 1 where the machine has a GPU, since
    every job runs on the first GPU it sees (``device: auto``/``cuda``), so two GPU jobs would
    share it. None without a GPU: no limit (there ``device: auto`` runs every job on the CPU)."""
    if "gpu" in given or gpus == 0:
        return None
    return 1


def runtime_minutes(job: Job, attempt: int = 1) -> int:
    """SLURM ``runtime``: SAFETY_FACTOR × the estimate + SAFETY_MINUTES, doubled per retry."""
    base = SAFETY_FACTOR * job.seconds / 60 + SAFETY_MINUTES
    return int(math.ceil(base * 2 ** (max(1, attempt) - 1)))


def mem_mb(job: Job, attempt: int = 1) -> int:
    """SLURM ``mem_mb``: 2 GB for the interpreter and torch (4 GB with a GPU: the CUDA context
    and pinned buffers) plus 4× the job's float32 dataset (the tensors, their copies and Parquet
    buffers), in whole GB, doubled per retry."""
    mb = (4000 if job.gpu else 2000) + 4 * job.mem_bytes / 1e6
    return int(math.ceil(mb / 1000) * 1000 * 2 ** (max(1, attempt) - 1))
