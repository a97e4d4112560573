"""Rule figure_fig1: draw Fig. 1 from the examples table."""

import _src  # noqa: F401, I001  (puts src/ on sys.path)
from upnn import io, log
from upnn.figures import fig1, style

sm = snakemake  # noqa: F821
with log.job(sm):
    table = io.read_table(sm.input[0])
    fig = fig1.draw(io.read_frame(sm.input[0]), io.column_tensor(table, "image").numpy(),
                    io.column_tensor(table, "image_adv").numpy(), io.read_metadata(sm.input[0]))
    style.save(fig, sm.output.pdf, sm.output.png)
