"""Throughput of batched IFA (``upnn.ifa.ifa_delta``) and pix2pix ``predict``.

Compares, in the same run, the batched implementation (chunks of ``--batch`` held on the device,
all steps per chunk) with the DataLoader-style baseline that loops over mini-batches of 32 and
steps each one with ``ifa_step`` / calls G on it.

    python bench/ifa.py [--device auto] [--n 2048] [--steps 20]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from upnn.device import resolve
from upnn.ifa import ifa_delta, ifa_step
from upnn.pix2pix import UNetGenerator, predict


def classifier(device: torch.device) -> tuple[nn.Module, str]:
    try:
        from upnn.models import build

        return build("cnn4", in_channels=3, image_size=32, width=0.25).to(device), "cnn4 w=0.25"
    except ImportError:  # fallback when upnn.models is unavailable
        model = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 8 * 8, 10),
        )  # fmt: skip
        return model.to(device), "local cnn"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device) -> tuple[float, object]:
    sync(device)
    t0 = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - t0, out


def ifa_loop(model, x, y, eps, steps, batch) -> torch.Tensor:
    """Baseline: for each mini-batch (DataLoader style), run all steps with ifa_step."""
    out = []
    for i in range(0, len(x), batch):
        x0 = xb = x[i : i + batch]
        for _ in range(steps):
            xb = ifa_step(model, xb, y[i : i + batch], eps)
        out.append(xb - x0)
    return torch.cat(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--n", type=int, default=2048, help="images")
    p.add_argument("--steps", type=int, default=20, help="IFA steps")
    p.add_argument("--batch", type=int, default=1024, help="chunk of the batched version")
    p.add_argument("--small", type=int, default=32, help="mini-batch of the baseline")
    p.add_argument("--eps", type=float, default=1 / 255)
    args = p.parse_args()

    device = resolve(args.device)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(args.n, 3, 32, 32, generator=g).to(device)
    y = torch.randint(0, 10, (args.n,), generator=g).to(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model, model_name = classifier(device)
        G = UNetGenerator(3, 3, 32, base=64, scale=0.1).to(device)
    model.eval()

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"# torch {torch.__version__} | device {device} ({name}) | threads {torch.get_num_threads()}")
    print(f"# classifier {model_name}, {args.n} random 3x32x32 images, {args.steps} IFA steps")

    # warm-up (allocator, cuDNN autotune, first-call overhead)
    ifa_delta(model, x[: args.small], y[: args.small], args.eps, 1)
    predict(G, x[: args.small])

    work = args.n * args.steps
    t_b, d_b = timed(lambda: ifa_delta(model, x, y, args.eps, args.steps, batch_size=args.batch)[0], device)
    t_l, d_l = timed(lambda: ifa_loop(model, x, y, args.eps, args.steps, args.small), device)
    same = (d_b == d_l).float().mean().item()
    print(f"ifa_delta batched (chunk {args.batch:4d}): {work / t_b:10.0f} image-steps/s  ({t_b:.2f} s)")
    print(f"ifa_step loop     (batch {args.small:4d}): {work / t_l:10.0f} image-steps/s  ({t_l:.2f} s)")
    print(f"ifa speed-up batched / loop: {t_l / t_b:.2f}x   (identical Delta entries: {same:.4f})")

    t_pb, _ = timed(lambda: predict(G, x, batch_size=args.batch), device)
    t_pl, _ = timed(lambda: predict(G, x, batch_size=args.small), device)
    print(f"pix2pix predict batched (chunk {args.batch:4d}): {args.n / t_pb:10.0f} images/s")
    print(f"pix2pix predict loop    (batch {args.small:4d}): {args.n / t_pl:10.0f} images/s")
    print(f"predict speed-up batched / loop: {t_pl / t_pb:.2f}x")


if __name__ == "__main__":
    main()
