"""The `precision` setting (issue 19): fp32 | tf32 | bf16 on CUDA, ignored (bit-identical) on CPU."""

from __future__ import annotations

import copy
import logging

import pytest
import torch
import torch.nn.functional as F

from upnn import config as upnn_config
from upnn import device, models, train

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def _net() -> models.Classifier:
    torch.manual_seed(0)
    return models.build("cnn3", in_channels=1, image_size=28, width=0.25).eval()


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match=r"unknown precision 'fp16'; allowed: fp32, tf32, bf16"):
        device.check_precision("fp16")
    with pytest.raises(ValueError, match="unknown precision"):
        with device.autocast("half", "cpu"):
            pass


def test_cpu_ignores_precision_and_says_so(caplog):
    net, x = _net(), torch.rand(4, 1, 28, 28)
    ref = net(x)
    device._ignored.clear()
    with caplog.at_level(logging.INFO, logger="upnn.device"):
        for precision in device.PRECISIONS:
            with device.autocast(precision, "cpu"):
                out = net(x)
            assert out.dtype == torch.float32 and torch.equal(out, ref)
    assert "precision bf16 applies on CUDA only" in caplog.text
    assert device.with_precision(net, "bf16", "cpu") is net
    assert not isinstance(net.features, device.Autocast)  # unchanged off CUDA


def test_cpu_training_is_bit_identical_in_any_precision(tmp_path):
    g = torch.Generator().manual_seed(0)
    data = (torch.rand(64, 1, 28, 28, generator=g), torch.randint(0, 10, (64,), generator=g),
            torch.rand(32, 1, 28, 28, generator=g), torch.randint(0, 10, (32,), generator=g))
    cfg = train.TrainConfig(epochs=1, batch_size=16)
    rows = {p: train.train("cnn3", data, cfg, tmp_path / p, width=0.25, progress=False,
                           precision=p) for p in ("fp32", "bf16")}
    drop = {"seconds"}
    assert [{k: v for k, v in r.items() if k not in drop} for r in rows["fp32"]] == \
        [{k: v for k, v in r.items() if k not in drop} for r in rows["bf16"]]
    w = {p: torch.load(tmp_path / p / "epoch001.pt", weights_only=True)["model"] for p in rows}
    assert all(torch.equal(w["fp32"][k], w["bf16"][k]) for k in w["fp32"])
    with pytest.raises(ValueError, match="unknown precision"):
        train.train("cnn3", data, cfg, tmp_path / "x", width=0.25, progress=False,
                    precision="fp16")


def test_schema_takes_precision():
    schema = upnn_config.load_yaml(upnn_config.Path(__file__).parents[1] / "config/schema.yaml")
    config = upnn_config.load_yaml(upnn_config.Path(__file__).parents[1] / "config/ci.yaml")
    for p in ("fp32", "tf32", "bf16"):
        upnn_config.check({**config, "precision": p}, schema)
    with pytest.raises(upnn_config.ConfigError, match=r"precision = 'fp16' is not allowed"):
        upnn_config.check({**config, "precision": "fp16"}, schema)


@CUDA
def test_cuda_bf16_features_keep_logits_and_input_gradient_fp32():
    net = _net().cuda()
    fast = device.with_precision(copy.deepcopy(net), "bf16", "cuda")
    assert isinstance(fast.features, device.Autocast)
    x = torch.rand(64, 1, 28, 28, device="cuda", requires_grad=True)
    y = torch.randint(0, 10, (64,), device="cuda")
    grads = []
    for m in (net, fast):
        logits = m(x)
        assert logits.dtype == torch.float32
        (g,) = torch.autograd.grad(F.cross_entropy(logits, y), x)
        assert g.dtype == torch.float32
        grads.append(g)
    # the sign step of an attack: bf16 agrees with fp32 on almost every element
    agree = (grads[0].sign() == grads[1].sign()).float().mean().item()
    assert agree > 0.9, agree


@CUDA
def test_cuda_tf32_flags_are_restored():
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    with device.autocast("tf32", "cuda"):
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before
