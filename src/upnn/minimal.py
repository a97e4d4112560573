"""Robustness free of the choice of ε: each test image's minimal attack amplitude.

The papers measure RA at one amplitude per dataset; at one ε a curve can sit at 0 (or at TA)
and show no trend. Here, per image, the smallest l∞ amplitude ε* at which an attack flips the
prediction is found by batched bisection on [0, max_eps]:

    lo = 0, hi = max_eps;  repeat ⌈log₂(max_eps / resolution)⌉ times:
        mid = (lo + hi) / 2;  fooled = f(A(x, mid)) ≠ y;  hi = mid where fooled, lo = mid elsewhere
    ε* = hi     (0 for an image misclassified clean, inf if A(x, max_eps) does not fool it)

Every image of the batch is attacked at its own mid in one call (per-sample ε). The attack is
BIM by default with ``steps`` steps of α = 1.25·ε/steps (the total movement of Kurakin et al.'s
rule, α·steps ≈ 1.25·ε), so the step count does not change with ε. Beside it, DeepFool's l2
norm ‖δ‖₂ (Moosavi-Dezfooli et al. 2016), a minimal-perturbation measure with no ε at all.

Bisection assumes that an image fooled at ε is fooled at every larger ε; where the attack is not
monotone in ε, ε* is one amplitude that fools, within ``resolution`` of a point where success
switches on.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from upnn import attacks
from upnn.models import predict

SEARCH_ATTACKS = ("bim", "fgsm", "osnt", "pgd", "ifgsm")


def check_attack(name: str) -> str:
    if name not in SEARCH_ATTACKS:
        raise ValueError(f"unknown minimal-amplitude attack {name!r}; allowed: "
                         f"{', '.join(SEARCH_ATTACKS)}")
    return name


def n_bisections(max_eps: float, resolution: float) -> int:
    """⌈log₂(max_eps / resolution)⌉: the bisection steps that narrow [0, max_eps] to resolution."""
    if not 0 < resolution <= max_eps:
        raise ValueError(f"need 0 < resolution <= max_eps, got resolution {resolution}, "
                         f"max_eps {max_eps}")
    return max(1, math.ceil(math.log2(max_eps / resolution) - 1e-12))


def fooled(model: nn.Module, x: Tensor, y: Tensor, eps: Tensor, *, attack: str = "bim",
           steps: int = 10, seed: int = 0, batch_size: int = 512) -> Tensor:
    """Whether ``attack`` at the per-sample amplitude ``eps`` (shape (len(x),)) flips each image
    (bool, on x's device). One-step attacks take one step of ε; iterative ones ``steps`` steps of
    α = 1.25·ε/steps."""
    one_step = attack in ("fgsm", "osnt")
    kw = {} if one_step else {"alpha": 1.25 * eps / steps, "steps": steps}
    x_adv = attacks.attack_batched(attack, model, x, y, eps, seed=seed, batch_size=batch_size,
                                   **kw)
    return predict(model, x_adv, batch_size).argmax(1) != y


def minimal_eps(model: nn.Module, x: Tensor, y: Tensor, *, attack: str = "bim", steps: int = 10,
                max_eps: float = 0.5, resolution: float = 1 / 255, seed: int = 0,
                batch_size: int = 512) -> Tensor:
    """ε* per image by batched bisection (module docstring): float64 on x's device, 0 where the
    clean image is misclassified, inf where ``max_eps`` does not fool it."""
    check_attack(attack)
    kw = dict(attack=attack, steps=steps, seed=seed, batch_size=batch_size)
    n = len(x)
    clean_wrong = predict(model, x, batch_size).argmax(1) != y
    full = torch.full((n,), float(max_eps), device=x.device)
    reach = clean_wrong.clone()  # ε* = 0 for those: they are never attacked
    right = (~clean_wrong).nonzero().squeeze(1)
    if len(right):
        reach[right] = fooled(model, x[right], y[right], full[right], **kw)
    lo, hi = torch.zeros(n, device=x.device), full.clone()
    active = (reach & ~clean_wrong).nonzero().squeeze(1)
    for _ in range(n_bisections(max_eps, resolution)):
        if active.numel() == 0:
            break
        mid = (lo[active] + hi[active]) / 2
        hit = fooled(model, x[active], y[active], mid, **kw)
        hi[active] = torch.where(hit, mid, hi[active])
        lo[active] = torch.where(hit, lo[active], mid)
    out = hi.double()
    out[clean_wrong] = 0.0
    out[~reach] = math.inf
    return out


def deepfool_l2(model: nn.Module, x: Tensor, y: Tensor, *, overshoot: float = 0.02,
                max_iter: int = 50, batch_size: int = 512) -> Tensor:
    """‖δ‖₂ of DeepFool's perturbation per image (float64): 0 where the clean image is
    misclassified, inf where DeepFool does not fool it within ``max_iter`` steps."""
    out = []
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        delta, ok = attacks.deepfool(model, xb, yb, overshoot=overshoot, max_iter=max_iter)
        norm = delta.flatten(1).norm(dim=1).double()
        norm = torch.where(ok, norm, math.inf)
        wrong = predict(model, xb, batch_size).argmax(1) != yb
        out.append(torch.where(wrong, 0.0, norm))
    return torch.cat(out) if out else torch.empty(0, dtype=torch.float64, device=x.device)
