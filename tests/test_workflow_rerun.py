"""Bit-identical reruns: the CI config's train → attack chain, run again in another folder while
another CPU-heavy process runs beside it, gives the same tables as the session's CI run (timing
columns aside). Every rule pins torch's threads to its own (upnn.log.job), so the load and the
machine's core count do not enter the numbers."""

from __future__ import annotations

import subprocess
import sys

from conftest import copy_workflow, snakemake

from upnn import io

TARGETS = ["results/attacks/digits/cnn3/seed0/pixel.parquet",
           "results/minimal/digits/cnn3/seed0.parquet"]


def test_a_rerun_beside_a_busy_process_gives_identical_tables(ci_run, tmp_path):
    wd = copy_workflow(tmp_path / "again")
    busy = subprocess.Popen([sys.executable, "-c", "while True: sum(i * i for i in range(10**6))"])
    try:
        snakemake(wd, "--cores", "2", *TARGETS, "--configfile", "config/ci.yaml")
    finally:
        busy.kill()
    made = sorted(p.relative_to(wd / "results").as_posix()
                  for p in (wd / "results").rglob("*.parquet") if not p.name.startswith("."))
    assert len(made) >= 4, made  # data, train, attacks, minimal
    for rel in made:
        assert io.same_table(wd / "results" / rel, ci_run / "results" / rel), rel


def test_same_table_sees_a_changed_value_and_ignores_timing(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"epoch": [1, 2], "robust_acc": [0.5, 0.25], "seconds": [1.0, 2.0]})
    io.write_table(tmp_path / "a" / "t.parquet", frame, params={})
    io.write_table(tmp_path / "b" / "t.parquet", frame.assign(seconds=[9.0, 9.0]), params={"x": 1})
    assert io.differing_tables(tmp_path / "a", tmp_path / "b") == []
    io.write_table(tmp_path / "b" / "t.parquet", frame.assign(robust_acc=[0.5, 0.26]), params={})
    io.write_table(tmp_path / "b" / "u.parquet", frame, params={})
    assert io.differing_tables(tmp_path / "a", tmp_path / "b") == ["t.parquet", "u.parquet"]
