"""The corruptions' filtering helpers: padding, FFT sizes and the motion kernel's reach."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tests.corruption_fixtures import cue_conflict_images
from visaudit.perturb.corruptions import _filters as flt


@pytest.mark.parametrize("mode", ["nearest", "reflect101", "symmetric"])
@pytest.mark.parametrize("pads", [(3, 2), ((0, 4), (5, 0)), ((8, 1), (6, 6)), ((9, 0), (0, 7)), (0, 0)])
def test_pad2d_gives_the_indexed_border(mode, pads):
    """torch's padding kernels (taken where they exist) give the border the index rule defines."""
    x = torch.rand(2, 3, 9, 7, dtype=torch.float64)
    (top, bottom), (left, right) = (p if isinstance(p, tuple) else (p, p) for p in pads)
    rows = flt.pad_index(9, top, bottom, mode, x.device)
    cols = flt.pad_index(7, left, right, mode, x.device)
    assert torch.equal(flt.pad2d(x, *pads, mode), x[:, :, rows][:, :, :, cols])


def test_fft_size_is_the_next_even_5_smooth_length():
    assert [flt.fft_size(n) for n in (1, 2, 224, 241, 244, 282, 306)] == [2, 2, 240, 250, 250, 288, 320]
    for n in range(1, 400):
        m = flt.fft_size(n)
        assert m >= n and m % 2 == 0
        assert not any(k >= n and k % 2 == 0 and _smooth(k) for k in range(n, m))


def _smooth(k: int) -> bool:
    for p in (2, 3, 5):
        while k % p == 0:
            k //= p
    return k == 1


def test_fft_filter_with_an_off_centre_origin_is_the_direct_correlation():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 20, 17, generator=gen, dtype=torch.float64)
    kernel = torch.rand(2, 4, 6, generator=gen, dtype=torch.float64)
    oy, ox = 1, 4
    out = flt.fft_filter(x, kernel, "nearest", origin=(oy, ox))
    padded = flt.pad2d(x, (oy, 3 - oy), (ox, 5 - ox), "nearest")
    direct = sum(
        kernel[:, a, b].view(2, 1, 1, 1) * padded[:, :, a : a + 20, b : b + 17] for a in range(4) for b in range(6)
    )
    assert torch.allclose(out, direct, atol=1e-12)


@pytest.mark.parametrize("angle_range", [(-45.0, 45.0), (-135.0, -45.0), (10.0, 200.0), (-180.0, 180.0)])
@pytest.mark.parametrize("radius", [1, 6, 20])
def test_motion_tap_box_holds_every_tap(angle_range, radius):
    width = 2 * radius + 1
    r0, r1, c0, c1 = flt._motion_tap_box(width, angle_range)
    i = np.arange(width)
    for a in np.radians(np.linspace(*angle_range, 2001)):
        rows = width + np.ceil(i * math.sin(a) - 0.5)  # kernel index = width - offset
        cols = width + np.ceil(i * math.cos(a) - 0.5)
        assert r0 <= rows.min() and rows.max() <= r1 and c0 <= cols.min() and cols.max() <= c1


def _motion_blur_by_shifts(x: torch.Tensor, radius: int, sigma: float, angle: float) -> torch.Tensor:
    """The line blur's definition: a weighted sum of edge-clamped shifts, cut at the first tap off the image."""
    n, _, h, w = x.shape
    t = np.arange(2 * radius + 1)
    k = np.exp(-(t**2) / (2 * sigma**2))
    k /= k.sum()
    out = torch.zeros_like(x)
    a = math.radians(angle)
    for i, weight in zip(t, k):
        dy, dx = -math.ceil(i * math.sin(a) - 0.5), -math.ceil(i * math.cos(a) - 0.5)
        if abs(dy) >= h or abs(dx) >= w:
            break
        out += weight * flt.shift_clamped(x, torch.full((n,), dy), torch.full((n,), dx))
    return out


@pytest.mark.parametrize("angle_range", [(-45.0, 45.0), (-135.0, -45.0)])
def test_motion_blur_on_the_reachable_box_is_the_line_blur(angle_range):
    """Motion blur (and snow's) transformed on the box the taps reach, against the sum of shifts, on real images."""
    x = torch.from_numpy(cue_conflict_images(2)).permute(0, 3, 1, 2).double() / 255
    for radius, sigma in ((10, 3), (20, 15)):
        for angle in (angle_range[0], angle_range[1], sum(angle_range) / 2, angle_range[0] + 7.3):
            ours = flt.motion_blur(x, radius, sigma, torch.full((2,), angle), angle_range=angle_range)
            assert torch.allclose(ours, _motion_blur_by_shifts(x, radius, sigma, angle), atol=1e-9), angle
            assert (ours - x).abs().mean() > 1e-3  # it did blur
