"""Imported first by every rule script: makes sure ``upnn`` can be imported.

Rule scripts import the *installed* ``upnn`` — in ``.venv`` that is this checkout itself
(``make install`` installs it editable) — so the workflow runs unchanged as a Snakemake module
from any directory, and the jobs import the same ``upnn`` as the Snakefile, which imports it the
same way (``rules/common.smk``). Where no ``upnn`` is installed (a conda env of ``envs/``, which
holds the pinned dependencies only, or a bare checkout run with a foreign Python) this falls back
to this checkout's ``src/``, as the Snakefile does.
"""

import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("upnn") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
