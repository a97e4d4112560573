"""The work an attack does, counted where it is done: the net wrapped so that it counts the images
it runs on, and SparseFool's iterations. The planner (:mod:`upnn.plan`) counts the same work from
the config alone; ``tests/test_plan.py`` checks one against the other on a small run, and
``bench/`` measures the typical counts the planner assumes where the work depends on the data.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from torch import Tensor, nn

from upnn import attacks, robustness
from upnn.models import predict


class Counted(nn.Module):
    """``net``, counting the images it runs on: ``rows`` (every forward) and ``grad_rows`` (the
    forwards whose input requires a gradient)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net, self.rows, self.grad_rows = net, 0, 0

    def forward(self, x: Tensor) -> Tensor:
        self.rows += len(x)
        self.grad_rows += len(x) if x.requires_grad else 0
        return self.net(x)


@contextmanager
def deepfool_counts() -> Iterator[dict[str, int]]:
    """Within the block, every DeepFool call of :mod:`upnn.attacks` adds to ``outer`` the images
    it starts with (SparseFool: one per image and outer iteration) and to ``iterations`` the
    image-iterations it makes (its Jacobian forwards)."""
    counts = {"outer": 0, "iterations": 0}
    original = attacks._deepfool

    def counted(model: nn.Module, x: Tensor, *args: Any) -> tuple[Tensor, Tensor]:
        net = Counted(model)
        out = original(net, x, *args)
        counts["outer"] += len(x)
        counts["iterations"] += net.grad_rows
        return out

    attacks._deepfool = counted
    try:
        yield counts
    finally:
        attacks._deepfool = original


def attack_work(model: nn.Module, x: Tensor, y: Tensor, spec: Mapping[str, Any], eps: float,
                *, seed: int = 0) -> dict[str, float]:
    """One attack of the attack stage (:func:`upnn.robustness.attack_rows`, with its exact cut)
    on (x, y): ``forward`` the images the net ran on beyond the shared clean pass, ``attacked``
    the images classified correctly clean, and for SparseFool ``outer`` (outer iterations per
    attacked image) and ``deepfool`` (DeepFool iterations per outer iteration)."""
    net = Counted(model).eval()
    logits = predict(model, x)
    with deepfool_counts() as df:
        robustness.attack_rows(net, x, y, [dict(spec)], eps=eps, seed=seed, logits=logits)
    n = spec.get("n") or len(x)
    attacked = int((logits[:n].argmax(1) == y[:n]).sum())
    out = {"forward": float(net.rows), "attacked": float(attacked)}
    if df["outer"]:
        out |= {"outer": df["outer"] / max(attacked, 1), "deepfool": df["iterations"] / df["outer"]}
    return out
