"""Adversarial attacks on plain tensors, batched over the whole batch.

Every attack maps ``(model, x, y, eps)`` to a detached ``x_adv`` clamped to ``bounds``: floats
(pixel level, e.g. ``(0, 1)``) or per-element tensors broadcastable to ``x`` (feature level: the
per-element min/max of the features over the training set); ``None`` means no box. The loss is
cross-entropy on logits, the model runs in eval mode (its flags are restored afterwards), and
gradients are taken w.r.t. the input only, so no ``.grad`` is ever left on the parameters.

    osnt / fgsm   one-step non-target   x + eps·sign ∇x CE(f(x), y)           (Goodfellow 2015)
    ost           one-step target       x - eps·sign ∇x CE(f(x), y_LL)        (Kurakin 2017)
    bim           basic iterative       Clip_{x,eps}(x_n + alpha·sign ∇ CE(y))  (Kurakin 2017)
    illc          iter. least-likely    Clip_{x,eps}(x_n - alpha·sign ∇ CE(y_LL))
    pgd           projected gradient    random start, x0 + clamp(x_n + alpha·sign ∇ - x0, ±eps)
    ifgsm         iterative FGSM        pgd without random start, 4 steps of eps/4
    sparsefool    l0 attack             DeepFool + box-constrained linear solver (Modas 2019),
                                        inside x ± eps by default (``bound="eps"``)
    random        control               x + eps·sign N(0, 1)
    autoattack    not in the papers     AutoAttack, standard version, l∞ (Croce & Hein 2020):
                                        APGD-CE, APGD-T, FAB-T, Square, from the reference
                                        implementation (``pyautoattack``); pixel level only

y_LL is the least-likely class of the clean logits. Randomness (pgd's start, ``random``) comes
from a local generator seeded with ``seed``, never from the global RNG.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from upnn.device import device_of
from upnn.models import eval_mode

SPARSEFOOL_BOUNDS = ("eps", "none")

Bounds = tuple[float, float] | tuple[Tensor, Tensor] | None
Bound = Tensor | float


def _check_name(name: str) -> None:
    if name not in REGISTRY:
        raise ValueError(f"unknown attack {name!r}; allowed: {', '.join(REGISTRY)}")


def check_sparsefool_bound(bound: str) -> str:
    if bound not in SPARSEFOOL_BOUNDS:
        raise ValueError(f"unknown sparsefool bound {bound!r}; allowed: {', '.join(SPARSEFOOL_BOUNDS)}")
    return bound


def eps_box(x: Tensor, eps: float, lo: Bound, hi: Bound) -> tuple[Tensor, Tensor]:
    """The per-element box [max(lo, x - eps), min(hi, x + eps)]: the l∞ ball of radius eps around
    x inside the data box. SparseFool's per-pixel bound (its reference code's ``delta``) with the
    papers' one amplitude for every attack."""
    lo_t = torch.as_tensor(lo, dtype=x.dtype, device=x.device)
    hi_t = torch.as_tensor(hi, dtype=x.dtype, device=x.device)
    return torch.maximum(x - eps, lo_t), torch.minimum(x + eps, hi_t)


def default_steps(name: str, eps: float, alpha: float | None) -> tuple[float | None, int | None]:
    """The (alpha, steps) ``attack(name, ..., alpha=alpha, steps=None)`` uses: the attack's own
    step rule (:data:`REGISTRY`). One-step attacks: (eps, 1). bim/illc: alpha = 1/255 unless
    given, steps = floor(min(255·eps + 4, 1.25·255·eps)), at least 1 (Kurakin et al. 2017, §2.2).
    pgd/ifgsm: alpha = eps/4 unless given, 4 steps. sparsefool: (None, None), it has no step
    size and stops adaptively (its cap is the ``max_iter`` keyword, 20 by default).
    """
    _check_name(name)
    return REGISTRY[name].steps(eps, alpha)


@contextmanager
def _attack_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode (:func:`upnn.models.eval_mode`: flags restored on exit) and grad enabled."""
    with eval_mode(model), torch.enable_grad():
        yield


def _box(bounds: Bounds, x: Tensor) -> tuple[Bound, Bound]:
    if bounds is None:
        return -math.inf, math.inf
    lo, hi = bounds
    if isinstance(lo, Tensor) or isinstance(hi, Tensor):
        return (torch.as_tensor(lo, dtype=x.dtype, device=x.device),
                torch.as_tensor(hi, dtype=x.dtype, device=x.device))
    return float(lo), float(hi)


def _per_sample(value: float | Tensor | None, x: Tensor) -> float | Tensor | None:
    """A (B,) tensor as (B, 1, ..., 1) on x's device, to broadcast against x; others unchanged."""
    if not isinstance(value, Tensor):
        return value
    return value.to(device=x.device, dtype=x.dtype).reshape(-1, *([1] * (x.dim() - 1)))


def _grad_sign(model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
    """sign ∇x CE(f(x), target), CE summed over the batch (torchattacks averages: the sign is the
    same, and with the sum each sample's backward does not depend on which other samples share
    the batch, so attacking a subset of a batch gives those samples the same floats)."""
    return _logits_and_grad_sign(model, x, target)[1]


def _logits_and_grad_sign(model: nn.Module, x: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """(f(x), sign ∇x CE(f(x), target)) from one forward and one backward pass."""
    x = x.detach().requires_grad_(True)
    logits = model(x)
    (grad,) = torch.autograd.grad(F.cross_entropy(logits, target, reduction="sum"), x)
    return logits.detach(), grad.sign()


@torch.no_grad()
def _least_likely(model: nn.Module, x: Tensor, y_ll: Tensor | None = None) -> Tensor:
    """y_LL, the least-likely class of the clean logits: ``y_ll`` when the shared clean pass
    gave it (:func:`attack`'s ``clean_logits``), else one forward pass of x."""
    return model(x).argmin(dim=1) if y_ll is None else y_ll


def _fgsm(model: nn.Module, x: Tensor, target: Tensor, eps: float | Tensor, lo: Bound, hi: Bound,
          targeted: bool) -> Tensor:
    """Fast gradient sign method (Goodfellow, Shlens, Szegedy 2015): x + eps·sign ∇x J(θ, x, y).
    Targeted ("one-step target class", Kurakin et al. 2017): x - eps·sign ∇x J(θ, x, y_target)."""
    step = eps * _grad_sign(model, x, target)
    return torch.clamp(x - step if targeted else x + step, lo, hi)


def _rows(v: Bound, idx: Tensor | None, x: Tensor) -> Bound:
    """The rows ``idx`` of a per-sample tensor (one row per sample of ``x``, as many dims, the
    rule of :func:`attack_batched`); anything else, or every row (``idx`` None), unchanged."""
    if idx is None or not (isinstance(v, Tensor) and v.dim() == x.dim() and len(v) == len(x) > 1):
        return v
    return v[idx]


def _iterate(model: nn.Module, x_adv: Tensor, target: Tensor, steps: int,
             step: Callable[[Tensor, Tensor, Tensor | None], Tensor],
             y_true: Tensor | None) -> Tensor:
    """``steps`` updates x_adv ← step(x_adv, sign ∇ CE(f(x_adv), target), rows) (rows None:
    all of them).

    ``y_true`` None (success rule *final*, the papers' BIM/PGD): every image takes every step
    and the last iterate decides. Given (rule *any*, as AutoAttack counts): an image whose
    current iterate is misclassified (its label ``y_true``) leaves the batch at once and keeps
    that iterate, since it is broken whatever later steps do; its remaining steps are not
    computed. The misclassification is read from the logits of the same forward pass."""
    if y_true is None:
        for _ in range(steps):
            x_adv = step(x_adv, _grad_sign(model, x_adv, target), None)
        return x_adv
    x_adv = x_adv.clone()
    active = torch.arange(len(x_adv), device=x_adv.device)
    for _ in range(steps):
        logits, sign = _logits_and_grad_sign(model, x_adv[active], target[active])
        keep = logits.argmax(1) == y_true[active]
        active, sign = active[keep], sign[keep]
        if len(active) == 0:
            break
        x_adv[active] = step(x_adv[active], sign, active)
    return x_adv


def _bim(model: nn.Module, x: Tensor, target: Tensor, eps: float | Tensor,
         alpha: float | Tensor, steps: int,
         lo: Bound, hi: Bound, targeted: bool, y_true: Tensor | None = None) -> Tensor:
    """Kurakin, Goodfellow, Bengio 2017 ("Adversarial examples in the physical world"), §2.2-2.3:
    X_{n+1} = Clip_{X,eps}{X_n ± alpha·sign ∇X J(X_n, y)}, + for the true label (BIM), - for the
    least-likely class (ILLC); Clip_{X,eps} is the element-wise min/max against X ± eps.
    ``y_true``: the success rule *any* (:func:`_iterate`)."""
    lower, upper = x - eps, x + eps

    def step(xa: Tensor, sign: Tensor, rows: Tensor | None) -> Tensor:
        a = _rows(alpha, rows, x)
        xa = xa - a * sign if targeted else xa + a * sign
        xa = torch.minimum(torch.maximum(xa, _rows(lower, rows, x)), _rows(upper, rows, x))
        return torch.clamp(xa, _rows(lo, rows, x), _rows(hi, rows, x))

    return _iterate(model, x, target, steps, step, y_true)


def _pgd(model: nn.Module, x: Tensor, y: Tensor, eps: float | Tensor, alpha: float | Tensor,
         steps: int,
         lo: Bound, hi: Bound, start: Tensor | None,
         y_true: Tensor | None = None) -> Tensor:
    """PGD (Madry et al. 2018): x^{t+1} = Π_{x+S}(x^t + alpha·sign ∇x L(θ, x^t, y)), S the
    l∞ ball of radius eps, Π applied as x + clamp(x^{t+1} - x, ±eps) then the box; starts from
    the random point x + eps·``start`` of x+S (in the box), ``start`` uniform on [-1, 1]
    (:func:`attack` draws it), or from x when None. ``y_true``: the success rule *any*
    (:func:`_iterate`)."""
    x_adv = x if start is None else torch.clamp(x + start * eps, lo, hi)

    def step(xa: Tensor, sign: Tensor, rows: Tensor | None) -> Tensor:
        e, x0 = _rows(eps, rows, x), _rows(x, rows, x)
        xa = xa + _rows(alpha, rows, x) * sign
        return torch.clamp(x0 + torch.clamp(xa - x0, -e, e), _rows(lo, rows, x),
                           _rows(hi, rows, x))

    return _iterate(model, x_adv, y, steps, step, y_true)


def _autoattack(model: nn.Module, x: Tensor, y: Tensor, eps: float, lo: Bound, hi: Bound,
                seed: int) -> Tensor:
    """AutoAttack (Croce & Hein, ICML 2020), standard version, l∞ ball of radius eps: APGD-CE,
    then on the points still robust APGD-T (9 target classes), FAB-T (9) and Square (5000
    queries), through the reference implementation (``pyautoattack``, which packages
    fra31/auto-attack). It works in the [0, 1] pixel box with one float eps; its seeding of
    the global RNG is confined to this call."""
    if isinstance(eps, Tensor) or (lo, hi) != (0.0, 1.0):
        raise ValueError(f"autoattack runs on [0, 1] images with one float eps; got eps={eps!r}, "
                         f"bounds=({lo!r}, {hi!r}); allowed: pixel level")
    from pyautoattack import AutoAttack

    devices = [x.device] if x.device.type == "cuda" else []
    # its attacks call backward(): freeze the weights so no .grad is left on them
    trainable = [p for p in model.parameters() if p.requires_grad]
    try:
        for p in trainable:
            p.requires_grad_(False)
        with torch.random.fork_rng(devices=devices):
            aa = AutoAttack(model, norm="Linf", eps=float(eps), version="standard", seed=seed,
                            device=x.device)
            aa.verbose = False
            x_adv, _ = aa.run_standard_evaluation(x, y, batch_size=max(1, len(x)))
    finally:
        for p in trainable:
            p.requires_grad_(True)
    return x_adv


def _random(x: Tensor, eps: float | Tensor, lo: Bound, hi: Bound, gen: torch.Generator) -> Tensor:
    """Control: x + eps·sign(z), z ~ N(0, I): FGSM's amplitude in a random direction."""
    z = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
    return torch.clamp(x + eps * z.sign(), lo, hi)


# ---------------------------------------------------------------------------------- SparseFool


def _jacobian(logits: Tensor, x: Tensor, batched: bool = True) -> Tensor:
    """(B, K, *x.shape[1:]): ∇x f_k(x_b) for every class k, one vmapped backward over the batch
    (samples are independent in eval mode); a loop over the K classes where vmap is unsupported."""
    k = logits.shape[1]
    if batched:
        grad_out = torch.eye(k, dtype=logits.dtype, device=logits.device)[:, None, :]
        try:
            (jac,) = torch.autograd.grad(logits, x, grad_out.expand(k, *logits.shape),
                                         retain_graph=True, is_grads_batched=True)
            return jac.transpose(0, 1)
        except RuntimeError:
            pass
    jac = [torch.autograd.grad(logits[:, c].sum(), x, retain_graph=True)[0] for c in range(k)]
    return torch.stack(jac, dim=1)


def _deepfool(model: nn.Module, x: Tensor, y: Tensor, overshoot: float,
              max_iter: int) -> tuple[Tensor, Tensor]:
    """Multi-class DeepFool (Moosavi-Dezfooli, Fawzi, Frossard 2016, Alg. 2) away from class y.

    Each iteration linearises every boundary f_k - f_y at x_i = x + r, steps onto the closest one,
    r_i = |f'_l| / ||w'_l||² · w'_l with l = argmin_{k≠y} |f'_k| / ||w'_k||, and stops a sample
    once x + (1 + overshoot)·r leaves class y. Samples that are done leave the active batch.

    Returns r (without the overshoot) and the class k̂ at x + (1 + overshoot)·r (y if not fooled).
    """
    n = x[0].numel()
    r = torch.zeros_like(x)
    k_hat = y.clone()
    idx = torch.arange(len(x), device=x.device)
    for _ in range(max_iter):
        if idx.numel() == 0:
            break
        xa = (x[idx] + r[idx]).requires_grad_(True)
        ya = y[idx]
        logits = model(xa)
        jac = _jacobian(logits, xa).flatten(2)
        f = logits.detach()
        f = f - f.gather(1, ya[:, None])
        w = jac - jac.gather(1, ya[:, None, None].expand(-1, 1, n))
        w_norm = w.norm(dim=2)
        dist = torch.where(w_norm > 0, f.abs() / w_norm, math.inf)
        dist = dist.scatter(1, ya[:, None], math.inf)
        d, l_hat = dist.min(dim=1)
        rows = torch.arange(len(idx), device=x.device)
        scale = torch.where(torch.isfinite(d), d.clamp_min(1e-4) / w_norm[rows, l_hat], 0.0)
        r.index_add_(0, idx, (scale[:, None] * w[rows, l_hat]).view_as(xa))
        with torch.no_grad():
            k = model(x[idx] + (1 + overshoot) * r[idx]).argmax(dim=1)
        k_hat[idx] = k
        idx = idx[k == ya]
    return r, k_hat


def _boundary_normal(model: nn.Module, x: Tensor, y: Tensor, k_hat: Tensor) -> Tensor:
    """Unit w = ∇x (f_k̂ - f_y)(x) / ||·||₂ per sample (zero where k̂ == y)."""
    x = x.detach().requires_grad_(True)
    logits = model(x)
    sel = F.one_hot(k_hat, logits.shape[1]) - F.one_hot(y, logits.shape[1])
    (w,) = torch.autograd.grad(logits, x, sel.to(logits.dtype))
    norm = w.flatten(1).norm(dim=1).clamp_min(torch.finfo(w.dtype).tiny)
    return w / norm.view(-1, *([1] * (w.dim() - 1)))


def _linear_solver(x: Tensor, w: Tensor, x_b: Tensor, lo: Tensor, hi: Tensor,
                   beta: float = 1e-3, min_step: float = 1e-4) -> Tensor:
    """SparseFool's LinearSolver (Modas, Moosavi-Dezfooli, Frossard 2019), batched.

    Greedy l1 steps onto the hyperplane w·(v - x_b) = 0 inside the box [lo, hi]: repeatedly take
    the coordinate with the largest |w_d| not yet at the box bound it moves toward and move it by
    (|w·(v - x_b)| + beta) / |w_d| toward the plane, projected onto the box, until the plane is
    crossed. Every step that does not cross saturates its coordinate at a bound, so the sequence
    is the |w|-descending order and the crossing coordinate is the first one whose cumulative
    saturating gain sum_{j<=k} |w_j|·room_j reaches |w·(x - x_b)|: a sort and a cumsum instead of a
    loop. ``w`` has unit norm, so beta is an l2 overshoot past the plane; min_step as in the
    reference code. Moves are toward the plane from whichever side x lies on.
    """
    b = len(x)
    xf, wf, xbf = x.reshape(b, -1), w.reshape(b, -1), x_b.reshape(b, -1)
    lof, hif = lo.reshape(b, -1), hi.reshape(b, -1)
    n = xf.shape[1]
    f0 = ((xf - xbf) * wf).sum(dim=1)
    side = torch.where(f0 > 0, -1.0, 1.0).to(xf.dtype)
    move = side[:, None] * wf.sign()  # +1 up, -1 down, 0 never moved
    target = torch.where(move > 0, hif, lof)
    room = torch.where(move != 0, (target - xf) * move, 0.0).clamp_min(0.0)
    key = torch.where(room > 0, wf.abs(), 0.0)
    key, order = key.sort(dim=1, descending=True, stable=True)
    room_s = room.gather(1, order)
    cum = (key * room_s).cumsum(dim=1)  # |Δ w·v| after saturating the first j+1 coordinates
    need = f0.abs()
    crossed = cum >= need[:, None]
    k = torch.where(crossed.any(dim=1), crossed.int().argmax(dim=1), n)[:, None]
    kc = k.clamp_max(n - 1)
    done = torch.where(kc > 0, cum.gather(1, (kc - 1).clamp_min(0)), 0.0).squeeze(1)
    w_k, room_k = key.gather(1, kc).squeeze(1), room_s.gather(1, kc).squeeze(1)
    step = ((need - done + beta) / w_k.clamp_min(torch.finfo(xf.dtype).tiny)).clamp_min(min_step)
    step = torch.where(w_k > 0, step.minimum(room_k), 0.0)
    pos = torch.arange(n, device=x.device)[None, :]
    saturate = torch.zeros_like(crossed).scatter(1, order, pos < k)
    partial = torch.zeros_like(xf).scatter(1, order, torch.where(pos == k, step[:, None], 0.0))
    out = torch.where(saturate, target, xf + partial * move)
    return torch.minimum(torch.maximum(out, lof), hif).view_as(x)


def _sparsefool(model: nn.Module, x: Tensor, y: Tensor, lo: Bound, hi: Bound, *,
                lambda_: float = 3.0, overshoot: float = 0.02, max_iter: int = 20,
                df_max_iter: int = 50) -> Tensor:
    """SparseFool (Modas, Moosavi-Dezfooli, Frossard, CVPR 2019), batched over samples.

    While k(x_adv) = y: DeepFool from x_i gives r_i; the boundary point is x_B = x_i + λ·r_i and
    the normal w = ∇(f_k̂ - f_y) at x_i + r_i (as the authors' code); x_{i+1} = LinearSolver(x_i,
    w, x_B) in the box; x_adv = Q(x + (1 + overshoot)·(x_{i+1} - x)). Samples whose x_adv (or x
    itself) is already misclassified drop out of the active batch; they are returned as Q(x).
    """
    lo_t = torch.as_tensor(lo, dtype=x.dtype, device=x.device).expand_as(x)
    hi_t = torch.as_tensor(hi, dtype=x.dtype, device=x.device).expand_as(x)
    x = torch.minimum(torch.maximum(x, lo_t), hi_t)  # Q(x): the solver works inside the box
    x_i, x_adv = x.clone(), x.clone()
    with torch.no_grad():
        idx = (model(x).argmax(dim=1) == y).nonzero().squeeze(1)
    for _ in range(max_iter):
        if idx.numel() == 0:
            break
        x0, xi, ya, la, ha = x[idx], x_i[idx], y[idx], lo_t[idx], hi_t[idx]
        r, k_hat = _deepfool(model, xi, ya, overshoot, df_max_iter)
        w = _boundary_normal(model, xi + r, ya, k_hat)
        xi = _linear_solver(xi, w, xi + lambda_ * r, la, ha)
        fool = torch.minimum(torch.maximum(x0 + (1 + overshoot) * (xi - x0), la), ha)
        x_i[idx], x_adv[idx] = xi, fool
        with torch.no_grad():
            idx = idx[model(fool).argmax(dim=1) == ya]
    return x_adv


# ---------------------------------------------------------------------------------- registry


def one_step(eps: float, alpha: float | None) -> tuple[float, int]:
    """Step rule of a one-step attack: one step of eps."""
    return eps, 1


def kurakin_steps(eps: float, alpha: float | None) -> tuple[float, int]:
    """Kurakin et al. 2017, §2.2: alpha = 1/255, floor(min(255·eps + 4, 1.25·255·eps)) steps."""
    return (1 / 255 if alpha is None else alpha), max(1, int(min(eps * 255 + 4, 1.25 * eps * 255)))


def quarter_steps(eps: float, alpha: float | None) -> tuple[float, int]:
    """Four steps of eps/4 (the papers' PGD)."""
    return (eps / 4 if alpha is None else alpha), 4


def adaptive(eps: float, alpha: float | None) -> tuple[None, None]:
    """No step size: the attack stops by itself (its cap is an option)."""
    return None, None


@dataclass(frozen=True)
class Attack:
    """One attack, defined in one place: ``run(model, x, y, *, eps, alpha, steps, lo, hi, gen,
    seed, start, y_ll, **options)`` returns x_adv (it may ignore what it does not use; ``start``
    is pgd's random start, ``y_ll`` the least-likely class from the shared clean pass or None),
    ``steps`` is its (alpha, steps) rule, ``options`` the extra keywords it takes (its config
    settings), ``papers`` whether the papers use it (their RA envelope and the worst case
    ``robust_acc_worst`` count only those; others are drawn apart as "not in the papers"),
    ``levels`` the levels it can attack, ``cut`` whether :func:`attack` may leave out the images
    the shared clean pass misclassifies (False: the attack does no model work, or makes that
    cut itself)."""

    run: Callable[..., Tensor]
    steps: Callable[[float, float | None], tuple[float | None, int | None]]
    options: tuple[str, ...] = ()
    papers: bool = True
    levels: tuple[str, ...] = ("pixel", "feature")
    cut: bool = True

    @property
    def iterative(self) -> bool:
        return self.steps not in (one_step, adaptive)


def _run_sparsefool(model, x, y, *, eps, steps, lo, hi, alpha=None, gen=None, start=None, y_ll=None,
                    seed=None, **options):
    if steps is not None:
        options.setdefault("max_iter", steps)
    if check_sparsefool_bound(str(options.pop("bound", "eps"))) == "eps":
        lo, hi = eps_box(x, eps, lo, hi)
    return _sparsefool(model, x, y, lo, hi, **options)


def _run_pgd(model, x, y, *, eps, alpha, steps, lo, hi, start, success="final", **_):
    return _pgd(model, x, y, eps, alpha, steps, lo, hi, start, _success(success, y))


SUCCESS = ("final", "any")


def _success(rule: str, y: Tensor) -> Tensor | None:
    """The success rule of an iterative attack: ``final`` (the papers' BIM/PGD: the last iterate
    decides) → None; ``any`` (an image is broken once any iterate misclassifies it, as AutoAttack
    counts; it then leaves the batch) → its true labels, for :func:`_iterate`."""
    if rule not in SUCCESS:
        raise ValueError(f"unknown success rule {rule!r}; allowed: {', '.join(SUCCESS)}")
    return y if rule == "any" else None


def _run_bim(model, x, y, *, eps, alpha, steps, lo, hi, targeted, success="final", y_ll=None,
             **_):
    target = _least_likely(model, x, y_ll) if targeted else y
    return _bim(model, x, target, eps, alpha, steps, lo, hi, targeted, _success(success, y))


#: name → :class:`Attack`. Adding an attack is one entry here (and its test); the config schema's
#: attack names, ``default_steps`` and the attack stage read from it.
REGISTRY: dict[str, Attack] = {
    "osnt": Attack(lambda m, x, y, *, eps, lo, hi, **_: _fgsm(m, x, y, eps, lo, hi, False),
                   one_step),
    "fgsm": Attack(lambda m, x, y, *, eps, lo, hi, **_: _fgsm(m, x, y, eps, lo, hi, False),
                   one_step),
    "ost": Attack(lambda m, x, y, *, eps, lo, hi, y_ll=None, **_: _fgsm(
        m, x, _least_likely(m, x, y_ll), eps, lo, hi, True), one_step),
    "bim": Attack(lambda m, x, y, **kw: _run_bim(m, x, y, targeted=False, **kw), kurakin_steps,
                  ("success",)),
    "illc": Attack(lambda m, x, y, **kw: _run_bim(m, x, y, targeted=True, **kw), kurakin_steps,
                   ("success",)),
    "pgd": Attack(_run_pgd, quarter_steps, ("random_start", "success")),
    "ifgsm": Attack(lambda m, x, y, *, eps, alpha, steps, lo, hi, success="final", **_: _pgd(
        m, x, y, eps, alpha, steps, lo, hi, None, _success(success, y)), quarter_steps,
        ("success",)),
    "sparsefool": Attack(_run_sparsefool, adaptive,
                         ("lambda_", "overshoot", "max_iter", "df_max_iter", "bound")),
    "random": Attack(lambda m, x, y, *, eps, lo, hi, gen, **_: _random(x, eps, lo, hi, gen),
                     one_step, papers=False, cut=False),
    # AutoAttack makes the cut itself: it attacks only the points it classifies correctly
    "autoattack": Attack(lambda m, x, y, *, eps, lo, hi, seed, **_: _autoattack(
        m, x, y, eps, lo, hi, seed), adaptive, papers=False, levels=("pixel",), cut=False),
}
#: the attacks of the papers (their RA envelope; ``robust_acc_worst`` is taken over these)
PAPERS: tuple[str, ...] = tuple(n for n, a in REGISTRY.items() if a.papers)
ATTACKS: tuple[str, ...] = tuple(REGISTRY)  # the names shipped here (REGISTRY may grow)


# --------------------------------------------------------------------------------- public API


def attack(
    name: str,
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float | Tensor,
    *,
    alpha: float | Tensor | None = None,
    steps: int | None = None,
    bounds: Bounds = (0.0, 1.0),
    seed: int = 0,
    random_start: bool = True,
    clean_logits: Tensor | None = None,
    **kwargs: float | str,
) -> Tensor:
    """The ``name`` adversarial example of (x, y) within eps (l∞), clamped to ``bounds``.

    ``alpha``/``steps`` default as in :func:`default_steps`; ``random_start`` only affects pgd
    (its start is drawn for every image of x, attacked or not, so leaving images out moves no
    other image's start).
    ``clean_logits``: the logits of x from a clean pass shared by every attack (the exact cut):
    y_LL is read from them, and the images they misclassify are not attacked (returned as x,
    clamped): they are not robust whatever the attack does, as RA counts an image robust only
    when it is classified correctly clean and attacked. Every attacked image gets the same
    floats as without the cut (CE is summed per sample; batches of one image aside, where the
    BLAS takes another path) unless the attack's ``cut`` is False (random, autoattack).
    sparsefool ignores alpha, takes ``lambda_`` (3), ``overshoot`` (0.02), ``max_iter``
    (20; ``steps`` is used when it is not given), ``df_max_iter`` (50, DeepFool's cap) and
    ``bound``: "eps" (default) keeps every element within eps of x (:func:`eps_box`), "none" only
    within ``bounds`` (the unbounded l0 attack of Modas et al.).
    ``eps`` (and ``alpha``) may be per-sample tensors of shape (len(x),), e.g. for the minimal
    amplitude search (:mod:`upnn.minimal`); iterative attacks then need ``alpha`` and ``steps``.
    Returns a detached tensor on x's device.
    """
    _check_name(name)
    spec = REGISTRY[name]
    extra = set(kwargs) - set(spec.options)
    if extra:
        raise TypeError(f"attack {name!r} got unexpected keyword arguments: {sorted(extra)}")
    if steps is not None and steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    x = x.detach()
    y = y.detach().to(x.device)
    if isinstance(eps, Tensor):
        if spec.iterative and (alpha is None or steps is None):
            raise ValueError(f"attack {name!r} with a per-sample eps needs alpha and steps")
        eps, alpha = _per_sample(eps, x), _per_sample(alpha, x)
    if (torch.as_tensor(eps) < 0).any():
        raise ValueError(f"eps must be >= 0, got {eps}")
    lo, hi = _box(bounds, x)
    step_size, n_steps = (alpha, steps) if isinstance(eps, Tensor) else \
        default_steps(name, eps, alpha)
    n_steps = n_steps if steps is None else steps
    gen = torch.Generator(device=x.device).manual_seed(seed)
    start = None
    if random_start and "random_start" in spec.options:
        start = torch.empty_like(x).uniform_(-1, 1, generator=gen)
    kw = dict(eps=eps, alpha=step_size, steps=steps if spec.steps is adaptive else n_steps,
              lo=lo, hi=hi, start=start, y_ll=None, **kwargs)
    rows = None
    if clean_logits is not None:
        clean_logits = clean_logits.to(x.device)
        kw["y_ll"] = clean_logits.argmin(1)
        if spec.cut:
            rows = (clean_logits.argmax(1) == y).nonzero().squeeze(1)
    with _attack_mode(model):
        if rows is None:
            out = spec.run(model, x, y, gen=gen, seed=seed, **kw)
        else:
            out = x.clone()
            if len(rows):
                sub = {k: v[rows] if k == "y_ll" else _rows(v, rows, x) for k, v in kw.items()}
                out[rows] = spec.run(model, x[rows], y[rows], gen=gen, seed=seed, **sub)
    return torch.clamp(out, lo, hi).detach()  # a no-op except for steps=0 on x outside the box


def deepfool(model: nn.Module, x: Tensor, y: Tensor, *, overshoot: float = 0.02,
             max_iter: int = 50) -> tuple[Tensor, Tensor]:
    """DeepFool's minimal l2 perturbation (Moosavi-Dezfooli et al. 2016, Alg. 2), no box:
    (δ = (1 + overshoot)·r, fooled) with fooled[b] whether f(x_b + δ_b) ≠ y_b within
    ``max_iter`` linearisations; images misclassified at x get δ = 0."""
    x, y = x.detach(), y.detach().to(x.device)
    with _attack_mode(model):
        r, k_hat = _deepfool(model, x, y, overshoot, max_iter)
    return ((1 + overshoot) * r).detach(), k_hat != y


def attack_batched(
    name: str,
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float | Tensor,
    *,
    batch_size: int = 512,
    **kw,
) -> Tensor:
    """:func:`attack` over chunks of ``batch_size``; chunk i uses seed ``seed + i``.

    Chunks run on the model's device and the result is returned on x's device, so a large set can
    stay on the CPU. Tensor bounds with one row per sample (leading dim len(x)) are chunked too,
    and so are ``clean_logits`` (one row per sample).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    _check_name(name)
    seed = kw.pop("seed", 0)
    bounds = kw.pop("bounds", (0.0, 1.0))
    device = device_of(model, x.device)

    def chunk(b: Tensor | float, sl: slice) -> Tensor | float:
        if not isinstance(b, Tensor):
            return b
        per_sample = b.dim() == x.dim() and len(b) == len(x) > 1
        return (b[sl] if per_sample else b).to(device)

    def chunk_1d(v, sl: slice):  # per-sample eps / alpha of shape (len(x),)
        return v[sl].to(device) if isinstance(v, Tensor) else v

    outs = []
    for i, start in enumerate(range(0, len(x), batch_size)):
        sl = slice(start, start + batch_size)
        box = None if bounds is None else (chunk(bounds[0], sl), chunk(bounds[1], sl))
        extra = {**kw, "alpha": chunk_1d(kw["alpha"], sl)} if "alpha" in kw else kw
        if kw.get("clean_logits") is not None:
            extra = {**extra, "clean_logits": kw["clean_logits"][sl].to(device)}
        out = attack(name, model, x[sl].to(device), y[sl].to(device), chunk_1d(eps, sl),
                     bounds=box, seed=seed + i, **extra)
        outs.append(out.to(x.device))
    return torch.cat(outs) if outs else x.detach().clone()
