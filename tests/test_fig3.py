"""upnn.figures.fig3 from a hand-made LLM table: one bar per task × condition, a dashed random-guess
line per task, the background coloured by option count, acc_norm falling back to acc."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from upnn.figures import fig3, style

TASKS = {"arc_easy": 4, "hellaswag": 4, "winogrande": 2}


def hand_made_table() -> pd.DataFrame:
    rows = []
    for task, k in TASKS.items():
        for i, cond in enumerate(("none", "random", "fgsm", "bim")):
            acc = 0.7 - 0.1 * i
            rows.append({"model": "m", "task": task, "condition": cond,
                         "epsilon": 0.0 if cond == "none" else 0.01, "steps": 0, "acc": acc,
                         "acc_norm": np.nan if task == "winogrande" else acc + 0.05,
                         "stderr": 0.01, "acc_norm_stderr": np.nan if task == "winogrande" else 0.01,
                         "n": 100, "n_choices": k, "chance": 1 / k})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("metric", ["acc", "acc_norm"])
def test_fig3_bars_chance_lines_and_background(tmp_path, metric):
    fig = fig3.draw(hand_made_table(), metric=metric, title="m")
    ax = fig.axes[0]
    bars = [c for c in ax.containers if len(c) == 1]
    assert len(bars) == len(TASKS) * 4
    heights = [c[0].get_height() for c in bars]
    expected = [0.7 - 0.1 * i + (0.05 if metric == "acc_norm" and t != "winogrande" else 0)
                for t in TASKS for i in range(4)]
    assert heights == pytest.approx(expected)
    dashed = [c for c in ax.collections if c.get_linestyle()[0][1] is not None]
    assert sorted(seg[0][1] for c in dashed for seg in c.get_segments()) == \
        pytest.approx(sorted(1 / k for k in TASKS.values()))
    backgrounds = [to_hex(p.get_facecolor()) for p in ax.patches if p.get_width() == 1.0]
    assert backgrounds == [fig3.OPTION_COLORS[k] for k in TASKS.values()]
    assert "ε = 0.01" in ax.get_title()
    style.save(fig, tmp_path / "fig3.pdf", tmp_path / "fig3.png")
    assert (tmp_path / "fig3.pdf").stat().st_size > 1000 and (tmp_path / "fig3.png").exists()


def test_fig3_rejects_an_unknown_metric():
    with pytest.raises(ValueError, match="acc, acc_norm"):
        fig3.draw(hand_made_table(), metric="f1")


def test_fig3_error_bars_are_wilson_intervals_over_n():
    from upnn import stats

    fig = fig3.draw(hand_made_table(), metric="acc")
    ax = fig.axes[0]
    errs = [c for c in ax.containers if len(c) == 3]  # ErrorbarContainer of each bar
    assert len(errs) == len(TASKS) * 4
    got = [tuple(seg[:, 1]) for c in errs for lc in c[2] for seg in lc.get_segments()]
    expected = [stats.wilson((0.7 - 0.1 * i) * 100, 100) for _ in TASKS for i in range(4)]
    np.testing.assert_allclose(got, expected)
    assert "95 % Wilson interval over each task's questions (n: arc easy 100" in \
        _caption(fig)


def _caption(fig):
    """The figure's suptitle, its wrapped lines joined."""
    return fig._suptitle.get_text().replace("\n", " ")
