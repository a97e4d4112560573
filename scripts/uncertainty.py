"""Rule uncertainty: per-epoch packet moments, ΔX, ΔP, TA and RA of one run at one level."""

import time
from pathlib import Path

import _src  # noqa: F401, I001  (puts src/ on sys.path)
import pandas as pd
import torch

from upnn import conjugate, data, device, io, log, models
from upnn.train import checkpoint_name

sm = snakemake  # noqa: F821
with log.to_file(sm.log[0]) as logger:
    torch.set_num_threads(sm.threads)
    dev = device.resolve(sm.config["device"])
    p = sm.params.settings
    level, seed = sm.wildcards.level, int(sm.wildcards.seed)
    train, test = data.read_split(sm.input.train, dev), data.read_split(sm.input.test, dev)
    batch_size = int(sm.config["uncertainty"]["batch_size"])
    ids = {"dataset": sm.wildcards.dataset, "model": sm.wildcards.model, "seed": seed,
           "level": level}
    logger.info("uncertainty %s on %s: %s", ids, dev, p)
    packets, summaries = [], []
    for epoch in p["epochs"]:
        t0 = time.perf_counter()
        model = models.load(Path(sm.input.checkpoints) / checkpoint_name(epoch), dev)
        frame, acc = conjugate.evaluate_checkpoint(
            model, level, train, test, classes=p["classes"], n_dims=p["n_dims"],
            method=p["method"], n_points=p["n_points"], head=p.get("head"), n_test=p["n_test"], seed=seed,
            batch_size=batch_size, **p["attack"])
        frame.insert(0, "epoch", epoch)
        packets.append(frame)
        summary = conjugate.summarise(frame).assign(**acc)
        summaries.append(summary)
        logger.info("epoch %d: TA %.3f RA %.3f, mean ΔX %.4g ΔP %.4g, %.1f s", epoch,
                    acc["test_acc"], acc["robust_acc"], summary["delta_x"].mean(),
                    summary["delta_p"].mean(), time.perf_counter() - t0)
    front = list(ids)
    per_dim = pd.concat(packets, ignore_index=True).assign(**ids)
    io.write_table(sm.output.packets, per_dim[front + [c for c in per_dim if c not in front]])
    summary = pd.concat(summaries, ignore_index=True).assign(**ids, attack="pgd", **p["attack"])
    io.write_table(sm.output.summary, summary[front + [c for c in summary if c not in front]])
