"""upnn: the uncertainty principle of neural networks, as a reproducible pipeline."""

__version__ = "0.1.0"
