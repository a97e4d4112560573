"""Shared look of every figure: paper column widths, one palette, atomic PDF + PNG output."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from upnn.io import atomic_path  # noqa: E402

COLUMN = 3.4  # inches: one column of a two-column paper
PAGE = 7.0  # inches: full text width

# One colour per attack, used by every figure that shows attacks.
ATTACK_COLORS = {
    "ost": "#1b9e77", "osnt": "#d95f02", "fgsm": "#d95f02", "bim": "#7570b3", "illc": "#e7298a",
    "pgd": "#66a61e", "ifgsm": "#a6761d", "sparsefool": "#e6ab02", "random": "#666666",
    "autoattack": "#000000",
}
WORST_COLOR = "#b2182b"  # the worst case over the papers' attacks (robust_acc_worst)


def setup() -> None:
    """Small, legible, vector-friendly defaults (fonts embedded as TrueType in the PDF)."""
    sns.set_theme(context="paper", style="ticks", font_scale=0.9)
    plt.rcParams.update({
        "pdf.fonttype": 42, "ps.fonttype": 42, "savefig.bbox": "tight", "savefig.dpi": 200,
        "axes.titlesize": 8, "axes.labelsize": 8, "legend.fontsize": 7, "xtick.labelsize": 7,
        "ytick.labelsize": 7, "lines.linewidth": 1.2, "figure.constrained_layout.use": True,
    })


def save(fig: plt.Figure, pdf_path: str | Path, png_path: str | Path | None = None) -> None:
    """Write ``fig`` as a vector PDF and a PNG beside it (``.png`` suffix unless given), atomically."""
    pdf_path = Path(pdf_path)
    png_path = Path(png_path) if png_path else pdf_path.with_suffix(".png")
    with atomic_path(pdf_path) as tmp:
        fig.savefig(tmp, format="pdf")
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
