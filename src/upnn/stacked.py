"""Many seeds of one small net, trained together as one batched model.

Each seed's net is first built alone as a plain ``nn.Sequential`` (:func:`mlp`,
:func:`embedding_mlp`), initialised from its own ``torch.Generator``; the S nets are then stacked
parameter by parameter with ``torch.func.stack_module_state`` (every parameter gains a leading
seed dimension) into one :class:`Stacked` module. Its forward maps (S, B, ...) to (S, B, out) and
computes exactly ``torch.func.vmap(functional_call(net, params_s, x_s))`` over the seeds, but
with one batched matmul per layer (``torch.baddbmm``, feature-major) instead of vmap's
per-operator batching rules (bench/stacked.py times a loop over seeds, vmap, and this;
docs/toy2d_words.md has the numbers).

Training (:func:`train_epoch`): the loss is the sum over seeds of each seed's mean cross-entropy,
so the gradient of a seed's slice is that seed's own gradient (plain autograd), and Adam is
elementwise, so one Adam over the stacked tensors performs S independent Adams. With each seed's
batch order drawn from its own generator (as :func:`upnn.train.train_epoch` draws it) the stacked
run ends at the weights that training every seed alone reaches (tests/test_stacked.py checks
this against ``upnn.train.train_epoch``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import stack_module_state

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def _check_activation(name: str) -> None:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; allowed: {', '.join(ACTIVATIONS)}")


def _linear_layers(sizes: Sequence[int], activation: str, gen: torch.Generator) -> list[nn.Module]:
    """Linear(sizes[i], sizes[i+1]) with the activation between them (not after the last one).

    Initialised as ``nn.Linear`` initialises itself (weight and bias uniform in ±1/sqrt(fan_in)),
    but from ``gen`` instead of the global RNG.
    """
    _check_activation(activation)
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"layer sizes must be >= 2 positive integers, got {list(sizes)}")
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        lin = nn.Linear(fan_in, fan_out)
        bound = 1 / math.sqrt(fan_in)
        with torch.no_grad():
            lin.weight.uniform_(-bound, bound, generator=gen)
            lin.bias.uniform_(-bound, bound, generator=gen)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return layers


def mlp(sizes: Sequence[int], activation: str = "relu", *, seed: int) -> nn.Sequential:
    """A fully connected net sizes[0] → sizes[1] → ... → sizes[-1], seeded with ``seed``."""
    return nn.Sequential(*_linear_layers(sizes, activation, torch.Generator().manual_seed(seed)))


def embedding_mlp(vocab: int, embedding_size: int, sizes: Sequence[int], activation: str = "relu",
                  *, seed: int) -> nn.Sequential:
    """``nn.Embedding(vocab, embedding_size)`` (N(0, 1), as PyTorch initialises it) followed by
    :func:`mlp` layers embedding_size → sizes[0] → ... → sizes[-1], all from one generator."""
    if vocab < 1 or embedding_size < 1:
        raise ValueError(f"vocab and embedding_size must be >= 1, got {vocab}, {embedding_size}")
    gen = torch.Generator().manual_seed(seed)
    emb = nn.Embedding(vocab, embedding_size)
    with torch.no_grad():
        emb.weight.normal_(0.0, 1.0, generator=gen)
    return nn.Sequential(emb, *_linear_layers([embedding_size, *sizes], activation, gen))


def embed(table: Tensor, ids: Tensor) -> Tensor:
    """Rows ``table[s, ids[s, b]]`` of an (S, V, E) stacked embedding table: (S, B, E).

    One ``index_select`` of whole rows from the table seen as (S·V, E), whose backward is one
    ``index_add``; it computes what ``table[arange(S)[:, None], ids]`` does, in less time on a
    CPU (docs/toy2d_words.md).
    """
    s, v, e = table.shape
    rows = ids + torch.arange(s, device=ids.device).unsqueeze(1) * v
    return table.reshape(s * v, e).index_select(0, rows.flatten()).view(s, -1, e)


class Stacked(nn.Module):
    """S copies of one ``nn.Sequential`` of Embedding / Linear / elementwise-activation layers,
    with the seed as leading dimension of every parameter and of every input and output.

    ``forward(x)``: x of shape (S, B, in) (float) or (S, B) (token ids for an Embedding first
    layer) → (S, B, out); row b of seed s depends on x[s, b] and seed s's parameters only.
    """

    def __init__(self, nets: Sequence[nn.Sequential]) -> None:
        super().__init__()
        if not nets:
            raise ValueError("Stacked needs at least one net")
        for layer in nets[0]:
            if not isinstance(layer, (nn.Embedding, nn.Linear, *ACTIVATIONS.values())):
                raise ValueError(f"unsupported layer {type(layer).__name__}; allowed: Embedding, "
                                 f"Linear, {', '.join(c.__name__ for c in ACTIVATIONS.values())}")
        params, buffers = stack_module_state(list(nets))
        if buffers:
            raise ValueError(f"nets with buffers are not supported: {sorted(buffers)}")
        self.names = list(params)
        self.stacked = nn.ParameterList(nn.Parameter(p.detach().clone()) for p in params.values())
        # The architecture as a plain list (not registered: no parameters of its own), each layer
        # with the index of its first parameter in `stacked`.
        self._plan: list[tuple[nn.Module, int]] = []
        first = 0
        for layer in copy.deepcopy(nets[0]).to("meta"):
            self._plan.append((layer, first))
            first += len(list(layer.parameters()))

    @property
    def n_seeds(self) -> int:
        return self.stacked[0].shape[0]

    def named_stacked(self) -> dict[str, Tensor]:
        """Parameter name (as in one net's ``state_dict``) → stacked (S, ...) tensor."""
        return dict(zip(self.names, self.stacked, strict=True))

    def seed_state(self, i: int) -> dict[str, Tensor]:
        """Seed i's net as a ``state_dict`` (detached copies), loadable into one plain net."""
        return {k: v[i].detach().clone() for k, v in self.named_stacked().items()}

    def forward(self, x: Tensor, *, start: int = 0, dtype: torch.dtype | None = None) -> Tensor:
        """Layers ``start:`` of the net on x; ``dtype`` casts the parameters (e.g. float64 for an
        exact evaluation pass; gradients still flow back to the stored parameters).

        The layers run feature-major, on (S, features, B) activations: each Linear is one
        ``baddbmm`` of (S, out, in) weights with (S, in, B) inputs, whose long side B is the one
        a batched GEMM uses well. The result is returned as the (S, B, out) transpose of the
        (S, out, B) output: ``logits.transpose(1, 2)`` is contiguous again, with the classes in
        dim 1, as ``F.cross_entropy`` takes them for (S, C, B) inputs and (S, B) targets (see
        :func:`cross_entropy`).
        """
        if not 0 <= start < len(self._plan):
            raise ValueError(f"start must lie in [0, {len(self._plan)}), got {start}")
        params = list(self.stacked)
        if dtype is not None:  # cast only the parameters of the layers that run
            first = self._plan[start][1]
            params[first:] = [p.to(dtype) for p in params[first:]]
        h = x.transpose(1, 2) if x.is_floating_point() else x  # (S, in, B): a view; or token ids
        for layer, first in self._plan[start:]:
            if isinstance(layer, nn.Embedding):
                h = embed(params[first], h).transpose(1, 2)
            elif isinstance(layer, nn.Linear):
                h = torch.baddbmm(params[first + 1].unsqueeze(2), params[first], h)
            else:
                h = layer(h)
        return h.transpose(1, 2)

    def flat(self) -> nn.Module:
        """This model as a plain classifier of (S·B, in) inputs: row s·B + b is seed s's input b.

        For code written for one net, such as :func:`upnn.attacks.attack`: one call attacks all
        seeds at once (each sample's gradient only involves its own seed's parameters).
        """
        return _Flat(self)


class _Flat(nn.Module):
    def __init__(self, stacked: Stacked) -> None:
        super().__init__()
        self.stacked = stacked

    def forward(self, x: Tensor) -> Tensor:
        s = self.stacked.n_seeds
        out = self.stacked(x.reshape(s, x.shape[0] // s, *x.shape[1:]))
        return out.reshape(x.shape[0], *out.shape[2:])


def share(x: Tensor, n_seeds: int) -> Tensor:
    """The same inputs for every seed: (B, ...) → (S, B, ...) without a copy."""
    return x.unsqueeze(0).expand(n_seeds, *x.shape)


def adam(params, lr: float, device: torch.device) -> torch.optim.Adam:
    """Adam, fused into one kernel per tensor where PyTorch has that (CPU, CUDA): it is
    elementwise either way, which is what makes stacked training equal to per-seed training."""
    return torch.optim.Adam(params, lr=lr, fused=device.type in ("cpu", "cuda"))


def permutations(n: int, gens: Sequence[torch.Generator], device: torch.device) -> Tensor:
    """(S, n): one ``torch.randperm(n, generator=g)`` per seed, as upnn.train.train_epoch draws it."""
    return torch.stack([torch.randperm(n, generator=g) for g in gens]).to(device)


def cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    """(S, B) cross-entropies of (S, B, C) logits (as :meth:`Stacked.forward` returns them) and
    (S, B) labels, with the classes in dim 1 of the contiguous (S, C, B) layout."""
    return F.cross_entropy(logits.transpose(1, 2), y, reduction="none")


def predict(logits: Tensor) -> Tensor:
    """(S, B) predicted classes (first maximum) of (S, B, C) logits from :meth:`Stacked.forward`,
    reduced along dim 1 of their contiguous (S, C, B) layout by ``max`` (on a CPU faster than
    ``argmax`` there; docs/toy2d_words.md)."""
    return logits.transpose(1, 2).max(1).indices


def batch(x: Tensor, y: Tensor, idx: Tensor) -> tuple[Tensor, Tensor]:
    """Every seed's batch of shared data: (x[idx], y[idx]) for (S, B) indices idx, each by one
    ``index_select`` (advanced indexing costs more on a CPU)."""
    flat = idx.flatten()
    return (x.index_select(0, flat).view(*idx.shape, *x.shape[1:]),
            y.index_select(0, flat).view(idx.shape))


def train_epoch(model: Stacked, opt: torch.optim.Optimizer, x: Tensor, y: Tensor,
                gens: Sequence[torch.Generator], batch_size: int) -> Tensor:
    """One epoch of every seed over its own permutation of (x, y); returns the (S,) mean losses.

    x: (N, ...) inputs shared by all seeds, y: (N,) labels. Seed s's step on batch k is exactly
    ``upnn.train.train_epoch``'s step k with generator gens[s]: mean cross-entropy of the batch.
    One backward of L = Σ_s mean_b loss[s, b] gives every seed its own gradient.
    """
    if len(gens) != model.n_seeds:
        raise ValueError(f"need one generator per seed ({model.n_seeds}), got {len(gens)}")
    model.train()
    n = len(y)
    perms = permutations(n, gens, x.device)
    losses = []
    for i in range(0, n, batch_size):
        xb, yb = batch(x, y, perms[:, i:i + batch_size])
        loss = cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.mean(1).sum().backward()
        opt.step()
        losses.append(loss.detach())
    return torch.cat(losses, 1).mean(1)
