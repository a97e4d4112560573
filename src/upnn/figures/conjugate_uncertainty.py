"""Companion Fig. 2: test and robust accuracy per epoch, and the packets' spread against ΔP
coloured by epoch.

One row per (dataset, model), four panels: for the feature level and the pixel level, TA and RA
against epoch, then the x-flatness (ΔX/ΔX_flat)² = Σσ_x / Σ(hi − lo)/√12 against ΔP_Y (supp.
Eq. 23), one point per evaluated epoch, with error bars. The paper plots ΔX_Y itself; on our nets
every one-dimensional packet is nearly flat, so ΔX is (to 3 digits) the flat packet's value on the
integration interval and says nothing about the net: the flatness shows how far the net moves it
(1 = flat; the dashed line), and each panel prints the range of ΔX itself. Where a summary table
holds several classes Y (CIFAR-10: all ten), values and standard errors are averaged over them;
several seeds likewise. TA and RA carry a 95 % t band over seeds where the tables hold several; the
uncertainty stage stores no image count, so with one seed they carry none (the suptitle says so).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from upnn.figures import bands, style

LEVELS = ("feature", "pixel")
_MODEL_ORDER = ("cnn3", "cnn4", "resnet9", "googlenet")
REQUIRED = ("dataset", "model", "seed", "level", "epoch", "class", "delta_x", "delta_p",
            "delta_x_se", "delta_p_se", "x_flatness", "x_flatness_se", "test_acc", "robust_acc")


def per_epoch(summary: pd.DataFrame) -> pd.DataFrame:
    """(dataset, model, level, epoch) rows: TA, RA, ΔX, ΔP averaged over classes and seeds; the
    standard errors of those means (independent estimates: sqrt(Σ se²) / n); the class count."""
    missing = sorted(set(REQUIRED) - set(summary.columns))
    if missing:
        raise ValueError(f"summary table lacks columns {missing}; required: {', '.join(REQUIRED)}")
    keys = ["dataset", "model", "level", "epoch"]

    def mean_se(se: pd.Series) -> float:
        return float(np.sqrt((se.astype(float) ** 2).sum()) / len(se))

    return (summary.groupby(keys, sort=True)
            .agg(test_acc=("test_acc", "mean"), robust_acc=("robust_acc", "mean"),
                 delta_x=("delta_x", "mean"), delta_p=("delta_p", "mean"),
                 delta_x_se=("delta_x_se", mean_se), delta_p_se=("delta_p_se", mean_se),
                 x_flatness=("x_flatness", "mean"), x_flatness_se=("x_flatness_se", mean_se),
                 n_classes=("class", "nunique"), first_class=("class", "min"))
            .reset_index())


def _runs(frame: pd.DataFrame) -> list[tuple[str, str]]:
    order = {m: i for i, m in enumerate(_MODEL_ORDER)}
    runs = frame[["dataset", "model"]].drop_duplicates().itertuples(index=False)
    return sorted(((d, m) for d, m in runs), key=lambda r: (order.get(r[1], 99), r[1], r[0]))


COLUMN_TITLES = ("TA and RA", r"$(\Delta X/\Delta X_{flat})^2$ vs $\Delta P_Y$")


def draw(summary: pd.DataFrame) -> Figure:
    """The figure from the concatenated ``{level}_summary.parquet`` tables."""
    style.setup()
    frame = per_epoch(summary)
    runs = _runs(frame)
    if not runs:
        raise ValueError("summary table is empty: nothing to draw")
    fig, axes = plt.subplots(len(runs), 4, figsize=(style.PAGE, 1.7 * len(runs) + 0.4),
                             squeeze=False)
    lo_epoch, hi_epoch = frame["epoch"].min(), frame["epoch"].max()
    norm = plt.Normalize(lo_epoch, max(hi_epoch, lo_epoch + 1))
    scatter = None
    notes: set[str] = set()
    for col, level in enumerate(LEVELS):
        for j, title in enumerate(COLUMN_TITLES):
            axes[0, 2 * col + j].set_title(f"{level}: {title}")
    for row, (dataset, model) in enumerate(runs):
        for col, level in enumerate(LEVELS):
            ax_acc, ax_xp = axes[row, 2 * col], axes[row, 2 * col + 1]
            d = frame[(frame.dataset == dataset) & (frame.model == model) & (frame.level == level)]
            ax_acc.set_ylabel(f"{model} / {dataset}\naccuracy" if col == 0 else "accuracy")
            if d.empty:
                for ax in (ax_acc, ax_xp):
                    ax.text(0.5, 0.5, "not computed", ha="center", va="center",
                            transform=ax.transAxes)
                continue
            ax_acc.plot(d.epoch, d.test_acc, "o-", ms=3, color="#1f77b4", label="TA")
            ax_acc.plot(d.epoch, d.robust_acc, "s--", ms=3, color=style.ATTACK_COLORS["pgd"],
                        label="RA (PGD)")
            rows = summary[(summary.dataset == dataset) & (summary.model == model)
                           & (summary.level == level)]
            for column, color in (("test_acc", "#1f77b4"),
                                  ("robust_acc", style.ATTACK_COLORS["pgd"])):
                b = bands.interval_table(rows, "epoch", column)
                bands.fill(ax_acc, b, color)
                notes |= bands.notes(b)
            ax_acc.set_ylim(-0.03, 1.03)
            ax_acc.set_xlabel("epoch")
            if row == 0:
                ax_acc.legend(loc="lower right", frameon=False)

            ax_xp.axhline(1.0, color="0.5", ls="--", lw=0.6, zorder=0)
            ax_xp.plot(d.delta_p, d.x_flatness, "-", color="0.75", lw=0.8, zorder=1)
            ax_xp.errorbar(d.delta_p, d.x_flatness, xerr=d.delta_p_se, yerr=d.x_flatness_se,
                           fmt="none", ecolor="0.4", elinewidth=0.6, capsize=1.5, zorder=2)
            scatter = ax_xp.scatter(d.delta_p, d.x_flatness, c=d.epoch, cmap="viridis",
                                    norm=norm, s=16, zorder=3, edgecolors="none")
            n_classes = int(d.n_classes.max())
            which = (f"Y = {int(d.first_class.iloc[0])}" if n_classes == 1
                     else f"mean over {n_classes} Y")
            first, last = d.sort_values("epoch").delta_x.iloc[[0, -1]]
            ax_xp.text(0.03, 0.03, f"{which}\nΔX {first:.3f} → {last:.3f}",
                       transform=ax_xp.transAxes, ha="left", va="bottom", fontsize=6)
            top = max(1.0, float((d.x_flatness + d.x_flatness_se.fillna(0)).max()))
            ax_xp.set_ylim(min(0.9, float(d.x_flatness.min()) - 0.02), top + 0.02)
            ax_xp.set_xlabel(r"$\Delta P_Y$")
            ax_xp.set_ylabel(r"$(\Delta X/\Delta X_{flat})^2$")
    if scatter is not None:
        fig.colorbar(scatter, ax=axes.ravel().tolist(), label="epoch", shrink=0.6, aspect=30)
    bands.footnote(fig, {f"TA/RA {n}" for n in notes})
    return fig
