# Helpers of the uncertainty stage (rules/uncertainty.smk): which runs it covers, the
# evaluated epochs (upnn.config.epoch_list; upnn.config.check refuses untrained ones when the
# workflow is read) and each rule's params.


UNC = config["uncertainty"]
UNC_LEVELS = list(UNC["levels"])
UNC_RUNS = [(d, m, s) for d, m, s in RUNS if m in UNC["models"] and d in UNC["datasets"]]
UNC_TSNE = UNC["tsne"]
UNC_TSNE_SEED = upnn_config.first_seed(config, UNC_TSNE["model"])


def uncertainty_settings(wildcards):
    """Everything one run's job (all levels) depends on: a change reruns only what it touches."""
    ds = UNC["datasets"][wildcards.dataset]
    classes = ds["classes"]
    settings = {
        "epochs": upnn_config.epoch_list(
            UNC["epochs"], upnn_config.epochs(config, wildcards.model), "uncertainty.epochs", wildcards.model
        ),
        "classes": list(range(10)) if classes == "all" else sorted(set(classes)),
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

if UNC_RUNS:
    TARGETS.extend(["results/figures/conjugate_uncertainty.pdf", "results/figures/conjugate_uncertainty.png"])
TARGETS.extend(["results/figures/conjugate_tsne.pdf", "results/figures/conjugate_tsne.png"])
