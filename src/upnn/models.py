"""The papers' four classifier families, each split as ``model(x) == model.head(model.features(x))``,
and a researcher's own net by reference (:func:`reference`).

Feature-level attacks and the feature-space uncertainty integrals need that split, so every
family is a :class:`Classifier` holding a ``features`` and a ``head`` module. ``width`` scales
every hidden channel count (1.0 = the papers' layers); the offline default uses smaller widths
so the pipeline fits on two CPU cores. A referenced net (``torchvision:NAME``, ``timm:NAME``,
``python:package.module:callable``) is split at its head module (``head``: a module path such as
``fc``; timm: its ``forward_features``/``forward_head``), with a stated ``normalize`` as the first
layer of ``features``, so attacks always see [0, 1] images (as torchattacks and AutoAttack ask).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

MODELS = ("cnn3", "cnn4", "resnet9", "googlenet")


class Classifier(nn.Module):
    """``head(features(x))``; ``meta`` records how to rebuild it from a checkpoint."""

    def __init__(self, features: nn.Module, head: nn.Module, meta: dict[str, Any]) -> None:
        super().__init__()
        self.features = features
        self.head = head
        self.meta = meta

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


def _ch(c: int, width: float) -> int:
    return max(1, round(c * width))


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Every submodule of ``model`` in eval mode inside; each module's own flag restored on exit
    (the one place that does this: attacks, prediction, packets and IFA use it)."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, flag in flags:
            m.training = flag


# Prediction and accuracy live beside eval_mode: every stage that scores a net comes here.


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, batch_size: int = 1024) -> Tensor:
    """Logits of ``x`` in eval mode, in chunks, without a graph; the training flag is restored."""
    with eval_mode(model):
        return torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1024) -> float:
    """Share of ``x`` that ``model`` classifies as ``y`` (test accuracy, TA, when x is the test set)."""
    if len(y) == 0:
        return float("nan")
    return (predict(model, x, batch_size).argmax(1) == y).float().mean().item()


def robust_accuracy(model: nn.Module, x: Tensor, x_adv: Tensor, y: Tensor,
                    batch_size: int = 1024) -> float:
    """RA: share of images classified as ``y`` both clean (``x``) and attacked (``x_adv``), so
    RA ≤ TA (AutoAttack's and RobustBench's definition, used by every stage)."""
    if len(y) == 0:
        return float("nan")
    ok = (predict(model, x, batch_size).argmax(1) == y) & \
        (predict(model, x_adv, batch_size).argmax(1) == y)
    return ok.float().mean().item()


def _feature_shape(features: nn.Module, in_channels: int, image_size: int) -> torch.Size:
    with torch.no_grad(), eval_mode(features):
        out = features(torch.zeros(1, in_channels, image_size, image_size))
    return out.shape[1:]


def cnn3(in_channels: int, image_size: int, num_classes: int, width: float) -> Classifier:
    """The papers' MNIST net: Conv(1→16,k5,s3,p1), Conv(16→64,k3,s2,p1), Conv(64→256,k3,s2,p1),
    ReLUs, then Linear(2304→10) (256·3·3 at 28×28). Features = the conv stack."""
    c1, c2, c3 = _ch(16, width), _ch(64, width), _ch(256, width)
    features = nn.Sequential(
        nn.Conv2d(in_channels, c1, 5, stride=3, padding=1), nn.ReLU(),
        nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(c2, c3, 3, stride=2, padding=1), nn.ReLU(),
    )
    n = _feature_shape(features, in_channels, image_size).numel()
    head = nn.Sequential(nn.Flatten(), nn.Linear(n, num_classes))
    return Classifier(features, head, {})


def cnn4(in_channels: int, image_size: int, num_classes: int, width: float) -> Classifier:
    """The papers' CIFAR net: four Conv k3 s2 (3→32→64→128→256) with ReLUs, Linear(256→64),
    ReLU, Linear(64→10). Inputs under 31 px (e.g. 28×28) are zero-padded to 32 first."""
    c = [in_channels] + [_ch(k, width) for k in (32, 64, 128, 256)]
    layers: list[nn.Module] = []
    if image_size < 31:
        pad = 32 - image_size
        layers.append(nn.ZeroPad2d((pad // 2, pad - pad // 2, pad // 2, pad - pad // 2)))
    for a, b in zip(c[:-1], c[1:], strict=True):
        layers += [nn.Conv2d(a, b, 3, stride=2), nn.ReLU()]
    features = nn.Sequential(*layers)
    n = _feature_shape(features, in_channels, image_size).numel()
    hidden = _ch(64, width)
    head = nn.Sequential(nn.Flatten(), nn.Linear(n, hidden), nn.ReLU(),
                         nn.Linear(hidden, num_classes))
    return Classifier(features, head, {})


def _conv_bn(a: int, b: int, pool: bool = False) -> nn.Sequential:
    layers = [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU()]
    return nn.Sequential(*layers, nn.MaxPool2d(2)) if pool else nn.Sequential(*layers)


class Residual(nn.Module):
    """x + block(x)."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x)


def resnet9(in_channels: int, image_size: int, num_classes: int, width: float) -> Classifier:
    """The papers' residual net: conv1 3→64, conv2 64→128 +pool, res1 2×(128→128), conv3
    128→256 +pool, conv4 256→512 +pool, res2 2×(512→512); head MaxPool(4)-Flatten-Linear(512→10)
    (the pool covers the whole final map: 4×4 at 32 px, 3×3 at 28 px)."""
    c64, c128, c256, c512 = (_ch(k, width) for k in (64, 128, 256, 512))
    features = nn.Sequential(
        _conv_bn(in_channels, c64),
        _conv_bn(c64, c128, pool=True),
        Residual(nn.Sequential(_conv_bn(c128, c128), _conv_bn(c128, c128))),
        _conv_bn(c128, c256, pool=True),
        _conv_bn(c256, c512, pool=True),
        Residual(nn.Sequential(_conv_bn(c512, c512), _conv_bn(c512, c512))),
    )
    shape = _feature_shape(features, in_channels, image_size)
    head = nn.Sequential(nn.MaxPool2d(shape[-1]), nn.Flatten(), nn.Linear(c512, num_classes))
    return Classifier(features, head, {})


class Inception(nn.Module):
    """GoogLeNet block (Szegedy et al. 2015): 1×1, 1×1→3×3, 1×1→3×3→3×3 (the 5×5), pool→1×1."""

    def __init__(self, a: int, n1: int, r3: int, n3: int, r5: int, n5: int, pp: int) -> None:
        super().__init__()

        def cbr(i: int, o: int, k: int) -> list[nn.Module]:
            return [nn.Conv2d(i, o, k, padding=k // 2, bias=False), nn.BatchNorm2d(o), nn.ReLU()]

        self.b1 = nn.Sequential(*cbr(a, n1, 1))
        self.b2 = nn.Sequential(*cbr(a, r3, 1), *cbr(r3, n3, 3))
        self.b3 = nn.Sequential(*cbr(a, r5, 1), *cbr(r5, n5, 3), *cbr(n5, n5, 3))
        self.b4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), *cbr(a, pp, 1))
        self.out_channels = n1 + n3 + n5 + pp

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], dim=1)


# (n1, r3, n3, r5, n5, pool) of GoogLeNet's inception 3a..5b; None = a stride-2 max pool.
_GOOGLENET = [
    (64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64), None,
    (192, 96, 208, 16, 48, 64), (160, 112, 224, 24, 64, 64), (128, 128, 256, 24, 64, 64),
    (112, 144, 288, 32, 64, 64), (256, 160, 320, 32, 128, 128), None,
    (256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128),
]


def googlenet(in_channels: int, image_size: int, num_classes: int, width: float) -> Classifier:
    """A CIFAR-size GoogLeNet: a 3×3 stem of 192 channels, inception 3a–5b with two stride-2
    pools, global average pool. Features end at the pooled vector; head = Linear(1024→10)."""
    stem = _ch(192, width)
    layers: list[nn.Module] = [nn.Conv2d(in_channels, stem, 3, padding=1, bias=False),
                               nn.BatchNorm2d(stem), nn.ReLU()]
    a = stem
    for spec in _GOOGLENET:
        if spec is None:
            layers.append(nn.MaxPool2d(3, stride=2, padding=1))
            continue
        block = Inception(a, *(_ch(k, width) for k in spec))
        layers.append(block)
        a = block.out_channels
    body = nn.Sequential(*layers)
    size = _feature_shape(body, in_channels, image_size)[-1]
    features = nn.Sequential(body, nn.AvgPool2d(size), nn.Flatten())
    head = nn.Linear(a, num_classes)
    return Classifier(features, head, {})


class Normalize(nn.Module):
    """(x − mean) / std per channel: a stated input normalisation as a layer of the model."""

    def __init__(self, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


REFERENCE_KINDS = ("torchvision", "timm", "python")


def reference(ref: str, kwargs: Mapping[str, Any] | None = None) -> nn.Module:
    """A fresh net named by ``ref``: ``torchvision:NAME`` (torchvision.models.get_model, no
    weights), ``timm:NAME`` (timm.create_model, not pretrained; the optional extra
    ``upnn[timm]``) or ``python:package.module:callable`` (called with ``kwargs``)."""
    kind, _, name = ref.partition(":")
    kwargs = dict(kwargs or {})
    if kind == "torchvision":
        import torchvision

        return torchvision.models.get_model(name, weights=None, **kwargs)
    if kind == "timm":
        try:
            import timm
        except ImportError as err:
            raise ImportError(f"model {ref!r} needs timm: pip install 'upnn[timm]'") from err
        return timm.create_model(name, pretrained=False, **kwargs)
    if kind == "python":
        import importlib

        module, _, attr = name.rpartition(":")
        if not module or not attr:
            raise ValueError(f"model reference {ref!r}; allowed: python:package.module:callable")
        return getattr(importlib.import_module(module), attr)(**kwargs)
    raise ValueError(f"model reference {ref!r}; allowed: {', '.join(k + ':...' for k in REFERENCE_KINDS)}")


class _Method(nn.Module):
    """``net.<method>`` as a module: timm's ``forward_features`` and ``forward_head`` as the
    features and the head of one net (the weights stay ``net``'s, under the same keys)."""

    def __init__(self, net: nn.Module, method: str) -> None:
        super().__init__()
        self.net, self.method = net, method

    def forward(self, x: Tensor) -> Tensor:
        return getattr(self.net, self.method)(x)


def split(net: nn.Module, ref: str, head: str | None, normalize: Mapping[str, Any] | None,
          in_channels: int, image_size: int) -> Classifier:
    """``net`` as a :class:`Classifier`: ``head`` names the module that maps features to logits
    (default ``fc``, else ``classifier``); it is replaced by an identity in the trunk, so
    features = normalize → trunk and head = that module. timm nets split at their own
    ``forward_features``/``forward_head``. Checked on a random batch: a net whose head is not its
    last step (model(x) ≠ head(features(x))) is refused with one line."""
    norm: nn.Module = Normalize(**normalize) if normalize else nn.Identity()
    if ref.startswith("timm:") and head is None:
        model = Classifier(nn.Sequential(norm, _Method(net, "forward_features")),
                           _Method(net, "forward_head"), {})
    else:
        path = head or ("fc" if hasattr(net, "fc") else "classifier")
        parent_path, _, leaf = path.rpartition(".")
        try:
            parent = net.get_submodule(parent_path) if parent_path else net
            head_module = getattr(parent, leaf)
        except AttributeError as err:
            raise ValueError(f"model {ref!r}: no module {path!r} to split at; name the head "
                             "module path (e.g. fc, classifier, classifier.3)") from err
        with torch.no_grad(), eval_mode(net):
            x = torch.rand(2, in_channels, image_size, image_size)
            want = net(norm(x))
        setattr(parent, leaf, nn.Identity())
        model = Classifier(nn.Sequential(norm, net), head_module, {})
        with torch.no_grad(), eval_mode(model):
            got = model(x)
        if got.shape != want.shape or not torch.allclose(got, want, atol=1e-4, rtol=1e-4):
            raise ValueError(f"model {ref!r}: {path!r} is not the net's last step (model(x) != "
                             f"{path}(features(x))); name the module that maps features to logits")
    return model


_BUILDERS: Mapping[str, Callable[..., Classifier]] = {
    "cnn3": cnn3, "cnn4": cnn4, "resnet9": resnet9, "googlenet": googlenet,
}


def build(name: str, *, in_channels: int, image_size: int, num_classes: int = 10,
          width: float = 1.0, ref: str | None = None, kwargs: Mapping[str, Any] | None = None,
          head: str | None = None, normalize: Mapping[str, Any] | None = None,
          state: Mapping[str, Tensor] | None = None) -> Classifier:
    """A fresh ``name`` classifier for (in_channels, image_size, image_size) inputs: one of the
    papers' families, or with ``ref`` a referenced net (:func:`reference`, :func:`split`; its
    own ``kwargs`` set its classes; ``state``: the net's own state dict, loaded before the
    split, e.g. a checkpoint a researcher already has)."""
    if ref is not None:
        net = reference(ref, kwargs)
        if state is not None:
            net.load_state_dict(state)
        model = split(net, ref, head, normalize, in_channels, image_size)
        model.meta = {"name": name, "in_channels": in_channels, "image_size": image_size,
                      "num_classes": num_classes, "width": float(width), "ref": ref,
                      "kwargs": dict(kwargs or {}), "head": head,
                      "normalize": dict(normalize) if normalize else None}
        return model
    if name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}; allowed: {', '.join(MODELS)}, or a `ref:` "
                         f"({', '.join(k + ':...' for k in REFERENCE_KINDS)})")
    if width <= 0:
        raise ValueError(f"model width must be > 0, got {width}")
    model = _BUILDERS[name](in_channels, image_size, num_classes, width)
    model.meta = {"name": name, "in_channels": in_channels, "image_size": image_size,
                  "num_classes": num_classes, "width": float(width)}
    return model


def from_checkpoint(ckpt: Mapping[str, Any], device: str | torch.device = "cpu") -> Classifier:
    """Rebuild the classifier a training checkpoint describes, weights loaded, in eval mode."""
    meta = dict(ckpt["meta"])
    model = build(meta["name"], in_channels=int(meta["in_channels"]),
                  image_size=int(meta["image_size"]), num_classes=int(meta["num_classes"]),
                  width=float(meta["width"]), ref=meta.get("ref"), kwargs=meta.get("kwargs"),
                  head=meta.get("head"), normalize=meta.get("normalize"))
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval()


def load(path: str, device: str | torch.device = "cpu") -> Classifier:
    """:func:`from_checkpoint` on the checkpoint file at ``path`` (``weights_only=True``)."""
    from upnn import checkpoint

    return from_checkpoint(checkpoint.load(path), device)
