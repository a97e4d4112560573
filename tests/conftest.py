"""Shared fixtures: the repository root and a throw-away copy of the workflow for CLI runs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def copy_workflow(dest: Path) -> Path:
    """Snakefile, rules, scripts and config copied into ``dest``; ``src`` linked (live code)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "Snakefile", dest / "Snakefile")
    for d in ("rules", "scripts", "config", "envs", "profiles", "report"):
        shutil.copytree(ROOT / d, dest / d, ignore=shutil.ignore_patterns("__pycache__"))
    for d in ("src", "data"):
        if (ROOT / d).exists() and not (dest / d).exists():
            (dest / d).symlink_to(ROOT / d)
    return dest


def snakemake(workdir: Path, *args: str, check: bool = True,
              timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the Snakemake CLI in ``workdir`` and return the finished process (output captured)."""
    proc = subprocess.run([SNAKEMAKE, *args], cwd=workdir, capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def ci_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workflow copy on which the whole default target was built once with config/ci.yaml."""
    wd = copy_workflow(tmp_path_factory.mktemp("ci_run"))
    snakemake(wd, "--cores", "2", "--configfile", "config/ci.yaml", timeout=1500)
    return wd
