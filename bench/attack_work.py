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
from pathlib import Path

import torch
import yaml

from upnn import checkpoint, data, models, work
from upnn import config as cfg


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", type=Path)
    p.add_argument("--configfile", type=Path, default=Path("config/config.yaml"))
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    config = yaml.safe_load(a.configfile.read_text())
    at = config["attacks"]
    sums: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0] * 5)
    print("net                 epoch  clean share  sparsefool outer  deepfool iters")
    for d, m, s, level in cfg.attack_jobs(config):
        spec = next((sp for sp in cfg.attack_specs(config, m, s) if sp["name"] == "sparsefool"),
                    None)
        if level != "pixel" or spec is None:
            continue
        x, y, _ = data.read_subset(a.results / "data" / d / "test.parquet", at["n_test"],
                                   at["subset_seed"], "cpu")
        epochs = cfg.attack_epochs(config, m)
        ckpts = checkpoint.folder(a.results / "checkpoints" / d / m / f"seed{s}", epochs)
        eps = cfg.attack_eps(config, d, level)[0]
        for epoch in epochs:
            net = models.load(ckpts[epoch], torch.device("cpu"))
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
