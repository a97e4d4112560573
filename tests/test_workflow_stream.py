"""Issue 29: splits streamed from disk (config ``stream_above_mb``) through the workflow. The
CI config's digits panel rebuilt with every split streamed gives the tables of conftest's
``ci_run`` (every split held whole): the data, training, attack and minimal-amplitude tables
bit for bit, the uncertainty stage's feature level too, its pixel level (whose mean image is
summed chunk by chunk) to float rounding."""

from __future__ import annotations

import pandas as pd
from conftest import copy_workflow, snakemake

from upnn import io

RUN = "digits/cnn3/seed0"
SAME = ["results/data/digits/train.parquet", "results/data/digits/test.parquet",
        f"results/train/{RUN}.parquet", f"results/attacks/{RUN}/pixel.parquet",
        f"results/minimal/{RUN}.parquet", f"results/uncertainty/{RUN}/feature.parquet",
        f"results/uncertainty_summary/{RUN}/feature.parquet"]
CLOSE = [f"results/uncertainty/{RUN}/pixel.parquet",
         f"results/uncertainty_summary/{RUN}/pixel.parquet"]


def test_streamed_splits_give_the_tables_of_splits_held_whole(ci_run, tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    run = snakemake(wd, *SAME[2:], *CLOSE, "--cores", "2", "--configfile", "config/ci.yaml",
                    "--config", "stream_above_mb=0")
    assert "Finished jobid" in run.stdout + run.stderr
    for rel in SAME:
        assert io.same_table(wd / rel, ci_run / rel), rel
    for rel in CLOSE:
        a, b = pd.read_parquet(wd / rel), pd.read_parquet(ci_run / rel)
        timing = [c for c in a if io.TIMING.search(c)]
        pd.testing.assert_frame_equal(a.drop(columns=timing), b.drop(columns=timing),
                                      check_exact=False, rtol=1e-4)
