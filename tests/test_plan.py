"""The work planner (upnn.plan, issue 19): work counted from the config, the DAG's jobs, rates."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT, copy_workflow, snakemake

from upnn import config as upnn_config
from upnn import plan

CI = upnn_config.load_yaml(ROOT / "config/ci.yaml")
PAPER = upnn_config.load_yaml(ROOT / "config/paper.yaml")
CPU = plan.load_rates(plan.CPU_RATES)
GPU = plan.load_rates(plan.GPU_RATES)


def _job(jobs: list[plan.Job], rule: str, **wild: str) -> plan.Job:
    found = [j for j in jobs if j.rule == rule and all(j.wildcards.get(k) == v
                                                       for k, v in wild.items())]
    assert found, (rule, wild)
    return found[0]


def test_flops_are_counted_from_the_model():
    f, h = plan.model_flops("cnn3", 1, 28, 1.0)
    # conv 1->16 k5 s3 p1 on 28x28 -> 9x9, 16->64 k3 s2 -> 5x5, 64->256 k3 s2 -> 3x3; linear 2304->10
    assert f == 2 * (9 * 9 * 16 * 25 + 5 * 5 * 64 * 16 * 9 + 3 * 3 * 256 * 64 * 9)
    assert h == 2 * 2304 * 10
    full, half = (sum(plan.model_flops("resnet9", 3, 32, w)) for w in (1.0, 0.5))
    assert full / half == pytest.approx(4, rel=0.05)  # channels² scaling


@pytest.mark.parametrize("name", ["cnn3", "cnn4", "resnet9", "googlenet"])
def test_layer_hooks_count_what_flop_counter_mode_counts(name):
    """The built-in nets and the Pix2Pix pair are counted from their Conv2d, ConvTranspose2d and
    Linear layers (FlopCounterMode costs every Snakemake start 1 s of imports): the same totals."""
    from upnn import models, pix2pix

    for channels, size in ((1, 28), (3, 32)):
        net = models.build(name, in_channels=channels, image_size=size, num_classes=10,
                           width=0.5).eval()
        x = torch.zeros(1, channels, size, size)
        with torch.no_grad():
            f, feats = plan.counted_flops(net.features, x)
            h, _ = plan.counted_flops(net.head, feats)
        assert plan.model_flops(name, channels, size, 0.5) == (f, h) and f > 0
    g, d = pix2pix.UNetGenerator(3, 3, 32, 16).eval(), pix2pix.PatchDiscriminator(6, 32, 16).eval()
    with torch.no_grad():
        want = (plan.counted_flops(g, torch.zeros(1, 3, 32, 32))[0],
                plan.counted_flops(d, torch.zeros(1, 6, 32, 32))[0])
    assert plan.pix2pix_flops(3, 32, 16) == want


def test_work_scales_with_epochs_images_and_steps():
    base = plan.jobs(CI)
    train = _job(base, "train", model="cnn3")
    more = copy.deepcopy(CI)
    more["train"]["epochs"] *= 2
    assert _job(plan.jobs(more), "train", model="cnn3").work["train"] == \
        pytest.approx(2 * train.work["train"])
    fewer = copy.deepcopy(CI)
    fewer["attacks"]["n_test"] = CI["attacks"]["n_test"] // 2
    fewer["attacks"]["names"] = ["bim", "pgd"]  # no per-attack image caps (n) in the way
    fewer_full = copy.deepcopy(fewer)
    fewer_full["attacks"]["n_test"] = CI["attacks"]["n_test"]
    a_half = _job(plan.jobs(fewer), "attack", model="cnn3", level="pixel").work["attack"]
    a_full = _job(plan.jobs(fewer_full), "attack", model="cnn3", level="pixel").work["attack"]
    assert a_full == pytest.approx(2 * a_half)
    steps = copy.deepcopy(fewer_full)
    steps["attacks"]["names"] = ["pgd"]
    steps["attacks"].setdefault("settings", {})["pgd"] = {"steps": 4}
    four = _job(plan.jobs(steps), "attack", model="cnn3", level="pixel").work["attack"]
    steps["attacks"]["settings"]["pgd"] = {"steps": 8}
    eight = _job(plan.jobs(steps), "attack", model="cnn3", level="pixel").work["attack"]
    assert eight == pytest.approx(2 * four)


def test_sparsefool_counts_its_typical_iterations_within_its_cap():
    spec = {"name": "sparsefool", "max_iter": 20}
    typical, _ = plan.attack_passes("sparsefool", spec, 0.1)
    assert plan.attack_passes("sparsefool", {**spec, "max_iter": 40}, 0.1)[0] == typical
    capped, _ = plan.attack_passes("sparsefool", {**spec, "max_iter": 4}, 0.1)
    assert capped == pytest.approx(typical * 4 / plan.SPARSEFOOL_OUTER)
    assert typical > plan.attack_passes("pgd", {"steps": 4}, 0.1)[0] * 10


def test_planned_runtimes_differ_per_job_and_grow_with_retries():
    jobs = plan.estimate(PAPER, GPU)
    attack = [plan.runtime_minutes(j) for j in jobs if j.rule == "attack"]
    assert len(set(attack)) > 3, attack
    train = {j.model: plan.runtime_minutes(j) for j in jobs if j.rule == "train"}
    assert train["googlenet"] > train["resnet9"] > train["cnn3"]
    j = max(jobs, key=lambda j: j.seconds)
    assert plan.runtime_minutes(j, 2) >= 2 * plan.runtime_minutes(j, 1) - 1
    assert plan.runtime_minutes(j) >= plan.SAFETY_FACTOR * j.seconds / 60
    big, small = (plan.mem_mb(_job(jobs, "train", dataset=d, model="cnn3" if d == "mnist"
                                   else "cnn4")) for d in ("cifar10", "mnist"))
    assert big > small >= 4000


def test_rules_get_the_planned_resources_and_unknown_jobs_the_fallback():
    rates = plan.CPU_RATES
    job = plan.planned_job(CI, rates, "train", {"dataset": "digits", "model": "cnn3", "seed": 0})
    assert job is not None and job.seconds > 0
    assert plan.planned_resource(CI, rates, "train", {"dataset": "digits", "model": "cnn3",
                                                      "seed": 0}, "runtime", 1, 999) == \
        plan.runtime_minutes(job)
    assert plan.planned_resource(CI, rates, "no_such_rule", {}, "runtime", 1, 999) == 999
    broken = {k: v for k, v in CI.items() if k != "uncertainty"}
    assert plan.planned_resource(broken, rates, "train", {}, "runtime", 1, 999) == 999


def test_rates_files_say_what_was_measured():
    assert CPU["status"] == "measured" and GPU["status"] == "assumed"
    for rates in (CPU, GPU):
        for kind in plan.KINDS:
            assert plan.rate(rates, kind, "resnet9") > 0
            assert plan.rate(rates, kind, "no_such_model") > 0  # the default


def test_schedule_runs_independent_jobs_side_by_side():
    rates = {"cores": 2, "gpus": 0}
    a, b = (plan.Job(r, threads=1, seconds=10.0) for r in ("a", "b"))
    c = plan.Job("c", threads=2, seconds=5.0, needs=["a", "b"])
    makespan, critical = plan.schedule([a, b, c], rates)
    assert makespan == pytest.approx(15.0) and critical == pytest.approx(15.0)
    a2 = plan.Job("a", threads=2, seconds=10.0)
    assert plan.schedule([a2, b, c], rates)[0] == pytest.approx(25.0)


def _dry_run_keys(out: str) -> set[str]:
    """rule[wildcards] of every job block a dry run prints."""
    keys = set()
    for block in re.split(r"\n(?=\[[^\]]+\]\n(?:local)?rule )", out)[1:]:
        rule = re.search(r"^(?:local)?rule (\w+):", block, re.M)[1]
        wild = re.search(r"^\s+wildcards: (.*)$", block, re.M)
        pairs = dict(p.split("=", 1) for p in wild[1].split(", ")) if wild else {}
        keys.add(plan.Job(rule, pairs).key)
    return keys


def test_cli_prints_every_job_of_the_dry_run(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    proc = snakemake(wd, "-n", "--configfile", "config/ci.yaml")
    dag = _dry_run_keys(proc.stdout + proc.stderr)
    assert len(dag) > 20
    cli = subprocess.run([sys.executable, "-m", "upnn.plan", "--configfile",
                          str(ROOT / "config/ci.yaml"), "--rates", str(plan.CPU_RATES)],
                         capture_output=True, text=True, check=True, timeout=300).stdout
    job_table = cli.split("\n| stage |")[0]
    printed = set(re.findall(r"^\| (\w+(?:\[[^\]]*\])?) \|", job_table, re.M)) - {"job"}
    assert printed == dag, (sorted(dag - printed), sorted(printed - dag))
    assert "sum of job times" in cli and "critical path" in cli
    for stage in ("train", "attack", "uncertainty", "ifa", "figures/claims"):
        assert f"| {stage} |" in cli


def test_default_rates_follow_the_device(monkeypatch):
    monkeypatch.delenv("UPNN_RATES", raising=False)
    for device, rules in (("cpu", plan.CPU_RATES), ("cuda", plan.GPU_RATES),
                          ("auto", plan.GPU_RATES)):
        assert plan.default_rates({"device": device}).name == rules.name
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert plan.default_rates({"device": "auto"}, here=True).name == plan.CPU_RATES.name
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert plan.default_rates({"device": "auto"}, here=True).name == plan.GPU_RATES.name
    assert plan.default_rates({"device": "cpu"}, here=True).name == plan.CPU_RATES.name
    monkeypatch.setenv("UPNN_RATES", "/x/mine.yaml")
    assert plan.default_rates({"device": "cpu"}) == Path("/x/mine.yaml")


def test_local_gpus_reads_the_driver_listing_and_cuda_visible_devices(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert plan.local_gpus(tmp_path / "absent") == 0
    for bus in ("0000:01:00.0", "0000:02:00.0", "0000:03:00.0"):
        (tmp_path / bus).mkdir()
    assert plan.local_gpus(tmp_path) == 3
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert plan.local_gpus(tmp_path) == 1
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert plan.local_gpus(tmp_path) == 0


def test_gpu_limit_is_one_on_a_gpu_machine_unless_the_command_gives_one():
    assert plan.gpu_limit({}, 2) == 1
    assert plan.gpu_limit({}, 0) is None
    assert plan.gpu_limit({"gpu": 4}, 2) is None


def test_the_report_prices_the_papers_grid_and_each_extra_apart():
    cfg = upnn_config.normalize(upnn_config.load_yaml(ROOT / "config" / "paper.yaml"))
    rates = plan.load_rates(ROOT / "config" / "rates" / "gpu-h100.yaml")

    def extras(c):
        jobs = plan.estimate(c, rates)
        names = {e for j in jobs for e in j.extras}
        return {e: sum(plan.extra_seconds(j, rates, e) for j in jobs) for e in names}

    now = extras(cfg)
    assert {"autoattack", "extra amplitudes"} <= set(now)
    every = copy.deepcopy(cfg)
    every["attacks"]["settings"]["autoattack"]["epochs"] = "all"
    every["attacks"].pop("extra_eps_epochs")
    before = extras(every)
    # 6 of 50 epochs: the extras cost 6/50 of their every-epoch work (overheads aside)
    assert now["autoattack"] == pytest.approx(before["autoattack"] * 6 / 50, rel=1e-6)
    assert now["extra amplitudes"] == pytest.approx(before["extra amplitudes"] * 6 / 50, rel=1e-6)
    text = plan.report(plan.estimate(cfg, rates), rates)
    assert "| the papers' grid (all but the extras below) |" in text
    assert "| extra: autoattack |" in text


def test_the_planner_counts_a_referenced_net_from_the_net_itself(tmp_path):
    import json

    ref = {"ref": "torchvision:resnet18", "kwargs": {"num_classes": 3}, "head": "fc"}
    feats, head = plan.model_flops("mine", 3, 32, 1.0, json.dumps(ref, sort_keys=True))
    assert head == 2 * 512 * 3  # the fc layer: 512 → 3
    assert 5e7 < feats < 1e9  # ResNet-18 at 32×32: about 0.07 GFLOP a forward pass
    small = plan.model_flops("mine", 3, 16, 1.0, json.dumps(ref, sort_keys=True))[0]
    assert small < feats / 2  # a quarter of the pixels: less than half the work


@pytest.fixture(scope="module")
def digits_net(tmp_path_factory):
    """cnn3 trained 3 epochs on 400 shipped digits, and 60 of its test images: a small run of
    the attack stage's work."""
    from conftest import trained_digits

    net, d = trained_digits("cnn3", tmp_path_factory.mktemp("work"), epochs=3, width=0.25,
                            limit_test=60)
    return net, d[2], d[3]


@pytest.mark.parametrize("name", ["ost", "osnt", "bim", "illc", "pgd", "ifgsm", "sparsefool"])
def test_the_planner_counts_the_passes_the_attack_code_makes(digits_net, name):
    """Issue 26: the work counted is the work done. The planner's passes per attacked image times
    the images the exact cut attacks are the forwards the attack stage runs the net on (the shared
    clean pass apart); SparseFool's at the iteration counts of this run (the planner's typical
    counts are measured on the offline default, docs/benchmarks.md)."""
    from upnn import work

    net, x, y = digits_net
    spec = {"name": name, **({"max_iter": 5} if name == "sparsefool" else {})}
    done = work.attack_work(net, x, y, spec, 0.1)
    assert 0 < done["attacked"] < len(x)  # the cut leaves some images out
    grad, fwd = plan.attack_passes(name, spec, 0.1, outer=done.get("outer"),
                                   deepfool=done.get("deepfool"))
    # forwards: every input-gradient pass has one, except SparseFool's K-class Jacobian
    # backwards (grad counts them as K/GRAD_PASS passes; their forward is in fwd)
    forwards = fwd + (done["outer"] if name == "sparsefool" else grad)
    assert done["forward"] == pytest.approx(done["attacked"] * forwards, rel=1e-9)
