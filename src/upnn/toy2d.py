"""The 2-D binary toy of arXiv 2205.01493 v4 (Fig. 4): the mechanism on data anyone can see.

Points are uniform in [-1, 1]², the label is [x₁ > 0] (the boundary is the x₂ axis). A fully
connected net is trained for every seed at once (:mod:`upnn.stacked`); after every epoch, for all
seeds together:

* test accuracy TA;
* robust accuracy RA: accuracy on the test set after a gradient attack
  (``upnn.attacks.attack``, default PGD) with the l∞ radius eps, in the data box (-1, 1);
* dx and dp: the spreads sigma_x and sigma_p (companion supp. Eq. 22) of the neural packet
  ψ(x₁) = l(x₁)/sqrt(β), l the cross-entropy of the net at (x₁, x₂ = 0) with a given label, as x₁
  sweeps [-1, 1], integrated by Gauss–Legendre quadrature (``upnn.packets.sample_points`` +
  ``moments_from_samples``), averaged over the two labels. One dimension, so the paper's
  ΔX = (Σ_i σ_{x_i})^{1/2} (Eq. 23) would be sqrt(σ_x): a monotone function of it; the table keeps
  σ_x and σ_p themselves;
* at chosen epochs, the landscape ψ(x₁, x₂, label) = l(x₁, x₂, label)/sqrt(β) on a grid over the
  whole square, β = ∬ l² dx₁dx₂ by the trapezoidal rule.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from torch import Tensor

from upnn import attacks, packets, stacked

GRADIENT_ATTACKS = ("fgsm", "osnt", "bim", "pgd", "ifgsm")
BOX = (-1.0, 1.0)  # the data square [-1, 1]²: inputs, attacks and packets stay inside it


@dataclass(frozen=True)
class ToyConfig:
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    n_train: int = 1000
    n_test: int = 1000
    data_seed: int = 0
    depth: int = 2  # hidden layers
    width: int = 32
    activation: str = "relu"
    epochs: int = 500
    batch_size: int = 100
    lr: float = 1e-4
    attack: str = "pgd"
    eps: float = 0.1
    attack_steps: int | None = 4  # None: the attack's default
    n_points: int = 64  # quadrature points along x1
    landscape_epochs: tuple[int, ...] = (100, 200, 500)
    grid: int = 41

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ToyConfig:
        """From the config's ``toy2d`` block (nested ``attack`` and ``landscape`` dicts), which
        the schema has checked (:func:`upnn.config.with_code_enums` takes its attack and
        activation names from :data:`GRADIENT_ATTACKS` and ``stacked.ACTIVATIONS``)."""
        flat = dict(d)
        for block, keys in (("attack", {"name": "attack", "eps": "eps", "steps": "attack_steps"}),
                            ("landscape", {"epochs": "landscape_epochs", "grid": "grid"})):
            flat |= {keys[k]: v for k, v in (flat.pop(block, None) or {}).items()}
        for key in ("seeds", "landscape_epochs"):
            if key in flat:
                flat[key] = tuple(flat[key])
        return cls(**flat)


def labels(x: Tensor) -> Tensor:
    """The toy's label: 1 where x₁ > 0, else 0 (the decision boundary is the x₂ axis)."""
    return (x[..., 0] > 0).long()


def make_data(n: int, seed: int, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
    """n points uniform in [-1, 1]² from a generator seeded with ``seed`` (drawn on the CPU, so
    the same on every device), and their labels."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 2, generator=gen) * 2 - 1
    return x.to(device), labels(x).to(device)


def datasets(cfg: ToyConfig, device: torch.device | str = "cpu") -> tuple[Tensor, ...]:
    """(x_train, y_train, x_test, y_test): train from data_seed, test from data_seed + 1."""
    return (*make_data(cfg.n_train, cfg.data_seed, device),
            *make_data(cfg.n_test, cfg.data_seed + 1, device))


def build(cfg: ToyConfig, seed: int) -> torch.nn.Sequential:
    """One seed's net: 2 → width (× depth hidden layers) → 2 logits."""
    return stacked.mlp([2, *[cfg.width] * cfg.depth, 2], cfg.activation, seed=seed)


@torch.no_grad()
def test_accuracy(model: stacked.Stacked, x: Tensor, y: Tensor) -> Tensor:
    """(S,) accuracy of every seed on (x, y)."""
    return (stacked.predict(model(stacked.share(x, model.n_seeds))) == y).float().mean(1)


def robust_accuracy(model: stacked.Stacked, x: Tensor, y: Tensor, name: str, eps: float,
                    steps: int | None, seed: int = 0) -> Tensor:
    """(S,) accuracy of every seed on its own adversarial examples of (x, y): one
    ``upnn.attacks.attack`` call over all seeds (``Stacked.flat``), inside the box (-1, 1)."""
    s, n = model.n_seeds, len(y)
    flat = model.flat()
    xs, ys = stacked.share(x, s).reshape(s * n, -1), y.repeat(s)
    x_adv = attacks.attack(name, flat, xs, ys, eps, steps=steps, bounds=BOX, seed=seed)
    with torch.no_grad():  # robust: correct clean and attacked
        ok = (flat(x_adv).argmax(-1) == ys) & (flat(xs).argmax(-1) == ys)
        return ok.view(s, n).float().mean(1)


def _losses(model: stacked.Stacked, points: Tensor, label: Tensor) -> Tensor:
    """Cross-entropy (float64) of every seed at its (S, P, 2) points with (P,) labels: (S, P)."""
    return stacked.cross_entropy(model(points).double(), label.expand(model.n_seeds, -1))


def packet_spreads(model: stacked.Stacked, n_points: int) -> dict[str, Tensor]:
    """Moments of ψ(x₁, x₂ = 0, label) along x₁ ∈ [-1, 1] for both labels and every seed.

    Gauss–Legendre points (``packets.sample_points``), one forward and one backward for all
    seeds and both labels, dl/dx₁ from the input gradient, formulas from
    ``packets.moments_from_samples``. Returns its dict with entries of shape (S, 2): label 0
    then label 1.
    """
    device = model.stacked[0].device
    x1, w = packets.sample_points("quadrature", BOX[0], BOX[1], n_points, device=device)
    s = model.n_seeds
    pts = torch.zeros(s, 2 * n_points, 2, device=device)  # one copy per seed: its own gradient
    pts[..., 0] = x1.repeat(2)
    lab = torch.arange(2, device=device).repeat_interleave(n_points)
    with torch.enable_grad():
        pts.requires_grad_(True)
        loss = _losses(model, pts, lab)
        (grad,) = torch.autograd.grad(loss.sum(), pts)
    return packets.moments_from_samples(loss.detach().view(s, 2, n_points),
                                        grad[..., 0].view(s, 2, n_points), x1, w,
                                        method="quadrature")


def spreads(model: stacked.Stacked, n_points: int) -> tuple[Tensor, Tensor]:
    """(dx, dp), each (S,): sigma_x and sigma_p of ψ(x₁, 0, label), mean over the two labels."""
    m = packet_spreads(model, n_points)
    return m["sigma_x"].mean(-1), m["sigma_p"].mean(-1)


@torch.no_grad()
def landscape(model: stacked.Stacked, grid: int) -> tuple[Tensor, Tensor]:
    """ψ(x₁, x₂, label) on a grid × grid lattice of [-1, 1]²: returns (psi, g) with psi of shape
    (S, 2, grid, grid) indexed [seed, label, i₁, i₂] at (g[i₁], g[i₂]), and g the (grid,) axis.

    β = ∬ l² dx₁dx₂ per seed and label by the trapezoidal rule on the same lattice.
    """
    device = model.stacked[0].device
    g = torch.linspace(BOX[0], BOX[1], grid, device=device)
    x1, x2 = torch.meshgrid(g, g, indexing="ij")
    pts = torch.stack([x1.flatten(), x2.flatten()], -1).repeat(2, 1)
    lab = torch.arange(2, device=device).repeat_interleave(grid * grid)
    l2 = _losses(model, stacked.share(pts, model.n_seeds), lab).view(model.n_seeds, 2, grid, grid) ** 2
    h = (BOX[1] - BOX[0]) / (grid - 1)
    w = torch.full((grid,), h, dtype=torch.float64, device=device)
    w[0] = w[-1] = h / 2
    beta = (l2 * w[:, None] * w[None, :]).sum((-1, -2), keepdim=True)
    return (l2 / beta).sqrt(), g


def run(cfg: ToyConfig, device: torch.device | str = "cpu",
        progress: Callable[[int, dict], None] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train every seed of ``cfg`` together; return (metrics, landscapes) as tidy frames.

    metrics: seed, epoch, test_acc, robust_acc, n_test (the test points both were measured on),
    dx, dp, train_loss, seconds (one row per seed and epoch 1..epochs). landscapes: seed, epoch,
    label, x1, x2, psi (grid² rows per seed, landscape epoch and label).
    ``progress(epoch, row_means)`` is called after every epoch.
    """
    device = torch.device(device)
    x_tr, y_tr, x_te, y_te = datasets(cfg, device)
    model = stacked.Stacked([build(cfg, s) for s in cfg.seeds]).to(device)
    opt = stacked.adam(model.parameters(), cfg.lr, device)
    gens = [torch.Generator().manual_seed(s) for s in cfg.seeds]
    seed_col = torch.tensor(cfg.seeds)
    metrics, lands = [], []
    t0 = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        train_loss = stacked.train_epoch(model, opt, x_tr, y_tr, gens, cfg.batch_size)
        model.eval()
        ta = test_accuracy(model, x_te, y_te)
        ra = robust_accuracy(model, x_te, y_te, cfg.attack, cfg.eps, cfg.attack_steps, seed=epoch)
        dx, dp = spreads(model, cfg.n_points)
        rows = {"seed": seed_col, "epoch": torch.full_like(seed_col, epoch), "test_acc": ta,
                "robust_acc": ra, "n_test": torch.full_like(seed_col, len(y_te)), "dx": dx, "dp": dp,
                "train_loss": train_loss}
        # copies: a numpy view would keep each epoch's tensors (and more) alive
        metrics.append({k: v.detach().cpu().numpy().copy() for k, v in rows.items()}
                       | {"seconds": [time.perf_counter() - t0] * len(cfg.seeds)})
        if epoch in cfg.landscape_epochs:
            psi, g = landscape(model, cfg.grid)
            lands.append(_landscape_frame(psi.cpu(), g.cpu(), cfg.seeds, epoch))
        if progress is not None:
            progress(epoch, {k: float(v.double().mean()) for k, v in rows.items() if k != "seed"})
    frame = pd.concat([pd.DataFrame(m) for m in metrics], ignore_index=True)
    return frame, pd.concat(lands, ignore_index=True)


def _landscape_frame(psi: Tensor, g: Tensor, seed_ids: Sequence[int], epoch: int) -> pd.DataFrame:
    s, _, n, _ = psi.shape
    idx = torch.cartesian_prod(torch.arange(s), torch.arange(2), torch.arange(n), torch.arange(n))
    return pd.DataFrame({
        "seed": torch.tensor(seed_ids)[idx[:, 0]].numpy(),
        "epoch": epoch,
        "label": idx[:, 1].numpy(),
        "x1": g[idx[:, 2]].numpy(),
        "x2": g[idx[:, 3]].numpy(),
        "psi": psi.flatten().numpy(),
    })

