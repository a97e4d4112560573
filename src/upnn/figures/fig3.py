"""Fig. 3 (v4): an LLM's accuracy on multiple-choice benchmarks with its embedding output clean and
perturbed (random, FGSM, BIM), one bar per task × condition, the random-guess level of each task as
a dashed line and the background coloured by the number of options. Error bars: the 95 % Wilson
interval of each accuracy over the task's n questions (one run: there are no seeds); the suptitle
gives each task's n."""

from __future__ import annotations

import pandas as pd
from matplotlib import pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from upnn import intervals
from upnn.figures import bands, style

CONDITION_ORDER = ("none", "random", "fgsm", "bim")
CONDITION_COLORS = {"none": "#4c72b0", **style.ATTACK_COLORS}
OPTION_COLORS = {2: "#fdf1e2", 4: "#e7eef8"}  # background by option count; others grey
OTHER_OPTIONS = "#efefef"


def draw(frame: pd.DataFrame, metric: str = "acc", title: str = "") -> plt.Figure:
    """``frame``: the ``results/llm/{model}.parquet`` table (task, condition, epsilon, acc,
    acc_norm, stderr, acc_norm_stderr, n_choices, chance). ``metric``: ``acc`` or ``acc_norm``;
    a task without ``acc_norm`` (winogrande) shows ``acc``."""
    if metric not in ("acc", "acc_norm"):
        raise ValueError(f"unknown metric {metric!r}; allowed: acc, acc_norm")
    style.setup()
    tasks = list(dict.fromkeys(frame["task"]))
    conditions = [c for c in CONDITION_ORDER if c in set(frame["condition"])]
    conditions += sorted(set(frame["condition"]) - set(conditions))
    width = 0.8 / max(len(conditions), 1)
    fig, ax = plt.subplots(figsize=(min(style.PAGE, 1.0 + 0.9 * len(tasks)), 2.4))
    options = {}
    counts: dict[str, int] = {}
    for i, task in enumerate(tasks):
        rows = frame[frame["task"] == task].set_index("condition")
        n_choices = int(rows["n_choices"].iloc[0])
        options[n_choices] = OPTION_COLORS.get(n_choices, OTHER_OPTIONS)
        ax.axvspan(i - 0.5, i + 0.5, color=options[n_choices], lw=0, zorder=0)
        ax.hlines(float(rows["chance"].iloc[0]), i - 0.45, i + 0.45, colors="black",
                  linestyles="--", lw=0.8, zorder=3)
        for j, cond in enumerate(conditions):
            if cond not in rows.index:
                continue
            row = rows.loc[cond]
            use = metric if metric == "acc" or pd.notna(row["acc_norm"]) else "acc"
            acc, lo, hi = intervals.wilson_interval(row[use], row["n"])
            if pd.notna(row["n"]):
                counts[task] = int(row["n"])
            ax.bar(i - 0.4 + (j + 0.5) * width, acc, width,
                   yerr=[[acc - lo], [hi - acc]] if pd.notna(lo) else None,
                   color=CONDITION_COLORS.get(cond, "#999999"),
                   error_kw={"lw": 0.6, "capsize": 1.0}, zorder=2)
    ax.set_xlim(-0.5, len(tasks) - 0.5)
    ax.set_ylim(0, 1)
    ax.set_xticks(range(len(tasks)), [t.replace("_", " ") for t in tasks], rotation=20, ha="right")
    ax.set_ylabel("accuracy" if metric == "acc" else "accuracy (length-normalised)")
    eps = frame.loc[frame["condition"] != "none", "epsilon"]
    ax.set_title(f"{title}{', ' if title else ''}ε = {eps.iloc[0]:g}" if len(eps) else title)
    handles = [Patch(color=CONDITION_COLORS.get(c, "#999999"), label=c) for c in conditions]
    handles.append(Line2D([], [], color="black", ls="--", lw=0.8, label="random guess"))
    handles += [Patch(color=col, label=f"{n} options") for n, col in sorted(options.items())]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    bands.footnote(fig, {note(counts)})
    return fig


def note(counts: dict[str, int]) -> str:
    """Which error bars the figure draws, with each task's question count."""
    if not counts:
        return "no error bars (the table has no question counts)"
    each = ", ".join(f"{task.replace('_', ' ')} {n}" for task, n in counts.items())
    return f"error bars: 95 % Wilson interval over each task's questions (n: {each}; one run)"
