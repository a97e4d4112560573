"""The shipped real-MNIST subset through the workflow's CLI: prepare → train → attack table,
offline, and nothing left to do afterwards."""

from __future__ import annotations

import numpy as np
import pandas as pd
import yaml
from conftest import copy_workflow, planned_jobs, snakemake

from upnn import data


def test_prepare_train_attack_chain_on_the_shipped_mnist_subset(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    cfg = yaml.safe_load((wd / "config/ci.yaml").read_text())
    cfg["datasets"] = {"mnist": {"source": "mnist_subset", "limit_train": 1000, "limit_test": 200}}
    cfg["experiments"] = {"mnist": ["cnn3"]}
    cfg["train"]["epochs"] = 1
    for stage in ("ifa", "frequency"):  # epoch lists past the one trained epoch are a config error
        cfg[stage]["epochs"] = [1]
    a = cfg["attacks"]
    a.update(levels=["pixel"], feature_models=[], eps={"mnist": 0.1})
    cfg["figures"]["fig1"]["dataset"] = "mnist"
    cfg["minimal"]["max_eps"] = {"mnist": 0.3}
    cfg["uncertainty"]["datasets"] = {"mnist": cfg["uncertainty"]["datasets"]["digits"]}
    cfg["uncertainty"]["tsne"].update(dataset="mnist", epochs=[1])
    (wd / "config/mnist.yaml").write_text(yaml.safe_dump(cfg))
    target = "results/attacks/mnist/cnn3/seed0/pixel.parquet"
    snakemake(wd, "--cores", "2", target, "--configfile", "config/mnist.yaml")
    x, y = data.read_split(wd / "results/data/mnist/train.parquet")
    assert x.shape == (1000, 1, 28, 28) and 0.11 < float(x.mean()) < 0.15  # MNIST's 0.131
    assert len(np.unique(y.numpy())) == 10
    table = pd.read_parquet(wd / target)
    assert sorted(table["attack"]) == sorted(a["names"]) and (table["epoch"] == 1).all()
    assert (table["clean_acc"] > 0.3).all()  # one epoch of the CI-width cnn3 learns something
    assert (table["robust_acc"] <= table["clean_acc"]).all()
    again = snakemake(wd, "-n", target, "--configfile", "config/mnist.yaml")
    assert planned_jobs(again) == {}
