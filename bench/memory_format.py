"""The attack stage with the nets' convolutions in channels_last (NHWC) against contiguous (NCHW),
in one process, on the checkpoints of a finished run of a config (issue 26 item 4).

    python bench/memory_format.py RESULTS_DIR [--configfile config/config.yaml] [--threads 2]
                                  [--only mnist/resnet9] [--epochs 1 10] [--device cpu]

For every pixel-level attack job of the config (or ``--only`` one net) and evaluated epoch it runs
the stage's computation (``upnn.robustness.evaluate_checkpoint`` with the stage's specs and
amplitudes, AutoAttack aside: its time is its own) with the checkpoint as loaded and with
``upnn.device.with_memory_format(net, "channels_last")``, in alternating order, and prints the
time of each, their ratio, and how many per-image outcomes differ (other kernels: the same
function at float level, so an image at an attack's decision boundary may flip).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from stage_inputs import add_run_args, run_config, stage_jobs

from upnn import device, models, robustness


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_run_args(p)
    p.add_argument("--only", default=None, help="dataset/model: one net's jobs")
    p.add_argument("--epochs", type=int, nargs="*", default=None)
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    config = run_config(a)
    dev = device.resolve(a.device)
    at = config["attacks"]
    total = {"contiguous": 0.0, "channels_last": 0.0}
    print(f"{a.configfile}: {torch.get_num_threads()} threads, {dev}")
    print("job                          epochs  contiguous s  channels_last s  ratio  outcomes differ")
    for job in stage_jobs(a.results, config, device=dev, only=a.only, level="pixel",
                          epochs=a.epochs):
        secs = {"contiguous": 0.0, "channels_last": 0.0}
        differ = compared = 0
        for epoch in job.epochs:
            specs, eps = job.at(epoch)
            specs = [sp for sp in specs if sp["name"] != "autoattack"]
            rows = {}
            for fmt in (("contiguous", "channels_last") if epoch % 2 else
                        ("channels_last", "contiguous")):
                net = device.with_memory_format(models.load(job.ckpts[epoch], dev), fmt)
                t0 = time.perf_counter()
                rows[fmt] = robustness.evaluate_checkpoint(
                    net, job.level, job.x, job.y, job.x_tr, specs, eps=eps,
                    seed=at["subset_seed"] + epoch, batch_size=at["batch_size"])
                secs[fmt] += time.perf_counter() - t0
            for r1, r2 in zip(rows["contiguous"], rows["channels_last"], strict=True):
                differ += int(np.sum(np.asarray(r1["robust_correct"]) !=
                                     np.asarray(r2["robust_correct"])))
                compared += len(r1["robust_correct"])
        for k in total:
            total[k] += secs[k]
        print(f"{job.name:28s} {len(job.epochs):6d} {secs['contiguous']:13.1f} "
              f"{secs['channels_last']:16.1f} {secs['contiguous'] / secs['channels_last']:6.2f} "
              f"{differ:8d} of {compared}")
    print(f"total: contiguous {total['contiguous']:.1f} s, channels_last "
          f"{total['channels_last']:.1f} s, ratio {total['contiguous'] / total['channels_last']:.2f}")


if __name__ == "__main__":
    main()
