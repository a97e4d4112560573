"""Fig. 6 of arXiv 2205.01493 v4: cosine similarity between each word's embedding and the
gradient of its loss, over correctly and incorrectly classified words, vs epoch, one panel per
embedding size (mean over seeds, ±1 standard deviation band), and the accuracy of every size
(mean over seeds with the 95 % t band over seeds; one seed: the 95 % Wilson band over the
n_correct + n_incorrect words; the suptitle says which).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from upnn.figures import bands, style
from upnn.figures.fig4 import accuracy_band, band

COLUMNS = ("embedding_size", "seed", "epoch", "accuracy", "cos_correct", "cos_incorrect",
           "n_correct", "n_incorrect")
COLORS = {"cos_correct": "#1b9e77", "cos_incorrect": "#d95f02"}
NAMES = {"cos_correct": "correct words", "cos_incorrect": "incorrect words"}
SIZE_COLORS = ("#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")


def draw(similarity: pd.DataFrame) -> plt.Figure:
    """The figure from ``results/words/similarity.parquet`` (see docs/toy2d_words.md)."""
    missing = [c for c in COLUMNS if c not in similarity.columns]
    if missing:
        raise ValueError(f"similarity table lacks column(s) {missing}; needs {list(COLUMNS)}")
    if similarity.empty:
        raise ValueError("similarity table is empty")
    style.setup()
    sizes = sorted(similarity["embedding_size"].unique())
    fig, axes = plt.subplots(1, len(sizes) + 1, figsize=(style.PAGE, 2.3), sharex=True)
    letters = "ABCDEFGHIJ"
    log_x = similarity["epoch"].max() >= 20
    for i, (ax, size) in enumerate(zip(axes, sizes, strict=False)):
        sel = similarity[similarity["embedding_size"] == size]
        for col in ("cos_correct", "cos_incorrect"):
            band(ax, sel, col, COLORS[col], NAMES[col])
        ax.axhline(0, color="0.6", linewidth=0.6, zorder=0)
        last = sel[sel["epoch"] == sel["epoch"].max()]["accuracy"].mean()
        ax.set(xlabel="epoch", title=f"{letters[i]}  size {size}, final acc {last:.2f}",
               ylim=(-1.05, 1.05))
        if i == 0:
            ax.set_ylabel(r"cos($e_w$, $\nabla_{e_w} l_w$)")
            ax.legend(frameon=False, loc="lower left")
    ax = axes[-1]
    counted = similarity.assign(n_words=similarity["n_correct"] + similarity["n_incorrect"])
    notes: set[str] = set()
    for size, color in zip(sizes, SIZE_COLORS * (len(sizes) // len(SIZE_COLORS) + 1), strict=False):
        notes |= accuracy_band(ax, counted[counted["embedding_size"] == size], "accuracy", color,
                               f"size {size}", n_column="n_words", images="words")
    ax.set(xlabel="epoch", ylabel="accuracy", title=f"{letters[len(sizes)]}  accuracy")
    ax.legend(frameon=False)
    if log_x:
        for ax in axes:
            ax.set_xscale("log")
    bands.footnote(fig, {f"{letters[len(sizes)]}: {note}" for note in notes})
    return fig
