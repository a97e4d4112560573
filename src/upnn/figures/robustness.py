"""Figs. 2 and 5 (v4): test accuracy and robust accuracy per epoch, one panel per
(dataset, model). TA is the black line; each of the papers' attacks a coloured line; the grey
band between the lowest and highest of their RA is the papers' RA envelope; the red line is the
worst case over the papers' attacks (``robust_acc_worst``: an image counts as fooled if any of
them fooled it). Attacks not in the papers (autoattack) are dashed and named so, outside the
envelope. Every line carries its 95 % interval (:mod:`upnn.intervals`): over seeds when the
table has several, else over test images; the figure's footnote says which."""

from __future__ import annotations

import pandas as pd
from matplotlib import pyplot as plt

from upnn import intervals
from upnn.figures import style

COLUMNS = ("dataset", "model", "seed", "epoch", "attack", "eps_index", "n", "clean_acc",
           "robust_acc")


def draw(table: pd.DataFrame, *, title: str = "", attacks: list[str] | None = None,
         n_boot: int = 1000) -> plt.Figure:
    """``table``: rows of the attack stage (columns :data:`COLUMNS`, and where present the
    per-image outcomes and ``robust_acc_worst``) for one level; only the papers' amplitude
    (``eps_index`` 0, the first listed) is drawn (robustness_eps draws the others)."""
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
                             figsize=(min(style.PAGE, 1.75 * ncols + 0.5), 1.7 * nrows + 0.9))
    notes: list[tuple[str, str, int, int]] = []
    for i, ax in enumerate(axes.flat):
        if i >= len(panels):
            ax.set_visible(False)
            continue
        dataset, model = panels[i]
        panel = table[(table["dataset"] == dataset) & (table["model"] == model)]
        notes += _panel(ax, panel, attacks, n_boot)
        ax.set_title(f"{model} / {dataset}")
        ax.set_xlabel("epoch")
        if i % ncols == 0:
            ax.set_ylabel("accuracy")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=4, frameon=False)
    fig.suptitle("; ".join(filter(None, [title, *intervals.caption(notes)])), fontsize=7)
    return fig


def line_with_band(ax: plt.Axes, rows: pd.DataFrame, column: str, n_boot: int, name: str,
                   **style_kw) -> tuple[str, str, int, int]:
    """Draw ``column``'s mean per epoch and its 95 % band; returns (``name``, method, seeds,
    images) of the band, for :func:`upnn.intervals.caption`."""
    b = intervals.band(rows, column, n_boot=n_boot)
    x, mean, lo, hi = (b.index.to_numpy(), *(b[c].to_numpy(dtype=float)
                                             for c in ("mean", "low", "high")))
    ax.plot(x, mean, marker="o" if len(b) == 1 else None, markersize=4, clip_on=False, **style_kw)
    color = style_kw.get("color")
    if b["low"].notna().any():
        if len(b) == 1:  # one epoch (e.g. autoattack at the last only): an error bar
            ax.errorbar(x, mean, yerr=[mean - lo, hi - mean], color=color, capsize=2, lw=0.8)
        else:
            ax.fill_between(x, lo, hi, color=color, alpha=0.15, lw=0)
    first = b.iloc[0]
    return name, str(first["method"]), int(first["n_seeds"]), int(first["n_images"])


def _not_in_papers(table: pd.DataFrame) -> set[str]:
    """Attacks the table's ``in_papers`` column marks as not the papers' (none without it)."""
    if "in_papers" not in table:
        return set()
    return set(table.loc[~table["in_papers"].astype(bool), "attack"])


def _panel(ax: plt.Axes, panel: pd.DataFrame, attacks: list[str],
           n_boot: int) -> list[tuple[str, str, int, int]]:
    whole = intervals.whole_subset(panel)
    notes = [line_with_band(ax, whole, "clean_acc", n_boot, "TA", color="black", label="TA",
                            zorder=5)]
    papers = [a for a in attacks if a not in _not_in_papers(panel)]
    ra = panel[panel["attack"].isin(papers)].groupby(["attack", "epoch"])["robust_acc"].mean()
    if not ra.empty:
        envelope = ra.groupby("epoch").agg(["min", "max"])
        ax.fill_between(envelope.index, envelope["min"], envelope["max"], color="0.85", lw=0,
                        label="RA envelope (papers' attacks)")
    for name in attacks:
        rows = panel[panel["attack"] == name]
        if rows.empty:
            continue
        ours = name in _not_in_papers(panel)
        label = f"RA {name} (not in the papers)" if ours else f"RA {name}"
        notes.append(line_with_band(ax, rows, "robust_acc", n_boot, name,
                                    color=style.ATTACK_COLORS.get(name), ls="--" if ours else "-",
                                    label=label))
    if "robust_acc_worst" in whole and whole["robust_acc_worst"].notna().any():
        notes.append(line_with_band(ax, whole, "robust_acc_worst", n_boot, "worst case",
                                    color=style.WORST_COLOR, lw=1.6,
                                    label="RA worst of the papers' attacks"))
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(panel["epoch"].min(), max(panel["epoch"].max(), panel["epoch"].min() + 1))
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(True, lw=0.3, alpha=0.5)
    return notes
