"""Do two runs give the same answer? The claims of two results folders, computed with this
checkout's code, compared row by row (issue 25: another CPU, emulated with
``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2``, must not move a verdict that the stability
column calls stable).

    python bench/compare_verdicts.py RUN_A/results RUN_B/results [--configfile config/config.yaml]

Prints every primary row with its verdict in both runs and run A's stability, then how many
primary rows are stable, how many of those moved, and how many verdicts moved among all rows.
Exits 1 when a stable primary row moved.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from upnn import claims, config  # noqa: E402

STAGES = {"attacks": "attacks/**/*.parquet", "toy2d": "toy2d/metrics.parquet",
          "words": "words/similarity.parquet", "ifa": "ifa_trajectory/**/*.parquet",
          "ifa_summary": "ifa_summary.parquet", "frequency": "frequency/*.parquet",
          "uncertainty": "uncertainty/**/*.parquet",
          "uncertainty_summary": "uncertainty_summary/**/*.parquet",
          "tsne": "tsne_points/**/*.parquet", "minimal": "minimal/**/*.parquet"}
KEYS = ["claim", "dataset", "model", "level", "attack", "setting"]


def claims_of(results: Path, sources: dict[str, str]) -> pd.DataFrame:
    """The claims table of a results folder, as rule claims computes it (llm: not run)."""
    tables = {}
    for stage, pattern in STAGES.items():
        paths = sorted(results.glob(pattern))
        tables[stage] = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True) \
            if paths else None
    return claims.table(tables, sources=sources, config=str(results))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("--configfile", default=str(Path(__file__).resolve().parents[1] / "config" /
                                              "config.yaml"))
    args = p.parse_args()
    cfg = config.load_yaml(args.configfile)
    sources = {d: s["source"] for d, s in cfg["datasets"].items()}
    a, b = claims_of(args.a, sources), claims_of(args.b, sources)
    both = a.merge(b, on=KEYS, suffixes=("_a", "_b"))
    prim = both[both["role_a"] == "primary"]
    print("| claim | panel | seeds | verdict A | verdict B | stable (A) | value A | value B |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in prim.itertuples():
        panel = " / ".join(str(x) for x in (r.dataset, r.model, r.level, r.setting) if x)
        print(f"| {r.claim} | {panel} | {r.seeds_a} | {r.verdict_a} | {r.verdict_b} | "
              f"{r.stable_a} | {r.value_a:+.3f} | {r.value_b:+.3f} |")
    stable = prim[prim["stable_a"].eq(True)]
    moved = stable[stable["verdict_a"] != stable["verdict_b"]]
    all_moved = both[both["verdict_a"] != both["verdict_b"]]
    print(f"\nprimary rows: {len(prim)}; stable in A: {len(stable)}; of those moved in B: "
          f"{len(moved)}; primary rows moved: {int((prim['verdict_a'] != prim['verdict_b']).sum())}; "
          f"all rows moved: {len(all_moved)} of {len(both)}")
    for r in moved.itertuples():
        print(f"moved (stable): {r.claim} {r.dataset}/{r.model}/{r.level}: {r.verdict_a} → "
              f"{r.verdict_b}")
    return 1 if len(moved) else 0


if __name__ == "__main__":
    sys.exit(main())
