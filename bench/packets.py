"""Benchmark upnn.packets: batched network_moments vs one point at a time, and the accuracy
of mc / qmc / quadrature on the Gaussian packet (where sigma_x * sigma_p = 1/2 exactly).

    python bench/packets.py [--device auto] [--threads N] [--widths 0.25 1.0]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from upnn.packets import (
    METHODS,
    choose_dims,
    network_moments,
    network_moments_classes,
    packet_moments,
)


def small_cnn(width: float) -> tuple[nn.Module, str]:
    """The project's cnn3 (MNIST net) when upnn.models provides it, else a stand-in conv net."""
    try:
        from upnn.models import build

        return build("cnn3", in_channels=1, image_size=28, width=width), f"upnn cnn3 w={width}"
    except (ImportError, AttributeError, TypeError, ValueError):
        c1, c2 = max(1, round(16 * width)), max(1, round(64 * width))
        net = nn.Sequential(
            nn.Conv2d(1, c1, 5, stride=3, padding=1), nn.ReLU(),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(c2 * 5 * 5, 10),
        )  # fmt: skip
        return net, f"local 2-conv CNN w={width}"


def best_time(fn: Callable[[], object], device: torch.device, repeat: int) -> float:
    """Fastest of `repeat` timed calls (after one warm-up): robust to a busy shared machine."""
    fn()
    times = []
    for _ in range(repeat):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_network(args: argparse.Namespace, device: torch.device, width: float) -> None:
    torch.manual_seed(0)  # model init only
    model, name = small_cnn(width)
    model = model.to(device)
    gen = torch.Generator().manual_seed(0)
    x_base = torch.rand(1, 28, 28, generator=gen).to(device)
    n = args.points
    dims = choose_dims(x_base.numel(), args.dims, seed=0).to(device)
    lo, hi = torch.zeros(len(dims), device=device), torch.ones(len(dims), device=device)
    k_ref = min(args.ref_dims, len(dims))
    kw = dict(method="qmc", n_points=n)

    ref = network_moments(model, x_base, 3, dims[:k_ref], lo[:k_ref], hi[:k_ref], batch_size=1,
                          **kw)  # one point at a time
    fast = network_moments(model, x_base, 3, dims[:k_ref], lo[:k_ref], hi[:k_ref], **kw)
    max_rel = max(  # |diff| relative to the largest |value| of that moment over the dims
        float((fast[k] - ref[k]).abs().max() / ref[k].abs().max().clamp_min(1e-30))
        for k in ("beta", "x_mean", "sigma_x", "p_mean", "sigma_p", "product")
    )
    n_ref, n_fast = k_ref * n, len(dims) * n
    t_ref = best_time(
        lambda: network_moments(
            model, x_base, 3, dims[:k_ref], lo[:k_ref], hi[:k_ref], batch_size=1, **kw
        ),
        device,
        args.repeat,
    )
    rate_ref = n_ref / t_ref
    print(f"\n[network_moments] {name}, input 1x28x28, qmc, {n} points per dimension")
    print(f"  pointwise           : {n_ref:6d} evals, {t_ref:7.3f} s -> {rate_ref:9.0f} evals/s")
    best = 0.0
    for bs in args.batch_sizes:
        t = best_time(
            lambda bs=bs: network_moments(model, x_base, 3, dims, lo, hi, batch_size=bs, **kw),
            device,
            args.repeat,
        )
        rate = n_fast / t
        best = max(best, rate)
        print(
            f"  batched bs={bs:<6d}    : {n_fast:6d} evals, {t:7.3f} s -> {rate:9.0f} evals/s"
            f"  ({rate / rate_ref:6.1f}x)"
        )
    print(f"  best speed-up {best / rate_ref:.1f}x; batched vs pointwise scaled diff {max_rel:.1e}")

    classes = list(range(10))
    per_label = best_time(
        lambda: [network_moments(model, x_base, c, dims, lo, hi, **kw) for c in classes],
        device, args.repeat)
    all_labels = best_time(
        lambda: network_moments_classes(model, x_base, classes, dims, lo, hi, **kw),
        device, args.repeat)
    print(f"  10 labels: per label (backward) {per_label:7.3f} s, all at once (forward mode) "
          f"{all_labels:7.3f} s ({per_label / all_labels:.1f}x)")


def bench_packet(args: argparse.Namespace) -> None:
    mu, s = 0.0, 0.1

    def loss(x):
        return torch.exp(-((x - mu) ** 2) / (4 * s * s))

    print(f"\n[Gaussian packet] psi = exp(-(x-{mu})^2/(4*{s}^2)) on [-1, 1]; exact product 0.5")
    print(f"  |product - 0.5| (mc/qmc: mean over {args.seeds} seeds; mc_se: mean reported se)")
    print(f"  {'points':>7} {'mc':>10} {'mc_se':>10} {'qmc':>10} {'quadrature':>11}")
    for n in args.packet_points:
        errs: dict[str, float] = {}
        ses = []
        for method in METHODS:
            seeds = range(args.seeds) if method != "quadrature" else [0]
            runs = [packet_moments(loss, -1.0, 1.0, method=method, n_points=n, seed=sd,
                                   dtype=torch.float64) for sd in seeds]  # fmt: skip
            errs[method] = statistics.fmean(abs(r["product"] - 0.5) for r in runs)
            if method == "mc":
                ses = [r["product_se"] for r in runs]
        print(f"  {n:7d} {errs['mc']:10.2e} {statistics.fmean(ses):10.2e} {errs['qmc']:10.2e} "
              f"{errs['quadrature']:11.2e}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--widths", type=float, nargs="+", default=[0.25, 1.0], help="cnn3 widths")
    ap.add_argument("--dims", type=int, default=32, help="dimensions for the batched run")
    ap.add_argument("--ref-dims", type=int, default=1, help="dimensions for the pointwise run")
    ap.add_argument("--points", type=int, default=128, help="points per dimension")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[512, 8192])
    ap.add_argument("--repeat", type=int, default=3, help="timings per case (best is kept)")
    ap.add_argument("--seeds", type=int, default=20, help="seeds averaged for mc/qmc errors")
    ap.add_argument("--packet-points", type=int, nargs="+", default=[64, 256, 1024])
    args = ap.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    print(f"torch {torch.__version__} | device {device}{gpu} | threads {torch.get_num_threads()}")
    t0 = time.perf_counter()
    for width in args.widths:
        bench_network(args, device, width)
    bench_packet(args)
    print(f"\ntotal {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
