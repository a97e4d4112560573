"""Neural packets and their position/momentum spreads (the uncertainty principle of NNs).

For a trained net f, a label Y and one input dimension i, all inputs are held at a base point
X_base while x_i sweeps an interval [lo, hi]. With the per-point cross-entropy l = l(f(X), Y):

    beta_i = ∫ l² dx_i,    psi = l / sqrt(beta_i)                 (companion supp. Eq. 22)
    <x>    = ∫ x psi² dx,  sigma_x² = ∫ x² psi² dx - <x>²
    <p>    = ∫ psi psi' dx, sigma_p² = ∫ psi'² dx - <p>²,   psi' = (dl/dx) / sqrt(beta_i)

and over a set of dimensions (supp. Eq. 23)

    Delta X_Y = (sum_i sigma_{x_i})^{1/2},    Delta P_Y = (sum_i sigma_{p_i})^{1/2}.

The integrals are estimated by Monte Carlo ("mc"), scrambled Sobol quasi-Monte Carlo ("qmc")
or Gauss–Legendre quadrature ("quadrature"); `moments_from_samples` is the single place where
the formulas live, everything else feeds it samples.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache

import numpy as np
import torch
import torch.autograd.forward_ad as fwAD
import torch.nn.functional as F
from torch import Tensor, nn

from upnn.models import eval_mode

METHODS = ("mc", "qmc", "quadrature")
MOMENTS = ("beta", "x_mean", "sigma_x", "p_mean", "sigma_p", "product")
_SOBOL_MAX_DIM = 21201  # scipy's Sobol direction numbers support this many dimensions
_MAX_QUADRATURE_POINTS = 4096  # numpy's leggauss builds an (n, n) companion matrix


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown integration method {method!r}; expected one of {METHODS}")


def _acc_dtype(device: torch.device) -> torch.dtype:
    """Accumulation dtype for the moments: float64 wherever the backend has it."""
    return torch.float32 if device.type == "mps" else torch.float64


@lru_cache(maxsize=32)
def _leggauss(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(n)


def _sobol_uniform(rows: int, n: int, seed: int) -> np.ndarray:
    """(rows, n) scrambled Sobol points in [0, 1); each row is one Sobol dimension."""
    from scipy.stats import qmc  # imported here: scipy.stats is slow to import (docs/uncertainty.md)

    rng = np.random.default_rng(seed)
    blocks = [np.empty((0, n))]
    with warnings.catch_warnings():  # n need not be a power of two; we accept the small loss
        warnings.filterwarnings("ignore", message=".*balance properties.*")
        for start in range(0, rows, _SOBOL_MAX_DIM):
            d = min(_SOBOL_MAX_DIM, rows - start)
            blocks.append(qmc.Sobol(d=d, scramble=True, rng=rng).random(n).T)
    return np.concatenate(blocks, axis=0)


def sample_points(
    method: str,
    lo: Tensor | float,
    hi: Tensor | float,
    n_points: int,
    *,
    seed: int = 0,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, Tensor]:
    """Integration points and weights on [lo, hi] so that ∫ g dx ≈ Σ w·g(x).

    lo and hi may be floats (result shape (n_points,)) or tensors broadcasting to a batch shape B
    (result shape (*B, n_points), one interval per batch element, e.g. one per input dimension).

    * mc: i.i.d. uniform points, w = (hi - lo) / n.
    * qmc: scrambled Sobol points (scipy.stats.qmc, one Sobol coordinate per batch element),
      w = (hi - lo) / n.
    * quadrature: n-point Gauss–Legendre nodes and weights mapped from [-1, 1] to [lo, hi]
      (n <= 4096: numpy's leggauss costs O(n²) memory).

    Random numbers come from a local generator seeded with `seed` and are drawn on the CPU, so
    the points are identical on every device. The device defaults to that of lo/hi.
    """
    _check_method(method)
    if n_points < 1:
        raise ValueError(f"n_points must be >= 1, got {n_points}")
    if method == "quadrature" and n_points > _MAX_QUADRATURE_POINTS:
        raise ValueError(
            f"quadrature supports at most {_MAX_QUADRATURE_POINTS} points, got {n_points}"
        )
    if device is None:
        device = next((t.device for t in (lo, hi) if isinstance(t, Tensor)), torch.device("cpu"))
    lo64 = torch.as_tensor(lo, dtype=torch.float64).detach().cpu()
    hi64 = torch.as_tensor(hi, dtype=torch.float64).detach().cpu()
    batch = torch.broadcast_shapes(lo64.shape, hi64.shape)
    lo64, hi64 = lo64.expand(batch)[..., None], hi64.expand(batch)[..., None]
    width = hi64 - lo64
    if method == "mc":
        gen = torch.Generator().manual_seed(seed)
        u = torch.rand((*batch, n_points), generator=gen, dtype=torch.float64)
        x, w = lo64 + width * u, (width / n_points).expand(*batch, n_points)
    elif method == "qmc":
        rows = math.prod(batch)
        u = torch.from_numpy(_sobol_uniform(rows, n_points, seed)).reshape(*batch, n_points)
        x, w = lo64 + width * u, (width / n_points).expand(*batch, n_points)
    else:
        t, wt = (torch.from_numpy(a) for a in _leggauss(n_points))
        x, w = lo64 + width * (t + 1) / 2, width / 2 * wt
    return x.to(device=device, dtype=dtype), w.to(device=device, dtype=dtype).contiguous()


def moments_from_samples(
    l: Tensor,  # noqa: E741 (the paper's name for the loss)
    dl: Tensor,
    x: Tensor,
    w: Tensor,
    *,
    method: str,
) -> dict[str, Tensor]:
    """Packet moments from samples of l and dl/dx at points x with weights w (last dim = points).

    With beta = Σ w l², psi = l/sqrt(beta), psi' = dl/sqrt(beta) (supp. Eq. 22):

        x_mean  = Σ w x l² / beta                      = ∫ x psi²
        sigma_x = sqrt(Σ w (x - x_mean)² l² / beta)    = sqrt(∫ x² psi² - <x>²)
        p_mean  = Σ w l dl / beta                      = ∫ psi psi'
        sigma_p = sqrt(Σ w (dl - p_mean l)² / beta)    = sqrt(∫ psi'² - <p>²)
        product = sigma_x * sigma_p,   satisfies_bound = product >= 1/2

    (the centred forms are algebraically identical to the raw-moment ones because Σ w psi² = 1,
    and are non-negative by construction).

    sigma_p is the spread of the Hermitian momentum operator p = -i d/dx:
    <p²> = ∫ |psi'|², which equals the paper's literal -∫ psi psi'' after integration by parts
    only when psi vanishes at the interval ends (for a real packet ∫ psi psi'' itself is
    negative). Likewise, for a real psi, ∫ psi psi' = [psi²]_lo^hi / 2, so p_mean is generally
    nonzero on a bounded interval; it is reported as computed, and sigma_x*sigma_p >= 1/2 need
    not hold there.

    Standard errors (mc, qmc): delta method. Each moment is a smooth function of sample means,
    so it is linearised into per-point influence values phi_j (e.g. for x_mean,
    phi_j = (x_j - x_mean) l_j² / mean(l²)); se = sqrt(Σ phi_j² / (n (n - 1))). This assumes
    i.i.d. uniform points and equal weights; for qmc the same formula is reported and is
    conservative (scrambled Sobol errors are usually far smaller). For quadrature the *_se
    entries are NaN. Where a sigma is exactly zero its se is 0 when its variance has zero
    influence and inf otherwise (the delta method breaks down at sqrt(0)).

    Everything is vectorised over leading dims; results have shape l.shape[:-1] and are
    accumulated in float64 (float32 on MPS).
    """
    _check_method(method)
    acc = _acc_dtype(l.device)
    l, dl, x, w = (t.detach().to(acc) for t in torch.broadcast_tensors(l, dl, x, w))  # noqa: E741
    l2 = l * l
    beta = (w * l2).sum(-1)
    x_mean = (w * x * l2).sum(-1) / beta
    xc = x - x_mean[..., None]
    var_x = (w * xc * xc * l2).sum(-1) / beta
    p_mean = (w * l * dl).sum(-1) / beta
    pc = dl - p_mean[..., None] * l
    var_p = (w * pc * pc).sum(-1) / beta
    sigma_x, sigma_p = var_x.sqrt(), var_p.sqrt()
    product = sigma_x * sigma_p
    out = {
        "beta": beta,
        "x_mean": x_mean,
        "sigma_x": sigma_x,
        "p_mean": p_mean,
        "sigma_p": sigma_p,
        "product": product,
        "satisfies_bound": product >= 0.5,
    }
    if method == "quadrature":
        nan = torch.full_like(beta, math.nan)
        return out | {f"{k}_se": nan for k in MOMENTS}

    n = l.shape[-1]
    length = w.sum(-1, keepdim=True)
    a = beta[..., None] / length  # mean of l²

    def sqrt_infl(phi_var: Tensor, sigma: Tensor) -> Tensor:
        s = sigma[..., None]
        return torch.where(phi_var == 0, torch.zeros_like(phi_var), phi_var / (2 * s))

    phi_sx = sqrt_infl((xc * xc - var_x[..., None]) * l2 / a, sigma_x)
    phi_sp = sqrt_infl((pc * pc - var_p[..., None] * l2) / a, sigma_p)
    phi = {
        "beta": length * (l2 - a),
        "x_mean": xc * l2 / a,
        "sigma_x": phi_sx,
        "p_mean": (l * dl - p_mean[..., None] * l2) / a,
        "sigma_p": phi_sp,
        "product": sigma_p[..., None] * phi_sx + sigma_x[..., None] * phi_sp,
    }
    denom = n * max(n - 1, 1)
    for k, v in phi.items():
        se = ((v * v).sum(-1) / denom).sqrt()
        out[f"{k}_se"] = se if n > 1 else torch.full_like(se, math.inf)
    return out


def packet_moments(
    loss_fn: Callable[[Tensor], Tensor],
    lo: float,
    hi: float,
    *,
    method: str = "mc",
    n_points: int = 1024,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> dict[str, float | bool]:
    """Moments of the packet psi = l/sqrt(beta) of a 1-D loss profile l(x) on [lo, hi].

    loss_fn maps a 1-D tensor of x values to a 1-D tensor of differentiable losses; dl/dx comes
    from one backward pass of l.sum() (a constant loss_fn gives dl/dx = 0). Returns beta,
    x_mean, sigma_x, p_mean, sigma_p, product (Eq. 22 moments, see `moments_from_samples`),
    satisfies_bound (product >= 1/2, a bool) and, for mc/qmc, the *_se standard errors.
    """
    x, w = sample_points(method, lo, hi, n_points, seed=seed, dtype=dtype)
    with torch.enable_grad():
        x.requires_grad_(True)
        loss = loss_fn(x)
        if loss.requires_grad:
            (dl,) = torch.autograd.grad(loss.sum(), x, allow_unused=True, materialize_grads=True)
        else:
            dl = torch.zeros_like(x)
    moments = moments_from_samples(loss.detach(), dl, x.detach(), w, method=method)
    if method == "quadrature":
        moments = {k: v for k, v in moments.items() if not k.endswith("_se")}
    return {k: v.item() for k, v in moments.items()}


def _labels(label: int | Tensor, k: int, device: torch.device) -> Tensor:
    lab = torch.as_tensor(label, device=device, dtype=torch.long)
    return lab.reshape(-1).expand(k) if lab.numel() == 1 else lab.reshape(k)


def _bounds(lo: Tensor | float, hi: Tensor | float, k: int) -> tuple[Tensor, Tensor]:
    return torch.as_tensor(lo).expand(k), torch.as_tensor(hi).expand(k)


def _swept(x_base: Tensor, dims: Tensor, lo: Tensor | float, hi: Tensor | float, method: str,
           n_points: int, seed: int) -> tuple[Tensor, Tensor, Tensor]:
    """The packets' points, shared by every estimator: the checked (K,) flat indices ``dims``
    into x_base, and the (K, n_points) points x with weights w at which element dims[k] sweeps
    [lo[k], hi[k]] (:func:`sample_points`)."""
    _check_method(method)
    device = x_base.device
    dims = dims.to(device=device, dtype=torch.long).reshape(-1)
    k, numel = dims.numel(), x_base.numel()
    if k and (int(dims.min()) < 0 or int(dims.max()) >= numel):
        raise ValueError(f"dims must lie in [0, {numel}), got range {dims.min()}..{dims.max()}")
    lo, hi = _bounds(lo, hi, k)
    x, w = sample_points(method, lo, hi, n_points, seed=seed, device=device, dtype=x_base.dtype)
    return dims, x, w


def _swept_inputs(x_base: Tensor, dims: Tensor, x: Tensor,
                  batch_size: int) -> Iterator[tuple[slice, Tensor, Tensor, Tensor]]:
    """The K·n_points inputs in chunks of ``batch_size`` rows, built by vectorised indexing (memory
    stays bounded by one chunk): row r is x_base with element dims[k] set to x[k, j], in the flat
    order r = k·n_points + j. Yields (the chunk's slice of that order, its row indices, the column
    of each row's swept element, the (rows, numel) inputs)."""
    n_points, numel = x.shape[1], x_base.numel()
    total = dims.numel() * n_points
    x_flat, dims_flat = x.reshape(-1), dims.repeat_interleave(n_points)
    base_flat = x_base.detach().reshape(1, numel)
    for start in range(0, total, batch_size):
        stop = min(start + batch_size, total)
        rows = torch.arange(stop - start, device=x_base.device)
        cols = dims_flat[start:stop]
        inp = base_flat.expand(stop - start, numel).clone()
        inp[rows, cols] = x_flat[start:stop]
        yield slice(start, stop), rows, cols, inp


def network_moments(
    model: nn.Module,
    x_base: Tensor,
    label: int | Tensor,
    dims: Tensor,
    lo: Tensor,
    hi: Tensor,
    *,
    method: str = "mc",
    n_points: int = 256,
    seed: int = 0,
    batch_size: int = 8192,
) -> dict[str, Tensor]:
    """Per-dimension packet moments of the cross-entropy of `model` around `x_base` (Eq. 22).

    For each of the K flat indices dims[k] into x_base, x_base[dims[k]] is swept over
    [lo[k], hi[k]] at n_points points (see `sample_points`); all other inputs stay at x_base.
    The K*n_points inputs are evaluated in chunks of batch_size rows, each chunk built by
    vectorised indexing (memory stays bounded by one chunk), one forward and ONE
    torch.autograd.grad of the summed per-point CE losses w.r.t. the chunk input; dl/dx is the
    gradient entry at the varied element (valid because in eval mode row r's loss depends only on
    row r). CE is evaluated in float64 so confident predictions do not underflow to l = 0.

    label: an int or a (K,) tensor of class indices. Returns every entry of
    `moments_from_samples` with shape (K,). The model is put in eval mode and restored; only
    the input is differentiated, so no .grad is left on parameters.
    """
    device = x_base.device
    dims, x, w = _swept(x_base, dims, lo, hi, method, n_points, seed)
    k = dims.numel()
    labels_flat = _labels(label, k, device).repeat_interleave(n_points)
    acc = _acc_dtype(device)
    l_out = torch.empty(k * n_points, dtype=acc, device=device)
    dl_out = torch.empty(k * n_points, dtype=x_base.dtype, device=device)

    with eval_mode(model):
        with torch.enable_grad():
            for rows_of, rows, cols, inp in _swept_inputs(x_base, dims, x, batch_size):
                inp.requires_grad_(True)
                logits = model(inp.view(len(rows), *x_base.shape))
                loss = F.cross_entropy(logits.to(acc), labels_flat[rows_of], reduction="none")
                (grad,) = torch.autograd.grad(loss.sum(), inp)
                l_out[rows_of] = loss.detach()
                dl_out[rows_of] = grad[rows, cols]
    shape = (k, n_points)
    return moments_from_samples(l_out.view(shape), dl_out.view(shape), x, w, method=method)


def network_moments_classes(
    model: nn.Module,
    x_base: Tensor,
    classes: Sequence[int] | Tensor,
    dims: Tensor,
    lo: Tensor,
    hi: Tensor,
    *,
    method: str = "mc",
    n_points: int = 256,
    seed: int = 0,
    batch_size: int = 8192,
) -> dict[str, Tensor]:
    """`network_moments` for several labels Y at once: entries of shape (len(classes), K).

    Every label sees the same points (those `network_moments` draws for `dims` with this seed),
    and one forward-mode pass per chunk gives the logits z and their derivatives dz/dx_i along
    the varied element of each row (the tangent is that element's one-hot), so
    l_Y = logsumexp(z) - z_Y and dl_Y/dx_i = softmax(z)·dz - dz_Y for all Y from that one
    pass (float64), instead of one forward and backward per label. Results equal
    `network_moments(..., label=Y, ...)` for each Y up to rounding.
    """
    device = x_base.device
    dims, x, w = _swept(x_base, dims, lo, hi, method, n_points, seed)
    k = dims.numel()
    classes = torch.as_tensor(classes, device=device, dtype=torch.long).reshape(-1)
    acc = _acc_dtype(device)
    l_out = torch.empty(len(classes), k * n_points, dtype=acc, device=device)
    dl_out = torch.empty(len(classes), k * n_points, dtype=acc, device=device)

    with eval_mode(model):
        with torch.no_grad(), fwAD.dual_level(), warnings.catch_warnings():
            # torch's first make_dual registers jvp decompositions through torch.jit.script
            warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
            for rows_of, rows, cols, inp in _swept_inputs(x_base, dims, x, batch_size):
                tangent = torch.zeros_like(inp)
                tangent[rows, cols] = 1.0
                shape = (len(rows), *x_base.shape)
                out = model(fwAD.make_dual(inp.view(shape), tangent.view(shape)))
                z, dz = (t.to(acc) for t in fwAD.unpack_dual(out))
                l_out[:, rows_of] = (z.logsumexp(dim=1, keepdim=True) - z[:, classes]).T
                dl_out[:, rows_of] = ((z.softmax(dim=1) * dz).sum(1, keepdim=True)
                                      - dz[:, classes]).T
    shape = (len(classes), k, n_points)
    return moments_from_samples(l_out.view(shape), dl_out.view(shape), x, w, method=method)


def aggregate(sigma_x: Tensor, sigma_p: Tensor) -> tuple[float, float]:
    """(Delta X_Y, Delta P_Y) = ((Σ_i sigma_{x_i})^{1/2}, (Σ_i sigma_{p_i})^{1/2}), supp. Eq. 23."""
    return math.sqrt(float(sigma_x.sum())), math.sqrt(float(sigma_p.sum()))


def aggregate_se(
    sigma_x: Tensor, sigma_p: Tensor, sigma_x_se: Tensor, sigma_p_se: Tensor
) -> tuple[float, float]:
    """Standard errors of `aggregate`: S = Σ sigma_i has se_S = sqrt(Σ se_i²) (dimensions are
    estimated from independent points), and se(sqrt(S)) = se_S / (2 sqrt(S)) (delta method)."""

    def one(s: Tensor, se: Tensor) -> float:
        total = float(s.sum())
        se_total = math.sqrt(float((se.double() ** 2).sum()))
        return se_total / (2 * math.sqrt(total)) if total > 0 else math.inf

    return one(sigma_x, sigma_x_se), one(sigma_p, sigma_p_se)


def choose_dims(numel: int, count: int, *, seed: int) -> Tensor:
    """Seeded random subset of min(count, numel) distinct flat indices in [0, numel), sorted."""
    gen = torch.Generator().manual_seed(seed)
    count = max(0, min(count, numel))
    return torch.randperm(numel, generator=gen)[:count].sort().values
