"""Iterative FGSM augmentation (IFA), arXiv 2205.01493 v2/v3, Eq. 1-2.

IFA walks every input *down* the loss of a trained classifier with fixed-size sign steps:

    Eq. 1:  X_{n+1} = X_n - eps * sign(grad_X J(X_n, Y_true))
    Eq. 2:  Delta_N = X_N - X_0

where J is the cross-entropy of the classifier's logits.  Note the minus sign: unlike FGSM, the
step *lowers* the loss, so the augmented images become easier for the classifier.

All functions are batched: the data set is cut into chunks of ``batch_size`` that are moved to the
model's device, and all N steps run on a chunk before the next one is loaded (the only Python
loops are over steps and chunks).  The classifier is run in eval mode (its train/eval flags are
restored afterwards) and gradients are taken with ``torch.autograd.grad`` w.r.t. the inputs only,
so no ``.grad`` is left on the classifier's parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from upnn.attacks import attack
from upnn.device import device_of
from upnn.models import eval_mode

__all__ = [
    "eval_mode",
    "ifa_delta",
    "ifa_delta_trajectory",
    "ifa_step",
    "input_gradient",
]


def input_gradient(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """grad_X J(X, Y) of the summed cross-entropy, w.r.t. the inputs only.

    The loss is summed (not averaged) over the batch so that each sample's gradient does not
    depend on the batch size (its sign is the same either way).  Works under ``torch.no_grad``.
    """
    with torch.enable_grad():
        x = x.detach().clone().requires_grad_(True)
        loss = F.cross_entropy(model(x), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return grad


def _clip(x: Tensor, clip: tuple[float, float] | None) -> Tensor:
    return x if clip is None else x.clamp(clip[0], clip[1])


def _step(model: nn.Module, x: Tensor, y: Tensor, eps: float, clip) -> Tensor:
    # Eq. 1 (model already in eval mode).
    return _clip(x - eps * input_gradient(model, x, y).sign(), clip).detach()


def ifa_step(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    *,
    clip: tuple[float, float] | None = None,
) -> Tensor:
    """One IFA step, Eq. 1: ``X_{n+1} = X_n - eps * sign(grad_X J(X_n, Y))``.

    ``clip=None`` follows Eq. 1 exactly; ``clip=(lo, hi)`` clamps the result to [lo, hi].
    Runs on the device of ``x`` (which must match the model's).
    """
    with eval_mode(model):
        return _step(model, x, y, eps, clip)


def _chunks(n: int, batch_size: int, progress: bool, desc: str) -> Iterator[slice]:
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    starts = range(0, n, batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=desc, unit="chunk")
    for start in starts:
        yield slice(start, min(start + batch_size, n))


def _run_chunk(
    model: nn.Module,
    x0: Tensor,
    y: Tensor,
    eps: float,
    n_steps: int,
    clip,
    record_at: set[int],
) -> tuple[Tensor, dict[int, Tensor]]:
    """All ``n_steps`` of Eq. 1 on one on-device chunk; returns X_N and {n: X_n, n in record_at}."""
    x = x0
    recorded = {0: x0} if 0 in record_at else {}
    for n in range(1, n_steps + 1):
        x = _step(model, x, y, eps, clip)
        if n in record_at:
            recorded[n] = x
    return x, recorded


def _check_record_at(record_at: Sequence[int], n_steps: int) -> set[int]:
    if n_steps < 0:
        raise ValueError(f"n_steps must be >= 0, got {n_steps}")
    bad = [n for n in record_at if not 0 <= n <= n_steps]
    if bad:
        raise ValueError(f"record_at entries must lie in [0, {n_steps}], got {bad}")
    return set(record_at)


def _over_chunks(model: nn.Module, x: Tensor, y: Tensor, eps: float, n_steps: int,
                 clip: tuple[float, float] | None, wanted: set[int], batch_size: int, progress: bool,
                 on_chunk: Callable[[Tensor, dict[int, Tensor]], None]) -> Tensor:
    """The one IFA loop: Eq. 1 chunk by chunk on the model's device, in eval mode; for each chunk
    ``on_chunk(labels, {n: X_n, n in wanted})``; returns Delta_N (Eq. 2) on ``x``'s device."""
    device = device_of(model, x.device)
    deltas: list[Tensor] = []
    with eval_mode(model):
        for sl in _chunks(len(x), batch_size, progress, "IFA"):
            x0, yb = x[sl].to(device), y[sl].to(device)
            xn, rec = _run_chunk(model, x0, yb, eps, n_steps, clip, wanted)
            deltas.append((xn - x0).to(x.device))
            on_chunk(yb, rec)
    return torch.cat(deltas) if deltas else torch.zeros_like(x)


def ifa_delta(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    n_steps: int,
    *,
    clip: tuple[float, float] | None = None,
    record_at: Sequence[int] = (),
    batch_size: int = 1024,
    progress: bool = False,
) -> tuple[Tensor, dict[int, Tensor]]:
    """IFA perturbation of a whole data set, Eq. 2: ``Delta_N = X_N - X_0``.

    Args:
        model: trained classifier returning logits; run in eval mode (flags restored after).
        x, y: the data set X_0 (N, ...) and its true labels (N,), on any device.
        eps: step size of Eq. 1.
        n_steps: N.
        clip: ``None`` follows Eq. 1 (no clipping); ``(lo, hi)`` clamps X_n after every step.
        record_at: step indices n (0 <= n <= N) whose X_n are returned as well.
        batch_size: chunk size held on the model's device; all N steps run per chunk.
        progress: show a tqdm bar over chunks.

    Returns:
        ``(delta, {n: X_n})``, both on ``x``'s device with ``x``'s shape.
    """
    wanted = _check_record_at(record_at, n_steps)
    recorded: dict[int, list[Tensor]] = {n: [] for n in sorted(wanted)}

    def keep(_: Tensor, rec: dict[int, Tensor]) -> None:
        for n, xr in rec.items():
            recorded[n].append(xr.to(x.device))

    delta = _over_chunks(model, x, y, eps, n_steps, clip, wanted, batch_size, progress, keep)
    # an empty data set records nothing: X_n is then the (empty) x itself
    return delta, {n: torch.cat(parts) if parts else x.clone() for n, parts in recorded.items()}


@torch.no_grad()
def _correct(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    return model(x).argmax(dim=1) == y


def ifa_delta_trajectory(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    n_steps: int,
    iterations: Sequence[int],
    *,
    clip: tuple[float, float] | None = None,
    attack_eps: float,
    batch_size: int = 1024,
    progress: bool = False,
) -> tuple[Tensor, list[dict]]:
    """:func:`ifa_delta` (Delta_N, Eq. 2) and the accuracy along the IFA trajectory
    X_0, X_1, ... (Eq. 1) in one pass over the N steps.

    For every n in ``iterations`` (each in [0, ``n_steps``], e.g. 0, 1, 2, 5, 10, 20, 50, 100,
    200): TA = accuracy of ``model`` on X_n, and RA = its accuracy on
    ``upnn.attacks.attack("ifgsm")`` of X_n with l_inf budget ``attack_eps`` (4 steps of
    ``attack_eps / 4``, no random start; ``bounds=clip``, i.e. no box when ``clip`` is None).
    Everything is evaluated chunk by chunk, so the trajectory is never stored for the whole set.
    The pipeline needs both Delta_N of the training set and the TA/RA along the way; computing
    them together halves the gradient evaluations.

    Returns:
        ``(delta, rows)``: rows ``{"iteration": n, "accuracy": TA, "robust_accuracy": RA}`` in the
        order of ``iterations``.
    """
    iterations = list(iterations)
    wanted = _check_record_at(iterations, n_steps)
    correct = dict.fromkeys(wanted, 0)
    robust = dict.fromkeys(wanted, 0)

    def score(yb: Tensor, rec: dict[int, Tensor]) -> None:
        for n, xn in rec.items():
            clean = _correct(model, xn, yb)
            correct[n] += int(clean.sum())
            x_adv = attack("ifgsm", model, xn, yb, attack_eps, bounds=clip)
            robust[n] += int((clean & _correct(model, x_adv, yb)).sum())  # clean and attacked

    delta = _over_chunks(model, x, y, eps, n_steps, clip, wanted, batch_size, progress, score)
    total = max(len(x), 1)
    rows = [
        {"iteration": n, "accuracy": correct[n] / total, "robust_accuracy": robust[n] / total}
        for n in iterations
    ]
    return delta, rows
