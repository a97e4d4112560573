import tomllib

import yaml
from conftest import ROOT


def test_conda_env_pins_equal_pyproject():
    with open(ROOT / "pyproject.toml", "rb") as fh:
        project = set(tomllib.load(fh)["project"]["dependencies"])
    env = yaml.safe_load((ROOT / "envs" / "upnn.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert set(pip) == project
    assert "python=3.11" in env["dependencies"] and "conda-forge" in env["channels"]
    assert all("==" in p for p in project)
