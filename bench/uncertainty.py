"""Benchmark upnn.uncertainty: batched network_moments vs one point at a time, and the accuracy
of mc / qmc / quadrature on the Gaussian packet (where sigma_x * sigma_p = 1/2 exactly).

    python bench/uncertainty.py [--device auto] [--threads N] [--width 1.0]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from upnn.uncertainty import (
    METHODS,
    choose_dims,
    network_moments,
    network_moments_pointwise,
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


def timed(fn: Callable[[], object], device: torch.device) -> tuple[object, float]:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return out, time.perf_counter() - t0


def bench_network(args: argparse.Namespace, device: torch.device) -> None:
    torch.manual_seed(0)  # model init only
    model, name = small_cnn(args.width)
    model = model.to(device)
    gen = torch.Generator().manual_seed(0)
    x_base = torch.rand(1, 28, 28, generator=gen).to(device)
    n = args.points
    dims = choose_dims(x_base.numel(), args.dims, seed=0).to(device)
    lo, hi = torch.zeros(len(dims), device=device), torch.ones(len(dims), device=device)
    ref_dims = dims[: args.ref_dims]
    ref_lo, ref_hi = lo[: len(ref_dims)], hi[: len(ref_dims)]

    def fast(d, a, b):
        return network_moments(model, x_base, 3, d, a, b, method="qmc", n_points=n,
                               batch_size=args.batch_size)  # fmt: skip

    def slow():
        return network_moments_pointwise(
            model, x_base, 3, ref_dims, ref_lo, ref_hi, method="qmc", n_points=n
        )

    fast(ref_dims, ref_lo, ref_hi)  # warm-up
    fast_small, _ = timed(lambda: fast(ref_dims, ref_lo, ref_hi), device)
    ref, t_ref = timed(slow, device)
    _, t_fast = timed(lambda: fast(dims, lo, hi), device)
    n_fast, n_ref = len(dims) * n, len(ref_dims) * n
    rate_fast, rate_ref = n_fast / t_fast, n_ref / t_ref
    max_rel = max(
        float(((fast_small[k] - ref[k]).abs() / ref[k].abs().clamp_min(1e-12)).max())
        for k in ("beta", "sigma_x", "sigma_p", "product")
    )
    print(f"\n[network_moments] model: {name}, input 1x28x28, qmc, {n} points per dimension")
    print(f"  batched   : {len(dims):4d} dims x {n} = {n_fast:6d} evals in {t_fast:7.3f} s "
          f"-> {rate_fast:10.0f} evals/s (batch_size {args.batch_size})")  # fmt: skip
    print(f"  pointwise : {len(ref_dims):4d} dims x {n} = {n_ref:6d} evals in {t_ref:7.3f} s "
          f"-> {rate_ref:10.0f} evals/s")  # fmt: skip
    print(f"  speed-up  : {rate_fast / rate_ref:.1f}x   "
          f"(max rel. diff batched vs pointwise on shared dims: {max_rel:.1e})")  # fmt: skip


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
    ap.add_argument("--width", type=float, default=1.0, help="cnn3 width multiplier")
    ap.add_argument("--dims", type=int, default=32, help="dimensions for the batched run")
    ap.add_argument("--ref-dims", type=int, default=2, help="dimensions for the pointwise run")
    ap.add_argument("--points", type=int, default=128, help="points per dimension")
    ap.add_argument("--batch-size", type=int, default=4096)
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
    bench_network(args, device)
    bench_packet(args)
    print(f"\ntotal {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
