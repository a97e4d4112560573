"""Fig. 4 of arXiv 2205.01493 v4: the 2-D binary toy.

(A–C) the landscape ψ(x₁, x₂, label = 1) at the landscape epochs (mean over seeds), (D) test and
robust accuracy vs epoch, (E) dx = σ_x and dp = σ_p of ψ(x₁, x₂ = 0) vs epoch; (D, E) are means
over seeds, (D) with the 95 % t band over seeds (the metrics table holds no image count, so one
seed gets no band; the suptitle says which), (E) with a ±1 standard deviation band.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from upnn.figures import bands, style

METRICS = ("seed", "epoch", "test_acc", "robust_acc", "dx", "dp")
LANDSCAPES = ("seed", "epoch", "label", "x1", "x2", "psi")
COLORS = {"test_acc": "#1b9e77", "robust_acc": "#d95f02", "dx": "#7570b3", "dp": "#e7298a"}
NAMES = {"test_acc": "TA", "robust_acc": "RA", "dx": r"$\Delta x$ ($\sigma_x$)",
         "dp": r"$\Delta p$ ($\sigma_p$)"}


def _check(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} table lacks column(s) {missing}; needs {list(columns)}")
    if frame.empty:
        raise ValueError(f"{name} table is empty")


def band(ax: plt.Axes, frame: pd.DataFrame, column: str, color: str, label: str) -> None:
    """Mean over seeds vs epoch, with a ±1 standard deviation band (NaN values skipped)."""
    stats = frame.groupby("epoch")[column].agg(["mean", "std"]).sort_index()
    x, mean, std = stats.index.to_numpy(), stats["mean"].to_numpy(), stats["std"].fillna(0).to_numpy()
    ax.plot(x, mean, color=color, label=label)
    ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.25, linewidth=0)


def accuracy_band(ax: plt.Axes, frame: pd.DataFrame, column: str, color: str, label: str,
                  n_column: str | None = None, images: str = "test images") -> set[str]:
    """Mean accuracy over seeds vs epoch with its 95 % band (:mod:`upnn.figures.bands`: t over
    seeds, or Wilson over ``n_column`` for one seed); returns the band's description."""
    b = bands.interval_table(frame, "epoch", column, n_column)
    ax.plot(b.index.to_numpy(), b["mean"].to_numpy(dtype=float), color=color, label=label)
    bands.fill(ax, b, color)
    return bands.notes(b, images=images)


def draw(metrics: pd.DataFrame, landscapes: pd.DataFrame, label: int = 1) -> plt.Figure:
    """The figure from the toy's metrics and landscapes tables (see docs/toy2d_words.md)."""
    _check(metrics, METRICS, "metrics")
    _check(landscapes, LANDSCAPES, "landscapes")
    style.setup()
    epochs = sorted(landscapes["epoch"].unique())
    n = len(epochs)
    fig = plt.figure(figsize=(style.PAGE, 4.8))
    grid = fig.add_gridspec(2, 2 * n)
    letters = "ABCDEFGHIJ"
    psi_max = landscapes.loc[landscapes["label"] == label, "psi"].max()
    for i, epoch in enumerate(epochs):
        ax = fig.add_subplot(grid[0, 2 * i:2 * i + 2], projection="3d")
        sel = landscapes[(landscapes["epoch"] == epoch) & (landscapes["label"] == label)]
        surf = sel.groupby(["x1", "x2"])["psi"].mean().unstack("x2")
        x1, x2 = np.meshgrid(surf.index.to_numpy(), surf.columns.to_numpy(), indexing="ij")
        ax.plot_surface(x1, x2, surf.to_numpy(), cmap="viridis", linewidth=0, antialiased=False,
                        vmin=0, vmax=psi_max)
        ax.set_zlim(0, psi_max)
        ax.set_xlabel(r"$x_1$", labelpad=-8)
        ax.set_ylabel(r"$x_2$", labelpad=-8)
        ax.set_zlabel(r"$\psi$", labelpad=-8)
        ax.tick_params(pad=-3, labelsize=5)
        ax.view_init(elev=25, azim=-60)
        ax.set_title(f"{letters[i]}  epoch {epoch}, label {label}")
    half = n
    ax_acc = fig.add_subplot(grid[1, :half])
    notes: set[str] = set()
    for col in ("test_acc", "robust_acc"):
        notes |= accuracy_band(ax_acc, metrics, col, COLORS[col], NAMES[col])
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title=f"{letters[n]}  test and robust accuracy")
    ax_acc.legend(frameon=False)
    ax_unc = fig.add_subplot(grid[1, half:])
    for col in ("dx", "dp"):
        band(ax_unc, metrics, col, COLORS[col], NAMES[col])
    ax_unc.set(xlabel="epoch", ylabel="spread", title=f"{letters[n + 1]}  "
               r"$\psi(x_1, x_2{=}0)$ along $x_1$")
    ax_unc.legend(frameon=False)
    for ax in (ax_acc, ax_unc):
        if metrics["epoch"].max() >= 20:
            ax.set_xscale("log")
    bands.footnote(fig, {f"{letters[n]}: {note}" for note in notes})
    return fig
