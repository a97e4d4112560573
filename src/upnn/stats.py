"""The statistics of the claims and of the figures' bands, in one place: the bootstrap toolbox
(paired resampling of images, seeds or dimensions, the hierarchical seed-then-image bootstrap,
binomial replicates, percentile intervals, Wilson intervals, Spearman ρ, per-row random streams)
and the primary test of a trend claim (issue 25): an effect size with a minimum effect, a
bootstrap p-value for each side, and Holm's correction across a run's primary rows.

A trend claim of the papers ("TA rises", "RA falls", v4 §2.1, Fig. 2) is read as the change of
the series over the window, the Theil–Sen slope (Sen 1968: the median of the pairwise slopes,
robust to one odd checkpoint) times the window's length, in points of accuracy. It *holds* when
the estimate lies beyond the minimum effect on the claimed side, *fails* when beyond it on the
other side, each by a z-test on the bootstrap standard error that survives Holm's correction, and
is *inconclusive* otherwise; a flat series is therefore neither.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.stats import rankdata

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


def end_change(x: Sequence[float] | np.ndarray):
    """A bootstrap statistic: the change from the window's first to its last point, of each
    replicate's series (B, K) → (B,). For saturating curves on uneven points (IFA's iterations
    0, 1, 2, 5, 10, 20), where Theil–Sen's median slope × the window overshoots or, on a long
    flat tail, misses an early rise."""
    del x
    return lambda m: m[..., -1] - m[..., 0]


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


def range_p_values(estimate: float, replicates: np.ndarray, lo: float, hi: float
                   ) -> tuple[float, float]:
    """(p_holds, p_fails) of a claimed range (lo, hi), with the z-tests of
    :func:`side_p_values`: *holds* needs the effect above lo and below hi (two one-sided tests,
    Schuirmann 1987: the larger p), *fails* the effect below lo or above hi (the smaller p)."""
    above_lo = side_p_values(estimate - lo, np.asarray(replicates) - lo, ">", 0.0)
    below_hi = side_p_values(estimate - hi, np.asarray(replicates) - hi, "<", 0.0)
    return max(above_lo[0], below_hi[0]), min(above_lo[1], below_hi[1])


def claimed_p_values(estimate: float, replicates: np.ndarray, claimed: tuple
                     ) -> tuple[float, float]:
    """(p_holds, p_fails) of a level claim: (">", t), ("<", t) a side of t, ("in", lo, hi) a
    range (:func:`range_p_values`)."""
    if claimed[0] == "in":
        return range_p_values(estimate, replicates, claimed[1], claimed[2])
    t = claimed[1]
    return side_p_values(estimate - t, np.asarray(replicates) - t, claimed[0], 0.0)


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


# ------------------------------------------------------------------------------------------------
# The bootstrap toolbox of every claim (upnn.claims) and of the figures' bands (upnn.intervals)

Z95 = 1.959963984540054


def wilson(k: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (Wilson 1927); (nan, nan) when n = 0."""
    if n <= 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def spearman(x: Sequence[float] | np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's ρ along the last axis between ``x`` and ``y`` (broadcast: ``x`` (K,) against
    every row of ``y`` (..., K), or row b of ``x`` against row b of ``y``): Pearson's r of the
    ranks, ties at their average rank. A constant row gives 0 (no trend); NaN gives NaN."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    rx = rankdata(x, axis=-1)
    rx = rx - rx.mean(axis=-1, keepdims=True)
    ry = rankdata(y, axis=-1)
    ry = ry - ry.mean(axis=-1, keepdims=True)
    num = (rx * ry).sum(-1)
    den = np.sqrt((rx ** 2).sum(-1) * (ry ** 2).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    return np.where(np.isnan(x).any(-1) | np.isnan(y).any(-1), np.nan, rho)


def slope(x: Sequence[float] | np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares slope of each row of ``y`` (..., K) against ``x`` (K,)."""
    x = np.asarray(x, dtype=float)
    xc = x - x.mean()
    return (np.asarray(y, dtype=float) @ xc) / (xc @ xc)


def unit_weights(groups: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, U) bootstrap weights of U units that belong to ``groups`` (U,), e.g. the training
    seed of each (seed, test image) column: a hierarchical bootstrap (Davison & Hinkley 1997,
    §3.8) that first draws as many groups as there are, with replacement, then for each drawn group
    its units with replacement. A unit's weight counts how often it was drawn. With one group this
    is the ordinary bootstrap over units (the same draws as before groups existed)."""
    groups = np.asarray(groups)
    names, index = np.unique(groups, return_inverse=True)
    units = len(groups)
    if len(names) == 1:
        return rng.multinomial(units, np.full(units, 1.0 / units), size=n_boot).astype(float)
    picks = rng.integers(0, len(names), size=(n_boot, len(names)))  # the groups each draw takes
    w = np.zeros((n_boot, units))
    for g in range(len(names)):
        cols = np.flatnonzero(index == g)
        times = (picks == g).sum(1)  # how often each replicate drew group g
        for t in range(1, int(times.max(initial=0)) + 1):
            rows = times >= t
            w[np.ix_(rows, cols)] += rng.multinomial(len(cols), np.full(len(cols), 1.0 / len(cols)),
                                                     size=int(rows.sum()))
    return w


def resample(values: np.ndarray, n_boot: int, rng: np.random.Generator,
             groups: np.ndarray | None = None) -> np.ndarray:
    """Bootstrap replicates of the row means of ``values`` (K, U): K entries (e.g. epochs × attacks)
    averaged over U units (images, seeds, dimensions). Each replicate draws U units with
    replacement, the same units for every entry (a paired bootstrap); NaN marks a unit an entry
    lacks (e.g. images SparseFool did not attack) and is left out of that entry's mean.
    ``groups`` (U,) names each unit's training seed: then seeds are resampled first and units
    within them (:func:`unit_weights`), so the variation between training runs is inside the
    interval. Returns (n_boot, K); an entry none of whose units was drawn is NaN."""
    values = np.asarray(values, dtype=float)
    units = values.shape[1]
    w = unit_weights(np.zeros(units) if groups is None else groups, n_boot, rng)
    ok = ~np.isnan(values)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (w @ np.where(ok, values, 0.0).T) / (w @ ok.T)


def binomial_replicates(acc: np.ndarray, n: np.ndarray, n_boot: int,
                        rng: np.random.Generator) -> np.ndarray:
    """(n_boot, K) replicates of K accuracies, each drawn as Binomial(n_k, p) / n_k with p = acc_k,
    except where acc_k is 0 or 1: Binomial(n, 0 or 1) has no spread, so there p is first drawn
    from the Jeffreys posterior Beta(k + ½, n − k + ½) (Brown, Cai & DasGupta 2001)."""
    acc, n = np.clip(np.asarray(acc, dtype=float), 0, 1), np.asarray(n, dtype=np.int64)
    p = np.broadcast_to(acc, (n_boot, len(acc))).copy()
    edge = (acc <= 0) | (acc >= 1)
    if edge.any():
        k = acc[edge] * n[edge]
        p[:, edge] = rng.beta(k + 0.5, n[edge] - k + 0.5, size=(n_boot, int(edge.sum())))
    return rng.binomial(n, p) / np.maximum(n, 1)


def percentile_interval(replicates: np.ndarray, level: float = 0.95,
                        estimate: float | None = None) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap replicates (NaN ones left out),
    widened, given the full-sample ``estimate``, to contain it. A bounded statistic (Spearman's ρ
    over a few epochs: a resample that ties two epochs can only lower |ρ|) can have nearly all
    replicates on one side of its estimate, and the plain percentile interval then excludes the
    estimate itself (ρ = 0.997 against [0.78, 0.994]); widening is conservative, never narrower.
    (A bias-corrected interval, tried first, collapses onto the estimate in exactly that case.)"""
    r = np.asarray(replicates, dtype=float)
    r = r[~np.isnan(r)]
    if len(r) == 0:
        return float("nan"), float("nan")
    lo, hi = np.percentile(r, [50 * (1 - level), 50 * (1 + level)])
    if estimate is not None and np.isfinite(estimate):
        lo, hi = min(lo, estimate), max(hi, estimate)
    return float(lo), float(hi)


def stream(seed: int, *key: Any) -> np.random.Generator:
    """An independent random stream for one claim row (or stage), keyed by ``seed`` and the
    row's names: its draws do not depend on which other rows were computed before it."""
    return np.random.default_rng([seed, zlib.crc32("/".join(map(str, key)).encode())])


def bootstrap(values: np.ndarray, stat: Callable[[np.ndarray], np.ndarray], *, n_boot: int,
              rng: np.random.Generator, level: float = 0.95,
              groups: np.ndarray | None = None) -> tuple[float, float, float]:
    """(estimate, ci_low, ci_high) of ``stat`` (maps (B, K) entry means to (B,)) on ``values``
    (K, U): the estimate from the full sample, the interval from :func:`resample` (hierarchical
    over ``groups``, the units' seeds, when given) by :func:`percentile_interval`."""
    est, reps = replicates(values, stat, n_boot=n_boot, rng=rng, groups=groups)
    return (est, *percentile_interval(reps, level, est))


def replicates(values: np.ndarray, stat: Callable[[np.ndarray], np.ndarray], *, n_boot: int,
               rng: np.random.Generator, groups: np.ndarray | None = None
               ) -> tuple[float, np.ndarray]:
    """(estimate, replicates) of ``stat`` on ``values`` (K, U): :func:`bootstrap` before its
    interval, for tests that need the replicates themselves (p-values, :mod:`upnn.stats`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an entry with no unit is NaN
        full = np.nanmean(np.asarray(values, dtype=float), axis=1)[None]
    return float(stat(full)[0]), stat(resample(values, n_boot, rng, groups))


def trend(x: Sequence[float] | np.ndarray, k: int = 1) -> Callable[[np.ndarray], np.ndarray]:
    """A :func:`bootstrap` statistic: Spearman ρ(x, series), the series being the mean of ``k``
    stacked blocks of len(x) entries (k > 1: e.g. the mean RA over k attacks)."""
    x = np.asarray(x)
    return lambda m: spearman(x, m.reshape(len(m), k, len(x)).mean(1))
