"""The typical counts the planner assumes where an attack's work depends on the data (upnn.plan:
CLEAN_SHARE, SPARSEFOOL_OUTER, DEEPFOOL_ITERS), measured on the checkpoints of a finished run.

    python bench/attack_work.py RESULTS_DIR [--configfile config/config.yaml] [--threads 2]

For every pixel-level attack job of the config and evaluated epoch: the share of the attacked
test images classified correctly clean (the images the exact cut attacks), and SparseFool's
outer iterations per attacked image and DeepFool iterations per outer iteration at the config's
settings (``upnn.work.attack_work``). Prints them per net (mean over seeds and epochs) and over
everything, with the first and the last epoch apart (training moves them).
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import torch
from stage_inputs import add_run_args, run_config, stage_jobs

from upnn import config as cfg
from upnn import models, work


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_run_args(p)
    a = p.parse_args()
    config = run_config(a)
    at = config["attacks"]
    sums: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0] * 5)
    print("net                 epoch  clean share  sparsefool outer  deepfool iters")
    for job in stage_jobs(a.results, config, level="pixel", train=False):
        spec = next((sp for sp in job.specs if sp["name"] == "sparsefool"), None)
        if spec is None:
            continue
        d, m, s, x, y, epochs, eps = (job.dataset, job.model, job.seed, job.x, job.y, job.epochs,
                                      job.eps[0])
        for epoch in epochs:
            net = models.load(job.ckpts[epoch], torch.device("cpu"))
            clean = (models.predict(net, x).argmax(1) == y).float().mean().item()
            done = work.attack_work(net, x, y, spec, eps, seed=at["subset_seed"] + epoch)
            row = [1.0, clean, done["attacked"], done.get("outer", 0.0) * done["attacked"],
                   done.get("outer", 0.0) * done["attacked"] * done.get("deepfool", 0.0)]
            for key in ((f"{d}/{m}", "all"), ("all", "all"), ("all", "first" if epoch == epochs[0]
                        else "last" if epoch == epochs[-1] else "middle")):
                sums[key] = [u + v for u, v in zip(sums[key], row, strict=True)]
            if s == cfg.first_seed(config, m):
                print(f"{d}/{m:12s} {epoch:6d} {clean:12.3f} {done.get('outer', 0):17.2f} "
                      f"{done.get('deepfool', 0):15.2f}")
    print("\nmean over seeds and epochs")
    for (net, when), (k, clean, attacked, outer, iters) in sums.items():
        print(f"{net:18s} {when:7s} clean share {clean / k:.3f}, sparsefool outer "
              f"{outer / max(attacked, 1):.2f}, deepfool iters {iters / max(outer, 1):.2f}")


if __name__ == "__main__":
    main()
