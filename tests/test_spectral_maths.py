"""Fourier low/high-pass filters and Fourier basis images."""

import glob
import os

import numpy as np
import pytest
import torch
from PIL import Image

from visaudit.perturb.spectral import (
    add_fourier_basis,
    fourier_basis,
    fourier_grid_frequencies,
    highpass,
    lowpass,
    square_mask,
)


def test_square_mask_counts():
    m = square_mask(32, 32, 0.25)  # r = int(0.25 * 16) = 4: frequencies -4..3 on each axis
    assert int(m.sum()) == 8 * 8
    fy = torch.fft.fftfreq(32, 1 / 32)
    assert bool(m[fy == -4, 0]) and not bool(m[fy == 4, 0])
    assert bool(square_mask(32, 32, 1.0).all())  # -16..15: everything
    assert int(square_mask(32, 32, 0.0).sum()) == 0
    assert int(square_mask(7, 9, 1.0).sum()) == 6 * 8  # odd sizes: -3..2 x -4..3


def test_low_plus_high_is_identity_before_clipping():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=g) * 0.5 + 0.25
    spec = torch.fft.fft2(x)
    m = square_mask(32, 32, 0.3)
    lo = torch.fft.ifft2(spec * m).real
    hi = torch.fft.ifft2(spec * ~m).real
    assert torch.allclose(lo + hi, x, atol=1e-5)
    assert torch.allclose(lowpass(x, 1.0), x, atol=1e-5)
    # the high-pass at c removes the low-pass square at 1 - c: high(0.3) = clip(x - low_unclipped(0.7))
    lo7 = torch.fft.ifft2(spec * square_mask(32, 32, 0.7)).real
    assert torch.allclose(highpass(x, 0.3), (x - lo7).clamp(0, 1), atol=1e-5)


def _reference_bandpass(x: np.ndarray, c: float, low: bool) -> np.ndarray:
    """Gavrikov & Keuper's definition, written out: fftshift the spectrum, keep (low-pass) or
    zero (high-pass, at 1 - c) the slice [h//2 - int(c h//2) : h//2 + int(c h//2)] on each
    axis, inverse FFT, real part, clip to [0, 1]."""
    if not low:
        c = 1 - c
    spec = np.fft.fftshift(np.fft.fft2(x.astype(np.float64)), axes=(-2, -1))
    h, w = x.shape[-2:]
    ry, rx = int(c * (h // 2)), int(c * (w // 2))
    inside = np.zeros((h, w), bool)
    inside[h // 2 - ry : h // 2 + ry, w // 2 - rx : w // 2 + rx] = True
    keep = inside if low else ~inside
    return np.clip(np.fft.ifft2(np.fft.ifftshift(spec * keep, axes=(-2, -1))).real, 0, 1)


def _real_images() -> dict[str, np.ndarray]:
    root = os.environ["VISAUDIT_DATA"]
    cifar = sorted(glob.glob(f"{root}/cifar10-test/*/*.jpg"))[::1000][:8]
    stim = sorted(glob.glob(f"{root}/cue-conflict/*/*.png"))[::320][:4]
    load = lambda fs: np.stack([np.asarray(Image.open(f).convert("RGB")) for f in fs]).transpose(0, 3, 1, 2) / 255  # noqa: E731
    return {"cifar": load(cifar), "cue-conflict": load(stim)}


@pytest.mark.parametrize("cutoff", [0.01, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 0.99])
def test_filters_match_the_reference_definition_on_real_images(cutoff):
    for name, x in _real_images().items():
        xt = torch.from_numpy(x).float()
        for low, fn in ((True, lowpass), (False, highpass)):
            ref = _reference_bandpass(x, cutoff, low)
            got = fn(xt, cutoff).double().numpy()
            assert np.abs(got - ref).max() < 2e-6, (name, cutoff, low)


def test_lowpass_removes_a_high_frequency_grating_and_highpass_keeps_it():
    h = w = 32
    grating = 0.5 + 0.3 * fourier_basis(h, w, 0, 12) / fourier_basis(h, w, 0, 12).abs().max()
    x = grating.expand(1, 3, h, w).clone()
    lo = lowpass(x, 0.5)  # keeps |f| <= 8: the 12 c/img grating goes
    assert torch.allclose(lo, torch.full_like(lo, 0.5), atol=1e-4)
    hi = highpass(x, 0.5)  # DC removed, grating kept, then clipped to [0,1]
    assert hi.max() > 0.25 and hi.min() == 0.0


def test_fourier_basis_unit_norm_and_frequency():
    u = fourier_basis(16, 16, 3, 5)
    assert float(u.norm()) == pytest.approx(1.0, abs=1e-5)
    power = torch.fft.fft2(u).abs()
    idx = set(map(tuple, (power > 1e-3).nonzero().tolist()))
    assert idx == {(3, 5), (13, 11)}


def test_add_fourier_basis_norm_per_channel():
    x = torch.full((4, 3, 16, 16), 0.5)
    u = fourier_basis(16, 16, 1, 2)
    y = add_fourier_basis(x, u, 1.0, torch.Generator().manual_seed(0))
    norms = (y - x).flatten(2).norm(dim=2)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5)


def test_grid_frequencies():
    assert fourier_grid_frequencies(224, 5) == [0, 28, 56, 84, 112]
    assert fourier_grid_frequencies(32, 1) == [0]
