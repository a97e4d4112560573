"""The shipped real-MNIST subset through the workflow's CLI: prepare → train → attack table,
offline, and nothing left to do afterwards."""

from __future__ import annotations

import numpy as np
import pandas as pd
from conftest import copy_workflow, one_dataset_config, planned_jobs, snakemake

from upnn import data


def test_prepare_train_attack_chain_on_the_shipped_mnist_subset(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    path, cfg = one_dataset_config(
        wd, "mnist", {"source": "mnist_subset", "limit_train": 1000, "limit_test": 200},
        eps=0.1, max_eps=0.3)
    a = cfg["attacks"]
    target = "results/attacks/mnist/cnn3/seed0/pixel.parquet"
    # the convolutions in channels_last (issue 26 item 4): the train and attack rules take it
    snakemake(wd, "--cores", "2", target, "--configfile", path, "--config",
              "memory_format=channels_last")
    for log in ("train/mnist/cnn3/seed0.log", "attack/mnist/cnn3/seed0/pixel.log"):
        assert "channels_last" in (wd / "logs" / log).read_text(), log
    x, y = data.read_split(wd / "results/data/mnist/train.parquet")
    assert x.shape == (1000, 1, 28, 28) and 0.11 < float(x.mean()) < 0.15  # MNIST's 0.131
    assert len(np.unique(y.numpy())) == 10
    table = pd.read_parquet(wd / target)
    assert sorted(table["attack"]) == sorted(a["names"]) and (table["epoch"] == 1).all()
    assert (table["clean_acc"] > 0.3).all()  # one epoch of the CI-width cnn3 learns something
    assert (table["robust_acc"] <= table["clean_acc"]).all()
    again = snakemake(wd, "-n", target, "--configfile", path, "--config",
                      "memory_format=channels_last")
    assert planned_jobs(again) == {}
