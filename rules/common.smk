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
from upnn import rates as upnn_rates  # noqa: E402
from upnn import schedule as upnn_schedule  # noqa: E402
from upnn import external as upnn_external  # noqa: E402

# GPU jobs never share one GPU by accident: on a machine with a GPU, at most one GPU job runs at a
# time unless the command or profile gives `--resources gpu=N` (profiles/slurm does: there the
# limit counts the cluster's GPUs). Every job uses the first GPU it sees (upnn.schedule.gpu_limit).
_GPU_LIMIT = upnn_schedule.gpu_limit(workflow.resource_settings.resources, upnn_schedule.local_gpus())
if _GPU_LIMIT is not None:
    workflow.global_resources["gpu"] = _GPU_LIMIT
    print(f"upnn: gpu={_GPU_LIMIT}: one GPU job at a time on this machine", file=sys.stderr)

# The work planner (upnn.plan, docs/gpu.md): each job's SLURM runtime and memory from its counted
# work and a rates file (config/rates/; $UPNN_RATES overrides), with a safety factor.
PLAN_RATES = upnn_rates.default_rates(config, WORKFLOW_DIR)


def planned(rule, what="runtime", fallback=60):
    """A resource callable: the planner's ``runtime`` (minutes: 3 × the estimate + 5, doubled
    per retry) or ``mem_mb`` of this rule's job at its threads; ``fallback`` where the planner
    fails. Computed once per job and process, when Snakemake first asks."""

    def resource(wildcards, threads, attempt):
        return upnn_plan.planned_resource(
            config, PLAN_RATES, rule, dict(wildcards.items()), what, attempt, fallback, threads
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


# Nets trained here, and nets whose checkpoints a researcher already has (upnn.external): each
# model name is made by exactly one of rule train and rule import_checkpoints.
_IMPORTED = sorted({m for _, m, _ in upnn_config.imported_runs(config)})
TRAINED_MODELS = "|".join(m for m in MODELS if m not in _IMPORTED) or "(?!)"
IMPORTED_MODELS = "|".join(_IMPORTED) or "(?!)"
for _d, _m, _s in upnn_config.imported_runs(config):  # one line before any job, not a traceback
    try:
        upnn_external.epoch_files(config["models"][_m]["checkpoints"], upnn_config.epochs(config, _m), _s)
    except upnn_external.ExternalCheckpointError as err:
        sys.exit(f"upnn: config: models.{_m}.{err}")


def imported_files(wildcards):
    """The checkpoint files a researcher's run brings (their change reruns the import)."""
    spec = config["models"][wildcards.model]
    files = upnn_external.epoch_files(
        spec["checkpoints"], upnn_config.epochs(config, wildcards.model), int(wildcards.seed)
    )
    return [str(f) for f in files.values()]


def train_tables():
    return [f"results/train/{d}/{m}/seed{s}.parquet" for d, m, s in RUNS]


ATTACK_JOBS = upnn_config.attack_jobs(config)


def attack_params(wildcards):
    """Everything an attack table depends on (and nothing else), sorted for stable reruns."""
    a = config["attacks"]
    return canonical(
        {
            "specs": upnn_config.attack_specs(config, wildcards.model, wildcards.seed),
            "eps": upnn_config.attack_eps(config, wildcards.dataset, wildcards.level),
            **(
                {"extra_eps_epochs": a["extra_eps_epochs"]}
                if a.get("extra_eps_epochs", "all") != "all"
                else {}
            ),
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


# ------------------------------------------------------------------------------ attack figures
# v4 Fig. 1: one net's examples under one attack (figures.fig1), from its first seed.
FIG1 = config["figures"]["fig1"]
FIG1_SEED = upnn_config.first_seed(config, FIG1["model"])


# ------------------------------------------------------------------------------ IFA, Pix2Pix, frequency
# Which (dataset, model, seed, N_epoch) runs exist and what each rule's params are
# (rules/ifa.smk, rules/pix2pix.smk, rules/frequency.smk).

IFA = config.get("ifa")


def stage_epochs(block, model):
    """``<block>.epochs`` for ``model`` (upnn.config.epoch_list: every one is trained, which
    upnn.config.check made sure of when the workflow was read)."""
    return upnn_config.epoch_list(
        config[block]["epochs"], upnn_config.epochs(config, model), f"{block}.epochs", model
    )


def ifa_runs():
    """(dataset, model, seed, N_epoch) of every IFA target (upnn.config.ifa_runs)."""
    return upnn_config.ifa_runs(config)


# One table kind per results folder (pandas.read_parquet of any folder reads one schema):
# IFA_DIR holds the train/test Δ_N tables, the trajectories and Pix2Pix losses have their own.
IFA_DIR = "results/ifa/{dataset}/{model}/seed{seed}/epoch{epoch}"
IFA_TRAJECTORY = "results/ifa_trajectory/{dataset}/{model}/seed{seed}/epoch{epoch}.parquet"
PIX2PIX_DIR = "results/pix2pix/{dataset}/{model}/seed{seed}/epoch{epoch}"
PIX2PIX_TABLE = "results/pix2pix_losses/{dataset}/{model}/seed{seed}/epoch{epoch}.parquet"


def ifa_paths(pattern):
    return [pattern.format(dataset=d, model=m, seed=s, epoch=e) for d, m, s, e in ifa_runs()]


def ifa_settings(wildcards):
    """What Δ_N and the trajectory depend on (not the Pix2Pix or TCL-only settings)."""
    keep = ("eps", "steps", "clip", "trajectory", "attack_eps", "limit_train", "limit_test", "batch_size")
    return canonical({k: IFA[k] for k in keep})


FREQUENCY = config.get("frequency")


def frequency_runs(dataset):
    """[{model, seed, epochs}] of ``dataset``: the trained runs of ``frequency.models`` with
    the configured epochs (``frequency.epochs``)."""
    if not FREQUENCY:
        return []
    runs = []
    for d, m, s in RUNS:
        if d == dataset and m in FREQUENCY["models"]:
            runs.append({"model": m, "seed": s, "epochs": stage_epochs("frequency", m)})
    return runs


def frequency_datasets():
    return [d for d in DATASETS if frequency_runs(d)]


def frequency_inputs(kind):
    """The training outputs the frequency runs need, in the order of the rule's ``runs`` param."""
    pattern = {
        "checkpoints": "results/checkpoints/{d}/{m}/seed{s}",
        "tables": "results/train/{d}/{m}/seed{s}.parquet",
    }[kind]
    return [
        pattern.format(d=d, m=r["model"], s=r["seed"])
        for d in frequency_datasets()
        for r in frequency_runs(d)
    ]


IFA_RUNS = ifa_runs()
FREQUENCY_DATASETS = frequency_datasets()


# ------------------------------------------------------------------------------ uncertainty
# Which runs the uncertainty stage covers (rules/uncertainty.smk), its evaluated epochs
# (upnn.config.epoch_list; upnn.config.check refuses untrained ones when the workflow is read)
# and each rule's params.
UNC = config["uncertainty"]
UNC_LEVELS = list(UNC["levels"])
UNC_RUNS = [(d, m, s) for d, m, s in RUNS if m in UNC["models"] and d in UNC["datasets"]]
UNC_TSNE = UNC["tsne"]
UNC_TSNE_SEED = upnn_config.first_seed(config, UNC_TSNE["model"])


def uncertainty_settings(wildcards):
    """Everything one run's job (all levels) depends on: a change reruns only what it touches."""
    ds = UNC["datasets"][wildcards.dataset]
    classes = ds["classes"]  # "all": every class of the data (upnn.uncertainty.packet_classes)
    settings = {
        "epochs": upnn_config.epoch_list(
            UNC["epochs"], upnn_config.epochs(config, wildcards.model), "uncertainty.epochs", wildcards.model
        ),
        "classes": classes if classes == "all" else sorted(set(classes)),
        "method": UNC["method"],
        "n_dims": UNC["n_dims"],
        "n_points": UNC["n_points"],
        "n_test": UNC["n_test"],
        "radius": UNC.get("radius"),
        "attack": {k: ds[k] for k in ("eps", "alpha", "steps")},
        "levels": UNC_LEVELS,
    }
    if "feature" in UNC_LEVELS:
        settings["head"] = UNC["head"]
    return canonical(settings)


def tsne_settings(wildcards):
    settings = {k: v for k, v in UNC_TSNE.items() if k not in ("dataset", "model")}
    final = upnn_config.epochs(config, wildcards.model)
    return canonical({**settings, "epochs": UNC_TSNE_EPOCHS, "final": final})


def uncertainty_summaries():
    return [
        f"results/uncertainty_summary/{d}/{m}/seed{s}/{level}.parquet"
        for d, m, s in UNC_RUNS
        for level in UNC_LEVELS
    ]


UNC_TSNE_EPOCHS = upnn_config.epoch_list(
    UNC_TSNE["epochs"],
    upnn_config.epochs(config, UNC_TSNE["model"]),
    "uncertainty.tsne.epochs",
    UNC_TSNE["model"],
)

if (UNC_TSNE["dataset"], UNC_TSNE["model"], UNC_TSNE_SEED) not in RUNS:
    sys.exit(
        f"upnn: config: uncertainty.tsne = {UNC_TSNE['dataset']}/{UNC_TSNE['model']} "
        f"is not trained; allowed: {', '.join(sorted({f'{d}/{m}' for d, m, _ in RUNS}))}"
    )


# ------------------------------------------------------------------------------ LLM (v4 Fig. 3)
LLM = config.get("llm") or {}
if LLM:
    LLM_SLUG = upnn_config.llm_slug(LLM["model"])
    LLM_TABLE = f"results/llm/{LLM_SLUG}.parquet"


# ------------------------------------------------------------------------------ claims
def claims_inputs():
    """The tables each stage's claims read; a stage the config does not run has none."""
    inputs = {"attacks": attack_tables("pixel") + attack_tables("feature")}
    inputs["toy2d"] = ["results/toy2d/metrics.parquet"] if "toy2d" in config else []
    inputs["words"] = ["results/words/similarity.parquet"] if "words" in config else []
    inputs["ifa"] = ifa_paths(IFA_TRAJECTORY) if IFA_RUNS else []
    inputs["ifa_summary"] = ["results/ifa_summary.parquet"] if IFA_RUNS else []
    inputs["frequency"] = expand("results/frequency/{dataset}.parquet", dataset=FREQUENCY_DATASETS)
    inputs["uncertainty"] = [
        f"results/uncertainty/{d}/{m}/seed{s}/{level}.parquet" for d, m, s in UNC_RUNS for level in UNC_LEVELS
    ]
    inputs["uncertainty_summary"] = [
        f"results/uncertainty_summary/{d}/{m}/seed{s}/{level}.parquet"
        for d, m, s in UNC_RUNS
        for level in UNC_LEVELS
    ]
    inputs["tsne"] = [
        f"results/tsne_points/{UNC_TSNE['dataset']}/{UNC_TSNE['model']}/" f"seed{UNC_TSNE_SEED}.parquet"
    ]
    inputs["llm"] = [LLM_TABLE] if LLM and LLM["enabled"] else []
    inputs["minimal"] = minimal_tables()
    return inputs


# ------------------------------------------------------------------------------ final targets
def figure(name):
    return [f"results/figures/{name}.pdf", f"results/figures/{name}.png"]


def final_targets():
    """The default target's inputs: every figure of the stages the config runs, the claims
    table and its forest plot, and the summary CSV."""
    targets = figure("fig1") + figure("fig2")
    if attack_tables("feature"):
        targets += figure("fig5")
    if MINIMAL_JOBS:
        targets += figure("robustness_eps")
    if LLM and LLM["enabled"]:
        targets += figure("fig3")
    if IFA_RUNS:
        targets += figure("ifa_pix2pix") + figure("ifa_training")
    if FREQUENCY_DATASETS:
        targets += figure("ifa_frequency")
    if UNC_RUNS:
        targets += figure("conjugate_uncertainty")
    targets += figure("conjugate_tsne")
    if "toy2d" in config:
        targets += figure("fig4")
    if "words" in config:
        targets += figure("fig6")
    targets += ["results/claims.parquet", "results/claims.md"] + figure("claims")
    return targets + ["results/summary.csv"]
