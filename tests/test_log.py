"""upnn.log: the one opening of every rule script."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import torch

from upnn import io, log

ROOT = Path(__file__).resolve().parents[1]


def fake_job(tmp_path, threads):
    wildcards = SimpleNamespace(items=lambda: {"model": "cnn3"}.items())
    return SimpleNamespace(threads=threads, log=[str(tmp_path / "job.log")], rule="train",
                           wildcards=wildcards)


def test_job_pins_torchs_threads_to_the_rules_and_logs_them(tmp_path):
    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            with log.job(fake_job(tmp_path, threads)) as logger:
                assert torch.get_num_threads() == threads
                logger.info("inside")
                assert io.provenance({})["threads"] == str(threads)
            text = (tmp_path / "job.log").read_text()
            assert f"rule train {{'model': 'cnn3'}}: {threads} thread(s)" in text
            assert "inside" in text
    finally:
        torch.set_num_threads(before)


def test_every_rule_script_opens_with_log_job_and_sets_no_threads_itself():
    """One opening for all rule scripts, so none can forget to pin torch's threads again."""
    scripts = [p for p in (ROOT / "scripts").glob("*.py") if "snakemake" in p.read_text()
               and p.name != "_src.py"]
    assert len(scripts) >= 20
    for path in scripts:
        text = path.read_text()
        calls = {ast.unparse(n.func) for n in ast.walk(ast.parse(text))
                 if isinstance(n, ast.Call)}
        assert "log.job" in calls, path.name
        assert "log.to_file" not in calls and "torch.set_num_threads" not in calls, path.name
