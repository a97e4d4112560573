"""Rates files and job time (upnn.rates)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from upnn import plan, rates

CPU = rates.load_rates(rates.CPU_RATES)
GPU = rates.load_rates(rates.GPU_RATES)


def test_rates_files_say_what_was_measured():
    assert CPU["status"] == "measured" and GPU["status"] == "assumed"
    for r in (CPU, GPU):
        for kind in rates.KINDS:
            assert rates.rate(r, kind, "resnet9") > 0
            assert rates.rate(r, kind, "no_such_model") > 0  # the default


def test_a_rates_file_without_a_key_is_refused(tmp_path):
    (tmp_path / "r.yaml").write_text("status: measured\nmachine: m\ncores: 2\n")
    with pytest.raises(ValueError, match="missing 'overhead_s'"):
        rates.load_rates(tmp_path / "r.yaml")


def test_seconds_are_overhead_plus_work_at_the_rate_and_fewer_threads_take_longer():
    r = {"cores": 2, "overhead_s": {"default": 3.0, "figure": 1.0},
         "flops_per_s": {"train": {"default": 1e9, "cnn3": 2e9}, "eval": 1e9}}
    j = plan.Job("train", threads=2, model="cnn3", work={"train": 4e9, "eval": 1e9})
    assert rates.seconds(j, r) == pytest.approx(3.0 + 2.0 + 1.0)
    j.threads = 1  # one of the two cores: half the rate
    assert rates.seconds(j, r) == pytest.approx(3.0 + 2 * (2.0 + 1.0))
    assert rates.seconds(plan.Job("figure_fig2"), r) == 1.0  # a figure: its overhead only


def test_default_rates_follow_the_device(monkeypatch):
    monkeypatch.delenv("UPNN_RATES", raising=False)
    for device, rules in (("cpu", rates.CPU_RATES), ("cuda", rates.GPU_RATES),
                          ("auto", rates.GPU_RATES)):
        assert rates.default_rates({"device": device}).name == rules.name
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert rates.default_rates({"device": "auto"}, here=True).name == rates.CPU_RATES.name
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert rates.default_rates({"device": "auto"}, here=True).name == rates.GPU_RATES.name
    assert rates.default_rates({"device": "cpu"}, here=True).name == rates.CPU_RATES.name
    monkeypatch.setenv("UPNN_RATES", "/x/mine.yaml")
    assert rates.default_rates({"device": "cpu"}) == Path("/x/mine.yaml")


def test_calls_are_one_thread_work_and_default_where_a_file_names_none(tmp_path):
    """AutoAttack's sequential passes (``calls``) cost their fixed time on one thread whatever
    the job's threads; a rates file without ``calls`` (one the device check wrote) prices them at
    the development machine's CALLS_PER_S."""
    r = {"cores": 2, "overhead_s": {"default": 0.0}, "flops_per_s": {"attack": 1e9, "calls": 100}}
    j = plan.Job("attack", threads=2, model="cnn3", work={"attack": 1e9, "calls": 200})
    assert rates.seconds(j, r) == pytest.approx(1.0 + 2.0)
    j.threads = 1
    assert rates.seconds(j, r) == pytest.approx(2.0 + 2.0)  # the FLOPs slow down, calls do not
    (tmp_path / "r.yaml").write_text("status: measured\nmachine: m\ncores: 2\n"
                                     "overhead_s: {default: 1.0}\nflops_per_s: {attack: 1.0e9}\n")
    assert rates.rate(rates.load_rates(tmp_path / "r.yaml"), "calls", None) == rates.CALLS_PER_S
