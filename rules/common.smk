import os
import sys
from pathlib import Path

# The workflow's own files (schema, shipped data) are found from this file's directory
# (workflow.current_basedir), never from the working directory or workflow.basedir (the
# *using* workflow's), so it runs unchanged as a Snakemake module from another directory.
# upnn is the installed package (make install: this checkout, editable); only a checkout with no
# upnn installed at all falls back to its src/ (scripts/_src.py does the same for rule scripts).
WORKFLOW_DIR = Path(str(workflow.current_basedir)).parent  # this file's dir is rules/
try:
    import upnn
except ImportError:
    sys.path.insert(0, str(WORKFLOW_DIR / "src"))

from upnn import config as upnn_config  # noqa: E402

# --configfile FILE: a file holding only what it changes is layered over the default; a full
# config (paper.yaml) stands alone; blocks naming datasets or nets are replaced, not merged
# (upnn.config.layered, README "Configs").
if workflow.overwrite_configfiles:
    _layered = upnn_config.layered(
        WORKFLOW_DIR / "config" / "config.yaml",
        list(workflow.overwrite_configfiles),
        dict(workflow.config_settings.config),
    )
    config.clear()
    config.update(_layered)

SCHEMA = upnn_config.load_yaml(WORKFLOW_DIR / "config" / "schema.yaml")
# One validation: the schema (with the attack names from upnn.attacks.REGISTRY), then the
# cross-field rules, each failure as one line.
try:
    upnn_config.check(upnn_config.normalize(config), SCHEMA)
except upnn_config.ConfigError as err:
    sys.exit(f"upnn: {err}")

RUNS = upnn_config.runs(config)
DATASETS = list(config["experiments"])
MODELS = sorted({m for _, m, _ in RUNS})
# Rules that train or attack ask the scheduler for a GPU unless the config pins the CPU.
GPU = 0 if config["device"] == "cpu" else 1

from upnn import plan as upnn_plan  # noqa: E402

# GPU jobs never share one GPU by accident: on a machine with a GPU, at most one GPU job runs at a
# time unless the command or profile gives `--resources gpu=N` (profiles/slurm does: there the
# limit counts the cluster's GPUs). Every job uses the first GPU it sees (upnn.plan.gpu_limit).
_GPU_LIMIT = upnn_plan.gpu_limit(workflow.resource_settings.resources, upnn_plan.local_gpus())
if _GPU_LIMIT is not None:
    workflow.global_resources["gpu"] = _GPU_LIMIT
    print(f"upnn: gpu={_GPU_LIMIT}: one GPU job at a time on this machine", file=sys.stderr)

# The work planner (upnn.plan, docs/gpu.md): each job's SLURM runtime and memory from its counted
# work and a rates file (config/rates/; $UPNN_RATES overrides), with a safety factor.
PLAN_RATES = upnn_plan.default_rates(config, WORKFLOW_DIR)


def planned(rule, what="runtime", fallback=60):
    """A resource callable: the planner's ``runtime`` (minutes: 3 × the estimate + 5, doubled
    per retry) or ``mem_mb`` of this rule's job; ``fallback`` where the planner knows no such
    job. Computed once per process, when Snakemake first asks."""

    def resource(wildcards, attempt):
        return upnn_plan.planned_resource(
            config, PLAN_RATES, rule, dict(wildcards.items()), what, attempt, fallback
        )

    return resource


wildcard_constraints:
    dataset="|".join(config["datasets"]),
    model="|".join(MODELS),
    seed=r"\d+",
    source="mnist|fashion_mnist|cifar10",


def canonical(d):
    """A dict with sorted keys, so a params change is a change of value, not of key order."""
    return {k: canonical(v) if isinstance(v, dict) else v for k, v in sorted(d.items())}


def dataset_spec(wildcards):
    return canonical(config["datasets"][wildcards.dataset])


def download_input(wildcards):
    """Datasets from torchvision need the download marker; `digits` ships with scikit-learn and
    the MNIST and Fashion-MNIST subsets with this repository (their files are the input)."""
    source = dataset_spec(wildcards)["source"]
    if source in upnn_config.SHIPPED_SUBSETS:
        folder = WORKFLOW_DIR / upnn_config.SHIPPED_SUBSETS[source]
        return sorted(str(p) for p in folder.glob("*.gz"))
    if source in upnn_config.OFFLINE_SOURCES:
        return []
    return f"{config['data_root']}/{source}.downloaded"


def train_tables():
    return [f"results/train/{d}/{m}/seed{s}.parquet" for d, m, s in RUNS]


ATTACK_JOBS = upnn_config.attack_jobs(config)


def attack_params(wildcards):
    """Everything an attack table depends on (and nothing else), sorted for stable reruns."""
    a = config["attacks"]
    return canonical(
        {
            "specs": upnn_config.attack_specs(config),
            "eps": upnn_config.attack_eps(config, wildcards.dataset, wildcards.level),
            "n_test": a["n_test"],
            "subset_seed": a["subset_seed"],
            "batch_size": a["batch_size"],
        }
    )


MINIMAL_JOBS = upnn_config.minimal_jobs(config)


def minimal_params(wildcards):
    """Everything a minimal-amplitude table depends on."""
    m, a = config["minimal"], config["attacks"]
    return canonical(
        {
            **{k: v for k, v in m.items() if k not in ("models", "max_eps")},
            "max_eps": m["max_eps"][wildcards.dataset],
            "n_test": a["n_test"],
            "subset_seed": a["subset_seed"],
        }
    )


def minimal_tables():
    return [f"results/minimal/{d}/{m}/seed{s}.parquet" for d, m, s in MINIMAL_JOBS]


def attack_tables(level):
    return [f"results/attacks/{d}/{m}/seed{s}/{lv}.parquet" for d, m, s, lv in ATTACK_JOBS if lv == level]


# Each stage's .smk appends the figures (PDF and PNG) it builds; `rule all` asks for all of them.
TARGETS = []
