"""Workflow tests: Snakemake through its CLI on config/ci.yaml, in a throw-away copy."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch
import yaml
from conftest import ROOT, SNAKEMAKE, copy_workflow, dry_run_changed, planned_jobs, snakemake

from upnn import checkpoint, plan
from upnn import schedule as upnn_schedule


def test_lint_is_clean():
    proc = subprocess.run([SNAKEMAKE, "--lint"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_parquet_output_opens_in_pandas(ci_run):
    tables = sorted((ci_run / "results").rglob("*.parquet"))
    assert tables
    for path in tables:
        assert len(pd.read_parquet(path)) > 0, path
    # each stage's folder read whole, as a user would: exactly the rows of its finished tables;
    # results/data per dataset (its image tensors have each dataset's own shape)
    def folder_of(p):
        parts = p.relative_to(ci_run / "results").parts
        return "/".join(parts[:2] if parts[0] == "data" else parts[:1])

    for folder in sorted({folder_of(p) for p in tables}):
        files = [p for p in tables if folder_of(p) == folder]
        if len(files) == 1 and files[0].parent == ci_run / "results":
            continue  # a table at the top (results/claims.parquet) is no folder
        whole = pd.read_parquet(ci_run / "results" / folder)
        assert len(whole) == sum(len(pd.read_parquet(p)) for p in files), folder


def test_train_outputs(ci_run):
    cfg = yaml.safe_load((ci_run / "config" / "ci.yaml").read_text())
    for dataset, models in cfg["experiments"].items():
        for model in models:
            df = pd.read_parquet(ci_run / f"results/train/{dataset}/{model}/seed0.parquet")
            assert list(df["epoch"]) == list(range(1, cfg["train"]["epochs"] + 1))
            assert {"train_loss", "train_acc", "test_acc", "seconds"} <= set(df.columns)
            ckpts = sorted((ci_run / f"results/checkpoints/{dataset}/{model}/seed0").glob("*.pt"))
            assert [p.name for p in ckpts] == [f"epoch{e:03d}.pt" for e in df["epoch"]]
            assert not (ci_run / f"results/checkpoints/{dataset}/{model}/seed0.partial").exists()
    train = pd.read_parquet(ci_run / "results/data/digits/train.parquet")
    assert len(train) == cfg["datasets"]["digits"]["limit_train"]


def test_nothing_to_do_after_a_full_run(ci_run):
    proc = snakemake(ci_run, "-n", "--configfile", "config/ci.yaml")
    assert planned_jobs(proc) == {}


def test_changing_a_training_setting_reruns_training_and_dependents_only(ci_run, tmp_path):
    jobs, cfg = dry_run_changed(ci_run, tmp_path,
                                lambda c: c["train"].update(lr=c["train"]["lr"] / 2))
    n_runs = sum(len(m) for m in cfg["experiments"].values())
    assert jobs.get("train") == n_runs
    assert "prepare_dataset" not in jobs and "download_dataset" not in jobs


def test_bad_config_fails_at_once_with_one_line(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    cfg = yaml.safe_load((wd / "config" / "ci.yaml").read_text())
    cfg["experiments"]["digits"] = ["cnn5"]
    (wd / "bad.yaml").write_text(yaml.safe_dump(cfg))
    proc = snakemake(wd, "-n", "--configfile", "bad.yaml", check=False)
    assert proc.returncode != 0
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    assert lines == ["upnn: config: experiments.digits.0 = 'cnn5' is not allowed; "
                     "allowed: cnn3, cnn4, resnet9, googlenet"]


def test_killed_training_job_resumes_to_the_same_final_checkpoint(request, tmp_path):
    """SIGKILL the whole Snakemake process group mid-training, rerun, compare with a clean run."""
    cfg = yaml.safe_load((ROOT / "config" / "ci.yaml").read_text())
    cfg["experiments"] = {"digits": ["cnn3"]}
    cfg["attacks"]["names"].remove("autoattack")  # kept to cnn4 (ci.yaml), which is not run here
    # long enough (≈ 0.3 s an epoch) that the kill after epoch 2 always lands mid-training, also
    # on an idle machine, where 6 epochs of the CI data finished between two polls
    epochs = 12
    cfg["train"]["epochs"] = epochs
    cfg["datasets"]["digits"]["limit_train"] = 1000
    target = "results/train/digits/cnn3/seed0.parquet"
    final = f"results/checkpoints/digits/cnn3/seed0/epoch{epochs:03d}.pt"
    runs = {}
    for name in ("clean", "killed"):
        wd = copy_workflow(tmp_path / name)
        (wd / "c.yaml").write_text(yaml.safe_dump(cfg))
        runs[name] = wd
    # the uninterrupted reference runs at the same time, on the other core
    with open(tmp_path / "clean.log", "w") as sink:
        clean = subprocess.Popen([SNAKEMAKE, target, "--cores", "1", "--configfile", "c.yaml"],
                                 cwd=runs["clean"], stdout=sink, stderr=subprocess.STDOUT)
    request.addfinalizer(clean.kill)  # a no-op once it has finished

    wd = runs["killed"]
    partial = wd / "results/checkpoints/digits/cnn3/seed0.partial"
    proc = subprocess.Popen([SNAKEMAKE, target, "--cores", "1", "--configfile", "c.yaml"],
                            cwd=wd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 300
    while not (partial / "epoch002.pt").exists():
        assert proc.poll() is None, "training finished before it could be killed"
        assert time.time() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = sorted(p.name for p in partial.glob("epoch*.pt"))
    assert "epoch002.pt" in done and f"epoch{epochs:03d}.pt" not in done
    assert not (wd / target).exists()

    # what the README tells a user after a hard kill: unlock, then run the same command again
    snakemake(wd, "--unlock", "--configfile", "c.yaml")
    snakemake(wd, target, "--cores", "1", "--rerun-incomplete", "--configfile", "c.yaml")
    log = (wd / "logs/train/digits/cnn3/seed0.log").read_text()
    assert f"{len(done)}/{epochs}" in log  # the progress bar started at the resumed epoch
    assert clean.wait(timeout=600) == 0, (tmp_path / "clean.log").read_text()
    a = checkpoint.load(runs["clean"] / final)["model"]
    b = checkpoint.load(wd / final)["model"]
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert pd.read_parquet(runs["clean"] / target)["train_loss"].tolist() == \
        pd.read_parquet(wd / target)["train_loss"].tolist()


@pytest.mark.parametrize("cfg", ["config.yaml", "fashion.yaml"])  # paper.yaml: the next test
def test_dry_run_of_shipped_configs(cfg, tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    proc = snakemake(wd, "-n", "--configfile", f"config/{cfg}")
    assert planned_jobs(proc).get("train", 0) >= 1


def test_paper_config_plans_the_papers_grid(tmp_path):
    """v4 §2.1: CNN, ResNet and GoogLeNet on MNIST and CIFAR-10 (six Fig. 2 panels); Fig. 5 the
    ResNet on both; Fig. 1 a CIFAR-10 ResNet under FGSM."""
    wd = copy_workflow(tmp_path / "wf")
    proc = snakemake(wd, "-n", "--configfile", "config/paper.yaml")
    assert planned_jobs(proc).get("train", 0) >= 1
    out = proc.stdout
    pixel = set(re.findall(r"results/attacks/(\w+)/(\w+)/seed0/pixel\.parquet", out))
    feature = set(re.findall(r"results/attacks/(\w+)/(\w+)/seed0/feature\.parquet", out))
    assert pixel == {(d, m) for d in ("mnist", "cifar10") for m in ("resnet9", "googlenet")} | {
        ("mnist", "cnn3"), ("cifar10", "cnn4")}
    assert feature == {("mnist", "resnet9"), ("cifar10", "resnet9")}
    assert set(re.findall(r"results/examples/(\w+)/(\w+)/seed0\.parquet", out)) == {
        ("cifar10", "resnet9")}
    cfg = yaml.safe_load((wd / "config" / "paper.yaml").read_text())
    assert cfg["figures"]["fig1"]["attack"] == "fgsm"
    assert {d["eps"] for d in cfg["uncertainty"]["datasets"].values()} == {8 / 255}
    assert {(d["alpha"], d["steps"]) for d in cfg["uncertainty"]["datasets"].values()} == {
        (2 / 255, 4)}


def test_the_installed_upnn_is_this_checkout():
    """Rule scripts and the Snakefile import the installed ``upnn`` (so the workflow runs as a
    module from any directory); the test environment's install is this checkout, editable, so
    the jobs run the code under test. tests/test_workflow_module.py runs a job from elsewhere."""
    out = subprocess.run([sys.executable, "-c", "import upnn; print(upnn.__file__)"],
                         capture_output=True, text=True, cwd="/", check=True)
    assert out.stdout.strip() == str(ROOT / "src" / "upnn" / "__init__.py")


def test_seeds_from_the_command_line(tmp_path):
    """Issue 17: ``--config 'seeds=[0,1,2]'`` (strings from the CLI) plans three trainings per
    (dataset, model); duplicate or non-integer seeds fail with one line."""
    wd = copy_workflow(tmp_path / "wf")
    proc = snakemake(wd, "-n", "--configfile", "config/ci.yaml", "--config", "seeds=[0,1,2]")
    runs = sum(len(m) for m in yaml.safe_load((wd / "config/ci.yaml").read_text())
               ["experiments"].values())
    assert planned_jobs(proc)["train"] == 3 * runs
    # one refused value through the CLI (tests/test_config.py checks the others in-process)
    proc = snakemake(wd, "-n", "--configfile", "config/ci.yaml", "--config", "seeds=[0,0]",
                     check=False)
    assert proc.returncode != 0
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if "upnn:" in line]
    assert lines == ["upnn: config: seeds: [0, 0] has non-unique elements"], \
        proc.stdout + proc.stderr


def test_one_gpu_job_at_a_time_on_a_machine_with_a_gpu(tmp_path):
    """Issue 27 item 5: where the driver lists a GPU (faked here through upnn.schedule.local_gpus)
    the run's scheduler limits ``gpu`` to 1; a given ``--resources gpu=N`` or no GPU: no limit."""
    wd = copy_workflow(tmp_path / "wf")
    fake = tmp_path / "gpus"
    for bus in ("0000:01:00.0", "0000:02:00.0"):
        (fake / bus).mkdir(parents=True)
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import upnn.schedule as p\n_real = p.local_gpus\n"
        f"p.local_gpus = lambda proc={str(fake)!r}: _real(proc)\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("CUDA_VISIBLE_DEVICES", None)

    def dry(*args: str) -> str:
        proc = subprocess.run([SNAKEMAKE, "-n", "--configfile", "config/ci.yaml", *args],
                              cwd=wd, capture_output=True, text=True, env=env, timeout=600)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout + proc.stderr

    assert "upnn: gpu=1: one GPU job at a time" in dry()
    assert "upnn: gpu=" not in dry("--resources", "gpu=2")
    assert "upnn: gpu=" not in dry("--profile", str(wd / "profiles" / "slurm"))
    env["PYTHONPATH"] = ""  # this machine's own driver listing: none here (CI has no GPU)
    if upnn_schedule.local_gpus() == 0:
        assert "upnn: gpu=" not in dry()


def test_a_torchvision_source_is_prepared_from_its_root_and_planned_from_its_data(tmp_path):
    """Issue 29: a data set by torchvision class name (KMNIST's real class on 12-class idx
    files under a root of the user's) needs no download job; its prepare job writes the splits,
    and the planner counts the work from the data set itself."""
    from conftest import one_dataset_config
    from test_data import fake_kmnist

    wd = copy_workflow(tmp_path / "wf")
    fake_kmnist(wd / "kmnist_root")
    path, cfg = one_dataset_config(wd, "kmnist", {"source": "torchvision", "name": "KMNIST",
                                                  "root": "kmnist_root"}, eps=0.1, max_eps=0.3)
    snakemake(wd, "results/data/kmnist/train.parquet", "--cores", "1", "--configfile", path)
    x = pd.read_parquet(wd / "results/data/kmnist/train.parquet")
    assert len(x) == 36 and sorted(set(x["label"])) == list(range(12))
    cli = subprocess.run([sys.executable, "-m", "upnn.plan", "--configfile", str(wd / path),
                          "--directory", str(wd)], capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr
    assert "| train[dataset=kmnist,model=cnn3,seed=0] | train | 1 |" in cli.stdout
    assert "| prepare_dataset[dataset=kmnist] |" in cli.stdout and "download_dataset" not in cli.stdout
    with contextlib.chdir(wd):
        assert plan.dataset_shape(cfg, "kmnist") == (36, 24, 1, 28)
