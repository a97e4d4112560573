# Helpers of the IFA stage (rules/ifa.smk, rules/pix2pix.smk, rules/frequency.smk): which
# (dataset, model, seed, N_epoch) runs exist and what each rule's params are.


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
