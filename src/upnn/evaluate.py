"""Test accuracy (TA) and robust accuracy (RA) of one checkpoint under a list of attacks,
at pixel level (attack ``model`` on images) or feature level (attack ``model.head`` on
``z = model.features(x)``).

Feature level follows the papers' Fig. 5: the attack box is the per-element min/max of z over
the training set, and the feature ε defaults to the pixel ε scaled by std(z)/std(x) on the
training set, so an attack of "the same strength" moves features as far, relative to their
spread, as the pixel attack moves pixels.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from upnn import attacks
from upnn.train import predict

LEVELS = ("pixel", "feature")


def check_level(level: str) -> str:
    if level not in LEVELS:
        raise ValueError(f"unknown attack level {level!r}; allowed: {', '.join(LEVELS)}")
    return level


@torch.no_grad()
def features(model: nn.Module, x: Tensor, batch_size: int = 1024) -> Tensor:
    """``model.features(x)`` in eval mode, in chunks."""
    was = model.training
    model.eval()
    z = torch.cat([model.features(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
    model.train(was)
    return z


def feature_box(z_train: Tensor) -> tuple[Tensor, Tensor]:
    """Per-element (min, max) of the training features: the feature-level attack box."""
    return z_train.amin(dim=0), z_train.amax(dim=0)


def feature_eps(pixel_eps: float, x_train: Tensor, z_train: Tensor) -> float:
    """ε_z = ε_x · std(z) / std(x) over the training set (the default feature-level budget)."""
    return float(pixel_eps * z_train.float().std() / x_train.float().std())


def attack_rows(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    specs: Sequence[Mapping[str, Any]],
    *,
    eps: float,
    bounds: tuple[float, float] | tuple[Tensor, Tensor] = (0.0, 1.0),
    seed: int = 0,
    batch_size: int = 512,
    alpha_scale: float = 1.0,
) -> list[dict[str, Any]]:
    """One row per attack: eps, alpha, steps, n, clean_acc, robust_acc, mean_linf, mean_l0, seconds,
    and the per-image outcomes ``clean_correct`` and ``robust_correct`` (bool arrays over the n
    attacked samples, in the order of ``x``): the claims stage bootstraps its intervals from them.

    ``specs`` are dicts with ``name`` and optional ``alpha``, ``steps``, ``random_start``,
    sparsefool's ``lambda_``/``overshoot``/``max_iter``, and ``n``: attack only the first n
    samples (for costly attacks). ``x`` is already at the attacked level (images, or features with
    ``model`` = the head). ``alpha_scale`` multiplies every step size (feature level: ε_z/ε_x).
    mean_l0 counts changed elements per sample.
    """
    rows = []
    for spec in specs:
        spec = {k: v for k, v in spec.items() if v is not None}
        name, n = spec.pop("name"), spec.pop("n", None)
        xs, ys = (x, y) if n is None else (x[:n], y[:n])
        alpha, steps = attacks.default_steps(name, eps / alpha_scale, spec.pop("alpha", None))
        alpha = None if alpha is None else alpha * alpha_scale
        steps = spec.pop("steps", steps)
        if name != "sparsefool":  # sparsefool takes neither (its own max_iter is in spec)
            spec.update(alpha=alpha, steps=steps)
        clean = predict(model, xs, batch_size).argmax(1) == ys
        t0 = time.perf_counter()
        x_adv = attacks.attack_batched(name, model, xs, ys, eps, batch_size=batch_size,
                                       bounds=bounds, seed=seed, **spec)
        if x.is_cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        delta = (x_adv - xs).flatten(1)
        robust = predict(model, x_adv, batch_size).argmax(1) == ys
        rows.append({
            "attack": name, "eps": float(eps),
            "alpha": float("nan") if alpha is None or name == "sparsefool" else float(alpha),
            "steps": -1 if steps is None or name == "sparsefool" else int(steps), "n": len(ys),
            "clean_acc": clean.float().mean().item(), "robust_acc": robust.float().mean().item(),
            "mean_linf": delta.abs().amax(1).mean().item(),
            "mean_l0": (delta != 0).sum(1).float().mean().item(), "seconds": seconds,
            "clean_correct": clean.cpu().numpy(), "robust_correct": robust.cpu().numpy(),
        })
    return rows


def evaluate_checkpoint(
    model: nn.Module,
    level: str,
    x_test: Tensor,
    y_test: Tensor,
    x_train: Tensor,
    specs: Sequence[Mapping[str, Any]],
    *,
    pixel_eps: float,
    feature_eps_value: float | None = None,
    seed: int = 0,
    batch_size: int = 512,
) -> list[dict[str, Any]]:
    """:func:`attack_rows` at ``level`` for one checkpoint. Feature level derives its box and ε
    from this checkpoint's training features (they change from epoch to epoch) and keeps the
    pixel attack's step counts, with step sizes scaled by ε_z/ε_x: the Kurakin step rule
    (ε·255 + 4) is in 8-bit pixel units and would give hundreds of steps on features."""
    model.eval()
    if check_level(level) == "pixel":
        return attack_rows(model, x_test, y_test, specs, eps=pixel_eps, seed=seed,
                           batch_size=batch_size)
    z_train = features(model, x_train, batch_size)
    eps = feature_eps_value if feature_eps_value is not None else feature_eps(pixel_eps, x_train,
                                                                              z_train)
    return attack_rows(model.head, features(model, x_test, batch_size), y_test, specs, eps=eps,
                       bounds=feature_box(z_train), seed=seed, batch_size=batch_size,
                       alpha_scale=eps / pixel_eps)

