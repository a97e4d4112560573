"""The SLURM profile: a real single-node SLURM cluster, GPU requests on the paper config.

`.ci/slurm/start.sh` installs Debian's SLURM packages if they are missing and starts munged,
mariadbd, slurmdbd, slurmctld and slurmd on 127.0.0.1; the module fixture stops them again.
Needs root, and the packages installed or UPNN_INSTALL_SERVICES=1 (which .ci/run sets) to
install them with apt-get; skipped, saying so, otherwise.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from conftest import ROOT, SNAKEMAKE, copy_workflow, snakemake
from snakemake_executor_plugin_slurm.submit_string import get_submit_command
from snakemake_executor_plugin_slurm.utils import set_gres_string

from upnn import io

START, STOP = ROOT / ".ci/slurm/start.sh", ROOT / ".ci/slurm/stop.sh"
STATE = Path(os.environ.get("UPNN_SLURM_DIR", "/tmp/upnn-slurm"))
# One cluster per machine (the jobs' nested srun reads /etc/slurm/slurm.conf): test sessions
# running side by side take turns.
LOCK = Path("/tmp/upnn-slurm.lock")
TARGET = "results/figures/fig2.pdf"
FAILING_RULE = "upnn_ci_fails_on_purpose"


def _why_no_cluster() -> str | None:
    if os.geteuid() != 0:
        return "SLURM test needs root (.ci/slurm/start.sh installs packages and starts daemons)"
    installed = shutil.which("slurmctld", path="/usr/sbin:/usr/bin")
    if not installed and os.environ.get("UPNN_INSTALL_SERVICES") != "1":
        # system services only where asked: .ci/run asks; a developer's `make test` does not
        return ("SLURM test needs Debian's slurm packages; to install them and run it: "
                "UPNN_INSTALL_SERVICES=1 make test (as root), or bash .ci/run")
    if not installed and not shutil.which("apt-get"):
        return "SLURM test needs apt-get to install Debian's slurm packages (or them installed)"
    return None


@pytest.fixture(scope="module")
def slurm_env():
    """Environment for SLURM client commands, with the cluster up; stopped after this module."""
    reason = _why_no_cluster()
    if reason:
        pytest.skip(reason)
    with open(LOCK, "w") as lock:
        deadline = time.monotonic() + 900
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                assert time.monotonic() < deadline, f"{LOCK} held by another test run for 15 min"
                time.sleep(2)
        outer = ("SLURM_", "SBATCH_", "SRUN_", "SALLOC_")  # e.g. a CI that runs inside a job
        env = {k: v for k, v in os.environ.items() if not k.startswith(outer)}
        env |= {"UPNN_SLURM_DIR": str(STATE), "SLURM_CONF": str(STATE / "etc/slurm.conf"),
                "UPNN_SLURM_PARTITION": "debug", "UPNN_SLURM_ACCOUNT": "upnn"}
        try:
            t0 = time.monotonic()
            proc = subprocess.run(["bash", str(START)], env=env, capture_output=True, text=True,
                                  timeout=900)
            assert proc.returncode == 0, f"start.sh failed:\n{proc.stdout}\n{proc.stderr}"
            print(f"SLURM cluster up in {time.monotonic() - t0:.0f} s\n{proc.stdout}")
            yield env
        finally:
            subprocess.run(["bash", str(STOP)], env=env, capture_output=True, timeout=300)


def _sacct(env: dict, job_ids: list[str]) -> dict[str, dict[str, str]]:
    fields = ["JobIDRaw", "JobName", "State", "ExitCode", "Account", "Partition", "AllocTRES",
              "Comment"]
    out = subprocess.run(["sacct", "-X", "-n", "-P", "-j", ",".join(job_ids),
                          "-o", ",".join(fields)],
                         env=env, capture_output=True, text=True, timeout=60, check=True).stdout
    rows = [dict(zip(fields, line.split("|"), strict=True)) for line in out.splitlines() if line]
    return {r["JobIDRaw"]: r for r in rows}


def test_workflow_runs_through_slurm_like_a_local_run(slurm_env, request, tmp_path):
    """The README's command on config/ci.yaml narrowed to its MNIST-shaped panel (the four levels
    prepare → train → attack → figure; the cluster is this machine, so the second panel's jobs
    would only queue behind the first's), plus one rule that fails inside its SLURM job."""
    wd = copy_workflow(tmp_path / "wf")
    cfg = yaml.safe_load((wd / "config/ci.yaml").read_text())
    cfg["experiments"] = {"digits": cfg["experiments"]["digits"]}
    # AutoAttack is kept to cnn4 (ci.yaml), the other panel: cnn3's tables are the same without it
    cfg["attacks"]["names"].remove("autoattack")
    (wd / "config/ci_slurm.yaml").write_text(yaml.safe_dump(cfg))
    # a failing job without touching the real rules: one extra rule in this throw-away copy
    (wd / "rules" / "ci_failing.smk").write_text(
        f"rule {FAILING_RULE}:\n"
        '    output: "results/ci/fails.txt"\n'
        '    log: "logs/ci/fails.log"\n'
        "    threads: 1\n"
        "    retries: 0\n"
        "    resources: mem_mb=100, runtime=5\n"
        '    shell: "echo failing on purpose > {log}; exit 3"\n')
    with open(wd / "Snakefile", "a") as f:
        f.write('\ninclude: "rules/ci_failing.smk"\n')
    log = tmp_path / "slurm_run.log"
    t0 = time.monotonic()
    with open(log, "w") as sink:
        # status checks from 2 s on (the profile waits 10 s): these jobs take seconds
        proc = subprocess.Popen([SNAKEMAKE, TARGET, "results/ci/fails.txt",
                                 "--profile", "profiles/slurm", "--configfile", "config/ci_slurm.yaml",
                                 "--slurm-init-seconds-before-status-checks", "2"],
                                cwd=wd, env=slurm_env, stdout=sink, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        # the local reference (conftest's ci_run), built meanwhile unless a test already did
        ci_run = request.getfixturevalue("ci_run")
        proc.wait(timeout=1200)
    finally:
        if proc.poll() is None:  # snakemake cancels its SLURM jobs on SIGTERM
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
    print(f"SLURM run: {time.monotonic() - t0:.0f} s")
    out = log.read_text()

    # the failing rule is reported as failed, and fails the run (keep-going finishes the rest)
    assert proc.returncode != 0, out
    assert f"Error in rule {FAILING_RULE}" in out, out
    assert "SLURM status is: 'FAILED'" in out, out
    assert (wd / TARGET).stat().st_size > 0, out

    # every job but the local rules ran as a SLURM job: one submission per planned job
    submitted = dict(re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", out))
    stats = out.split("Job stats:")[1].split("total")[0]
    # local rules (figures, claims, summary: `localrule: True`) run on the submitting host
    local = ("figure_", "claims", "summary")
    planned = sum(int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)\s*$", stats, re.M)
                  if not rule.startswith(local))
    assert len(submitted) == planned, out
    jobs = _sacct(slurm_env, list(submitted.values()))
    assert set(jobs) == set(submitted.values()), jobs
    assert len({j["JobName"] for j in jobs.values()}) == 1  # all of this run (its run uuid)
    failed = {i for i, j in jobs.items() if f"rule_{FAILING_RULE}" in j["Comment"]}
    assert len(failed) == 1, jobs
    for i, j in jobs.items():
        assert j["State"] == ("FAILED" if i in failed else "COMPLETED"), j
        assert (j["Account"], j["Partition"]) == ("upnn", "debug"), j
        assert "gpu" not in j["AllocTRES"], j  # config/ci.yaml says device: cpu, so gpu=0

    # the same tables as the local run (conftest's ci_run), timing columns aside
    tables = sorted(p.relative_to(wd) for p in (wd / "results").rglob("*.parquet"))
    assert any(str(p).startswith("results/train/") for p in tables), tables
    assert any(str(p).startswith("results/attacks/") for p in tables), tables
    for rel in tables:
        assert io.same_table(wd / rel, ci_run / rel), rel


# --- dry run on the paper config: the whole DAG, GPUs on the GPU rules -------------------------

class _Resources(dict):
    """What the plugin expects of job.resources: .get() and attribute access."""

    def __getattr__(self, name):
        return self[name]


def _dry_run_jobs(out: str) -> list[SimpleNamespace]:
    """(rule, threads, resources, local) of each job block printed by a dry run."""
    jobs = []
    for block in re.split(r"\n(?=\[[^\]]+\]\n(?:local)?rule )", out)[1:]:
        m = re.search(r"^(local)?rule (\w+):", block, re.M)
        threads = re.search(r"^\s+threads: (\d+)", block, re.M)
        res = re.search(r"^\s+resources: (.*)$", block, re.M)
        resources = _Resources()
        for item in res[1].split(", ") if res else []:
            key, _, value = item.partition("=")
            resources[key] = int(value) if value.isdigit() else value
        jobs.append(SimpleNamespace(rule=m[2], local=bool(m[1]),
                                    threads=int(threads[1]) if threads else 1,
                                    resources=resources))
    return jobs


def _sbatch(job: SimpleNamespace) -> str:
    """The sbatch call the plugin would make for this job (as in its run_job)."""
    params = {"run_uuid": "x", "slurm_logfile": "x.log", "comment_str": "x", "account": "",
              "partition": "", "workdir": "."}
    return get_submit_command(job, params) + set_gres_string(job)


def _gpu_rules() -> set[str]:
    """Rules whose definition in rules/*.smk declares a `gpu` resource (`use rule` inherits it)."""
    found, derived = set(), []
    for smk in (ROOT / "rules").glob("*.smk"):
        parts = re.split(r"^\s*(?:(?:rule|checkpoint) (\w+)|use rule (\w+) as (\w+)(?: with)?):",
                         smk.read_text(), flags=re.M)
        for name, parent, alias, body in zip(*[iter(parts[1:])] * 4, strict=True):
            if re.search(r"^\s+gpu\s*=", body, re.M):
                found.add(name or alias)
            elif parent:
                derived.append((parent, alias))
    return found | {alias for parent, alias in derived if parent in found}


def test_paper_dry_run_lists_the_dag_with_gpus_on_gpu_rules(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    proc = snakemake(wd, "-n", "--profile", "profiles/slurm", "--configfile", "config/paper.yaml")
    out = proc.stdout + proc.stderr
    jobs = _dry_run_jobs(out)
    rules = {j.rule for j in jobs}
    assert {"download_dataset", "prepare_dataset", "train", "attack", "figure_fig2"} <= rules, rules
    stats = out.split("Job stats:")[1].split("total")[0]
    for rule, n in re.findall(r"^(\w+)\s+(\d+)\s*$", stats, re.M):
        assert sum(j.rule == rule for j in jobs) == int(n), rule
    gpu_rules = _gpu_rules()
    assert {"train", "attack"} <= gpu_rules, gpu_rules
    for job in jobs:
        if job.local or job.rule == "all":
            assert job.rule in ("download_dataset", "all"), job  # downloads run on the login node
            continue
        sbatch = _sbatch(job)
        if job.rule in gpu_rules:  # paper.yaml says device: auto, so every GPU rule asks for one
            assert job.resources["gpu"] == 1, job
            assert "--gpus=1" in sbatch, sbatch
        else:
            assert not job.resources.get("gpu"), job
            assert "--gpus" not in sbatch, sbatch
        assert f"--mem {job.resources['mem_mb']}" in sbatch and " -t " in sbatch, sbatch
    # runtime from the work planner (upnn.plan, issue 19): per job, not one constant per rule
    for rule in ("train", "attack", "minimal", "ifa"):
        runtimes = {j.resources["runtime"] for j in jobs if j.rule == rule}
        assert len(runtimes) > 1, (rule, runtimes)
    train_min = {j.resources["runtime"] for j in jobs if j.rule == "train"}
    attack_max = max(j.resources["runtime"] for j in jobs if j.rule == "attack")
    assert attack_max > max(train_min) > min(train_min) >= 5
    # a GPU model (docs/slurm.md: --set-resources train:gpu_model=a100), and gpu=0
    train = next(j for j in jobs if j.rule == "train")
    train.resources["gpu_model"] = "a100"
    assert "--gpus=a100:1" in _sbatch(train)
    train.resources.update(gpu=0, gpu_model=None)
    assert "--gpus" not in _sbatch(train)


def test_ci_config_requests_no_gpu(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    proc = snakemake(wd, "-n", "--profile", "profiles/slurm", "--configfile", "config/ci.yaml")
    jobs = [j for j in _dry_run_jobs(proc.stdout + proc.stderr) if j.rule == "train"]
    assert jobs and all(j.resources["gpu"] == 0 and "--gpus" not in _sbatch(j) for j in jobs)


def test_local_profile_dry_run(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    proc = snakemake(wd, "-n", "--profile", "profiles/local", "--configfile", "config/ci.yaml")
    assert "Job stats:" in proc.stdout + proc.stderr
