"""Cost of the minimal-amplitude search (upnn.minimal) against one fixed-ε run of its attack.

    python bench/minimal.py [--batch 200] [--repeats 3] [--steps 10] [--device auto]

Model: cnn3 (1×28×28) trained 3 epochs on 2,000 images of the shipped Fashion-MNIST subset, so
that amplitudes are those of a real net; inputs: 200 of its test images. The search bisects
[0, max_eps] to ``resolution``: ⌈log₂(max_eps/resolution)⌉ attack runs plus one at max_eps, each
on the images still undecided (every image the net classifies correctly). Printed:
seconds of one BIM run at fixed ε (``steps`` steps), of the whole search, their ratio, and the
ratio expected from the run count; the best of ``--repeats`` after a warm-up.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from upnn import data, minimal, models, train


def best(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--max-eps", type=float, default=0.5)
    ap.add_argument("--resolution", type=float, default=1 / 255)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    dev = torch.device(args.device)
    xtr, ytr = data.load_split("fashion_mnist_subset", "train", image_size=28, limit=2000)
    xte, yte = data.load_split("fashion_mnist_subset", "test", image_size=28, limit=args.batch)
    xtr, xte = (torch.as_tensor(a).float().div(255) for a in (xtr, xte))  # uint8 as shipped
    d = (xtr, torch.as_tensor(ytr), xte, torch.as_tensor(yte))
    with tempfile.TemporaryDirectory() as tmp:
        train.train("cnn3", d, train.TrainConfig(epochs=3, batch_size=64, lr=1e-3), tmp,
                    width=1.0, progress=False)
        net = models.load(f"{tmp}/epoch003.pt", dev).eval()
    x, y = d[2].to(dev), d[3].to(dev)
    eps = torch.full((len(x),), 0.1, device=dev)
    fixed = best(lambda: minimal.fooled(net, x, y, eps, steps=args.steps), args.repeats)
    search = best(lambda: minimal.minimal_eps(net, x, y, steps=args.steps, max_eps=args.max_eps,
                                              resolution=args.resolution), args.repeats)
    runs = 1 + minimal.n_bisections(args.max_eps, args.resolution)
    found = minimal.minimal_eps(net, x, y, steps=args.steps, max_eps=args.max_eps,
                                resolution=args.resolution)
    print(f"torch {torch.__version__} | device {dev} | threads {torch.get_num_threads()} | cnn3 "
          f"1x28x28 trained | {len(x)} images | BIM {args.steps} steps | [0, {args.max_eps}] to "
          f"{args.resolution:.4g}")
    print(f"one fixed-eps run   {fixed:8.3f} s")
    print(f"minimal-eps search  {search:8.3f} s   ratio {search / fixed:5.2f}   "
          f"(runs: 1 + {runs - 1} bisections = {runs})")
    print(f"median eps* {found.median().item():.4f}, images fooled within max_eps: "
          f"{torch.isfinite(found).float().mean().item():.2f}")


if __name__ == "__main__":
    main()
