"""Fig. 3 (arXiv 2205.01493 v3): training-set accuracy (TA, solid) and robust accuracy (RA,
dashed) along the IFA trajectory X_0, X_1, ..., X_N against the iteration n (symlog axis), one
colour per N_epoch of the classifier, one panel per (dataset, model). Several seeds: the mean and
a 95 % t band over seeds; one seed: the 95 % Wilson band over the ``n_images`` training images
(:mod:`upnn.figures.bands`). The suptitle says which."""

from __future__ import annotations

import pandas as pd
from matplotlib import pyplot as plt
from matplotlib.lines import Line2D

from upnn.figures import bands, style
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
    notes: set[str] = set()
    for i, (ax, (dataset, model)) in enumerate(zip(axes, panels, strict=True)):
        sub = trajectory[(trajectory["dataset"] == dataset) & (trajectory["model"] == model)]
        for e, rows in sub.groupby("n_epoch"):
            for column, name, ls, marker in (("accuracy", "TA", "-", "o"),
                                             ("robust_accuracy", "RA", "--", "s")):
                b = bands.interval_table(rows, "iteration", column, "n_images")
                ax.plot(b.index, b["mean"], color=colors[e], ls=ls, marker=marker, ms=2.5,
                        label=f"{name}, N_epoch={e}")
                bands.fill(ax, b, colors[e])
                notes |= bands.notes(b, images="training images")
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
    bands.footnote(fig, notes)
    return fig
