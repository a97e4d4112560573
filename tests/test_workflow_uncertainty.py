"""Workflow tests of the uncertainty stage (companion Figs. 1-2) on config/ci.yaml."""

from __future__ import annotations

import pandas as pd
import yaml
from conftest import copy_workflow, dry_run_changed, snakemake

PACKET_COLUMNS = {"dataset", "model", "seed", "level", "epoch", "class", "dim", "lo", "hi", "beta",
                  "x_mean", "sigma_x", "p_mean", "sigma_p", "product", "satisfies_bound",
                  "beta_se", "x_mean_se", "sigma_x_se", "p_mean_se", "sigma_p_se", "product_se",
                  "method", "n_points"}
SUMMARY_COLUMNS = {"dataset", "model", "seed", "level", "epoch", "class", "delta_x", "delta_p",
                   "delta_x_se", "delta_p_se", "delta_product", "n_dims", "share_bound",
                   "median_product", "test_acc", "robust_acc", "attack", "eps", "alpha", "steps"}


def ci_config(ci_run):
    return yaml.safe_load((ci_run / "config" / "ci.yaml").read_text())


def test_uncertainty_tables(ci_run):
    cfg = ci_config(ci_run)
    unc, epochs = cfg["uncertainty"], cfg["train"]["epochs"]
    runs = [(d, m) for d, ms in cfg["experiments"].items() for m in ms
            if m in unc["models"] and d in unc["datasets"]]
    assert len(runs) == 2
    for dataset, model in runs:
        classes = unc["datasets"][dataset]["classes"]
        n_classes = 10 if classes == "all" else len(classes)
        for level in ("pixel", "feature"):
            base = ci_run / f"results/uncertainty/{dataset}/{model}/seed0/{level}"
            packets = pd.read_parquet(f"{base}.parquet")
            assert PACKET_COLUMNS <= set(packets.columns)
            assert len(packets) == epochs * n_classes * unc["n_dims"]
            assert sorted(packets["epoch"].unique()) == list(range(1, epochs + 1))
            assert (packets["method"] == unc["method"]).all()
            assert (packets["n_points"] == unc["n_points"]).all()
            assert (packets["hi"] > packets["lo"]).all()
            assert packets[["sigma_x", "sigma_p", "beta"]].notna().all().all()
            summary = pd.read_parquet(
                ci_run / f"results/uncertainty_summary/{dataset}/{model}/seed0/{level}.parquet")
            assert SUMMARY_COLUMNS <= set(summary.columns)
            assert len(summary) == epochs * n_classes
            assert summary["test_acc"].between(0, 1).all()
            assert summary["robust_acc"].between(0, 1).all()
            assert (summary["delta_x"] > 0).all() and (summary["delta_p"] >= 0).all()
            assert (summary["n_dims"] == unc["n_dims"]).all()
            if level == "pixel":
                assert (packets["lo"] == 0).all() and (packets["hi"] == 1).all()


def test_tsne_tables(ci_run):
    cfg = ci_config(ci_run)
    t = cfg["uncertainty"]["tsne"]
    run = f"{t['dataset']}/{t['model']}/seed0.parquet"
    points = pd.read_parquet(ci_run / "results/tsne_points" / run)
    grid = pd.read_parquet(ci_run / "results/tsne_grid" / run)
    epochs = sorted({*t["epochs"], cfg["train"]["epochs"]})
    assert sorted(points["epoch"].unique()) == epochs
    assert len(points) == len(epochs) * 2 * t["n_images"]
    assert set(points["kind"]) == {"clean", "attacked"}
    assert points[["tx", "ty", "conf"]].notna().all().all()
    assert points.loc[points["final"], "epoch"].unique().tolist() == [cfg["train"]["epochs"]]
    assert len(grid) == len(epochs) * t["grid"] ** 2
    assert grid["conf"].between(0, 1).all() and grid["pred"].between(0, 9).all()


def test_conjugate_figures_built(ci_run):
    for name in ("conjugate_uncertainty", "conjugate_tsne"):
        assert (ci_run / f"results/figures/{name}.pdf").read_bytes()[:4] == b"%PDF"
        assert (ci_run / f"results/figures/{name}.png").stat().st_size > 10_000


def test_uncertainty_setting_reruns_only_this_stage(ci_run, tmp_path):
    def longer_head(c):
        c["uncertainty"]["head"]["epochs"] += 1

    jobs, _ = dry_run_changed(ci_run, tmp_path, longer_head)
    assert jobs.get("uncertainty") == 2  # one job per run covers both levels
    assert "train" not in jobs and "conjugate_tsne_maps" not in jobs
    assert jobs.get("figure_conjugate_uncertainty") == 1


def test_bad_tsne_epoch_fails_with_one_line(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    cfg = yaml.safe_load((wd / "config" / "ci.yaml").read_text())
    cfg["uncertainty"]["tsne"]["epochs"] = [1, 41]
    (wd / "bad.yaml").write_text(yaml.safe_dump(cfg))
    proc = snakemake(wd, "-n", "--configfile", "bad.yaml", check=False)
    assert proc.returncode != 0
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    assert lines == ["upnn: config: uncertainty.tsne.epochs = [41] exceed the 3 trained epochs "
                     "of cnn3; allowed: 1..3"]
