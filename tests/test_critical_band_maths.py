"""Critical-band maths: thresholds, Gaussian fit, Laplacian-pyramid band noise."""
import math

import numpy as np
import pytest
import torch

from visaudit.metrics.critical_band import band_thresholds, fit_critical_band, gaussian
from visaudit.perturb.bandpass_noise import (
    bandpass_noise_bands,
    critical_band_stimulus,
    laplacian_pyramid,
    low_contrast_gray,
    reconstruct_level,
)


def test_thresholds_walk_from_highest_sd_until_first_row_above_50():
    grid = np.full((5, 7), 90.0)
    grid[1:, 0] = 10.0          # all four noise rows masked -> 4
    grid[2:, 1] = 50.0          # 50 counts as masked (<=) -> 3
    grid[4, 2] = 20.0           # only the highest SD -> 1
    grid[3, 3] = 20.0           # highest SD above 50 -> walk stops at once -> 0
    grid[0, :] = 0.0            # the clean row never counts
    assert band_thresholds(grid).tolist() == [4, 3, 1, 0, 0, 0, 0]


def _grid_from_gaussian(a, mu, s):
    """Accuracy grid whose thresholds are round(g(x)) for the known Gaussian."""
    target = np.rint(gaussian(np.arange(7.0), a, mu, s)).astype(int)
    grid = np.full((5, 7), 95.0)
    for band, t in enumerate(target):
        if t:
            grid[5 - t:, band] = 5.0
    return grid, target


def test_fit_reproduces_known_parameters_on_synthetic_grid():
    # thresholds that are exactly a sampled Gaussian: the fit must recover it
    a, mu, s = 3.2, 3.4, 1.1
    y = gaussian(np.arange(7.0), a, mu, s)
    fit = fit_critical_band(y)
    assert fit.converged
    assert fit.amplitude == pytest.approx(a, abs=1e-4)
    assert fit.mu == pytest.approx(mu, abs=1e-4)
    assert abs(fit.sigma) == pytest.approx(s, abs=1e-4)
    assert fit.center_frequency == pytest.approx(1.75 * 2**mu, rel=1e-4)
    assert fit.bandwidth == pytest.approx(2 * math.sqrt(math.log(4)) * s, rel=1e-4)
    assert fit.peak_noise_sensitivity == pytest.approx(2 ** (a - 4), rel=1e-4)
    assert fit.residual_rmse < 1e-5


def test_fit_on_integer_grid_built_from_known_gaussian():
    grid, target = _grid_from_gaussian(3.6, 2.5, 1.4)
    th = band_thresholds(grid)
    assert th.tolist() == target.tolist()
    fit = fit_critical_band(th)
    # integer rounding of the thresholds moves the optimum only a little
    assert fit.mu == pytest.approx(2.5, abs=0.15)
    assert abs(fit.sigma) == pytest.approx(1.4, abs=0.25)
    assert 0 <= fit.amplitude <= 4
    assert fit.residual_rmse < 0.5


def test_amplitude_bound_is_respected():
    fit = fit_critical_band(np.array([0, 2, 8, 8, 2, 0, 0.0]))
    assert fit.amplitude <= 4.0 + 1e-9


def test_pyramid_bands_sum_back_to_the_noise():
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(3, 1, 224, 224, generator=g)
    levels = laplacian_pyramid(noise, 7)
    total = sum(reconstruct_level(levels, i, (224, 224)) for i in range(7))
    assert torch.allclose(total, noise, atol=1e-4)


def test_band_noise_rms_and_octave_ordering():
    g = torch.Generator().manual_seed(2)
    bands = bandpass_noise_bands(4, 224, 224, 7, generator=g)
    rms = bands.pow(2).mean(dim=(2, 3, 4)).sqrt()
    assert torch.allclose(rms, torch.ones_like(rms), atol=0.05)
    f = torch.fft.fftfreq(224, 1 / 224).abs()
    radius = torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    centres = []
    for k in range(7):
        power = torch.fft.fft2(bands[k, :, 0]).abs().pow(2).mean(0)
        centres.append(float((power * radius).sum() / power.sum()))
    assert all(b > a for a, b in zip(centres, centres[1:]))  # increasing
    assert all(b > 1.5 * a for a, b in zip(centres[1:], centres[2:]))  # about octave steps
    assert centres[6] / centres[1] > 16
    assert 0.7 < centres[4] / 14.0 < 1.4                          # band 4 sits at ~14 cycles/image


def test_band_noise_is_seeded():
    a = bandpass_noise_bands(2, 64, 64, 5, generator=torch.Generator().manual_seed(3))
    b = bandpass_noise_bands(2, 64, 64, 5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    with pytest.raises(ValueError):
        bandpass_noise_bands(1, 32, 32, 7)


def test_stimulus_is_gray_low_contrast_and_clipped():
    x = torch.rand(2, 3, 16, 16)
    gray = low_contrast_gray(x)
    assert torch.allclose(gray.mean(dim=(1, 2, 3)), torch.full((2,), 0.449), atol=1e-5)
    assert gray.max() - gray.min() <= 0.2 + 1e-6
    stim = critical_band_stimulus(gray, torch.randn(2, 1, 16, 16) * 10, 0.16)
    assert stim.shape == (2, 3, 16, 16)
    assert stim.min() >= 0 and stim.max() <= 1
    assert torch.equal(stim[:, 0], stim[:, 2])


def test_spectral_downsample_keeps_low_and_drops_high_frequencies():
    from visaudit.perturb.bandpass_noise import spectral_downsample
    from visaudit.perturb.spectral import fourier_basis

    low = fourier_basis(224, 224, 3, 5)
    high = fourier_basis(224, 224, 0, 40)      # above the 16 cycles/image Nyquist of 32 px
    const = torch.full((1, 1, 224, 224), 0.3)
    assert torch.allclose(spectral_downsample(const, (32, 32)), torch.full((1, 1, 32, 32), 0.3), atol=1e-6)
    assert spectral_downsample(high[None, None], (32, 32)).abs().max() < 1e-6
    small = spectral_downsample(low[None, None], (32, 32))[0, 0]
    # same sinusoid sampled on the coarse grid: amplitude kept
    assert torch.allclose(small, low[::7, ::7], atol=1e-5)
