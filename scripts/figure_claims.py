"""Rule figure_claims: the forest plot of the claims table's primary rows."""

import _src  # noqa: F401, I001  (puts src/ on sys.path)
import pandas as pd

from upnn import log
from upnn.figures import claims_forest, style

sm = snakemake  # noqa: F821
with log.job(sm):
    style.save(claims_forest.draw(pd.read_parquet(sm.input[0])), sm.output.pdf, sm.output.png)
