"""Checkpoints, defined once: their names, atomic save, ``weights_only`` load, and the one resume
protocol every per-epoch trainer (classifiers, Pix2Pix) uses.

A per-epoch job writes ``epoch{NNN}.pt`` files into a work folder ``<output>.partial/`` that
Snakemake never deletes, so a killed job resumes from its last complete epoch:

* :func:`claim` makes the folder belong to one fingerprint (the hash of everything the run depends
  on, :func:`upnn.io.fingerprint`), recorded in its ``FINGERPRINT`` file. Files of another
  fingerprint (or of none, or unreadable ones) are moved aside into ``<folder>.stale/`` — never
  resumed, never mixed into the result, not lost — and the log says which and why.
* :func:`resume` returns the newest epoch e such that epochs 1..e are all there and readable.
* :func:`finish` drops epochs beyond the run's last and renames the work folder onto the output in
  one step.
* :func:`rng_state` is the random state every resume checkpoint carries (the data-shuffling
  generator's, the CPU's, and on CUDA the device's), :func:`restore_rng` puts it back, so a
  resumed run draws what the uninterrupted one would have drawn.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upnn import io

if TYPE_CHECKING:
    import torch

STAMP = "FINGERPRINT"
_NAME = re.compile(r"^epoch(\d{3,})\.pt$")
_LOG = logging.getLogger("upnn")


class CheckpointError(RuntimeError):
    """A checkpoint that is missing or cannot be read; the message names the path and a fix."""


def name(epoch: int) -> str:
    """``epoch{NNN}.pt``: the file name of epoch ``epoch``'s checkpoint."""
    return f"epoch{epoch:03d}.pt"


def path(directory: str | os.PathLike, epoch: int) -> Path:
    return Path(directory) / name(epoch)


def epochs_in(directory: str | os.PathLike) -> dict[int, Path]:
    """Epoch → checkpoint file of every ``epoch{NNN}.pt`` in ``directory`` (empty if absent)."""
    directory = Path(directory)
    if not directory.is_dir():
        return {}
    found = {}
    for p in directory.iterdir():
        m = _NAME.match(p.name)
        if m:
            found[int(m.group(1))] = p
    return dict(sorted(found.items()))


def save(obj: Mapping[str, Any], target: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file, then rename: a reader never sees half a checkpoint."""
    import torch

    with io.atomic_path(target) as tmp:
        torch.save(dict(obj), tmp)


def load(target: str | os.PathLike, map_location: str | torch.device = "cpu",
         rebuild: str = "rerun the rule that writes it") -> dict:
    """A checkpoint's dict (``torch.load(..., weights_only=True)``: tensors and plain values).
    A missing or damaged file raises :class:`CheckpointError` naming it, what is wrong, and
    ``rebuild`` (the command that makes it again)."""
    import torch

    target = Path(target)
    if not target.is_file():
        raise CheckpointError(f"checkpoint {target} is missing; {rebuild}")
    try:
        return torch.load(target, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated zip, bad pickle, wrong format: all mean "damaged"
        raise CheckpointError(f"checkpoint {target} is damaged ({type(err).__name__}: {err}); "
                              f"delete it and {rebuild}") from err


def _stale_dir(directory: Path) -> Path:
    return directory.with_name(directory.name + ".stale")


def _move_aside(files: list[Path], directory: Path, why: str, logger: logging.Logger) -> None:
    if not files:
        return
    dest = _stale_dir(directory)
    dest.mkdir(parents=True, exist_ok=True)
    for f in files:
        target = dest / f.name
        k = 1
        while target.exists():
            target = dest / f"{f.stem}.{k}{f.suffix}"
            k += 1
        shutil.move(str(f), target)
    logger.warning("moved %d checkpoint(s) of %s aside into %s: %s", len(files), directory, dest,
                   why)


def rng_state(shuffle: torch.Generator, device: torch.device) -> dict[str, Any]:
    """The random state a resume checkpoint carries: ``shuffle_rng`` (the local generator that
    orders the data), ``cpu_rng`` (torch's global one: init, dropout) and ``cuda_rng`` (the
    device's, None on the CPU). Read back by :func:`restore_rng`."""
    import torch

    cuda = device.type == "cuda"
    return {"shuffle_rng": shuffle.get_state(), "cpu_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(device) if cuda else None}


def restore_rng(ckpt: Mapping[str, Any], shuffle: torch.Generator,
                device: torch.device) -> None:
    """Put back the random state :func:`rng_state` wrote into ``ckpt``."""
    import torch

    shuffle.set_state(ckpt["shuffle_rng"].cpu())
    torch.set_rng_state(ckpt["cpu_rng"].cpu())
    if device.type == "cuda" and ckpt.get("cuda_rng") is not None:
        torch.cuda.set_rng_state(ckpt["cuda_rng"].cpu(), device)


def claim(directory: str | os.PathLike, fp: str, logger: logging.Logger = _LOG) -> None:
    """Make ``directory`` hold checkpoints of fingerprint ``fp`` only (module docstring)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = directory / STAMP
    old = stamp.read_text().strip() if stamp.is_file() else None
    files = list(epochs_in(directory).values())
    if old != fp and files:
        why = (f"they belong to other settings (fingerprint {old}, this run {fp})" if old
               else f"the folder has no {STAMP} (this run {fp})")
        _move_aside(files, directory, why, logger)
    for f in directory.iterdir():  # leftovers of a write that was killed
        if io.is_temporary(f):
            f.unlink()
    if old != fp:
        with io.atomic_path(stamp) as tmp:
            tmp.write_text(fp + "\n")


def resume(directory: str | os.PathLike, epochs: int, logger: logging.Logger = _LOG,
           check: Any = None) -> tuple[int, dict | None]:
    """(e, checkpoint of epoch e) for the newest e ≤ ``epochs`` such that epochs 1..e are all
    present and e's file is readable (and passes ``check(ckpt)``, when given); (0, None) when there
    is none. Only that newest file is loaded; an unreadable or failing one is moved aside and the
    one before tried. Files after the first gap are moved aside too; the log says from which epoch
    the run continues and why."""
    directory = Path(directory)
    found = epochs_in(directory)
    last = 0
    while last + 1 in found and last < epochs:
        last += 1
    later = [p for e, p in found.items() if e > last]
    if later:
        _move_aside(later, directory, f"epoch {last + 1} is missing before them", logger)
    for e in range(last, 0, -1):
        try:
            ckpt = load(found[e])
        except CheckpointError as err:
            _move_aside([found[e]], directory, str(err), logger)
            continue
        if check is not None and not check(ckpt):
            _move_aside([found[e]], directory, "it fails the run's check", logger)
            continue
        logger.info("resuming %s after epoch %d of %d", directory, e, epochs)
        return e, ckpt
    if found:
        logger.info("no usable checkpoint in %s: training from epoch 1", directory)
    return 0, None


def finish(work_dir: str | os.PathLike, out_dir: str | os.PathLike, epochs: int) -> None:
    """Drop checkpoints after ``epochs`` (a longer earlier run may have left them), temporaries and
    the ``FINGERPRINT`` stamp, and rename ``work_dir`` onto ``out_dir`` in one step."""
    work_dir, out_dir = Path(work_dir), Path(out_dir)
    for e, p in epochs_in(work_dir).items():
        if e > epochs:
            p.unlink()
    for f in work_dir.iterdir():
        if io.is_temporary(f) or f.name == STAMP:
            f.unlink()
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(work_dir, out_dir)


def folder(directory: str | os.PathLike, epochs: list[int] | range) -> dict[int, Path]:
    """The checkpoint files of ``epochs`` in a finished folder, checked before any work: a missing
    folder or epoch raises :class:`CheckpointError` naming it and the command that rebuilds it."""
    directory = Path(directory)
    rebuild = f"rebuild it with: snakemake --cores all --force {directory}"
    if not directory.is_dir():
        raise CheckpointError(f"checkpoint folder {directory} is missing; {rebuild}")
    found = epochs_in(directory)
    missing = [e for e in epochs if e not in found]
    if missing:
        raise CheckpointError(f"checkpoint folder {directory} lacks epoch(s) {missing} that its "
                              f"train table lists; {rebuild}")
    return {e: found[e] for e in epochs}


def work_dir(out_dir: str | os.PathLike) -> Path:
    """``<out_dir>.partial``: where a per-epoch job writes until it has finished."""
    out_dir = Path(out_dir)
    return out_dir.with_name(out_dir.name + ".partial")
