"""Imported first by every rule script: puts this checkout's ``src/`` at the front of sys.path.

Snakemake runs a rule script from a temporary copy but appends the original ``scripts/`` folder to
``sys.path``, so this module is found, and ``upnn`` then imports from the checkout whether it runs
in the project's .venv, a conda env made from envs/upnn.yaml, or a cluster job.
"""

import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)
