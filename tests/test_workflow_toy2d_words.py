"""The toy (Fig. 4) and words (Fig. 6) stages through the Snakemake CLI on config/ci.yaml."""

import pandas as pd
import yaml
from conftest import dry_run_changed


def test_toy2d_tables_and_figure(ci_run):
    cfg = yaml.safe_load((ci_run / "config" / "ci.yaml").read_text())["toy2d"]
    metrics = pd.read_parquet(ci_run / "results/toy2d/metrics.parquet")
    assert {"seed", "epoch", "test_acc", "robust_acc", "dx", "dp"} <= set(metrics.columns)
    assert len(metrics) == len(cfg["seeds"]) * cfg["epochs"]
    assert sorted(metrics["seed"].unique()) == cfg["seeds"]
    assert metrics.groupby("seed")["epoch"].apply(list).map(
        lambda e: e == list(range(1, cfg["epochs"] + 1))).all()
    assert metrics[["test_acc", "robust_acc", "dx", "dp"]].notna().all().all()
    lands = pd.read_parquet(ci_run / "results/toy2d_landscapes.parquet")
    assert list(lands.columns) == ["seed", "epoch", "label", "x1", "x2", "psi"]
    grid, epochs = cfg["landscape"]["grid"], cfg["landscape"]["epochs"]
    assert len(lands) == len(cfg["seeds"]) * len(epochs) * 2 * grid**2
    assert sorted(lands["epoch"].unique()) == epochs
    for ext in ("pdf", "png"):
        assert (ci_run / f"results/figures/fig4.{ext}").stat().st_size > 1000


def test_words_table_and_figure(ci_run):
    cfg = yaml.safe_load((ci_run / "config" / "ci.yaml").read_text())["words"]
    table = pd.read_parquet(ci_run / "results/words/similarity.parquet")
    assert list(table.columns[:8]) == ["embedding_size", "seed", "epoch", "accuracy",
                                       "cos_correct", "cos_incorrect", "n_correct", "n_incorrect"]
    assert len(table) == len(cfg["embedding_sizes"]) * len(cfg["seeds"]) * cfg["epochs"]
    assert sorted(table["embedding_size"].unique()) == cfg["embedding_sizes"]
    n_words = len(pd.read_csv(ci_run / "data/words.csv"))
    assert ((table["n_correct"] + table["n_incorrect"]) == n_words).all()
    assert table["cos_correct"].between(-1, 1).all()
    for ext in ("pdf", "png"):
        assert (ci_run / f"results/figures/fig6.{ext}").stat().st_size > 1000


def test_changing_a_words_setting_reruns_words_only(ci_run, tmp_path):
    jobs, _ = dry_run_changed(ci_run, tmp_path,
                              lambda c: c["words"].update(lr=c["words"]["lr"] / 2))
    assert jobs.get("words") == 1 and jobs.get("figure_fig6") == 1
    assert "toy2d" not in jobs and "figure_fig4" not in jobs
