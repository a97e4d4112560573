"""upnn.figures.claims_forest: the forest plot of the claims table's primary rows."""

import numpy as np
import pandas as pd
import pytest

from upnn.figures import claims_forest, style


def table():
    rows = []
    for claim, value, verdict in (("ta_change", 0.2, "holds"), ("ra_change", -0.1, "holds"),
                                  ("ra_change", 0.05, "fails"), ("ra_change", 0.0, "inconclusive")):
        rows.append({"claim": claim, "dataset": "mnist", "model": "cnn3", "level": "pixel",
                     "value": value, "ci_low": value - 0.03, "ci_high": value + 0.03,
                     "min_effect": 0.02, "verdict": verdict, "role": "primary", "seeds": 3,
                     "stable": verdict != "fails"})
    rows.append({**rows[0], "claim": "ta_rises", "role": "secondary"})
    return pd.DataFrame(rows)


def test_one_panel_per_claim_one_line_per_primary_row(tmp_path):
    fig = claims_forest.draw(table())
    axes = fig.axes
    assert [a.get_title(loc="left").split(":")[0] for a in axes] == ["ta_change", "ra_change"]
    assert [len(a.get_yticks()) for a in axes] == [1, 3]
    labels = [t.get_text() for t in axes[1].get_yticklabels()]
    assert sum("unstable" in t for t in labels) == 1
    # every interval is drawn where the table says
    segs = [x for x in (line.get_xdata() for line in axes[1].get_lines())
            if len(x) == 2 and x[0] != x[1]]
    assert sorted(np.round(s[0], 3) for s in segs) == [-0.13, -0.03, 0.02]
    style.save(fig, tmp_path / "claims.pdf")
    assert (tmp_path / "claims.pdf").stat().st_size > 0 and (tmp_path / "claims.png").exists()


def test_a_table_without_the_columns_is_refused_with_one_line():
    with pytest.raises(ValueError, match=r"lacks columns \['min_effect', 'role'"):
        claims_forest.draw(table().drop(columns=["role", "min_effect"]))
