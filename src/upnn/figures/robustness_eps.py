"""Robustness beyond one ε, per (dataset, model): top, TA and RA per epoch of one attack at every
amplitude of the attack table (colour = ε); middle, the median minimal l∞ amplitude ε* per epoch
(upnn.minimal; solid: all test images, so it is the ε at which RA falls to ½; dashed: the images
classified correctly at that epoch), the band its 25–75 % range over images; bottom, the median
DeepFool l2. Several seeds: the mean of their per-seed medians."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt

from upnn.figures import style

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


def draw(attacks: pd.DataFrame, minimal: pd.DataFrame, *, attack: str) -> plt.Figure:
    """``attacks``: pixel-level attack rows; ``minimal``: rows of the minimal stage."""
    _check(attacks, ATTACK_COLUMNS, "attack")
    _check(minimal, MINIMAL_COLUMNS, "minimal")
    style.setup()
    med = medians(minimal)
    panels = list(dict.fromkeys(zip(minimal["dataset"], minimal["model"], strict=True)))
    n = len(panels)
    fig, axes = plt.subplots(3, n, squeeze=False, sharex="col",
                             figsize=(min(style.PAGE, 1.9 * n + 0.6), 5.2))
    cmap = plt.get_cmap("viridis")
    for j, (dataset, model) in enumerate(panels):
        top, mid, bottom = axes[:, j]
        a = attacks[(attacks["dataset"] == dataset) & (attacks["model"] == model)]
        whole = a.sort_values("n", kind="stable").groupby(["seed", "epoch"]).tail(1)
        ta = whole.groupby("epoch")["clean_acc"].mean()
        top.plot(ta.index, ta.to_numpy(), color="black", label="TA")
        ra = a[a["attack"] == attack].groupby(["eps", "epoch"])["robust_acc"].mean()
        levels = sorted(ra.index.get_level_values("eps").unique())
        for i, eps in enumerate(levels):
            s = ra.loc[eps]
            top.plot(s.index, s.to_numpy(), color=cmap(i / max(1, len(levels) - 1)),
                     label=f"RA {attack} ε={eps:.3g}")
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
    return fig
