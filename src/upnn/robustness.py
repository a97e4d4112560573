"""Test accuracy (TA) and robust accuracy (RA) of one checkpoint under a list of attacks and
amplitudes, at pixel level (attack ``model`` on images) or feature level (the papers' Fig. 5:
attack the learnable rest of the head on the features of :mod:`upnn.features`, ε a fraction of
each feature's training range, exactly as the pixel ε is of [0, 1]).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from upnn import attacks, features
from upnn.models import predict


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
    logits: Tensor | None = None,
    cut: bool = True,
) -> list[dict[str, Any]]:
    """One row per attack: in_papers (whether the papers use it), eps, bound, alpha, steps, n,
    clean_acc, robust_acc, mean_linf, mean_l0 (both over the images classified correctly clean,
    the ones an attack can break), seconds, and the per-image outcomes
    ``clean_correct`` and ``robust_correct`` (bool arrays over the n attacked samples, in the
    order of ``x``): the claims stage bootstraps its intervals from them.
    Robust accuracy has one definition (AutoAttack's and RobustBench's): an image is robust when it
    is classified correctly both clean and attacked, so RA ≤ TA always; a targeted attack (OST,
    ILLC) that "repairs" a misclassified image does not make it robust.
    Every row also carries the worst case of the papers' attacks on its images
    (:func:`worst_case`: ``robust_acc_worst`` and the per-image ``worst_correct``).

    ``specs`` are dicts with ``name`` and optional ``alpha``, ``steps``, ``random_start``,
    the attack's own options (``attacks.REGISTRY``; sparsefool's ``lambda_``/``overshoot``/
    ``max_iter``/``bound``), and ``n``: attack only the
    first n samples (for costly attacks). ``x`` is already at the attacked level (images, or unit
    features with ``model`` the range-scaled head). ``bound`` is "eps" for every attack held to
    l∞ ≤ eps and "none" for SparseFool with ``bound: none``. mean_l0 counts changed elements per
    sample.

    ``logits``: the clean pass of ``x``, shared by every attack (:func:`evaluate_checkpoint` computes
    it once per checkpoint for every amplitude); computed here when None. ``cut`` (the exact cut):
    images misclassified clean are neither attacked nor predicted again (``clean_logits`` of
    :func:`upnn.attacks.attack`), which leaves RA, the worst case and every per-image outcome
    bit-identical to ``cut=False``, the uncut computation that attacks every image (the baseline
    of ``bench/cuts.py`` and of the tests).
    """
    rows = []
    logits = predict(model, x, batch_size) if logits is None else logits
    clean_all = logits.argmax(1) == y
    for spec in specs:
        spec = {k: v for k, v in spec.items() if v is not None and k != "epochs"}
        name, n = spec.pop("name"), spec.pop("n", None)
        xs, ys = (x, y) if n is None else (x[:n], y[:n])
        box = bounds
        if n is not None and isinstance(bounds[0], Tensor) and bounds[0].dim() == x.dim():
            box = (bounds[0][:n], bounds[1][:n])  # per-sample bounds (unit features)
        alpha, steps = attacks.default_steps(name, eps, spec.pop("alpha", None))
        steps = spec.pop("steps", steps)
        registered = attacks.REGISTRY[name]
        adaptive = registered.steps is attacks.adaptive  # no step size (sparsefool: max_iter)
        bound = str(spec.get("bound", "eps")) if "bound" in registered.options else "eps"
        if not adaptive:
            spec.update(alpha=alpha, steps=steps)
        clean = clean_all[:len(ys)]
        t0 = time.perf_counter()
        x_adv = attacks.attack_batched(name, model, xs, ys, eps, batch_size=batch_size,
                                       bounds=box, seed=seed,
                                       clean_logits=logits[:len(ys)] if cut else None, **spec)
        if x.is_cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        ok = clean.nonzero().squeeze(1)
        delta = (x_adv[ok] - xs[ok]).flatten(1)
        robust = torch.zeros_like(clean)
        at = ok if cut else torch.arange(len(ys), device=ys.device)
        if len(at):
            robust[at] = (predict(model, x_adv[at], batch_size).argmax(1) == ys[at]) & clean[at]
        rows.append({
            "attack": name, "in_papers": registered.papers, "eps": float(eps), "bound": bound,
            "alpha": float("nan") if alpha is None or adaptive else float(alpha),
            "steps": -1 if steps is None or adaptive else int(steps), "n": len(ys),
            "clean_acc": clean.float().mean().item(), "robust_acc": robust.float().mean().item(),
            "mean_linf": delta.abs().amax(1).mean().item() if len(ok) else float("nan"),
            "mean_l0": (delta != 0).sum(1).float().mean().item(), "seconds": seconds,
            "clean_correct": clean.cpu().numpy(), "robust_correct": robust.cpu().numpy(),
        })
    return worst_case(rows)


def worst_case(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` (one per attack, on the first n images of one subset) with the worst case of the
    papers' attacks (:data:`upnn.attacks.PAPERS`) added to each: image i counts as robust only if
    it is classified correctly clean and under every papers' attack that attacked it (SparseFool
    may attack only the first n); ``worst_correct`` is that per image over the row's images and
    ``robust_acc_worst`` its mean (NaN when no papers' attack ran). It is never above the
    ``robust_acc`` of a papers' attack on the same images, nor above TA."""
    papers = [r for r in rows if r["attack"] in attacks.PAPERS]
    size = max((len(r["clean_correct"]) for r in rows), default=0)
    robust = np.ones(size, dtype=bool)
    covered = np.zeros(size, dtype=bool)
    for r in papers:
        k = len(r["robust_correct"])
        robust[:k] &= np.asarray(r["robust_correct"], dtype=bool)
        robust[:k] &= np.asarray(r["clean_correct"], dtype=bool)
        covered[:k] = True
    out = []
    for r in rows:
        k = len(r["clean_correct"])
        worst = robust[:k] & covered[:k]
        out.append({**r, "worst_correct": worst,
                    "robust_acc_worst": float(worst.mean()) if papers and k else float("nan")})
    return out


def at_epoch(specs: Sequence[Mapping[str, Any]], epoch: int, last: int) -> list[dict[str, Any]]:
    """The specs that run at ``epoch`` (of ``last`` trained): an attack's ``epochs`` setting is
    "all" (default), "last" (a costly attack, e.g. autoattack on the offline default) or a list
    of epochs (an extra at a stated subset, e.g. first, every tenth and last)."""
    out = []
    for spec in specs:
        when = spec.get("epochs") or "all"
        if not isinstance(when, list) and when not in ("all", "last"):
            raise ValueError(f"attack {spec['name']!r}: epochs = {when!r}; allowed: all, last, "
                             "a list of epochs")
        if when == "all" or (when == "last" and epoch == last) or \
                (isinstance(when, list) and epoch in when):
            out.append({k: v for k, v in spec.items() if k != "epochs"})
    return out


def amplitudes_at(eps: Sequence[float], epoch: int, extra_epochs: str | Sequence[int]
                  ) -> list[float]:
    """The amplitudes attacked at ``epoch``: the papers' (the first) always, the extra ones at
    ``extra_epochs`` ("all", or a list of epochs: ``attacks.extra_eps_epochs``)."""
    extra = extra_epochs == "all" or epoch in extra_epochs
    return list(eps) if extra else list(eps[:1])


def evaluate_checkpoint(
    model: nn.Module,
    level: str,
    x_test: Tensor,
    y_test: Tensor,
    x_train: Tensor,
    specs: Sequence[Mapping[str, Any]],
    *,
    eps: Sequence[float],
    seed: int = 0,
    batch_size: int = 512,
    cut: bool = True,
) -> list[dict[str, Any]]:
    """:func:`attack_rows` at ``level`` for one checkpoint, at every amplitude of ``eps``, from one
    clean pass shared by every attack and amplitude (``cut``: :func:`attack_rows`) (rows
    carry ``eps_index``: 0 is the first listed, the papers' amplitude). Feature level: the box
    comes from this checkpoint's training features (it changes from epoch to epoch), each ε is a
    fraction of every element's range, and attacks keep the pixel level's steps and step sizes
    (the same fractions of the range). Attacks that cannot run at ``level`` (their registry
    ``levels``: autoattack is pixel-only) are left out."""
    specs = [s for s in specs if level in attacks.REGISTRY[s["name"]].levels]
    if features.check_level(level) == "pixel":
        net, inputs, bounds = model, x_test, (0.0, 1.0)
    else:
        net = features.head_net(model, features.extract(model, x_train, batch_size))
        inputs = net.to_unit(features.extract(model, x_test, batch_size))
        bounds = features.unit_bounds(inputs)
    logits = predict(net, inputs, batch_size)
    rows = []
    for i, e in enumerate(eps):
        rows += [{**r, "eps_index": i}
                 for r in attack_rows(net, inputs, y_test, specs, eps=e, bounds=bounds, seed=seed,
                                      batch_size=batch_size, logits=logits, cut=cut)]
    return rows


def examples(model: nn.Module, x: Tensor, y: Tensor, *, attack: str, eps: float,
             n_images: int, batch_size: int = 512) -> tuple[dict[str, Any], Tensor, float, float]:
    """v4 Fig. 1: the first ``n_images`` test images before and after ``attack`` at ``eps``.

    Returns (columns, x_adv, TA, RA): columns ``index``, ``label``, ``pred_clean``,
    ``conf_clean``, ``pred_adv``, ``conf_adv`` (softmax confidence of the predicted class) of those
    images; ``x_adv`` the attacked images of the whole set; TA and RA on the whole set (RA: correct
    both clean and attacked, as in :func:`attack_rows`).
    """
    x_adv = attacks.attack_batched(attack, model, x, y, eps, batch_size=batch_size)
    p_clean = predict(model, x, batch_size).softmax(1)
    p_adv = predict(model, x_adv, batch_size).softmax(1)
    ta = (p_clean.argmax(1) == y).float().mean().item()
    ra = ((p_adv.argmax(1) == y) & (p_clean.argmax(1) == y)).float().mean().item()
    conf_clean, pred_clean = p_clean[:n_images].max(1)
    conf_adv, pred_adv = p_adv[:n_images].max(1)
    columns = {"index": list(range(min(n_images, len(y)))), "label": y[:n_images].cpu().numpy(),
               "pred_clean": pred_clean.cpu().numpy(), "conf_clean": conf_clean.cpu().numpy(),
               "pred_adv": pred_adv.cpu().numpy(), "conf_adv": conf_adv.cpu().numpy()}
    return columns, x_adv, ta, ra
