"""Compare two runs' tables: every Parquet table under two results folders, timing columns and
provenance aside (upnn.io.same_table), bit for bit.

    python bench/compare_runs.py RUN_A/results RUN_B/results

Prints each table that differs or exists in one run only, and how many agree; exits 1 when any
differs. Used to check that a rerun (another folder, another load, a refactor) changes nothing.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from upnn import io  # noqa: E402

if len(sys.argv) != 3:
    sys.exit(__doc__)
a, b = (Path(p) for p in sys.argv[1:])
differ = io.differing_tables(a, b)
total = len({p.relative_to(r) for r in (a, b) for p in r.rglob("*.parquet")
             if not io.is_temporary(p) and not p.name.startswith(".")})
for name in differ:
    print(f"differs: {name}")
print(f"{total - len(differ)} of {total} tables identical (timing columns aside)")
sys.exit(1 if differ else 0)
