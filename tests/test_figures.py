"""Figures redrawn from hand-made tables (no pipeline run needed)."""

import numpy as np
import pandas as pd
import pytest

from upnn.figures import fig1, robustness, style


def hand_made_attack_table():
    rows = []
    for dataset, models_ in {"mnist": ["cnn3"], "cifar10": ["cnn4", "resnet9"]}.items():
        for model in models_:
            for seed in (0, 1):
                for epoch in range(1, 6):
                    for i, attack in enumerate(["ost", "osnt", "bim", "illc", "pgd", "sparsefool"]):
                        rows.append({"dataset": dataset, "model": model, "seed": seed,
                                     "epoch": epoch, "attack": attack, "eps_index": 0,
                                     "n": 10 if attack == "sparsefool" else 200,
                                     # SparseFool's 10 images happen to be easier
                                     "clean_acc": 0.5 + 0.08 * epoch + 0.01 * seed
                                     + 0.2 * (attack == "sparsefool"),
                                     "robust_acc": max(0.0, 0.6 - 0.1 * epoch - 0.05 * i)})
    papers = pd.DataFrame(rows)
    other = papers.assign(eps_index=1, robust_acc=1.0)  # a second amplitude: not in Fig. 2
    return pd.concat([papers, other], ignore_index=True)


def test_robustness_figure_from_hand_made_table(tmp_path):
    fig = robustness.draw(hand_made_attack_table(), title="pixel level")
    axes = [a for a in fig.axes if a.get_visible()]
    assert len(axes) == 3  # mnist/cnn3, cifar10/cnn4, cifar10/resnet9
    ta = next(line for line in axes[0].get_lines() if line.get_label() == "TA")
    # TA on the whole attacked subset (not SparseFool's smaller one), mean of 2 seeds
    np.testing.assert_allclose(ta.get_ydata(), 0.5 + 0.08 * np.arange(1, 6) + 0.005)
    labels = {line.get_label() for line in axes[0].get_lines()}
    assert {"RA ost", "RA sparsefool"} <= labels
    ost = next(line for line in axes[0].get_lines() if line.get_label() == "RA ost")
    np.testing.assert_allclose(ost.get_ydata(), np.maximum(0, 0.6 - 0.1 * np.arange(1, 6)))
    style.save(fig, tmp_path / "fig2.pdf")
    assert (tmp_path / "fig2.pdf").read_bytes()[:4] == b"%PDF"
    assert (tmp_path / "fig2.png").read_bytes()[:4] == b"\x89PNG"


def per_image_table(seeds, n=200):
    """cnn3 on one dataset: TA and RA per epoch with per-image outcomes drawn at known rates,
    robust_acc_worst from them, and autoattack at the last epoch only (not in the papers)."""
    rng = np.random.default_rng(0)
    rows = []
    for seed in seeds:
        for epoch in range(1, 5):
            clean = rng.random(n) < 0.6 + 0.05 * epoch + 0.02 * seed
            outcomes = {a: clean & (rng.random(n) < 0.7 - 0.1 * epoch - 0.1 * i)
                        for i, a in enumerate(["bim", "pgd"])}
            if epoch == 4:
                outcomes["autoattack"] = outcomes["bim"] & outcomes["pgd"] & (rng.random(n) < .8)
            worst = outcomes["bim"] & outcomes["pgd"]
            for a, robust in outcomes.items():
                rows.append({"dataset": "fashion", "model": "cnn3", "seed": seed, "epoch": epoch,
                             "attack": a, "in_papers": a != "autoattack", "eps_index": 0,
                             "n": n, "clean_acc": clean.mean(),
                             "robust_acc": robust.mean(), "clean_correct": clean,
                             "robust_correct": robust, "worst_correct": worst,
                             "robust_acc_worst": worst.mean()})
    return pd.DataFrame(rows)


def _bands(ax):
    """The y-extent of each filled band (PolyCollection) on ``ax``, in drawing order."""
    return [c.get_paths()[0].vertices[:, 1] for c in ax.collections if c.get_paths()]


def test_three_seeds_draw_mean_lines_and_seed_bands():
    from scipy import stats

    table = per_image_table([0, 1, 2])
    fig = robustness.draw(table, title="pixel level", n_boot=200)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert {"TA", "RA bim", "RA pgd", "RA worst of the papers' attacks",
            "RA autoattack (not in the papers)"} <= set(lines)
    assert lines["RA autoattack (not in the papers)"].get_linestyle() == "--"
    assert lines["RA bim"].get_linestyle() == "-"
    ta = table[table["attack"] == "bim"].groupby("epoch")["clean_acc"]
    np.testing.assert_allclose(lines["TA"].get_ydata(), ta.mean())
    # the TA band is the t interval of the mean over the 3 seeds at every epoch
    sd = ta.std(ddof=1).to_numpy()
    half = stats.t.ppf(0.975, 2) * sd / np.sqrt(3)
    ta_band = _bands(ax)[0]
    np.testing.assert_allclose(ta_band.max(), (ta.mean() + half).max())
    np.testing.assert_allclose(ta_band.min(), (ta.mean() - half).min())
    assert "95 % t interval of the mean over 3 seeds" in fig._suptitle.get_text()
    worst = lines["RA worst of the papers' attacks"].get_ydata()
    for a in ("bim", "pgd"):
        assert (worst <= lines[f"RA {a}"].get_ydata() + 1e-12).all()


def test_one_seed_draws_the_image_bootstrap_band():
    table = per_image_table([0])
    fig = robustness.draw(table, n_boot=500)
    ax = fig.axes[0]
    assert "95 % bootstrap interval over 200 test images (one seed)" in fig._suptitle.get_text()
    ta_band = _bands(ax)[0]
    # a bootstrap band of a proportion near 0.7 over 200 images: about ±1.96·sqrt(.21/200)
    width = ta_band.max() - ta_band.min()
    assert 0.08 < width < 0.4
    bim = table[table["attack"] == "bim"]
    from upnn import intervals
    b = intervals.band(bim, "robust_acc", n_boot=500)
    assert (b["method"] == "images").all()
    assert ((b["low"] <= b["mean"]) & (b["mean"] <= b["high"])).all()
    assert ((b["high"] - b["low"]) > 0.05).all()


def test_robustness_figure_rejects_a_table_without_needed_columns():
    with pytest.raises(ValueError, match="lacks columns"):
        robustness.draw(pd.DataFrame({"epoch": [1]}))


def test_fig1_from_hand_made_table(tmp_path):
    n = 4
    examples = pd.DataFrame({"label": [1, 2, 3, 4], "pred_clean": [1, 2, 3, 0],
                             "conf_clean": [0.9] * 4, "pred_adv": [7, 2, 5, 0],
                             "conf_adv": [0.6] * 4})
    images = np.random.default_rng(0).random((n, 1, 8, 8))
    fig = fig1.draw(examples, images, images[::-1], {"epoch": "3", "attack": "osnt", "eps": "0.1",
                                                      "test_acc": "0.9", "robust_acc": "0.2"})
    assert len(fig.axes) == 2 * n
    assert fig.axes[0].get_title() == "1 (90%)"
    assert "TA 90.0%, RA 20.0%" in fig._suptitle.get_text()
    style.save(fig, tmp_path / "fig1.pdf")
    assert (tmp_path / "fig1.png").exists()


def test_robustness_eps_figure_from_hand_made_tables(tmp_path):
    from upnn.figures import robustness_eps

    attacks = hand_made_attack_table().assign(
        eps=lambda t: np.where(t["eps_index"] == 0, 0.1, 0.2))
    rng = np.random.default_rng(0)
    rows = []
    for dataset, model in [("mnist", "cnn3"), ("cifar10", "cnn4")]:
        for epoch in range(1, 6):
            eps = rng.uniform(0, 0.2 / epoch, 40)
            rows.append(pd.DataFrame({"dataset": dataset, "model": model, "seed": 0,
                                      "epoch": epoch, "image_index": np.arange(40),
                                      "clean_correct": eps > 0.01, "eps_min": eps,
                                      "deepfool_l2": 3 * eps}))
    minimal = pd.concat(rows, ignore_index=True)
    med = robustness_eps.medians(minimal)
    first = minimal[(minimal["model"] == "cnn3") & (minimal["epoch"] == 1)]
    got = med[(med["model"] == "cnn3") & (med["epoch"] == 1)].iloc[0]
    assert got["eps_median"] == pytest.approx(first["eps_min"].median())
    assert got["eps_median_correct"] == pytest.approx(
        first.loc[first["clean_correct"], "eps_min"].median())
    implied = robustness_eps.ra_from_minimal(minimal, [0.05])
    one = implied[(implied["model"] == "cnn3") & (implied["epoch"] == 1)]["robust_acc"].item()
    assert one == pytest.approx((first["eps_min"] > 0.05).mean())
    assert robustness_eps.amplitudes([0.1, 0.2]) == [0.025, 0.05, 0.1, 0.2]
    fig = robustness_eps.draw(attacks, minimal, attack="bim")
    top = fig.axes[0]
    labels = [line.get_label() for line in top.get_lines()]
    # the table's lines at its amplitudes, the lines implied by ε* at every amplitude of the grid
    assert labels == ["TA", "from ε*, ε=0.025", "from ε*, ε=0.05", "RA bim ε=0.1",
                      "from ε*, ε=0.1", "RA bim ε=0.2", "from ε*, ε=0.2"]
    style.save(fig, tmp_path / "robustness_eps.pdf")
    assert (tmp_path / "robustness_eps.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="minimal table lacks columns"):
        robustness_eps.draw(attacks, minimal.drop(columns="eps_min"), attack="bim")
