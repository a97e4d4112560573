import math

import pandas as pd
import pytest
import torch

from upnn import evaluate, models

SPECS = [{"name": n} for n in ("ost", "osnt", "bim", "illc", "pgd")] + [
    {"name": "sparsefool", "max_iter": 5, "n": 6}]


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return models.build("cnn3", in_channels=1, image_size=28, width=0.25).eval()


@pytest.fixture(scope="module")
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.rand(32, 1, 28, 28, generator=g), torch.randint(0, 10, (32,), generator=g)


def test_pixel_rows(net, batch):
    x, y = batch
    rows = evaluate.evaluate_checkpoint(net, "pixel", x[:12], y[:12], x, SPECS, pixel_eps=0.1)
    df = pd.DataFrame(rows)
    assert list(df["attack"]) == [s["name"] for s in SPECS]
    assert set(df.columns) == {"attack", "eps", "alpha", "steps", "n", "clean_acc", "robust_acc",
                               "mean_linf", "mean_l0", "seconds", "clean_correct",
                               "robust_correct"}
    for r in rows:  # the per-image outcomes are what the accuracies average
        assert r["clean_correct"].dtype == bool and len(r["robust_correct"]) == r["n"]
        assert r["clean_correct"].mean() == pytest.approx(r["clean_acc"])
        assert r["robust_correct"].mean() == pytest.approx(r["robust_acc"])
    assert df.set_index("attack").loc["sparsefool", "n"] == 6
    assert (df.loc[df["attack"] != "sparsefool", "n"] == 12).all()
    bim = df.set_index("attack").loc["bim"]
    assert bim["steps"] == math.floor(min(0.1 * 255 + 4, 1.25 * 0.1 * 255))
    assert bim["alpha"] == pytest.approx(1 / 255)
    assert (df.loc[df["attack"] != "sparsefool", "mean_linf"] <= 0.1 + 1e-6).all()
    assert (df["robust_acc"] <= 1).all() and (df["seconds"] >= 0).all()


def test_feature_level_box_eps_and_scaled_steps(net, batch):
    x, y = batch
    z = evaluate.features(net, x)
    lo, hi = evaluate.feature_box(z)
    assert torch.equal(lo, z.amin(0)) and torch.equal(hi, z.amax(0))
    eps_z = evaluate.feature_eps(0.1, x, z)
    assert eps_z == pytest.approx(0.1 * z.std().item() / x.std().item(), rel=1e-5)
    rows = evaluate.evaluate_checkpoint(net, "feature", x[:12], y[:12], x, SPECS, pixel_eps=0.1)
    bim = next(r for r in rows if r["attack"] == "bim")
    assert bim["eps"] == pytest.approx(eps_z, rel=1e-5)
    assert bim["steps"] == 29  # the pixel attack's step count ...
    assert bim["alpha"] == pytest.approx(eps_z / 0.1 / 255, rel=1e-5)  # ... with scaled steps
    fixed = evaluate.evaluate_checkpoint(net, "feature", x[:12], y[:12], x, SPECS[:1],
                                         pixel_eps=0.1, feature_eps_value=0.5)
    assert fixed[0]["eps"] == 0.5


def test_attacks_actually_lower_accuracy_on_a_trained_net():
    from upnn import data, train

    xtr, ytr = data.load_split("digits", "train", image_size=28, limit=400)
    xte, yte = data.load_split("digits", "test", image_size=28, limit=100)
    d = tuple(torch.as_tensor(a) for a in (xtr, ytr, xte, yte))
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        train.train("cnn3", d, train.TrainConfig(epochs=5, batch_size=32, lr=3e-3), tmp,
                    width=0.5, progress=False)
        net = models.load(f"{tmp}/epoch005.pt")
    rows = {r["attack"]: r for r in evaluate.evaluate_checkpoint(
        net, "pixel", d[2], d[3], d[0], [{"name": "bim"}, {"name": "random"}], pixel_eps=0.1)}
    assert rows["bim"]["clean_acc"] > 0.7
    assert rows["bim"]["robust_acc"] < rows["bim"]["clean_acc"] - 0.3
    assert rows["random"]["robust_acc"] > rows["bim"]["robust_acc"]


def test_level_errors():
    with pytest.raises(ValueError, match="unknown attack level 'logit'; allowed: pixel, feature"):
        evaluate.check_level("logit")
