"""Attack stage through the Snakemake CLI on config/ci.yaml."""

import os
import signal
import subprocess
import time

import pandas as pd
import pytest
import yaml
from conftest import ROOT, SNAKEMAKE, copy_workflow, dry_run_changed, snakemake

COLUMNS = {"epoch", "attack", "eps", "eps_index", "bound", "alpha", "steps", "n", "clean_acc", "robust_acc",
           "mean_linf", "mean_l0", "seconds", "dataset", "model", "seed", "level",
           "clean_correct", "robust_correct", "image_index", "worst_correct", "robust_acc_worst",
           "in_papers"}


def test_attack_tables(ci_run):
    cfg = yaml.safe_load((ci_run / "config" / "ci.yaml").read_text())
    a = cfg["attacks"]
    for dataset, models_ in cfg["experiments"].items():
        for model in models_:
            levels = ["pixel"] + (["feature"] if model in a["feature_models"] else [])
            for level in levels:
                df = pd.read_parquet(ci_run / f"results/attacks/{dataset}/{model}/seed0/{level}.parquet")
                assert set(df.columns) == COLUMNS
                eps = a["eps"][dataset] if isinstance(a["eps"][dataset], list) else [a["eps"][dataset]]
                # autoattack: pixel level, last epoch only, on the nets its ci.yaml setting names
                every = [n for n in a["names"] if n != "autoattack"]
                last = int(level == "pixel" and model in a["settings"]["autoattack"]["models"])
                assert len(df) == (cfg["train"]["epochs"] * len(every) + last) * len(eps)
                assert sorted(df["attack"].unique()) == sorted(every + ["autoattack"] * last)
                n = df[df["eps_index"] == 0].set_index(["epoch", "attack"])["n"]
                assert (n.xs("pgd", level="attack") == a["n_test"]).all()
                assert (n.xs("sparsefool", level="attack") == a["settings"]["sparsefool"]["n"]).all()
                got = df.groupby("eps_index")["eps"].unique()
                assert [list(v) for v in got] == [[e] for e in eps]  # feature_eps null: the same
                # SparseFool in its bound too; NaN where no image of the row was classified
                # correctly clean, so none was attacked
                none = df["clean_acc"] == 0
                assert (df["mean_linf"].isna() == none).all()
                assert (df.loc[~none, "mean_linf"] <= df.loc[~none, "eps"] + 1e-6).all()
                assert (df["bound"] == "eps").all()
                for r in df.itertuples():  # per-image outcomes: one entry per attacked image
                    assert len(r.image_index) == len(r.robust_correct) == r.n
                    assert r.robust_correct.mean() == pytest.approx(r.robust_acc)
                    assert len(set(r.image_index)) == r.n
    summary = pd.read_csv(ci_run / "results/summary.csv")
    assert {"ta", "ta_low", "ta_high", "ra", "ra_low", "ra_high", "best_ta_epoch"} <= set(summary)
    assert (summary["interval"] == "images").all()  # one seed: bootstrap over test images
    assert ((summary["ra_low"] <= summary["ra"]) & (summary["ra"] <= summary["ra_high"])).all()
    for name in ("fig1", "fig2", "fig5", "robustness_eps"):
        assert (ci_run / f"results/figures/{name}.pdf").stat().st_size > 1000
        assert (ci_run / f"results/figures/{name}.png").stat().st_size > 1000
    assert not list((ci_run / "results/attacks").rglob("*partial.parquet"))


def test_worst_case_and_autoattack_on_the_ci_nets(ci_run):
    """robust_acc_worst is at most every papers' attack's RA at every epoch; AutoAttack, the
    stronger evaluation, is at most the papers' PGD RA on the same images."""
    for path in sorted((ci_run / "results/attacks").rglob("pixel.parquet")):
        df = pd.read_parquet(path)
        papers = df[df["attack"] != "autoattack"]
        assert (papers["robust_acc_worst"] <= papers["robust_acc"] + 1e-6).all()
        assert (df["robust_acc_worst"] <= df["clean_acc"] + 1e-6).all()
        aa = df[df["attack"] == "autoattack"]
        if df["model"].iloc[0] != "cnn4":  # config/ci.yaml: autoattack's models: [cnn4]
            assert aa.empty, path
            continue
        assert len(aa) == df["eps_index"].nunique() and (aa["epoch"] == df["epoch"].max()).all()
        for r in aa.itertuples():
            pgd = df[(df["attack"] == "pgd") & (df["epoch"] == r.epoch)
                     & (df["eps_index"] == r.eps_index)].iloc[0]
            assert r.robust_correct.mean() <= pgd["robust_correct"][: r.n].mean(), path


def test_changing_an_attack_setting_reruns_attacks_and_figures_only(ci_run, tmp_path):
    jobs, cfg = dry_run_changed(ci_run, tmp_path,
                                lambda c: c["attacks"]["settings"]["pgd"].update(steps=5))
    n_attack = sum(1 + (m in cfg["attacks"]["feature_models"])
                   for ms in cfg["experiments"].values() for m in ms)
    assert jobs["attack"] == n_attack
    assert "figure_fig2" in jobs
    assert not {"train", "prepare_dataset", "attack_examples", "figure_fig1"} & set(jobs)


def test_minimal_amplitude_tables(ci_run):
    cfg = yaml.safe_load((ci_run / "config" / "ci.yaml").read_text())
    m = cfg["minimal"]
    for dataset, models_ in cfg["experiments"].items():
        for model in set(models_) & set(m["models"]):
            df = pd.read_parquet(ci_run / f"results/minimal/{dataset}/{model}/seed0.parquet")
            assert len(df) == cfg["train"]["epochs"] * cfg["attacks"]["n_test"]
            assert {"epoch", "image_index", "clean_correct", "eps_min", "deepfool_l2",
                    "attack", "steps", "max_eps", "resolution"} <= set(df.columns)
            assert (df.loc[~df["clean_correct"], "eps_min"] == 0).all()
            ok = df.loc[df["clean_correct"], "eps_min"]
            assert ((ok > 0) & (ok <= m["max_eps"][dataset]) | (ok == float("inf"))).all()
            pixel = pd.read_parquet(ci_run / f"results/attacks/{dataset}/{model}/seed0/pixel.parquet")
            assert set(df["image_index"]) == set(pixel["image_index"].iloc[0])  # same images
    claims = pd.read_parquet(ci_run / "results/claims.parquet")
    assert (claims.loc[claims["claim"] == "minimal_eps_falls", "verdict"] != "not run").all()


def test_a_killed_attack_job_leaves_only_finished_tables_for_pandas(tmp_path):
    """Issue 27: while an attack job runs and after it is killed mid-way, ``pd.read_parquet`` of
    results/attacks reads the finished tables only, each with its key columns; the resume cache
    (hidden by its leading dot) is there, and the rerun finishes the job from it."""
    cfg = yaml.safe_load((ROOT / "config" / "ci.yaml").read_text())
    cfg["experiments"] = {"digits": ["cnn3"]}
    cfg["seeds"] = [0, 1]
    cfg["train"]["epochs"] = 4  # the kill lands after the first of them
    cfg["attacks"]["levels"] = ["pixel"]
    cfg["attacks"]["names"] = ["bim", "pgd"]  # the cheap ones: the kill is what is tested
    wd = copy_workflow(tmp_path / "wf")
    (wd / "c.yaml").write_text(yaml.safe_dump(cfg))
    done = "results/attacks/digits/cnn3/seed0/pixel.parquet"
    target = "results/attacks/digits/cnn3/seed1/pixel.parquet"
    snakemake(wd, done, "results/train/digits/cnn3/seed1.parquet", "--cores", "2",
              "--configfile", "c.yaml")
    finished = pd.read_parquet(wd / done)
    keys = ["dataset", "model", "seed", "level", "epoch", "attack"]

    def read_folder() -> pd.DataFrame:
        frame = pd.read_parquet(wd / "results/attacks")
        assert frame[keys].notna().all().all() and len(frame) == len(finished)
        assert set(frame["seed"].astype(int)) == {0}
        return frame

    cache = wd / "results/attacks/digits/cnn3/seed1/.pixel.parquet.partial.parquet"
    proc = subprocess.Popen([SNAKEMAKE, target, "--cores", "2", "--configfile", "c.yaml"],
                            cwd=wd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 300
    while not cache.exists():
        assert proc.poll() is None, "the attack job finished before it could be killed"
        assert time.time() < deadline
        time.sleep(0.05)
    read_folder()  # during the running job
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert cache.exists() and not (wd / target).exists()
    read_folder()  # after the kill

    snakemake(wd, "--unlock", "--configfile", "c.yaml")
    snakemake(wd, target, "--cores", "2", "--rerun-incomplete", "--configfile", "c.yaml")
    assert not cache.exists()
    both = pd.read_parquet(wd / "results/attacks")
    assert set(both["seed"].astype(int)) == {0, 1} and both[keys].notna().all().all()
