"""The exact cuts of the attack stage (issue 26) against the uncut computation, in one process,
on the checkpoints of a finished run of a config.

    python bench/cuts.py RESULTS_DIR [--configfile config/config.yaml] [--threads 2]
                         [--only mnist/resnet9] [--epochs 1 5 10]

For every attack job of the config (dataset, model, seed, level) and evaluated epoch it runs the
attack stage's computation (``upnn.robustness.evaluate_checkpoint`` with the stage's specs and
amplitudes) twice, uncut (``cut=False``: every image attacked and predicted) and cut (images
misclassified clean are neither attacked nor predicted; one clean pass per checkpoint), in
alternating order, checks that every per-image outcome is bit-identical, and prints the time of
each and their ratio per job and in total. At pixel level it also counts the images the net is
run on per attack (images × passes, the work), cut and uncut, under the success rules *final*
(the default) and *any*.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np
import torch
from stage_inputs import add_run_args, run_config, stage_jobs
from torch import nn

from upnn import models, robustness
from upnn.attacks import REGISTRY
from upnn.work import Counted


def same(a: list[dict], b: list[dict]) -> bool:
    keys = ("clean_correct", "robust_correct")
    return all(ra["attack"] == rb["attack"] and ra["robust_acc"] == rb["robust_acc"]
               and all(np.array_equal(ra[k], rb[k]) for k in keys) for ra, rb in zip(a, b, strict=True))


def run(net: nn.Module, level: str, x, y, x_tr, specs: list[dict], eps: list[float], seed: int,
        batch_size: int, cut: bool, counts: dict, success: str = "final") -> tuple[list, float]:
    """The stage's rows of one checkpoint, one attack at a time at pixel level (so each attack's
    work is counted: the net is wrapped in :class:`Counted`), all at once at feature level (the
    box comes from the training features, extracted once per call as the stage does), and the
    seconds they took."""
    if level == "feature":
        t0 = time.perf_counter()
        rows = robustness.evaluate_checkpoint(net, level, x, y, x_tr, specs, eps=eps, seed=seed,
                                              batch_size=batch_size, cut=cut)
        return rows, time.perf_counter() - t0
    rows, secs = [], 0.0
    for spec in specs:
        counted = Counted(net).eval()
        t0 = time.perf_counter()
        rows += robustness.evaluate_checkpoint(counted if level == "pixel" else net, level, x, y,
                                               x_tr, [spec], eps=eps, seed=seed,
                                               batch_size=batch_size, cut=cut)
        secs += time.perf_counter() - t0
        counts[(spec["name"], success, cut)] += counted.rows
    return rows, secs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_run_args(p)
    p.add_argument("--only", default=None, help="dataset/model: one net's jobs")
    p.add_argument("--epochs", type=int, nargs="*", default=None)
    p.add_argument("--level", default=None, help="pixel or feature: one level's jobs")
    a = p.parse_args()
    config = run_config(a)
    at = config["attacks"]
    total = {False: 0.0, True: 0.0}
    counts: dict[tuple[str, str, bool], int] = defaultdict(int)
    print(f"{a.configfile}: {torch.get_num_threads()} threads")
    print("job                              epochs  uncut s    cut s  ratio  identical")
    for job in stage_jobs(a.results, config, only=a.only, level=a.level, epochs=a.epochs):
        level, x, y, x_tr = job.level, job.x, job.y, job.x_tr
        secs = {False: 0.0, True: 0.0}
        ok = True
        for epoch in job.epochs:
            net = models.load(job.ckpts[epoch], torch.device("cpu"))
            specs, eps = job.at(epoch)
            rows = {}
            seed = at["subset_seed"] + epoch
            for cut in ((False, True) if epoch % 2 else (True, False)):
                rows[cut], t = run(net, level, x, y, x_tr, specs, eps, seed, at["batch_size"],
                                   cut, counts)
                secs[cut] += t
            ok &= same(rows[False], rows[True])
            if level == "pixel":  # the success rule any, cut, on the attacks that take it
                anyspecs = [{**sp, "success": "any"} for sp in specs
                            if "success" in REGISTRY[sp["name"]].options]
                run(net, level, x, y, x_tr, anyspecs, eps, seed, at["batch_size"], True, counts,
                    "any")
        total[False] += secs[False]
        total[True] += secs[True]
        print(f"{job.name}/{level:8s} {len(job.epochs):7d} {secs[False]:8.1f} {secs[True]:8.1f} "
              f"{secs[False] / secs[True]:6.2f}  {ok}")
    print(f"total: uncut {total[False]:.1f} s, cut {total[True]:.1f} s, "
          f"ratio {total[False] / total[True]:.2f}")
    print("\nwork (images the net ran on, pixel level, summed over jobs and epochs; final is the")
    print("default success rule, any the cut run of the attacks that take it)")
    print("attack      final uncut   final cut  uncut/cut     any cut  final/any (cut)")
    for name in sorted({k[0] for k in counts}):
        fu, fc = counts[(name, "final", False)], counts[(name, "final", True)]
        ac = counts.get((name, "any", True), 0)
        ratio = f"{fc / ac:16.2f}" if ac else f"{'':16s}"
        print(f"{name:10s} {fu:12d} {fc:11d} {fu / max(fc, 1):10.2f} {ac:11d} {ratio}")
    fu = sum(v for k, v in counts.items() if k[1] == "final" and not k[2])
    fc = sum(v for k, v in counts.items() if k[1] == "final" and k[2])
    print(f"all        {fu:12d} {fc:11d} {fu / max(fc, 1):10.2f}")

if __name__ == "__main__":
    main()
