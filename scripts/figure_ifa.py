"""Rules figure_ifa_pix2pix / figure_ifa_training / figure_ifa_frequency: one figure of the
IFA stage from its Parquet tables (concatenated when there are several)."""

import importlib

import _src  # noqa: F401, I001  (puts src/ on sys.path)
import pandas as pd

from upnn import log
from upnn.figures import style

sm = snakemake  # noqa: F821
with log.job(sm):
    table = pd.concat([pd.read_parquet(p) for p in sm.input], ignore_index=True)
    figure = importlib.import_module(f"upnn.figures.{sm.params.figure}")
    style.save(figure.draw(table), sm.output.pdf, sm.output.png)
