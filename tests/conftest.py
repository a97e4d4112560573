"""Shared fixtures: the repository root and a throw-away copy of the workflow for CLI runs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def trained_digits(model: str, tmp: Path, *, epochs: int, width: float, limit_test: int,
                   lr: float = 3e-3):
    """(net, (x_train, y_train, x_test, y_test)): ``model`` trained ``epochs`` epochs on 400
    digits at 28 px (Adam, batch 32), loaded from its last checkpoint in eval mode."""
    import torch

    from upnn import data, models, train

    xtr, ytr = data.load_split("digits", "train", image_size=28, limit=400)
    xte, yte = data.load_split("digits", "test", image_size=28, limit=limit_test)
    d = tuple(torch.as_tensor(a) for a in (xtr, ytr, xte, yte))
    train.train(model, d, train.TrainConfig(epochs=epochs, batch_size=32, lr=lr), tmp,
                width=width, progress=False)
    return models.load(str(Path(tmp) / f"epoch{epochs:03d}.pt")).eval(), d


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


def planned_jobs(run: subprocess.CompletedProcess | str) -> dict[str, int]:
    """Rule → job count from a dry run's "Job stats" table ({} when nothing is to be done)."""
    out = run if isinstance(run, str) else run.stdout + run.stderr
    if "Nothing to be done" in out:
        return {}
    if "Job stats:" not in out:
        raise AssertionError(f"dry run printed neither a job table nor 'Nothing to be done':\n{out}")
    table = out.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


def dry_run_changed(workdir: Path, tmp_path: Path,
                    change: Callable[[dict], None]) -> tuple[dict[str, int], dict]:
    """The jobs a dry run in ``workdir`` plans after ``change`` edits a copy of config/ci.yaml;
    also returns the changed config."""
    cfg = yaml.safe_load((workdir / "config" / "ci.yaml").read_text())
    change(cfg)
    path = tmp_path / "changed.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return planned_jobs(snakemake(workdir, "-n", "--configfile", str(path))), cfg


def one_dataset_config(workdir: Path, name: str, spec: dict, *, eps: float, max_eps: float,
                       **top: object) -> tuple[str, dict]:
    """config/ci.yaml narrowed to one dataset ``name`` (``spec``) with cnn3 trained one epoch,
    pixel attacks (AutoAttack aside) at ``eps`` and every per-dataset block pointed at it; written to
    ``config/<name>.yaml`` in ``workdir``. Returns that path (relative) and the config."""
    cfg = yaml.safe_load((workdir / "config/ci.yaml").read_text())
    cfg.update(top, datasets={name: spec}, experiments={name: ["cnn3"]})
    cfg["train"]["epochs"] = 1
    for stage in ("ifa", "frequency"):  # epoch lists past the one trained epoch are a config error
        cfg[stage]["epochs"] = [1]
    cfg["attacks"].update(levels=["pixel"], feature_models=[], eps={name: eps})
    # a data source's chain: AutoAttack, the costliest check (its own tests cover it), left out
    cfg["attacks"]["names"] = [n for n in cfg["attacks"]["names"] if n != "autoattack"]
    cfg["attacks"]["settings"].pop("autoattack", None)
    cfg["figures"]["fig1"]["dataset"] = name
    cfg["minimal"]["max_eps"] = {name: max_eps}
    cfg["uncertainty"]["datasets"] = {name: cfg["uncertainty"]["datasets"]["digits"]}
    cfg["uncertainty"]["tsne"].update(dataset=name, epochs=[1])
    path = f"config/{name}.yaml"
    (workdir / path).write_text(yaml.safe_dump(cfg))
    return path, cfg


@pytest.fixture(scope="session")
def ci_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workflow copy on which the whole default target was built once with config/ci.yaml."""
    wd = copy_workflow(tmp_path_factory.mktemp("ci_run"))
    snakemake(wd, "--cores", "2", "--configfile", "config/ci.yaml", timeout=1500)
    return wd


@pytest.fixture(scope="session")
def ci_dry_run() -> str:
    """The text of a forced dry run of config/ci.yaml in the checkout (upnn.dag.dry_run): every
    job block and the job stats, for the tests of the DAG reader and the planner."""
    from upnn import dag

    return dag.dry_run([ROOT / "config/ci.yaml"], ROOT)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """tests/test_slurm.py first: its SLURM jobs wait on the cluster and the plugin's status
    polls, and it builds the session's ``ci_run`` meanwhile (it asks for it while its jobs run),
    so every later workflow test finds that run built. Collected after test_report.py, it found
    ``ci_run`` built already and added its whole wait to the session (docs/CONTRIBUTING.md)."""
    items.sort(key=lambda item: item.path.name != "test_slurm.py")  # stable: the rest in order
