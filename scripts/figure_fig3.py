"""Rule fig3: accuracy per lm-eval task × embedding condition, from the LLM table."""

import _src  # noqa: F401, I001  (puts src/ on sys.path)
from upnn import io, log
from upnn.figures import fig3, style

sm = snakemake  # noqa: F821
with log.to_file(sm.log[0]):
    frame = io.read_frame(sm.input[0])
    fig = fig3.draw(frame, metric=sm.params.metric, title=io.read_metadata(sm.input[0])["model"])
    style.save(fig, sm.output.pdf, sm.output.png)
