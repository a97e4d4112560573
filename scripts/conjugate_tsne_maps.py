"""Rule conjugate_tsne_maps: t-SNE maps of clean and PGD-attacked test features (companion Fig. 1)."""

import time

import _src  # noqa: F401, I001  (puts src/ on sys.path)
import pandas as pd

from upnn import checkpoint, data, device, io, log, models, uncertainty

sm = snakemake  # noqa: F821
with log.job(sm) as logger:
    dev = device.resolve(sm.config["device"])
    p = sm.params.settings
    seed = int(sm.wildcards.seed)
    x, y = data.open_split(sm.input.test, dev, data.stream_limit(sm.config))  # subset only
    keep = data.subset(len(y), p["n_images"], seed).to(dev)
    x, y = x[keep], y[keep]
    epochs = sorted({*p["epochs"], p["final"]})
    logger.info("t-SNE of %s/%s seed %d: %d test images, epochs %s on %s", sm.wildcards.dataset,
                sm.wildcards.model, seed, len(y), epochs, dev)
    points, grids = [], []
    for epoch in epochs:
        t0 = time.perf_counter()
        model = models.load(checkpoint.path(sm.input.checkpoints, epoch), dev)
        pts, grid = uncertainty.tsne_epoch(
            model, x, y, label=p["label"], eps=p["eps"], alpha=p["alpha"], steps=p["steps"],
            perplexity=p["perplexity"], n_iter=p["n_iter"], early_iter=p["early_iter"],
            grid=p["grid"], k=p["k"], seed=seed)
        flags = {"epoch": epoch, "final": epoch == p["final"], "evolution": epoch in p["epochs"]}
        points.append(pts.assign(**flags))
        grids.append(grid.assign(**flags))
        clean, adv = pts[pts.kind == "clean"], pts[pts.kind == "attacked"]
        logger.info("epoch %d: clean acc %.3f, attacked acc %.3f, %.1f s", epoch,
                    (clean.pred == clean.label).mean(), (adv.pred == adv.label).mean(),
                    time.perf_counter() - t0)
    ids = {"dataset": sm.wildcards.dataset, "model": sm.wildcards.model, "seed": seed,
           "target_class": p["label"]}
    io.write_table(sm.output.points, pd.concat(points, ignore_index=True).assign(**ids), params=sm)
    io.write_table(sm.output.grid, pd.concat(grids, ignore_index=True).assign(**ids), params=sm)
