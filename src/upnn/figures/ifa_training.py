"""Fig. 3 (arXiv 2205.01493 v3): training-set accuracy (TA, solid) and robust accuracy (RA,
dashed) along the IFA trajectory X_0, X_1, ..., X_N against the iteration n (symlog axis), one
colour per N_epoch of the classifier, one panel per (dataset, model). Several seeds: the mean."""

from __future__ import annotations

import pandas as pd
from matplotlib import pyplot as plt
from matplotlib.lines import Line2D

from upnn.figures import style
from upnn.figures.ifa_pix2pix import check_columns, panel_title, panels_grid

COLUMNS = ("dataset", "model", "seed", "n_epoch", "iteration", "accuracy", "robust_accuracy")


def draw(trajectory: pd.DataFrame) -> plt.Figure:
    """``trajectory``: the ``trajectory.parquet`` tables of the IFA stage, concatenated."""
    check_columns(trajectory, COLUMNS, "IFA trajectory table")
    style.setup()
    panels = list(dict.fromkeys(zip(trajectory["dataset"], trajectory["model"], strict=True)))
    epochs = sorted(trajectory["n_epoch"].unique())
    cmap = plt.get_cmap("viridis")
    colors = {e: cmap(0.85 * i / max(len(epochs) - 1, 1)) for i, e in enumerate(epochs)}
    fig, axes = panels_grid(len(panels))
    for i, (ax, (dataset, model)) in enumerate(zip(axes, panels, strict=True)):
        sub = trajectory[(trajectory["dataset"] == dataset) & (trajectory["model"] == model)]
        mean = sub.groupby(["n_epoch", "iteration"])[["accuracy", "robust_accuracy"]].mean()
        for e, rows in mean.reset_index().groupby("n_epoch"):
            ax.plot(rows["iteration"], rows["accuracy"], color=colors[e], marker="o", ms=2.5,
                    label=f"TA, N_epoch={e}")
            ax.plot(rows["iteration"], rows["robust_accuracy"], color=colors[e], ls="--",
                    marker="s", ms=2.5, label=f"RA, N_epoch={e}")
        ax.set_xscale("symlog", linthresh=1)
        its = sorted(sub["iteration"].unique())
        ax.set_xticks(its, [str(n) for n in its])
        ax.minorticks_off()
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(panel_title(dataset, model))
        ax.set_xlabel("IFA iteration n")
        if i % 3 == 0:
            ax.set_ylabel("accuracy on the training set")
        ax.grid(True, lw=0.3, alpha=0.5)
    handles = [Line2D([], [], color=colors[e], label=rf"$N_\mathrm{{epoch}}$={e}") for e in epochs]
    handles += [Line2D([], [], color="black", label="TA"),
                Line2D([], [], color="black", ls="--", label="RA (ifgsm)")]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 5),
               frameon=False)
    return fig
