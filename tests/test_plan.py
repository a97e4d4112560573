"""The work planner (upnn.plan, issue 19): each job of Snakemake's own DAG (upnn.dag) priced
from the config."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys

import pytest
from conftest import ROOT

from upnn import config as upnn_config
from upnn import dag, plan, rates, schedule

CI = upnn_config.normalize(upnn_config.layered(ROOT / "config/config.yaml",
                                               [ROOT / "config/ci.yaml"]))
PAPER = upnn_config.normalize(upnn_config.load_yaml(ROOT / "config/paper.yaml"))
CPU = rates.load_rates(rates.CPU_RATES)
GPU = rates.load_rates(rates.GPU_RATES)
# Each job's estimate and memory from the hand-kept job list this planner replaced (412567f), on
# the CI config at the CPU rates and the paper config at the GPU rates. A change of the cost model
# or of those configs on purpose rewrites it: python tests/test_plan.py
SNAPSHOT = ROOT / "tests/data/plan_estimates.json"
DIGITS = {"dataset": "digits", "model": "cnn3", "seed": "0"}


@pytest.fixture(scope="module")
def graphs(ci_dry_run) -> dict[str, list[dag.DagJob]]:
    """Snakemake's DAG of the CI and the paper config (one dry run each)."""
    return {"ci": dag.parse(ci_dry_run), "paper": dag.jobs([ROOT / "config/paper.yaml"], ROOT)}


def _estimates(graphs: dict[str, list[dag.DagJob]]) -> dict[str, dict]:
    out = {}
    for name, config, r in (("ci", CI, CPU), ("paper", PAPER, GPU)):
        jobs = plan.estimate(config, r, graphs[name])
        makespan, critical = schedule.schedule(jobs, r)
        out[name] = {"rates": "cpu-2core.yaml" if r is CPU else "gpu-h100.yaml",
                     "makespan": makespan, "critical": critical,
                     "seconds": {j.key: j.seconds for j in jobs},
                     "mem_mb": {j.key: schedule.mem_mb(j) for j in jobs}}
    return out


def test_the_estimates_stay_those_of_the_hand_kept_job_list(graphs):
    """Issue 28 item 3: the job list now comes from Snakemake's DAG; every job's estimate and
    memory, the makespan and the critical path are those the hand-kept list gave, but for the
    jobs that now run on one thread instead of two (the attack, training, minimal and t-SNE
    jobs; the snapshot was rewritten for that alone)."""
    want = json.loads(SNAPSHOT.read_text())
    got = _estimates(graphs)
    for name in ("ci", "paper"):
        assert set(got[name]["seconds"]) == set(want[name]["seconds"])
        for k, s in want[name]["seconds"].items():
            assert got[name]["seconds"][k] == pytest.approx(s, rel=1e-9), (name, k)
        assert got[name]["mem_mb"] == want[name]["mem_mb"]
        for key in ("makespan", "critical"):
            assert got[name][key] == pytest.approx(want[name][key], rel=1e-9), (name, key)


def test_work_scales_with_epochs_images_and_steps():
    train = plan.job(CI, "train", DIGITS, 2)
    more = copy.deepcopy(CI)
    more["train"]["epochs"] *= 2
    assert plan.job(more, "train", DIGITS, 2).work["train"] == pytest.approx(2 * train.work["train"])
    fewer = copy.deepcopy(CI)
    fewer["attacks"]["n_test"] = CI["attacks"]["n_test"] // 2
    fewer["attacks"]["names"] = ["bim", "pgd"]  # no per-attack image caps (n) in the way
    fewer_full = copy.deepcopy(fewer)
    fewer_full["attacks"]["n_test"] = CI["attacks"]["n_test"]
    pixel = {**DIGITS, "level": "pixel"}
    a_half = plan.job(fewer, "attack", pixel).work["attack"]
    a_full = plan.job(fewer_full, "attack", pixel).work["attack"]
    assert a_full == pytest.approx(2 * a_half)
    steps = copy.deepcopy(fewer_full)
    steps["attacks"]["names"] = ["pgd"]
    steps["attacks"].setdefault("settings", {})["pgd"] = {"steps": 4}
    four = plan.job(steps, "attack", pixel).work["attack"]
    steps["attacks"]["settings"]["pgd"] = {"steps": 8}
    eight = plan.job(steps, "attack", pixel).work["attack"]
    assert eight == pytest.approx(2 * four)


def test_sparsefool_counts_its_typical_iterations_within_its_cap():
    spec = {"name": "sparsefool", "max_iter": 20}
    typical, _ = plan.attack_passes("sparsefool", spec, 0.1)
    assert plan.attack_passes("sparsefool", {**spec, "max_iter": 40}, 0.1)[0] == typical
    capped, _ = plan.attack_passes("sparsefool", {**spec, "max_iter": 4}, 0.1)
    assert capped == pytest.approx(typical * 4 / plan.SPARSEFOOL_OUTER)
    assert typical > plan.attack_passes("pgd", {"steps": 4}, 0.1)[0] * 10


def test_planned_runtimes_differ_per_job_and_grow_with_retries(graphs):
    jobs = plan.estimate(PAPER, GPU, graphs["paper"])
    attack = [schedule.runtime_minutes(j) for j in jobs if j.rule == "attack"]
    assert len(set(attack)) > 3, attack
    train = {j.model: schedule.runtime_minutes(j) for j in jobs if j.rule == "train"}
    assert train["googlenet"] > train["resnet9"] > train["cnn3"]
    j = max(jobs, key=lambda j: j.seconds)
    assert schedule.runtime_minutes(j, 2) >= 2 * schedule.runtime_minutes(j, 1) - 1
    assert schedule.runtime_minutes(j) >= schedule.SAFETY_FACTOR * j.seconds / 60
    big, small = (schedule.mem_mb(_job(jobs, "train", dataset=d, model="cnn3" if d == "mnist"
                                       else "cnn4")) for d in ("cifar10", "mnist"))
    assert big > small >= 4000


def test_rules_get_the_planned_resources_at_their_threads_and_a_failure_the_fallback():
    path = rates.CPU_RATES
    two = plan.planned_job(CI, path, "train", {**DIGITS, "seed": 0}, threads=2)
    one = plan.planned_job(CI, path, "train", DIGITS, threads=1)
    assert 0 < two.seconds < one.seconds  # one thread of the machine's two: longer
    assert plan.planned_resource(CI, path, "train", DIGITS, "runtime", 1, 999, 2) == \
        schedule.runtime_minutes(two)
    figure = plan.planned_job(CI, path, "figure_fig2", {})
    assert figure.work == {} and figure.seconds == CPU["overhead_s"]["figure"]
    broken = {k: v for k, v in CI.items() if k != "uncertainty"}
    assert plan.planned_resource(broken, path, "uncertainty", DIGITS, "runtime", 1, 999) == 999


def _job(jobs: list[plan.Job], rule: str, **wild: str) -> plan.Job:
    found = [j for j in jobs if j.rule == rule and all(j.wildcards.get(k) == v
                                                       for k, v in wild.items())]
    assert found, (rule, wild)
    return found[0]


def test_cli_prints_every_job_of_the_dag(graphs):
    cli = subprocess.run([sys.executable, "-m", "upnn.plan", "--configfile",
                          str(ROOT / "config/ci.yaml"), "--rates", str(rates.CPU_RATES)],
                         capture_output=True, text=True, check=True, timeout=300, cwd=ROOT).stdout
    job_table = cli.split("\n| stage |")[0]
    printed = set(re.findall(r"^\| (\w+(?:\[[^\]]*\])?) \|", job_table, re.M)) - {"job"}
    assert printed == {j.key for j in graphs["ci"]}
    assert "sum of job times" in cli and "critical path" in cli
    for stage in ("train", "attack", "uncertainty", "ifa", "figures/claims"):
        assert f"| {stage} |" in cli


def test_the_report_prices_the_papers_grid_and_each_extra_apart(graphs):
    def extras(c):
        jobs = plan.estimate(c, GPU, graphs["paper"])
        names = {e for j in jobs for e in j.extras}
        return {e: sum(plan.extra_seconds(j, GPU, e) for j in jobs) for e in names}

    now = extras(PAPER)
    assert {"autoattack", "extra amplitudes"} <= set(now)
    every = copy.deepcopy(PAPER)
    every["attacks"]["settings"]["autoattack"]["epochs"] = "all"
    every["attacks"].pop("extra_eps_epochs")
    before = extras(every)
    # 6 of 50 epochs: the extras cost 6/50 of their every-epoch work (overheads aside)
    assert now["autoattack"] == pytest.approx(before["autoattack"] * 6 / 50, rel=1e-6)
    assert now["extra amplitudes"] == pytest.approx(before["extra amplitudes"] * 6 / 50, rel=1e-6)
    jobs = plan.estimate(PAPER, GPU, graphs["paper"])
    text = plan.report(jobs, GPU)
    rows = {line.split(" | ")[0][2:]: line.split(" | ")[1:] for line in text.splitlines()
            if line.startswith("| ")}
    assert rows["the papers' grid (all but the extras below)"][1] == rows["… its attacks"][1]
    assert rows["… the rest (training, uncertainty, IFA, toy, words, LLM, figures)"][0] == \
        plan._fmt(sum(j.seconds for j in jobs if j.stage != "attack"))
    assert rows["extra: autoattack"][1].endswith("PFLOP |")
    # the minimal stage's jobs exist only for it: their whole time, overhead included, is its
    minimal = [j for j in jobs if j.rule == "minimal"]
    assert minimal and rows["extra: minimal stage"][0] == plan._fmt(sum(j.seconds for j in minimal))


def test_the_extras_are_priced_at_the_configs_precision(graphs):
    """With ``precision: bf16`` every job is priced at the rates file's bf16 speed-ups, its
    extras too: each extra costs less than in fp32 (it once kept its fp32 price, so the papers'
    grid, the whole less the extras, shrank by far more than any speed-up allows)."""
    def extras(c):
        jobs = plan.estimate(c, GPU, graphs["paper"])
        cost = {e: sum(plan.extra_seconds(j, GPU, e) for j in jobs)
                for e in {e for j in jobs for e in j.extras}}
        return jobs, cost

    fp32_jobs, fp32 = extras(PAPER)
    bf16_jobs, bf16 = extras({**PAPER, "precision": "bf16"})
    assert set(bf16) == set(fp32) and all(bf16[e] < fp32[e] for e in fp32)
    grid = {name: sum(j.seconds for j in jobs) - sum(cost.values())
            for name, jobs, cost in (("fp32", fp32_jobs, fp32), ("bf16", bf16_jobs, bf16))}
    # every kind of work is at most the file's largest bf16 speed-up faster
    assert grid["fp32"] / max(GPU["speedup"]["bf16"].values()) < grid["bf16"] < grid["fp32"]


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


def test_autoattack_is_priced_by_its_calls_per_batch():
    """One AutoAttack run per batch of the attack stage, AUTOATTACK_CALLS sequential passes each
    (its per-call cost, not its FLOPs, was its time on the default's 20 images)."""
    pixel = {"dataset": "digits32", "model": "cnn4", "seed": "0", "level": "pixel"}
    one = plan.job(CI, "attack", pixel)
    assert one.work["calls"] == plan.AUTOATTACK_CALLS  # 20 images, the last epoch: one run
    more = copy.deepcopy(CI)
    more["attacks"]["batch_size"] = 8  # 20 images in 3 batches
    more["attacks"]["settings"]["autoattack"]["epochs"] = "all"
    n_epochs = len(upnn_config.attack_epochs(CI, "cnn4"))
    assert plan.job(more, "attack", pixel).work["calls"] == 3 * n_epochs * plan.AUTOATTACK_CALLS
    assert "calls" not in plan.job(CI, "attack", {**pixel, "model": "cnn3",
                                                  "dataset": "digits"}).work


if __name__ == "__main__":  # rewrite the snapshot after a change of the cost model on purpose
    g = {"ci": dag.jobs([ROOT / "config/ci.yaml"], ROOT),
         "paper": dag.jobs([ROOT / "config/paper.yaml"], ROOT)}
    SNAPSHOT.write_text(json.dumps(_estimates(g), indent=1, sort_keys=True) + "\n")
