"""Fig. 7 (arXiv 2205.01493 v3): high-frequency ratio of the one-step IFA perturbation Δ₁ on the
test set against the classifier's test accuracy, one marker set per network (a point per training
epoch, labelled with the epoch, joined in epoch order), vertical error bars = the ratio's standard
deviation over the images, horizontal error bars = the 95 % interval of the test accuracy: a t
interval over seeds where the table has several, else the Wilson interval over its ``n_images``
test images (:mod:`upnn.figures.bands`; the suptitle says which). One panel per dataset."""

from __future__ import annotations

import pandas as pd
from matplotlib import pyplot as plt

from upnn.figures import bands, style
from upnn.figures.ifa_pix2pix import LABELS, check_columns, panels_grid

COLUMNS = ("dataset", "model", "seed", "epoch", "test_acc", "hf_ratio_mean", "hf_ratio_std")
MARKERS = {"cnn3": "^", "cnn4": "o", "resnet9": "s", "googlenet": "D"}
COLORS = {"cnn3": "#8c564b", "cnn4": "#1f77b4", "resnet9": "#d62728", "googlenet": "#2ca02c"}


def draw(table: pd.DataFrame) -> plt.Figure:
    """``table``: the ``results/frequency/{dataset}.parquet`` tables, concatenated."""
    check_columns(table, COLUMNS, "frequency table")
    style.setup()
    datasets = list(dict.fromkeys(table["dataset"]))
    fig, axes = panels_grid(len(datasets), height=2.2)
    notes: set[str] = set()
    for i, (ax, dataset) in enumerate(zip(axes, datasets, strict=True)):
        sub = table[table["dataset"] == dataset]
        for model, rows in sub.groupby("model", sort=False):
            mean = rows.groupby("epoch")[["hf_ratio_mean", "hf_ratio_std"]].mean()
            ta = bands.interval_table(rows, "epoch", "test_acc", "n_images")
            mean["test_acc"] = ta["mean"]
            notes |= bands.notes(ta, kind="TA error bar")
            color = COLORS.get(model, "#555555")
            ax.errorbar(mean["test_acc"], mean["hf_ratio_mean"], yerr=mean["hf_ratio_std"],
                        xerr=bands.errors(ta), color=color, marker=MARKERS.get(model, "x"),
                        ms=3.5, lw=0.6,
                        elinewidth=0.5, capsize=1.2, label=f"{LABELS.get(model, model)} ({model})")
            for epoch, r in mean.iterrows():
                ax.annotate(str(epoch), (r["test_acc"], r["hf_ratio_mean"]), fontsize=5,
                            xytext=(2, 2), textcoords="offset points", color=color)
        ax.set_title(dataset)
        ax.set_xlabel("test accuracy")
        if i % 3 == 0:
            ax.set_ylabel(r"high-frequency ratio of $\Delta_1$")
        ax.grid(True, lw=0.3, alpha=0.5)
        ax.legend(loc="best", frameon=False)
    bands.footnote(fig, notes)
    return fig
