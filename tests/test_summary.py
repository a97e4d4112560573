"""upnn.summary: the summary table of the attack stage."""

import numpy as np
import pandas as pd
import pytest

from upnn import summary


def attack_rows(seeds, n=100):
    rng = np.random.default_rng(0)
    rows = []
    for seed in seeds:
        for epoch in (1, 2, 3):
            clean = rng.random(n) < (0.9 if epoch == 2 else 0.7)  # TA peaks at epoch 2
            bim = clean & (rng.random(n) < 0.5)
            sf = clean[:20] & (rng.random(20) < 0.8)
            worst = bim.copy()
            worst[:20] &= sf
            rows += [
                {"attack": "bim", "n": n, "clean_correct": clean, "robust_correct": bim,
                 "worst_correct": worst},
                {"attack": "sparsefool", "n": 20, "clean_correct": clean[:20],
                 "robust_correct": sf, "worst_correct": worst[:20]},
            ]
            if epoch == 3:
                rows.append({"attack": "autoattack", "n": 30, "clean_correct": clean[:30],
                             "robust_correct": bim[:30] & (rng.random(30) < 0.5),
                             "worst_correct": worst[:30]})
            for r in rows[-(3 if epoch == 3 else 2):]:
                r.update(in_papers=r["attack"] != "autoattack", dataset="fashion", model="cnn3",
                         level="pixel", seed=seed, epoch=epoch,
                         eps=0.1, eps_index=0, clean_acc=r["clean_correct"].mean(),
                         robust_acc=r["robust_correct"].mean(),
                         robust_acc_worst=r["worst_correct"].mean())
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seeds", [[0], [0, 1, 2]])
def test_summary_rows(seeds):
    table = attack_rows(seeds)
    out = summary.summarize(table, n_boot=300).set_index("attack")
    assert list(out.columns) == [c for c in summary.COLUMNS if c != "attack"]
    assert set(out.index) == {"bim", "sparsefool", "autoattack", summary.WORST}
    assert (out["best_ta_epoch"] == 2).all() and (out["epoch"] == 3).all()
    assert not out.loc["autoattack", "in_papers"] and out.loc["bim", "in_papers"]
    last = table[(table["epoch"] == 3) & (table["attack"] == "bim")]
    assert out.loc["bim", "ra"] == pytest.approx(last["robust_acc"].mean())
    # TA is on the whole subset (bim's 100 images), for every attack's row
    assert np.allclose(out["ta"], last["clean_acc"].mean())
    assert out.loc["sparsefool", "n_images"] == 20 and out.loc[summary.WORST, "n_images"] == 100
    assert (out["ra_low"] <= out["ra"]).all() and (out["ra"] <= out["ra_high"]).all()
    assert out.loc[summary.WORST, "ra"] <= out.loc["bim", "ra"]
    assert (out["interval"] == ("seeds" if len(seeds) > 1 else "images")).all()
    assert (out["n_seeds"] == len(seeds)).all()


def test_summary_rejects_a_table_without_columns():
    with pytest.raises(ValueError, match="lacks columns"):
        summary.summarize(pd.DataFrame({"epoch": [1]}))
