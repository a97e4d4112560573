"""Rule figure_robustness_eps: RA at every ε and the minimal amplitudes per epoch."""

import _src  # noqa: F401, I001  (puts src/ on sys.path)
import pandas as pd

from upnn import log
from upnn.figures import robustness_eps, style

sm = snakemake  # noqa: F821
with log.job(sm):
    attacks = pd.concat([pd.read_parquet(p) for p in sm.input.attacks], ignore_index=True)
    minimal = pd.concat([pd.read_parquet(p) for p in sm.input.minimal], ignore_index=True)
    fig = robustness_eps.draw(attacks, minimal, attack=sm.params.attack, eps=sm.params.eps)
    style.save(fig, sm.output.pdf, sm.output.png)
