"""Fourier low/high-pass filters and Fourier basis images."""
import pytest
import torch

from visaudit.perturb.spectral import (
    add_fourier_basis,
    fourier_basis,
    fourier_grid_frequencies,
    highpass,
    lowpass,
    square_mask,
)


def test_square_mask_counts():
    m = square_mask(32, 32, 0.25)          # |f| <= 4 cycles/image on each axis
    assert int(m.sum()) == 9 * 9
    assert bool(square_mask(32, 32, 1.0).all())


def test_low_plus_high_is_identity_before_clipping():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=g) * 0.5 + 0.25
    spec = torch.fft.fft2(x)
    m = square_mask(32, 32, 0.3)
    lo = torch.fft.ifft2(spec * m).real
    hi = torch.fft.ifft2(spec * ~m).real
    assert torch.allclose(lo + hi, x, atol=1e-5)
    assert torch.allclose(lowpass(x, 1.0), x, atol=1e-5)


def test_lowpass_removes_a_high_frequency_grating_and_highpass_keeps_it():
    h = w = 32
    grating = 0.5 + 0.3 * fourier_basis(h, w, 0, 12) / fourier_basis(h, w, 0, 12).abs().max()
    x = grating.expand(1, 3, h, w).clone()
    lo = lowpass(x, 0.5)                   # keeps |f| <= 8: the 12 c/img grating goes
    assert torch.allclose(lo, torch.full_like(lo, 0.5), atol=1e-4)
    hi = highpass(x, 0.5)                  # DC removed, grating kept, then clipped to [0,1]
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
