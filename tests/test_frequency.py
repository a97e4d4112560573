"""Tests for upnn.frequency.high_frequency_ratio on images of known spectrum (v3 Fig. 7)."""

from __future__ import annotations

import math

import pytest
import torch

from upnn.frequency import high_frequency_ratio, scale_window

AREA_OUTSIDE = 1 - 21**2 / 32**2  # 32x32 spectrum minus the [5:26, 5:26] block: 0.569


def _grid(size: int = 32):
    i = torch.arange(size, dtype=torch.float32)
    return torch.meshgrid(i, i, indexing="ij")


def _batch(img: torch.Tensor, n: int = 4, channels: int = 3) -> torch.Tensor:
    return img.expand(n, channels, *img.shape[-2:]).clone()


@pytest.mark.parametrize("shift", [True, False])
def test_constant_is_zero(shift):
    r = high_frequency_ratio(torch.full((4, 3, 32, 32), 0.3), shift=shift)
    assert r.shape == (4,)
    torch.testing.assert_close(r, torch.zeros(4), atol=1e-6, rtol=0)


@pytest.mark.parametrize("shift", [True, False])
def test_checkerboard_is_one(shift):
    yy, xx = _grid()
    board = _batch(((yy + xx) % 2) * 2 - 1)  # all mass at the Nyquist frequency
    torch.testing.assert_close(high_frequency_ratio(board, shift=shift), torch.ones(4), atol=1e-5, rtol=0)


def test_smooth_images_are_low_frequency():
    yy, xx = _grid()
    sinusoid = _batch(torch.sin(2 * math.pi * xx / 32) + torch.cos(2 * math.pi * 2 * yy / 32))
    blob = _batch(torch.exp(-((xx - 16) ** 2 + (yy - 16) ** 2) / (2 * 4.0**2)))
    assert high_frequency_ratio(sinusoid).max() < 1e-4
    assert high_frequency_ratio(blob).max() < 1e-2
    # A linear ramp is periodised by the DFT into a sawtooth (a jump at the border) whose 1/k
    # spectrum leaves ~11% of the l1 mass outside the block: small, but clearly above a blob.
    ramp = high_frequency_ratio(_batch(xx / 32))
    assert (ramp < 0.15).all() and (ramp > high_frequency_ratio(blob)).all()


def test_noise_gives_area_fraction():
    noise = torch.randn(256, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert high_frequency_ratio(noise).mean().item() == pytest.approx(AREA_OUTSIDE, abs=0.01)
    assert high_frequency_ratio(noise, shift=False).mean().item() == pytest.approx(1 - AREA_OUTSIDE, abs=0.01)
    assert high_frequency_ratio(noise, channel=None).mean().item() == pytest.approx(AREA_OUTSIDE, abs=0.01)


def test_channel_selection_and_batching():
    yy, xx = _grid()
    x = torch.zeros(2, 3, 32, 32)
    x[:, 1] = ((yy + xx) % 2) * 2 - 1  # only channel 1 is high-frequency
    x[:, 0] = 1.0
    torch.testing.assert_close(high_frequency_ratio(x), torch.ones(2))  # default channel 1
    torch.testing.assert_close(high_frequency_ratio(x, channel=0), torch.zeros(2))
    # channel=None sums magnitudes over channels: equal l1 masses -> 1/2
    torch.testing.assert_close(high_frequency_ratio(x, channel=None), torch.full((2,), 0.5))
    noise = torch.randn(5, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    one_by_one = torch.cat([high_frequency_ratio(noise[i : i + 1]) for i in range(5)])
    torch.testing.assert_close(high_frequency_ratio(noise), one_by_one)
    with pytest.raises(ValueError, match="channel"):
        high_frequency_ratio(torch.randn(2, 1, 28, 28))  # MNIST needs channel=0 / None
    with pytest.raises(ValueError):
        high_frequency_ratio(torch.randn(32, 32))
    assert high_frequency_ratio(torch.zeros(3, 3, 32, 32)).eq(0).all()


def test_windows_scale_with_image_size():
    assert scale_window((5, 26), 32) == (5, 26)
    assert scale_window((5, 26), 28) == (4, 23)
    assert scale_window((5, 26), 64) == (10, 52)
    noise = torch.randn(256, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    r = high_frequency_ratio(noise, channel=0)
    assert r.mean().item() == pytest.approx(1 - 19**2 / 28**2, abs=0.01)
    yy, xx = _grid(28)
    board = (((yy + xx) % 2) * 2 - 1).expand(2, 1, 28, 28)
    torch.testing.assert_close(high_frequency_ratio(board, channel=0), torch.ones(2))


def test_analysis_window():
    noise = torch.randn(256, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    # analysing only the [5:26] block itself leaves nothing outside the LF block
    inside = high_frequency_ratio(noise, window=(5, 26))
    torch.testing.assert_close(inside, torch.zeros(256), atol=1e-6, rtol=0)
    # analysis window [5:26], LF block [10:21] (11x11 of 21x21)
    nested = high_frequency_ratio(noise, window=(5, 26), low_window=(10, 21))
    assert nested.mean().item() == pytest.approx(1 - 11**2 / 21**2, abs=0.015)
