"""The success rule of the iterative attacks (issue 26): *final* (the papers' BIM/PGD, the last
iterate decides) against *any* (an image is broken once any iterate misclassifies it, and leaves
the batch), on the checkpoints of a finished run, in one process.

    python bench/success.py RESULTS_DIR [--dataset mnist --model resnet9 --seed 0]
                            [--n-test 200] [--eps 0.1] [--threads 2]

For each epoch and attack (bim, illc, pgd at the attack stage's settings) it prints RA under
both rules, how many images the net was run on (images × passes: the work), and the wall time;
then the totals and the ratio final/any of time and of work. Everything else as the attack
stage does it (the same seeded test subset, the same clean predictions).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from upnn import checkpoint, data, models
from upnn.attacks import attack_batched
from upnn.models import predict
from upnn.work import Counted


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", type=Path)
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--model", default="resnet9")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-test", type=int, default=200)
    p.add_argument("--subset-seed", type=int, default=0)
    p.add_argument("--eps", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    root = a.results
    x, y, _ = data.read_subset(root / "data" / a.dataset / "test.parquet", a.n_test,
                               a.subset_seed, "cpu")
    folder = root / "checkpoints" / a.dataset / a.model / f"seed{a.seed}"
    epochs = sorted(int(f.stem[5:]) for f in folder.glob("epoch*.pt"))
    ckpts = checkpoint.folder(folder, epochs)
    total = {rule: [0.0, 0] for rule in ("final", "any")}
    print(f"{a.dataset}/{a.model} seed {a.seed}: {len(x)} images, eps {a.eps:g}, "
          f"{torch.get_num_threads()} threads")
    print("epoch attack  RA final  RA any  work final  work any  s final  s any")
    for epoch in epochs:
        net = models.load(ckpts[epoch], torch.device("cpu"))
        clean = predict(net, x, 512).argmax(1) == y
        for name in ("bim", "illc", "pgd"):
            got = {}
            for rule in ("final", "any"):
                counted = Counted(net).eval()
                t0 = time.perf_counter()
                x_adv = attack_batched(name, counted, x, y, a.eps, batch_size=512,
                                       seed=a.subset_seed + epoch, success=rule)
                secs = time.perf_counter() - t0
                ra = ((predict(net, x_adv, 512).argmax(1) == y) & clean).float().mean().item()
                got[rule] = (ra, counted.rows, secs)
                total[rule][0] += secs
                total[rule][1] += counted.rows
            assert got["any"][0] <= got["final"][0]
            print(f"{epoch:5d} {name:6s} {got['final'][0]:8.3f} {got['any'][0]:7.3f} "
                  f"{got['final'][1]:11d} {got['any'][1]:9d} {got['final'][2]:7.2f} "
                  f"{got['any'][2]:6.2f}")
    (tf, wf), (ta, wa) = total["final"], total["any"]
    print(f"total: time final {tf:.1f} s, any {ta:.1f} s, ratio {tf / ta:.2f}; "
          f"work final {wf}, any {wa}, ratio {wf / wa:.2f}")


if __name__ == "__main__":
    main()
