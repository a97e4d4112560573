"""The LLM stage through Snakemake, offline: a tiny random Llama (local folder) on the tiny tasks of
tests/data/llm → results/llm/tiny.parquet and fig3; a model missing from the HF cache fails at once
with one message; the offline default leaves the stage out."""

import importlib.util
import os

import pandas as pd
import pytest
import yaml
from conftest import copy_workflow, planned_jobs, snakemake

if importlib.util.find_spec("lm_eval") is None:
    pytest.skip("the llm extra is not installed: pip install -e '.[llm]'", allow_module_level=True)

for _flag in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ[_flag] = "1"  # inherited by the Snakemake jobs

from llm_tiny import TASK_DIR, TASKS, build  # noqa: E402

from upnn import io, llm  # noqa: E402

FIGS = ("results/figures/fig3.pdf", "results/figures/fig3.png")


def write_config(wd, **llm_settings):
    cfg = yaml.safe_load((wd / "config" / "ci.yaml").read_text())
    cfg["llm"].update(llm_settings)
    (wd / "c.yaml").write_text(yaml.safe_dump(cfg))
    return "c.yaml"


@pytest.fixture(scope="module")
def llm_run(tmp_path_factory):
    wd = copy_workflow(tmp_path_factory.mktemp("llm_run"))
    tiny = build(wd / "tiny")
    cfg = write_config(wd, enabled=True, model=str(tiny), tasks=list(TASKS),
                       include_path=str(TASK_DIR), limit=6, batch_size=8, bim_steps=2)
    snakemake(wd, *FIGS, "--cores", "2", "--configfile", cfg)
    return wd


def test_table_and_figure(llm_run):
    df = pd.read_parquet(llm_run / "results/llm/tiny.parquet")
    assert list(df.columns) == list(llm.COLUMNS)
    assert len(df) == len(TASKS) * len(llm.CONDITIONS)
    assert sorted(zip(df["task"], df["condition"], strict=True)) == sorted(
        (t, c) for t in TASKS for c in llm.CONDITIONS)
    assert set(df["n"]) == {6}
    by_task = df.groupby("task")[["n_choices", "chance"]].first()
    assert by_task.loc["upnn_tiny_mc4"].tolist() == [4, 0.25]
    assert by_task.loc["upnn_tiny_mc2"].tolist() == [2, 0.5]
    assert df.set_index("condition")["epsilon"].to_dict() == {
        "none": 0.0, "random": 0.01, "fgsm": 0.01, "bim": 0.01}
    assert df["acc"].between(0, 1).all() and df["stderr"].gt(0).all()
    assert (df.loc[df["condition"] == "bim", "steps"] == 2).all()
    meta = io.read_metadata(llm_run / "results/llm/tiny.parquet")
    assert meta["lm_eval"] == "0.4.13" and meta["dtype"] == "float32"
    for f in FIGS:
        assert (llm_run / f).stat().st_size > 1000
    log = (llm_run / "logs/llm/tiny.log").read_text()
    assert "offline mode" in log and "bim:" in log


def test_enabled_puts_fig3_in_the_default_target_and_the_run_is_complete(llm_run):
    out = snakemake(llm_run, "-n", "-R", "figure_fig3", "--configfile", "c.yaml").stdout
    jobs = planned_jobs(out)
    assert jobs.get("figure_fig3") == 1 and "llm_eval" not in jobs  # in `all`; the table is up to date


def test_missing_model_offline_fails_at_once_with_one_message(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    cfg = write_config(wd, enabled=True, model="upnn-test/not-cached-model", tasks=list(TASKS),
                       include_path=str(TASK_DIR))
    proc = snakemake(wd, FIGS[0], "--cores", "1", "--configfile", cfg, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    line = next(s for s in out.splitlines() if s.startswith("upnn: offline"))
    assert "upnn-test/not-cached-model (config, weights, tokenizer)" in line
    assert "python -m upnn.llm prefetch" in line and "docs/llm.md" in line
    assert not (wd / "results/llm/upnn-test--not-cached-model.parquet").exists()


def test_offline_default_leaves_the_llm_stage_out(tmp_path):
    jobs = planned_jobs(snakemake(copy_workflow(tmp_path / "wf"), "-n").stdout)
    assert jobs and "llm_eval" not in jobs and "figure_fig3" not in jobs
