"""95 % intervals of an accuracy column for the figures that read tables without per-image
outcomes (IFA, TCL, frequency, companion, toy, words, LLM): over seeds where the table has
several (:func:`upnn.intervals.seed_interval`), else the Wilson interval over the image count the
table stores (:func:`upnn.intervals.wilson_interval`), else none (method ``uncounted``)."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt

from upnn import intervals


def interval_table(rows: pd.DataFrame, x: str, column: str,
                   n_column: str | None = None) -> pd.DataFrame:
    """Per value of ``x`` (index): the mean over seeds of ``column`` and its 95 % interval;
    columns :data:`upnn.intervals.COLUMNS`. Rows of one seed and x (e.g. one per class) are
    averaged first; ``n_column``, where the table has it, is the image count for one seed."""
    keys = [x, "seed"] if "seed" in rows else [x]
    agg = {"acc": (column, "mean")}
    if n_column is not None and n_column in rows:
        agg["n"] = (n_column, "first")
    per_seed = rows.groupby(keys, sort=True).agg(**agg)
    out = {}
    for value, g in per_seed.groupby(level=0, sort=True):
        acc = g["acc"].to_numpy(dtype=float)
        n = float(g["n"].iloc[0]) if "n" in g else float("nan")
        if len(g) > 1:
            mean, lo, hi = intervals.seed_interval(acc)
            method = "seeds"
        elif np.isfinite(n):
            mean, lo, hi = intervals.wilson_interval(acc[0], n)
            method = "wilson"
        else:
            mean, lo, hi, method = float(acc[0]), float("nan"), float("nan"), "uncounted"
        out[value] = {"mean": mean, "low": lo, "high": hi, "n_seeds": len(g),
                      "n_images": int(n) if np.isfinite(n) else 0, "method": method}
    return pd.DataFrame.from_dict(out, orient="index",
                                  columns=list(intervals.COLUMNS)).rename_axis(x)


def notes(table: pd.DataFrame, *, images: str = "test images", kind: str = "band") -> set[str]:
    """The descriptions (:func:`upnn.intervals.describe`) of the intervals in ``table``."""
    return {intervals.describe(m, int(s), int(n), images=images, kind=kind)
            for m, s, n in table[["method", "n_seeds", "n_images"]].itertuples(index=False)}


def fill(ax: plt.Axes, table: pd.DataFrame, color: object) -> None:
    """The band of ``table`` (from :func:`interval_table`) on ``ax``, where it has one."""
    if table["low"].notna().any():
        ax.fill_between(table.index.to_numpy(), table["low"].to_numpy(dtype=float),
                        table["high"].to_numpy(dtype=float), color=color, alpha=0.15, lw=0)


def errors(table: pd.DataFrame) -> np.ndarray | None:
    """Asymmetric error bars (2, n) of ``table`` for ``errorbar``/``bar``; None without any."""
    if not table["low"].notna().any():
        return None
    mean = table["mean"].to_numpy(dtype=float)
    err = np.stack([mean - table["low"].to_numpy(dtype=float),
                    table["high"].to_numpy(dtype=float) - mean])
    return np.nan_to_num(err, nan=0.0)


def footnote(fig: plt.Figure, lines: set[str], title: str = "") -> None:
    """The figure's suptitle: ``title`` and which intervals it draws, wrapped to the figure's
    width."""
    text = "; ".join(filter(None, [title, *sorted(lines)]))
    fig.suptitle("\n".join(textwrap.wrap(text, width=int(16 * fig.get_figwidth()))), fontsize=7)
