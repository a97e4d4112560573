"""Word sentiment: input/gradient cosine similarity of learned embeddings (arXiv 2205.01493 v4 Fig. 6).

Every word of a labelled lexicon (``data/words.csv``: positive, negative and neutral words in
English and Chinese, see scripts/build_words_csv.py) gets a trainable embedding vector e_w; fully
connected layers map it to the three sentiment logits. All seeds of one embedding size are
trained together (:mod:`upnn.stacked`). After every epoch, for every seed, with l_w the
cross-entropy of word w:

    cos_w = <e_w, ∇_{e_w} l_w> / (|e_w| |∇_{e_w} l_w|)

(the word's embedding is the net's input, so this is the cosine between an input and the
gradient of its own loss), averaged separately over the words the net classifies correctly and
incorrectly. The gradient's direction is computed without the softmax's underflow
(:func:`loss_gradient_direction`), so confidently classified words keep theirs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor

from upnn import stacked

LABELS = ("negative", "neutral", "positive")  # class index = position
LANGUAGES = ("en", "zh")
COLUMNS = ("word", "language", "label", "source")


@dataclass(frozen=True)
class WordsConfig:
    seeds: tuple[int, ...] = tuple(range(10))
    embedding_sizes: tuple[int, ...] = (1, 4, 16)
    depth: int = 1  # hidden layers after the embedding
    width: int = 32
    activation: str = "relu"
    epochs: int = 1000
    batch_size: int = 2048
    lr: float = 3e-4

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> WordsConfig:
        """From the config's ``words`` block, which the schema has checked."""
        d = dict(d)
        for key in ("seeds", "embedding_sizes"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


def read_lexicon(path: str | Path) -> pd.DataFrame:
    """``data/words.csv`` as a DataFrame, checked: exactly the columns word, language, label,
    source; labels in LABELS, languages in LANGUAGES, no empty field, no word twice."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    if tuple(frame.columns) != COLUMNS:
        raise ValueError(f"{path}: columns {list(frame.columns)}; expected {list(COLUMNS)}")
    for col, allowed in (("label", LABELS), ("language", LANGUAGES)):
        bad = sorted(set(frame[col]) - set(allowed))
        if bad:
            raise ValueError(f"{path}: {col} {bad[0]!r} is not allowed; allowed: {', '.join(allowed)}")
    empty = frame.eq("").any(axis=1)
    if empty.any():
        raise ValueError(f"{path}: empty field in row {int(empty.idxmax()) + 2}")
    dup = frame["word"].duplicated()
    if dup.any():
        raise ValueError(f"{path}: word {frame['word'][dup].iloc[0]!r} appears twice")
    return frame


def targets(lexicon: pd.DataFrame, device: torch.device | str = "cpu") -> Tensor:
    """(V,) class indices (LABELS order) of the lexicon's words."""
    return torch.tensor([LABELS.index(lab) for lab in lexicon["label"]], device=device)


def build(vocab: int, embedding_size: int, cfg: WordsConfig, seed: int) -> torch.nn.Sequential:
    """One seed's net: Embedding(vocab, embedding_size) → width (× depth) → 3 logits."""
    return stacked.embedding_mlp(vocab, embedding_size, [*[cfg.width] * cfg.depth, len(LABELS)],
                                 cfg.activation, seed=seed)


def loss_gradient_direction(logits: Tensor, y: Tensor, dim: int = -1) -> Tensor:
    """∂CE(o, y)/∂o = softmax(o) − onehot(y), divided by its largest wrong-class entry.

    For c ≠ y the quotient is p_c / max_{c'≠y} p_{c'} = exp(o_c − max_{c'≠y} o_{c'}) (the
    normaliser of the softmax cancels), and at y it is minus their sum, since p_y − 1 =
    −Σ_{c≠y} p_c. The largest entry is exactly 1, so the direction survives where the plain
    gradient underflows: in float32 p_y rounds to 1 once the logit margin passes ≈ 17 (≈ 37 in
    float64), leaving ∂CE/∂o_y = 0 and a wrong direction, or all zeros. The classes lie along
    ``dim`` of logits; y has logits' shape without that dim.
    """
    dim = dim % logits.ndim
    classes = torch.arange(logits.shape[dim], device=logits.device)
    onehot = classes.view(-1, *[1] * (logits.ndim - dim - 1)) == y.unsqueeze(dim)
    wrong = logits.masked_fill(onehot, float("-inf"))
    ratio = (wrong - wrong.amax(dim, keepdim=True)).exp()  # exp(-inf) = 0 at the label
    return ratio - onehot * ratio.sum(dim, keepdim=True)


def embedding_gradient_cosine(model: stacked.Stacked, y: Tensor) -> tuple[Tensor, Tensor]:
    """(cos, correct), both (S, V): for every seed and word, the cosine between the word's
    embedding e_w and ∇_{e_w} CE(f(e_w), y_w), and whether f classifies the word correctly.

    model's first layer is the (S, V, E) embedding table; the rest of the net runs on all V
    embeddings at once. ∇_{e_w} l_w = J_wᵀ ∂l_w/∂o_w with J_w = ∂o_w/∂e_w (word w's logits o_w
    depend on its own row only), so one vector-Jacobian product of the logits with
    :func:`loss_gradient_direction` gives every word's gradient times a positive factor of its
    own, which the cosine does not see. A zero gradient gives cos = 0.
    """
    emb = model.stacked[0].detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(emb, start=1)
        by_class = logits.detach().transpose(1, 2)  # (S, C, V), contiguous: see Stacked.forward
        labels = y.expand(model.n_seeds, -1)
        direction = loss_gradient_direction(by_class, labels, dim=1).transpose(1, 2)
        (grad,) = torch.autograd.grad(logits, emb, direction)
    # grad arrives as the (S, V, E) view of an (S, E, V) tensor: contiguous rows for the norms
    cos = F.cosine_similarity(emb.detach(), grad.contiguous(), dim=-1)
    return cos, stacked.predict(logits.detach()) == y


def summarize(cos: Tensor, correct: Tensor) -> dict[str, Tensor]:
    """Per seed: accuracy, mean cos over correct / incorrect words (NaN where there are none),
    and the two counts."""
    n_correct = correct.sum(-1)
    n_incorrect = (~correct).sum(-1)
    nan = torch.tensor(float("nan"), dtype=cos.dtype, device=cos.device)

    def mean_over(mask: Tensor, n: Tensor) -> Tensor:
        return torch.where(n > 0, (cos * mask).sum(-1) / n.clamp_min(1), nan)

    return {"accuracy": correct.double().mean(-1), "cos_correct": mean_over(correct, n_correct),
            "cos_incorrect": mean_over(~correct, n_incorrect), "n_correct": n_correct,
            "n_incorrect": n_incorrect}


def run(lexicon: pd.DataFrame, embedding_size: int, cfg: WordsConfig,
        device: torch.device | str = "cpu",
        progress: Callable[[int, dict], None] | None = None) -> pd.DataFrame:
    """Train all seeds of one embedding size on the whole lexicon; one row per seed and epoch.

    Columns: embedding_size, seed, epoch, accuracy, cos_correct, cos_incorrect, n_correct,
    n_incorrect, train_loss, seconds. Accuracy is over all words (each word is its own input;
    there is no held-out word an embedding could be learned for).
    """
    device = torch.device(device)
    y = targets(lexicon, device)
    words = torch.arange(len(y), device=device)
    model = stacked.Stacked([build(len(y), embedding_size, cfg, s) for s in cfg.seeds]).to(device)
    opt = stacked.adam(model.parameters(), cfg.lr, device)
    gens = [torch.Generator().manual_seed(s) for s in cfg.seeds]
    seed_col = torch.tensor(cfg.seeds)
    frames = []
    t0 = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        train_loss = stacked.train_epoch(model, opt, words, y, gens, cfg.batch_size)
        model.eval()
        stats = summarize(*embedding_gradient_cosine(model, y))
        rows = {"seed": seed_col, "epoch": torch.full_like(seed_col, epoch), **stats,
                "train_loss": train_loss}
        # copies: a numpy view would keep each epoch's tensors (and more) alive
        frames.append({k: v.detach().cpu().numpy().copy() for k, v in rows.items()}
                      | {"seconds": [time.perf_counter() - t0] * len(cfg.seeds)})
        if progress is not None:
            progress(epoch, {k: float(v.double().nanmean()) for k, v in rows.items() if k != "seed"})
    frame = pd.concat([pd.DataFrame(f) for f in frames], ignore_index=True)
    frame.insert(0, "embedding_size", embedding_size)
    return frame


def combine(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The per-size tables as one, sorted by embedding_size, seed, epoch."""
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["embedding_size", "seed", "epoch"], kind="stable").reset_index(drop=True)
