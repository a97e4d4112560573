"""requirements.lock (written by `make lock`, installed by `make install`/`make install-test`)
agrees with pyproject.toml: every exact pin there is the lock's version, and the lock is the
whole resolved set (no package without a version)."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

from conftest import ROOT


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_versions(lock: Path) -> dict[str, str]:
    versions = {}
    for line in lock.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and version, f"{lock.name}: {line!r} is not NAME==VERSION"
            versions[canonical(name)] = version
    return versions


def pyproject_pins(pyproject: Path) -> dict[str, str]:
    """NAME → VERSION of every ``NAME==VERSION`` requirement (dependencies and every extra)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    pins = {}
    for req in reqs:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)(?:\[[^]]*\])?\s*==\s*([^\s;,]+)\s*", req)
        if m:
            pins[canonical(m[1])] = m[2]
    return pins


def mismatches(pyproject: Path, lock: Path) -> list[str]:
    locked = lock_versions(lock)
    bad = []
    for name, want in sorted(pyproject_pins(pyproject).items()):
        if locked.get(name) != want:
            has = f"=={locked[name]}" if name in locked else "lacks it"
            bad.append(f"{name}: pyproject.toml =={want}, {lock.name} {has}")
    return bad


def test_every_pin_of_pyproject_is_the_locks_version():
    bad = mismatches(ROOT / "pyproject.toml", ROOT / "requirements.lock")
    assert not bad, "run `make lock` (README, Development):\n" + "\n".join(bad)


def test_the_check_fails_when_a_pin_changes_alone(tmp_path):
    """A copy of pyproject.toml with one pin moved and the lock left as it is."""
    shutil.copy(ROOT / "requirements.lock", tmp_path / "requirements.lock")
    text = (ROOT / "pyproject.toml").read_text()
    changed = text.replace('"pandas==', '"pandas==0.0.1+', 1)
    assert changed != text
    (tmp_path / "pyproject.toml").write_text(changed)
    bad = mismatches(tmp_path / "pyproject.toml", tmp_path / "requirements.lock")
    assert len(bad) == 1 and bad[0].startswith("pandas: pyproject.toml ==0.0.1+")


def test_the_lock_is_complete_and_keeps_the_cve_pins_out():
    locked = lock_versions(ROOT / "requirements.lock")
    assert "upnn" not in locked  # the project itself is installed editable, not from the lock
    # torchattacks only as the parity tests' reference, installed with --no-deps (Makefile)
    make = (ROOT / "Makefile").read_text()
    assert f"TORCHATTACKS := torchattacks=={locked['torchattacks']}" in make
    major, minor = (int(p) for p in locked["requests"].split(".")[:2])
    assert (major, minor) >= (2, 32), "requests below 2.32 has known CVEs"
    assert "torchattacks" not in pyproject_pins(ROOT / "pyproject.toml")


def test_every_imported_package_is_declared():
    """Each third-party module imported by src/ and scripts/ comes from a distribution that
    pyproject.toml pins (runtime or the llm extra), not from a transitive dependency."""
    import ast
    import sys
    from importlib.metadata import packages_distributions

    dists = packages_distributions()
    declared = set(pyproject_pins(ROOT / "pyproject.toml"))
    missing = {}
    for path in [*(ROOT / "src").rglob("*.py"), *(ROOT / "scripts").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in ("upnn", "_src"):
                    continue
                if not {canonical(d) for d in dists.get(top, [top])} & declared:
                    missing.setdefault(top, []).append(path.relative_to(ROOT).as_posix())
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"
