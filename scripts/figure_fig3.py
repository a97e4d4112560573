"""Rule figure_fig3: accuracy per lm-eval task × embedding condition, from the LLM table."""

from pathlib import Path

import _src  # noqa: F401, I001  (puts src/ on sys.path)

from upnn import io, log
from upnn.figures import fig3, style

sm = snakemake  # noqa: F821
with log.job(sm):
    model = io.read_metadata(sm.input[0])["model"]
    title = Path(model).name if Path(model).exists() else model  # a local folder: its name
    fig = fig3.draw(io.read_frame(sm.input[0]), metric=sm.params.metric, title=title)
    style.save(fig, sm.output.pdf, sm.output.png)
