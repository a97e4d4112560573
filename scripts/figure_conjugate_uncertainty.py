"""Rule figure_conjugate_uncertainty: TA, RA and ΔX against ΔP per epoch (companion Fig. 2)."""

import _src  # noqa: F401, I001  (puts src/ on sys.path)
import pandas as pd

from upnn import log
from upnn.figures import conjugate_uncertainty, style

sm = snakemake  # noqa: F821
with log.job(sm):
    summary = pd.concat([pd.read_parquet(p) for p in sm.input.summaries], ignore_index=True)
    style.save(conjugate_uncertainty.draw(summary), sm.output.pdf, sm.output.png)
