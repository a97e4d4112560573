import math

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import trained_digits

from upnn import features, models, robustness

SPECS = [{"name": n} for n in ("ost", "osnt", "bim", "illc", "pgd")] + [
    {"name": "sparsefool", "max_iter": 5, "n": 6}]


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return models.build("cnn3", in_channels=1, image_size=28, width=0.25).eval()


@pytest.fixture(scope="module")
def trained_resnet(tmp_path_factory):
    """resnet9 (width 1/8) trained 4 epochs on 400 digits: its pooled features are what Fig. 5
    attacks."""
    return trained_digits("resnet9", tmp_path_factory.mktemp("resnet"), epochs=4, width=0.125,
                          limit_test=100)


@pytest.fixture(scope="module")
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.rand(32, 1, 28, 28, generator=g), torch.randint(0, 10, (32,), generator=g)


def test_pixel_rows(net, batch):
    x, y = batch
    rows = robustness.evaluate_checkpoint(net, "pixel", x[:12], y[:12], x, SPECS, eps=[0.1])
    df = pd.DataFrame(rows)
    assert list(df["attack"]) == [s["name"] for s in SPECS]
    assert set(df.columns) == {"attack", "eps", "eps_index", "bound", "alpha", "steps", "n",
                               "clean_acc", "robust_acc", "mean_linf", "mean_l0", "seconds",
                               "clean_correct", "robust_correct", "worst_correct",
                               "robust_acc_worst", "in_papers"}
    for r in rows:  # the per-image outcomes are what the accuracies average
        assert r["clean_correct"].dtype == bool and len(r["robust_correct"]) == r["n"]
        assert r["clean_correct"].mean() == pytest.approx(r["clean_acc"])
        assert r["robust_correct"].mean() == pytest.approx(r["robust_acc"])
    assert df.set_index("attack").loc["sparsefool", "n"] == 6
    assert (df.loc[df["attack"] != "sparsefool", "n"] == 12).all()
    bim = df.set_index("attack").loc["bim"]
    assert bim["steps"] == math.floor(min(0.1 * 255 + 4, 1.25 * 0.1 * 255))
    assert bim["alpha"] == pytest.approx(1 / 255)
    assert (df["mean_linf"] <= 0.1 + 1e-6).all()  # sparsefool too: bound "eps" by default
    assert (df["bound"] == "eps").all()
    assert (df["robust_acc"] <= 1).all() and (df["seconds"] >= 0).all()


def test_several_amplitudes_give_one_row_per_attack_and_eps(net, batch):
    x, y = batch
    rows = robustness.evaluate_checkpoint(net, "pixel", x[:8], y[:8], x, SPECS[:3],
                                        eps=[0.1, 0.02, 0.3])
    df = pd.DataFrame(rows)
    assert len(df) == 9
    assert df.groupby("eps_index")["eps"].first().tolist() == pytest.approx([0.1, 0.02, 0.3])
    assert (df["mean_linf"] <= df["eps"] + 1e-6).all()


def test_unbounded_sparsefool_is_recorded(net, batch):
    x, y = batch
    spec = [{"name": "sparsefool", "max_iter": 5, "bound": "none"}]
    (row,) = robustness.evaluate_checkpoint(net, "pixel", x[:6], y[:6], x, spec, eps=[0.01])
    assert row["bound"] == "none"


def test_feature_level_attacks_unit_features_with_the_pixel_steps(net, batch):
    x, y = batch
    rows = robustness.evaluate_checkpoint(net, "feature", x[:12], y[:12], x, SPECS, eps=[0.1])
    bim = next(r for r in rows if r["attack"] == "bim")
    assert bim["eps"] == 0.1  # a fraction of every feature's training range
    assert bim["steps"] == 29 and bim["alpha"] == pytest.approx(1 / 255)  # as at pixel level
    assert all(r["mean_linf"] <= 0.1 + 1e-6 for r in rows)
    z = features.extract(net, x)
    head = features.head_net(net, z)
    u = head.to_unit(features.extract(net, x[:12]))
    clean = (head(u).argmax(1) == y[:12]).float().mean().item()
    assert bim["clean_acc"] == pytest.approx(clean)  # the range-scaled head is the net's own


def test_feature_attacks_flip_predictions_of_a_trained_net(trained_resnet):
    net, (xtr, _, xte, yte) = trained_resnet
    rows = {r["attack"]: r for r in robustness.evaluate_checkpoint(
        net, "feature", xte, yte, xtr, [{"name": "bim"}, {"name": "pgd"}], eps=[0.1])}
    for name in ("bim", "pgd"):
        clean, robust = rows[name]["clean_correct"], rows[name]["robust_correct"]
        assert rows[name]["clean_acc"] > 0.5
        assert (clean & ~robust).mean() > 0.1, name  # >10 % of the images change to wrong


def test_attacks_actually_lower_accuracy_on_a_trained_net(tmp_path):
    net, d = trained_digits("cnn3", tmp_path, epochs=5, width=0.5, limit_test=100)
    rows = {r["attack"]: r for r in robustness.evaluate_checkpoint(
        net, "pixel", d[2], d[3], d[0], [{"name": "bim"}, {"name": "random"}], eps=[0.1])}
    assert rows["bim"]["clean_acc"] > 0.7
    assert rows["bim"]["robust_acc"] < rows["bim"]["clean_acc"] - 0.3
    assert rows["random"]["robust_acc"] > rows["bim"]["robust_acc"]


def test_level_errors():
    with pytest.raises(ValueError, match="unknown level 'logit'; allowed: pixel, feature"):
        robustness.evaluate_checkpoint(None, "logit", None, None, None, [], eps=[0.1])


def test_fig1_examples_numbers(net, batch):
    x, y = batch
    cols, x_adv, ta, ra = robustness.examples(net, x, y, attack="osnt", eps=0.1, n_images=5)
    p_clean, p_adv = net(x).softmax(1), net(x_adv).softmax(1)
    assert ta == pytest.approx((p_clean.argmax(1) == y).float().mean().item())
    assert ra == pytest.approx((p_adv.argmax(1) == y).float().mean().item())
    assert cols["index"] == [0, 1, 2, 3, 4] and list(cols["label"]) == y[:5].tolist()
    assert list(cols["pred_adv"]) == p_adv[:5].argmax(1).tolist()
    torch.testing.assert_close(torch.as_tensor(cols["conf_clean"]), p_clean[:5].max(1).values)
    assert (x_adv - x).abs().max() <= 0.1 + 1e-6


def test_worst_case_is_below_every_papers_attack_on_the_same_images(net, batch):
    x, y = batch
    specs = SPECS + [{"name": "random"}]
    rows = robustness.evaluate_checkpoint(net, "pixel", x[:12], y[:12], x, specs, eps=[0.1])
    by = {r["attack"]: r for r in rows}
    for r in rows:
        assert len(r["worst_correct"]) == r["n"]
        assert r["robust_acc_worst"] == pytest.approx(r["worst_correct"].mean())
        assert r["robust_acc_worst"] <= r["clean_acc"] + 1e-6
        if r["attack"] != "random":  # a control, not one of the papers' attacks
            assert r["robust_acc_worst"] <= r["robust_acc"] + 1e-6
    # image i is robust in the worst case iff clean-correct and robust under every papers'
    # attack that ran on it (sparsefool only on the first 6)
    full = by["bim"]
    expect = full["clean_correct"].copy()
    for name in ("ost", "osnt", "bim", "illc", "pgd"):
        expect &= by[name]["robust_correct"]
    expect[:6] &= by["sparsefool"]["robust_correct"]
    assert (full["worst_correct"] == expect).all()
    assert (by["sparsefool"]["worst_correct"] == expect[:6]).all()


def test_worst_case_hand_made_rows():
    rows = [
        {"attack": "bim", "clean_correct": np.array([1, 1, 1, 0], bool),
         "robust_correct": np.array([1, 0, 1, 0], bool)},
        {"attack": "sparsefool", "clean_correct": np.array([1, 1], bool),
         "robust_correct": np.array([0, 1], bool)},
        {"attack": "random", "clean_correct": np.array([1, 1, 1, 0], bool),
         "robust_correct": np.array([0, 0, 0, 0], bool)},  # not the papers': ignored
    ]
    out = robustness.worst_case(rows)
    assert out[0]["worst_correct"].tolist() == [False, False, True, False]
    assert out[0]["robust_acc_worst"] == 0.25
    assert out[1]["worst_correct"].tolist() == [False, False]
    assert out[2]["robust_acc_worst"] == 0.25
    only_control = robustness.worst_case(rows[2:])
    assert math.isnan(only_control[0]["robust_acc_worst"])


def test_at_epoch_keeps_last_only_attacks_for_the_last_epoch():
    specs = [{"name": "pgd"}, {"name": "autoattack", "epochs": "last", "n": 5},
             {"name": "bim", "epochs": "all"}]
    assert [s["name"] for s in robustness.at_epoch(specs, 3, 10)] == ["pgd", "bim"]
    last = robustness.at_epoch(specs, 10, 10)
    assert [s["name"] for s in last] == ["pgd", "autoattack", "bim"]
    assert all("epochs" not in s for s in last)
    with pytest.raises(ValueError, match="epochs = 'first'; allowed: all, last"):
        robustness.at_epoch([{"name": "pgd", "epochs": "first"}], 1, 2)


def test_pixel_only_attacks_are_left_out_at_feature_level(trained_resnet):
    model, (xtr, _, xte, yte) = trained_resnet
    x = xtr.float().div(255) if xtr.dtype == torch.uint8 else xtr.float()
    xt = xte.float().div(255) if xte.dtype == torch.uint8 else xte.float()
    rows = robustness.evaluate_checkpoint(model, "feature", xt[:8], yte[:8].long(), x,
                                          [{"name": "osnt"}, {"name": "autoattack"}], eps=[0.1])
    assert [r["attack"] for r in rows] == ["osnt"]


def test_autoattack_is_at_least_as_strong_as_the_papers_pgd(trained_resnet):
    """On a trained net AutoAttack (standard, l-inf) fools at least the images PGD-4 fools in
    aggregate: its RA is at most the papers' PGD RA, and within eps of each image."""
    model, (_, _, xte, yte) = trained_resnet
    xt = xte.float().div(255) if xte.dtype == torch.uint8 else xte.float()
    x, y = xt[:32], yte[:32].long()
    rows = {r["attack"]: r for r in robustness.evaluate_checkpoint(
        model, "pixel", x, y, x, [{"name": "pgd"}, {"name": "autoattack"}], eps=[0.1])}
    aa, pgd = rows["autoattack"], rows["pgd"]
    assert aa["clean_acc"] > 0.5  # a trained net: there is something to attack
    assert aa["robust_acc"] <= pgd["robust_acc"]
    assert aa["mean_linf"] <= 0.1 + 1e-6 and aa["bound"] == "eps" and aa["steps"] == -1
    assert aa["robust_acc_worst"] == pytest.approx(pgd["robust_acc_worst"])  # not a papers' attack


def test_an_image_misclassified_clean_is_never_robust(batch, monkeypatch):
    """One definition of RA: correct clean *and* attacked. A targeted attack that moves a
    misclassified image onto its label does not count it as robust, so RA ≤ TA per image."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)).eval()
    x, _ = batch
    moved = x.roll(1, 0)  # the "attack" replaces each image by its neighbour
    monkeypatch.setattr(robustness.attacks, "attack_batched",
                        lambda name, model, xs, ys, eps, **kw: moved[:len(xs)])
    with torch.no_grad():
        y = net(moved).argmax(1)  # every attacked image is classified as its label
        clean = net(x).argmax(1) == y
    assert (~clean).sum() >= 5
    for r in robustness.attack_rows(net, x, y, [{"name": "illc"}, {"name": "ost"}], eps=0.1):
        assert (r["robust_correct"] == clean.numpy()).all()  # not robust where wrong clean
        assert r["robust_acc"] == pytest.approx(r["clean_acc"])


def test_extras_at_a_stated_subset_of_epochs():
    from upnn import robustness as R

    specs = [{"name": "bim"}, {"name": "autoattack", "epochs": [1, 10]},
             {"name": "sparsefool", "epochs": "last"}]
    assert [s["name"] for s in R.at_epoch(specs, 1, 10)] == ["bim", "autoattack"]
    assert [s["name"] for s in R.at_epoch(specs, 5, 10)] == ["bim"]
    assert [s["name"] for s in R.at_epoch(specs, 10, 10)] == ["bim", "autoattack", "sparsefool"]
    assert all("epochs" not in s for s in R.at_epoch(specs, 10, 10))
    assert R.amplitudes_at([0.1, 0.05, 0.2], 5, [1, 10]) == [0.1]
    assert R.amplitudes_at([0.1, 0.05, 0.2], 10, [1, 10]) == [0.1, 0.05, 0.2]
    assert R.amplitudes_at([0.1, 0.05], 5, "all") == [0.1, 0.05]


@pytest.mark.parametrize("level", ["pixel", "feature"])
def test_the_exact_cut_leaves_every_outcome_bit_identical(trained_resnet, level):
    """Issue 26: images misclassified clean are neither attacked nor predicted again; RA, the
    worst case and every per-image outcome are those of the uncut computation, on a trained net
    that misclassifies some of its test images."""
    net, d = trained_resnet
    y = d[3][:40].clone()
    y[::4] = (y[::4] + 1) % 10  # every fourth label moved: those images are misclassified clean
    specs = SPECS + [{"name": "ifgsm"}, {"name": "random"}]
    out = {cut: robustness.evaluate_checkpoint(net, level, d[2][:40], y, d[0], specs,
                                               eps=[0.1, 0.05], seed=2, cut=cut)
           for cut in (True, False)}
    assert 0 < out[True][0]["clean_acc"] < 1
    for a, b in zip(out[True], out[False], strict=True):
        assert (a["attack"], a["eps"]) == (b["attack"], b["eps"])
        assert a["robust_acc"] == b["robust_acc"] and a["robust_acc_worst"] == b["robust_acc_worst"]
        for key in ("clean_correct", "robust_correct", "worst_correct"):
            assert np.array_equal(a[key], b[key]), (a["attack"], key)
        assert a["mean_linf"] == b["mean_linf"] and a["mean_l0"] == b["mean_l0"]


def test_an_attack_gives_the_same_rows_on_one_thread_as_on_two(trained_resnet):
    """An attack's tables do not depend on the thread count (rules/attack.smk runs it on one):
    every attack's per-image outcomes and its perturbations' norms are bit-identical on 1 and 2
    torch threads (training's weights are not, so its thread count is part of what a rerun
    must match: docs/reliability.md)."""
    net, d = trained_resnet
    specs = SPECS + [{"name": "random"}]
    before = torch.get_num_threads()
    out = {}
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            out[threads] = robustness.evaluate_checkpoint(net, "pixel", d[2][:40], d[3][:40],
                                                          d[0], specs, eps=[0.1], seed=2)
    finally:
        torch.set_num_threads(before)
    assert 0 < out[1][2]["robust_acc"] < out[1][2]["clean_acc"]  # bim breaks some, not all
    for a, b in zip(out[1], out[2], strict=True):
        assert a["attack"] == b["attack"]
        for key in ("clean_correct", "robust_correct", "worst_correct"):
            assert np.array_equal(a[key], b[key]), (a["attack"], key)
        assert (a["mean_linf"], a["mean_l0"]) == (b["mean_linf"], b["mean_l0"]), a["attack"]
