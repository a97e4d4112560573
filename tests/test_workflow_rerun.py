"""Bit-identical reruns: the CI config's train → attack → minimal → uncertainty chain, run again
in another folder while another CPU-heavy process runs beside it, gives the same tables as the
session's CI run (timing columns aside). Every rule pins torch's threads to its own
(upnn.log.job), so the load and the machine's core count do not enter the numbers.

The rerun also streams every split from disk (``stream_above_mb=0``, issue 29), where the CI
run holds them whole: data.StreamedImages must give the same tables bit for bit, so one run
checks both (a failure names the table; rerun without the option to tell the two apart)."""

from __future__ import annotations

import subprocess
import sys

from conftest import copy_workflow, snakemake

from upnn import io

TARGETS = ["results/attacks/digits/cnn3/seed0/pixel.parquet",
           "results/minimal/digits/cnn3/seed0.parquet",
           "results/uncertainty_summary/digits/cnn3/seed0/pixel.parquet"]


def test_a_rerun_beside_a_busy_process_gives_identical_tables(ci_run, tmp_path):
    wd = copy_workflow(tmp_path / "again")
    busy = subprocess.Popen([sys.executable, "-c", "while True: sum(i * i for i in range(10**6))"])
    try:
        snakemake(wd, "--cores", "2", *TARGETS, "--configfile", "config/ci.yaml",
                  "--config", "stream_above_mb=0")
    finally:
        busy.kill()
    made = sorted(p.relative_to(wd / "results").as_posix()
                  for p in (wd / "results").rglob("*.parquet") if not p.name.startswith("."))
    assert len(made) >= 8, made  # data (2), train, attacks, minimal, uncertainty (4)
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
