"""Reading and writing every on-disk artefact of the pipeline, in one place.

Tables are Parquet (long/tidy, opened directly by ``pandas.read_parquet``); tensors inside a table
are Arrow fixed-shape tensor columns (``pyarrow.fixed_shape_tensor``). Checkpoints are ``.pt``
dicts of plain tensors and numbers, written and read by :mod:`upnn.checkpoint`.
Every write goes to a temporary file ``.NAME.XXXX.upnn-tmp`` in the target's folder and is
renamed into place, so a killed job never leaves a partial file under the target's name; the
next write of the same target removes such leftovers, and no glob of results matches them
(:func:`is_temporary`). torch is imported where a function needs it, so
the figure jobs, which only read tables, start without it.

Every table carries its provenance in the Parquet schema metadata under the key ``upnn`` (JSON,
:func:`read_provenance`): upnn's ``version``, the git ``commit`` of the checkout upnn runs from
(null outside a git checkout), ``params_hash`` (:func:`fingerprint` of the params that made it:
a rule's params, wildcards and rule name when a script passes its ``snakemake`` object), the
``torch`` version (from the package metadata, without importing torch), the ``device`` (the
one :func:`upnn.device.resolve` chose in this process, or ``none`` for a stage that computes on
no device) and ``threads``, torch's intra-op thread count in this process (``none`` where the
process never imported torch; rule scripts pin it to the rule's threads: :func:`upnn.log.job`).
:func:`write_table` requires ``params``, so no stage can write a table without it.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from glob import escape as glob_escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    import torch


TEMP_SUFFIX = ".upnn-tmp"


def is_temporary(path: str | os.PathLike) -> bool:
    """Whether ``path`` is the temporary file of an :func:`atomic_path` write (maybe a killed one)."""
    name = Path(path).name
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.
    Leftover temporaries of an earlier, killed write of the same target are removed first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in path.parent.glob(f".{glob_escape(path.name)}.*{TEMP_SUFFIX}"):
        old.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; outputs get the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def tensor_array(values: np.ndarray | torch.Tensor) -> pa.ExtensionArray:
    """An (N, *shape) array as an Arrow fixed-shape tensor column of N elements."""
    if hasattr(values, "detach"):  # a torch.Tensor (torch is not imported here)
        values = values.detach().cpu().numpy()
    values = np.ascontiguousarray(values)
    # NumPy calls an array with a stride-0 axis of length 1 (e.g. ``x[:, None]``) contiguous, but
    # Arrow would then write the column with a dimension permutation it cannot read back.
    canonical = tuple(int(np.prod(values.shape[i + 1:])) * values.itemsize
                      for i in range(values.ndim))
    if values.strides != canonical:
        values = values.copy()
    return pa.FixedShapeTensorArray.from_numpy_ndarray(values)


PROVENANCE_KEY = "upnn"
PROVENANCE_FIELDS = ("version", "commit", "params_hash", "torch", "device", "threads")
# The device that upnn.device.resolve chose in this process (it sets this); "none" until then.
DEVICE = "none"


@functools.cache
def git_commit() -> str | None:
    """The commit of the git checkout upnn's source lies in (None outside one, or without git)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


def job_params(params: Any) -> Any:
    """What a table's ``params_hash`` hashes: a rule script's ``snakemake`` object becomes its rule
    name, wildcards and params; anything else (a JSON-able value) is taken as it is."""
    if all(hasattr(params, a) for a in ("rule", "params", "wildcards")):
        return {"rule": params.rule, "wildcards": dict(params.wildcards.items()),
                "params": dict(params.params.items())}
    return params


def provenance(params: Any, device: Any = None) -> dict[str, str | None]:
    """The ``upnn`` metadata of a table made from ``params`` on ``device`` (see the module doc)."""
    from importlib.metadata import PackageNotFoundError, version

    from upnn import __version__

    try:
        torch_version = version("torch")
    except PackageNotFoundError:
        torch_version = None
    torch = sys.modules.get("torch")
    return {"version": __version__, "commit": git_commit(), "params_hash": fingerprint(job_params(params)),
            "torch": torch_version, "device": str(device if device is not None else DEVICE),
            "threads": str(torch.get_num_threads()) if torch is not None else "none"}


def read_provenance(path: str | os.PathLike) -> dict[str, str | None]:
    """A table's provenance (:func:`provenance`); KeyError naming the file when it has none."""
    meta = pq.read_schema(path).metadata or {}
    if PROVENANCE_KEY.encode() not in meta:
        raise KeyError(f"{path}: no '{PROVENANCE_KEY}' provenance in the Parquet metadata")
    return json.loads(meta[PROVENANCE_KEY.encode()])


def write_table(
    path: str | os.PathLike,
    columns: Mapping[str, Any] | pd.DataFrame,
    tensors: Mapping[str, np.ndarray | torch.Tensor] | None = None,
    metadata: Mapping[str, str] | None = None,
    *,
    params: Any,
    device: Any = None,
) -> None:
    """Write plain columns (dict or DataFrame) plus optional tensor columns to Parquet, atomically,
    with the provenance of ``params`` (a rule script passes its ``snakemake`` object) and
    ``device`` (default: the device this process resolved) under the metadata key ``upnn``."""
    table = _arrow_table(path, columns, tensors, metadata, params, device)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def _arrow_table(path: str | os.PathLike, columns: Mapping[str, Any] | pd.DataFrame,
                 tensors: Mapping[str, np.ndarray | torch.Tensor] | None,
                 metadata: Mapping[str, str] | None, params: Any, device: Any) -> pa.Table:
    """The Arrow table :func:`write_table` writes: plain columns, then tensor columns, then the
    metadata and the provenance."""
    if isinstance(columns, pd.DataFrame):
        table = pa.Table.from_pandas(columns, preserve_index=False)
    else:
        table = pa.table({k: np.asarray(v) if not isinstance(v, list) else v
                          for k, v in columns.items()}) if columns else None
    for name, values in (tensors or {}).items():
        arr = tensor_array(values)
        table = pa.table({name: arr}) if table is None else table.append_column(name, arr)
    if table is None:
        raise ValueError(f"nothing to write to {path}: no columns and no tensors")
    return table.replace_schema_metadata({
        **(table.schema.metadata or {}),
        **{k: str(v) for k, v in (metadata or {}).items()},
        PROVENANCE_KEY: json.dumps(provenance(params, device), sort_keys=True),
    })


@contextmanager
def chunked_writer(path: str | os.PathLike, metadata: Mapping[str, str] | None = None, *,
                   params: Any, device: Any = None) -> Iterator[Any]:
    """:func:`write_table` in parts: yields ``write(columns, tensors=None)``, each call one row
    group of the same columns, so a table larger than memory is written part by part; the file
    appears under ``path`` (atomically) only when the block succeeds."""
    with atomic_path(path) as tmp:
        writer: pq.ParquetWriter | None = None

        def write(columns: Mapping[str, Any] | pd.DataFrame,
                  tensors: Mapping[str, Any] | None = None) -> None:
            nonlocal writer
            table = _arrow_table(path, columns, tensors, metadata, params, device)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table)

        try:
            yield write
        finally:
            if writer is not None:
                writer.close()


def read_table(path: str | os.PathLike) -> pa.Table:
    return pq.read_table(path)


def read_frame(path: str | os.PathLike) -> pd.DataFrame:
    """The plain (non-tensor) columns of a table as a DataFrame."""
    table = pq.read_table(path)
    plain = [f.name for f in table.schema if not isinstance(f.type, pa.FixedShapeTensorType)]
    return table.select(plain).to_pandas()


def column_tensor(table: pa.Table, name: str) -> torch.Tensor:
    """A fixed-shape tensor column as one (N, *shape) torch tensor (zero-copy where possible)."""
    import torch

    col = table.column(name).combine_chunks()
    if not isinstance(col.type, pa.FixedShapeTensorType):
        return torch.from_numpy(col.to_numpy(zero_copy_only=False).copy())
    return torch.from_numpy(np.array(col.to_numpy_ndarray()))


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    meta = pq.read_schema(path).metadata or {}
    return {k.decode(): v.decode() for k, v in meta.items() if not k.startswith(b"pandas")}


class RowCache:
    """Rows of a per-epoch job, saved after every epoch so a killed job resumes where it stopped.

    Lives beside the job's output as ``.<name>.partial.parquet`` (Snakemake does not know it, so
    it survives a failed job). The leading dot hides it from pyarrow's dataset discovery, so
    ``pandas.read_parquet(folder)`` reads finished tables only, while a job runs and after one was
    killed. ``key`` fingerprints the job's settings: a cache written under other settings is
    ignored. Call :meth:`finish` once the real output is written.
    """

    def __init__(self, output: str | os.PathLike, key: str) -> None:
        output = Path(output)
        self.path = output.with_name(f".{output.name}.partial.parquet")
        self.key = key
        self.rows: list[dict[str, Any]] = []
        if self.path.exists() and read_metadata(self.path).get("upnn_key") == key:
            self.rows = pd.read_parquet(self.path).to_dict("records")

    def done(self, column: str, value: Any) -> bool:
        return any(r[column] == value for r in self.rows)

    def add(self, rows: list[dict[str, Any]]) -> None:
        self.rows.extend(rows)
        write_table(self.path, pd.DataFrame(self.rows), metadata={"upnn_key": self.key},
                    params={"upnn_key": self.key})

    def finish(self) -> None:
        self.path.unlink(missing_ok=True)


# Columns that time a run: they differ between any two runs; every other column must match.
TIMING = re.compile(r"(^|_)(seconds|secs|time|elapsed|wall)($|_)")


def same_table(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two tables are equal bit for bit, timing columns (:data:`TIMING`) and the Parquet
    metadata (provenance: commit, thread count) aside."""
    ta, tb = read_table(a), read_table(b)
    drop = [c for c in ta.column_names if TIMING.search(c)]
    ta, tb = ta.drop_columns(drop), tb.drop_columns([c for c in drop if c in tb.column_names])
    return ta.schema.remove_metadata() == tb.schema.remove_metadata() and ta.equals(tb)


def differing_tables(a: str | os.PathLike, b: str | os.PathLike) -> list[str]:
    """The Parquet tables (paths relative to the two results folders) that differ between two runs
    (:func:`same_table`) or exist in only one of them; [] when the runs agree."""
    a, b = Path(a), Path(b)
    names = {p.relative_to(root).as_posix() for root in (a, b) for p in root.rglob("*.parquet")
             if not is_temporary(p) and not p.name.startswith(".")}
    return sorted(n for n in names
                  if not ((a / n).exists() and (b / n).exists() and same_table(a / n, b / n)))


def fingerprint(*parts: Any, tensors: tuple = ()) -> str:
    """The one fingerprint of the pipeline: a short stable hash of JSON-able settings ``parts``
    and, when given, the shapes and bytes of ``tensors`` (e.g. a run's training data)."""
    import hashlib

    h = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode())
    for t in tensors:
        h.update(str(tuple(t.shape)).encode())
        # a streamed split (upnn.data.StreamedImages) part by part: the same bytes, the same hash
        for part in t.chunks() if hasattr(t, "chunks") else (t,):
            h.update(part.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]
