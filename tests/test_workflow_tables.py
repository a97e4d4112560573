"""Every table of a CI run (issue 18): provenance in its Parquet metadata, and one table kind
per results folder, so ``pandas.read_parquet`` of any folder never mixes schemas."""

from __future__ import annotations

import subprocess
from importlib.metadata import version

import pandas as pd
import pyarrow.parquet as pq
from conftest import ROOT

import upnn
from upnn import io


def is_a_commit_of_this_repository(commit):
    """The recorded commit (HEAD when the job ran) is one of this checkout's, or None outside git."""
    if io.git_commit() is None:
        return commit is None
    return commit is not None and subprocess.run(
        ["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=ROOT, capture_output=True).returncode == 0


def tables(root):
    return sorted(p for p in root.rglob("*.parquet")
                  if not io.is_temporary(p))  # what a user reads: resume caches are hidden


def test_every_table_of_a_ci_run_carries_its_provenance(ci_run):
    found = tables(ci_run / "results")
    assert len(found) >= 20, found
    for path in found:
        prov = io.read_provenance(path)
        assert set(prov) == set(io.PROVENANCE_FIELDS), path
        assert prov["version"] == upnn.__version__ and prov["torch"] == version("torch"), path
        assert len(prov["params_hash"]) == 16 and is_a_commit_of_this_repository(prov["commit"]), path
        assert prov["device"] in ("cpu", "none"), path
    # stages that compute on a device record it; the table-only ones (claims) record none
    rel = {p.relative_to(ci_run / "results").as_posix(): io.read_provenance(p) for p in found}
    assert all(v["device"] == "cpu" for k, v in rel.items() if k.startswith(("train/", "attacks/")))
    assert rel["claims.parquet"]["device"] == "none"
    # the same rule with other wildcards: another params hash
    train = sorted(v["params_hash"] for k, v in rel.items() if k.startswith("train/"))
    assert len(set(train)) == len(train) > 1


def test_each_results_folder_holds_one_schema(ci_run):
    results = ci_run / "results"
    folders = {parent for p in tables(results) for parent in p.parents
               if parent != results and results in parent.parents}
    assert {f.relative_to(results).parts[0] for f in folders} >= {
        "attacks", "examples", "uncertainty", "uncertainty_summary", "tsne_points", "tsne_grid"}
    for folder in sorted(folders):
        files = tables(folder)
        names = {tuple(pq.read_schema(f).names) for f in files}
        assert len(names) == 1, f"{folder.relative_to(results)} mixes column sets: {names}"
        schemas = {pq.read_schema(f).remove_metadata().to_string() for f in files}
        if len(schemas) == 1:  # tensor columns of one image size (results/data: one per dataset)
            frame = pd.read_parquet(folder)
            assert tuple(frame.columns) == next(iter(names)), folder
            assert len(frame) == sum(pq.read_metadata(f).num_rows for f in files), folder
