"""The feature level, defined once: what "features" are, their box, and ε on them.

Every stage that attacks or integrates features (the attack stage's Fig. 5, the uncertainty
stage, the t-SNE maps) goes through this module:

* **features** z = the head's input after its parameter-free prefix (:func:`split_head`):
  ``model.features(x)`` followed by the pooling / flattening that starts ``model.head`` (resnet9's
  MaxPool, googlenet's AvgPool is already in ``features``; cnn3/cnn4 flatten). On the map before
  a max pool one element per window has a gradient, so an l∞ attack there barely moves the loss.
* **box** = the per-element (min, max) of z over the training set (v4 §2.3 / supp. §2.2).
* **ε** = the same fraction of each element's range as the pixel ε is of [0, 1]: the learnable
  rest of the head runs behind :class:`RangeScaled`, which maps the unit box onto the feature box,
  so every attack (and its step rule) is used exactly as at pixel level. Raw feature magnitudes
  differ between nets and grow over training, so a raw ε would not compare across epochs.
"""

from __future__ import annotations

from torch import Tensor, nn

from upnn.models import predict

LEVELS = ("pixel", "feature")


def check_level(level: str) -> str:
    """``level`` if it is one of :data:`LEVELS` (the input the attack or the packet works on)."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; allowed: {', '.join(LEVELS)}")
    return level


def split_head(head: nn.Module) -> tuple[nn.Module, nn.Module]:
    """(prefix, rest) of a head: its leading parameter-free modules (pooling, flatten) and the
    learnable remainder."""
    if not isinstance(head, nn.Sequential):
        return nn.Identity(), head
    mods = list(head)
    n = 0
    while n < len(mods) and not any(True for _ in mods[n].parameters()):
        n += 1
    return nn.Sequential(*mods[:n]), nn.Sequential(*mods[n:])


def extract(model: nn.Module, x: Tensor, batch_size: int = 1024) -> Tensor:
    """The features z of images x: ``model.features`` then the head's parameter-free prefix, in
    eval mode, in chunks (the model's flags are restored)."""
    prefix, _ = split_head(model.head)
    return predict(nn.Sequential(model.features, prefix), x, batch_size)


def box(z_train: Tensor) -> tuple[Tensor, Tensor]:
    """Per-element (min, max) of the training features: the feature-level box and interval."""
    return z_train.amin(dim=0), z_train.amax(dim=0)


class RangeScaled(nn.Module):
    """``inner(lo + u·(hi − lo))``: inputs u in the unit box stand for z in [lo, hi], so an l∞ ε
    on u is the fraction ε of every element's range."""

    def __init__(self, inner: nn.Module, lo: Tensor, hi: Tensor) -> None:
        super().__init__()
        self.inner = inner
        self.register_buffer("lo", lo)
        self.register_buffer("width", hi - lo)

    def forward(self, u: Tensor) -> Tensor:
        return self.inner(self.lo + u * self.width)

    def to_unit(self, z: Tensor) -> Tensor:
        """u = (z − lo)/(hi − lo); elements constant over the training set map to 0."""
        safe = (self.width > 0).to(z.dtype)
        return (z - self.lo) / (self.width + (1 - safe)) * safe


def unit_bounds(u: Tensor) -> tuple[Tensor, Tensor]:
    """The attack box for features u in unit coordinates: [0, 1] widened per sample to contain u
    itself (a test feature may lie outside the training range; clamping it into the box would move
    it further than ε before any attack)."""
    return u.clamp(max=0.0), u.clamp(min=1.0)


def head_net(model: nn.Module, z_train: Tensor) -> RangeScaled:
    """The feature-level classifier in unit coordinates: the learnable rest of ``model.head``
    behind :class:`RangeScaled` on the training features' box."""
    return RangeScaled(split_head(model.head)[1], *box(z_train)).eval()
