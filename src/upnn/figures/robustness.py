"""Figs. 2 and 5 (v4): test accuracy and robust accuracy per epoch, one panel per
(dataset, model). TA is the black line; each attack's RA a coloured line; the band between the
lowest and highest RA of the attacks is the RA envelope. Several seeds: mean line, min–max band."""

from __future__ import annotations

import pandas as pd
from matplotlib import pyplot as plt

from upnn.figures import style

COLUMNS = ("dataset", "model", "seed", "epoch", "attack", "eps_index", "n", "clean_acc",
           "robust_acc")


def draw(table: pd.DataFrame, *, title: str = "", attacks: list[str] | None = None) -> plt.Figure:
    """``table``: rows of the attack stage (columns :data:`COLUMNS`) for one level; only the
    papers' amplitude (``eps_index`` 0, the first listed) is drawn (robustness_eps draws the
    others)."""
    missing = set(COLUMNS) - set(table.columns)
    if missing:
        raise ValueError(f"attack table lacks columns {sorted(missing)}; needs {', '.join(COLUMNS)}")
    table = table[table["eps_index"] == 0]
    style.setup()
    attacks = attacks or list(dict.fromkeys(table["attack"]))
    panels = list(dict.fromkeys(zip(table["dataset"], table["model"], strict=True)))
    ncols = min(4, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, sharey=True,
                             figsize=(min(style.PAGE, 1.75 * ncols + 0.5), 1.7 * nrows + 0.7))
    for i, ax in enumerate(axes.flat):
        if i >= len(panels):
            ax.set_visible(False)
            continue
        dataset, model = panels[i]
        panel = table[(table["dataset"] == dataset) & (table["model"] == model)]
        _panel(ax, panel, attacks)
        ax.set_title(f"{model} / {dataset}")
        ax.set_xlabel("epoch")
        if i % ncols == 0:
            ax.set_ylabel("accuracy")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=4, frameon=False)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def _panel(ax: plt.Axes, panel: pd.DataFrame, attacks: list[str]) -> None:
    # TA: the clean accuracy of the whole attacked subset, one value per (seed, epoch): the row
    # with the most images (SparseFool attacks only the first n of them)
    whole = panel.sort_values("n", kind="stable").groupby(["seed", "epoch"]).tail(1)
    ta = whole.groupby("epoch")["clean_acc"].agg(["mean", "min", "max"])
    ax.plot(ta.index, ta["mean"], color="black", label="TA", zorder=5)
    ra = panel[panel["attack"].isin(attacks)].groupby(["attack", "epoch"])["robust_acc"]
    ra = ra.agg(["mean", "min", "max"]).reset_index()
    envelope = ra.groupby("epoch")["mean"].agg(["min", "max"])
    ax.fill_between(envelope.index, envelope["min"], envelope["max"], color="0.85", lw=0,
                    label="RA envelope")
    for name in attacks:
        a = ra[ra["attack"] == name]
        if a.empty:
            continue
        color = style.ATTACK_COLORS.get(name)
        ax.plot(a["epoch"], a["mean"], color=color, label=f"RA {name}")
        if (a["max"] > a["min"]).any():
            ax.fill_between(a["epoch"], a["min"], a["max"], color=color, alpha=0.2, lw=0)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(panel["epoch"].min(), max(panel["epoch"].max(), panel["epoch"].min() + 1))
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(True, lw=0.3, alpha=0.5)
