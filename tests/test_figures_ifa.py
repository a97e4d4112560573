"""The IFA stage's figures redrawn from hand-made tables (no pipeline run needed)."""

import numpy as np
import pandas as pd
import pytest

from upnn.figures import ifa_frequency, ifa_pix2pix, ifa_training, style


def summary_table():
    rows = []
    for model in ("cnn4", "resnet9"):
        for seed in (0, 1):
            for e in (1, 5, 50):
                for net, bonus in (("CL", 0.0), ("TCL", 0.1)):
                    rows.append({"dataset": "cifar10", "model": model, "seed": seed, "n_epoch": e,
                                 "net": net, "accuracy": 0.5 + 0.005 * e + 0.01 * seed,
                                 "robust_accuracy": 0.1 + bonus})
    return pd.DataFrame(rows)


def test_ifa_pix2pix_figure(tmp_path):
    fig = ifa_pix2pix.draw(summary_table())
    axes = [a for a in fig.axes if a.get_visible()]
    assert [a.get_title() for a in axes] == ["Conv (cnn4) / cifar10", "Res (resnet9) / cifar10"]
    lines = {line.get_label(): line for line in axes[0].get_lines()}
    assert set(lines) == {"TA CL", "RA CL", "TA TCL", "RA TCL"}
    assert lines["TA CL"].get_linestyle() == "-" and lines["TA TCL"].get_linestyle() == "--"
    np.testing.assert_allclose(lines["TA CL"].get_xdata(), [1, 5, 50])
    np.testing.assert_allclose(lines["TA CL"].get_ydata(), 0.505 + 0.005 * np.array([1, 5, 50]))
    np.testing.assert_allclose(lines["RA TCL"].get_ydata(), [0.2] * 3)
    assert axes[0].get_xscale() == "log"  # 1 .. 50
    style.save(fig, tmp_path / "ifa_pix2pix.pdf")
    assert (tmp_path / "ifa_pix2pix.pdf").read_bytes()[:4] == b"%PDF"
    assert (tmp_path / "ifa_pix2pix.png").read_bytes()[:4] == b"\x89PNG"


def test_ifa_training_figure(tmp_path):
    its = [0, 1, 2, 5, 10, 20, 50, 100, 200]
    rows = [{"dataset": "cifar10", "model": m, "seed": 0, "n_epoch": e, "iteration": n,
             "accuracy": min(1.0, 0.6 + 0.002 * n), "robust_accuracy": 0.1 + 0.001 * n + 0.01 * e}
            for m in ("cnn4", "resnet9") for e in (1, 5, 50) for n in its]
    fig = ifa_training.draw(pd.DataFrame(rows))
    axes = [a for a in fig.axes if a.get_visible()]
    assert len(axes) == 2 and axes[0].get_xscale() == "symlog"
    lines = {line.get_label(): line for line in axes[1].get_lines()}
    assert len(lines) == 6  # TA and RA per N_epoch
    np.testing.assert_allclose(lines["RA, N_epoch=5"].get_ydata(), 0.15 + 0.001 * np.array(its))
    assert lines["RA, N_epoch=5"].get_linestyle() == "--"
    style.save(fig, tmp_path / "ifa_training.pdf")
    assert (tmp_path / "ifa_training.png").exists()


def test_ifa_frequency_figure(tmp_path):
    rows = [{"dataset": d, "model": m, "seed": 0, "epoch": e, "test_acc": 0.3 + 0.1 * i,
             "hf_ratio_mean": 0.6 - 0.02 * i - (0.1 if m == "googlenet" else 0.0),
             "hf_ratio_std": 0.01}
            for d, ms in {"cifar10": ("cnn4", "resnet9", "googlenet"), "mnist": ("cnn3",)}.items()
            for m in ms for i, e in enumerate((1, 2, 3, 5, 10, 50))]
    fig = ifa_frequency.draw(pd.DataFrame(rows))
    axes = [a for a in fig.axes if a.get_visible()]
    assert [a.get_title() for a in axes] == ["cifar10", "mnist"]
    labels = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert labels == ["Conv (cnn4)", "Res (resnet9)", "GoogLeNet (googlenet)"]
    google = [c for c in axes[0].containers if c.get_label() == "GoogLeNet (googlenet)"][0]
    x, y = google.lines[0].get_data()
    np.testing.assert_allclose(np.asarray(x, float), 0.3 + 0.1 * np.arange(6))
    np.testing.assert_allclose(np.asarray(y, float), 0.5 - 0.02 * np.arange(6))
    assert sorted(t.get_text() for t in axes[1].texts) == sorted(["1", "2", "3", "5", "10", "50"])
    style.save(fig, tmp_path / "ifa_frequency.pdf")
    assert (tmp_path / "ifa_frequency.png").exists()


@pytest.mark.parametrize("module", [ifa_pix2pix, ifa_training, ifa_frequency])
def test_figures_reject_tables_without_needed_columns(module):
    with pytest.raises(ValueError, match="lacks columns"):
        module.draw(pd.DataFrame({"dataset": ["x"]}))


def _band_ys(ax):
    """The y values of each filled band (PolyCollection) on ``ax``, in drawing order."""
    return [c.get_paths()[0].vertices[:, 1] for c in ax.collections if c.get_paths()]


def _same_values(got, expected):
    got, expected = np.asarray(got, float), np.asarray(expected, float)
    return (np.isclose(got[:, None], expected[None]).any(1).all()
            and np.isclose(expected[:, None], got[None]).any(1).all())


def test_ifa_pix2pix_two_seeds_draw_the_t_band_over_seeds():
    from scipy import stats

    fig = ifa_pix2pix.draw(summary_table())
    ax = [a for a in fig.axes if a.get_visible()][0]
    # TA CL per N_epoch: seeds 0.5 + 0.005 e and 0.51 + 0.005 e: mean ± t(.975, 1)·0.005
    mean = 0.505 + 0.005 * np.array([1, 5, 50])
    half = stats.t.ppf(0.975, 1) * np.std([0.0, 0.01], ddof=1) / np.sqrt(2)
    assert _same_values(_band_ys(ax)[0], np.r_[mean - half, mean + half])
    assert "band: 95 % t interval of the mean over 2 seeds" in _caption(fig)


def test_ifa_pix2pix_one_seed_draws_the_wilson_band_over_n_test():
    from upnn import stats

    table = summary_table().query("seed == 0").assign(n_test=400)
    fig = ifa_pix2pix.draw(table)
    ax = [a for a in fig.axes if a.get_visible()][0]
    acc = 0.5 + 0.005 * np.array([1, 5, 50])
    lo, hi = np.array([stats.wilson(a * 400, 400) for a in acc]).T
    assert _same_values(_band_ys(ax)[0], np.r_[lo, hi])  # TA CL, the first band drawn
    assert len(_band_ys(ax)) == 4  # TA and RA of CL and TCL
    assert "95 % Wilson interval over 400 test images (one seed)" in _caption(fig)


def test_ifa_training_one_seed_draws_the_wilson_band_over_training_images():
    from upnn import stats

    its = [0, 1, 5]
    rows = [{"dataset": "cifar10", "model": "cnn4", "seed": 0, "n_epoch": 5, "iteration": n,
             "accuracy": 0.6 + 0.02 * n, "robust_accuracy": 0.1 + 0.01 * n, "n_images": 1000}
            for n in its]
    fig = ifa_training.draw(pd.DataFrame(rows))
    ax = [a for a in fig.axes if a.get_visible()][0]
    ta, ra = _band_ys(ax)
    acc = 0.1 + 0.01 * np.array(its)
    lo, hi = np.array([stats.wilson(a * 1000, 1000) for a in acc]).T
    assert _same_values(ra, np.r_[lo, hi])
    assert "95 % Wilson interval over 1000 training images" in _caption(fig)
    # two seeds: the t band over seeds instead
    two = pd.DataFrame(rows + [{**r, "seed": 1, "accuracy": r["accuracy"] + 0.02} for r in rows])
    fig = ifa_training.draw(two)
    assert "t interval of the mean over 2 seeds" in _caption(fig)


def test_ifa_frequency_draws_a_horizontal_wilson_error_bar_on_ta():
    from upnn import stats

    rows = [{"dataset": "cifar10", "model": "cnn4", "seed": 0, "epoch": e, "test_acc": a,
             "hf_ratio_mean": 0.5, "hf_ratio_std": 0.01, "n_images": 300}
            for e, a in ((1, 0.4), (5, 0.7))]
    fig = ifa_frequency.draw(pd.DataFrame(rows))
    ax = [a for a in fig.axes if a.get_visible()][0]
    bar = [c for c in ax.containers if c.get_label() == "Conv (cnn4)"][0]
    horizontal = [seg for lc in bar.lines[2] for seg in lc.get_segments()
                  if np.isclose(seg[0][1], seg[1][1]) and not np.isclose(seg[0][0], seg[1][0])]
    got = sorted((min(s[0][0], s[1][0]), max(s[0][0], s[1][0])) for s in horizontal)
    np.testing.assert_allclose(got, [stats.wilson(120, 300), stats.wilson(210, 300)])
    assert "TA error bar: 95 % Wilson interval over 300 test images" in _caption(fig)
    # no image count and one seed: no interval, and the figure says so
    fig = ifa_frequency.draw(pd.DataFrame(rows).drop(columns="n_images"))
    assert "no TA error bar (one seed, and the table has no image count)" in \
        _caption(fig)


def _caption(fig):
    """The figure's suptitle, its wrapped lines joined."""
    return fig._suptitle.get_text().replace("\n", " ")
