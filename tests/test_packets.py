"""Tests for upnn.packets: packet moments (supp. Eq. 22), aggregation (Eq. 23), batching."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from upnn.models import eval_mode
from upnn.packets import (
    METHODS,
    aggregate,
    aggregate_se,
    choose_dims,
    moments_from_samples,
    network_moments,
    network_moments_classes,
    packet_moments,
    sample_points,
)


def gaussian_loss(mu: float, s: float):
    """l(x) whose packet psi = l/sqrt(beta) is exp(-(x-mu)²/(4s²)): sigma_x = s, sigma_p = 1/2s."""
    return lambda x: torch.exp(-((x - mu) ** 2) / (4 * s * s))


# ---------------------------------------------------------------- sample_points


@pytest.mark.parametrize("method", METHODS)
def test_sample_points_shapes_weights_determinism(method):
    x, w = sample_points(method, -1.0, 3.0, 33, seed=5)
    assert x.shape == w.shape == (33,)
    assert x.min() >= -1 and x.max() <= 3
    assert float(w.sum()) == pytest.approx(4.0, rel=1e-6)
    x2, _ = sample_points(method, -1.0, 3.0, 33, seed=5)
    assert torch.equal(x, x2)

    lo, hi = torch.tensor([0.0, -2.0, 1.0]), torch.tensor([1.0, 2.0, 1.5])
    xb, wb = sample_points(method, lo, hi, 16, seed=1, dtype=torch.float64)
    assert xb.shape == wb.shape == (3, 16) and xb.dtype == torch.float64
    assert torch.all(xb >= lo[:, None]) and torch.all(xb <= hi[:, None])
    torch.testing.assert_close(wb.sum(-1), hi.double() - lo.double())
    if method != "quadrature":  # random methods: new seed, new points; rows independent
        assert not torch.equal(sample_points(method, lo, hi, 16, seed=2)[0], xb.float())
        assert not torch.allclose((xb[0] - lo[0]) / 1.0, (xb[2] - lo[2]) / 0.5)


def test_quadrature_exact_for_polynomials():
    x, w = sample_points("quadrature", -0.5, 2.0, 6, dtype=torch.float64)
    poly = 3 * x**11 - x**4 + 2  # degree 2n - 1 = 11 is integrated exactly
    exact = 3 * (2.0**12 - 0.5**12) / 12 - (2.0**5 + 0.5**5) / 5 + 2 * 2.5
    assert float((w * poly).sum()) == pytest.approx(exact, rel=1e-12)


def test_bad_method_message():
    for call in (
        lambda: sample_points("bogus", 0.0, 1.0, 8),
        lambda: packet_moments(lambda x: x, 0.0, 1.0, method="bogus"),
        lambda: moments_from_samples(*[torch.ones(4)] * 4, method="bogus"),
        lambda: network_moments(
            nn.Linear(3, 2),
            torch.zeros(3),
            0,
            torch.tensor([1]),
            torch.zeros(1),
            torch.ones(1),
            method="bogus",
        ),
    ):
        with pytest.raises(ValueError) as err:
            call()
        msg = str(err.value)
        assert "\n" not in msg and "'bogus'" in msg
        assert all(m in msg for m in METHODS)


# ---------------------------------------------------------------- closed forms


@pytest.mark.parametrize("mu", [0.0, 0.25])
def test_gaussian_packet_quadrature_saturates_bound(mu):
    s = 0.1
    r = packet_moments(gaussian_loss(mu, s), -1.0, 1.0, method="quadrature", n_points=256)
    assert r["product"] == pytest.approx(0.5, abs=1e-4)
    assert r["sigma_x"] == pytest.approx(s, rel=1e-4)
    assert r["sigma_p"] == pytest.approx(1 / (2 * s), rel=1e-4)
    assert r["x_mean"] == pytest.approx(mu, abs=1e-5)
    assert r["p_mean"] == pytest.approx(0.0, abs=1e-4)
    assert r["beta"] == pytest.approx(s * math.sqrt(2 * math.pi), rel=1e-4)
    assert "product_se" not in r
    assert isinstance(r["satisfies_bound"], bool)


@pytest.mark.parametrize("method", ["mc", "qmc"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gaussian_packet_random_within_3se(method, seed):
    r = packet_moments(
        gaussian_loss(0.0, 0.1), -1.0, 1.0, method=method, n_points=1 << 16, seed=seed
    )
    assert 0 < r["product_se"] < 0.01
    assert abs(r["product"] - 0.5) < 3 * r["product_se"]
    assert abs(r["sigma_x"] - 0.1) < 3 * r["sigma_x_se"]


@pytest.mark.parametrize("method", METHODS)
def test_constant_packet(method):
    lo, hi = -0.5, 2.0
    n = 64 if method == "quadrature" else 4096
    r = packet_moments(lambda x: torch.full_like(x, 2.0), lo, hi, method=method, n_points=n)
    assert r["sigma_p"] == 0.0 and r["p_mean"] == 0.0 and r["product"] == 0.0
    assert r["satisfies_bound"] is False
    if method == "quadrature":
        assert r["x_mean"] == pytest.approx((lo + hi) / 2, abs=1e-6)
        assert r["sigma_x"] == pytest.approx((hi - lo) / math.sqrt(12), rel=1e-6)
        assert r["beta"] == pytest.approx(4 * (hi - lo), rel=1e-6)
    else:
        assert abs(r["x_mean"] - (lo + hi) / 2) < 4 * r["x_mean_se"]
        assert abs(r["sigma_x"] - (hi - lo) / math.sqrt(12)) < 4 * r["sigma_x_se"]
        assert r["beta"] == pytest.approx(4 * (hi - lo), rel=1e-6)  # l² const: exact
    # differentiable-but-constant loss gives the same, through autograd
    r2 = packet_moments(lambda x: 0 * x + 2, lo, hi, method=method, n_points=n)
    assert r2["sigma_p"] == 0.0 and r2["sigma_x"] == pytest.approx(r["sigma_x"])


@pytest.mark.parametrize("method", METHODS)
def test_linear_packet(method):
    """l = x on [0, 1]: psi² = 3x², <x> = 3/4, sigma_x² = 3/5 - 9/16; psi' = sqrt(3), so
    <p> = [psi²]/2 = 3/2 (nonzero on a bounded interval), sigma_p² = 3 - 9/4 = 3/4."""
    n = 64 if method == "quadrature" else 4096
    r = packet_moments(lambda x: x, 0.0, 1.0, method=method, n_points=n, dtype=torch.float64)
    exact = {
        "beta": 1 / 3,
        "x_mean": 0.75,
        "sigma_x": math.sqrt(3 / 5 - 9 / 16),
        "p_mean": 1.5,
        "sigma_p": math.sqrt(0.75),
    }
    for k, v in exact.items():
        if method == "quadrature":
            assert r[k] == pytest.approx(v, rel=1e-9), k
        else:
            assert abs(r[k] - v) < 4 * r[f"{k}_se"], k
    # a packet that does not vanish at the ends can violate sigma_x * sigma_p >= 1/2
    assert r["product"] == pytest.approx(math.sqrt(0.75 * (3 / 5 - 9 / 16)), rel=0.05)
    assert r["satisfies_bound"] is False


def test_qmc_beats_mc_on_smooth_case():
    loss, n = gaussian_loss(0.1, 0.3), 1024
    exact = packet_moments(loss, -1.0, 1.0, method="quadrature", n_points=256, dtype=torch.float64)[
        "product"
    ]

    def err(method):
        return (
            sum(
                abs(
                    packet_moments(
                        loss, -1.0, 1.0, method=method, n_points=n, seed=s, dtype=torch.float64
                    )["product"]
                    - exact
                )
                for s in range(8)
            )
            / 8
        )

    assert err("qmc") < err("mc") / 10


def test_mc_standard_error_is_calibrated():
    """The delta-method se matches the seed-to-seed spread of the MC estimate."""
    loss = lambda x: 1 + x + torch.sin(3 * x)  # noqa: E731
    runs = [
        packet_moments(loss, 0.0, 2.0, method="mc", n_points=512, seed=s, dtype=torch.float64)
        for s in range(300)
    ]
    for k in ("beta", "x_mean", "sigma_x", "p_mean", "sigma_p", "product"):
        vals = torch.tensor([r[k] for r in runs])
        mean_se = sum(r[f"{k}_se"] for r in runs) / len(runs)
        assert float(vals.std()) == pytest.approx(mean_se, rel=0.2), k


def test_moments_vectorised_over_rows():
    gen = torch.Generator().manual_seed(0)
    x, w = sample_points("mc", torch.zeros(4), torch.ones(4), 64, seed=3)
    loss, dl = torch.randn(4, 64, generator=gen), torch.randn(4, 64, generator=gen)
    batched = moments_from_samples(loss, dl, x, w, method="mc")
    for i in range(4):
        row = moments_from_samples(loss[i], dl[i], x[i], w[i], method="mc")
        for k, v in row.items():
            torch.testing.assert_close(batched[k][i], v)
    q = moments_from_samples(loss, dl, x, w, method="quadrature")
    assert torch.isnan(q["product_se"]).all() and q["product"].shape == (4,)


# ---------------------------------------------------------------- networks


def tiny_cnn() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1, stride=2),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 10),
    )
    with torch.no_grad():  # non-trivial BN statistics, so train vs eval mode would differ
        net[1].running_mean.uniform_(-0.2, 0.2)
        net[1].running_var.uniform_(0.5, 2.0)
    return net


def tiny_mlp() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(12, 16), nn.Tanh(), nn.Dropout(0.5), nn.Linear(16, 3))


CASES = {
    "cnn": (tiny_cnn, (1, 8, 8), 3),
    "mlp": (tiny_mlp, (12,), torch.tensor([0, 2, 1, 1, 0])),
}


def pointwise_reference(model, x_base, label, dims, lo, hi, *, method, n_points, seed):
    """Slow, independent reference for `network_moments`: one forward/backward per point in plain
    loops, the same points (`sample_points`, same seed), float64 cross-entropy."""
    k = len(dims)
    lo, hi = torch.as_tensor(lo).expand(k), torch.as_tensor(hi).expand(k)
    labels = torch.as_tensor(label).reshape(-1).expand(k)
    x, w = sample_points(method, lo, hi, n_points, seed=seed, dtype=x_base.dtype)
    loss_pts = torch.empty(k, n_points, dtype=torch.float64)
    dl = torch.empty(k, n_points, dtype=x_base.dtype)
    with eval_mode(model):
        for i in range(k):
            for j in range(n_points):
                inp = x_base.detach().clone()
                inp.view(-1)[dims[i]] = x[i, j]
                inp.requires_grad_(True)
                loss = F.cross_entropy(model(inp[None]).double(), labels[i : i + 1])
                (grad,) = torch.autograd.grad(loss, inp)
                loss_pts[i, j] = loss.detach()
                dl[i, j] = grad.view(-1)[dims[i]]
    return moments_from_samples(loss_pts, dl, x, w, method=method)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_network_moments_matches_pointwise(case, method):
    build, shape, label = CASES[case]
    model = build()
    model.train()
    gen = torch.Generator().manual_seed(7)
    x_base = torch.rand(shape, generator=gen)
    numel = x_base.numel()
    dims = choose_dims(numel, 5, seed=3)
    lo = torch.zeros(5) if case == "cnn" else -torch.rand(5, generator=gen) - 0.5
    hi = torch.ones(5) if case == "cnn" else torch.rand(5, generator=gen) + 0.5
    kw = dict(method=method, n_points=16, seed=11)
    fast = network_moments(model, x_base, label, dims, lo, hi, batch_size=13, **kw)
    ref = pointwise_reference(model, x_base, label, dims, lo, hi, **kw)
    assert model.training
    assert all(p.grad is None for p in model.parameters())
    assert set(fast) == set(ref)
    for k in fast:
        assert fast[k].shape == (5,)
        assert fast[k].dtype == (torch.bool if k == "satisfies_bound" else torch.float64)
        torch.testing.assert_close(fast[k], ref[k], rtol=1e-5, atol=1e-7, equal_nan=True)
    # chunk size does not change the answer
    one_chunk = network_moments(model, x_base, label, dims, lo, hi, **kw)
    for k in fast:
        torch.testing.assert_close(one_chunk[k], fast[k], rtol=1e-5, atol=1e-7, equal_nan=True)


def test_network_moments_varies_the_right_element():
    """A linear model whose loss depends on only one input: only that dimension has spread."""
    model = nn.Linear(6, 2, bias=False)
    with torch.no_grad():
        model.weight.zero_()
        model.weight[0, 4] = 3.0
    dims = torch.tensor([1, 4])
    r = network_moments(
        model,
        torch.full((6,), 0.5),
        1,
        dims,
        torch.zeros(2),
        torch.ones(2),
        method="quadrature",
        n_points=32,
    )
    assert r["sigma_p"][0] == 0 and r["sigma_p"][1] > 0
    assert r["sigma_x"][0] == pytest.approx(1 / math.sqrt(12), rel=1e-6)


@pytest.mark.parametrize("method", ["mc", "quadrature"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_network_moments_classes_equals_one_label_at_a_time(case, method):
    """The forward-mode all-labels path gives, per label, what network_moments gives."""
    build, shape, _ = CASES[case]
    model = build()
    model.train()
    x_base = torch.rand(shape, generator=torch.Generator().manual_seed(2))
    dims = choose_dims(x_base.numel(), 4, seed=5)
    lo, hi = torch.full((4,), -0.5), torch.ones(4)
    classes = [2, 0, 1]
    kw = dict(method=method, n_points=16, seed=3)
    many = network_moments_classes(model, x_base, classes, dims, lo, hi, batch_size=7, **kw)
    assert model.training
    assert all(p.grad is None for p in model.parameters())
    for i, label in enumerate(classes):
        one = network_moments(model, x_base, label, dims, lo, hi, **kw)
        assert set(one) == set(many)
        for k in one:
            assert many[k].shape == (3, 4)
            torch.testing.assert_close(many[k][i], one[k], rtol=1e-5, atol=1e-7, equal_nan=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_network_moments_cuda_matches_cpu():
    model, x_base = tiny_cnn(), torch.rand(1, 8, 8)
    dims = choose_dims(64, 6, seed=0)
    args = (3, dims, torch.zeros(6), torch.ones(6))
    cpu = network_moments(model, x_base, *args, method="qmc", n_points=64)
    gpu = network_moments(model.cuda(), x_base.cuda(), *args, method="qmc", n_points=64)
    for k in cpu:
        assert gpu[k].device.type == "cuda"
        torch.testing.assert_close(gpu[k].cpu(), cpu[k], rtol=1e-3, atol=1e-5)


# ---------------------------------------------------------------- dims and aggregation


def test_choose_dims():
    a, b = choose_dims(784, 50, seed=4), choose_dims(784, 50, seed=4)
    assert torch.equal(a, b) and a.dtype == torch.long and a.shape == (50,)
    assert torch.all(a[1:] > a[:-1])  # sorted, distinct
    assert a.min() >= 0 and a.max() < 784
    assert not torch.equal(a, choose_dims(784, 50, seed=5))
    assert torch.equal(choose_dims(10, 99, seed=0), torch.arange(10))


def test_aggregate_and_se():
    sx, sp = torch.tensor([0.1, 0.2, 0.7]), torch.tensor([2.0, 3.0, 4.0])
    dx, dp = aggregate(sx, sp)
    assert dx == pytest.approx(1.0) and dp == pytest.approx(3.0)
    sx_se, sp_se = torch.tensor([0.01, 0.02, 0.02]), torch.tensor([0.1, 0.2, 0.2])
    ex, ep = aggregate_se(sx, sp, sx_se, sp_se)
    assert ex == pytest.approx(0.03 / (2 * 1.0))
    assert ep == pytest.approx(0.3 / (2 * 3.0))
