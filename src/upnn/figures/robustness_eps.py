"""Robustness beyond one ε, per (dataset, model): top, TA and RA per epoch of one attack at several
amplitudes (colour = ε): solid lines from the attack table (every amplitude it lists), dashed
lines the RA the minimal amplitudes imply, share of images with ε* > ε (:func:`ra_from_minimal`,
at the listed amplitudes and at ¼, ½ and 2× the papers'); middle, the median minimal l∞ amplitude ε* per epoch
(upnn.minimal; solid: all test images, so it is the ε at which RA falls to ½; dashed: the images
classified correctly at that epoch), the band its 25–75 % range over images; bottom, the median
DeepFool l2. Several seeds: the mean of their per-seed medians. TA and the table's RA carry
their 95 % band (:mod:`upnn.intervals`: over seeds, or over test images with one seed); the
title says which."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt

from upnn import intervals
from upnn.figures import style
from upnn.figures.robustness import line_with_band

ATTACK_COLUMNS = ("dataset", "model", "seed", "epoch", "attack", "eps", "n", "clean_acc",
                  "robust_acc")
MINIMAL_COLUMNS = ("dataset", "model", "seed", "epoch", "clean_correct", "eps_min", "deepfool_l2")


def _check(table: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = set(columns) - set(table.columns)
    if missing:
        raise ValueError(f"{what} table lacks columns {sorted(missing)}; needs {', '.join(columns)}")


def medians(minimal: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, epoch): medians and quartiles of ε* over all images and over the
    correctly classified ones, and the median DeepFool l2 (each the mean over seeds of the
    per-seed value)."""
    def per_seed(g: pd.DataFrame) -> pd.Series:
        ok = g[g["clean_correct"]]
        return pd.Series({
            "eps_median": g["eps_min"].median(), "eps_q25": g["eps_min"].quantile(0.25),
            "eps_q75": g["eps_min"].quantile(0.75),
            "eps_median_correct": ok["eps_min"].median() if len(ok) else np.nan,
            "l2_median": g["deepfool_l2"].median()})

    keys = ["dataset", "model", "seed", "epoch"]
    seeds = minimal.groupby(keys, sort=True)[list(MINIMAL_COLUMNS[4:])].apply(per_seed)
    return seeds.groupby(["dataset", "model", "epoch"]).mean().reset_index()


def ra_from_minimal(minimal: pd.DataFrame, eps: list[float]) -> pd.DataFrame:
    """RA of the minimal stage's attack at each amplitude of ``eps``, from ε* alone: the share of
    images with ε* > ε (misclassified images have ε* = 0 and count as wrong; bisection makes this
    exact to the search's resolution where the attack is monotone in ε). Per (dataset, model,
    epoch, eps), the mean over seeds."""
    rows = []
    for e in eps:
        hit = minimal.assign(eps=e, robust=minimal["eps_min"] > e)
        rows.append(hit.groupby(["dataset", "model", "seed", "epoch", "eps"])["robust"].mean())
    per_seed = pd.concat(rows).rename("robust_acc").reset_index()
    return per_seed.groupby(["dataset", "model", "epoch", "eps"])["robust_acc"].mean().reset_index()


def amplitudes(listed: list[float]) -> list[float]:
    """The amplitudes of the top row: those listed, and ¼, ½, 2× the first (the papers')."""
    return sorted({*listed, *(f * listed[0] for f in (0.25, 0.5, 2.0))})


def draw(attacks: pd.DataFrame, minimal: pd.DataFrame, *, attack: str,
         eps: dict[str, list[float]] | None = None, n_boot: int = 1000) -> plt.Figure:
    """``attacks``: pixel-level attack rows; ``minimal``: rows of the minimal stage; ``eps``: the
    listed amplitudes per dataset (default: those in the attack table)."""
    _check(attacks, ATTACK_COLUMNS, "attack")
    _check(minimal, MINIMAL_COLUMNS, "minimal")
    style.setup()
    med = medians(minimal)
    panels = list(dict.fromkeys(zip(minimal["dataset"], minimal["model"], strict=True)))
    n = len(panels)
    fig, axes = plt.subplots(3, n, squeeze=False, sharex="col",
                             figsize=(min(style.PAGE, 1.9 * n + 0.6), 5.2))
    cmap = plt.get_cmap("viridis")
    notes: list[tuple[str, str, int, int]] = []
    for j, (dataset, model) in enumerate(panels):
        top, mid, bottom = axes[:, j]
        a = attacks[(attacks["dataset"] == dataset) & (attacks["model"] == model)]
        whole = intervals.whole_subset(a)
        notes.append(line_with_band(top, whole, "clean_acc", n_boot, "TA", color="black",
                                    label="TA"))
        rows = a[a["attack"] == attack]
        ra = rows.groupby(["eps", "epoch"])["robust_acc"].mean()
        listed = (eps or {}).get(dataset) or sorted(ra.index.get_level_values("eps").unique())
        grid = amplitudes(list(listed))
        implied = ra_from_minimal(minimal[(minimal["dataset"] == dataset)
                                          & (minimal["model"] == model)], grid)
        for i, e in enumerate(grid):
            color = cmap(i / max(1, len(grid) - 1))
            if e in ra.index.get_level_values("eps"):
                notes.append(line_with_band(top, rows[rows["eps"] == e], "robust_acc", n_boot,
                                            f"ε={e:.3g}", color=color,
                                            label=f"RA {attack} ε={e:.3g}"))
            s = implied[implied["eps"] == e]
            top.plot(s["epoch"], s["robust_acc"], color=color, ls="--", lw=0.9,
                     label=f"from ε*, ε={e:.3g}")
        top.set_ylim(-0.02, 1.02)
        top.set_title(f"{model} / {dataset}")
        top.legend(fontsize=5, frameon=False)
        m = med[(med["dataset"] == dataset) & (med["model"] == model)]
        finite = np.isfinite(m[["eps_q25", "eps_q75"]]).all(axis=1)
        mid.fill_between(m["epoch"][finite], m["eps_q25"][finite], m["eps_q75"][finite],
                         color="0.85", lw=0, label="25–75 %")
        mid.plot(m["epoch"], m["eps_median"], color="black", label="median ε*, all")
        mid.plot(m["epoch"], m["eps_median_correct"], color="black", ls="--",
                 label="median ε*, correct")
        mid.legend(fontsize=5, frameon=False)
        bottom.plot(m["epoch"], m["l2_median"], color="#7570b3")
        bottom.set_xlabel("epoch")
        for ax in (top, mid, bottom):
            ax.grid(True, lw=0.3, alpha=0.5)
            ax.xaxis.get_major_locator().set_params(integer=True)
        if j == 0:
            top.set_ylabel("accuracy")
            mid.set_ylabel(f"minimal l∞ ε* ({attack})")
            bottom.set_ylabel("DeepFool median l2")
    fig.suptitle("; ".join(intervals.caption(notes)), fontsize=7)
    return fig
