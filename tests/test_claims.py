"""upnn.claims on hand-made tables whose answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from upnn import claims, claims_markdown, stats

RNG = np.random.default_rng


def test_wilson_matches_the_textbook_values():
    assert stats.wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    lo, hi = stats.wilson(0, 10)
    assert lo == 0 and hi == pytest.approx(0.2775, abs=1e-4)
    assert all(np.isnan(stats.wilson(0, 0)))


def test_spearman_ranks_ties_and_flat_rows():
    x = [1, 2, 3, 4]
    y = np.array([[1.0, 2, 3, 4], [4, 3, 2, 1], [1, 1, 1, 1], [1, 3, 2, 4], [1, np.nan, 2, 3]])
    rho = stats.spearman(x, y)
    assert rho[:4] == pytest.approx([1, -1, 0, 0.8])
    assert np.isnan(rho[4])
    assert stats.slope([0, 1, 2], np.array([[1.0, 3, 5]]))[0] == pytest.approx(2)


@pytest.mark.parametrize("ci, claimed, expected", [
    ((0.1, 0.5), (">", 0.0), "holds"), ((-0.5, -0.1), (">", 0.0), "fails"),
    ((-0.1, 0.5), (">", 0.0), "inconclusive"), ((-0.5, -0.1), ("<", 0.0), "holds"),
    ((0.11, 0.14), ("in", 0.10, 0.15), "holds"), ((0.2, 0.3), ("in", 0.10, 0.15), "fails"),
    ((0.12, 0.3), ("in", 0.10, 0.15), "inconclusive"), ((0.2, 0.3), ("in", np.nan, np.nan), "n/a"),
    ((np.nan, np.nan), (">", 0.0), "inconclusive"),
])
def test_verdict_rule(ci, claimed, expected):
    assert claims.verdict(*ci, claimed) == expected


def test_bootstrap_interval_covers_a_known_mean_about_95_percent_of_the_time():
    rng = RNG(1)
    p, hits, trials = 0.3, 0, 400
    for _ in range(trials):
        values = (rng.random((1, 200)) < p).astype(float)
        _, lo, hi = stats.bootstrap(values, lambda m: m[:, 0], n_boot=400, rng=rng)
        hits += lo <= p <= hi
    assert 0.91 <= hits / trials <= 0.98


def test_resample_keeps_the_same_units_for_every_entry_and_skips_missing_ones():
    values = np.array([[1.0, 0.0, 1.0, 0.0], [1.0, 0.0, 1.0, 0.0], [1.0, np.nan, np.nan, np.nan]])
    reps = stats.resample(values, 50, RNG(0))
    assert np.array_equal(reps[:, 0], reps[:, 1])  # paired: the same draw for both entries
    assert np.all((reps[:, 2] == 1) | np.isnan(reps[:, 2]))


def attack_table(trends: dict[str, float], *, ta_slope: float = 0.05, n: int = 400,
                 epochs: int = 8, level: str = "pixel", dataset: str = "d", seed: int = 0,
                 base: float = 0.55) -> pd.DataFrame:
    """Attack-stage rows with per-image outcomes: TA rises by ``ta_slope`` per epoch, each
    attack's RA changes by its ``trends`` value per epoch (0 = flat, noisy)."""
    rng = RNG(seed)
    rows = []
    for e in range(1, epochs + 1):
        clean = rng.random(n) < 0.5 + ta_slope * e
        for name, step in trends.items():
            robust = rng.random(n) < base + step * e
            rows.append({"dataset": dataset, "model": "m", "seed": 0, "level": level, "epoch": e,
                         "attack": name, "eps_index": 0, "n": n, "clean_acc": clean.mean(),
                         "robust_acc": robust.mean(), "image_index": np.arange(n),
                         "clean_correct": clean, "robust_correct": robust})
    return pd.DataFrame(rows)


def by_attack(rows, claim):
    return {r["attack"]: r for r in rows if r["claim"] == claim}


def test_rising_falling_and_flat_series_give_holds_fails_inconclusive():
    table = attack_table({"falls": -0.05, "rises": 0.04, "flat": 0.0})
    rows = claims.claim_attacks(table, {"d": "mnist"}, n_boot=1000, rng=RNG(0))
    ra = by_attack(rows, "ra_falls")
    assert ra["falls"]["verdict"] == "holds"
    assert ra["rises"]["verdict"] == "fails"
    assert ra["flat"]["verdict"] == "inconclusive"
    assert by_attack(rows, "ta_rises")[""]["verdict"] == "holds"
    falling_ta = attack_table({"flat": 0.0}, ta_slope=-0.05)
    rows = claims.claim_attacks(falling_ta, {"d": "mnist"}, n_boot=1000, rng=RNG(0))
    assert by_attack(rows, "ta_rises")[""]["verdict"] == "fails"


def test_gap_range_applies_to_mnist_and_cifar10_only():
    # TA at epoch 8 ≈ 0.9; RA ≈ 0.775 → gap ≈ 0.125, inside MNIST's 10–15 points
    table = attack_table({"a": 0.0}, ta_slope=0.05, base=0.775, n=20000)
    mnist = claims.finish_primary(claims.claim_attacks(table, {"d": "mnist"}, n_boot=500,
                                                       rng=RNG(0)))
    gap = next(r for r in mnist if r["claim"] == "gap_last")
    assert gap["value"] == pytest.approx(0.125, abs=0.02) and gap["verdict"] == "holds"
    # where the papers state a range, the gap is claim 3's primary row: inside the range by two
    # one-sided tests, Holm across the primary rows
    assert gap["role"] == "primary" and gap["claimed"] == "in (0.1, 0.15) at epoch 8"
    assert gap["p_holm"] < 0.05 and gap["min_effect"] == 0
    # far from CIFAR-10's range, and no range at all: fewer replicates decide it as well
    cifar = claims.finish_primary(claims.claim_attacks(table, {"d": "cifar10"}, n_boot=100,
                                                       rng=RNG(0)))
    assert next(r for r in cifar if r["claim"] == "gap_last")["verdict"] == "fails"
    other = claims.claim_attacks(table, {"d": "digits"}, n_boot=100, rng=RNG(0))
    gap = next(r for r in other if r["claim"] == "gap_last")
    assert gap["verdict"] == "n/a" and gap["value"] == pytest.approx(0.125, abs=0.02)
    assert gap["role"] == ""  # no range for this data: a value, not a test
    # a gap at the edge of the range (0.15, 200 images) decides nothing
    edge = attack_table({"a": 0.0}, ta_slope=0.05, base=0.75, n=200)
    rows = claims.finish_primary(claims.claim_attacks(edge, {"d": "mnist"}, n_boot=500,
                                                      rng=RNG(0)))
    gap = next(r for r in rows if r["claim"] == "gap_last")
    assert gap["value"] == pytest.approx(0.15, abs=0.05) and gap["verdict"] == "inconclusive"


def test_gap_is_read_per_attack_and_for_the_mean_and_ta_against_the_papers_level():
    """Claim 3's two readings (TA − RA per attack and TA − mean RA) and TA beside v4 §2.1's
    "over 98 %" on MNIST, the shipped real-MNIST subset included."""
    table = attack_table({"near": 0.0, "far": -0.0375}, ta_slope=0.06, base=0.85, n=20000)
    rows = claims.claim_attacks(table, {"d": "mnist_subset"}, n_boot=300, rng=RNG(0))
    each = by_attack(rows, "gap_last_each")
    # TA at epoch 8 ≈ 0.98; "near" RA 0.85 → gap 0.13 holds; "far" RA 0.55 → gap 0.43 fails
    assert each["near"]["value"] == pytest.approx(0.13, abs=0.02)
    assert each["near"]["verdict"] == "holds" and each["far"]["verdict"] == "fails"
    assert each["near"]["claimed"] == "in (0.1, 0.15)"
    mean = next(r for r in rows if r["claim"] == "gap_last")
    assert mean["value"] == pytest.approx((each["near"]["value"] + each["far"]["value"]) / 2)
    level = next(r for r in rows if r["claim"] == "ta_level")
    assert level["value"] == pytest.approx(0.98, abs=0.01) and level["claimed"] == "> 0.98"
    assert level["verdict"] == "inconclusive"  # 0.98 ± 0.002 straddles 0.98
    low = attack_table({"a": 0.0}, ta_slope=0.05, n=5000)  # TA 0.9 at epoch 8
    got = next(r for r in claims.claim_attacks(low, {"d": "mnist"}, n_boot=100, rng=RNG(0))
               if r["claim"] == "ta_level")
    assert got["verdict"] == "fails"
    cifar = next(r for r in claims.claim_attacks(low, {"d": "cifar10"}, n_boot=100, rng=RNG(0))
                 if r["claim"] == "ta_level")
    assert cifar["claimed"] == "n/a" and cifar["verdict"] == "n/a"  # no level for net "m"
    assert claims.ta_level("cifar10", "cnn4") == ("in", 0.55, 0.65)


def test_feature_level_falling_faster_holds_and_slower_fails():
    pixel = attack_table({"a": -0.01}, level="pixel")
    for step, expected in ((-0.05, "holds"), (0.03, "fails")):
        feature = attack_table({"a": step}, level="feature", seed=1)
        rows = claims.claim_attacks(pd.concat([pixel, feature]), {}, n_boot=1000, rng=RNG(0))
        row = next(r for r in rows if r["claim"] == "feature_faster")
        assert row["verdict"] == expected, row
        stronger = next(r for r in rows if r["claim"] == "feature_stronger")
        # at epoch 8 feature RA is 0.55 − 0.4 = 0.15 (or 0.79) against pixel's 0.47
        assert stronger["verdict"] == ("holds" if step < 0 else "fails"), stronger
        assert stronger["role"] == "primary" and stronger["claimed"] == "> +0.02 at epoch 8"


def test_worst_case_row_and_attacks_not_in_the_papers():
    """The worst case of the papers' attacks gets its own ra_falls row (from the stored
    worst_correct); autoattack (not in the papers) enters neither a row nor the means."""
    from upnn import robustness

    table = attack_table({"pgd": -0.04, "bim": -0.02, "autoattack": 0.05})
    parts = []
    for _, g in table.groupby("epoch"):
        recs = robustness.worst_case(g.to_dict("records"))
        parts.append(pd.DataFrame(recs))
    table = pd.concat(parts, ignore_index=True)
    rows = claims.claim_attacks(table, {"d": "mnist"}, n_boot=500, rng=RNG(0))
    ra = by_attack(rows, "ra_falls")
    assert "autoattack" not in ra
    assert "mean of bim, pgd" in ra
    worst = ra["worst of the papers' attacks"]
    assert worst["verdict"] == "holds" and worst["n"] == 400
    assert worst["value"] < -0.5  # both papers' attacks fall faster than TA rises


def test_adding_an_attack_leaves_the_other_rows_intervals_alone():
    """Each attack row bootstraps from its own stream and each stage from its own: a new attack
    changes no other row's interval, in its panel or in a later stage (with one shared stream
    every later row's interval shifted)."""
    a = attack_table({"pgd": -0.04, "bim": -0.02})
    ost = a[a["attack"] == "pgd"].assign(attack="ost")  # the same clean images, another attack
    ost["robust_correct"] = [RNG(i).random(len(c)) < 0.5 for i, c in enumerate(ost["clean_correct"])]
    ost["robust_acc"] = [r.mean() for r in ost["robust_correct"]]
    noise = RNG(2).standard_normal((4, 5, 2)) * 0.01
    toy = pd.DataFrame([{"seed": s, "epoch": e, "dx": 1.0 - 0.003 * e + noise[s, e - 1, 0],
                         "dp": 0.01 * e, "robust_acc": 0.5 + noise[s, e - 1, 1],
                         "test_acc": 0.5 + 0.01 * e, "n_test": 100} for s in range(4)
                        for e in range(1, 6)])

    def intervals(frame: pd.DataFrame) -> dict:
        t = claims.table({"attacks": frame, "toy2d": toy}, sources={"d": "mnist"}, config="x",
                         n_boot=300)
        return {(r.claim, r.attack): (r.ci_low, r.ci_high) for r in t.itertuples()
                if not np.isnan(r.ci_low)}

    before, after = intervals(a), intervals(pd.concat([ost, a], ignore_index=True))
    assert ("ra_falls", "ost") in set(after) - set(before)  # and the means now over 3 attacks
    for key in (("ta_rises", ""), ("ra_falls", "pgd"), ("ra_falls", "bim"),
                ("toy_dx_falls", ""), ("toy_ra_falls", "pgd")):
        assert after[key] == before[key], key


def test_sparsefool_rows_on_fewer_images_are_resampled_on_their_own_images():
    table = attack_table({"pgd": -0.05})
    small = table.copy()
    small["attack"], small["n"] = "sparsefool", 40
    small["image_index"] = [a[:40] for a in small["image_index"]]
    small["clean_correct"] = [a[:40] for a in small["clean_correct"]]
    small["robust_correct"] = [np.zeros(40, bool)] * len(small)
    rows = claims.claim_attacks(pd.concat([table, small]), {}, n_boot=300, rng=RNG(0))
    sf = by_attack(rows, "ra_falls")["sparsefool"]
    assert sf["value"] == 0 and sf["verdict"] == "inconclusive"  # pinned at 0: no trend


def test_toy_claims_bootstrap_over_seeds():
    epochs, seeds = np.arange(1, 51), range(5)
    rng = RNG(0)
    metrics = pd.DataFrame([{"seed": s, "epoch": e, "dx": 1 - 0.01 * e + 0.01 * rng.standard_normal(),
                             "dp": 0.01 * e, "robust_acc": 0.5 + 0.01 * rng.standard_normal(),
                             "test_acc": 0.5 + 0.005 * e, "n_test": 1000}
                            for s in seeds for e in epochs])
    rows = {r["claim"]: r for r in claims.finish_primary(claims.claim_toy2d(metrics, n_boot=500,
                                                                            rng=rng))}
    assert rows["toy_dx_falls"]["verdict"] == "holds" and rows["toy_dp_rises"]["verdict"] == "holds"
    assert rows["toy_ta_rises"]["verdict"] == "holds"
    assert rows["toy_ra_falls"]["verdict"] == "inconclusive"
    assert rows["toy_dx_falls"]["n"] == 5 and rows["toy_dx_falls"]["unit"] == "seeds"
    # TA and RA are primary rows: last − first epoch, test points drawn within each seed
    assert rows["toy_ta_rises"]["role"] == "primary" and rows["toy_ta_rises"]["seeds"] == 5
    assert rows["toy_ta_rises"]["value"] == pytest.approx(0.245)
    assert rows["toy_ta_rises"]["stable"] is True and rows["toy_ra_falls"]["n"] == 1000


def test_words_claims():
    rng = RNG(0)
    rows = []
    for size, acc, cos_inc in ((1, 0.6, 0.1), (4, 0.75, 0.3), (16, 0.98, 0.6)):
        for s in range(10):
            for e in range(1, 6):
                rows.append({"embedding_size": size, "seed": s, "epoch": e, "accuracy": acc,
                             "cos_correct": 0.3 * (size == 16) + 0.02 * rng.standard_normal(),
                             "cos_incorrect": cos_inc + 0.02 * rng.standard_normal()})
    out = claims.finish_primary(claims.claim_words(pd.DataFrame(rows), n_boot=500, rng=rng))
    zero = {r["setting"]: r for r in out if r["claim"] == "words_correct_zero"}
    # claim 6's primary rows: inside (−0.1, 0.1) by two one-sided tests, Holm over the three
    assert {k: r["verdict"] for k, r in zero.items()} == {
        "embedding size 1": "holds", "embedding size 4": "holds", "embedding size 16": "fails"}
    assert {(r["role"], r["claimed"], r["seeds"]) for r in zero.values()} == {
        ("primary", "in (-0.1, 0.1) over epochs", 10)}
    # three embedding sizes are three points: a rank trend over < 5 points is not testable
    incorrect = next(r for r in out if r["claim"] == "words_incorrect_accuracy")
    assert incorrect["value"] == pytest.approx(1.0) and incorrect["verdict"] == "not testable"


def test_ifa_and_tcl_claims_from_accuracies_and_n():
    traj = pd.DataFrame([{"dataset": "d", "model": "m", "seed": 0, "n_epoch": 1, "split": "train",
                          "iteration": i, "accuracy": 0.2 + 0.1 * k,
                          "robust_accuracy": 0.3, "n_images": 1000}
                         for k, i in enumerate((0, 1, 2, 5, 10))])
    summary = pd.DataFrame([{"dataset": "d", "model": "m", "seed": 0, "n_epoch": ne, "net": net,
                             "accuracy": acc, "robust_accuracy": ra, "n_test": 2000}
                            for ne, net, acc, ra in ((1, "CL", 0.5, 0.2), (1, "TCL", 0.7, 0.6),
                                                     (5, "CL", 0.6, 0.1), (5, "TCL", 0.6, 0.4),
                                                     (50, "CL", 0.7, 0.05), (50, "TCL", 0.5, 0.2))])
    rows = {r["claim"]: r for r in claims.finish_primary(claims.claim_ifa(traj, summary,
                                                                         n_boot=500, rng=RNG(0)))}
    assert rows["ifa_ta_rises"]["verdict"] == "holds"
    assert rows["ifa_ra_rises"]["verdict"] == "inconclusive"  # flat
    # primary rows: TA at the last − at the first iteration, one seed (no stability column)
    assert rows["ifa_ta_rises"]["role"] == "primary" and rows["ifa_ta_rises"]["stable"] is None
    assert rows["ifa_ta_rises"]["value"] == pytest.approx(0.4) and rows["ifa_ra_rises"]["value"] == 0
    assert rows["tcl_beats_cl_ta"]["value"] == pytest.approx(0.2)
    assert rows["tcl_beats_cl_ta"]["verdict"] == "holds" == rows["tcl_beats_cl_ra"]["verdict"]
    # primary rows: beyond 0.02 at the smallest N_epoch, seeds pooled (no stability column)
    assert rows["tcl_beats_cl_ta"]["role"] == "primary" and rows["tcl_beats_cl_ta"]["stable"] is None
    assert rows["tcl_beats_cl_ra"]["claimed"] == "> +0.02 at N_epoch 1"
    close = summary.assign(accuracy=np.where(summary["net"] == "TCL", summary["accuracy"] - 0.19,
                                             summary["accuracy"]))  # TCL ahead by 0.01 only
    near = {r["claim"]: r for r in claims.finish_primary(claims.claim_ifa(
        traj, close, n_boot=500, rng=RNG(0)))}["tcl_beats_cl_ta"]
    assert near["value"] == pytest.approx(0.01) and near["verdict"] == "inconclusive"
    assert rows["tcl_ta_falls"]["value"] == pytest.approx(-1.0)  # over 3 N_epoch: not testable
    assert rows["tcl_ta_falls"]["verdict"] == "not testable" == rows["tcl_ra_falls"]["verdict"]
    five = pd.DataFrame([{"dataset": "d", "model": "m", "seed": 0, "n_epoch": ne, "net": "TCL",
                          "accuracy": 0.8 - 0.05 * k, "robust_accuracy": 0.5 - 0.05 * k,
                          "n_test": 2000} for k, ne in enumerate((1, 2, 5, 10, 50))])
    rows = {r["claim"]: r for r in claims.claim_ifa(traj, five, n_boot=500, rng=RNG(0))}
    assert rows["tcl_ta_falls"]["verdict"] == "holds" == rows["tcl_ra_falls"]["verdict"]


def test_frequency_claim_needs_the_ratio_to_rise_with_accuracy():
    def frame(ratios):
        return pd.DataFrame([{"dataset": "d", "model": "m", "seed": 0, "epoch": e,
                              "test_acc": 0.3 + 0.1 * e, "hf_ratio_mean": r, "hf_ratio_std": 0.01,
                              "n_images": 1000} for e, r in zip((1, 2, 3, 4, 5), ratios, strict=True)])
    up = claims.claim_frequency(frame([0.4, 0.45, 0.5, 0.55, 0.6]), n_boot=500, rng=RNG(0))[0]
    down = claims.claim_frequency(frame([0.6, 0.55, 0.5, 0.45, 0.4]), n_boot=500, rng=RNG(0))[0]
    assert (up["verdict"], down["verdict"]) == ("holds", "fails")
    four = claims.claim_frequency(frame([0.4, 0.45, 0.5, 0.55, 0.6]).iloc[:4], n_boot=100,
                                  rng=RNG(0))[0]
    assert four["verdict"] == "not testable"


@pytest.mark.parametrize("step, verdict", [(0.02, "holds"), (-0.02, "fails"), (0.002, "inconclusive")])
def test_frequency_primary_row_is_the_change_of_the_ratio_beyond_two_points(step, verdict):
    """Claim 9's primary row: the Theil–Sen change of the mean hf ratio over the epochs, seeds
    resampled, against 0.02 (after Holm); a rise of 0.008 over the window is inconclusive."""
    frame = pd.DataFrame([{"dataset": "d", "model": "m", "seed": s, "epoch": e,
                           "test_acc": 0.3 + 0.1 * e, "n_images": 200, "hf_ratio_std": 0.05,
                           "hf_ratio_mean": 0.5 + step * e + 0.003 * s}
                          for s in (0, 1, 2) for e in (1, 2, 3, 5, 10)])
    rows = claims.finish_primary(claims.claim_frequency(frame, n_boot=500, rng=RNG(0)))
    (r,) = [r for r in rows if r["role"] == "primary"]
    assert r["claim"] == "hf_ratio_change" and r["seeds"] == 3 and r["verdict"] == verdict
    assert r["value"] == pytest.approx(step * 9) and r["ci_low"] <= r["value"] <= r["ci_high"]
    assert r["claimed"] == "> +0.02 over the window" and r["stable"] is not None


def packets(level, sx_step, sp_step, *, dims=20, product=0.1):
    rng = RNG(0)
    rows = []
    for e in range(1, 6):
        for d in range(dims):
            sx = 0.3 + sx_step * e + 0.001 * rng.standard_normal()
            sp = 0.1 + sp_step * e + 0.001 * rng.standard_normal()
            rows.append({"dataset": "d", "model": "m", "seed": 0, "level": level, "epoch": e,
                         "class": 8, "dim": d, "sigma_x": sx, "sigma_p": sp,
                         # pixel packets flat (σ_x is the flat value), feature ones peaked
                         "sigma_x_flat": sx + 0.001 if level == "pixel" else 0.5,
                         "product": product, "satisfies_bound": product >= 0.5})
    return pd.DataFrame(rows)


def test_uncertainty_claims():
    table = pd.concat([packets("pixel", -0.001, 0.001), packets("feature", -0.02, 0.02)])
    rows = claims.claim_uncertainty(table, None, n_boot=500, rng=RNG(0))
    get = {(r["claim"], r["level"]): r for r in rows}
    # the pixel packets are flat (dx_not_flat fails), so their ΔX trend measures the interval
    assert get[("dx_falls", "pixel")]["value"] == pytest.approx(-1.0)
    assert get[("dx_falls", "pixel")]["verdict"] == "n/a"
    assert "packets flat" in get[("dx_falls", "pixel")]["setting"]
    assert get[("dx_falls", "feature")]["verdict"] == "holds"  # peaked packets keep a verdict
    assert get[("dx_clearer_feature", "feature − pixel")]["verdict"] == "n/a"
    assert get[("dp_rises", "feature")]["verdict"] == "holds"
    assert get[("bound_share", "pixel")]["verdict"] == "fails"
    assert get[("bound_share", "pixel")]["value"] == 0
    assert get[("bound_share", "pixel")]["role"] == "primary"
    finished = {(r["claim"], r["level"]): r for r in claims.finish_primary(rows)}
    assert finished[("bound_share", "pixel")]["verdict"] == "fails"  # 0 of the cells, not > 0.95
    # ΔX·ΔP = sqrt(Σσx)·sqrt(Σσp) over the 20 dimensions at the last epoch
    assert get[("bound_product", "pixel")]["value"] == pytest.approx(20 * np.sqrt(0.295 * 0.105),
                                                                     rel=0.02)
    assert get[("bound_product", "pixel")]["verdict"] == "n/a"  # it grows with the 20 dims
    assert {"dx_clearer_feature", "dp_clearer_feature"} <= {r["claim"] for r in rows}
    assert get[("dx_not_flat", "pixel")]["verdict"] == "fails"  # flat: ΔX is the interval's
    assert get[("dx_not_flat", "feature")]["verdict"] == "holds"
    # claim 10's primary rows: the relative change of mean σ over the window beyond 10 %, after
    # Holm; ΔX of flat packets n/a and out of the family
    done = {(r["claim"], r["level"]): r for r in claims.finish_primary(rows)}
    assert done[("dx_change", "feature")]["value"] == pytest.approx(np.log(0.2 / 0.28), abs=0.01)
    assert done[("dx_change", "feature")]["verdict"] == "holds"
    assert done[("dp_change", "feature")]["value"] == pytest.approx(np.log(0.2 / 0.12), abs=0.01)
    assert done[("dp_change", "feature")]["verdict"] == "holds"
    assert done[("dp_change", "pixel")]["value"] == pytest.approx(np.log(0.105 / 0.101), abs=0.01)
    # a 4 % rise: inside ±10 %, neither the claimed effect nor its opposite
    assert done[("dp_change", "pixel")]["verdict"] == "inconclusive"
    assert done[("dx_change", "pixel")]["verdict"] == "n/a"
    assert np.isnan(done[("dx_change", "pixel")]["p_holm"])
    assert done[("dx_falls", "feature")]["role"] == "secondary"
    assert done[("dp_change", "feature")]["min_effect"] == pytest.approx(np.log(1.1))


def tsne_points(shares):
    """t-SNE stage rows of 200 class-8 test images per epoch: (epoch, clean hit share, attacked
    hit share) for each entry of ``shares``."""
    return pd.DataFrame([
        {"dataset": "d", "model": "m", "seed": 0, "epoch": e, "kind": kind, "index": i,
         "label": 8, "target_class": 8, "pred": 8 if (i % 10) < share * 10 else 3}
        for e, hit_clean, hit_attacked in shares for i in range(200)
        for kind, share in (("clean", hit_clean), ("attacked", hit_attacked))])


def test_class_share_claims_from_tsne_points():
    shares = ((1, 0.3, 0.3), (2, 0.5, 0.25), (3, 0.6, 0.2), (4, 0.8, 0.15), (5, 0.9, 0.1))
    packs = packets("pixel", -0.01, 0.01)
    out = {r["claim"]: r for r in claims.claim_uncertainty(packs, tsne_points(shares),
                                                           n_boot=300, rng=RNG(0))}
    assert out["class_ta_rises"]["verdict"] == "holds"
    assert out["class_ra_falls"]["verdict"] == "holds"
    assert out["class_ra_falls"]["role"] == "secondary"
    # the primary rows: the change of each share over the 5 epochs, beyond ±0.02 after Holm
    rows = claims.finish_primary(list(out.values()))
    prim = {r["claim"]: r for r in rows if r["role"] == "primary"}
    assert set(prim) == {"class_ta_change", "class_ra_change", "bound_share", "dx_change",
                         "dp_change"}
    assert prim["class_ta_change"]["value"] == pytest.approx(0.6, abs=0.05)  # 0.3 → 0.9
    assert prim["class_ra_change"]["value"] == pytest.approx(-0.2, abs=0.05)  # 0.3 → 0.1
    assert prim["class_ta_change"]["verdict"] == prim["class_ra_change"]["verdict"] == "holds"
    assert prim["class_ta_change"]["unit"] == "class-8 test images"
    # three epochs (as the offline default's t-SNE maps) are too few for a trend
    few = claims.claim_uncertainty(packs, tsne_points(shares[:3]), n_boot=300, rng=RNG(0))
    assert {r["verdict"] for r in claims.finish_primary(few)
            if r["claim"].startswith("class_") and r["role"] == "primary"} == {"not testable"}


def test_llm_claims():
    llm = pd.DataFrame([{"model": "tiny", "task": t, "condition": c, "acc": acc, "n": 1000,
                         "chance": ch}
                        for t, ch, accs in (("arc_challenge", 0.25, (0.4, 0.38, 0.25, 0.24)),
                                            ("piqa", 0.5, (0.7, 0.7, 0.69, 0.7)))
                        for c, acc in zip(("none", "random", "fgsm", "bim"), accs, strict=True)])
    rows = claims.claim_llm(llm, n_boot=500, rng=RNG(0))
    got = {(r["claim"], r["dataset"], r["attack"]): r["verdict"] for r in rows}
    assert got[("llm_gradient_vs_random", "arc_challenge", "fgsm")] == "holds"
    assert got[("llm_gradient_vs_random", "piqa", "bim")] == "inconclusive"
    # the primary rows: beyond 0.02 after Holm; 0.38 → 0.25 is, 0.70 → 0.70 is not
    prim = {(r["dataset"], r["attack"]): r for r in claims.finish_primary(rows)
            if r["claim"] == "llm_gradient_beats_random"}
    assert len(prim) == 4 and all(r["role"] == "primary" for r in prim.values())
    assert prim[("arc_challenge", "fgsm")]["verdict"] == "holds"
    assert prim[("arc_challenge", "fgsm")]["value"] == pytest.approx(0.13)
    assert prim[("piqa", "bim")]["verdict"] != "holds"
    assert got[("llm_chance", "arc_challenge", "bim")] == "holds"
    assert ("llm_chance", "piqa", "fgsm") not in got  # chance is claimed for three tasks only


def test_table_marks_stages_that_are_off_as_not_run_and_writes_markdown():
    table = claims.table({"attacks": attack_table({"pgd": -0.05})}, sources={"d": "mnist"},
                         config="config/x.yaml", n_boot=200)
    assert list(table.columns) == list(claims.COLUMNS)
    assert set(claims.CLAIMS) == set(table["claim"])  # every claim has a row
    off = table[table["claim"].isin(claims.STAGE_CLAIMS["toy2d"] + claims.STAGE_CLAIMS["llm"])]
    assert (off["verdict"] == "not run").all()
    assert (table["config"] == "config/x.yaml").all()
    assert set(table["verdict"]) <= set(claims.VERDICTS)
    md = claims_markdown.markdown(table)
    counts = claims_markdown.counts(table)
    assert f"not run: {counts['not run']}" in md
    assert md.count("\n| ") == len(table) + 2  # header, separator, one line per row


def test_summary_counts_every_row_once():
    table = claims.table({"attacks": attack_table({"pgd": -0.05, "flat": 0.0})},
                         sources={"d": "mnist"}, config="c", n_boot=200)
    s = claims_markdown.summary(table)
    assert s[list(claims.VERDICTS)].to_numpy().sum() == len(table)
    assert list(s["claim"]) == list(dict.fromkeys(table["claim"]))
    md = claims_markdown.summary_markdown(table)
    assert md.count("\n| ") == len(s) + 2


def minimal_table(step: float, *, epochs: int = 8, n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Minimal-stage rows: ε* per image ~ lognormal whose median moves by ``step`` per epoch."""
    rng = RNG(seed)
    rows = []
    for e in range(1, epochs + 1):
        eps = np.exp(rng.normal(np.log(0.1) + step * e, 0.5, n))
        correct = rng.random(n) < 0.8
        eps = np.where(correct, eps, 0.0)
        rows.append(pd.DataFrame({"dataset": "d", "model": "m", "seed": 0, "epoch": e,
                                  "image_index": np.arange(n), "clean_correct": correct,
                                  "eps_min": eps, "deepfool_l2": 2 * eps, "attack": "bim",
                                  "max_eps": 0.5, "resolution": 1 / 255}))
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize("step, verdict", [(-0.1, "holds"), (0.1, "fails"), (0.0, None)])
def test_minimal_eps_claim(step, verdict):
    rows = claims.claim_minimal(minimal_table(step), n_boot=400, rng=RNG(1))
    rows = [r for r in rows if r["role"] == "secondary"]
    assert [r["setting"] for r in rows] == ["all images", "correctly classified images"]
    for r in rows:
        assert r["claim"] == "minimal_eps_falls" and r["ci_low"] <= r["ci_high"]
        if verdict:
            assert r["verdict"] == verdict
        else:
            assert r["verdict"] != "holds" or r["ci_high"] < 0  # a flat series rarely holds


@pytest.mark.parametrize("step, verdict", [(-0.1, "holds"), (0.1, "fails"), (0.0, "inconclusive")])
def test_minimal_primary_row_is_the_area_under_the_robustness_curve(step, verdict):
    """Claim 14's primary row: the Theil–Sen change of mean min(ε*, max_eps) (0 if misclassified
    clean), the area under RA(ε) on [0, max_eps], against the bisection's resolution."""
    table = minimal_table(step)
    table.loc[table.index[::50], "eps_min"] = np.inf  # never broken within max_eps
    rows = claims.finish_primary(claims.claim_minimal(table, n_boot=400, rng=RNG(1)))
    (r,) = [r for r in rows if r["role"] == "primary"]
    assert r["claim"] == "minimal_eps_change" and r["min_effect"] == pytest.approx(1 / 255)
    assert r["claimed"] == "< −0.00392 over the window" and r["verdict"] == verdict
    area = table.assign(a=np.where(table["clean_correct"], table["eps_min"].clip(upper=0.5), 0))
    mean = area.groupby("epoch")["a"].mean().to_numpy()
    assert r["value"] == pytest.approx(stats.window_change(np.arange(1, 9))(mean[None])[0])
    assert r["setting"] == "trained phase: epochs 1–8" and r["ci_low"] <= r["value"] <= r["ci_high"]
    # RA(ε) integrates to the same area: the share of images with ε* > ε, over a fine grid
    last = area[area["epoch"] == 8]["a"].to_numpy()
    grid = np.linspace(0, 0.5, 20001)
    ra = (last[None] > grid[:, None]).mean(1)
    assert np.trapezoid(ra, grid) == pytest.approx(last.mean(), abs=1e-4)


def test_median_trend_interval_covers_the_estimate_of_a_clear_trend():
    vals = np.vstack([np.full(50, k) + RNG(k).normal(0, 0.1, 50) for k in range(6)])
    est, lo, hi = claims.median_trend(vals, np.arange(6), n_boot=200, rng=RNG(0))
    assert est == pytest.approx(1.0) and lo == pytest.approx(1.0) and hi == pytest.approx(1.0)


def test_hierarchical_bootstrap_covers_a_known_mean_when_seeds_vary():
    """Seeds shift accuracy (sd 0.05, as training runs do): resampling seeds, then images within
    them, covers the known mean in 93–97 % of trials; resampling images alone does not."""
    rng = RNG(0)
    hits = flat = 0
    trials, seeds, images = 400, 5, 100
    groups = np.repeat(np.arange(seeds), images)
    for _ in range(trials):
        p = 0.6 + rng.normal(0, 0.05, seeds)
        values = (rng.random((seeds, images)) < p[:, None]).astype(float).reshape(1, -1)
        _, lo, hi = stats.bootstrap(values, lambda m: m[:, 0], n_boot=400, rng=rng, groups=groups)
        hits += lo <= 0.6 <= hi
        _, lo, hi = stats.bootstrap(values, lambda m: m[:, 0], n_boot=400, rng=rng)
        flat += lo <= 0.6 <= hi
    assert 0.93 <= hits / trials <= 0.97
    assert flat / trials < 0.88  # training variation outside the interval: it under-covers


def test_unit_weights_draw_whole_seeds_then_images_within_them():
    groups = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    w = stats.unit_weights(groups, 500, RNG(0))
    assert (w.sum(1) == 9).all()  # as many units as there are
    per_seed = w.reshape(500, 3, 3).sum(2)
    assert set(np.unique(per_seed)) <= {0, 3, 6, 9}  # a seed is drawn whole, 0–3 times
    assert (per_seed == 0).any() and (per_seed == 9).any()
    one = stats.unit_weights(np.zeros(9), 50, RNG(1))
    assert np.array_equal(one, RNG(1).multinomial(9, np.full(9, 1 / 9), size=50))


def test_degenerate_accuracies_get_spread_from_the_jeffreys_posterior():
    reps = stats.binomial_replicates(np.array([1.0, 0.0, 0.5]), np.array([50, 50, 50]), 2000,
                                      RNG(0))
    assert reps[:, 0].min() < 1 and reps[:, 1].max() > 0  # no zero-width interval at 1 or 0
    lo, hi = stats.percentile_interval(reps[:, 0], estimate=1.0)
    assert hi == 1.0 and 0.9 < lo < 1.0
    assert abs(reps[:, 2].mean() - 0.5) < 0.01  # inside (0, 1) unchanged: Binomial(n, p̂)


def test_no_interval_excludes_its_own_estimate():
    """A strong trend over ten epochs: resamples that tie epochs can only lower ρ, so the plain
    percentile interval can lie wholly below the estimate; the table's interval contains it."""
    epochs = np.arange(1, 11)
    values = (RNG(3).random((10, 200)) < (0.5 + 0.03 * epochs)[:, None]).astype(float)
    est, lo, hi = stats.bootstrap(values, stats.trend(epochs), n_boot=1000, rng=RNG(1))
    reps = stats.trend(epochs)(stats.resample(values, 1000, RNG(1)))
    plain = stats.percentile_interval(reps)
    assert plain[1] < est  # the old interval excluded it
    assert lo == plain[0] and hi == est  # widened to the estimate, no narrower
    for estimate in (5.0, -5.0, 0.1):
        lo, hi = stats.percentile_interval(RNG(0).normal(0, 1, 500), estimate=estimate)
        assert lo <= estimate <= hi


def test_attack_rows_resample_seeds_and_say_how_many():
    one = attack_table({"a": -0.03}, n=300)
    three = pd.concat([attack_table({"a": -0.03}, n=300, seed=s).assign(seed=s)
                       for s in range(3)], ignore_index=True)
    rows1 = claims.claim_attacks(one, {"d": "mnist"}, n_boot=200, rng=RNG(0))
    rows3 = claims.claim_attacks(three, {"d": "mnist"}, n_boot=200, rng=RNG(0))
    assert {r["seeds"] for r in rows1} == {1} and {r["seeds"] for r in rows3} == {3}
    assert {r["n"] for r in rows3 if r["claim"] == "ra_falls"} == {300}  # images, not seed×image
    table = claims.table({"attacks": one}, sources={"d": "mnist"}, config="c", n_boot=100)
    md = claims_markdown.markdown(table)
    assert "*(one run)*" in md and "rest on a single training run" in claims_markdown.summary_markdown(table)


def test_ra_change_is_primary_over_the_trained_phase_with_the_window_and_ra_over_ta_beside():
    """Issue 25 item 4: RA rises with TA while the net learns (epochs 1–3), then falls; the
    primary row reads the trained phase (TA ≥ 90 % of its last value), the whole window is a
    secondary row, and so is RA/TA."""
    rng = RNG(0)
    n, rows = 3000, []
    ta = [0.3, 0.6, 0.85, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]
    ra = [0.1, 0.45, 0.6, 0.55, 0.5, 0.45, 0.4, 0.35, 0.3, 0.25]
    for e, (t, r) in enumerate(zip(ta, ra, strict=True), start=1):
        clean = rng.random(n) < t
        robust = clean & (rng.random(n) < r / t)
        rows.append({"dataset": "d", "model": "m", "seed": 0, "level": "pixel", "epoch": e,
                     "attack": "bim", "eps_index": 0, "n": n, "image_index": np.arange(n),
                     "clean_correct": clean, "robust_correct": robust, "worst_correct": robust})
    got = claims.claim_attacks(pd.DataFrame(rows), {}, n_boot=300, rng=RNG(1))
    claims.finish_primary(got)
    change = [r for r in got if r["claim"] == "ra_change"]
    prim = next(r for r in change if r["role"] == "primary")
    assert prim["setting"] == "trained phase: epochs 3–10" and prim["verdict"] == "holds"
    assert prim["value"] == pytest.approx(-0.35, abs=0.04)
    whole = next(r for r in change if r["role"] == "secondary")
    assert whole["setting"] == "whole window" and whole["p_holm"] != whole["p_holm"]  # NaN: no Holm
    ratio = next(r for r in got if r["claim"] == "ra_ratio_change")
    assert ratio["role"] == "secondary" and ratio["verdict"] == "holds"
    assert claims.trained_phase(np.arange(1, 11), np.array(ta)[:, None]) == 3
    assert next(r for r in got if r["claim"] == "ta_change")["verdict"] == "holds"


def test_fgsm_drop_reads_the_papers_level_on_cifar10_only():
    table = attack_table({"osnt": 0.0, "bim": 0.0}, base=0.05, n=2000)
    for source, expected in (("cifar10", "holds"), ("mnist", "n/a")):
        row = next(r for r in claims.claim_attacks(table, {"d": source}, n_boot=300, rng=RNG(0))
                   if r["claim"] == "fgsm_drop")
        assert row["attack"] == "osnt" and row["value"] == pytest.approx(0.05, abs=0.015)
        assert row["verdict"] == expected
    high = attack_table({"osnt": 0.0}, base=0.5, n=2000)
    row = next(r for r in claims.claim_attacks(high, {"d": "cifar10"}, n_boot=300, rng=RNG(0))
               if r["claim"] == "fgsm_drop")
    assert row["verdict"] == "fails"


def test_plain_classifier_over_n_epoch_v3_fig6a():
    summary = pd.DataFrame([{"dataset": "d", "model": "m", "seed": 0, "n_epoch": ne, "net": "CL",
                             "accuracy": acc, "robust_accuracy": ra, "n_test": 2000}
                            for ne, acc, ra in ((1, 0.5, 0.3), (5, 0.6, 0.2), (50, 0.7, 0.1))])
    traj = pd.DataFrame([{"dataset": "d", "model": "m", "seed": 0, "n_epoch": 1, "split": "train",
                          "iteration": i, "accuracy": 0.5, "robust_accuracy": 0.3,
                          "n_images": 1000} for i in range(5)])
    rows = {r["claim"]: r for r in claims.claim_ifa(traj, summary, n_boot=500, rng=RNG(0))}
    assert rows["cl_ta_rises"]["value"] == pytest.approx(0.2)
    assert rows["cl_ra_falls"]["value"] == pytest.approx(-0.2)
    assert rows["cl_ta_rises"]["verdict"] == "holds" == rows["cl_ra_falls"]["verdict"]
    assert rows["cl_ta_rises"]["setting"] == "N_epoch 50 − 1"


def test_pgd_rows_from_the_uncertainty_summaries_resample_seeds():
    rows = []
    for seed in (0, 1, 2):
        for e in range(1, 11):
            rows.append({"dataset": "d", "model": "m", "level": "pixel", "seed": seed,
                         "epoch": e, "class": 0, "test_acc": 0.5 + 0.03 * e,
                         "robust_acc": 0.5 - 0.03 * e + 0.01 * seed, "n_test": 500})
    got = claims.finish_primary(claims.claim_pgd(pd.DataFrame(rows), n_boot=400, rng=RNG(0)))
    by = {r["claim"]: r for r in got}
    assert by["pgd_ta_rises"]["value"] == pytest.approx(0.27)
    assert by["pgd_ra_falls"]["value"] == pytest.approx(-0.27)
    assert by["pgd_ra_falls"]["verdict"] == "holds" and by["pgd_ra_falls"]["seeds"] == 3
    assert by["pgd_ra_falls"]["stable"] is True
    assert claims.claim_pgd(pd.DataFrame(rows).drop(columns="n_test"), n_boot=10,
                            rng=RNG(0)) == []


def test_a_new_panel_leaves_the_other_panels_intervals_of_the_uncertainty_stages_alone():
    """Issue 25: each row of the uncertainty stage and of the PGD rows draws from its own stream
    (stats.stream keyed by its names), so a panel added before it in the table (the offline
    default's added cnn3 seeds moved resnet9's dp_rises once) leaves its interval as it was."""
    one = packets("feature", -0.02, 0.02)
    other = one.assign(model="a")  # sorts before "m"
    alone = claims.claim_uncertainty(one, None, n_boot=200, rng=RNG(5))
    both = claims.claim_uncertainty(pd.concat([other, one]), None, n_boot=200, rng=RNG(5))
    keep = [r for r in both if r["model"] == "m"]
    for a, b in zip(alone, keep, strict=True):
        assert (a["claim"], a["ci_low"], a["ci_high"]) == (b["claim"], b["ci_low"], b["ci_high"])
    pgd = pd.DataFrame([{"dataset": "d", "model": "m", "level": "pixel", "seed": s, "epoch": e,
                         "class": 0, "test_acc": 0.5 + 0.03 * e, "robust_acc": 0.5 - 0.02 * e,
                         "n_test": 200} for s in (0, 1) for e in range(1, 8)])
    alone = claims.claim_pgd(pgd, n_boot=200, rng=RNG(5))
    keep = [r for r in claims.claim_pgd(pd.concat([pgd.assign(model="a"), pgd]), n_boot=200,
                                        rng=RNG(5)) if r["model"] == "m"]
    for a, b in zip(alone, keep, strict=True):
        assert (a["claim"], a["ci_low"], a["ci_high"]) == (b["claim"], b["ci_low"], b["ci_high"])
