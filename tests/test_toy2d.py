import math

import pytest
import torch

from upnn import packets, stacked, toy2d

SMALL = dict(seeds=(0, 1), n_train=200, n_test=100, depth=1, width=8, epochs=3, batch_size=50,
             lr=0.01, attack_steps=2, n_points=16, landscape_epochs=(1, 3), grid=5)


def test_labels_and_boundary():
    x = torch.tensor([[0.5, -0.9], [-0.5, 0.9], [1e-6, 0.0], [-1e-6, 0.0], [0.0, 0.7], [0.3, 1.0]])
    assert toy2d.labels(x).tolist() == [1, 0, 1, 0, 0, 1]  # x1 > 0, the x2 axis is the boundary
    x, y = toy2d.make_data(5000, seed=3)
    assert x.shape == (5000, 2) and x.min() >= -1 and x.max() <= 1
    assert torch.equal(y, (x[:, 0] > 0).long())
    assert 0.45 < y.float().mean() < 0.55
    assert abs(float(x[:, 1].mean())) < 0.05  # x2 carries no label information: uniform
    x2, y2 = toy2d.make_data(5000, seed=3)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(x, toy2d.make_data(5000, seed=4)[0])
    cfg = toy2d.ToyConfig(**SMALL)
    x_tr, _, x_te, _ = toy2d.datasets(cfg)
    assert len(x_tr) == 200 and len(x_te) == 100 and not torch.equal(x_tr[:100], x_te)


def test_config_from_the_yaml_block_and_bad_values():
    cfg = toy2d.ToyConfig.from_dict({
        "seeds": [0, 1], "n_train": 10, "n_test": 10, "data_seed": 0, "depth": 1, "width": 4,
        "activation": "tanh", "epochs": 5, "batch_size": 5, "lr": 0.1,
        "attack": {"name": "fgsm", "eps": 0.2, "steps": None}, "n_points": 8,
        "landscape": {"epochs": [5], "grid": 3}})
    assert (cfg.attack, cfg.eps, cfg.attack_steps, cfg.landscape_epochs, cfg.grid) == \
        ("fgsm", 0.2, None, (5,), 3)
    # bad settings: the schema refuses them (tests/test_config.py); the class trusts it


def _model(n_seeds=3, width=16):
    return stacked.Stacked([stacked.mlp([2, width, width, 2], "tanh", seed=s) for s in range(n_seeds)])


def test_packet_spreads_equal_network_moments_of_each_seed():
    model = _model()
    m = toy2d.packet_spreads(model, 48)
    assert m["sigma_x"].shape == (3, 2)
    for i in range(3):
        net = stacked.mlp([2, 16, 16, 2], "tanh", seed=i)
        for label in (0, 1):
            ref = packets.network_moments(
                net, torch.zeros(2), label, torch.tensor([0]), torch.tensor([-1.0]),
                torch.tensor([1.0]), method="quadrature", n_points=48)
            for k in ("sigma_x", "sigma_p", "x_mean", "beta"):
                assert float(m[k][i, label]) == pytest.approx(float(ref[k][0]), rel=1e-4), k
    dx, dp = toy2d.spreads(model, 48)
    torch.testing.assert_close(dx, m["sigma_x"].mean(-1))
    torch.testing.assert_close(dp, m["sigma_p"].mean(-1))


def test_spreads_of_a_sharp_and_a_flat_step():
    """A net with logits (k·x1, -k·x1): flat loss at small k (dx ≈ 1/√3, dp ≈ 0), a ramp
    max(-x1, 0) for label 1 at large k (σ_x² = 3/5 - 9/16, σ_p² = 3 - 9/4)."""
    def step(k):
        net = torch.nn.Sequential(torch.nn.Linear(2, 2))
        with torch.no_grad():
            net[0].weight.copy_(torch.tensor([[-k, 0.0], [k, 0.0]]))
            net[0].bias.zero_()
        return stacked.Stacked([net])

    flat = toy2d.packet_spreads(step(1e-3), 256)
    assert float(flat["sigma_x"][0, 1]) == pytest.approx(1 / math.sqrt(3), rel=1e-3)
    assert float(flat["sigma_p"][0, 1]) < 1e-2
    sharp = toy2d.packet_spreads(step(200.0), 1024)
    assert float(sharp["sigma_x"][0, 1]) == pytest.approx(math.sqrt(3 / 5 - 9 / 16), rel=2e-2)
    assert float(sharp["sigma_p"][0, 1]) == pytest.approx(math.sqrt(3 - 9 / 4), rel=2e-2)


def test_robust_accuracy_attacks_every_seed_with_its_own_gradient():
    model = _model()
    x, y = toy2d.make_data(300, seed=0)
    ta = toy2d.test_accuracy(model, x, y)
    assert ta.shape == (3,)
    for i in range(3):
        net = stacked.mlp([2, 16, 16, 2], "tanh", seed=i)
        assert float(ta[i]) == pytest.approx((net(x).argmax(1) == y).float().mean().item())
    torch.testing.assert_close(toy2d.robust_accuracy(model, x, y, "pgd", 0.0, 4), ta)
    ra = toy2d.robust_accuracy(model, x, y, "fgsm", 0.3, None)
    assert (ra <= ta).all() and (ra < ta).any()
    for i in range(3):  # one call over all seeds = attacking each seed's net alone (fgsm: no RNG)
        from upnn import attacks

        net = stacked.mlp([2, 16, 16, 2], "tanh", seed=i)
        adv = attacks.attack("fgsm", net, x, y, 0.3, bounds=toy2d.BOX)
        assert float(ra[i]) == pytest.approx((net(adv).argmax(1) == y).float().mean().item())


def test_landscape_is_normalised_on_the_grid():
    model = _model(2)
    psi, g = toy2d.landscape(model, 21)
    assert psi.shape == (2, 2, 21, 21) and (psi >= 0).all()
    assert g[0] == -1 and g[-1] == 1
    h = 2 / 20
    w = torch.full((21,), h, dtype=torch.float64)
    w[0] = w[-1] = h / 2
    norm = (psi**2 * w[:, None] * w[None, :]).sum((-1, -2))
    torch.testing.assert_close(norm, torch.ones(2, 2, dtype=torch.float64))


def test_run_tables_and_trend():
    cfg = toy2d.ToyConfig(**SMALL)
    seen = []
    metrics, lands = toy2d.run(cfg, progress=lambda e, m: seen.append(e))
    assert seen == [1, 2, 3]
    assert list(metrics.columns[:7]) == ["seed", "epoch", "test_acc", "robust_acc", "n_test", "dx",
                                         "dp"]
    assert (metrics["n_test"] == 100).all()
    assert len(metrics) == 2 * 3 and sorted(set(metrics["seed"])) == [0, 1]
    assert metrics[["test_acc", "robust_acc", "dx", "dp"]].notna().all().all()
    assert (metrics["robust_acc"] <= metrics["test_acc"] + 1e-9).all()
    assert list(lands.columns) == ["seed", "epoch", "label", "x1", "x2", "psi"]
    assert len(lands) == 2 * 2 * 2 * 5 * 5 and sorted(set(lands["epoch"])) == [1, 3]
    # the mechanism: training sharpens the step, so dx falls and dp rises
    cfg = toy2d.ToyConfig(seeds=(0, 1), n_train=400, n_test=100, depth=1, width=16, epochs=15,
                          batch_size=50, lr=0.02, attack_steps=1, n_points=32,
                          landscape_epochs=(15,), grid=3)
    m = toy2d.run(cfg)[0].groupby("epoch")[["test_acc", "dx", "dp"]].mean()
    assert m["test_acc"].iloc[-1] > 0.95
    assert m["dx"].iloc[-1] < m["dx"].iloc[0] - 0.1
    assert m["dp"].iloc[-1] > m["dp"].iloc[0] + 0.2


@pytest.mark.parametrize("name", ["config.yaml", "paper.yaml", "ci.yaml"])
def test_shipped_configs_parse(name):
    import yaml
    from conftest import ROOT

    block = yaml.safe_load((ROOT / "config" / name).read_text())["toy2d"]
    cfg = toy2d.ToyConfig.from_dict(block)
    assert cfg.attack == block["attack"]["name"] and cfg.eps == block["attack"]["eps"]
    assert list(cfg.landscape_epochs) == block["landscape"]["epochs"]
