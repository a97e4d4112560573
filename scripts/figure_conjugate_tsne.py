"""Rule figure_conjugate_tsne: t-SNE maps of clean and attacked features (companion Fig. 1)."""

import _src  # noqa: F401, I001  (puts src/ on sys.path)
import pandas as pd

from upnn import log
from upnn.figures import conjugate_tsne, style

sm = snakemake  # noqa: F821
with log.job(sm):
    fig = conjugate_tsne.draw(pd.read_parquet(sm.input.points), pd.read_parquet(sm.input.grid))
    style.save(fig, sm.output.pdf, sm.output.png)
