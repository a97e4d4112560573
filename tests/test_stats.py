"""upnn.stats: Theil–Sen, Holm, the side p-values and the primary trend test on simulated
panels (issue 25: no trend → at most 5 % hold and 5 % fail; the papers' trend → ≥ 80 % hold)."""

import numpy as np
import pytest

from upnn import claims, stats


def test_theil_sen_is_the_median_pairwise_slope_and_ignores_one_outlier():
    x = np.arange(1, 6)
    y = np.array([[0.0, 1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 2.0, 30.0, 4.0]])
    np.testing.assert_allclose(stats.theil_sen(x, y), [1.0, 1.0])
    np.testing.assert_allclose(stats.window_change(x)(y), [4.0, 4.0])


def test_holm_matches_the_step_down_rule_and_skips_nan():
    p = [0.01, 0.04, 0.03, 0.005, np.nan]
    np.testing.assert_allclose(stats.holm(p)[:4], [0.03, 0.06, 0.06, 0.02])
    assert np.isnan(stats.holm(p)[4])
    assert stats.holm([0.9, 0.8]).max() == 1.0


def test_side_p_values_and_decide_need_the_minimum_effect():
    rng = np.random.default_rng(0)
    reps = -0.05 + 0.005 * rng.standard_normal(999)  # RA fell by 5 points, se 0.005
    h, f = stats.side_p_values(-0.05, reps, "<")
    assert h < 1e-6 and f > 0.999
    assert stats.decide(h, f, stats.two_sided(h, f)) == "holds"
    h, f = stats.side_p_values(-0.01, reps + 0.04, "<")  # a fall smaller than δ = 0.02
    assert stats.decide(h, f, stats.two_sided(h, f)) == "inconclusive"
    h, f = stats.side_p_values(0.05, -reps, "<")  # RA rose by 5 points: the claim fails
    assert stats.decide(h, f, stats.two_sided(h, f)) == "fails"
    assert stats.decide(h, f, 0.2) == "inconclusive"  # Holm-adjusted p too large
    h, f = stats.side_p_values(0.05, -reps, ">")  # the same rise, claimed: holds
    assert stats.decide(h, f, stats.two_sided(h, f)) == "holds"


def test_side_p_values_move_smoothly_not_by_counts_of_replicates():
    """The p of a row near the Holm bar must not jump with one replicate more or less past δ."""
    rng = np.random.default_rng(1)
    reps = 0.09 + 0.02 * rng.standard_normal(2000)
    a = stats.side_p_values(0.09, reps, ">")[0]
    b = stats.side_p_values(0.0901, reps, ">")[0]
    assert a > b and (a - b) / a < 0.05  # a small change of the estimate, a small change of p


def simulated_panel(rng, change, *, seeds=3, epochs=10, images=200, level=0.6, wobble=0.03):
    """Per-image outcomes (epochs, seeds × images) of a series with ``change`` over the window
    plus seed-to-seed wobble of ``wobble`` at every checkpoint (the real cnn3 series wobbles
    0.02–0.04 about its line), and the seed of each column."""
    x = np.arange(1, epochs + 1)
    cols, groups = [], []
    for s in range(seeds):
        p = level + change * (x - 1) / (epochs - 1) + rng.normal(0, wobble, epochs)
        cols.append(rng.random((epochs, images)) < np.clip(p, 0, 1)[:, None])
        groups += [s] * images
    return x, np.concatenate(cols, axis=1).astype(float), np.array(groups)


def verdicts(change, trials, seed):
    rng = np.random.default_rng(seed)
    out = []
    for t in range(trials):
        x, values, groups = simulated_panel(rng, change)
        r = claims.primary("ra_change", values, x, groups, n_boot=400,
                           rng=stats.stream(seed, t), units=200)
        claims.finish_primary([r])  # one row: Holm changes nothing
        out.append(r["verdict"])
    return np.array(out)


def test_no_trend_rarely_holds_or_fails():
    v = verdicts(0.0, 120, 1)
    assert (v == "holds").mean() <= 0.05 and (v == "fails").mean() <= 0.05, \
        {k: int((v == k).sum()) for k in set(v)}


def test_a_fall_of_the_papers_size_holds():
    # v4 Fig. 2: RA falls by tens of points over training; 15 points here
    v = verdicts(-0.15, 60, 2)
    assert (v == "holds").mean() >= 0.8, {k: int((v == k).sum()) for k in set(v)}


def test_stability_column_lists_each_seed_and_each_leave_one_out():
    rng = np.random.default_rng(3)
    x, values, groups = simulated_panel(rng, -0.3, wobble=0.0)
    r = claims.finish_primary([claims.primary("ra_change", values, x, groups, n_boot=400,
                                              rng=stats.stream(3), units=200)])[0]
    assert r["verdict"] == "holds" and r["stable"] is True
    assert r["seed_verdicts"].count("holds") == 6  # s0, s1, s2, −s0, −s1, −s2
    one = claims.finish_primary([claims.primary("ra_change", values[:, :200], x, groups[:200],
                                                n_boot=400, rng=stats.stream(3), units=200)])[0]
    assert one["stable"] is None and one["seed_verdicts"] == ""


def test_end_change_is_last_minus_first_of_each_replicate():
    m = np.array([[0.1, 0.9, 0.9, 0.9], [0.5, 0.4, 0.3, 0.2]])
    np.testing.assert_allclose(stats.end_change([0, 1, 2, 5])(m), [0.8, -0.3])
    # Theil–Sen's median slope × window reads the flat tail of a saturating curve as no change
    rise = np.array([[0.1] + [0.9] * 9])
    assert stats.window_change(np.arange(10))(rise)[0] == 0.0
    assert stats.end_change(np.arange(10))(rise)[0] == pytest.approx(0.8)


def test_range_and_threshold_p_values():
    """Claim 3's level claims: inside a range needs both one-sided tests (the larger p), outside
    either (the smaller); a threshold is a side of it with no minimum effect."""
    reps = np.random.default_rng(0).normal(0, 0.005, 2000)
    h, f = stats.range_p_values(0.125, 0.125 + reps, 0.10, 0.15)
    assert h < 1e-4 and f > 0.99
    h, f = stats.range_p_values(0.30, 0.30 + reps, 0.10, 0.15)  # far above: fails
    assert f < 1e-4 and h > 0.99
    h, f = stats.range_p_values(0.15, 0.15 + reps, 0.10, 0.15)  # on the edge: neither
    assert h == pytest.approx(0.5, abs=0.05) and f == pytest.approx(0.5, abs=0.05)
    h, f = stats.claimed_p_values(0.99, 0.99 + reps, (">", 0.98))
    assert h < 0.05 and f > 0.95
    assert stats.claimed_p_values(0.99, 0.99 + reps, ("in", 0.1, 0.15)) == \
        stats.range_p_values(0.99, 0.99 + reps, 0.1, 0.15)
