import tomllib
from pathlib import Path

import yaml
from conftest import ROOT

# what Snakemake itself needs where it schedules, never inside a rule's environment (rule
# scripts need snakemake: the script preamble unpickles its job object)
ONLY_ON_THE_SUBMIT_HOST = {"snakemake-executor-plugin-slurm==2.8.0"}


def test_conda_env_pins_equal_pyproject():
    with open(ROOT / "pyproject.toml", "rb") as fh:
        project = set(tomllib.load(fh)["project"]["dependencies"])
    env = yaml.safe_load((ROOT / "envs" / "upnn.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert set(pip) == project - ONLY_ON_THE_SUBMIT_HOST
    assert not any(p.startswith(("-e", ".", "/")) for p in pip)  # nothing relative to the repo
    assert "python=3.11" in env["dependencies"] and "conda-forge" in env["channels"]
    assert all("==" in p for p in project)


def test_llm_conda_env_pins_equal_pyproject_plus_llm_extra():
    """envs/llm.yaml (rule llm_eval) = the project's pins + the exact pins of the `llm` extra."""
    with open(ROOT / "pyproject.toml", "rb") as fh:
        project = tomllib.load(fh)["project"]
    wanted = (set(project["dependencies"]) | set(project["optional-dependencies"]["llm"])) - \
        ONLY_ON_THE_SUBMIT_HOST
    env = yaml.safe_load((ROOT / "envs" / "llm.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert not any(p.startswith(("-e", ".", "/")) for p in pip)  # nothing relative to the repo
    pip = set(pip)
    assert pip == wanted, f"envs/llm.yaml: add {sorted(wanted - pip)}, remove {sorted(pip - wanted)}"
    assert "python=3.11" in env["dependencies"]
    assert all("==" in p for p in project["optional-dependencies"]["llm"])


def _closure(pins: list[str]) -> set[str]:
    """The installed distributions that ``pins`` need, their dependencies followed through the
    installed metadata (markers evaluated here), as normalised names."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    todo = [Requirement(p) for p in pins]
    seen: set[str] = set()
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen.add(name)
        for dep in metadata.distribution(name).requires or []:
            r = Requirement(dep)
            if r.marker is None or r.marker.evaluate({"extra": ""}):
                todo.extend([r])
            elif any(r.marker.evaluate({"extra": e}) for e in req.extras):
                todo.append(r)
    return seen


def deployed_env(env_file: Path, dest: Path) -> Path:
    """What conda does with an env file's pip section, without conda or a network: a fresh venv
    holding exactly the listed distributions and their dependencies (linked from this test venv's
    site-packages: same versions, no copy of several GB), and not upnn itself. Its python."""
    import site
    import subprocess
    import sys
    from importlib import metadata

    from packaging.utils import canonicalize_name

    env = yaml.safe_load(env_file.read_text())
    pins = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    wanted = _closure(pins)
    assert "upnn" not in wanted
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(dest)], check=True)
    target = Path(next(iter(dest.glob("lib/python3*/site-packages"))))
    here = {Path(p).resolve() for p in site.getsitepackages()}
    for dist in metadata.distributions():
        if canonicalize_name(dist.metadata["Name"]) not in wanted:
            continue
        root = Path(dist.locate_file("")).resolve()
        assert root in here, (dist.metadata["Name"], root)
        for top in {Path(f).parts[0] for f in dist.files or []}:
            src, dst = root / top, target / top
            if src.exists() and not dst.exists() and top != "..":
                dst.symlink_to(src)
    return dest / "bin" / "python"


def test_the_upnn_env_deploys_and_runs_a_rule_script(tmp_path):
    """envs/upnn.yaml: its pip section alone (no upnn installed, nothing relative to the
    repository) runs a rule script through Snakemake in the workflow's working directory."""
    import subprocess

    from conftest import copy_workflow

    python = deployed_env(ROOT / "envs" / "upnn.yaml", tmp_path / "env")
    wd = copy_workflow(tmp_path / "wf")
    check = subprocess.run([python, "-c", "import upnn"], capture_output=True, text=True)
    assert check.returncode != 0 and "No module named 'upnn'" in check.stderr
    target = "results/data/digits/train.parquet"
    proc = subprocess.run([python, "-m", "snakemake", target, "--cores", "1", "--configfile",
                           "config/ci.yaml"], cwd=wd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (wd / target).exists()


def test_the_llm_env_deploys_and_runs_its_rule_script(tmp_path):
    """envs/llm.yaml runs rule llm_eval (a tiny random Llama, offline) the same way."""
    import importlib.util
    import os
    import subprocess

    if importlib.util.find_spec("lm_eval") is None:
        import pytest

        pytest.skip("the llm extra is not installed: pip install -e '.[llm]'")
    from conftest import copy_workflow
    from llm_tiny import TASK_DIR, TASKS, build

    from upnn import config as upnn_config

    python = deployed_env(ROOT / "envs" / "llm.yaml", tmp_path / "env")
    wd = copy_workflow(tmp_path / "wf")
    cfg = yaml.safe_load((wd / "config" / "ci.yaml").read_text())
    cfg["llm"].update(enabled=True, model=str(build(wd / "tiny")), tasks=list(TASKS),
                      include_path=str(TASK_DIR), limit=2, batch_size=8, bim_steps=1,
                      conditions=["none"])
    (wd / "c.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1"}
    target = f"results/llm/{upnn_config.llm_slug(cfg['llm']['model'])}.parquet"  # as the rules
    proc = subprocess.run([python, "-m", "snakemake", target, "--cores", "1", "--configfile",
                           "c.yaml"], cwd=wd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (wd / target).exists()
