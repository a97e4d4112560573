# Companion paper ("Quantum-Inspired Analysis of Neural Network Vulnerabilities"), Figs. 1-2:
# per-epoch neural-packet spreads ΔX, ΔP with TA and RA at pixel and feature level, and the t-SNE
# view of clean and attacked features. docs/uncertainty.md describes the tables.

UNC = config["uncertainty"]
UNC_LEVELS = list(UNC["levels"])
UNC_RUNS = [(d, m, s) for d, m, s in RUNS if m in UNC["models"] and d in UNC["datasets"]]
UNC_TSNE = UNC["tsne"]
UNC_TSNE_SEED = config["seeds"][0]


def checked_epochs(epochs, total, key, model):
    """The evaluated epochs: "all" → 1..total; a list must lie in 1..total."""
    if epochs == "all":
        return list(range(1, total + 1))
    bad = [e for e in epochs if e > total]
    if bad:
        sys.exit(f"upnn: config: {key} = {bad} exceed the {total} trained epochs of {model}; "
                 f"allowed: 1..{total}")
    return sorted(set(epochs))


def uncertainty_settings(wildcards):
    """Everything one (run, level) job depends on: a change reruns only the jobs it touches."""
    ds = UNC["datasets"][wildcards.dataset]
    classes = ds["classes"]
    settings = {
        "epochs": checked_epochs(UNC["epochs"], upnn_config.epochs(config, wildcards.model),
                                 "uncertainty.epochs", wildcards.model),
        "classes": list(range(10)) if classes == "all" else sorted(set(classes)),
        "method": UNC["method"],
        "n_dims": UNC["n_dims"],
        "n_points": UNC["n_points"],
        "attack": {k: ds[k] for k in ("eps", "alpha", "steps")},
    }
    if wildcards.level == "feature":
        settings["head"] = UNC["head"]
    return canonical(settings)


def tsne_settings(wildcards):
    settings = {k: v for k, v in UNC_TSNE.items() if k not in ("dataset", "model")}
    final = upnn_config.epochs(config, wildcards.model)
    return canonical({**settings, "epochs": UNC_TSNE_EPOCHS, "final": final})


def uncertainty_summaries():
    return [f"results/uncertainty/{d}/{m}/seed{s}/{level}_summary.parquet"
            for d, m, s in UNC_RUNS for level in UNC_LEVELS]


# Checked when the workflow is read, so a bad epoch list fails at once with one line.
for _model in sorted({m for _, m, _ in UNC_RUNS}):
    checked_epochs(UNC["epochs"], upnn_config.epochs(config, _model), "uncertainty.epochs", _model)
UNC_TSNE_EPOCHS = checked_epochs(UNC_TSNE["epochs"], upnn_config.epochs(config, UNC_TSNE["model"]),
                                 "uncertainty.tsne.epochs", UNC_TSNE["model"])

if (UNC_TSNE["dataset"], UNC_TSNE["model"], UNC_TSNE_SEED) not in RUNS:
    sys.exit(f"upnn: config: uncertainty.tsne = {UNC_TSNE['dataset']}/{UNC_TSNE['model']} "
             f"is not trained; allowed: {', '.join(sorted({f'{d}/{m}' for d, m, _ in RUNS}))}")

if UNC_RUNS:
    TARGETS.extend(["results/figures/conjugate_uncertainty.pdf",
                    "results/figures/conjugate_uncertainty.png"])
TARGETS.extend(["results/figures/conjugate_tsne.pdf", "results/figures/conjugate_tsne.png"])


rule uncertainty:
    input:
        train="results/data/{dataset}/train.parquet",
        test="results/data/{dataset}/test.parquet",
        table="results/train/{dataset}/{model}/seed{seed}.parquet",
        checkpoints="results/checkpoints/{dataset}/{model}/seed{seed}",
    output:
        packets="results/uncertainty/{dataset}/{model}/seed{seed}/{level}.parquet",
        summary="results/uncertainty/{dataset}/{model}/seed{seed}/{level}_summary.parquet",
    wildcard_constraints:
        level="pixel|feature",
    params:
        settings=uncertainty_settings,
    log:
        "logs/uncertainty/{dataset}/{model}/seed{seed}/{level}.log",
    benchmark:
        "benchmarks/uncertainty/{dataset}/{model}/seed{seed}/{level}.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=GPU,
    conda:
        "../envs/upnn.yaml"
    script:
        "../scripts/uncertainty.py"


rule conjugate_tsne_maps:
    input:
        test="results/data/{dataset}/test.parquet",
        table="results/train/{dataset}/{model}/seed{seed}.parquet",
        checkpoints="results/checkpoints/{dataset}/{model}/seed{seed}",
    output:
        points="results/uncertainty/{dataset}/{model}/seed{seed}/tsne_points.parquet",
        grid="results/uncertainty/{dataset}/{model}/seed{seed}/tsne_grid.parquet",
    params:
        settings=tsne_settings,
    log:
        "logs/uncertainty/{dataset}/{model}/seed{seed}/tsne.log",
    benchmark:
        "benchmarks/uncertainty/{dataset}/{model}/seed{seed}/tsne.tsv"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=GPU,
    conda:
        "../envs/upnn.yaml"
    script:
        "../scripts/conjugate_tsne_maps.py"


rule fig_conjugate_uncertainty:
    input:
        summaries=uncertainty_summaries(),
    output:
        pdf=report(
            "results/figures/conjugate_uncertainty.pdf",
            caption="../report/conjugate_uncertainty.rst",
            category="Uncertainty principle",
        ),
        png="results/figures/conjugate_uncertainty.png",
    log:
        "logs/uncertainty/fig_conjugate_uncertainty.log",
    benchmark:
        "benchmarks/uncertainty/fig_conjugate_uncertainty.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/upnn.yaml"
    script:
        "../scripts/fig_conjugate_uncertainty.py"


rule fig_conjugate_tsne:
    input:
        points=f"results/uncertainty/{UNC_TSNE['dataset']}/{UNC_TSNE['model']}/seed{UNC_TSNE_SEED}/tsne_points.parquet",
        grid=f"results/uncertainty/{UNC_TSNE['dataset']}/{UNC_TSNE['model']}/seed{UNC_TSNE_SEED}/tsne_grid.parquet",
    output:
        pdf=report(
            "results/figures/conjugate_tsne.pdf",
            caption="../report/conjugate_tsne.rst",
            category="Uncertainty principle",
        ),
        png="results/figures/conjugate_tsne.png",
    log:
        "logs/uncertainty/fig_conjugate_tsne.log",
    benchmark:
        "benchmarks/uncertainty/fig_conjugate_tsne.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/upnn.yaml"
    script:
        "../scripts/fig_conjugate_tsne.py"
