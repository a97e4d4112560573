"""Many seeds of one small net, trained together as one batched model.

Each seed's net is first built alone as a plain ``nn.Sequential`` (:func:`mlp`,
:func:`embedding_mlp`), initialised from its own ``torch.Generator``; the S nets are then stacked
parameter by parameter with ``torch.func.stack_module_state`` (every parameter gains a leading
seed dimension) into one :class:`Stacked` module. Its forward maps (S, B, ...) to (S, B, out) and
computes exactly ``torch.func.vmap(functional_call(net, params_s, x_s))`` over the seeds, but
with one batched matmul per layer (``torch.baddbmm``, feature-major) instead of vmap's
per-operator batching rules, which on a CPU cost about four times as much as the arithmetic for
nets this small (bench/stacked.py prints a loop over seeds, vmap, and this).

Training: the loss is the sum over seeds of each seed's mean cross-entropy, so the gradient of a
seed's slice is that seed's own gradient, and Adam is elementwise, so one Adam over the stacked
tensors performs S independent Adams. The gradients come from :func:`loss_and_grads`,
backpropagation written out for these layers (autograd's per-node cost is a large part of a
step this small). With each seed's batch order drawn from its own generator (as
:func:`upnn.train.train_epoch` draws it) the stacked run ends at the weights that training every
seed alone reaches (tests/test_stacked.py checks this against ``upnn.train.train_epoch``).
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
# The same activations applied in place: a Linear's output is not needed by its backward.
_INPLACE = {nn.ReLU: torch.relu_, nn.Tanh: torch.tanh_, nn.Sigmoid: torch.sigmoid_}
# δ ← δ ⊙ φ'(z) in place, with φ' read from the activation's output a = φ(z):
# relu' = [a > 0] = sign(a) for a >= 0 (a multiply: where/masked_fill with a bool mask cost 20
# times more on a CPU), tanh' = 1 − a², sigmoid' = a(1 − a).
_BACKWARD = {
    nn.ReLU: lambda delta, a: delta.mul_(a.sign()),
    nn.Tanh: lambda delta, a: delta.mul_(1 - a * a),
    nn.Sigmoid: lambda delta, a: delta.mul_(a * (1 - a)),
}


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
    ``index_add``; plain advanced indexing ``table[arange(S)[:, None], ids]`` computes the same
    but costs several times more on a CPU, forward and backward.
    """
    s, v, e = table.shape
    return table.reshape(s * v, e).index_select(0, _table_rows(ids, v)).view(s, -1, e)


def _table_rows(ids: Tensor, vocab: int) -> Tensor:
    """(S·B,) rows of the (S·V, E) view of a stacked table for (S, B) per-seed token ids."""
    return (ids + torch.arange(ids.shape[0], device=ids.device).unsqueeze(1) * vocab).flatten()


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
        a batched GEMM uses well, and the activation after it works in place. The result is
        returned as the (S, B, out) transpose of the (S, out, B) output: ``logits.transpose(1, 2)``
        is contiguous again, with the classes in dim 1, as ``F.cross_entropy`` takes them for
        (S, C, B) inputs and (S, B) targets (see :func:`train_epoch`).
        """
        if not 0 <= start < len(self._plan):
            raise ValueError(f"start must lie in [0, {len(self._plan)}), got {start}")
        params = list(self.stacked)
        if dtype is not None:  # cast only the parameters of the layers that run
            first = self._plan[start][1]
            params[first:] = [p.to(dtype) for p in params[first:]]
        return self.run(x, params, start).transpose(1, 2)

    def run(self, x: Tensor, params: Sequence[Tensor], start: int = 0,
            saved: list[Tensor] | None = None) -> Tensor:
        """Layers ``start:`` on x with ``params`` (``self.stacked``, possibly cast): the
        feature-major (S, out, B) result. ``saved``, if given, receives what
        :func:`loss_and_grads` needs per layer: a Linear's or Embedding's input, an activation's
        output."""
        h = x.transpose(1, 2) if x.is_floating_point() else x  # (S, in, B): a view; or token ids
        fresh = False  # h is a Linear's own output, so an activation may overwrite it
        for layer, first in self._plan[start:]:
            if isinstance(layer, nn.Embedding):
                if saved is not None:
                    saved.append(h)
                h = embed(params[first], h).transpose(1, 2)
            elif isinstance(layer, nn.Linear):
                if saved is not None:
                    saved.append(h)
                h = torch.baddbmm(params[first + 1].unsqueeze(2), params[first], h)
            else:
                h = _INPLACE[type(layer)](h) if fresh else layer(h)
                if saved is not None:
                    saved.append(h)
            fresh = isinstance(layer, nn.Linear)
        return h

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
    reduced along dim 1 of their contiguous (S, C, B) layout by ``max``: on a CPU, ``argmax``
    over that dim, or over the last dim of the transposed view, costs 20 times more."""
    return logits.transpose(1, 2).max(1).indices


@torch.no_grad()
def loss_and_grads(model: Stacked, x: Tensor, y: Tensor) -> tuple[Tensor, list[Tensor]]:
    """(S, B) cross-entropies of :meth:`Stacked.forward` on x with labels y (S, B), and the
    gradient of L = Σ_s mean_b loss[s, b] for every stacked parameter (in ``model.stacked``
    order), by backpropagation written out layer by layer instead of autograd.

    ∂L/∂o = (softmax(o) − onehot(y)) / B at the logits o; then, from the last layer down, for a
    Linear h' = W h + b: ∂W = δ hᵀ, ∂b = Σ_b δ, δ ← Wᵀ δ; for an activation a = φ(z):
    δ ← δ ⊙ φ'(z), read from a (``_BACKWARD``); for an Embedding: ∂table[s, ids[s, b]] += δ
    (one ``index_add``). Feature-major (S, features, B) throughout, as in the forward. The same
    numbers as ``loss.sum().backward()`` up to float rounding (tests/test_stacked.py), in about 60 %
    of its time for the toy's nets: autograd's per-node cost is most of a step this small.
    """
    params = list(model.stacked)
    saved: list[Tensor] = []
    h = model.run(x, params, saved=saved)
    logp = h.log_softmax(1)  # (S, C, B)
    loss = -logp.gather(1, y.unsqueeze(1)).squeeze(1)
    delta = logp.exp_().scatter_add_(1, y.unsqueeze(1), torch.full_like(logp[:, :1], -1.0))
    delta /= y.shape[1]
    grads: list[Tensor] = [torch.empty(0)] * len(params)
    for i in range(len(model._plan) - 1, -1, -1):
        layer, first = model._plan[i]
        if isinstance(layer, nn.Linear):
            w = params[first]
            grads[first] = torch.bmm(delta, saved[i].transpose(1, 2))
            grads[first + 1] = delta.sum(2)
            if i > 0:
                delta = torch.bmm(w.transpose(1, 2), delta)
        elif isinstance(layer, nn.Embedding):
            table = params[first]
            n_seeds, vocab, e = table.shape
            rows = delta.transpose(1, 2).reshape(-1, e)  # (S·B, E), as embed's index_select
            grads[first] = table.new_zeros(n_seeds * vocab, e).index_add_(
                0, _table_rows(saved[i], vocab), rows).view_as(table)
        else:
            delta = _BACKWARD[type(layer)](delta, saved[i])
    return loss, grads


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
    """
    if len(gens) != model.n_seeds:
        raise ValueError(f"need one generator per seed ({model.n_seeds}), got {len(gens)}")
    model.train()
    n = len(y)
    perms = permutations(n, gens, x.device)
    losses = []
    for i in range(0, n, batch_size):
        loss, grads = loss_and_grads(model, *batch(x, y, perms[:, i:i + batch_size]))
        for param, grad in zip(model.stacked, grads, strict=True):
            param.grad = grad
        opt.step()
        losses.append(loss)
    return torch.cat(losses, 1).mean(1)
