"""High-frequency content of IFA perturbations (arXiv 2205.01493 v3, Fig. 7).

v3's caption defines, for channel 1 of a 32x32 Delta,

    ratio = (|FFT[Delta_1]| - |FFT[Delta_1]_LF|) / |FFT[Delta_1]|,   LF = slice [5:26, 5:26].

The caption leaves open whether the spectrum was fftshift-ed, what |.| is, and what happens for
other image sizes or channel counts.  ``high_frequency_ratio`` makes each choice a parameter; the
defaults are the reading we consider most plausible (reading A below).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["V3_LOW_WINDOW", "high_frequency_ratio", "scale_window"]

V3_LOW_WINDOW: tuple[int, int] = (5, 26)  # v3 Fig. 7 caption, for 32x32 inputs


def scale_window(window: tuple[int, int], size: int, reference_size: int = 32) -> tuple[int, int]:
    """Scale a (start, stop) slice given for ``reference_size`` to ``size`` (round half up)."""
    f = size / reference_size
    return math.floor(window[0] * f + 0.5), math.floor(window[1] * f + 0.5)


def _box(h: int, w: int, window, reference_size: int, device) -> Tensor:
    """Boolean (h, w) mask of the square slice ``window`` scaled to (h, w)."""
    r0, r1 = scale_window(window, h, reference_size)
    c0, c1 = scale_window(window, w, reference_size)
    mask = torch.zeros(h, w, dtype=torch.bool, device=device)
    mask[r0:r1, c0:c1] = True
    return mask


def high_frequency_ratio(
    delta: Tensor,
    *,
    shift: bool = True,
    window: tuple[int, int] | None = None,
    low_window: tuple[int, int] | None = None,
    channel: int | None = 1,
    reference_size: int = 32,
) -> Tensor:
    """Fraction of the spectral l1 mass of each image that is high-frequency (v3 Fig. 7).

    |FFT[.]| is read as the **sum of the magnitudes** |F(k)| of the 2-D DFT (the l1 norm of the
    spectrum; the DFT normalisation cancels in the ratio).  The **DC term is included** in the
    total; it always counts as low frequency.

    Reading A (default, ``shift=True``): the spectrum is ``fftshift``-ed, so the centre block
    ``low_window`` = [5:26, 5:26] of a 32x32 spectrum holds the low frequencies (DC is at index 16,
    so the slice spans frequencies -11..+9 along each axis: the caption's slice is used literally,
    one bin off-centre).  ratio = (total - mass inside the block) / total.  White noise gives about
    the area outside the block, 1 - 21**2 / 32**2 = 0.569.

    Reading B (``shift=False``): the same index slice of the *unshifted* spectrum (DC at the
    corner) covers the highest frequencies (5..16 and -15..-7 along both axes), so it is the
    high-frequency part and everything else is LF: ratio = mass inside the slice / total.  White
    noise gives about 21**2 / 32**2 = 0.431.

    In both readings a constant image gives 0 and a checkerboard (all mass at the Nyquist
    frequency) gives 1.

    Args:
        delta: (N, C, H, W) perturbations (real).
        shift: reading A (True) or B (False), see above.
        window: optional (start, stop) analysis window: only the square slice
            [start:stop, start:stop] of the (shifted or not) spectrum is analysed; None = the full
            spectrum.
        low_window: the caption's (start, stop) slice; None = ``V3_LOW_WINDOW`` = (5, 26).
        channel: channel whose spectrum is analysed (default 1, the caption's Delta_1, i.e. green
            for RGB).  None = all channels: magnitudes are summed over channels before taking the
            ratio (a mass-weighted mean of the per-channel ratios).  Single-channel data
            (MNIST) needs ``channel=0`` or ``None``.
        reference_size: the image size the windows are given for; windows are scaled to H and W
            (e.g. [5:26] -> [4:23] for 28x28).

    Returns:
        (N,) ratios in [0, 1]; 0 for an all-zero image (no spectral mass).
    """
    if delta.dim() != 4:
        raise ValueError(f"expected (N, C, H, W), got shape {tuple(delta.shape)}")
    if channel is not None:
        if not -delta.shape[1] <= channel < delta.shape[1]:
            raise ValueError(
                f"channel={channel} but delta has {delta.shape[1]} channel(s); "
                "use channel=0 or channel=None for single-channel data"
            )
        delta = delta[:, channel : channel + 1]
    h, w = delta.shape[-2:]
    real = delta if delta.is_floating_point() else delta.float()
    spec = torch.fft.fft2(real).abs()  # (N, C, H, W)
    if shift:
        spec = torch.fft.fftshift(spec, dim=(-2, -1))
    mag = spec.sum(dim=1)  # (N, H, W), summed over the selected channel(s)

    analysed = (
        torch.ones(h, w, dtype=torch.bool, device=mag.device)
        if window is None
        else _box(h, w, window, reference_size, mag.device)
    )
    block = _box(h, w, V3_LOW_WINDOW if low_window is None else low_window, reference_size, mag.device)
    high = analysed & ~block if shift else analysed & block

    total = (mag * analysed).sum(dim=(-2, -1))
    hf = (mag * high).sum(dim=(-2, -1))
    return torch.where(total > 0, hf / total.clamp_min(torch.finfo(total.dtype).tiny), 0.0)
