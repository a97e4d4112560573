"""Tests for upnn.pix2pix: U-Net / PatchGAN pix2pix learning X_0 -> Delta, and TCL."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from upnn.pix2pix import (
    CombinedNet,
    PatchDiscriminator,
    UNetGenerator,
    fingerprint,
    l1_error,
    load_generator,
    make_optimizers,
    predict,
    strip_checkpoint,
    train_pix2pix,
    train_step,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("channels,size", [(1, 28), (3, 32)])
def test_unet_output_shape_equals_input_shape(channels, size):
    G = UNetGenerator(channels, channels, size, base=8, generator=_gen())
    assert G.depth == 5 and G.padded_size == 32  # 32x32 -> 1x1 bottleneck
    x = torch.randn(4, channels, size, size, generator=_gen(1))
    assert G(x).shape == x.shape
    D = PatchDiscriminator(2 * channels, size, base=8)
    logits = D(torch.cat([x, G(x)], dim=1))
    assert logits.dim() == 4 and logits.shape[:2] == (4, 1) and logits.shape[-1] >= 1


def test_scale_buffer_bounds_output_and_is_saved():
    G = UNetGenerator(3, 3, 32, base=8, scale=0.05, generator=_gen())
    assert "scale" in G.state_dict()
    assert "scale" in dict(G.named_buffers())
    out = G(torch.randn(4, 3, 32, 32, generator=_gen(1)) * 10)
    assert out.abs().max() <= 0.05 + 1e-7
    H = UNetGenerator(3, 3, 32, base=8)
    assert H.scale.item() == 1.0
    H.load_state_dict(G.state_dict())
    assert H.scale.item() == pytest.approx(0.05)


def test_init_is_seeded():
    a = UNetGenerator(3, 3, 32, base=8, generator=_gen(3)).state_dict()
    b = UNetGenerator(3, 3, 32, base=8, generator=_gen(3)).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_train_step_updates_both_networks():
    G = UNetGenerator(3, 3, 32, base=8, scale=0.1, generator=_gen())
    D = PatchDiscriminator(6, 32, base=8, generator=_gen(1))
    opt_g, opt_d = make_optimizers(G, D)
    assert opt_g.defaults["lr"] == 2e-4 and opt_g.defaults["betas"] == (0.5, 0.999)
    x = torch.rand(8, 3, 32, 32, generator=_gen(2))
    delta = 0.1 * torch.randn(8, 3, 32, 32, generator=_gen(3)).tanh()
    g0 = [p.detach().clone() for p in G.parameters()]
    d0 = [p.detach().clone() for p in D.parameters()]
    out = train_step(G, D, opt_g, opt_d, x, delta)
    assert set(out) == {"g_gan", "g_l1", "d_loss"}
    assert all(isinstance(v, float) for v in out.values())
    assert all(p.requires_grad for p in D.parameters())
    assert any(not torch.equal(a, p) for a, p in zip(g0, G.parameters(), strict=True))
    assert any(not torch.equal(a, p) for a, p in zip(d0, D.parameters(), strict=True))


def _classifier() -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                             nn.Linear(4 * 32 * 32, 10))  # fmt: skip


def test_combined_net_gradients_flow_through_generator():
    clf = _classifier()
    G = UNetGenerator(3, 3, 32, base=8, scale=0.1, generator=_gen())
    tcl = CombinedNet(clf, G).eval()
    assert tcl.classifier is clf and tcl.generator is G
    x = torch.rand(4, 3, 32, 32, generator=_gen(1))
    y = torch.tensor([0, 1, 2, 3])
    F.cross_entropy(tcl(x), y).backward()
    assert all(p.grad is not None for p in G.parameters())
    assert sum(p.grad.abs().sum() for p in G.parameters()) > 0
    clf.zero_grad(set_to_none=True)
    G.zero_grad(set_to_none=True)

    def input_grad(model):
        xr = x.clone().requires_grad_(True)
        return torch.autograd.grad(F.cross_entropy(model(xr), y), xr)[0]

    g_tcl, g_clf = input_grad(tcl), input_grad(clf)
    assert not torch.allclose(g_tcl, g_clf)
    with torch.no_grad():  # TCL(x) = classifier(x + G(x))
        torch.testing.assert_close(tcl(x), clf(x + G(x)))


def test_predict_and_l1_error():
    G = UNetGenerator(3, 3, 32, base=8, scale=0.1, generator=_gen()).train()
    x = torch.rand(10, 3, 32, 32, generator=_gen(1))
    delta = 0.05 * torch.randn(10, 3, 32, 32, generator=_gen(2))
    p1, p2 = predict(G, x, batch_size=3), predict(G, x, batch_size=100)
    assert G.training and all(m.training for m in G.modules())  # flags restored
    torch.testing.assert_close(p1, p2)
    assert not p1.requires_grad
    with torch.no_grad():
        expected = G.eval()(x)
    torch.testing.assert_close(p1, expected)
    err = l1_error(G, x, delta, batch_size=4)
    assert err == pytest.approx((expected - delta).abs().mean().item(), rel=1e-5)


def _pairs(n: int, seed: int):
    x = torch.rand(n, 3, 32, 32, generator=_gen(seed))
    # a learnable deterministic map X -> Delta
    delta = 0.03 * torch.sign(x - 0.5) * (x - x.mean(dim=(2, 3), keepdim=True)).abs().sqrt()
    return x, delta


def test_train_pix2pix_resume_equals_uninterrupted(tmp_path):
    x, delta = _pairs(24, 0)
    xt, dt = _pairs(8, 1)
    kw = dict(batch_size=8, seed=7, device="cpu", base=8, x_test=xt, delta_test=dt)
    rng = torch.get_rng_state()

    full = train_pix2pix(x, delta, epochs=3, checkpoint_dir=tmp_path / "a", **kw)
    first = train_pix2pix(x, delta, epochs=1, checkpoint_dir=tmp_path / "b", **kw)
    resumed = train_pix2pix(x, delta, epochs=3, checkpoint_dir=tmp_path / "b", **kw)

    assert torch.equal(torch.get_rng_state(), rng)  # caller's RNG untouched
    assert [r["epoch"] for r in full] == [1, 2, 3] and len(first) == 1
    keys = ("epoch", "g_gan", "g_l1", "d_loss", "test_l1")
    assert set(full[0]) == {*keys, "seconds"}
    assert all(isinstance(r["test_l1"], float) for r in full)
    assert [[r[k] for k in keys] for r in resumed] == [[r[k] for k in keys] for r in full]

    names = sorted(p.name for p in (tmp_path / "b").iterdir())
    assert names == ["FINGERPRINT", "epoch001.pt", "epoch002.pt", "epoch003.pt"]  # no temp files
    a = torch.load(tmp_path / "a" / "epoch003.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "epoch003.pt", weights_only=True)
    for part in ("generator", "discriminator"):
        assert a[part].keys() == b[part].keys()
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part]), part
    assert a["generator"]["scale"].item() == pytest.approx(delta.abs().max().item())

    G = load_generator(tmp_path / "a" / "epoch003.pt")
    assert l1_error(G, xt, dt) == pytest.approx(full[-1]["test_l1"], rel=1e-5)

    again = train_pix2pix(x, delta, epochs=3, checkpoint_dir=tmp_path / "b", **kw)
    assert again == resumed  # already done: nothing retrained
    other = train_pix2pix(x, delta, epochs=2, checkpoint_dir=tmp_path / "b", **{**kw, "seed": 8})
    assert len(other) == 2  # another seed owns the folder now: trained from epoch 1
    assert len(list((tmp_path / "b.stale").iterdir())) == 3  # the first run's files, kept aside


def test_fingerprint_changes_with_data_and_settings():
    x, delta = _pairs(4, 0)
    a = fingerprint(x, delta, epochs=3, base=8)
    assert a == fingerprint(x.clone(), delta.clone(), base=8, epochs=3)
    assert a != fingerprint(x, delta * 2, epochs=3, base=8)
    assert a != fingerprint(x, delta, epochs=3, base=16)


def test_strip_checkpoint_keeps_the_generator(tmp_path):
    x, delta = _pairs(16, 0)
    train_pix2pix(x, delta, epochs=1, batch_size=8, seed=0, device="cpu", base=8,
                  checkpoint_dir=tmp_path)
    path = tmp_path / "epoch001.pt"
    before = load_generator(path)
    size = path.stat().st_size
    strip_checkpoint(path)
    assert path.stat().st_size < size / 2
    assert set(torch.load(path, weights_only=True)) == {"epoch", "config", "generator", "history"}
    after = load_generator(path)
    for k, v in before.state_dict().items():
        assert torch.equal(v, after.state_dict()[k]), k


def test_cl_tcl_scores_the_classifier_alone_and_combined():
    from torch import nn

    from upnn import models
    from upnn.pix2pix import cl_tcl

    torch.manual_seed(0)
    clf = models.build("cnn3", in_channels=1, image_size=12, width=0.25).eval()
    x, y = torch.rand(20, 1, 12, 12), torch.arange(20) % 10

    class Zero(nn.Module):  # G = 0: TCL is CL
        def forward(self, z):
            return torch.zeros_like(z)

    same = cl_tcl(clf, Zero(), x, y, attack_eps=0.1)
    assert same["CL"] == same["TCL"]
    assert same["CL"]["accuracy"] == pytest.approx((clf(x).argmax(1) == y).float().mean().item())

    class Shift(nn.Module):  # G moves every input: TCL differs from CL
        def forward(self, z):
            return 0.5 - z

    other = cl_tcl(clf, Shift(), x, y, attack_eps=0.1)
    target = (clf(torch.full_like(x, 0.5)).argmax(1) == y).float().mean().item()
    assert other["TCL"]["accuracy"] == pytest.approx(target)
    assert 0 <= other["TCL"]["robust_accuracy"] <= 1
