"""Rule uncertainty: per-epoch packet moments, ΔX, ΔP, TA and RA of one run at every level.

One job per run (not per level): the work of a level is seconds, importing torch is most of a
small job, and each checkpoint is loaded once for all levels.
"""

import time

import _src  # noqa: F401, I001  (puts src/ on sys.path)
import pandas as pd

from upnn import checkpoint, data, device, io, log, models, uncertainty
from upnn.train import num_classes

sm = snakemake  # noqa: F821
with log.job(sm) as logger:
    dev = device.resolve(sm.config["device"])
    p = sm.params.settings
    ckpts = checkpoint.folder(sm.input.checkpoints, p["epochs"])  # before any work
    seed = int(sm.wildcards.seed)
    stream = data.stream_limit(sm.config)  # larger splits are read from disk batch by batch
    train, test = (data.open_split(f, dev, stream) for f in (sm.input.train, sm.input.test))
    batch_size = int(sm.config["uncertainty"]["batch_size"])
    classes = uncertainty.packet_classes(p["classes"], num_classes(train[1], test[1]))
    run = {"dataset": sm.wildcards.dataset, "model": sm.wildcards.model, "seed": seed}
    logger.info("uncertainty %s on %s: %s", run, dev, p)
    packets = {level: [] for level in p["levels"]}
    summaries = {level: [] for level in p["levels"]}
    for epoch in p["epochs"]:
        model = models.load(ckpts[epoch], dev)
        for level in p["levels"]:
            t0 = time.perf_counter()
            frame, acc = uncertainty.evaluate_checkpoint(
                model, level, train, test, classes=classes, n_dims=p["n_dims"],
                method=p["method"], n_points=p["n_points"], head=p.get("head"),
                n_test=p["n_test"], radius=p.get("radius"), seed=seed, batch_size=batch_size, **p["attack"])
            frame.insert(0, "epoch", epoch)
            packets[level].append(frame)
            summary = uncertainty.summarise(frame).assign(**acc)
            summaries[level].append(summary)
            logger.info("epoch %d %s: TA %.3f RA %.3f, mean ΔX %.4g ΔP %.4g, ΔX/ΔX_flat² %.4f, "
                        "%.1f s", epoch, level, acc["test_acc"], acc["robust_acc"],
                        summary["delta_x"].mean(), summary["delta_p"].mean(),
                        summary["x_flatness"].mean(), time.perf_counter() - t0)
    front = [*run, "level"]
    for i, level in enumerate(p["levels"]):
        ids = {**run, "level": level}
        per_dim = pd.concat(packets[level], ignore_index=True).assign(**ids)
        io.write_table(sm.output.packets[i], per_dim[front + [c for c in per_dim if c not in front]],
                       params=sm)
        summary = pd.concat(summaries[level], ignore_index=True).assign(**ids, attack="pgd",
                                                                        **p["attack"])
        io.write_table(sm.output.summaries[i],
                       summary[front + [c for c in summary if c not in front]], params=sm)
