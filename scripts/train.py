"""Rule train: one (dataset, model, seed), a checkpoint per epoch, resumable.

Checkpoints are written into ``<output>.partial/`` while training runs; Snakemake never deletes
that folder, so a killed job resumes from its last complete epoch. When all epochs are done the
folder is renamed onto the declared output directory in one step.
"""

from pathlib import Path

import _src  # noqa: F401, I001  (puts src/ on sys.path)
import pandas as pd

from upnn import checkpoint, data, device, io, log, train

sm = snakemake  # noqa: F821
out_dir = Path(sm.output.checkpoints)
work_dir = checkpoint.work_dir(out_dir)
with log.job(sm) as logger:
    dev = device.resolve(sm.config["device"])
    # held whole, or streamed from disk when a split is larger than config stream_above_mb
    x_tr, y_tr = data.open_split(sm.input.train, dev, data.stream_limit(sm.config))
    x_te, y_te = data.open_split(sm.input.test, dev, data.stream_limit(sm.config))
    cfg = train.TrainConfig.from_dict(sm.params.settings)
    fmt = sm.config.get("memory_format", "contiguous")
    logger.info("training %s on %s (seed %s) on %s, %s: %s", sm.wildcards.model,
                sm.wildcards.dataset, sm.wildcards.seed, dev, fmt, cfg)
    rows = train.train(sm.wildcards.model, (x_tr, y_tr, x_te, y_te), cfg, work_dir,
                       seed=int(sm.wildcards.seed), width=float(sm.params.width), device=dev,
                       precision=sm.config.get("precision", "fp32"),
                       memory_format=fmt,
                       reference=sm.params.reference)
    checkpoint.finish(work_dir, out_dir, cfg.epochs)  # exactly this run's epochs, in one rename
    table = pd.DataFrame(rows).assign(dataset=sm.wildcards.dataset, model=sm.wildcards.model,
                                      seed=int(sm.wildcards.seed))
    io.write_table(sm.output.table, table, params=sm)
    logger.info("final test accuracy %.4f", rows[-1]["test_acc"])
