"""Rule figure_fig4: the 2-D toy figure (v4 Fig. 4) from the toy's metrics and landscapes tables."""
import _src  # noqa: F401, I001  (puts src/ on sys.path)
import pandas as pd

from upnn import log
from upnn.figures import fig4, style

sm = snakemake  # noqa: F821
with log.job(sm):
    fig = fig4.draw(pd.read_parquet(sm.input.metrics), pd.read_parquet(sm.input.landscapes))
    style.save(fig, sm.output.pdf, sm.output.png)
