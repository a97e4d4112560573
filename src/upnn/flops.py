"""FLOPs per image of the workflow's nets: 2 per multiply-add of every convolution and matmul
(bias, BatchNorm, activations and pooling not counted), and the passes a step of each kind costs
in forward-pass units. The planner (:mod:`upnn.plan`) multiplies these by images and steps."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from typing import Any

TRAIN_PASS = 3.0        # forwards per training image: forward + backward to activations and weights
GRAD_PASS = 2.0         # forwards per input gradient: forward + backward to the activations only
NUM_CLASSES = 10        # the built-in nets' heads (a referenced net's own kwargs may change it)


@functools.cache
def model_flops(name: str, channels: int, size: int, width: float,
                reference: str = "{}") -> tuple[float, float]:
    """(features, head) forward FLOPs per image of model ``name``: 2 per multiply-add of every
    convolution and matmul; BatchNorm, ReLU and pooling not counted. The built-in nets compute
    with ``nn.Conv2d`` and ``nn.Linear`` only, so hooks on those count them
    (:func:`layer_flops`; tests/test_plan.py checks it against ``FlopCounterMode``, whose first
    use imports torch._dynamo, 1 s of every Snakemake start); a referenced net
    (``reference``: its ``ref``, ``kwargs``, ``head``, ``normalize`` as JSON,
    :func:`upnn.config.model_reference`) may compute with any op, so ``FlopCounterMode`` counts
    it."""
    import torch

    from upnn import models

    ref = json.loads(reference)
    with torch.random.fork_rng():  # built on the CPU: the caller's random stream is untouched
        net = models.build(name, in_channels=channels, image_size=size, num_classes=NUM_CLASSES,
                           width=width, **ref).eval()
    x = torch.zeros(1, channels, size, size)
    count = counted_flops if ref else layer_flops
    with torch.no_grad():
        total_f, feats = count(net.features, x)
        total_h, _ = count(net.head, feats)
    return float(total_f), float(total_h)


def layer_flops(net: Any, x: Any) -> tuple[float, Any]:
    """(FLOPs of ``net`` on ``x`` from its Conv2d, ConvTranspose2d and Linear layers: 2 per
    multiply-add, bias not counted, as ``FlopCounterMode`` counts them; its output)."""
    from torch import nn

    total = [0.0]

    def conv(m: nn.Conv2d, _: Any, out: Any) -> None:
        total[0] += 2.0 * out.numel() * (m.in_channels // m.groups) * math.prod(m.kernel_size)

    def transposed(m: nn.ConvTranspose2d, inp: Any, _: Any) -> None:
        total[0] += 2.0 * inp[0].numel() * (m.out_channels // m.groups) * math.prod(m.kernel_size)

    def linear(m: nn.Linear, _: Any, out: Any) -> None:
        total[0] += 2.0 * out.numel() * m.in_features

    kinds = ((nn.Conv2d, conv), (nn.ConvTranspose2d, transposed), (nn.Linear, linear))
    hooks = [m.register_forward_hook(hook) for m in net.modules() for kind, hook in kinds
             if type(m) is kind]
    try:
        out = net(x)
    finally:
        for h in hooks:
            h.remove()
    return total[0], out


def counted_flops(net: Any, x: Any) -> tuple[float, Any]:
    """(FLOPs of ``net`` on ``x`` by ``torch.utils.flop_counter.FlopCounterMode``, its output)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        out = net(x)
    return float(counter.get_total_flops()), out


@functools.cache
def pix2pix_flops(channels: int, size: int, base: int) -> tuple[float, float]:
    """(generator, discriminator) forward FLOPs per image of the Pix2Pix pair (:func:`layer_flops`)."""
    import torch

    from upnn import pix2pix

    with torch.random.fork_rng():  # built on the CPU: the caller's random stream is untouched
        g = pix2pix.UNetGenerator(channels, channels, size, base).eval()
        d = pix2pix.PatchDiscriminator(2 * channels, size, base).eval()
    xg, xd = torch.zeros(1, channels, size, size), torch.zeros(1, 2 * channels, size, size)
    with torch.no_grad():
        return layer_flops(g, xg)[0], layer_flops(d, xd)[0]


def mlp_flops(sizes: Sequence[int]) -> float:
    """Forward FLOPs per sample of a fully connected net with these layer sizes."""
    return float(sum(2 * a * b for a, b in zip(sizes[:-1], sizes[1:], strict=False)))
