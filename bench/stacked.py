"""Benchmark upnn.stacked: all seeds as one batched model vs a Python loop over seeds, in one run.

    python bench/stacked.py [--device auto] [--threads 1] [--epochs 20] [--repeat 3]

For the 2-D toy (5 seeds, default config sizes) and the words stage (10 seeds, embedding size 16)
it prints epochs per second of

* sequential: one plain ``nn.Sequential`` per seed, ``upnn.train.train_epoch`` and the per-seed
  metrics (toy: accuracy, ``attacks.attack`` and ``packets.network_moments`` per label;
  words: the embedding/gradient cosine), seed after seed;
* batched: ``upnn.stacked.Stacked`` and ``stacked.train_epoch`` (what the pipeline runs): one
  autograd step for all seeds;
* an alternative, training only: ``torch.func.vmap`` over ``functional_call`` with the stacked
  parameters (the textbook way, to show why Stacked uses batched matmuls instead);

for training alone and for a full epoch (training + the stage's per-epoch metrics), and the
ratios to sequential. Timings are the best of --repeat runs of --epochs epochs each.
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap

from upnn import attacks, models, packets, stacked, toy2d, train, words
from upnn.device import resolve


def best_rate(fn: Callable[[], object], epochs: int, repeat: int, device: torch.device) -> float:
    """Epochs per second: the fastest of `repeat` timed runs of `epochs` calls (after a warm-up)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(epochs):
            fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return epochs / best


class VmapModel:
    """The stacked parameters driven through torch.func.vmap(functional_call(net))."""

    def __init__(self, nets: list[torch.nn.Module], lr: float, device: torch.device) -> None:
        params, _ = stack_module_state(nets)
        self.names = list(params)
        self.params = [p.detach().to(device).requires_grad_(True) for p in params.values()]
        base = copy.deepcopy(nets[0]).to("meta")
        self.fn = vmap(lambda p, x: functional_call(base, dict(zip(self.names, p, strict=True)), (x,)),
                       in_dims=(0, 0))
        self.opt = stacked.adam(self.params, lr, device)

    def train_epoch(self, x: torch.Tensor, y: torch.Tensor, gens: list[torch.Generator],
                    batch_size: int) -> None:
        perms = stacked.permutations(len(y), gens, x.device)
        for i in range(0, len(y), batch_size):
            idx = perms[:, i:i + batch_size]
            logits = self.fn(self.params, x[idx])
            loss = F.cross_entropy(logits.flatten(0, 1), y[idx].flatten(), reduction="none")
            self.opt.zero_grad(set_to_none=True)
            loss.view(idx.shape).mean(1).sum().backward()
            self.opt.step()


def compare(name: str, seq: dict[str, Callable], bat: dict[str, Callable],
            alternatives: dict[str, Callable], args: argparse.Namespace, device: torch.device) -> None:
    """Print epochs/s and ratios to sequential: training for all, full epoch for seq and batched."""
    print(f"\n[{name}]")
    train = {"sequential": seq["train"], "batched": bat["train"], **alternatives}
    rates = {k: best_rate(f, args.epochs, args.repeat, device) for k, f in train.items()}
    full = {k: best_rate(f, args.epochs, args.repeat, device)
            for k, f in (("sequential", seq["full"]), ("batched", bat["full"]))}
    print(f"  {'epochs/s':22}" + "".join(f"{k:>19}" for k in rates))
    for label, row in (("training", rates), ("full epoch", full)):
        cells = [f"{row[k]:9.1f} ({row[k] / row['sequential']:4.1f}x)" if k in row else "-"
                 for k in rates]
        print(f"  {label:22}" + "".join(f"{c:>19}" for c in cells))


def alternatives(build: Callable[[int], torch.nn.Sequential], ids: tuple[int, ...], lr: float,
                 x: torch.Tensor, y: torch.Tensor, batch_size: int,
                 device: torch.device) -> dict[str, Callable]:
    """The training-only alternative (vmap), on fresh nets of the same seeds."""
    vm = VmapModel([build(s) for s in ids], lr, device)
    gens_v = [torch.Generator().manual_seed(s) for s in ids]
    return {"vmap": lambda: vm.train_epoch(x, y, gens_v, batch_size)}


def bench_toy(args: argparse.Namespace, device: torch.device) -> None:
    cfg = toy2d.ToyConfig()
    x_tr, y_tr, x_te, y_te = toy2d.datasets(cfg, device)
    ids = cfg.seeds
    nets = [toy2d.build(cfg, s).to(device) for s in ids]
    opts = [stacked.adam(n.parameters(), cfg.lr, device) for n in nets]
    gens_seq = [torch.Generator().manual_seed(s) for s in ids]
    zero = torch.zeros(2, device=device)
    dims, lo, hi = (torch.tensor([0], device=device), torch.tensor([-1.0], device=device),
                    torch.tensor([1.0], device=device))

    def seq_train() -> None:
        for net, opt, g in zip(nets, opts, gens_seq, strict=True):
            train.train_epoch(net, opt, x_tr, y_tr, cfg.batch_size, g)

    def seq_full() -> None:
        for net, opt, g in zip(nets, opts, gens_seq, strict=True):
            train.train_epoch(net, opt, x_tr, y_tr, cfg.batch_size, g)
            models.accuracy(net, x_te, y_te)
            adv = attacks.attack(cfg.attack, net, x_te, y_te, cfg.eps, steps=cfg.attack_steps,
                                 bounds=toy2d.BOX)
            models.accuracy(net, adv, y_te)
            for label in (0, 1):
                packets.network_moments(net, zero, label, dims, lo, hi, method="quadrature",
                                        n_points=cfg.n_points)

    model = stacked.Stacked([toy2d.build(cfg, s) for s in ids]).to(device)
    opt = stacked.adam(model.parameters(), cfg.lr, device)
    gens_bat = [torch.Generator().manual_seed(s) for s in ids]

    def bat_train() -> None:
        stacked.train_epoch(model, opt, x_tr, y_tr, gens_bat, cfg.batch_size)

    def bat_full() -> None:
        stacked.train_epoch(model, opt, x_tr, y_tr, gens_bat, cfg.batch_size)
        model.eval()
        toy2d.test_accuracy(model, x_te, y_te)
        toy2d.robust_accuracy(model, x_te, y_te, cfg.attack, cfg.eps, cfg.attack_steps)
        toy2d.spreads(model, cfg.n_points)

    compare(f"toy2d: {len(ids)} seeds, 2-{'-'.join([str(cfg.width)] * cfg.depth)}-2 {cfg.activation}, "
            f"{cfg.n_train} points, batch {cfg.batch_size}; metrics: TA, {cfg.attack} "
            f"({cfg.attack_steps} steps) on {cfg.n_test}, dx/dp ({cfg.n_points} points)",
            {"train": seq_train, "full": seq_full}, {"train": bat_train, "full": bat_full},
            alternatives(lambda s: toy2d.build(cfg, s), ids, cfg.lr, x_tr, y_tr, cfg.batch_size,
                         device), args, device)


def bench_words(args: argparse.Namespace, device: torch.device, size: int) -> None:
    cfg = words.WordsConfig()
    lex = words.read_lexicon(args.lexicon)
    y = words.targets(lex, device)
    ids_t = torch.arange(len(y), device=device)
    ids = cfg.seeds
    nets = [words.build(len(y), size, cfg, s).to(device) for s in ids]
    opts = [stacked.adam(n.parameters(), cfg.lr, device) for n in nets]
    gens_seq = [torch.Generator().manual_seed(s) for s in ids]

    def seq_train() -> None:
        for net, opt, g in zip(nets, opts, gens_seq, strict=True):
            train.train_epoch(net, opt, ids_t, y, cfg.batch_size, g)

    def seq_full() -> None:
        for net, opt, g in zip(nets, opts, gens_seq, strict=True):
            train.train_epoch(net, opt, ids_t, y, cfg.batch_size, g)
            emb = net[0].weight.detach().requires_grad_(True)
            logits = net[1:](emb)
            (grad,) = torch.autograd.grad(logits, emb,
                                          words.loss_gradient_direction(logits.detach(), y))
            words.summarize(F.cosine_similarity(emb.detach(), grad, dim=-1)[None],
                            (logits.detach().argmax(-1) == y)[None])

    model = stacked.Stacked([words.build(len(y), size, cfg, s) for s in ids]).to(device)
    opt = stacked.adam(model.parameters(), cfg.lr, device)
    gens_bat = [torch.Generator().manual_seed(s) for s in ids]

    def bat_train() -> None:
        stacked.train_epoch(model, opt, ids_t, y, gens_bat, cfg.batch_size)

    def bat_full() -> None:
        bat_train()
        model.eval()
        words.summarize(*words.embedding_gradient_cosine(model, y))

    compare(f"words: {len(ids)} seeds, {len(y)} words, embedding {size}, {cfg.depth}x{cfg.width} "
            f"{cfg.activation}, full batch; metrics: embedding/gradient cosine",
            {"train": seq_train, "full": seq_full}, {"train": bat_train, "full": bat_full},
            alternatives(lambda s: words.build(len(y), size, cfg, s), ids, cfg.lr, ids_t, y,
                         cfg.batch_size, device), args, device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (the rules use 1)")
    ap.add_argument("--epochs", type=int, default=20, help="epochs per timed run")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per case (best is kept)")
    ap.add_argument("--size", type=int, default=16, help="embedding size for the words case")
    ap.add_argument("--lexicon", default="data/words.csv")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve(args.device)
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    print(f"torch {torch.__version__} | device {device}{gpu} | threads {torch.get_num_threads()}")
    t0 = time.perf_counter()
    bench_toy(args, device)
    bench_words(args, device, args.size)
    print(f"\ntotal {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
