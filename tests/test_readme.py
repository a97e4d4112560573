"""upnn.readme: the README's generated block is the committed claims table's rendering."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_claims import attack_table

from upnn import claims, claims_markdown, readme


def test_the_readme_block_matches_docs_results():
    """Fails when README.md and docs/results/claims_default.parquet disagree."""
    assert readme.check(), "run `python -m upnn.readme --update results/claims.parquet`"


@pytest.fixture(scope="module")
def table():
    frame = attack_table({"bim": -0.03, "pgd": 0.0}, ta_slope=0.06, base=0.85, n=2000,
                         dataset="mnist")
    return claims.table({"attacks": frame}, sources={"mnist": "mnist_subset"}, config="c.yaml",
                        n_boot=200)


def test_the_results_page_reads_the_mnist_row_against_the_papers_numbers(table):
    text = readme.results_page(table)
    assert "| net | TA (papers: > 0.98) | TA − mean RA (papers: 0.10–0.15) | TA − RA bim | " \
           "TA − RA pgd |" in text
    ta = table[table["claim"] == "ta_level"].iloc[0]
    assert f"| m | {ta['value']:.3f} [{ta['ci_low']:.3f}, {ta['ci_high']:.3f}] " \
           f"*{ta['verdict']}*" in text
    assert "| ta_change | mnist / m / pixel | 1 |" in text and "one run |" in text
    assert "| # | claim | the papers say |" in text


def test_block_gives_the_counts_and_a_row_per_panel_of_the_primary_rows(table):
    text = readme.block(table)
    assert claims_markdown.summary_markdown(table).splitlines()[0] in text
    prim = table[table["role"] == "primary"]
    # no worst-case column here (no ra_change); MNIST data: claim 3's gap against its range
    assert list(prim["claim"]) == ["ta_change", "gap_last"]
    r = prim.iloc[0]
    assert "| panel | seeds | ta_change | gap_last |" in text
    assert (f"| mnist / m / pixel | 1 | **{r['verdict']}** {r['value']:+.3f} "
            f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}] | ") in text  # one run: no ✓/✗
    assert "| # | claim | the papers say |" not in text  # the per-claim table is in docs/
    assert "TA (papers: > 0.98)" not in text  # the MNIST row is in docs/


def test_update_and_check_round_trip(tmp_path, table):
    src = tmp_path / "claims.parquet"
    table.to_parquet(src)
    doc = tmp_path / "README.md"
    doc.write_text(f"# x\n\nbefore\n{readme.BEGIN}\nstale 0.5\n{readme.END}\nafter\n")
    target = tmp_path / "docs" / "claims_default.parquet"
    target.parent.mkdir()
    assert not readme.check(doc, src)
    readme.update(src, doc, target)
    assert readme.check(doc, target)
    text = doc.read_text()
    assert text.startswith("# x\n\nbefore\n") and text.endswith(f"{readme.END}\nafter\n")
    assert "stale" not in text and (target.with_suffix(".md")).exists()
    changed = table.assign(value=np.where(table["claim"] == "ta_level", 0.5, table["value"]))
    changed.to_parquet(target)
    assert not readme.check(doc, target)  # a number that moved is caught
    with pytest.raises(ValueError, match="no generated block"):
        readme.render("# no markers\n", table)
    assert pd.read_parquet(target).shape == table.shape


def test_the_matrix_holds_the_classifiers_panels_and_the_toys_rows_go_to_docs(table):
    toy = pd.DataFrame([{"seed": s, "epoch": e, "dx": 1.0 - 0.01 * e, "dp": 0.01 * e,
                         "robust_acc": 0.5, "test_acc": 0.5 + 0.01 * e, "n_test": 500}
                        for s in range(3) for e in range(1, 7)])
    both = claims.table({"attacks": attack_table({"bim": -0.03}, ta_slope=0.06, base=0.85, n=2000,
                                                  dataset="mnist"), "toy2d": toy},
                        sources={"mnist": "mnist_subset"}, config="c.yaml", n_boot=200)
    assert {"ta_change", "toy_ta_rises"} <= set(both.loc[both["role"] == "primary", "claim"])
    text = readme.block(both)
    assert "toy_ta_rises" not in text and "| mnist / m / pixel |" in text
    assert "| toy_ta_rises | toy2d / epochs 1–6 | 3 |" in readme.results_page(both)


def test_the_readme_stays_a_five_minute_read():
    """Issue 28: the README is at most 12 KB (12,000 bytes); the rest lives in docs/."""
    from upnn.readme import README

    assert len(README.read_bytes()) <= 12_000
