"""Fig. 4 (toy) and Fig. 6 (words) redrawn from hand-made tables."""

import numpy as np
import pandas as pd
import pytest

from upnn.figures import fig4, fig6, style


def hand_made_toy_tables():
    epochs = np.arange(1, 31)
    metrics = pd.DataFrame([
        {"seed": s, "epoch": e, "test_acc": 1 - 0.5 / e, "robust_acc": 0.9 - 0.5 / e - 0.01 * s,
         "dx": 0.2 + 0.4 / e, "dp": 1.0 - 0.9 / e + 0.02 * s}
        for s in (0, 1, 2) for e in epochs])
    g = np.linspace(-1, 1, 7)
    lands = pd.DataFrame([
        {"seed": s, "epoch": e, "label": lab, "x1": a, "x2": b,
         "psi": np.log1p(np.exp((1 - 2 * lab) * e * a / 5)) + 0.01 * s}
        for s in (0, 1) for e in (5, 10, 30) for lab in (0, 1) for a in g for b in g])
    return metrics, lands


def test_fig4_from_hand_made_tables(tmp_path):
    metrics, lands = hand_made_toy_tables()
    fig = fig4.draw(metrics, lands)
    surfaces = [a for a in fig.axes if a.name == "3d"]
    assert len(surfaces) == 3
    assert [a.get_title().split()[2] for a in surfaces] == ["5,", "10,", "30,"]
    acc, unc = [a for a in fig.axes if a.name != "3d"]
    ta = next(line for line in acc.get_lines() if line.get_label() == "TA")
    np.testing.assert_allclose(ta.get_ydata(), 1 - 0.5 / np.arange(1, 31))
    dp = next(line for line in unc.get_lines() if "sigma_p" in line.get_label())
    np.testing.assert_allclose(dp.get_ydata(), 1.0 - 0.9 / np.arange(1, 31) + 0.02)  # seed mean
    assert len(unc.collections) == 2  # one band per line
    style.save(fig, tmp_path / "fig4.pdf")
    assert (tmp_path / "fig4.pdf").read_bytes()[:4] == b"%PDF"
    assert (tmp_path / "fig4.png").read_bytes()[:4] == b"\x89PNG"


def test_fig4_rejects_tables_without_needed_columns():
    metrics, lands = hand_made_toy_tables()
    with pytest.raises(ValueError, match=r"metrics table lacks column\(s\) \['dp'\]"):
        fig4.draw(metrics.drop(columns="dp"), lands)
    with pytest.raises(ValueError, match="landscapes table is empty"):
        fig4.draw(metrics, lands.iloc[:0])


def hand_made_similarity_table():
    rows = []
    for size, acc in ((1, 0.6), (4, 0.75), (16, 1.0)):
        for s in range(3):
            for e in range(1, 26):
                a = min(acc, 0.34 + (acc - 0.34) * e / 20)
                n_inc = round(90 * (1 - a))
                rows.append({"embedding_size": size, "seed": s, "epoch": e, "accuracy": a,
                             "cos_correct": -0.3 - 0.01 * s, "cos_incorrect":
                             np.nan if n_inc == 0 else 0.2 + 0.01 * s,
                             "n_correct": 90 - n_inc, "n_incorrect": n_inc})
    return pd.DataFrame(rows)


def test_fig6_from_hand_made_table(tmp_path):
    table = hand_made_similarity_table()
    fig = fig6.draw(table)
    assert len(fig.axes) == 4  # sizes 1, 4, 16 and the accuracy panel
    assert "size 16, final acc 1.00" in fig.axes[2].get_title()
    correct = next(line for line in fig.axes[0].get_lines() if line.get_label() == "correct words")
    np.testing.assert_allclose(correct.get_ydata(), -0.31)
    incorrect = next(ln for ln in fig.axes[2].get_lines() if ln.get_label() == "incorrect words")
    assert np.isnan(incorrect.get_ydata()[-1]) and np.isfinite(incorrect.get_ydata()[0])
    assert {ln.get_label() for ln in fig.axes[3].get_lines()} == {"size 1", "size 4", "size 16"}
    style.save(fig, tmp_path / "fig6.pdf")
    assert (tmp_path / "fig6.pdf").read_bytes()[:4] == b"%PDF"


def test_fig6_rejects_a_table_without_needed_columns():
    with pytest.raises(ValueError, match="similarity table lacks"):
        fig6.draw(hand_made_similarity_table().drop(columns="cos_incorrect"))


def _band_ys(ax):
    return [c.get_paths()[0].vertices[:, 1] for c in ax.collections if c.get_paths()]


def test_fig4_accuracy_bands_are_t_intervals_over_seeds():
    from scipy import stats

    metrics, lands = hand_made_toy_tables()
    fig = fig4.draw(metrics, lands)
    acc, _ = [a for a in fig.axes if a.name != "3d"]
    ta, ra = _band_ys(acc)
    np.testing.assert_allclose(np.ptp(ta), np.ptp(1 - 0.5 / np.arange(1, 31)))  # TA: seeds agree
    # RA: 0.9 - 0.5/e - 0.01 s over s = 0, 1, 2: mean ± t(.975, 2)·0.01/√3
    half = stats.t.ppf(0.975, 2) * 0.01 / np.sqrt(3)
    mean = 0.9 - 0.5 / np.arange(1, 31) - 0.01
    np.testing.assert_allclose([ra.min(), ra.max()], [mean.min() - half, mean.max() + half])
    assert "D: band: 95 % t interval of the mean over 3 seeds" in _caption(fig)
    fig = fig4.draw(metrics[metrics["seed"] == 0], lands)
    assert "no band (one seed, and the table has no image count)" in _caption(fig)


def test_fig6_one_seed_accuracy_band_is_the_wilson_interval_over_words():
    from upnn import stats

    table = hand_made_similarity_table().query("seed == 0")
    fig = fig6.draw(table)
    bands_ = _band_ys(fig.axes[3])
    assert len(bands_) == 3  # one per size
    size4 = table[table["embedding_size"] == 4].sort_values("epoch")
    n = size4["n_correct"] + size4["n_incorrect"]
    lo, hi = np.array([stats.wilson(a * m, m) for a, m in zip(size4["accuracy"], n, strict=True)]).T
    np.testing.assert_allclose([bands_[1].min(), bands_[1].max()], [lo.min(), hi.max()])
    assert "95 % Wilson interval over 90 words (one seed)" in _caption(fig)
    fig = fig6.draw(hand_made_similarity_table())
    assert "t interval of the mean over 3 seeds" in _caption(fig)


def _caption(fig):
    """The figure's suptitle, its wrapped lines joined."""
    return fig._suptitle.get_text().replace("\n", " ")
