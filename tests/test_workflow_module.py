"""The workflow as a Snakemake module (issue 18): another directory's Snakefile says
``module upnn: snakefile: <this repo>/Snakefile`` and ``use rule * from upnn``; nothing of the
repository is copied there. Shipped files (config schema, the Fashion-MNIST subset,
data/words.csv) are found from the workflow's own files, rule scripts import the installed upnn."""

from __future__ import annotations

import shutil
import subprocess

from conftest import ROOT, SNAKEMAKE, planned_jobs

from upnn import io

MODULE_SNAKEFILE = f'''\
configfile: "config.yaml"


module upnn:
    snakefile:
        "{ROOT / "Snakefile"}"
    config:
        config


use rule * from upnn as upnn_*
'''


def deploy(tmp_path):
    wd = tmp_path / "user_workflow"
    wd.mkdir()
    (wd / "Snakefile").write_text(MODULE_SNAKEFILE)
    shutil.copy(ROOT / "config" / "config.yaml", wd / "config.yaml")
    return wd


def test_the_offline_default_dry_runs_as_a_module_from_another_directory(tmp_path):
    wd = deploy(tmp_path)
    proc = subprocess.run([SNAKEMAKE, "-n", "--cores", "1"], cwd=wd, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    jobs = planned_jobs(proc)
    # the module's rules under their prefixed names: every stage of the offline default
    for rule in ("prepare_dataset", "train", "attack", "words", "toy2d", "claims", "all"):
        assert jobs.get(f"upnn_{rule}", 0) >= 1, (rule, jobs)
    assert not (wd / "results").exists()


def test_a_module_job_runs_with_the_shipped_data_and_the_installed_upnn(tmp_path):
    """prepare_dataset reads the Fashion-MNIST subset shipped in the repository (not in ``wd``)
    and writes a table with the provenance of this checkout."""
    wd = deploy(tmp_path)
    target = "results/data/mnist/test.parquet"
    proc = subprocess.run([SNAKEMAKE, "--cores", "1", target], cwd=wd, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    prov = io.read_provenance(wd / target)
    assert prov["version"] and prov["params_hash"] and prov["device"] == "none"
    assert prov["commit"] is None if io.git_commit() is None else len(prov["commit"]) == 40


def test_rules_that_only_read_tables_are_local():
    """Figures, claims and the summary never go through a cluster queue (localrule)."""

    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, ResourceSettings

    with SnakemakeApi() as api:
        wf = api.workflow(snakefile=ROOT / "Snakefile", workdir=ROOT,
                          resource_settings=ResourceSettings(cores=1),
                          config_settings=ConfigSettings(configfiles=[ROOT / "config" / "ci.yaml"]))
        workflow = wf._workflow
        names = {r.name for r in workflow.rules}
        local = set(workflow._localrules)
    table_only = {n for n in names if n.startswith("figure_")} | {"claims", "summary"} & names
    assert {"figure_fig1", "figure_fig5", "claims"} <= table_only
    assert table_only <= local, sorted(table_only - local)
    assert not {"train", "attack", "uncertainty"} & local
