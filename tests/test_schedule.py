"""Scheduling and the rules' SLURM resources (upnn.schedule)."""

from __future__ import annotations

import pytest

from upnn import plan, schedule


def test_schedule_runs_independent_jobs_side_by_side():
    rates = {"cores": 2, "gpus": 0}
    a, b = (plan.Job(r, threads=1, seconds=10.0) for r in ("a", "b"))
    c = plan.Job("c", threads=2, seconds=5.0, needs=["a", "b"])
    makespan, critical = schedule.schedule([a, b, c], rates)
    assert makespan == pytest.approx(15.0) and critical == pytest.approx(15.0)
    a2 = plan.Job("a", threads=2, seconds=10.0)
    assert schedule.schedule([a2, b, c], rates)[0] == pytest.approx(25.0)


def test_gpu_jobs_queue_for_the_gpus():
    rates = {"cores": 16, "gpus": 1}
    a, b = (plan.Job(r, threads=1, gpu=True, seconds=10.0) for r in ("a", "b"))
    assert schedule.schedule([a, b], rates)[0] == pytest.approx(20.0)
    assert schedule.schedule([a, b], {**rates, "gpus": 2})[0] == pytest.approx(10.0)


def test_runtime_has_a_safety_factor_and_doubles_per_retry():
    j = plan.Job("attack", seconds=600.0)
    assert schedule.runtime_minutes(j) == int(schedule.SAFETY_FACTOR * 10 + schedule.SAFETY_MINUTES)
    assert schedule.runtime_minutes(j, 2) == 2 * schedule.runtime_minutes(j, 1)


def test_memory_grows_with_the_dataset_and_the_gpu():
    small, big = plan.Job("train", mem_bytes=1e6), plan.Job("train", mem_bytes=2e9)
    assert schedule.mem_mb(small) == 3000 and schedule.mem_mb(big) == 10000
    assert schedule.mem_mb(plan.Job("train", gpu=True)) == 4000
    assert schedule.mem_mb(small, 2) == 6000


def test_local_gpus_reads_the_driver_listing_and_cuda_visible_devices(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert schedule.local_gpus(tmp_path / "absent") == 0
    for bus in ("0000:01:00.0", "0000:02:00.0", "0000:03:00.0"):
        (tmp_path / bus).mkdir()
    assert schedule.local_gpus(tmp_path) == 3
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert schedule.local_gpus(tmp_path) == 1
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert schedule.local_gpus(tmp_path) == 0


def test_gpu_limit_is_one_on_a_gpu_machine_unless_the_command_gives_one():
    assert schedule.gpu_limit({}, 2) == 1
    assert schedule.gpu_limit({}, 0) is None
    assert schedule.gpu_limit({"gpu": 4}, 2) is None
