"""Fig. 1 (v4): test images before and after an attack, each with the predicted label and its
confidence; the checkpoint's TA and RA in the title."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt

from upnn.figures import style


def _show(ax: plt.Axes, image: np.ndarray) -> None:
    image = np.clip(image, 0.0, 1.0)
    if image.shape[0] == 1:
        ax.imshow(image[0], cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(image.transpose(1, 2, 0))
    ax.set_xticks([])
    ax.set_yticks([])


def draw(examples: pd.DataFrame, images: np.ndarray, images_adv: np.ndarray,
         meta: dict[str, str]) -> plt.Figure:
    """``examples``: label, pred_clean, conf_clean, pred_adv, conf_adv per image; ``images`` and
    ``images_adv``: (N, C, H, W); ``meta``: epoch, attack, eps, test_acc, robust_acc, model."""
    style.setup()
    n = len(examples)
    fig, axes = plt.subplots(2, n, squeeze=False, figsize=(min(style.PAGE, 0.85 * n + 0.6), 2.3))
    for i, row in enumerate(examples.itertuples()):
        _show(axes[0, i], images[i])
        _show(axes[1, i], images_adv[i])
        ok = "black" if row.pred_clean == row.label else "red"
        axes[0, i].set_title(f"{row.pred_clean} ({row.conf_clean:.0%})", color=ok, fontsize=7)
        bad = "black" if row.pred_adv == row.label else "red"
        axes[1, i].set_title(f"{row.pred_adv} ({row.conf_adv:.0%})", color=bad, fontsize=7)
    axes[0, 0].set_ylabel("clean", fontsize=7)
    axes[1, 0].set_ylabel(f"{meta['attack']} ε={float(meta['eps']):.3g}", fontsize=7)
    fig.suptitle(f"{meta.get('model', '')} epoch {meta['epoch']}: "
                 f"TA {float(meta['test_acc']):.1%}, RA {float(meta['robust_acc']):.1%}",
                 fontsize=8)
    return fig
