"""Real Fashion-MNIST files (Debian's dataset-fashion-mnist, which .ci/run installs as root):
torchvision's loader on them, and a short chain prepare → train → attack table through the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import copy_workflow, one_dataset_config, snakemake

from upnn import data

pytestmark = pytest.mark.skipif(
    not all((data.DEBIAN_DIR / f"{n}.gz").exists() for p in data.IDX_FILES.values() for n in p),
    reason=f"needs Debian's {data.DEBIAN_PACKAGE} in {data.DEBIAN_DIR} (.ci/run installs it when "
           "it runs as root with apt-get)")


def test_torchvision_loads_the_staged_real_files(tmp_path):
    assert len(data.stage_debian(tmp_path)) == 4
    for split, n in (("train", 60000), ("test", 10000)):
        x, y = data.load_split("fashion_mnist", split, root=tmp_path)
        assert x.shape == (n, 1, 28, 28) and x.dtype == np.uint8
        assert np.bincount(y).tolist() == [n // 10] * 10
        assert x.min() == 0 and x.max() == 255
    assert data.stage_debian(tmp_path) == []


def test_prepare_train_attack_chain_on_the_full_set(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    path, cfg = one_dataset_config(
        wd, "fmnist", {"source": "fashion_mnist", "limit_train": 1000, "limit_test": 200},
        eps=0.1, max_eps=0.3, data_root=str(tmp_path / "raw"))
    a = cfg["attacks"]
    snakemake(wd, "--cores", "2", "results/attacks/fmnist/cnn3/seed0/pixel.parquet",
              "--configfile", path)
    raw = tmp_path / "raw/FashionMNIST/raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(n for p in data.IDX_FILES.values()
                                                            for n in p)
    x, y = data.read_split(wd / "results/data/fmnist/train.parquet")
    assert x.shape == (1000, 1, 28, 28) and 0.25 < float(x.mean()) < 0.32
    table = pd.read_parquet(wd / "results/attacks/fmnist/cnn3/seed0/pixel.parquet")
    assert sorted(table["attack"]) == sorted(a["names"]) and (table["epoch"] == 1).all()
    assert (table["clean_acc"] > 0.3).all()  # one epoch on 1,000 real images learns something
