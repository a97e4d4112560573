"""Tests for upnn.uncertainty (the stage): the per-checkpoint pixel/feature analysis, t-SNE maps."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from upnn import features, models, packets, uncertainty


def tiny_classifier(seed: int = 0) -> models.Classifier:
    torch.manual_seed(seed)
    return models.build("cnn4", in_channels=1, image_size=12, width=0.125).eval()


def blobs(n: int = 120, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose mean brightness in one of 10 horizontal bands gives the label."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 10
    x = 0.1 * torch.rand(n, 1, 12, 12, generator=gen)
    for i in range(n):
        row = int(y[i]) * 12 // 10
        x[i, 0, row] += 0.8
    return x.clamp(0, 1), y


def test_retrain_head_reinitialises_is_seeded_and_learns():
    gen = torch.Generator().manual_seed(0)
    f = torch.randn(200, 6, generator=gen)
    y = (f[:, 0] > 0).long() + 2 * (f[:, 1] > 0).long()
    head = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 4))
    before = [p.clone() for p in head.parameters()]
    state = torch.get_rng_state()
    a = uncertainty.retrain_head(head, f, y, epochs=0, seed=3)
    assert torch.equal(torch.get_rng_state(), state)  # global RNG untouched
    assert all(torch.equal(p, q) for p, q in zip(head.parameters(), before, strict=True))
    assert not torch.equal(a[0].weight, head[0].weight)  # re-initialised, original kept
    b = uncertainty.retrain_head(head, f, y, epochs=0, seed=3)
    assert torch.equal(a[0].weight, b[0].weight)
    trained = uncertainty.retrain_head(head, f, y, epochs=40, lr=1e-2, batch_size=32, seed=3)
    assert not trained.training
    assert (trained(f).argmax(1) == y).float().mean() > 0.9
    with pytest.raises(ValueError, match="head epochs"):
        uncertainty.retrain_head(head, f, y, epochs=-1)


def test_robust_accuracy_bounds_and_zero_eps():
    model = tiny_classifier()
    x, y = blobs(40)
    acc = (model(x).argmax(1) == y).float().mean().item()
    kw = dict(alpha=0.0, steps=1)
    assert uncertainty.robust_accuracy(model, x, y, eps=0.0, **kw) == pytest.approx(acc)
    f = features.extract(model, x)
    _, head = features.split_head(model.head)
    lo, hi = features.box(f)
    facc = (head(f).argmax(1) == y).float().mean().item()
    got = uncertainty.robust_accuracy(head, f, y, eps=0.0, box=(lo, hi), **kw)
    assert got == pytest.approx(facc)
    strong = uncertainty.robust_accuracy(head, f, y, eps=0.5, alpha=0.2, steps=4, box=(lo, hi))
    assert strong <= facc


def test_packet_dims_skip_empty_intervals_and_are_stable():
    lo = torch.zeros(50)
    hi = torch.ones(50)
    hi[::2] = 0  # every even element is constant
    dims = uncertainty.packet_dims(lo, hi, 10, seed=4)
    assert len(dims) == 10 and len(set(dims.tolist())) == 10
    assert all(int(d) % 2 == 1 for d in dims)
    assert torch.equal(dims, uncertainty.packet_dims(lo, hi, 10, seed=4))
    full = uncertainty.packet_dims(torch.zeros(50), torch.ones(50), 10, seed=4)
    assert set(dims.tolist()) & set(full.tolist())  # same order, fewer candidates
    assert len(uncertainty.packet_dims(lo, hi, 100, seed=4)) == 25


@pytest.mark.parametrize("classes", [[8], [1, 3, 8]])
def test_packets_match_network_moments_per_class(classes):
    model = tiny_classifier()
    x_base = torch.rand(1, 12, 12, generator=torch.Generator().manual_seed(1))
    dims = uncertainty.packet_dims(torch.zeros(144), torch.ones(144), 5, seed=0)
    frame = uncertainty.packet_table(model, x_base, classes, dims, 0.0, 1.0, method="mc", n_points=24,
                              seed=2, batch_size=50)
    assert len(frame) == 5 * len(classes)
    assert list(frame["class"]) == [c for c in classes for _ in range(5)]
    assert (frame["method"] == "mc").all() and (frame["n_points"] == 24).all()
    for c in classes:
        ref = packets.network_moments(model, x_base, c, dims, torch.zeros(5), torch.ones(5),
                                      method="mc", n_points=24, seed=2)
        rows = frame[frame["class"] == c]
        assert rows["dim"].tolist() == dims.tolist()
        for k in (*packets.MOMENTS, "sigma_x_se", "sigma_p_se"):
            np.testing.assert_allclose(rows[k].to_numpy(), ref[k].numpy(), rtol=1e-5, atol=1e-9)


def test_summarise_is_eq23():
    frame = pd.DataFrame({
        "epoch": [1, 1, 1, 2, 2, 2], "class": [8] * 6,
        "sigma_x": [0.1, 0.2, 0.3, 0.4, 0.4, 0.4], "sigma_p": [1.0, 2.0, 3.0, 0.5, 0.5, 0.5],
        "sigma_x_se": [0.01] * 6, "sigma_p_se": [0.1] * 6,
        "product": [0.1, 0.4, 0.9, 0.2, 0.2, 0.2],
        "satisfies_bound": [False, False, True, False, False, False],
        "sigma_x_flat": [1 / math.sqrt(12)] * 6,
    })
    s = uncertainty.summarise(frame)
    flat = 3 / math.sqrt(12)
    assert s["delta_x_flat"][0] == pytest.approx(math.sqrt(flat))
    assert s["x_flatness"][0] == pytest.approx(0.6 / flat)
    assert s["x_flatness_se"][0] == pytest.approx(math.sqrt(3 * 0.01**2) / flat)
    assert list(s["epoch"]) == [1, 2] and list(s["n_dims"]) == [3, 3]
    assert s["delta_x"][0] == pytest.approx(math.sqrt(0.6))
    assert s["delta_p"][0] == pytest.approx(math.sqrt(6.0))
    assert s["delta_product"][0] == pytest.approx(math.sqrt(0.6 * 6.0))
    assert s["delta_x_se"][0] == pytest.approx(math.sqrt(3 * 0.01**2) / (2 * math.sqrt(0.6)))
    assert s["share_bound"][0] == pytest.approx(1 / 3) and s["share_bound"][1] == 0
    assert s["median_product"][0] == pytest.approx(0.4)


@pytest.mark.parametrize("level", features.LEVELS)
def test_evaluate_checkpoint_both_levels(level):
    model = tiny_classifier()
    train, test = blobs(100, seed=0), blobs(40, seed=1)
    frame, acc = uncertainty.evaluate_checkpoint(
        model, level, train, test, classes=[0, 8], n_dims=6, method="mc", n_points=16,
        eps=0.1, alpha=0.025, steps=2, head={"epochs": 3, "lr": 1e-2, "batch_size": 32},
        n_test=30, seed=0)
    assert len(frame) == 2 * 6 and set(frame["class"]) == {0, 8}
    assert 0 <= acc["robust_acc"] <= 1 and 0 <= acc["test_acc"] <= 1
    assert np.isfinite(frame[["sigma_x", "sigma_p", "product"]].to_numpy()).all()
    assert (frame["hi"] > frame["lo"]).all()
    if level == "pixel":
        assert (frame["lo"] == 0).all() and (frame["hi"] == 1).all()
    else:
        f = features.extract(model, train[0])
        assert frame["dim"].max() < f[0].numel()
    assert model.head is not None and not model.training  # the checkpoint's net is untouched
    with pytest.raises(ValueError, match="unknown level 'voxel'; allowed: pixel, feature"):
        uncertainty.evaluate_checkpoint(model, "voxel", train, test, classes=[0], n_dims=1,
                                      method="mc", n_points=4, eps=0.1, alpha=0.1, steps=1)


def test_knn_grid_votes_the_nearest_class():
    pts = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    grid = uncertainty.knn_grid(pts, np.array([3, 3, 7, 7]), np.array([0.0, 0.0, 1.0, 1.0]),
                              size=11, k=2, extent=(0, 5, 0, 5))
    assert len(grid) == 121
    near = grid[(grid.gx < 1) & (grid.gy < 1)]
    far = grid[(grid.gx > 4) & (grid.gy > 4)]
    assert (near.pred == 3).all() and (far.pred == 7).all()
    assert near.conf.max() < 0.2 and far.conf.min() > 0.8


def test_tsne_epoch_tables():
    model = tiny_classifier()
    x, y = blobs(40, seed=2)
    points, grid = uncertainty.tsne_epoch(model, x, y, label=8, eps=0.1, alpha=0.025, steps=2,
                                        perplexity=5, n_iter=50, early_iter=25, grid=9, k=3)
    assert len(points) == 80 and set(points["kind"]) == {"clean", "attacked"}
    assert np.isfinite(points[["tx", "ty", "conf"]].to_numpy()).all()
    assert points["conf"].between(0, 1).all()
    assert len(grid) == 81 and grid["pred"].between(0, 9).all()
    assert grid["gx"].min() <= points["tx"].min() and grid["gx"].max() >= points["tx"].max()
    again, _ = uncertainty.tsne_epoch(model, x, y, label=8, eps=0.1, alpha=0.025, steps=2,
                                    perplexity=5, n_iter=50, early_iter=25, grid=9, k=3)
    # a rerun is bit-identical (issue 25): same seed, one openTSNE thread
    np.testing.assert_array_equal(again[["tx", "ty"]].to_numpy(), points[["tx", "ty"]].to_numpy())


def test_tsne_runs_on_one_thread(monkeypatch):
    """With several threads openTSNE's parallel nearest-neighbour build and gradient sums moved
    two runs of the offline default's maps by up to 2.5e-7 (docs/reliability.md), so the map is
    fitted on one."""
    import openTSNE

    seen = []
    real = openTSNE.TSNE

    def spy(*args, **kwargs):
        seen.append(kwargs.get("n_jobs"))
        return real(*args, **kwargs)

    monkeypatch.setattr(openTSNE, "TSNE", spy)
    x, y = blobs(20, seed=3)
    uncertainty.tsne_epoch(tiny_classifier(), x, y, label=8, eps=0.1, alpha=0.025, steps=1,
                           perplexity=3, n_iter=10, early_iter=5, grid=4, k=3)
    assert seen == [1]


class Affine(nn.Module):
    """Logits (0, a·x_0 + b): the cross-entropy of class 0 along x_0 is softplus(a·x_0 + b)."""

    def __init__(self, a: float, b: float) -> None:
        super().__init__()
        self.a, self.b = a, b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.a * x.flatten(1)[:, :1] + self.b
        return torch.cat([torch.zeros_like(z), z], dim=1)


@pytest.mark.parametrize("a, b, flat", [(0.0, 0.0, True), (-40.0, 30.0, False)])
def test_flatness_of_an_analytic_flat_and_a_peaked_packet(a, b, flat):
    """a = 0: l is constant, ψ² uniform, σ_x = (hi − lo)/√12 and x_flatness = 1. a = −40, b = 30:
    l = softplus(30 − 40x) ≈ 30 − 40x for x < 0.75 and ≈ 0 after, so ψ² is a falling ramp on
    [0, 0.75] and x_flatness ≈ 0.5 (checked against a fine Riemann sum of the same moments)."""
    x_base = torch.zeros(1, 2, 2)
    frame = uncertainty.packet_table(Affine(a, b), x_base, [0], torch.tensor([0]), torch.zeros(1, 2, 2),
                              torch.ones(1, 2, 2), method="quadrature", n_points=256)
    s = uncertainty.summarise(frame, keys=("class",))
    if flat:
        assert s["x_flatness"][0] == pytest.approx(1.0, abs=1e-6)  # float32 nodes
        assert s["delta_x"][0] == pytest.approx(s["delta_x_flat"][0])
    else:
        xs = np.linspace(0, 1, 200001)
        l2 = np.logaddexp(0, b + a * xs) ** 2
        mean = (xs * l2).sum() / l2.sum()
        sigma = math.sqrt(((xs - mean) ** 2 * l2).sum() / l2.sum())
        assert s["x_flatness"][0] == pytest.approx(sigma * math.sqrt(12), rel=1e-3)
        assert 0.4 < s["x_flatness"][0] < 0.6
    assert s["x_flatness_se"][0] < 1e-3  # quadrature error: 256 against 128 nodes


def test_quadrature_error_is_the_difference_to_the_half_rule():
    model = tiny_classifier()
    x_base = blobs(10)[0].mean(0)
    kw = dict(method="quadrature", seed=0)
    dims = torch.tensor([3, 50])
    fine = uncertainty.packet_table(model, x_base, [1], dims, 0.0, 1.0, n_points=16, **kw)
    coarse = uncertainty.packet_table(model, x_base, [1], dims, 0.0, 1.0, n_points=8, **kw)
    np.testing.assert_allclose(fine["sigma_p_se"], (fine["sigma_p"] - coarse["sigma_p"]).abs())


def test_interval_radius_around_the_base_point():
    x_base = torch.tensor([0.05, 0.5, 0.97])
    lo, hi = uncertainty.interval(x_base, torch.zeros(3), torch.ones(3), 0.1)
    torch.testing.assert_close(lo, torch.tensor([0.0, 0.4, 0.87]))
    torch.testing.assert_close(hi, torch.tensor([0.15, 0.6, 1.0]))
    same = uncertainty.interval(x_base, torch.zeros(3), torch.ones(3), None)
    assert torch.equal(same[0], torch.zeros(3)) and torch.equal(same[1], torch.ones(3))
    flo, fhi = uncertainty.interval(torch.tensor([5.0]), torch.tensor([0.0]), torch.tensor([20.0]),
                                  0.1)  # features: a fraction of the range
    assert flo.item() == pytest.approx(3.0) and fhi.item() == pytest.approx(7.0)
    with pytest.raises(ValueError, match="radius must be > 0"):
        uncertainty.interval(x_base, torch.zeros(3), torch.ones(3), 0.0)


def test_packet_classes_come_from_the_data():
    """Issue 29: ``classes: all`` is every class of the data (12 here, not a fixed 10); a listed
    label the data lacks is one line naming it and the allowed labels."""
    assert uncertainty.packet_classes("all", 12) == list(range(12))
    assert uncertainty.packet_classes([8, 1, 8], 10) == [1, 8]
    with pytest.raises(ValueError, match=r"\[3\] are not labels.*allowed: 0\.\.2 or all"):
        uncertainty.packet_classes([0, 3], 3)
