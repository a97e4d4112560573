"""The workflow's job graph as Snakemake itself builds it: every job of a forced dry run
(``snakemake --dry-run --forceall``), its rule, wildcards and threads, and the jobs whose
outputs it reads. The work planner (:mod:`upnn.plan`) prices these jobs; it keeps no copy of the
rules' graph of its own."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Threads as the rules declare them: a dry run caps each job's threads at --cores
ALL_THREADS = "1024"


class DagError(RuntimeError):
    """Snakemake could not build the DAG (its last line says why)."""


@dataclass
class DagJob:
    """One job of the DAG: its rule, wildcards, declared threads, files, and the keys of the
    jobs that make its inputs."""

    rule: str
    wildcards: dict[str, str] = field(default_factory=dict)
    threads: int = 1
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    needs: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return key(self.rule, self.wildcards)


def key(rule: str, wildcards: dict[str, str]) -> str:
    """``rule[k=v,...]`` with the wildcards sorted: one job's name in the planner's tables."""
    inner = ",".join(f"{k}={v}" for k, v in sorted(wildcards.items()))
    return f"{rule}[{inner}]" if inner else rule


_RULE = re.compile(r"^(?:local)?rule (\w+):\s*$")
_FIELD = re.compile(r"^\s+(\w+): (.*)$")


def parse(text: str) -> list[DagJob]:
    """The jobs of a dry run's printed job blocks (``rule NAME:`` then indented ``key: value``
    lines), with each job's needs from its inputs and the other jobs' outputs."""
    jobs: list[DagJob] = []
    current: DagJob | None = None
    for line in text.splitlines():
        m = _RULE.match(line)
        if m:
            current = DagJob(m[1])
            jobs.append(current)
            continue
        f = _FIELD.match(line) if current is not None else None
        if f is None:
            current = None
            continue
        name, value = f[1], f[2]
        if name == "wildcards":
            current.wildcards = dict(p.split("=", 1) for p in value.split(", "))
        elif name == "threads":
            current.threads = int(value)
        elif name in ("input", "output"):
            getattr(current, f"{name}s").extend(value.split(", "))
    made = {o: j.key for j in jobs for o in j.outputs}
    for j in jobs:
        j.needs = sorted({made[i] for i in j.inputs if i in made})
    return jobs


def dry_run(configfiles: Sequence[str | Path], directory: str | Path = ".", *,
            snakefile: str | Path = ROOT / "Snakefile") -> str:
    """The text of ``snakemake --dry-run --forceall`` for these config files, run in
    ``directory`` (every job, done or not; no lock taken)."""
    exe = Path(sys.executable).with_name("snakemake")
    exe = str(exe) if exe.exists() else shutil.which("snakemake")
    if exe is None:
        raise DagError("snakemake is not installed here; the planner reads the workflow's jobs "
                       "from its dry run (install upnn's runtime: make install)")
    cmd = [exe, "--snakefile", str(snakefile),
           "--directory", str(directory), "--dry-run", "--forceall", "--nolock",
           "--cores", ALL_THREADS]
    if configfiles:
        cmd += ["--configfile", *map(str, configfiles)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        raise DagError(f"snakemake --dry-run failed: {lines[-1] if lines else proc.returncode}")
    return proc.stdout + proc.stderr


def jobs(configfiles: Sequence[str | Path], directory: str | Path = ".") -> list[DagJob]:
    """Every job Snakemake builds for ``configfiles`` in ``directory`` (:func:`dry_run`,
    :func:`parse`)."""
    return parse(dry_run(configfiles, directory))
