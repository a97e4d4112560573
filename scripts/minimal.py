"""Rule minimal: per epoch and test image, the minimal l∞ amplitude of the configured attack
(batched bisection) and DeepFool's l2 norm. Rows are cached per epoch, so a killed job resumes."""

import _src  # noqa: F401, I001  (puts src/ on sys.path)
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from upnn import checkpoint, data, device, io, log, minimal, models

sm = snakemake  # noqa: F821
p, w = sm.params.minimal, sm.wildcards
with log.job(sm) as logger:
    dev = device.resolve(sm.config["device"])
    ckpts = checkpoint.folder(sm.input.checkpoints, sm.params.epochs)  # before any work
    x_te, y_te, idx = data.read_subset(sm.input.test, p["n_test"], p["subset_seed"], dev,
                                       data.stream_limit(sm.config))
    cache = io.RowCache(sm.output[0], io.fingerprint(p, sm.params.epochs,
                                                    Path(sm.input.table).stat().st_mtime))
    df = p["deepfool"]
    logger.info("%s, %d steps, on [0, %g] to %g: %d bisections per epoch", p["attack"],
                p["steps"], p["max_eps"], p["resolution"],
                minimal.n_bisections(p["max_eps"], p["resolution"]))
    for epoch in tqdm(sm.params.epochs, desc=f"minimal {w.dataset} {w.model}"):
        if cache.done("epoch", epoch):
            continue
        model = models.load(ckpts[epoch], dev)
        eps = minimal.minimal_eps(model, x_te, y_te, attack=p["attack"], steps=p["steps"],
                                  max_eps=p["max_eps"], resolution=p["resolution"],
                                  seed=p["subset_seed"] + epoch, batch_size=p["batch_size"])
        clean = eps > 0  # minimal_eps gives exactly the misclassified images eps* = 0
        l2 = minimal.deepfool_l2(model, x_te, y_te, overshoot=df["overshoot"],
                                 max_iter=df["max_iter"], batch_size=p["batch_size"])
        cache.add([{"epoch": epoch, "image_index": int(i), "clean_correct": bool(c),
                    "eps_min": float(e), "deepfool_l2": float(d)}
                   for i, c, e, d in zip(idx.tolist(), clean.tolist(), eps.tolist(), l2.tolist(),
                                         strict=True)])
        logger.info("epoch %d: median eps_min %.4f, median DeepFool l2 %.3f", epoch,
                    eps.median().item(), l2.median().item())
    table = pd.DataFrame(cache.rows).assign(
        dataset=w.dataset, model=w.model, seed=int(w.seed), attack=p["attack"], steps=p["steps"],
        max_eps=p["max_eps"], resolution=p["resolution"])
    io.write_table(sm.output[0], table.sort_values(["epoch", "image_index"], kind="stable"), params=sm)
    cache.finish()
