"""The claims table as Markdown a person reads, and the ``upnn claims`` command: the verdict
counts, one line per row (results/claims.md), the per-claim summary and the primary rows
(docs/results/ and the README through :mod:`upnn.readme`). The table itself is
:func:`upnn.claims.table`'s.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from upnn import stats
from upnn.claims import RELATIVE_EFFECT, VERDICTS


def counts(claims: pd.DataFrame) -> dict[str, int]:
    """How many rows have each verdict (all verdicts listed, zeros included)."""
    return {v: int((claims["verdict"] == v).sum()) for v in VERDICTS}


def markdown(claims: pd.DataFrame) -> str:
    """The claims table as Markdown a person reads: a count of verdicts, then one line per row."""
    c = counts(claims)
    config = claims["config"].iloc[0] if len(claims) else ""
    lines = [f"# Claims of the papers, checked on `{config}`", "",
             ", ".join(f"{v}: {k}" for v, k in c.items()) + f" (of {len(claims)} rows)", "",
             "Verdict: *holds* when the 95 % interval lies wholly on the claimed side, *fails* "
             "when wholly on the other, *inconclusive* otherwise. The primary rows of the trend "
             "claims (`ta_change`, `ra_change`, `pgd_ta_rises`, `pgd_ra_falls`: the change over "
             f"the window) need it beyond a minimum effect of {stats.MIN_EFFECT:g} on either "
             "side, by a z-test whose Holm-adjusted p across the run's primary rows is below "
             "0.05; *stable* says whether each seed alone "
             "and each leave-one-seed-out subset gives the same verdict. docs/claims.md explains "
             "each claim and statistic.", "",
             "A verdict marked *(one run)* rests on a single training run: its interval covers the "
             "test images' sampling, not the variation between training runs.", "",
             "| # | claim | role | source | panel | statistic | value | 95 % interval | claimed | "
             "n | p (Holm) | verdict | stable |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]

    def num(x: float) -> str:
        return "" if pd.isna(x) else f"{x:+.3f}"

    for r in claims.itertuples():
        panel = " / ".join(str(p) for p in (r.dataset, r.model, r.level, r.attack, r.setting) if p)
        ci = "" if pd.isna(r.ci_low) else f"[{num(r.ci_low)}, {num(r.ci_high)}]"
        n = f"{r.n} {r.unit}" if r.unit else ""
        runs = " *(one run)*" if r.seeds == 1 and r.verdict in ("holds", "fails") else ""
        p = "" if pd.isna(r.p_holm) else f"{r.p_holm:.3g}"
        stable = "" if r.stable is None or pd.isna(r.stable) else ("yes" if r.stable else
                                                                   f"no ({r.seed_verdicts})")
        lines.append(f"| {r.number} | {r.claim} | {r.role} | {r.source} | {panel} | "
                     f"{r.statistic} | {num(r.value)} | {ci} | {r.claimed} | {n} | {p} | "
                     f"**{r.verdict}**{runs} | {stable} |")
    return "\n".join(lines) + "\n"


def summary(claims: pd.DataFrame) -> pd.DataFrame:
    """Per claim: its number, source and statement and how many panels give each verdict."""
    counted = claims.groupby(["number", "claim"], sort=False)["verdict"].value_counts().unstack(
        fill_value=0).reindex(columns=list(VERDICTS), fill_value=0)
    first = claims.drop_duplicates("claim").set_index(["number", "claim"])[["source", "statement"]]
    return first.join(counted).reset_index()


def summary_markdown(claims: pd.DataFrame) -> str:
    """:func:`summary` as the Markdown table of the README's "What reproduces" section."""
    c = counts(claims)
    decided = claims["verdict"].isin(["holds", "fails"])
    single = int((decided & (claims["seeds"] == 1)).sum())
    prim = primary_rows(claims)
    pc = prim["verdict"].value_counts()
    seeded = prim[prim["seeds"] > 1]
    stable = int(seeded["stable"].eq(True).sum())
    level = sorted(prim.loc[prim["min_effect"] == 0, "number"].unique())  # a range or threshold
    levels = (f" or, for claim{'s' if len(level) > 1 else ''} {', '.join(map(str, level))}, "
              "inside the papers' range or beyond their threshold") if level else ""
    lines = [", ".join(f"{v}: {k}" for v, k in c.items()) + f" (of {len(claims)} rows)", "",
             f"{single} of the {int(decided.sum())} holds and fails rest on a single training run "
             "(their intervals resample test images, not training runs).", "",
             f"Primary rows (one test per claim and panel, claims "
             f"{', '.join(map(str, sorted(prim['number'].unique())))}: an effect beyond its "
             f"minimum effect (±{stats.MIN_EFFECT:g} of accuracy or share; claim 10: "
             f"{np.expm1(RELATIVE_EFFECT):.0%}; claim 14: the bisection's resolution){levels}; "
             f"Holm across {len(prim)} rows): "
             + ", ".join(f"{v}: {int(pc.get(v, 0))}" for v in ("holds", "fails", "inconclusive",
                                                              "not testable"))
             + f"; of the {len(seeded)} with several seeds, {stable} give the same verdict on "
             "every seed alone and with each seed left out.", "",
             "| # | claim | the papers say | source | holds | fails | inconclusive | not testable | "
             "n/a, not run |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in summary(claims).to_dict("records"):
        lines.append(f"| {r['number']} | {r['claim']} | {r['statement']} | {r['source']} | "
                     f"{r['holds']} | {r['fails']} | {r['inconclusive']} | {r['not testable']} | "
                     f"{r['n/a'] + r['not run']} |")
    return "\n".join(lines) + "\n"


def primary_rows(claims: pd.DataFrame) -> pd.DataFrame:
    """The primary rows of a claims table (none in a table written before they existed)."""
    return claims[claims["role"] == "primary"] if "role" in claims else claims.iloc[:0]


def change(r: Any) -> str:
    """'+0.120 [+0.092, +0.180]': a primary row's change over the window and its 95 % interval."""
    ci = "" if pd.isna(r.ci_low) else f" [{r.ci_low:+.3f}, {r.ci_high:+.3f}]"
    return f"{r.value:+.3f}{ci}"


def primary_markdown(claims: pd.DataFrame) -> str:
    """The primary rows (one test per claim and panel) as a Markdown table: panel, seeds, the
    change over the window with its 95 % interval, the Holm-adjusted p, verdict and stability."""
    prim = primary_rows(claims)
    lines = ["| claim | panel | seeds | change [95 % interval] | p (Holm) | verdict | stable |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in prim.itertuples():
        panel = " / ".join(str(p) for p in (r.dataset, r.model, r.level, r.setting) if p)
        p = "" if pd.isna(r.p_holm) else f"{r.p_holm:.3g}"
        stable = "one run" if r.stable is None or pd.isna(r.stable) else (
            "yes" if r.stable else "no")
        lines.append(f"| {r.claim} | {panel} | {r.seeds} | {change(r)} | {p} | "
                     f"**{r.verdict}** | {stable} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="upnn claims",
                                description="Print a claims table: its per-claim summary, or every "
                                "row (--full).")
    p.add_argument("table", nargs="?", default="results/claims.parquet")
    p.add_argument("--full", action="store_true", help="every row, as results/claims.md")
    a = p.parse_args(argv)
    table = pd.read_parquet(a.table)
    print(markdown(table) if a.full else summary_markdown(table), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
