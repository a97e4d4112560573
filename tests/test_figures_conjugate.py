"""The companion figures (conjugate_uncertainty, conjugate_tsne) redrawn from hand-made tables."""

import numpy as np
import pandas as pd
import pytest

from upnn.figures import conjugate_tsne, conjugate_uncertainty, style


def hand_made_summary() -> pd.DataFrame:
    rows = []
    runs = {("mnist", "cnn3"): [8], ("cifar10", "cnn4"): list(range(10)),
            ("cifar10", "resnet9"): list(range(10))}
    for (dataset, model), classes in runs.items():
        for level in ("pixel", "feature"):
            for seed in (0, 1):
                for epoch in range(1, 6):
                    for c in classes:
                        rows.append({
                            "dataset": dataset, "model": model, "seed": seed, "level": level,
                            "epoch": epoch, "class": c,
                            "delta_x": 2.0 - 0.1 * epoch + 0.01 * c,
                            "delta_p": 0.1 * epoch + 0.001 * c,
                            "delta_x_se": 0.02, "delta_p_se": 0.01,
                            "x_flatness": 1.0 - 0.02 * epoch + 0.001 * c,
                            "x_flatness_se": 0.005,
                            "test_acc": 0.5 + 0.08 * epoch + 0.01 * seed,
                            "robust_acc": 0.4 - 0.05 * epoch})
    return pd.DataFrame(rows)


def test_conjugate_uncertainty_from_hand_made_table(tmp_path):
    summary = hand_made_summary()
    fig = conjugate_uncertainty.draw(summary)
    panels = [a for a in fig.axes if a.get_label() != "<colorbar>"]
    assert len(panels) == 12  # 3 runs x (feature, pixel) x (accuracy, flatness-ΔP)
    ta = next(line for line in panels[0].get_lines() if line.get_label() == "TA")
    np.testing.assert_allclose(ta.get_ydata(), 0.5 + 0.08 * np.arange(1, 6) + 0.005)  # 2 seeds
    # the cifar10 rows average over the ten classes: flatness = 1 - 0.02 e + 0.0045
    flat, trail = panels[5].get_lines()[:2]  # cnn4 / cifar10, feature: flat line, trajectory
    np.testing.assert_allclose(flat.get_ydata(), [1.0, 1.0])
    np.testing.assert_allclose(trail.get_ydata(), 1.0 - 0.02 * np.arange(1, 6) + 0.0045)
    np.testing.assert_allclose(trail.get_xdata(), 0.1 * np.arange(1, 6) + 0.0045)
    texts = {t.get_text() for a in panels for t in a.texts}
    assert {"Y = 8\nΔX 1.980 → 1.580", "mean over 10 Y\nΔX 1.945 → 1.545"} <= texts
    style.save(fig, tmp_path / "conjugate_uncertainty.pdf")
    assert (tmp_path / "conjugate_uncertainty.pdf").read_bytes()[:4] == b"%PDF"
    assert (tmp_path / "conjugate_uncertainty.png").read_bytes()[:4] == b"\x89PNG"


def test_conjugate_uncertainty_per_epoch_standard_error():
    frame = conjugate_uncertainty.per_epoch(hand_made_summary())
    cifar = frame[(frame.model == "cnn4") & (frame.level == "pixel") & (frame.epoch == 1)]
    # 20 rows (10 classes x 2 seeds) of se 0.02 → sqrt(20 · 0.02²) / 20
    assert cifar["delta_x_se"].item() == pytest.approx(np.sqrt(20 * 0.02**2) / 20)
    assert cifar["n_classes"].item() == 10


def test_conjugate_uncertainty_rejects_missing_columns():
    with pytest.raises(ValueError, match="lacks columns"):
        conjugate_uncertainty.draw(pd.DataFrame({"epoch": [1]}))


def hand_made_tsne() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    points, grids = [], []
    for epoch in (1, 3, 5):
        for kind in ("clean", "attacked"):
            n = 40
            label = np.arange(n) % 10
            points.append(pd.DataFrame({
                "epoch": epoch, "kind": kind, "index": np.arange(n), "label": label,
                "pred": label if kind == "clean" else (label + 1) % 10,
                "conf": rng.uniform(0, 1, n), "tx": rng.normal(size=n) + label,
                "ty": rng.normal(size=n), "final": epoch == 5, "evolution": epoch in (1, 3, 5),
                "target_class": 8}))
        gx, gy = np.meshgrid(np.linspace(-3, 12, 6), np.linspace(-3, 3, 5))
        grids.append(pd.DataFrame({
            "epoch": epoch, "gx": gx.ravel(), "gy": gy.ravel(),
            "pred": np.clip(gx.ravel(), 0, 9).astype(int), "conf": np.linspace(0, 1, gx.size),
            "final": epoch == 5, "evolution": True}))
    return pd.concat(points, ignore_index=True), pd.concat(grids, ignore_index=True)


def test_conjugate_tsne_from_hand_made_tables(tmp_path):
    points, grid = hand_made_tsne()
    fig = conjugate_tsne.draw(points, grid)
    titles = [a.get_title() for a in fig.axes]
    assert titles[0].startswith("(A) epoch 5") and titles[1].startswith("(B) epoch 5")
    assert sum(t.startswith("(C)") for t in titles) == 3
    assert sum(t.startswith("(D)") for t in titles) == 3
    texts = {t.get_text() for a in fig.axes for t in a.texts}
    assert "accuracy 1.00" in texts and "accuracy 0.00" in texts  # clean vs all-fooled
    # shading image of panel A is the grid, 5 rows (y) x 6 columns (x)
    assert fig.axes[0].images[0].get_array().shape == (5, 6)
    style.save(fig, tmp_path / "conjugate_tsne.pdf")
    assert (tmp_path / "conjugate_tsne.pdf").read_bytes()[:4] == b"%PDF"
    assert (tmp_path / "conjugate_tsne.png").read_bytes()[:4] == b"\x89PNG"


def test_conjugate_tsne_rejects_missing_columns():
    points, grid = hand_made_tsne()
    with pytest.raises(ValueError, match="grid table lacks columns"):
        conjugate_tsne.draw(points, grid.drop(columns="conf"))


def test_conjugate_uncertainty_draws_the_seed_band_or_says_there_is_none():
    from scipy import stats

    summary = hand_made_summary()
    fig = conjugate_uncertainty.draw(summary)
    ax = next(a for a in fig.axes if a.get_label() != "<colorbar>")
    ta, ra = [c.get_paths()[0].vertices[:, 1] for c in ax.collections if c.get_paths()]
    # TA per epoch: seeds 0.5 + 0.08 e and 0.51 + 0.08 e (the same for every class)
    mean = 0.505 + 0.08 * np.arange(1, 6)
    half = stats.t.ppf(0.975, 1) * np.std([0.0, 0.01], ddof=1) / np.sqrt(2)
    np.testing.assert_allclose([ta.min(), ta.max()], [mean.min() - half, mean.max() + half])
    np.testing.assert_allclose(np.ptp(ra), 0.05 * 4)  # RA equal over seeds: a band of width 0
    assert "TA/RA band: 95 % t interval of the mean over 2 seeds" in _caption(fig)
    fig = conjugate_uncertainty.draw(summary[summary["seed"] == 0])
    assert "no band (one seed, and the table has no image count)" in _caption(fig)
    ax = next(a for a in fig.axes if a.get_label() != "<colorbar>")
    assert not [c for c in ax.collections if c.get_paths()]


def _caption(fig):
    """The figure's suptitle, its wrapped lines joined."""
    return fig._suptitle.get_text().replace("\n", " ")
