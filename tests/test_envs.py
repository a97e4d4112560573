import tomllib

import yaml
from conftest import ROOT


def test_conda_env_pins_equal_pyproject():
    with open(ROOT / "pyproject.toml", "rb") as fh:
        project = set(tomllib.load(fh)["project"]["dependencies"])
    env = yaml.safe_load((ROOT / "envs" / "upnn.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert set(pip) == project
    assert not any(p.startswith(("-e", ".", "/")) for p in pip)  # nothing relative to the repo
    assert "python=3.11" in env["dependencies"] and "conda-forge" in env["channels"]
    assert all("==" in p for p in project)


def test_llm_conda_env_pins_equal_pyproject_plus_llm_extra():
    """envs/llm.yaml (rule llm_eval) = the project's pins + the exact pins of the `llm` extra."""
    with open(ROOT / "pyproject.toml", "rb") as fh:
        project = tomllib.load(fh)["project"]
    wanted = set(project["dependencies"]) | set(project["optional-dependencies"]["llm"])
    env = yaml.safe_load((ROOT / "envs" / "llm.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert not any(p.startswith(("-e", ".", "/")) for p in pip)  # nothing relative to the repo
    pip = set(pip)
    assert pip == wanted, f"envs/llm.yaml: add {sorted(wanted - pip)}, remove {sorted(pip - wanted)}"
    assert "python=3.11" in env["dependencies"]
    assert all("==" in p for p in project["optional-dependencies"]["llm"])
