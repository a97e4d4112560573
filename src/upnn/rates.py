"""Rates files and time: how many FLOP/s a machine does per kind of work (``config/rates/``,
measured by ``bench/device_check.py`` or assumed, its ``status`` says which), and the seconds a
job's counted work takes there:

    overhead(rule) + Σ_kind work[kind] / rate(kind, model) × cores / min(threads, cores)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upnn import config as cfg

if TYPE_CHECKING:
    from upnn.plan import Job

ROOT = Path(__file__).resolve().parents[2]
RATES_DIR = ROOT / "config" / "rates"
CPU_RATES = RATES_DIR / "cpu-2core.yaml"
GPU_RATES = RATES_DIR / "gpu-h100.yaml"
KINDS = ("train", "attack", "eval", "mlp", "tsne", "llm", "io", "calls")


#: sequential calls per second where a rates file names none: the development machine's
#: (config/rates/cpu-2core.yaml, fitted as docs/gpu.md says)
CALLS_PER_S = 500.0
#: kinds of work one thread does whatever the job's threads (a per-call cost: Python, dispatch)
SERIAL = ("calls",)


def load_rates(path: str | Path) -> dict[str, Any]:
    """A rates file: ``status`` (measured | assumed), ``machine``, ``cores``, ``gpus``,
    ``overhead_s`` ({default, figure, local}) and ``flops_per_s`` ({kind: number or
    {default: number, <model>: number}}; ``calls``, sequential calls per second, defaults to
    :data:`CALLS_PER_S` where a file, e.g. one the device check wrote, lacks it)."""
    rates = cfg.load_yaml(path)
    for key in ("status", "machine", "cores", "overhead_s", "flops_per_s"):
        if key not in rates:
            raise ValueError(f"rates file {path}: missing {key!r}")
    rates["flops_per_s"].setdefault("calls", CALLS_PER_S)
    if rates["status"] not in ("measured", "assumed", "partly measured"):
        raise ValueError(f"rates file {path}: status {rates['status']!r}; allowed: measured, "
                         f"assumed, partly measured")
    return rates


def rate(rates: Mapping[str, Any], kind: str, model: str | None) -> float:
    """FLOP/s (tsne: point-iterations/s; io: bytes/s; calls: calls/s) of ``kind`` for
    ``model``."""
    value = rates["flops_per_s"][kind]
    if isinstance(value, Mapping):
        return float(value.get(model, value["default"]))
    return float(value)


def overhead(rates: Mapping[str, Any], job: Job) -> float:
    """Fixed seconds per job: start-up (Python, torch, CUDA), reading checkpoints, writing tables."""
    o = rates["overhead_s"]
    if job.rule == "download_dataset":
        return float(o.get("local", o["default"]))
    if job.rule == "all":
        return 0.0
    if job.stage == "figures/claims":
        return float(o.get("figure", o["default"]))
    return float(o.get(job.rule, o["default"]))


def seconds(job: Job, rates: Mapping[str, Any], precision: str = "fp32") -> float:
    """Estimated wall seconds of one job on the rates' machine: its overhead plus its work at
    the rates (:func:`work_seconds`)."""
    return overhead(rates, job) + work_seconds(job, job.work, rates, precision)


def work_seconds(job: Job, work: Mapping[str, float], rates: Mapping[str, Any],
                 precision: str = "fp32") -> float:
    """Seconds of ``work`` (kind → amount, all or part of ``job``'s) at the rates (× the rates
    file's ``speedup`` of ``precision``, where it lists one), a job of fewer threads than the
    machine's cores at that share of the rate (on a GPU machine ``cores`` only matters for the
    CPU-only jobs)."""
    cores = int(rates["cores"])
    share = 1.0 if (job.gpu and rates.get("gpus")) else cores / max(1, min(job.threads, cores))
    speedup = (rates.get("speedup") or {}).get(precision, {}) if job.gpu else {}
    return sum(w / (rate(rates, k, job.model) * speedup.get(k, 1.0)) * (1.0 if k in SERIAL else share)
               for k, w in work.items() if w)


def default_rates(config: Mapping[str, Any], root: str | Path = ROOT, *,
                  here: bool = False) -> Path:
    """The rates file: ``$UPNN_RATES`` if set, else (under ``root``, the workflow's directory)
    the CPU file when the config pins the CPU, the GPU file when it pins CUDA. ``device: auto``
    means the GPU file for the rules (they ask the scheduler for a GPU, and a SLURM login node
    need not have one) and, with ``here=True`` (the command line), this machine's device."""
    import os

    if os.environ.get("UPNN_RATES"):
        return Path(os.environ["UPNN_RATES"])
    rates = Path(root) / "config" / "rates"
    device = config["device"]
    if device == "auto" and here:
        from upnn.device import resolve  # imports torch: only on the command line

        device = resolve("auto").type
    return rates / (CPU_RATES.name if device == "cpu" else GPU_RATES.name)
