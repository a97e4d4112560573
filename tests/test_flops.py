"""FLOPs per image (upnn.flops): counted from the nets' layers, equal to FlopCounterMode."""

from __future__ import annotations

import json

import pytest
import torch

from upnn import flops


def test_flops_are_counted_from_the_model():
    f, h = flops.model_flops("cnn3", 1, 28, 1.0)
    # conv 1->16 k5 s3 p1 on 28x28 -> 9x9, 16->64 k3 s2 -> 5x5, 64->256 k3 s2 -> 3x3; linear 2304->10
    assert f == 2 * (9 * 9 * 16 * 25 + 5 * 5 * 64 * 16 * 9 + 3 * 3 * 256 * 64 * 9)
    assert h == 2 * 2304 * 10
    full, half = (sum(flops.model_flops("resnet9", 3, 32, w)) for w in (1.0, 0.5))
    assert full / half == pytest.approx(4, rel=0.05)  # channels² scaling


@pytest.mark.parametrize("name", ["cnn3", "cnn4", "resnet9", "googlenet"])
def test_layer_hooks_count_what_flop_counter_mode_counts(name):
    """The built-in nets and the Pix2Pix pair are counted from their Conv2d, ConvTranspose2d and
    Linear layers (FlopCounterMode costs every Snakemake start 1 s of imports): the same totals."""
    from upnn import models, pix2pix

    for channels, size in ((1, 28), (3, 32)):
        net = models.build(name, in_channels=channels, image_size=size, num_classes=10,
                           width=0.5).eval()
        x = torch.zeros(1, channels, size, size)
        with torch.no_grad():
            f, feats = flops.counted_flops(net.features, x)
            h, _ = flops.counted_flops(net.head, feats)
        assert flops.model_flops(name, channels, size, 0.5) == (f, h) and f > 0
    g, d = pix2pix.UNetGenerator(3, 3, 32, 16).eval(), pix2pix.PatchDiscriminator(6, 32, 16).eval()
    with torch.no_grad():
        want = (flops.counted_flops(g, torch.zeros(1, 3, 32, 32))[0],
                flops.counted_flops(d, torch.zeros(1, 6, 32, 32))[0])
    assert flops.pix2pix_flops(3, 32, 16) == want


def test_a_referenced_net_is_counted_from_the_net_itself():
    ref = {"ref": "torchvision:resnet18", "kwargs": {"num_classes": 3}, "head": "fc"}
    feats, head = flops.model_flops("mine", 3, 32, 1.0, json.dumps(ref, sort_keys=True))
    assert head == 2 * 512 * 3  # the fc layer: 512 → 3
    assert 5e7 < feats < 1e9  # ResNet-18 at 32×32: about 0.07 GFLOP a forward pass
    small = flops.model_flops("mine", 3, 16, 1.0, json.dumps(ref, sort_keys=True))[0]
    assert small < feats / 2  # a quarter of the pixels: less than half the work


def test_mlp_flops_count_each_layer():
    assert flops.mlp_flops([2, 8, 8, 2]) == 2 * (2 * 8 + 8 * 8 + 8 * 2)
