"""Rule attack: TA and RA of every evaluated epoch checkpoint under the configured attacks, at
pixel or feature level. Rows are cached per epoch, so a killed job resumes where it stopped."""

import _src  # noqa: F401, I001  (puts src/ on sys.path)
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from upnn import checkpoint, data, device, io, log, models, robustness

sm = snakemake  # noqa: F821
p, w = sm.params.attacks, sm.wildcards
with log.job(sm) as logger:
    dev = device.resolve(sm.config["device"])
    ckpts = checkpoint.folder(sm.input.checkpoints, sm.params.epochs)  # before any work
    x_tr, _ = data.open_split(sm.input.train, dev, data.stream_limit(sm.config))
    x_te, y_te, idx = data.read_subset(sm.input.test, p["n_test"], p["subset_seed"], dev,
                                       data.stream_limit(sm.config))
    stamp = Path(sm.input.table).stat().st_mtime
    cache = io.RowCache(sm.output[0], io.fingerprint(p, w.level, sm.params.epochs, stamp,
                                                    "per-image", "worst", "in_papers", "exact-cut",
                                                    "robust-and-clean"))
    fmt = sm.config.get("memory_format", "contiguous")
    logger.info("attacks on %s, convolutions %s", dev, fmt)
    for epoch in tqdm(sm.params.epochs, desc=f"attack {w.model} {w.level}"):
        if cache.done("epoch", epoch):
            continue
        # features in config `precision` on CUDA (logits, input gradients in fp32), convolutions
        # in config `memory_format` (upnn.device)
        model = device.with_precision(
            device.with_memory_format(models.load(ckpts[epoch], dev), fmt),
            sm.config.get("precision", "fp32"), dev)
        rows = robustness.evaluate_checkpoint(
            model, w.level, x_te, y_te, x_tr,
            robustness.at_epoch(p["specs"], epoch, max(sm.params.epochs)),
            eps=robustness.amplitudes_at(p["eps"], epoch, p.get("extra_eps_epochs", "all")),
            seed=p["subset_seed"] + epoch, batch_size=p["batch_size"])
        # image_index: the test-set index of each entry of clean_correct / robust_correct
        cache.add([{"epoch": epoch, **r, "image_index": idx[: r["n"]].cpu().numpy()}
                   for r in rows])
        logger.info("epoch %d: %s", epoch,
                    {(r["attack"], round(r["eps"], 4)): round(r["robust_acc"], 3) for r in rows})
    table = pd.DataFrame(cache.rows).assign(dataset=w.dataset, model=w.model, seed=int(w.seed),
                                            level=w.level)
    io.write_table(sm.output[0],
                   table.sort_values(["epoch", "eps_index", "attack"], kind="stable"), params=sm)
    cache.finish()
