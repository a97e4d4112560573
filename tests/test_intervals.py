"""upnn.intervals: seed t intervals and image-bootstrap intervals of accuracies."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as student_t

from upnn import intervals, stats


def test_seed_interval_is_the_t_interval_of_the_mean():
    v = [0.70, 0.74, 0.69]
    mean, lo, hi = intervals.seed_interval(v)
    half = student_t.ppf(0.975, 2) * np.std(v, ddof=1) / math.sqrt(3)
    assert mean == pytest.approx(np.mean(v))
    assert (lo, hi) == pytest.approx((np.mean(v) - half, np.mean(v) + half))
    assert math.isnan(intervals.seed_interval([0.5])[1])


def test_image_bootstrap_covers_the_true_rate_about_95_percent():
    rng = np.random.default_rng(1)
    hits = 0
    for trial in range(200):
        outcomes = rng.random(150) < 0.3
        _, lo, hi = intervals.image_bootstrap(outcomes, n_boot=400, seed=trial)
        hits += lo <= 0.3 <= hi
    assert 0.88 <= hits / 200 <= 0.99
    mean, lo, hi = intervals.image_bootstrap([True] * 7 + [False] * 3, n_boot=300)
    assert mean == 0.7 and lo < 0.7 < hi
    assert intervals.image_bootstrap([True, False], seed=3) == intervals.image_bootstrap(
        [True, False], seed=3)  # seeded: the same band every run


def test_accuracy_interval_chooses_seeds_or_images():
    one = pd.DataFrame({"robust_acc": [0.5], "n": [4],
                        "robust_correct": [np.array([1, 0, 1, 0], bool)]})
    r = intervals.accuracy_interval(one, "robust_acc", n_boot=200)
    assert r["method"] == "images" and r["n_seeds"] == 1 and r["n_images"] == 4
    three = pd.DataFrame({"robust_acc": [0.5, 0.6, 0.7], "n": [4] * 3})
    r = intervals.accuracy_interval(three, "robust_acc")
    assert r["method"] == "seeds" and r["mean"] == pytest.approx(0.6) and r["low"] < 0.6
    bare = pd.DataFrame({"clean_acc": [0.9], "n": [10]})
    assert intervals.accuracy_interval(bare, "clean_acc")["method"] == "none"
    with pytest.raises(ValueError, match="unknown accuracy column 'acc'; allowed: clean_acc"):
        intervals.accuracy_interval(one, "acc")


def test_band_is_one_interval_per_epoch():
    rows = pd.DataFrame({"epoch": [1, 1, 2, 2], "seed": [0, 1, 0, 1],
                         "clean_acc": [0.5, 0.7, 0.8, 0.8], "n": [10] * 4})
    b = intervals.band(rows, "clean_acc")
    assert list(b.index) == [1, 2] and list(b.columns) == list(intervals.COLUMNS)
    assert b.loc[1, "mean"] == pytest.approx(0.6) and b.loc[2, "high"] == pytest.approx(0.8)
    assert "3 seeds" in intervals.describe("seeds", 3, 200)
    assert "200 test images" in intervals.describe("images", 1, 200)


def test_wilson_interval_is_claims_wilson_of_acc_times_n():

    acc, lo, hi = intervals.wilson_interval(0.7, 200)
    assert acc == 0.7 and (lo, hi) == pytest.approx(stats.wilson(140, 200))
    assert lo < 0.7 < hi and hi - lo == pytest.approx(2 * 1.96 * math.sqrt(0.21 / 200), rel=0.05)
    assert intervals.wilson_interval(1.0, 50)[2] == 1.0  # clipped to [0, 1]
    for n in (0, None, float("nan")):
        assert math.isnan(intervals.wilson_interval(0.5, n)[1])
    assert intervals.describe("wilson", 1, 200) == \
        "band: 95 % Wilson interval over 200 test images (one seed)"
    assert intervals.describe("wilson", 1, 90, images="words", kind="error bar") == \
        "error bar: 95 % Wilson interval over 90 words (one seed)"
    assert "no image count" in intervals.describe("uncounted", 1, 0)


def test_caption_names_each_image_count_once_with_its_lines():
    one = intervals.caption([("TA", "images", 1, 200), ("pgd", "images", 1, 200)])
    assert one == ["band: 95 % bootstrap interval over 200 test images (one seed)"]
    mixed = intervals.caption([("TA", "images", 1, 200), ("pgd", "images", 1, 200),
                               ("sparsefool", "images", 1, 50), ("autoattack", "images", 1, 100),
                               ("TA", "images", 1, 200)])
    assert mixed == ["band: 95 % bootstrap interval over the test images each line ran on "
                     "(one seed): 200 (TA, pgd); 100 (autoattack); 50 (sparsefool)"]
    seeds = intervals.caption([("TA", "seeds", 3, 200), ("pgd", "seeds", 3, 200)])
    assert seeds == ["band: 95 % t interval of the mean over 3 seeds"]
