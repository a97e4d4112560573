"""The claims stage through the Snakemake CLI on config/ci.yaml."""

from __future__ import annotations

import base64
import json
import re

import pandas as pd
from conftest import copy_workflow, planned_jobs, snakemake

from upnn import claims, claims_markdown


def test_claims_table_has_every_claim_and_marks_the_llm_stage_not_run(ci_run):
    table = pd.read_parquet(ci_run / "results/claims.parquet")
    assert list(table.columns) == list(claims.COLUMNS)
    assert set(table["claim"]) == set(claims.CLAIMS)
    assert (table["config"] == "config/ci.yaml").all()
    llm = table[table["claim"].isin(claims.STAGE_CLAIMS["llm"])]
    assert (llm["verdict"] == "not run").all()  # llm.enabled is false in the CI config
    ran = table[~table["claim"].isin(claims.STAGE_CLAIMS["llm"])]
    assert (ran["verdict"] != "not run").all()
    # one ra_falls row per papers' attack, their mean and worst case, per (dataset, model, level)
    panels = ran[ran["claim"] == "ra_falls"].groupby(["dataset", "model", "level"]).size()
    assert len(panels) == 3 and (panels == 8).all()  # + the worst case of the papers' attacks
    md = (ci_run / "results/claims.md").read_text()
    assert md.count("\n| ") == len(table) + 2
    assert all(f"{v}: {n}" in md for v, n in claims_markdown.counts(table).items())


def test_claims_table_is_in_the_report(ci_run, tmp_path):
    report = tmp_path / "report.html"
    snakemake(ci_run, "--report", str(report), "--configfile", "config/ci.yaml")
    html = report.read_text()
    results = json.loads(re.search(r"^\s*var results = (\{.*\});?\s*$", html, re.M)[1])
    entry = results["results/claims.md"]
    assert entry["job_properties"]["rule"] == "claims"
    assert '"Claims"' in html  # the report's category
    data = base64.b64decode(entry["data_uri"].split("base64,", 1)[1])
    assert data == (ci_run / "results/claims.md").read_bytes()


def test_asking_for_the_claims_builds_their_inputs_and_no_figure(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    jobs = planned_jobs(snakemake(wd, "-n", "results/claims.md", "--configfile", "config/ci.yaml"))
    assert {"claims", "train", "attack", "uncertainty", "toy2d", "words", "ifa",
            "frequency"} <= set(jobs)
    assert not [j for j in jobs if j.startswith("fig") or j == "attack_examples"], jobs
