"""Rules figure_fig2 / figure_fig5: TA and RA per epoch from the attack tables of one level."""

import _src  # noqa: F401, I001  (puts src/ on sys.path)
import pandas as pd

from upnn import log
from upnn.figures import robustness, style

sm = snakemake  # noqa: F821
with log.job(sm):
    table = pd.concat([pd.read_parquet(p) for p in sm.input], ignore_index=True)
    fig = robustness.draw(table, title=f"{sm.params.level} level",
                          attacks=sm.config["attacks"]["names"])
    style.save(fig, sm.output.pdf, sm.output.png)
