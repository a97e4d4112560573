"""Snakemake's own DAG (upnn.dag): the jobs of a forced dry run, their threads and needs."""

from __future__ import annotations

import pytest
from conftest import ROOT, planned_jobs

from upnn import dag

DRY_RUN = """\
Building DAG of jobs...
[Sun Dec  6 12:43:14 2026]
rule prepare_dataset:
    output: results/data/d/train.parquet, results/data/d/test.parquet
    log: logs/data/prepare_d.log
    jobid: 3
    wildcards: dataset=d
    resources: tmpdir=/tmp, runtime=6
[Sun Dec  6 12:43:14 2026]
rule train:
    input: results/data/d/train.parquet, results/data/d/test.parquet
    output: results/train/d/cnn3/seed0.parquet, results/checkpoints/d/cnn3/seed0
    jobid: 4
    wildcards: dataset=d, model=cnn3, seed=0
    threads: 2
[Sun Dec  6 12:43:14 2026]
localrule all:
    input: results/train/d/cnn3/seed0.parquet, data/words.csv
    jobid: 0
Job stats:
"""


def test_parse_reads_rules_wildcards_threads_and_needs():
    jobs = {j.key: j for j in dag.parse(DRY_RUN)}
    assert list(jobs) == ["prepare_dataset[dataset=d]", "train[dataset=d,model=cnn3,seed=0]", "all"]
    train = jobs["train[dataset=d,model=cnn3,seed=0]"]
    assert train.threads == 2 and jobs["prepare_dataset[dataset=d]"].threads == 1
    assert train.needs == ["prepare_dataset[dataset=d]"]
    assert jobs["all"].needs == ["train[dataset=d,model=cnn3,seed=0]"]  # a source file: no job


def test_the_ci_dag_is_snakemakes(ci_dry_run):
    """Every job block of a forced dry run of the CI config is read (the counts per rule are
    those of Snakemake's own job stats in the same output), every job is needed by rule all,
    and the rules' declared threads come through (every rule of the CI config declares 1)."""
    jobs = dag.parse(ci_dry_run)
    counts: dict[str, int] = {}
    for j in jobs:
        counts[j.rule] = counts.get(j.rule, 0) + 1
    assert counts == planned_jobs(ci_dry_run) and len(jobs) > 20
    by_key = {j.key: j for j in jobs}
    seen, todo = set(), ["all"]
    while todo:
        k = todo.pop()
        if k not in seen:
            seen.add(k)
            todo += by_key[k].needs
    assert seen == set(by_key)
    assert {j.threads for j in jobs} == {1}
    assert by_key["figure_fig2"].needs and all(n.startswith("attack[") for n in
                                               by_key["figure_fig2"].needs)


def test_a_config_snakemake_refuses_is_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("device: tpu\n")
    with pytest.raises(dag.DagError, match="device"):
        dag.jobs([bad], ROOT)


def test_without_snakemake_the_dag_is_one_line(tmp_path, monkeypatch):
    import shutil
    import sys

    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))  # no snakemake beside it
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(dag.DagError, match="snakemake is not installed here"):
        dag.dry_run([], ROOT)
