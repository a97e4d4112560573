"""Figure drawing: one module per figure, each a ``draw(...) -> Figure`` over DataFrames.

Figures are drawn from Parquet tables only (never from checkpoints), so any figure can be
redrawn from a hand-made table. :func:`upnn.figures.style.save` writes the vector PDF and a PNG
beside it.
"""
