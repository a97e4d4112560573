"""Imported first by every rule script: makes ``upnn`` this checkout's ``src/upnn``.

Snakemake runs a rule script from a temporary copy but appends the original ``scripts/`` folder to
``sys.path``, so this module is found. It then puts this checkout's ``src/`` at the *front* of
``sys.path`` (moving it there if something appended it already) and forgets any ``upnn`` imported
from elsewhere, so the jobs run the same code the Snakefile checked the config with — whatever
else is on the path: another checkout's editable install, a ``PYTHONPATH`` entry, a conda env.
"""

import os
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")
sys.path[:] = [SRC] + [p for p in sys.path if os.path.abspath(p or ".") != SRC]
for _name in [m for m in sys.modules if m == "upnn" or m.startswith("upnn.")]:
    _file = getattr(sys.modules[_name], "__file__", None) or ""
    if not os.path.abspath(_file).startswith(SRC + os.sep):
        del sys.modules[_name]
