"""`snakemake --report`: the HTML report of the ci run holds every figure with its caption."""

from __future__ import annotations

import base64
import json
import re

from conftest import snakemake


def test_report_holds_every_figure_with_a_caption(ci_run, tmp_path):
    report = tmp_path / "report.html"
    snakemake(ci_run, "--report", str(report), "--configfile", "config/ci.yaml")
    html = report.read_text()
    m = re.search(r"^\s*var results = (\{.*\});?\s*$", html, re.M)
    assert m, "no results block in the report"
    results = json.loads(m[1])
    figures = sorted(p.relative_to(ci_run).as_posix()
                     for p in (ci_run / "results/figures").glob("*.pdf"))
    assert figures, "the ci run built no figure"
    assert set(figures) <= set(results), sorted(set(figures) - set(results))
    for path, entry in results.items():
        assert re.search(r"Fig\.?\s*\d", entry["caption"]), (path, entry["caption"])
        data = entry["data_uri"].split("base64,", 1)[1]
        assert base64.b64decode(data) == (ci_run / path).read_bytes(), path
