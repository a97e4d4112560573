"""Companion Fig. 1: t-SNE maps of the features of clean and PGD-attacked test images.

(A) the final net's map: the plane shaded by the predicted class of the nearest embedded clean
points (a k-nearest-neighbour vote on a grid), points coloured by their true label; (B) the same
map with the attacked images placed into it, coloured by the class the net now predicts; (C, D)
at the chosen epochs, each in that epoch's own map, the plane shaded by the net's confidence in
the target class (class 8 in the paper), its 0.5 contour drawn, with the clean (C) and the
attacked (D) images, the target class highlighted.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure

from upnn.figures import style

POINT_COLUMNS = ("epoch", "kind", "label", "pred", "conf", "tx", "ty", "final", "evolution")
GRID_COLUMNS = ("epoch", "gx", "gy", "pred", "conf")
CLASS_COLORS = plt.get_cmap("tab10").colors


def _check(frame: pd.DataFrame, required: tuple[str, ...], name: str) -> None:
    missing = sorted(set(required) - set(frame.columns))
    if missing:
        raise ValueError(f"{name} table lacks columns {missing}; required: {', '.join(required)}")


def _image(grid: pd.DataFrame, column: str) -> tuple[np.ndarray, list[float]]:
    """A regular grid's long rows as a 2-D array (rows = y) and its imshow extent."""
    table = grid.pivot_table(index="gy", columns="gx", values=column, aggfunc="first")
    xs, ys = table.columns.to_numpy(float), table.index.to_numpy(float)
    return table.to_numpy(float), [xs.min(), xs.max(), ys.min(), ys.max()]


def _scatter_classes(ax: plt.Axes, pts: pd.DataFrame, column: str) -> None:
    colors = [CLASS_COLORS[int(c) % 10] for c in pts[column]]
    ax.scatter(pts.tx, pts.ty, c=colors, s=4, linewidths=0.2, edgecolors="k")


def _class_map(ax: plt.Axes, grid: pd.DataFrame) -> None:
    img, extent = _image(grid, "pred")
    cmap = ListedColormap(CLASS_COLORS)
    ax.imshow(img, origin="lower", extent=extent, cmap=cmap,
              norm=BoundaryNorm(np.arange(-0.5, 10.5), 10), alpha=0.25, aspect="auto",
              interpolation="nearest")


def _conf_map(ax: plt.Axes, grid: pd.DataFrame) -> plt.cm.ScalarMappable:
    img, extent = _image(grid, "conf")
    im = ax.imshow(img, origin="lower", extent=extent, cmap="Blues", vmin=0, vmax=1,
                   aspect="auto", interpolation="nearest")
    if np.nanmin(img) < 0.5 < np.nanmax(img):
        xs = np.linspace(extent[0], extent[1], img.shape[1])
        ys = np.linspace(extent[2], extent[3], img.shape[0])
        ax.contour(xs, ys, img, levels=[0.5], colors="#08306b", linewidths=0.8)
    return im


def _accuracy(pts: pd.DataFrame) -> float:
    return float((pts.pred == pts.label).mean()) if len(pts) else float("nan")


def draw(points: pd.DataFrame, grid: pd.DataFrame, target_class: int | None = None) -> Figure:
    """The figure from ``tsne_points.parquet`` and ``tsne_grid.parquet``."""
    _check(points, POINT_COLUMNS, "points")
    _check(grid, GRID_COLUMNS, "grid")
    if points.empty:
        raise ValueError("points table is empty: nothing to draw")
    style.setup()
    if target_class is None:
        target_class = int(points["target_class"].iloc[0]) if "target_class" in points else 8
    final = int(points.loc[points["final"], "epoch"].max()) if points["final"].any() \
        else int(points["epoch"].max())
    evolution = sorted(points.loc[points["evolution"], "epoch"].unique()) or [final]
    n = len(evolution)
    mosaic = [["A"] * n + ["B"] * n,
              [f"C{i}" for i in range(n) for _ in range(2)],
              [f"D{i}" for i in range(n) for _ in range(2)]]
    fig, ax = plt.subplot_mosaic(mosaic, figsize=(style.PAGE, style.PAGE * 0.95),
                                 height_ratios=[1.6, 1, 1])

    fp, fg = points[points.epoch == final], grid[grid.epoch == final]
    clean, adv = fp[fp.kind == "clean"], fp[fp.kind == "attacked"]
    for key, pts, what, column in (("A", clean, "clean, true label", "label"),
                                   ("B", adv, "PGD-attacked, predicted class", "pred")):
        _class_map(ax[key], fg)
        _scatter_classes(ax[key], pts, column)
        ax[key].set_title(f"({key}) epoch {final}, {what}")
        ax[key].text(0.02, 0.02, f"accuracy {_accuracy(pts):.2f}", transform=ax[key].transAxes,
                     fontsize=6, ha="left", va="bottom")
    handles = [plt.Line2D([], [], ls="", marker="o", ms=4, color=CLASS_COLORS[c], label=str(c))
               for c in range(10)]
    ax["B"].legend(handles=handles, title="class", loc="center left",
                   bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=6, title_fontsize=6)

    im = None
    for i, epoch in enumerate(evolution):
        ep, eg = points[points.epoch == epoch], grid[grid.epoch == epoch]
        for row, kind, what in (("C", "clean", "clean"), ("D", "attacked", "attacked")):
            a = ax[f"{row}{i}"]
            im = _conf_map(a, eg)
            pts = ep[ep.kind == kind]
            other, target = pts[pts.label != target_class], pts[pts.label == target_class]
            a.scatter(other.tx, other.ty, s=2, c="0.55", linewidths=0)
            a.scatter(target.tx, target.ty, s=4, c="#d62728", linewidths=0,
                      label=f"true {target_class}")
            hit = float((target.pred == target_class).mean()) if len(target) else float("nan")
            a.set_title(f"({row}) epoch {epoch}, {what}")
            a.text(0.02, 0.02, f"{target_class}s still {target_class}: {hit:.2f}",
                   transform=a.transAxes, fontsize=6, ha="left", va="bottom")
    if im is not None:
        fig.colorbar(im, ax=[ax[f"D{i}"] for i in range(n)] + [ax[f"C{i}"] for i in range(n)],
                     label=f"confidence in class {target_class}", shrink=0.6, aspect=30)
    for a in ax.values():
        a.set_xticks([])
        a.set_yticks([])
    return fig
