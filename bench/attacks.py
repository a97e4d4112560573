"""Throughput of upnn.attacks vs torchattacks 3.5.1 on the same model, inputs and settings.

    python bench/attacks.py [--batch 256] [--repeats 3] [--device auto] [--sf-batch 16]
                            [--threads N] [--aa-images 200]

Model: the papers' MNIST net (``upnn.models.build("cnn3", in_channels=1, image_size=28)``),
untrained, on a uniform random batch with y = the model's own predictions (so every sample
starts correctly classified and least-likely targets agree between the two libraries). Gradient
attacks use the MNIST setting eps = 0.1 (bim/illc: alpha = 1/255 and Kurakin's step count;
pgd: alpha = eps/4, 4 steps, random start). SparseFool: lambda 3, overshoot 0.02, 20 outer
iterations for both. torchattacks' SparseFool loops over samples in Python, so it is timed on
the first ``--sf-batch`` images only (default 16); img/s is per image either way. Each timing is
the best of ``--repeats`` runs after one warm-up run.

Last, AutoAttack's cost against the papers' PGD-4 in the same run: AutoAttack runs its later
attacks only on the images still robust, so an untrained net would flatter it; cnn3 is first
trained 2 epochs on 2,000 images of the shipped Fashion-MNIST subset, and both attacks run on
``--aa-images`` of its test images at eps 0.1 (one timing each, after a warm-up of PGD).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from functools import partial

import torch
import torchattacks
from torch import Tensor, nn

from upnn import data, train
from upnn.attacks import attack
from upnn.models import build

EPS = 0.1


def _clock(fn: Callable[[], Tensor], device: torch.device) -> tuple[float, Tensor]:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0, out


def timed_pair(fns: tuple[Callable[[], Tensor], Callable[[], Tensor]],
               warmups: tuple[Callable[[], Tensor], Callable[[], Tensor]], repeats: int,
               device: torch.device) -> list[tuple[float, Tensor]]:
    """Best wall time and last result of each of two functions, after one warm-up call each.
    Their runs alternate, so load from other processes hits both alike."""
    for warm in warmups:
        warm()
    best: list[tuple[float, Tensor]] = [(float("inf"), torch.empty(0))] * 2
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t, out = _clock(fn, device)
            best[i] = (min(best[i][0], t), out)
    return best


def torchattacks_for(name: str, model: nn.Module) -> torchattacks.Attack:
    if name == "osnt":
        return torchattacks.FGSM(model, eps=EPS)
    if name in ("ost", "illc"):
        atk = (torchattacks.FGSM(model, eps=EPS) if name == "ost"
               else torchattacks.BIM(model, eps=EPS, alpha=1 / 255, steps=0))
        atk.set_mode_targeted_least_likely(kth_min=1, quiet=True)
        return atk
    if name == "bim":
        return torchattacks.BIM(model, eps=EPS, alpha=1 / 255, steps=0)
    if name == "pgd":
        return torchattacks.PGD(model, eps=EPS, alpha=EPS / 4, steps=4, random_start=True)
    return torchattacks.SparseFool(model, steps=20, lam=3, overshoot=0.02)


def fooled_and_l0(model: nn.Module, x: Tensor, x_adv: Tensor, y: Tensor) -> tuple[float, float]:
    with torch.no_grad():
        fooled = (model(x_adv).argmax(dim=1) != y).float().mean().item()
    return fooled, (x_adv != x).flatten(1).float().mean().item()


def autoattack_vs_pgd(device: torch.device, n_images: int) -> None:
    """Print img/s and RA of AutoAttack and PGD-4 on a briefly trained cnn3."""
    def split(name: str, limit: int | None) -> tuple[Tensor, Tensor]:
        x, y = data.load_split("fashion_mnist_subset", name, limit=limit)
        return (torch.as_tensor(x).float().div(255).reshape(-1, 1, 28, 28).to(device),
                torch.as_tensor(y).long().to(device))

    xtr, ytr = split("train", 2000)
    xte, yte = split("test", n_images)
    torch.manual_seed(0)
    model = build("cnn3", in_channels=1, image_size=28).to(device)
    cfg = train.TrainConfig(epochs=1, batch_size=64, lr=1e-3)
    opt = train.make_optimizer(model, cfg)
    gen = torch.Generator().manual_seed(0)
    for _ in range(2):
        train.train_epoch(model, opt, xtr, ytr, cfg.batch_size, gen)
    model.eval()
    runs = {name: partial(attack, name, model, xte, yte, EPS) for name in ("pgd", "autoattack")}
    runs["pgd"]()  # warm-up
    times = {name: _clock(fn, device) for name, fn in runs.items()}
    with torch.no_grad():
        ta = (model(xte).argmax(1) == yte).float().mean().item()
    print(f"\nAutoAttack vs PGD-4 on cnn3 trained 2 epochs (TA {ta:.2f}), {len(yte)} test images")
    for name, (t, adv) in times.items():
        with torch.no_grad():
            ra = (model(adv).argmax(1) == yte).float().mean().item()
        print(f"{name:<11}{len(yte) / t:>12.1f} img/s   RA {ra:.3f}   {t:.2f} s")
    print(f"autoattack costs {times['autoattack'][0] / times['pgd'][0]:.0f}x PGD-4 per image")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--sf-batch", type=int, default=16,
                        help="images for torchattacks' per-sample SparseFool")
    parser.add_argument("--aa-images", type=int, default=200,
                        help="test images for AutoAttack vs PGD-4 (0: skip)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    name = args.device
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)

    torch.manual_seed(0)
    model = build("cnn3", in_channels=1, image_size=28).to(device).eval()
    x = torch.rand(args.batch, 1, 28, 28, generator=torch.Generator().manual_seed(1)).to(device)
    with torch.no_grad():
        y = model(x).argmax(dim=1)

    print(f"torch {torch.__version__} | torchattacks {torchattacks.__version__} | device {device}"
          f" | CPU threads {torch.get_num_threads()} | model cnn3 1x28x28 | batch {args.batch}"
          f" | best of {args.repeats} | load avg {os.getloadavg()[0]:.1f}")
    header = (f"{'attack':<11}{'upnn img/s':>12}{'ta img/s':>12}{'ratio':>8}"
              f"{'fooled upnn/ta':>17}{'L0 frac upnn/ta':>18}")
    print(header)
    print("-" * len(header))
    for attack_name in ("osnt", "ost", "bim", "illc", "pgd", "sparsefool"):
        ta = torchattacks_for(attack_name, model)
        n_ta = min(args.sf_batch, args.batch) if attack_name == "sparsefool" else args.batch
        # torchattacks' SparseFool is the unbounded l0 attack: compare it with bound "none"
        extra = {"bound": "none"} if attack_name == "sparsefool" else {}
        up = partial(attack, attack_name, model, x, y, EPS, **extra)
        ta_run = partial(ta, x[:n_ta], y[:n_ta])
        # the per-sample SparseFool runs batch-1 shapes only: a 2-image warm-up covers them
        ta_warm = partial(ta, x[:2], y[:2]) if attack_name == "sparsefool" else ta_run
        (t_up, adv_up), (t_ta, adv_ta) = timed_pair((up, ta_run), (up, ta_warm), args.repeats,
                                                     device)
        model.zero_grad(set_to_none=True)  # torchattacks' DeepFool leaves parameter grads
        up_s, ta_s = args.batch / t_up, n_ta / t_ta
        f_up, l0_up = fooled_and_l0(model, x, adv_up, y)
        f_ta, l0_ta = fooled_and_l0(model, x[:n_ta], adv_ta, y[:n_ta])
        print(f"{attack_name:<11}{up_s:>12.1f}{ta_s:>12.1f}{up_s / ta_s:>8.2f}"
              f"{f'{f_up:.2f}/{f_ta:.2f}':>17}{f'{l0_up:.3f}/{l0_ta:.3f}':>18}")
    if args.sf_batch < args.batch:
        print(f"(torchattacks SparseFool timed on the first {min(args.sf_batch, args.batch)} "
              "images; its fooled/L0 columns refer to those)")
    if args.aa_images:
        autoattack_vs_pgd(device, args.aa_images)


if __name__ == "__main__":
    main()
