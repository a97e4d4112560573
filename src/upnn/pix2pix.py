"""Pix2Pix (Isola et al., CVPR 2017) learning the IFA map X_0 -> Delta_N (arXiv 2205.01493 v2).

The generator G is a U-Net whose Tanh output is multiplied by a registered buffer ``scale`` (the
largest |Delta| of the training targets), so G(X_0) lives in Delta's range.  The discriminator is a
PatchGAN over concatenated (X_0, Delta) pairs.  Training is the standard pix2pix objective

    L_G = BCE(D(X, G(X)), 1) + lambda * |G(X) - Delta|_1          (lambda = 100)
    L_D = [BCE(D(X, Delta), 1) + BCE(D(X, G(X)), 0)] / 2

with Adam(lr=2e-4, betas=(0.5, 0.999)).  ``CombinedNet`` is the paper's TCL(X) =
classifier(X + G(X)), differentiable end to end (white-box attacks see through G).
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from upnn import attacks, checkpoint, io
from upnn.device import device_of
from upnn.models import accuracy, eval_mode, robust_accuracy

__all__ = [
    "CombinedNet",
    "PatchDiscriminator",
    "fingerprint",
    "UNetGenerator",
    "l1_error",
    "load_generator",
    "make_optimizers",
    "predict",
    "strip_checkpoint",
    "train_pix2pix",
    "train_step",
]


def init_weights(module: nn.Module, generator: torch.Generator | None = None) -> None:
    """pix2pix init: conv weights ~ N(0, 0.02), BatchNorm weights ~ N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, 0.02, generator=generator)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02, generator=generator)
            nn.init.zeros_(m.bias)


class UNetGenerator(nn.Module):
    """pix2pix U-Net (Isola et al. 2017, Sec. 3.2.1 / appendix 6.1.1) sized for small images.

    The input is zero-padded to ``2**k`` pixels (k = ceil(log2(image_size))), so 28x28 runs as
    32x32 and the output is cropped back: output shape == input shape.  ``depth`` (default k)
    down-sampling levels, Conv4x4 stride 2 each; for 32x32 that is 5 levels to a 1x1 bottleneck.

    Encoder: C{base}-C{2b}-C{4b}-C{8b}-C{8b}..., LeakyReLU(0.2) before every conv but the first,
    BatchNorm after every conv but the outermost and the innermost (as in the reference code).
    Decoder: ReLU, ConvTranspose4x4 stride 2, BatchNorm, Dropout(0.5) in the first
    ``n_dropout`` (default min(3, depth - 2)) decoder layers counted from the bottleneck (the
    paper's CD512-CD512-CD512), skip connections by channel concatenation, Tanh at the output,
    multiplied by the buffer ``scale`` (saved in the state dict).
    """

    scale: Tensor

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        image_size: int,
        base: int = 64,
        depth: int | None = None,
        *,
        n_dropout: int | None = None,
        scale: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        k = max(1, math.ceil(math.log2(image_size)))
        depth = k if depth is None else depth
        if depth < 2:
            raise ValueError(f"depth must be >= 2, got {depth}")
        step = 2**depth
        self.image_size = image_size
        self.padded_size = math.ceil(image_size / step) * step
        self.depth = depth
        n_dropout = min(3, depth - 2) if n_dropout is None else n_dropout
        chans = [base * min(2**i, 8) for i in range(depth)]

        self.down = nn.ModuleList()
        for i in range(depth):
            norm = 0 < i < depth - 1
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]
            cin = in_channels if i == 0 else chans[i - 1]
            layers.append(nn.Conv2d(cin, chans[i], 4, 2, 1, bias=not norm))
            if norm:
                layers.append(nn.BatchNorm2d(chans[i]))
            self.down.append(nn.Sequential(*layers))

        self.up = nn.ModuleList()  # up[0] is innermost, up[-1] outermost
        for i in reversed(range(depth)):
            cin = chans[i] if i == depth - 1 else 2 * chans[i]
            cout = out_channels if i == 0 else chans[i - 1]
            layers = [nn.ReLU(), nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=i == 0)]
            if i == 0:
                layers.append(nn.Tanh())
            else:
                layers.append(nn.BatchNorm2d(cout))
                if depth - 1 - i < n_dropout:
                    layers.append(nn.Dropout(0.5))
            self.up.append(nn.Sequential(*layers))

        self.register_buffer("scale", torch.tensor(float(scale)))
        init_weights(self, generator)

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[-1]
        pad = self.padded_size - size
        if pad:
            x = F.pad(x, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2))
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        x = self.up[0](skips[-1])
        for layer, skip in zip(self.up[1:], reversed(skips[:-1]), strict=True):
            x = layer(torch.cat([skip, x], dim=1))
        if pad:
            x = x[..., pad // 2 : pad // 2 + size, pad // 2 : pad // 2 + size]
        return x * self.scale


def patch_map_size(image_size: int, n_layers: int) -> int:
    """Side of PatchDiscriminator's logit map: n_layers stride-2 convs, then two stride-1 convs."""
    s = image_size
    for _ in range(n_layers):
        s = (s + 2 - 4) // 2 + 1
    return s - 2


class PatchDiscriminator(nn.Module):
    """PatchGAN discriminator (pix2pix ``NLayerDiscriminator``) on concatenated (X_0, Delta).

    C{base} (no norm) - C{2b} - ... with Conv4x4 stride 2 for ``n_layers`` layers, then a stride-1
    C{..} and a stride-1 conv to one channel; BatchNorm after all but the first conv, LeakyReLU 0.2.
    Default ``n_layers = min(3, floor(log2(image_size)) - 2)``: 3 for 32x32 (2x2 logit map, 70x70
    receptive field as in the paper's 70x70 PatchGAN), 2 for 28x28 (5x5 map).  Returns logits.
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        base: int = 64,
        n_layers: int | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if n_layers is None:
            n_layers = max(1, min(3, int(math.log2(image_size)) - 2))
        if patch_map_size(image_size, n_layers) < 1:
            raise ValueError(f"n_layers={n_layers} is too deep for {image_size}x{image_size}")
        layers: list[nn.Module] = [nn.Conv2d(in_channels, base, 4, 2, 1), nn.LeakyReLU(0.2)]
        cin = base
        for i in range(1, n_layers + 1):
            cout = base * min(2**i, 8)
            stride = 2 if i < n_layers else 1
            layers += [
                nn.Conv2d(cin, cout, 4, stride, 1, bias=False),
                nn.BatchNorm2d(cout),
                nn.LeakyReLU(0.2),
            ]
            cin = cout
        layers.append(nn.Conv2d(cin, 1, 4, 1, 1))
        self.n_layers = n_layers
        self.net = nn.Sequential(*layers)
        init_weights(self, generator)

    def forward(self, pair: Tensor) -> Tensor:
        return self.net(pair)


def make_optimizers(
    G: nn.Module, D: nn.Module, lr: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999)
) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam for G and D with the pix2pix settings."""
    return torch.optim.Adam(G.parameters(), lr=lr, betas=betas), torch.optim.Adam(
        D.parameters(), lr=lr, betas=betas
    )


def train_step(
    G: nn.Module,
    D: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    x: Tensor,
    delta: Tensor,
    *,
    lambda_l1: float = 100.0,
) -> dict[str, float]:
    """One pix2pix step (D then G) on a batch (X_0, Delta); modules' modes are left as they are.

    D minimises [BCE(D(X, Delta), 1) + BCE(D(X, G(X)), 0)] / 2; G minimises
    BCE(D(X, G(X)), 1) + lambda_l1 * mean|G(X) - Delta|.  Returns g_gan, g_l1, d_loss.
    """
    fake = G(x)

    opt_d.zero_grad(set_to_none=True)
    logit_real = D(torch.cat([x, delta], dim=1))
    logit_fake = D(torch.cat([x, fake.detach()], dim=1))
    d_loss = 0.5 * (
        F.binary_cross_entropy_with_logits(logit_real, torch.ones_like(logit_real))
        + F.binary_cross_entropy_with_logits(logit_fake, torch.zeros_like(logit_fake))
    )
    d_loss.backward()
    opt_d.step()

    opt_g.zero_grad(set_to_none=True)
    flags = [p.requires_grad for p in D.parameters()]
    for p in D.parameters():
        p.requires_grad_(False)
    try:
        logit = D(torch.cat([x, fake], dim=1))
        g_gan = F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))
        g_l1 = F.l1_loss(fake, delta)
        (g_gan + lambda_l1 * g_l1).backward()
    finally:
        for p, flag in zip(D.parameters(), flags, strict=True):
            p.requires_grad_(flag)
    opt_g.step()
    return {"g_gan": g_gan.item(), "g_l1": g_l1.item(), "d_loss": d_loss.item()}


@torch.no_grad()
def predict(G: nn.Module, x: Tensor, batch_size: int = 1024) -> Tensor:
    """G(x) in eval mode (no dropout, BatchNorm running stats), chunked on G's device.

    Returns a tensor on ``x``'s device.
    """
    device = device_of(G, x.device)
    with eval_mode(G):
        parts = [G(x[i : i + batch_size].to(device)).to(x.device) for i in range(0, len(x), batch_size)]
    return torch.cat(parts) if parts else torch.empty_like(x[:, :0])


@torch.no_grad()
def l1_error(G: nn.Module, x: Tensor, delta: Tensor, batch_size: int = 1024) -> float:
    """mean |G(X_0) - Delta| over all elements (eval mode, chunked)."""
    device = device_of(G, x.device)
    total = 0.0
    with eval_mode(G):
        for i in range(0, len(x), batch_size):
            out = G(x[i : i + batch_size].to(device))
            total += (out - delta[i : i + batch_size].to(device)).abs().sum().item()
    return total / max(delta.numel(), 1)


class CombinedNet(nn.Module):
    """TCL(X) = classifier(X + G(X)) (arXiv 2205.01493 v2).

    The classifier sees the input plus the generator's predicted IFA perturbation.  Fully
    differentiable, so gradients w.r.t. X flow through G (white-box); ``.eval()`` also switches G
    to eval mode (no dropout).
    """

    def __init__(self, classifier: nn.Module, generator: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(x + self.generator(x))


def fingerprint(x: Tensor, delta: Tensor, **settings: object) -> str:
    """The fingerprint (:func:`upnn.io.fingerprint`) of the training pairs (X_0, Delta) and the
    settings of a run: :func:`train_pix2pix` claims its checkpoint folder with it, so checkpoints
    of other pairs or settings are moved aside, never resumed."""
    return io.fingerprint(settings, tensors=(x, delta))


def load_generator(path: str | os.PathLike, device: str | torch.device = "cpu") -> UNetGenerator:
    """Rebuild the trained U-Net from a ``train_pix2pix`` checkpoint."""
    ckpt = checkpoint.load(path, map_location=device)
    c = ckpt["config"]
    G = UNetGenerator(c["in_channels"], c["out_channels"], c["image_size"], c["base"], c["depth"])
    G.load_state_dict(ckpt["generator"])
    return G.to(device)


def strip_checkpoint(path: str | os.PathLike) -> None:
    """Keep only what :func:`load_generator` needs (G, config, epoch, history) in a checkpoint.

    For the per-epoch checkpoints of a finished run: D and both Adam states are only needed to
    resume from the newest one, and they are ~2/3 of a checkpoint. Rewritten atomically.
    """
    ckpt = checkpoint.load(path)
    keep = {k: ckpt[k] for k in ("epoch", "config", "generator", "history") if k in ckpt}
    checkpoint.save(keep, path)


def train_pix2pix(
    x: Tensor,
    delta: Tensor,
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    device: str | torch.device,
    checkpoint_dir: str | os.PathLike,
    x_test: Tensor | None = None,
    delta_test: Tensor | None = None,
    progress: bool = False,
    base: int = 64,
    lr: float = 2e-4,
    lambda_l1: float = 100.0,
) -> list[dict]:
    """Train pix2pix on (X_0, Delta) pairs with per-epoch, resumable checkpoints.

    After every epoch ``{checkpoint_dir}/epoch{NNN:03d}.pt`` is written atomically
    (:func:`upnn.checkpoint.save`) holding G, D, both Adam states, the state of the local
    generator that shuffles the data, the (forked) global RNG state that drives dropout, the
    config and the history so far.  The folder is claimed for the fingerprint of the pairs and
    settings (:func:`fingerprint`; checkpoints of others are moved aside) and resumed from the
    newest checkpoint with epoch <= ``epochs`` (:func:`upnn.checkpoint.resume`), so an
    interrupted and resumed run
    reproduces the uninterrupted one exactly (on CPU; on CUDA up to cuDNN nondeterminism).  All
    use of the global RNG (torch's default layer init, overwritten by the seeded pix2pix init;
    dropout) happens inside ``torch.random.fork_rng``: the caller's RNG state is left untouched.

    G's ``scale`` buffer is set to max |Delta| of the training targets.  The final generator can be
    loaded with ``load_generator(checkpoint_dir / f"epoch{epochs:03d}.pt")``.

    Returns:
        one row per epoch: {"epoch", "g_gan", "g_l1", "d_loss", "test_l1", "seconds"} (losses are
        sample-weighted epoch means; ``test_l1`` is ``l1_error`` on the test pair or None).
    """
    device = torch.device(device)
    ckpt_dir = Path(checkpoint_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    n, c_in, size = x.shape[0], x.shape[1], x.shape[-1]
    c_out = delta.shape[1]
    cuda = device.type == "cuda"
    cuda_index = None
    if cuda:
        cuda_index = device.index if device.index is not None else torch.cuda.current_device()
    shuffle_gen = torch.Generator().manual_seed(seed)
    init_gen = torch.Generator().manual_seed(seed)

    with torch.random.fork_rng(devices=[cuda_index] if cuda else []):
        torch.default_generator.manual_seed(seed + 1)
        if cuda:
            with torch.cuda.device(cuda_index):
                torch.cuda.manual_seed(seed + 1)

        scale = float(delta.abs().max()) if n else 1.0
        G = UNetGenerator(c_in, c_out, size, base, scale=scale, generator=init_gen).to(device)
        D = PatchDiscriminator(c_in + c_out, size, base, generator=init_gen).to(device)
        opt_g, opt_d = make_optimizers(G, D, lr=lr)
        config = {
            "in_channels": c_in,
            "out_channels": c_out,
            "image_size": size,
            "base": base,
            "depth": G.depth,
            "n_layers": D.n_layers,
            "seed": seed,
            "batch_size": batch_size,
            "lr": lr,
            "lambda_l1": lambda_l1,
            "n_train": n,
        }

        history: list[dict] = []
        checkpoint.claim(ckpt_dir, fingerprint(x, delta, **config))
        start, ckpt = checkpoint.resume(ckpt_dir, epochs,
                                        check=lambda c: c["config"] == config)
        if ckpt is not None:
            G.load_state_dict(ckpt["generator"])
            D.load_state_dict(ckpt["discriminator"])
            opt_g.load_state_dict(ckpt["opt_g"])
            opt_d.load_state_dict(ckpt["opt_d"])
            checkpoint.restore_rng(ckpt, shuffle_gen, device)
            history = list(ckpt["history"])

        epoch_iter = range(len(history) + 1, epochs + 1)
        if progress:
            from tqdm.auto import tqdm

            epoch_iter = tqdm(epoch_iter, desc="pix2pix", unit="epoch", initial=len(history),
                              total=epochs)
        for epoch in epoch_iter:
            t0 = time.perf_counter()
            G.train()
            D.train()
            perm = torch.randperm(n, generator=shuffle_gen).to(x.device)
            sums = {"g_gan": 0.0, "g_l1": 0.0, "d_loss": 0.0}
            for i in range(0, n, batch_size):
                idx = perm[i : i + batch_size]
                xb, db = x[idx].to(device), delta[idx].to(device)
                for k, v in train_step(G, D, opt_g, opt_d, xb, db, lambda_l1=lambda_l1).items():
                    sums[k] += v * len(idx)
            test_l1 = None
            if x_test is not None and delta_test is not None:
                test_l1 = l1_error(G, x_test, delta_test)
            row = {"epoch": epoch, **{k: v / max(n, 1) for k, v in sums.items()}}
            row |= {"test_l1": test_l1, "seconds": time.perf_counter() - t0}
            history.append(row)
            if progress:
                epoch_iter.set_postfix(g_l1=row["g_l1"], d_loss=row["d_loss"])
            state = {
                "epoch": epoch,
                "config": config,
                "generator": G.state_dict(),
                "discriminator": D.state_dict(),
                "opt_g": opt_g.state_dict(),
                "opt_d": opt_d.state_dict(),
                **checkpoint.rng_state(shuffle_gen, device),
                "history": history,
            }
            checkpoint.save(state, checkpoint.path(ckpt_dir, epoch))
    return history


def cl_tcl(classifier: nn.Module, generator: nn.Module, x: Tensor, y: Tensor, *, attack_eps: float,
           batch_size: int = 512) -> dict[str, dict[str, float]]:
    """v3 Fig. 6: TA and RA on (x, y) of the classifier alone (CL) and of the combined classifier
    TCL(x) = CL(x + G(x)) (:class:`CombinedNet`). RA is the accuracy under ``ifgsm`` (4 steps of
    ε/4, l∞, box [0, 1]) with gradients through G (white box). Returns {"CL": {"accuracy",
    "robust_accuracy"}, "TCL": {...}}."""
    nets = {"CL": classifier, "TCL": CombinedNet(classifier, generator).eval()}
    out = {}
    for name, net in nets.items():
        x_adv = attacks.attack_batched("ifgsm", net, x, y, attack_eps, batch_size=batch_size,
                                       bounds=(0.0, 1.0))
        out[name] = {"accuracy": accuracy(net, x, y, batch_size),
                     "robust_accuracy": robust_accuracy(net, x, x_adv, y, batch_size)}
    return out
