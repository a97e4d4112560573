"""The primary test of a trend claim (issue 25): an effect size with a minimum effect, a bootstrap
p-value for each side, and Holm's correction across a run's primary rows.

A trend claim of the papers ("TA rises", "RA falls", v4 §2.1, Fig. 2) is read as the change of
the series over the window, the Theil–Sen slope (Sen 1968: the median of the pairwise slopes,
robust to one odd checkpoint) times the window's length, in points of accuracy. It *holds* when
the estimate lies beyond the minimum effect on the claimed side, *fails* when beyond it on the
other side, each by a z-test on the bootstrap standard error that survives Holm's correction, and
is *inconclusive* otherwise; a flat series is therefore neither.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# The smallest change over the window that we call a trend: 2 points of accuracy, i.e. 4 of the
# default's 200 test images, and about the seed-to-seed wobble of the real cnn3 series about its
# line (0.02–0.04 between checkpoints, issue 25). Below it a reader of Fig. 2 would see no trend.
MIN_EFFECT = 0.02
ALPHA = 0.05  # the family-wise error rate of Holm's correction across a run's primary rows


def theil_sen(x: Sequence[float] | np.ndarray, y: np.ndarray) -> np.ndarray:
    """Theil–Sen slope of each row of ``y`` (..., K) against ``x`` (K,): the median over the
    K(K−1)/2 pairs i < j of (y_j − y_i) / (x_j − x_i); NaN where a row has NaN."""
    x = np.asarray(x, dtype=float)
    i, j = np.triu_indices(len(x), k=1)
    y = np.asarray(y, dtype=float)
    return np.median((y[..., j] - y[..., i]) / (x[j] - x[i]), axis=-1)


def window_change(x: Sequence[float] | np.ndarray):
    """A bootstrap statistic: the Theil–Sen change over the window, slope × (x_last − x_first),
    of each replicate's series (B, K) → (B,)."""
    x = np.asarray(x, dtype=float)
    return lambda m: theil_sen(x, m) * (x[-1] - x[0])


def side_p_values(estimate: float, replicates: np.ndarray, sign: str,
                  min_effect: float = MIN_EFFECT) -> tuple[float, float]:
    """(p_holds, p_fails) of a claimed side (``sign`` "<" or ">"): one-sided z-tests of the
    estimate against the minimum effect on the claimed side (resp. the other side), with the
    standard error of the bootstrap ``replicates`` (Efron & Tibshirani 1993, §16.4).

    Not the share of replicates beyond ±δ: Holm across a run's primary rows asks for p near
    0.05 / rows (0.002 for 26 rows), which 2,000 replicates resolve only to a count of 2 or 3,
    so a verdict would turn on the Monte-Carlo noise of the bootstrap (measured: two of nine
    stable rows flipped between a run and its AVX2 rerun on exactly that). The z-test's p moves
    smoothly with the data. A zero standard error decides by the estimate alone."""
    from scipy.stats import norm

    r = np.asarray(replicates, dtype=float)
    r = r[~np.isnan(r)]
    if len(r) < 2 or np.isnan(estimate):
        return float("nan"), float("nan")
    se = float(r.std(ddof=1))
    toward = estimate if sign == "<" else -estimate  # the claimed side is negative here
    if se == 0:
        return float(toward >= -min_effect), float(toward <= min_effect)
    return (float(norm.sf((-min_effect - toward) / se)), float(norm.cdf((min_effect - toward) / se)))


def holm(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979): sort ascending, multiply the i-th smallest
    by (m − i), take the running maximum, cap at 1. NaN entries are left out and stay NaN."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if len(ok) == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    adjusted = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    out[order] = adjusted
    return out


def two_sided(p_holds: float, p_fails: float) -> float:
    """The row's p-value: twice the smaller side's (a decision on either side), capped at 1."""
    return float(min(1.0, 2 * min(p_holds, p_fails)))


def decide(p_holds: float, p_fails: float, p_adjusted: float, alpha: float = ALPHA) -> str:
    """The verdict of a primary row: *holds* or *fails* (the side with the smaller p) when its
    Holm-adjusted two-sided p is below α; else *inconclusive*. Uncorrected, p < 0.05 is the
    normal-theory 95 % interval (estimate ± 1.96 bootstrap standard errors) clearing ±δ."""
    if np.isnan(p_adjusted) or p_adjusted >= alpha:
        return "inconclusive"
    return "holds" if p_holds <= p_fails else "fails"
