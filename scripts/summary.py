"""Rule summary: results/summary.csv, the last epoch's TA and RA with 95 % intervals per
dataset × model × level × attack × ε, and the epoch of highest TA."""

import _src  # noqa: F401, I001  (puts src/ on sys.path)
import pandas as pd

from upnn import io, log, summary

sm = snakemake  # noqa: F821
with log.job(sm) as logger:
    table = pd.concat([pd.read_parquet(p) for p in sm.input], ignore_index=True)
    rows = summary.summarize(table, n_boot=sm.params.n_boot, seed=sm.params.seed)
    logger.info("%d summary rows from %d attack tables", len(rows), len(sm.input))
    with io.atomic_path(sm.output.csv) as tmp:
        rows.to_csv(tmp, index=False, float_format="%.4f")
