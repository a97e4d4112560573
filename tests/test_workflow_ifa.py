"""Workflow tests of the IFA stage (issue 4) on the CI run: tables, checkpoints and figures."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
import yaml
from conftest import dry_run_changed

from upnn import io


@pytest.fixture(scope="module")
def cfg(ci_run):
    return yaml.safe_load((ci_run / "config" / "ci.yaml").read_text())


def ifa_runs(cfg):
    """(dataset, model, N_epoch) the CI config asks IFA for (seed 0)."""
    trained = range(1, cfg["train"]["epochs"] + 1)
    return [(d, m, e) for d, ms in cfg["experiments"].items() for m in ms
            if m in cfg["ifa"]["models"] for e in cfg["ifa"]["epochs"] if e in trained]


def test_ci_config_exercises_the_stage(cfg):
    assert len(ifa_runs(cfg)) >= 2  # at least two N_epoch: the figure has lines
    channels = {cfg["datasets"][d]["channels"] for d, ms in cfg["experiments"].items()
                if set(ms) & set(cfg["frequency"]["models"])}
    assert channels == {1, 3}  # the ratio's channel choice is run on 1- and 3-channel data


def test_ifa_targets_and_trajectory(ci_run, cfg):
    ifa = cfg["ifa"]
    for dataset, model, epoch in ifa_runs(cfg):
        d = ci_run / f"results/ifa/{dataset}/{model}/seed0/epoch{epoch}"
        spec = cfg["datasets"][dataset]
        for split in ("train", "test"):
            table = io.read_table(d / f"{split}.parquet")
            n = min(ifa[f"limit_{split}"], spec[f"limit_{split}"])
            assert table.num_rows == n
            assert {"index", "label", "pred_clean", "pred_ifa", "delta"} <= set(table.column_names)
            assert isinstance(table.schema.field("delta").type, pa.FixedShapeTensorType)
            delta = io.column_tensor(table, "delta")
            size = spec["image_size"]
            assert tuple(delta.shape) == (n, spec["channels"], size, size)
            # Eq. 2 without clipping: Delta_N is a sum of N steps of +-eps
            steps = delta / ifa["eps"]
            assert (steps - steps.round()).abs().max() < 1e-3
            assert steps.abs().max() <= ifa["steps"] + 1e-3
            index = io.column_tensor(table, "index")
            assert index.unique().numel() == n and int(index.max()) < spec[f"limit_{split}"]
            assert io.read_metadata(d / f"{split}.parquet")["clip"] == "False"
        traj = pd.read_parquet(
            ci_run / f"results/ifa_trajectory/{dataset}/{model}/seed0/epoch{epoch}.parquet")
        assert list(traj["iteration"]) == [n for n in ifa["trajectory"] if n <= ifa["steps"]]
        assert {"dataset", "model", "seed", "n_epoch", "accuracy", "robust_accuracy",
                "n_images"} <= set(traj.columns)
        assert (traj["n_epoch"] == epoch).all()
        assert ((traj["robust_accuracy"] <= traj["accuracy"]) & (traj["accuracy"] <= 1)).all()
        # IFA walks down the loss: the last iterate is classified at least as well as X_0
        assert traj["accuracy"].iloc[-1] >= traj["accuracy"].iloc[0]


def test_pix2pix_checkpoints_and_losses(ci_run, cfg):
    p2p = cfg["ifa"]["pix2pix"]
    for dataset, model, epoch in ifa_runs(cfg):
        base = ci_run / f"results/pix2pix/{dataset}/{model}/seed0/epoch{epoch}"
        losses = pd.read_parquet(
            ci_run / f"results/pix2pix_losses/{dataset}/{model}/seed0/epoch{epoch}.parquet")
        assert list(losses["epoch"]) == list(range(1, p2p["epochs"] + 1))
        assert {"g_gan", "g_l1", "d_loss", "test_l1", "test_l1_zero", "scale", "n_epoch",
                "seconds"} <= set(losses.columns)
        assert losses[["g_gan", "g_l1", "d_loss", "test_l1"]].notna().all().all()
        names = sorted(p.name for p in base.glob("*.pt"))
        assert names == [f"epoch{e:03d}.pt" for e in range(1, p2p["epochs"] + 1)]
        assert not base.with_name(base.name + ".partial").exists()


def test_summary_table(ci_run, cfg):
    summary = pd.read_parquet(ci_run / "results/ifa_summary.parquet")
    runs = ifa_runs(cfg)
    assert len(summary) == 2 * len(runs)
    assert set(summary["net"]) == {"CL", "TCL"}
    assert {"dataset", "model", "seed", "n_epoch", "accuracy", "robust_accuracy", "attack",
            "attack_eps", "n_test", "generator_test_l1"} <= set(summary.columns)
    assert set(zip(summary["dataset"], summary["model"], summary["n_epoch"], strict=True)) == set(runs)
    assert summary[["accuracy", "robust_accuracy"]].stack().between(0, 1).all()


def test_frequency_tables(ci_run, cfg):
    freq = cfg["frequency"]
    for dataset, models in cfg["experiments"].items():
        wanted = [m for m in models if m in freq["models"]]
        if not wanted:
            continue
        table = pd.read_parquet(ci_run / f"results/frequency/{dataset}.parquet")
        epochs = [e for e in freq["epochs"] if e <= cfg["train"]["epochs"]]
        assert len(table) == len(wanted) * len(epochs)
        assert {"model", "epoch", "test_acc", "hf_ratio_mean", "hf_ratio_std"} <= set(table.columns)
        assert table["hf_ratio_mean"].between(0, 1).all()
        single = cfg["datasets"][dataset]["channels"] == 1
        assert set(table["channel"]) == {0 if single else freq["channel"]}


def test_figures_exist(ci_run):
    for name in ("ifa_pix2pix", "ifa_training", "ifa_frequency"):
        assert (ci_run / f"results/figures/{name}.pdf").stat().st_size > 1000
        assert (ci_run / f"results/figures/{name}.png").stat().st_size > 1000


def test_changing_a_pix2pix_setting_reruns_pix2pix_and_dependents_only(ci_run, cfg, tmp_path):
    def longer_pix2pix(c):
        c["ifa"]["pix2pix"]["epochs"] += 1

    jobs, _ = dry_run_changed(ci_run, tmp_path, longer_pix2pix)
    runs = len(ifa_runs(cfg))
    assert jobs.get("pix2pix") == runs and jobs.get("ifa_summary") == 1
    assert "ifa" not in jobs and "train" not in jobs and "frequency" not in jobs
