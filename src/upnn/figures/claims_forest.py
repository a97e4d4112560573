"""The answer as a picture (issue 25): a forest plot of every primary row of the claims table
(``role == "primary"``: claims 1 and 2, the change over the window), its estimate and 95 %
interval beside the minimum effect ±δ, coloured by verdict and grouped by claim."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt

from upnn.figures import style

VERDICT_COLORS = {"holds": "#1b7837", "fails": "#b2182b", "inconclusive": "#777777",
                  "not testable": "#bbbbbb"}
COLUMNS = ("claim", "dataset", "model", "level", "value", "ci_low", "ci_high", "min_effect",
           "verdict", "role", "seeds", "stable")


def primary_rows(claims: pd.DataFrame) -> pd.DataFrame:
    missing = set(COLUMNS) - set(claims.columns)
    if missing:
        raise ValueError(f"claims table lacks columns {sorted(missing)}; needs {', '.join(COLUMNS)}")
    return claims[claims["role"] == "primary"].reset_index(drop=True)


def draw(claims: pd.DataFrame) -> plt.Figure:
    """One horizontal line per primary row (estimate, interval), one panel per claim; the band
    is (−δ, +δ), inside which no change counts as a trend. A row's label names its panel and
    seeds, and ends in "unstable" where a seed subset gives another verdict."""
    style.setup()
    rows = primary_rows(claims)
    groups = list(dict.fromkeys(rows["claim"]))
    if not groups:
        fig, ax = plt.subplots(figsize=(5, 1.5))
        ax.text(0.5, 0.5, "no primary rows in this claims table", ha="center", va="center")
        ax.set_axis_off()
        return fig
    sizes = [int((rows["claim"] == g).sum()) for g in groups]
    fig, axes = plt.subplots(len(groups), 1, figsize=(6, 0.9 + 0.28 * sum(sizes)),
                             gridspec_kw={"height_ratios": sizes}, sharex=True, squeeze=False)
    for ax, claim in zip(axes[:, 0], groups, strict=True):
        g = rows[rows["claim"] == claim].iloc[::-1].reset_index(drop=True)
        delta = float(g["min_effect"].dropna().iloc[0]) if g["min_effect"].notna().any() else 0.0
        ax.axvspan(-delta, delta, color="#eeeeee", zorder=0)
        ax.axvline(0, color="#999999", lw=0.6, zorder=1)
        for i, r in g.iterrows():
            color = VERDICT_COLORS.get(r["verdict"], "#777777")
            ax.plot([r["ci_low"], r["ci_high"]], [i, i], color=color, lw=2, zorder=2)
            ax.plot([r["value"]], [i], "o", color=color, ms=4, zorder=3)
        labels = [f"{r.dataset}/{r.model} {r.level}, {r.seeds} seed{'s' if r.seeds != 1 else ''}"
                  + ("" if r.stable is None or pd.isna(r.stable) or r.stable else ", unstable")
                  for r in g.itertuples()]
        ax.set_yticks(np.arange(len(g)), labels)
        ax.set_ylim(-0.7, len(g) - 0.3)
        ax.set_title(f"{claim}: {g['verdict'].value_counts().to_dict()}", loc="left")
    axes[-1, 0].set_xlabel("change over the window (accuracy; grey band: ± minimum effect)")
    handles = [plt.Line2D([], [], color=c, lw=2, label=v) for v, c in VERDICT_COLORS.items()]
    axes[0, 0].legend(handles=handles, loc="lower right", frameon=False, ncol=2)
    return fig
