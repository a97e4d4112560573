"""The uncertainty stage: the companion paper's conjugate-variable analysis (Figs. 1–2,
supplementary §2), per checkpoint; the packet estimator it calls is :mod:`upnn.packets`.

For one trained checkpoint ("epoch") and one *level*:

* ``pixel``: the whole net f; X_base = the mean training image; every pixel x_i sweeps [0, 1].
* ``feature`` (supp. §2.2): the features of :mod:`upnn.features` (the one definition every stage
  uses) are frozen, the learnable rest of the head is re-initialised at random and retrained on
  the training features (:func:`retrain_head`); X_base = the mean training feature; feature i
  sweeps [min_i, max_i] over the training set.

On a seeded subset of dimensions the per-dimension packet moments come from
:func:`upnn.packets.network_moments` (all classes × dimensions × points as large batches
through the net, one backward per batch), and per (epoch, class) they aggregate to
ΔX_Y = (Σ_i σ_{x_i})^{1/2}, ΔP_Y = (Σ_i σ_{p_i})^{1/2} (supp. Eq. 23), beside the test accuracy TA
and the PGD robust accuracy RA of the same level's classifier.

Feature-level attacks are in feature space within the per-feature box [min_i, max_i], with an
ε that is the same *fraction of each feature's range* as the pixel ε is of the pixel range [0, 1]
(:class:`upnn.features.RangeScaled`), as in the attack stage's Fig. 5.

:func:`tsne_maps` makes companion Fig. 1: per epoch, the net's features of test images embedded in
2-D with openTSNE, PGD-attacked images placed into the same map with ``TSNEEmbedding.transform``,
and the plane shaded by a k-nearest-neighbour classification of a regular grid from the embedded
clean points (their predicted class, and their softmax confidence in one class).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from upnn import attacks, features, packets
from upnn.data import mean_image, subset
from upnn.models import accuracy, predict
from upnn.models import robust_accuracy as _robust_accuracy


def retrain_head(
    head: nn.Module,
    f_train: Tensor,
    y_train: Tensor,
    *,
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 128,
    seed: int = 0,
) -> nn.Module:
    """A copy of ``head``, re-initialised at random and trained with Adam on fixed features
    (supp. §2.2: the features stay frozen, only the classifier on top of them is learnt again).

    Initialisation and batch order come from ``seed`` alone (the global RNG is forked, not
    consumed). ``epochs = 0`` returns the random head. Returned in eval mode.
    """
    if epochs < 0:
        raise ValueError(f"head epochs must be >= 0, got {epochs}")
    head = copy.deepcopy(head).to(f_train.device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in head.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    head.train()
    for _ in range(epochs):
        perm = torch.randperm(len(y_train), generator=gen).to(f_train.device)
        for i in range(0, len(perm), batch_size):
            idx = perm[i:i + batch_size]
            loss = F.cross_entropy(head(f_train[idx]), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return head.eval().requires_grad_(False)


def robust_accuracy(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    alpha: float,
    steps: int,
    box: tuple[Tensor, Tensor] | None = None,
    seed: int = 0,
    batch_size: int = 512,
) -> float:
    """RA: accuracy on PGD examples (``upnn.attacks``, random start, ``steps`` steps of ``alpha``).

    ``box=None``: pixel level, x in [0, 1]. ``box=(lo, hi)``: x are features in that per-element
    box and ε, α are fractions of each element's range (:class:`upnn.features.RangeScaled`).
    """
    if box is None:
        target, inputs, bounds = model, x, (0.0, 1.0)
    else:
        target = features.RangeScaled(model, *box)
        inputs = target.to_unit(x)
        bounds = features.unit_bounds(inputs)
    x_adv = attacks.attack_batched("pgd", target, inputs, y, eps, alpha=alpha, steps=steps,
                                   bounds=bounds, seed=seed, batch_size=batch_size)
    return _robust_accuracy(target, inputs, x_adv, y)


def packet_classes(classes: str | Sequence[int], num_classes: int) -> list[int]:
    """The labels Y whose packets ψ_Y are measured: ``"all"`` → every class of the data
    (0 … K−1, K from the labels themselves), else the listed labels, sorted, each below K."""
    if classes == "all":
        return list(range(num_classes))
    wanted = sorted({int(c) for c in classes})
    bad = [c for c in wanted if not 0 <= c < num_classes]
    if bad:
        raise ValueError(f"uncertainty classes {bad} are not labels of this data set; allowed: "
                         f"0..{num_classes - 1} or all")
    return wanted


def interval(x_base: Tensor, lo: Tensor, hi: Tensor, radius: float | None) -> tuple[Tensor, Tensor]:
    """The integration interval per element: the box [lo, hi] itself (``radius`` None) or
    [X_base − r, X_base + r] ∩ [lo, hi] with r = radius·(hi − lo), i.e. ``radius`` in pixel
    units at pixel level and as a fraction of each feature's range at feature level."""
    if radius is None:
        return lo, hi
    if radius <= 0:
        raise ValueError(f"radius must be > 0 (or None for the box), got {radius}")
    r = radius * (hi - lo)
    return torch.maximum(lo, x_base - r), torch.minimum(hi, x_base + r)


def packet_dims(lo: Tensor, hi: Tensor, count: int, *, seed: int) -> Tensor:
    """The first ``count`` flat indices of a seeded permutation whose interval is not empty.

    Pixels ([0, 1] everywhere) give the same dimensions at every epoch; features skip elements
    that are constant over the training set (e.g. dead ReLUs), and otherwise keep the same order,
    so the chosen dimensions change as little as possible from epoch to epoch.
    """
    lo, hi = torch.broadcast_tensors(torch.as_tensor(lo), torch.as_tensor(hi))
    order = torch.randperm(lo.numel(), generator=torch.Generator().manual_seed(seed))
    valid = (hi.reshape(-1) > lo.reshape(-1)).cpu()[order]
    return order[valid][:count]


def packet_table(
    model: nn.Module,
    x_base: Tensor,
    classes: Sequence[int],
    dims: Tensor,
    lo: Tensor,
    hi: Tensor,
    *,
    method: str = "mc",
    n_points: int = 256,
    seed: int = 0,
    batch_size: int = 8192,
) -> pd.DataFrame:
    """Packet moments (supp. Eq. 22) for every (class, dimension), all (class × dimension × point)
    evaluations as large batches through the net: ``network_moments`` (one backward per batch)
    for a single class, ``network_moments_classes`` (one forward-mode pass per batch gives every
    class) for several. Every class sees the same points. lo/hi: per-element bounds shaped like
    ``x_base`` (or scalars).

    Returns one row per (class, dim): class, dim, lo, hi, beta, x_mean, sigma_x, p_mean, sigma_p,
    product, satisfies_bound, the *_se columns, sigma_x_flat = (hi − lo)/√12 (the σ_x of a flat
    packet on the same interval), method, n_points. mc/qmc: *_se are delta-method standard
    errors; quadrature: the absolute difference to the Gauss–Legendre rule with half the nodes
    (an error estimate that is conservative for smooth integrands).
    """
    device = x_base.device
    dims = dims.to(device=device, dtype=torch.long).reshape(-1)
    lo_flat = torch.as_tensor(lo, dtype=x_base.dtype, device=device).expand_as(x_base).reshape(-1)
    hi_flat = torch.as_tensor(hi, dtype=x_base.dtype, device=device).expand_as(x_base).reshape(-1)
    k, classes = len(dims), [int(c) for c in classes]

    def moments(n: int) -> dict[str, Tensor]:
        kw = dict(method=method, n_points=n, seed=seed, batch_size=batch_size)
        if len(classes) == 1:
            out = packets.network_moments(model, x_base, classes[0], dims, lo_flat[dims],
                                          hi_flat[dims], **kw)
        else:
            out = packets.network_moments_classes(model, x_base, classes, dims,
                                                  lo_flat[dims], hi_flat[dims], **kw)
        return {key: v.reshape(-1) for key, v in out.items()}

    m = moments(n_points)
    if method == "quadrature":  # error estimate: the difference to the rule with half the nodes
        coarse = moments(max(1, n_points // 2))
        m |= {f"{key}_se": (m[key] - coarse[key]).abs() for key in packets.MOMENTS}
    labels = torch.as_tensor(classes).repeat_interleave(k)
    all_dims = dims.repeat(len(classes))
    frame = pd.DataFrame({
        "class": labels.cpu().numpy(), "dim": all_dims.cpu().numpy(),
        "lo": lo_flat[all_dims].cpu().double().numpy(),
        "hi": hi_flat[all_dims].cpu().double().numpy(),
    })
    for key in (*packets.MOMENTS, "satisfies_bound"):
        frame[key] = m[key].cpu().numpy()
    for key in packets.MOMENTS:
        frame[f"{key}_se"] = m[f"{key}_se"].cpu().double().numpy()
    frame["sigma_x_flat"] = (frame["hi"] - frame["lo"]) / np.sqrt(12.0)  # a flat packet's σ_x
    return frame.assign(method=method, n_points=n_points)


def summarise(frame: pd.DataFrame, keys: Sequence[str] = ("epoch", "class")) -> pd.DataFrame:
    """Per ``keys`` group of a :func:`packet_table` table: ΔX, ΔP (supp. Eq. 23) and their standard
    errors, ΔX·ΔP, the number of dimensions, the share of dimensions with σ_x·σ_p ≥ 1/2 and the
    median per-dimension product; and what separates the interval's share of ΔX from the net's:
    ``delta_x_flat`` = (Σ_i (hi_i − lo_i)/√12)^{1/2}, the ΔX of flat packets on the same
    intervals, and ``x_flatness`` = Σ σ_{x_i} / Σ (hi_i − lo_i)/√12 = (ΔX / ΔX_flat)² with its
    standard error: 1 for a flat packet (ΔX then measures the interval only), below 1 for a
    packet the net concentrates, up to √3 for one pushed to both ends."""
    rows = []
    for key, g in frame.groupby(list(keys), sort=True):
        sx, sp = torch.from_numpy(g["sigma_x"].to_numpy()), torch.from_numpy(g["sigma_p"].to_numpy())
        dx, dp = packets.aggregate(sx, sp)
        dx_se, dp_se = packets.aggregate_se(
            sx, sp, torch.from_numpy(g["sigma_x_se"].to_numpy()),
            torch.from_numpy(g["sigma_p_se"].to_numpy()))
        flat = float(g["sigma_x_flat"].sum())
        rows.append({**dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True)),
                     "delta_x": dx, "delta_p": dp, "delta_x_se": dx_se, "delta_p_se": dp_se,
                     "delta_x_flat": float(np.sqrt(flat)),
                     "x_flatness": float(sx.sum()) / flat if flat > 0 else np.nan,
                     "x_flatness_se": float(np.sqrt((g["sigma_x_se"] ** 2).sum())) / flat
                     if flat > 0 else np.nan,
                     "delta_product": dx * dp, "n_dims": len(g),
                     "share_bound": float(g["satisfies_bound"].mean()),
                     "median_product": float(g["product"].median())})
    return pd.DataFrame(rows)


def evaluate_checkpoint(
    model: nn.Module,
    level: str,
    train: tuple[Tensor, Tensor],
    test: tuple[Tensor, Tensor],
    *,
    classes: Sequence[int],
    n_dims: int,
    method: str,
    n_points: int,
    eps: float,
    alpha: float,
    steps: int,
    head: Mapping[str, float] | None = None,
    n_test: int | None = None,
    radius: float | None = None,
    seed: int = 0,
    batch_size: int = 8192,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """One checkpoint at one level: the :func:`packet_table` table and {test_acc, robust_acc,
    n_test} (n_test: how many test images both were measured on).

    The integration interval of each dimension is the data box (pixels [0, 1], features their
    training range) or, with ``radius``, :func:`interval` around X_base.

    TA and RA are measured on a seeded subset of ``n_test`` test images (None: all of them).
    ``head`` (feature level): {epochs, lr, batch_size} of :func:`retrain_head`.
    """
    features.check_level(level)
    (x_tr, y_tr), (x_te, y_te) = train, test
    keep = subset(len(y_te), n_test, seed).to(y_te.device)
    x_te, y_te = x_te[keep], y_te[keep]
    if level == "pixel":
        net, x_base, lo, hi = model, mean_image(x_tr), 0.0, 1.0
        box = None
        ta = accuracy(net, x_te, y_te)
        inputs = x_te
    else:
        f_tr, f_te = features.extract(model, x_tr), features.extract(model, x_te)
        lo, hi = features.box(f_tr)
        h = dict(head or {})
        net = retrain_head(features.split_head(model.head)[1], f_tr, y_tr, epochs=int(h.get("epochs", 5)),
                           lr=float(h.get("lr", 1e-3)), batch_size=int(h.get("batch_size", 128)),
                           seed=seed)
        x_base, box, inputs = f_tr.mean(dim=0), (lo, hi), f_te
        ta = accuracy(net, f_te, y_te)
    ra = robust_accuracy(net, inputs, y_te, eps=eps, alpha=alpha, steps=steps, box=box, seed=seed)
    lo_t = torch.as_tensor(lo, dtype=x_base.dtype, device=x_base.device).expand_as(x_base)
    hi_t = torch.as_tensor(hi, dtype=x_base.dtype, device=x_base.device).expand_as(x_base)
    lo_t, hi_t = interval(x_base, lo_t, hi_t, radius)
    dims = packet_dims(lo_t, hi_t, n_dims, seed=seed)
    frame = packet_table(net, x_base, classes, dims, lo_t, hi_t, method=method, n_points=n_points,
                    seed=seed, batch_size=batch_size)
    return frame, {"test_acc": ta, "robust_acc": ra, "n_test": len(y_te)}


# ------------------------------------------------------------------------------ t-SNE (Fig. 1)


def knn_grid(
    points: np.ndarray,
    pred: np.ndarray,
    conf: np.ndarray,
    *,
    size: int,
    k: int,
    extent: tuple[float, float, float, float],
) -> pd.DataFrame:
    """Shade the embedding plane: a ``size × size`` grid over ``extent`` (x0, x1, y0, y1), each
    node given the majority predicted class of its k nearest embedded points (ties: the nearest
    such class) and the inverse-distance-weighted mean of their confidences."""
    from sklearn.neighbors import NearestNeighbors

    gx, gy = np.meshgrid(np.linspace(extent[0], extent[1], size),
                         np.linspace(extent[2], extent[3], size))
    nodes = np.column_stack([gx.ravel(), gy.ravel()])
    k = max(1, min(k, len(points)))
    dist, idx = NearestNeighbors(n_neighbors=k).fit(points).kneighbors(nodes)
    w = 1.0 / np.maximum(dist, 1e-12)
    votes = np.zeros((len(nodes), int(pred.max()) + 1))
    np.add.at(votes, (np.repeat(np.arange(len(nodes)), k), pred[idx].ravel()), w.ravel())
    return pd.DataFrame({"gx": nodes[:, 0], "gy": nodes[:, 1], "pred": votes.argmax(1),
                         "conf": (w * conf[idx]).sum(1) / w.sum(1)})


def tsne_epoch(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    label: int,
    eps: float,
    alpha: float,
    steps: int,
    perplexity: float = 30.0,
    n_iter: int = 500,
    early_iter: int = 250,
    grid: int = 100,
    k: int = 10,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Companion Fig. 1 for one checkpoint: (points, grid) tables.

    The features (:func:`upnn.features.extract`, flattened) of the clean images x are embedded with
    openTSNE (PCA initialisation, ``seed``; ``early_iter`` early-exaggeration iterations, then
    ``n_iter``: openTSNE's defaults are 250 and 500). PGD examples (pixel level,
    ``eps``/``alpha``/``steps``) go through the same features and are placed into that map with
    ``TSNEEmbedding.transform`` (min(n_iter, 250) iterations), which optimises only the new
    points against the fixed clean embedding. openTSNE runs on one thread: with several, its
    nearest-neighbour index (Annoy, built in parallel) and gradient sums are not reproducible
    bit for bit (docs/reliability.md).

    Points: kind (clean / attacked), index, label, pred, conf (softmax probability of
    ``label``), tx, ty. Grid: :func:`knn_grid` of the clean points over the box of all points
    plus a 5 % margin.
    """
    from openTSNE import TSNE

    x_adv = attacks.attack_batched("pgd", model, x, y, eps, alpha=alpha, steps=steps,
                                   bounds=(0.0, 1.0), seed=seed)
    frames, feats = [], []
    for kind, inp in (("clean", x), ("attacked", x_adv)):
        logits = predict(model, inp)
        feats.append(features.extract(model, inp).flatten(1).double().cpu().numpy())
        frames.append(pd.DataFrame({
            "kind": kind, "index": np.arange(len(y)), "label": y.cpu().numpy(),
            "pred": logits.argmax(1).cpu().numpy(),
            "conf": logits.softmax(1)[:, label].double().cpu().numpy()}))
    perplexity = min(perplexity, max(1.0, (len(y) - 1) / 3))
    emb = TSNE(perplexity=perplexity, n_iter=n_iter, early_exaggeration_iter=early_iter,
               random_state=seed, n_jobs=1).fit(feats[0])
    placed = emb.transform(feats[1], n_iter=min(n_iter, 250))  # openTSNE's default: 250
    for frame, xy in zip(frames, (np.asarray(emb), np.asarray(placed)), strict=True):
        frame["tx"], frame["ty"] = xy[:, 0], xy[:, 1]
    points = pd.concat(frames, ignore_index=True)
    x0, x1 = points["tx"].min(), points["tx"].max()
    y0, y1 = points["ty"].min(), points["ty"].max()
    mx, my = 0.05 * (x1 - x0 or 1.0), 0.05 * (y1 - y0 or 1.0)
    clean = frames[0]
    shade = knn_grid(clean[["tx", "ty"]].to_numpy(), clean["pred"].to_numpy(),
                     clean["conf"].to_numpy(), size=grid, k=k,
                     extent=(x0 - mx, x1 + mx, y0 - my, y1 + my))
    return points, shade
