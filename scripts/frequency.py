"""Rule frequency: for every trained classifier checkpoint of each dataset, its test accuracy and the
high-frequency ratio of Δ₁ = one IFA step on the test set (arXiv 2205.01493 v3, Fig. 7).

The ratio is taken on ``channel`` (v3: channel 1) of multi-channel data; a single-channel dataset
(MNIST, digits at 28 px) has only channel 0, which is used instead.
"""

from pathlib import Path

import _src  # noqa: F401, I001  (puts src/ on sys.path)
import pandas as pd

from upnn import checkpoint, data, device, frequency, ifa, io, log, models

sm = snakemake  # noqa: F821
with log.job(sm) as logger:
    dev = device.resolve(sm.config["device"])
    p = sm.params.settings
    clip = (0.0, 1.0) if p["clip"] else None
    low = tuple(p["low_window"])
    checkpoints = dict(zip([(r["dataset"], r["model"], r["seed"]) for r in sm.params.runs],
                           sm.input.checkpoints, strict=True))
    for dataset, test, out in zip(sm.params.datasets, sm.input.tests, sm.output, strict=True):
        x, y = data.open_split(test, dev, data.stream_limit(sm.config))  # limit_test's only
        idx = data.subset(len(y), p["limit_test"], 0).to(dev)
        x, y = x[idx], y[idx]
        channel = p["channel"] if x.shape[1] > 1 else 0
        rows = []
        for run in (r for r in sm.params.runs if r["dataset"] == dataset):
            ckpt_dir = Path(checkpoints[dataset, run["model"], run["seed"]])
            for epoch in run["epochs"]:
                model = models.load(checkpoint.path(ckpt_dir, epoch), dev)
                delta, _ = ifa.ifa_delta(model, x, y, p["eps"], 1, clip=clip,
                                         batch_size=p["batch_size"])
                ratio = frequency.high_frequency_ratio(delta, shift=p["shift"], low_window=low,
                                                       channel=channel)
                rows.append({"dataset": dataset, "model": run["model"], "seed": run["seed"],
                             "epoch": epoch,
                             "test_acc": models.accuracy(model, x, y, p["batch_size"]),
                             "hf_ratio_mean": ratio.mean().item(),
                             "hf_ratio_std": ratio.std().item(), "n_images": len(y),
                             "channel": -1 if channel is None else channel})
                logger.info("%s %s epoch %d: test acc %.4f, hf ratio %.4f ± %.4f", dataset,
                            run["model"], epoch, rows[-1]["test_acc"], rows[-1]["hf_ratio_mean"],
                            rows[-1]["hf_ratio_std"])
        io.write_table(out, pd.DataFrame(rows),
                       metadata={"eps": p["eps"], "shift": p["shift"], "low_window": list(low),
                                 "clip": p["clip"]}, params=sm)
