"""Rule figure_fig6: the word-sentiment similarity figure (v4 Fig. 6) from the similarity table."""
import _src  # noqa: F401, I001  (puts src/ on sys.path)
import pandas as pd

from upnn import log
from upnn.figures import fig6, style

sm = snakemake  # noqa: F821
with log.job(sm):
    style.save(fig6.draw(pd.read_parquet(sm.input.similarity)), sm.output.pdf, sm.output.png)
