"""Fig. 6 (arXiv 2205.01493 v3): test accuracy (TA) and robust accuracy (RA) of the classifier
alone (CL, solid) and of the combined classifier TCL(x) = CL(x + G(x)) (dashed) against the epoch
N_epoch at which the classifier that made the IFA targets was taken. One panel per
(dataset, model): the papers' "Conv" (cnn4) and "Res" (resnet9). Several seeds: the mean and a
95 % t band over seeds; one seed: the 95 % Wilson band over the ``n_test`` test images
(:mod:`upnn.figures.bands`). The suptitle says which."""

from __future__ import annotations

import pandas as pd
from matplotlib import pyplot as plt
from matplotlib.lines import Line2D

from upnn.figures import bands, style

COLUMNS = ("dataset", "model", "seed", "n_epoch", "net", "accuracy", "robust_accuracy")
# The papers' names for the networks.
LABELS = {"cnn3": "CNN3", "cnn4": "Conv", "resnet9": "Res", "googlenet": "GoogLeNet"}
METRICS = {"accuracy": ("TA", "#1f77b4"), "robust_accuracy": ("RA", "#d62728")}
NETS = {"CL": "-", "TCL": "--"}


def check_columns(table: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = set(columns) - set(table.columns)
    if missing:
        raise ValueError(f"{what} lacks columns {sorted(missing)}; needs {', '.join(columns)}")


def panel_title(dataset: str, model: str) -> str:
    return f"{LABELS.get(model, model)} ({model}) / {dataset}"


def panels_grid(n: int, height: float = 1.8) -> tuple[plt.Figure, list[plt.Axes]]:
    """Up to 3 panels a row, the unused ones hidden."""
    ncols = min(3, max(n, 1))
    nrows = -(-max(n, 1) // ncols)
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, sharey=True,
                             figsize=(min(style.PAGE, 2.2 * ncols + 0.4), height * nrows + 0.6))
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def draw(summary: pd.DataFrame) -> plt.Figure:
    """``summary``: ``results/ifa/summary.parquet`` (columns :data:`COLUMNS`)."""
    check_columns(summary, COLUMNS, "IFA summary table")
    style.setup()
    panels = list(dict.fromkeys(zip(summary["dataset"], summary["model"], strict=True)))
    fig, axes = panels_grid(len(panels))
    notes: set[str] = set()
    for i, (ax, (dataset, model)) in enumerate(zip(axes, panels, strict=True)):
        sub = summary[(summary["dataset"] == dataset) & (summary["model"] == model)]
        for net, ls in NETS.items():
            rows = sub[sub["net"] == net]
            if rows.empty:
                continue
            for metric, (name, color) in METRICS.items():
                b = bands.interval_table(rows, "n_epoch", metric, "n_test")
                ax.plot(b.index, b["mean"], ls=ls, color=color, marker="o", ms=3,
                        label=f"{name} {net}")
                bands.fill(ax, b, color)
                notes |= bands.notes(b)
        epochs = sorted(sub["n_epoch"].unique())
        if len(epochs) > 1 and epochs[-1] / epochs[0] >= 10:
            ax.set_xscale("log")
        ax.set_xticks(epochs, [str(e) for e in epochs])
        ax.minorticks_off()
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(panel_title(dataset, model))
        ax.set_xlabel(r"$N_\mathrm{epoch}$")
        if i % 3 == 0:
            ax.set_ylabel("accuracy on the test set")
        ax.grid(True, lw=0.3, alpha=0.5)
    handles = [Line2D([], [], color=c, label=n) for n, c in METRICS.values()]
    handles += [Line2D([], [], color="black", ls=ls, label=net) for net, ls in NETS.items()]
    fig.legend(handles=handles, loc="outside lower center", ncol=4, frameon=False)
    bands.footnote(fig, notes)
    return fig
