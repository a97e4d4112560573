"""95 % intervals of the accuracies in the attack tables: the one place Figs. 2/5 and
``results/summary.csv`` take their bands from.

With several seeds the interval is over seeds: the mean accuracy ± t_{0.975, S-1}·sd/√S (a
Student t interval of the mean over the S training seeds). With one seed it is over test images:
the 95 % percentile interval of the accuracy when the test images are resampled with replacement
(a bootstrap of the per-image outcomes the attack stage stores: ``clean_correct``,
``robust_correct``, ``worst_correct``), or, where a table holds only the accuracy and its image
count n, the 95 % Wilson interval of acc over n (:func:`wilson_interval`). ``method`` says which.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from upnn import stats

#: accuracy column → the per-image column it is the mean of
PER_IMAGE = {"clean_acc": "clean_correct", "robust_acc": "robust_correct",
             "robust_acc_worst": "worst_correct"}
COLUMNS = ("mean", "low", "high", "n_seeds", "n_images", "method")


def whole_subset(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (seed, epoch) the attack row with the most images (SparseFool and autoattack may
    attack only the first n): its clean accuracy is TA, its ``robust_acc_worst`` the worst case
    on all the attacked images."""
    return rows.sort_values("n", kind="stable").groupby(["seed", "epoch"]).tail(1)


def seed_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the Student t interval of the mean of ``values`` (one per seed)."""
    v = np.asarray(values, dtype=float)
    mean = float(v.mean())
    if len(v) < 2:
        return mean, float("nan"), float("nan")
    half = student_t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return mean, mean - half, mean + half


def image_bootstrap(outcomes: Sequence[bool], *, n_boot: int = 1000, seed: int = 0,
                    level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the accuracy of per-image bools and the percentile interval of its
    bootstrap over images (``n_boot`` resamples from a generator seeded with ``seed``)."""
    o = np.asarray(outcomes, dtype=float)
    if len(o) == 0:
        return float("nan"), float("nan"), float("nan")
    reps = stats.resample(o[None], n_boot, np.random.default_rng(seed))[:, 0]
    return (float(o.mean()), *stats.percentile_interval(reps, level))


def accuracy_interval(rows: pd.DataFrame, column: str, *, n_boot: int = 1000,
                      seed: int = 0) -> dict[str, object]:
    """The interval of accuracy ``column`` (clean_acc, robust_acc or robust_acc_worst) over
    ``rows``: one row per seed of one (dataset, model, level, attack, eps, epoch). Several seeds:
    :func:`seed_interval` of the per-seed accuracies; one seed: :func:`image_bootstrap` of its
    per-image outcomes (a NaN interval when the table has none)."""
    if column not in PER_IMAGE:
        raise ValueError(f"unknown accuracy column {column!r}; allowed: {', '.join(PER_IMAGE)}")
    values = rows[column].to_numpy(dtype=float)
    n_images = int(rows["n"].iloc[0]) if "n" in rows else 0
    if len(rows) > 1:
        mean, lo, hi = seed_interval(values)
        method = "seeds"
    elif PER_IMAGE[column] in rows and rows[PER_IMAGE[column]].iloc[0] is not None:
        mean, lo, hi = image_bootstrap(rows[PER_IMAGE[column]].iloc[0], n_boot=n_boot, seed=seed)
        method = "images"
    else:
        mean, lo, hi, method = float(values[0]), float("nan"), float("nan"), "none"
    return {"mean": mean, "low": lo, "high": hi, "n_seeds": len(rows), "n_images": n_images,
            "method": method}


def band(rows: pd.DataFrame, column: str, *, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per epoch (index), :func:`accuracy_interval` of ``column`` over ``rows`` (one attack's
    rows: one per seed and epoch); columns :data:`COLUMNS`."""
    out = {e: accuracy_interval(g, column, n_boot=n_boot, seed=seed + int(e))
           for e, g in rows.groupby("epoch", sort=True)}
    return pd.DataFrame.from_dict(out, orient="index", columns=list(COLUMNS)).rename_axis("epoch")


def wilson_interval(acc: float, n: float | None) -> tuple[float, float, float]:
    """(acc, low, high): the 95 % Wilson interval of an accuracy ``acc`` measured on ``n`` images
    (:func:`upnn.stats.wilson` of acc·n successes; a NaN interval when n is 0 or missing)."""
    if n is None or not np.isfinite(n) or n <= 0:
        return float(acc), float("nan"), float("nan")
    return (float(acc), *stats.wilson(float(acc) * n, n))


def describe(method: str, n_seeds: int, n_images: int, *, images: str = "test images",
             kind: str = "band") -> str:
    """What a band (or error bar: ``kind``) is, for a figure's caption; ``images`` names what the
    accuracy counts (test images, training images, words, questions)."""
    if method == "seeds":
        return f"{kind}: 95 % t interval of the mean over {n_seeds} seeds"
    if method == "images":
        return f"{kind}: 95 % bootstrap interval over {n_images} {images} (one seed)"
    if method == "wilson":
        return f"{kind}: 95 % Wilson interval over {n_images} {images} (one seed)"
    if method == "uncounted":
        return f"no {kind} (one seed, and the table has no image count)"
    return "no interval (no per-image outcomes)"


def caption(entries: Iterable[tuple[str, str, int, int]]) -> list[str]:
    """The caption parts for a figure's lines: ``entries`` are (line label, method, n_seeds,
    n_images). Lines whose bands share a description share one part; where bootstrap bands
    over images differ only in the number of images (an attack run on a subset), one part lists
    each number with the lines it applies to."""
    by_n: dict[int, list[str]] = {}
    parts: set[str] = set()
    for label, method, n_seeds, n_images in entries:
        if method == "images":
            by_n.setdefault(n_images, [])
            if label not in by_n[n_images]:
                by_n[n_images].append(label)
        else:
            parts.add(describe(method, n_seeds, n_images))
    if len(by_n) == 1:
        parts.add(describe("images", 1, next(iter(by_n))))
    elif by_n:
        counts = "; ".join(f"{n} ({', '.join(labels)})"
                           for n, labels in sorted(by_n.items(), reverse=True))
        parts.add(f"band: 95 % bootstrap interval over the test images each line ran on "
                  f"(one seed): {counts}")
    return sorted(parts)
