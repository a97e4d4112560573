"""``results/summary.csv``: the numbers a reader pastes into a paper.

One row per dataset × model × level × attack × ε of the attack tables: the last evaluated
epoch's test accuracy (TA) and robust accuracy (RA), each with its 95 % interval
(:mod:`upnn.intervals`: over seeds when there are several, else over test images), and the epoch
of highest mean TA. A row ``worst of the papers' attacks`` per (dataset, model, level, ε) gives
``robust_acc_worst`` (an image counts as fooled if any of the papers' attacks fooled it).
TA is the clean accuracy of the whole attacked subset (the row with the most images), as in
Figs. 2 and 5; ``n_images`` is how many images the attack itself ran on.
"""

from __future__ import annotations

import pandas as pd

from upnn import intervals

WORST = "worst of the papers' attacks"
KEYS = ["dataset", "model", "level", "eps_index"]
COLUMNS = ("dataset", "model", "level", "attack", "in_papers", "eps", "eps_index", "epoch",
           "n_seeds", "n_images", "ta", "ta_low", "ta_high", "ra", "ra_low", "ra_high",
           "interval", "best_ta_epoch", "best_ta")


def summarize(table: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The summary rows (columns :data:`COLUMNS`) of the attack stage's rows ``table`` (every
    level, seed and amplitude)."""
    missing = {"dataset", "model", "level", "seed", "epoch", "attack", "eps", "eps_index", "n",
               "clean_acc", "robust_acc"} - set(table.columns)
    if missing:
        raise ValueError(f"attack table lacks columns {sorted(missing)}")
    out = []
    for (dataset, model, level, eps_index), g in table.groupby(KEYS, sort=True):
        whole = intervals.whole_subset(g)
        ta_by_epoch = whole.groupby("epoch")["clean_acc"].mean()
        best = int(ta_by_epoch.idxmax())
        base = {"dataset": dataset, "model": model, "level": level, "eps_index": int(eps_index),
                "eps": float(g["eps"].iloc[0]), "best_ta_epoch": best,
                "best_ta": float(ta_by_epoch[best])}
        ours = set(g.loc[~g["in_papers"].astype(bool), "attack"]) if "in_papers" in g else set()
        series = [(name, rows, "robust_acc") for name, rows in g.groupby("attack", sort=False)]
        if "robust_acc_worst" in whole and whole["robust_acc_worst"].notna().any():
            series.append((WORST, whole, "robust_acc_worst"))
        for name, rows, column in series:
            last = int(rows["epoch"].max())
            at_last = rows[rows["epoch"] == last]
            ta = intervals.accuracy_interval(whole[whole["epoch"] == last], "clean_acc",
                                             n_boot=n_boot, seed=seed)
            ra = intervals.accuracy_interval(at_last, column, n_boot=n_boot, seed=seed)
            out.append({**base, "attack": name,
                        "in_papers": name not in ours,
                        "epoch": last, "n_seeds": ra["n_seeds"],
                        "n_images": int(at_last["n"].iloc[0]),
                        "ta": ta["mean"], "ta_low": ta["low"], "ta_high": ta["high"],
                        "ra": ra["mean"], "ra_low": ra["low"], "ra_high": ra["high"],
                        "interval": ra["method"]})
    return pd.DataFrame(out, columns=list(COLUMNS))
