"""Tests for upnn.ifa: iterative FGSM augmentation (arXiv 2205.01493, Eq. 1-2)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from upnn.attacks import attack
from upnn.ifa import (
    ifa_delta,
    ifa_delta_trajectory,
    ifa_step,
)
from upnn.models import eval_mode


def _toy_data(n: int = 1024, seed: int = 0, dtype=torch.float32):
    """3 overlapping Gaussian classes of 1x4x4 'images' around 0.5 (Bayes accuracy < 1)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    protos = torch.randn(3, 1, 4, 4, generator=g)
    x = 0.5 + 0.15 * protos[y] + 0.5 * torch.randn(n, 1, 4, 4, generator=g)
    return x.to(dtype), y


def _mlp(seed: int = 0, dtype=torch.float32) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(16, 32),
            nn.BatchNorm1d(32),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(32, 3),
        ).to(dtype)


@pytest.fixture(scope="module")
def trained():
    """A small MLP trained (seeded, full batch) on the toy set: ~80% training accuracy."""
    x, y = _toy_data()
    model = _mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)  # dropout
        for _ in range(100):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    opt.zero_grad(set_to_none=True)
    model.eval()
    return model, x, y


def _accuracy(model, x, y) -> float:
    with eval_mode(model), torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def test_first_step_is_minus_eps_sign_of_gradient():
    x, y = _toy_data(64, dtype=torch.float64)
    model = _mlp(dtype=torch.float64).eval()
    xr = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(xr), y), xr)
    expected = x - 0.03 * grad.sign()
    assert (grad != 0).all()
    torch.testing.assert_close(ifa_step(model, x, y, 0.03), expected, rtol=0, atol=0)
    delta, rec = ifa_delta(model, x, y, 0.03, 1, record_at=(1,))
    torch.testing.assert_close(delta, -0.03 * grad.sign(), rtol=0, atol=1e-15)
    torch.testing.assert_close(rec[1], expected, rtol=0, atol=0)


def test_ifa_raises_training_accuracy(trained):
    model, x, y = trained
    before = _accuracy(model, x, y)
    delta, _ = ifa_delta(model, x, y, 0.02, 10, batch_size=256)
    after = _accuracy(model, x + delta, y)
    assert 0.6 < before < 0.95, before  # the toy task is genuinely imperfect
    assert after > before + 0.1
    assert after > 0.95


def test_delta_is_sum_of_sign_steps(trained):
    model, x, y = trained
    eps, n = 0.01, 7
    delta, _ = ifa_delta(model, x, y, eps, n)
    assert delta.shape == x.shape and delta.dtype == x.dtype
    steps = delta / eps  # Eq. 2 without clipping: integer multiples of eps, |.| <= N
    assert torch.allclose(steps, steps.round(), atol=1e-3)
    assert steps.abs().max() <= n + 1e-3


def test_record_at_returns_x_n(trained):
    model, x, y = trained
    x, y = x[:100], y[:100]
    delta, rec = ifa_delta(model, x, y, 0.05, 5, record_at=(0, 1, 3, 5), batch_size=32)
    assert sorted(rec) == [0, 1, 3, 5]
    torch.testing.assert_close(rec[0], x)
    xn = x
    for n in range(1, 6):
        xn = ifa_step(model, xn, y, 0.05)
        if n in rec:
            torch.testing.assert_close(rec[n], xn)
    torch.testing.assert_close(rec[5] - rec[0], delta)
    with pytest.raises(ValueError):
        ifa_delta(model, x, y, 0.05, 5, record_at=(6,))


def test_clip_respected(trained):
    model, x, y = trained
    x = x.clamp(0, 1)
    delta, rec = ifa_delta(model, x, y, 0.2, 6, clip=(0.0, 1.0), record_at=(2, 6))
    for xn in rec.values():
        assert xn.min() >= 0.0 and xn.max() <= 1.0
    assert (x + delta).min() >= -1e-6 and (x + delta).max() <= 1 + 1e-6
    free, _ = ifa_delta(model, x, y, 0.2, 6)  # Eq. 1 as printed: no clipping
    assert (x + free).min() < 0.0 or (x + free).max() > 1.0


def test_chunking_does_not_change_result():
    x, y = _toy_data(100, dtype=torch.float64)
    model = _mlp(dtype=torch.float64)
    a, ra = ifa_delta(model, x, y, 0.01, 4, record_at=(2,), batch_size=7)
    b, rb = ifa_delta(model, x, y, 0.01, 4, record_at=(2,), batch_size=1000)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(ra[2], rb[2], rtol=0, atol=0)


def test_modes_restored_and_no_parameter_grads():
    x, y = _toy_data(50)
    model = _mlp().train()
    model[4].eval()  # a mixed state must come back exactly
    flags = [m.training for m in model.modules()]
    with torch.no_grad():  # also works when the caller disabled grad
        ifa_delta(model, x, y, 0.01, 3)
        ifa_step(model, x, y, 0.01)
    ifa_delta_trajectory(model, x, y, 0.01, 2, [0, 2], attack_eps=0.05)
    assert [m.training for m in model.modules()] == flags
    assert all(p.grad is None for p in model.parameters())


def test_eval_mode_makes_ifa_deterministic():
    # BatchNorm batch statistics / dropout would make Eq. 1 depend on the batch: IFA runs in eval.
    x, y = _toy_data(64)
    model = _mlp().train()
    a, _ = ifa_delta(model, x, y, 0.01, 3, batch_size=64)
    b, _ = ifa_delta(model, x, y, 0.01, 3, batch_size=16)
    torch.testing.assert_close(a, b)


def test_trajectory(trained):
    model, x, y = trained
    its = [0, 1, 2, 5, 10]
    _, rows = ifa_delta_trajectory(model, x, y, 0.02, max(its), its, attack_eps=0.1, batch_size=300)
    assert [r["iteration"] for r in rows] == its
    assert set(rows[0]) == {"iteration", "accuracy", "robust_accuracy"}
    assert rows[0]["accuracy"] == pytest.approx(_accuracy(model, x, y))
    acc = [r["accuracy"] for r in rows]
    assert acc[-1] > acc[0] + 0.1
    for r in rows:
        assert 0.0 <= r["robust_accuracy"] <= r["accuracy"] <= 1.0
    assert rows[0]["robust_accuracy"] < rows[0]["accuracy"]  # the attack bites at n = 0
    assert rows[-1]["robust_accuracy"] > rows[0]["robust_accuracy"]
    # RA is the accuracy under upnn.attacks' ifgsm applied to X_n
    _, rec = ifa_delta(model, x, y, 0.02, 5, record_at=(5,))
    x_adv = attack("ifgsm", model, rec[5], y, 0.1, bounds=None)
    assert rows[3]["robust_accuracy"] == pytest.approx(_accuracy(model, x_adv, y))
    # a zero budget attack leaves the accuracy unchanged
    _, zero = ifa_delta_trajectory(model, x[:200], y[:200], 0.02, 3, [0, 3], attack_eps=0.0)
    assert all(r["robust_accuracy"] == r["accuracy"] for r in zero)


def test_delta_and_trajectory_in_one_pass_equal_ifa_delta_and_a_shorter_walk(trained):
    model, x, y = trained
    x, y = x[:300], y[:300]
    its = [0, 2, 6]
    delta, rows = ifa_delta_trajectory(model, x, y, 0.02, 8, its, attack_eps=0.1, batch_size=128)
    ref, _ = ifa_delta(model, x, y, 0.02, 8, batch_size=128)
    torch.testing.assert_close(delta, ref, rtol=0, atol=0)
    # the rows do not depend on steps after the last recorded one
    _, short = ifa_delta_trajectory(model, x, y, 0.02, max(its), its, attack_eps=0.1, batch_size=128)
    assert rows == short
    with pytest.raises(ValueError):
        ifa_delta_trajectory(model, x, y, 0.02, 5, [0, 6], attack_eps=0.1)
