"""Rule claims: the claims table (results/claims.parquet and .md) from the stages' tables."""

import _src  # noqa: F401, I001  (puts src/ on sys.path)
import pandas as pd

from upnn import claims, claims_markdown, io, log

sm = snakemake  # noqa: F821
with log.job(sm) as logger:
    tables = {}
    for stage in ("attacks", "toy2d", "words", "ifa", "ifa_summary", "frequency", "uncertainty",
                  "uncertainty_summary", "tsne", "llm", "minimal"):
        paths = list(sm.input.get(stage, []))
        tables[stage] = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True) \
            if paths else None
        logger.info("%s: %d tables", stage, len(paths))
    settings = sm.params.settings
    table = claims.table(tables, sources=sm.params.sources, config=sm.params.config,
                         n_boot=settings.get("n_boot", 2000), seed=settings.get("seed", 0))
    logger.info("verdicts: %s", claims_markdown.counts(table))
    io.write_table(sm.output.table, table, params=sm)
    with io.atomic_path(sm.output.markdown) as tmp:
        tmp.write_text(claims_markdown.markdown(table))
